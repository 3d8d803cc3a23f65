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
