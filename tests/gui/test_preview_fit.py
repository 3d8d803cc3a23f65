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


def test_a_wire_behind_a_stats_badge_does_not_run_through_its_text(qtbot, window):
    """The digits example's y wire passes conv2's badge: the badge paints the canvas colour
    behind its text, so the wire's pixels do not show inside it."""
    from PySide6.QtGui import QColor, QImage, QPainter

    from torchcanvas.gui import theme
    from torchcanvas.gui.insight.batch_preview import badges, mark_nodes

    mark_nodes(window.scene, preview_batch(compile_project(window.doc.graph)))
    conv2 = next(n.id for n in window.doc.graph.nodes() if n.label == "conv2")
    badge = next(b for b in badges(window.scene) if b.node_id == conv2)
    rect = badge.sceneBoundingRect()
    # a red line across the badge, under it, as a wire is drawn
    line = window.scene.addLine(
        rect.left() - 20, rect.center().y(), rect.right() + 20, rect.center().y()
    )
    pen = line.pen()
    pen.setColor(QColor(255, 0, 0))
    pen.setWidthF(3)
    line.setPen(pen)
    line.setZValue(badge.parentItem().zValue() - 1)
    image = QImage(int(rect.width()), int(rect.height()), QImage.Format.Format_ARGB32)
    image.fill(theme.current().background)
    painter = QPainter(image)
    window.scene.render(painter, image.rect().toRectF(), rect)
    painter.end()
    red = sum(
        1
        for x in range(image.width())
        for y in range(image.height())
        if (c := image.pixelColor(x, y)).red() > 200 and c.green() < 80 and c.blue() < 80
    )
    assert red == 0, f"{red} pixels of the wire show through the badge"
