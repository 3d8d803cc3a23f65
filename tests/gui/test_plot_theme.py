"""The learning-rate finder's plot and the batch preview's histogram follow the window's
theme (they were pyqtgraph's black with grey text in a light window), as the training,
sweep and autograd plots do: background, tick labels and axis titles."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _check(widget) -> None:
    from torchcanvas.gui import theme

    t = theme.current()
    assert widget.backgroundBrush().color() == QColor(t.node_body)
    plot = widget.getPlotItem()
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        assert axis.textPen().color() == QColor(t.node_text), name
        if axis.label.isVisible():
            assert f"color: {QColor(t.node_text).name()}" in axis.labelString(), name


def test_lr_finder_plot_follows_the_theme(qtbot, isolated):
    from torchcanvas.gui.insight.lr_finder import LRFinderDialog
    from torchcanvas.gui.project import Document

    document = Document(load(assets_dir() / "examples" / "iris_mlp.json"))
    try:
        dialog = LRFinderDialog(document)
        qtbot.addWidget(dialog)
        _check(dialog.plot)
        assert dialog.plot.getPlotItem().getAxis("bottom").label.isVisible()
    finally:
        document.close()


def test_batch_preview_histogram_follows_the_theme(qtbot):
    from torchcanvas.gui.insight.batch_preview import BatchPreviewPanel

    panel = BatchPreviewPanel()
    qtbot.addWidget(panel)
    _check(panel.hist)
