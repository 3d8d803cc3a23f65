"""Messages in the window say what is true now, in the user's terms, and look distinct."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from torchcanvas.assets import assets_dir

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

EXAMPLES = assets_dir() / "examples"


def test_a_loss_shape_mismatch_is_one_error_with_its_fix(qtbot, window):
    assert window.open_example(EXAMPLES / "mlp_regression.json")
    assert window.wait_for_shapes()
    assert window.status_label.text().startswith("✓ valid")
    assert window.doc.set_param("n4", "out_features", 10)
    assert window.wait_for_shapes()
    assert window.status_label.text().startswith("⚠ 1 problem ·")
    problems = window.doc.shapes.problems
    assert [(p.node_id, p.severity) for p in problems] == [("n5", "error")]
    assert "set output.out_features to 1" in problems[0].message
    assert window.problems.tree.topLevelItemCount() == 1


@pytest.mark.parametrize("dark", [False, True])
def test_the_warning_border_is_not_the_selection_colour(qtbot, dark):
    from torchcanvas.gui.theme import _build

    t = _build(dark)

    def hue_gap(a: QColor, b: QColor) -> int:
        gap = abs(a.hsvHue() - b.hsvHue()) % 360
        return min(gap, 360 - gap)

    assert hue_gap(t.warning, t.selection) >= 15
    assert hue_gap(t.warning, t.error) >= 15


# ---------------------------------------------------------------------------- stale messages
@pytest.fixture
def live(window):
    """Runs started in the window are stopped at teardown, even when a test fails."""
    yield window
    window.training.stop_and_wait()


def _train(qtbot, window) -> None:
    assert window.start_training()
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=120_000)


def test_a_failed_start_leaves_no_curves_or_speed_and_another_project_no_message(qtbot, live):
    window = live
    window.doc.set_setting("epochs", 1)
    _train(qtbot, window)
    window.plots.refresh()
    assert window.plots.point_count > 0 and window.run_panel.speed.text()
    # a run that fails before it trains: the previous run's curves and speed are not its own
    window.doc.set_param("n8", "in_features", 100)
    _train(qtbot, window)
    assert "classifier" in window.run_panel.message.text()
    window.plots.refresh()
    assert window.plots.point_count == 0
    assert window.run_panel.speed.text() == "" and window.run_panel.position.text() == ""
    assert window.run_panel.progress.text() == "failed"
    # another project: the failure was about the one before
    window.doc.undo_stack.setClean()
    assert window.open_example(EXAMPLES / "mlp_regression.json")
    assert window.run_panel.message.text() == ""
    assert window.run_panel.progress.text() == "idle"


def test_the_graph_changed_notice_goes_when_the_run_ends(qtbot, live):
    window = live
    window.doc.set_setting("epochs", 50)
    assert window.start_training()
    qtbot.waitUntil(lambda: window.training.state == "running", timeout=120_000)
    assert window.doc.set_param("n2", "out_channels", 8)
    assert "The graph changed" in window.run_panel.notice.text()
    window.training.stop()
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    assert window.run_panel.notice.text() == ""


def test_a_refused_label_message_goes_after_a_later_good_edit(qtbot, window):
    from PySide6.QtCore import Qt

    insp = window.inspector
    window.scene.select_nodes(["n2"])
    qtbot.waitUntil(lambda: insp.label_edit is not None)

    def type_into(line, text):
        line.setFocus()
        line.selectAll()
        qtbot.keyClick(line, Qt.Key.Key_Backspace)
        qtbot.keyClicks(line, text)
        qtbot.keyClick(line, Qt.Key.Key_Return)

    type_into(insp.label_edit, "   ")
    assert "cannot be empty" in insp.label_error.text() and not insp.label_error.isHidden()
    type_into(insp.row("out_channels").spin.lineEdit(), "8")  # a good edit of another field
    assert window.doc.graph.node("n2").params["out_channels"] == 8
    assert insp.label_error.isHidden()
    type_into(insp.label_edit, "   ")
    assert not insp.label_error.isHidden()
    assert window.doc.set_label("n2", "stem")  # renamed elsewhere (the canvas)
    assert insp.label_error.isHidden() and insp.label_edit.text() == "stem"
