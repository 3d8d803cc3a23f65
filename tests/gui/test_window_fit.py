"""The main window fits a 1366×768 screen with every dock open, and the canvas keeps room."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(20)


def test_every_dock_open_fits_1366x768_and_the_canvas_keeps_room(window, qtbot):
    window.resize(1366, 768)
    docks = [
        window.palette_dock,
        window.inspector_dock,
        window.code_dock,
        window.problems_dock,
        window.history_dock,
        window.training_dock,
        window.autograd.dock,
    ]
    for dock in docks:
        dock.show()
    _settle(qtbot)
    assert all(d.isVisible() or window.tabifiedDockWidgets(d) for d in docks)
    # Training and Autograd share the bottom as tabs, not side by side
    assert window.autograd.dock in window.tabifiedDockWidgets(window.training_dock)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768 - 60, hint  # room for title, panel
    assert window.width() <= 1366
    qtbot.waitUntil(lambda: window.view.height() >= 330, timeout=2000)
    assert window.view.width() >= 600, window.view.size()
    # each bottom dock, raised in turn, leaves the canvas its room
    for dock in (window.training_dock, window.autograd.dock):
        dock.raise_()
        _settle(qtbot)
        assert window.view.height() >= 330 and window.view.width() >= 600, dock.objectName()
        assert window.minimumSizeHint().width() <= 1366


def test_the_run_settings_scroll_when_the_training_dock_is_short(window, qtbot):
    window.resize(1366, 768)
    window.training_dock.show()
    _settle(qtbot)
    # the run panel's own minimum height no longer sets the dock's
    assert (
        window.training_dock.minimumSizeHint().height()
        < window.run_panel.minimumSizeHint().height()
    )
