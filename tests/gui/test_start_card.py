"""An empty canvas says how to start, and the status bar says it is empty, not "valid"."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


@pytest.fixture
def empty_window(qtbot, isolated):
    from torchcanvas.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    assert win.wait_for_shapes()
    yield win
    win.doc.undo_stack.setClean()
    win.close()


def test_an_empty_canvas_shows_the_start_card_and_says_it_is_empty(empty_window, qtbot):
    win = empty_window
    card = win.start_card
    qtbot.waitUntil(card.isVisible, timeout=2000)
    text = card.steps.text()
    assert "Palette" in text and "Tab" in text and "example" in text
    viewport = win.view.viewport().rect()
    assert viewport.contains(card.geometry())  # whole, in the middle of the canvas
    assert abs(card.geometry().center().x() - viewport.center().x()) <= 2
    status = win.status_label.text()
    assert "empty" in status and "valid" not in status
    where = card.geometry()
    win.view.translate_view(120, -80)  # panning the empty canvas leaves the card in place
    assert card.geometry() == where

    # a node added: the card goes, the status checks the graph again; undo: back again
    nid = win.doc.add_node("nn.ReLU", (0.0, 0.0))
    assert nid is not None and not card.isVisible()
    qtbot.waitUntil(lambda: "empty" not in win.status_label.text(), timeout=5000)
    win.doc.undo_stack.undo()
    assert card.isVisible()
    qtbot.waitUntil(lambda: "empty" in win.status_label.text(), timeout=5000)


def test_the_start_card_buttons_open_an_example_the_palette_and_quick_add(empty_window, qtbot):
    win = empty_window
    card = win.start_card
    win.palette_dock.hide()
    qtbot.mouseClick(card.palette_button, Qt.MouseButton.LeftButton)
    assert win.palette_dock.isVisible()
    qtbot.mouseClick(card.add_button, Qt.MouseButton.LeftButton)
    assert win.quick_add.isVisible()
    win.quick_add.hide()
    qtbot.mouseClick(card.example_buttons["mlp_regression"], Qt.MouseButton.LeftButton)
    assert win.example_name == "mlp_regression" and len(win.doc.graph) > 0
    assert not win.start_card.isVisible()
    win.doc.undo_stack.setClean()
    win.new_file()  # a new, empty project shows the card again
    assert win.start_card.isVisible()
