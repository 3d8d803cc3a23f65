"""The Batch Preview dock in a 1440-pixel window: the panel is never narrower than it needs
(its histogram, eight feature maps and eight samples scroll instead of being cut at the dock's
right edge, as they were, the table's scroll bar with them), and the table keeps room for rows."""

from __future__ import annotations

import pytest

from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.preview import preview_batch

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def test_preview_panel_fits_its_dock_with_feature_maps_shown(qtbot, window):
    window.resize(1440, 900)
    window.show()
    qtbot.waitExposed(window)
    panel = window.preview_panel()
    window.training_dock.hide()
    window.preview_dock.show()
    window.preview_dock.raise_()
    panel._succeeded(preview_batch(compile_project(window.doc.graph)), None)
    conv2 = next(n.id for n in window.doc.graph.nodes() if n.label == "conv2")
    assert panel.select_node(conv2)
    qtbot.wait(100)
    assert panel.maps_row.count() >= 8  # conv2's feature maps are shown
    assert panel.minimumSizeHint().width() <= panel.width(), (
        panel.minimumSizeHint(),
        panel.size(),
    )
    assert panel.table.height() >= 3 * panel.table.verticalHeader().defaultSectionSize()
