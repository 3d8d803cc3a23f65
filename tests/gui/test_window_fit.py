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
    # the settings' own minimum height does not set the dock's: they scroll
    settings = window.run_panel.settings_scroll.widget()
    assert window.training_dock.minimumSizeHint().height() < settings.minimumSizeHint().height()


def _fully_shown(widget) -> bool:
    """The whole widget is on screen: not clipped by a scroll area or a parent."""
    return widget.isVisible() and widget.visibleRegion().boundingRect() == widget.rect()


@pytest.mark.parametrize("size", [(1440, 900), (1366, 768)], ids=["1440x900", "1366x768"])
def test_the_run_status_stays_in_view_below_the_settings(window, qtbot, size):
    """The status (progress, speed, notices and the last message) sits below the scrolling
    settings, so its last line is never cut and needs no scrolling."""
    from torchcanvas.runtime.events import RunFailed

    window.resize(*size)
    window.training_dock.show()
    _settle(qtbot)
    panel = window.run_panel
    panel.position.setText("on cpu · 1,437 training samples · 23,818 parameters")
    panel.speed.setText("12,345 samples/s · 0:12 elapsed · 0:48 left")
    panel.notice.setText("The graph changed: edits apply to the next run.")
    panel.run_ended(
        RunFailed(
            message="fc2: the loss's input [B, 10] and target [B, 1] differ; "
            "set fc2.out_features to 1 (the last line of the status)",
            node_id=None,
            traceback="",
            checkpoint=None,
        )
    )
    _settle(qtbot)
    for label in (panel.progress, panel.position, panel.speed, panel.notice, panel.message):
        assert _fully_shown(label), (label.objectName() or label.text(), size)
        # and inside the window's own rectangle, below the settings
        top_left = label.mapTo(window, label.rect().topLeft())
        bottom_right = label.mapTo(window, label.rect().bottomRight())
        assert window.rect().contains(top_left) and window.rect().contains(bottom_right)
    settings = panel.settings_scroll
    assert (
        panel.message.mapTo(panel, panel.message.rect().topLeft()).y()
        >= settings.geometry().bottom()
    )
