"""The Autograd dock's gradient chart: its legend has a background, so a curve that passes
behind it does not run through the layer names (a curve crossed "conv1" in the README picture)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRect


def test_curves_pass_under_the_legend_not_through_its_names(qtbot):
    from torchcanvas.gui.autograd.view import AutogradPanel

    panel = AutogradPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    qtbot.waitExposed(panel)
    chart = panel.chart
    chart.setMinimumSize(400, 300)
    named = chart.plot([0, 100], [0.5, 0.5], pen=pg.mkPen("#5b8def", width=2))
    chart.plotItem.legend.addItem(named, "conv1")
    # a pure red band as wide as the chart is tall: it lies behind the whole legend
    chart.plot([0, 100], [0.5, 0.5], pen=pg.mkPen((255, 0, 0), width=600))
    chart.setXRange(0, 100, padding=0)
    chart.setYRange(-1, 0, padding=0)  # log axis: 0.1 … 1
    qtbot.wait(50)
    legend = chart.plotItem.legend
    rect = chart.mapFromScene(legend.sceneBoundingRect()).boundingRect()
    image = chart.grab().toImage()
    inner = rect.adjusted(2, 2, -2, -2) & QRect(0, 0, image.width(), image.height())
    assert inner.width() > 20 and inner.height() > 8, inner
    red = sum(
        1
        for x in range(inner.left(), inner.right())
        for y in range(inner.top(), inner.bottom())
        if (c := image.pixelColor(x, y)).red() > 200 and c.green() < 60 and c.blue() < 60
    )
    assert red == 0, f"{red} pixels of the curve show through the legend {inner}"
    assert legend.zValue() > named.zValue()
