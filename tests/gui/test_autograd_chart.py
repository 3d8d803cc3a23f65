"""The Autograd dock's gradient chart: after one capture a bar per layer, named on the x axis,
on a log axis whose ticks read as the values themselves; over several readings a curve per
layer against the step."""

from __future__ import annotations

import math
import re

import pytest

from torchcanvas.runtime.autograd import GradStats

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _value(tick: str) -> float:
    """A log axis tick as a number: "0.05", "3·10⁻⁴", "10⁻⁵"."""
    m = re.fullmatch(r"(?:([\d.]+)·)?10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", tick)
    if m:
        return float(m.group(1) or 1) * 10 ** int(m.group(2).translate(_SUPERSCRIPT))
    return float(tick)


def _left_ticks(plot) -> list[float]:
    axis = plot.getAxis("left")
    (y0, y1) = plot.vb.viewRange()[1]
    out = []
    for spacing, values in axis.tickValues(y0, y1, axis.height()):
        for text in axis.tickStrings(values, axis.autoSIPrefixScale, spacing):
            if text:
                out.append(_value(text))
    return out


def test_one_capture_draws_a_bar_per_layer_with_readable_ticks(window, qtbot):
    window.autograd.dock.show()
    assert window.autograd.capture()
    panel = window.autograd.panel
    plot = panel.chart.getPlotItem()
    norms = panel.graph.grads.per_owner()
    labels = {n.id: n.label for n in window.doc.graph.nodes()}
    assert panel.bars is not None and set(panel.bar_layers) == set(norms)
    # the x axis names the layers, one tick per bar, and spans the bars, not -1..1
    (ticks,) = plot.getAxis("bottom")._tickLevels
    assert [t[1] for t in ticks] == [labels[o] for o in panel.bar_layers]
    x0, x1 = plot.vb.viewRange()[0]
    assert -1 < x0 <= -0.5 and len(norms) - 0.5 <= x1 < len(norms)
    assert "layer" in plot.getAxis("bottom").labelText
    # each bar's top is its layer's ‖grad‖ (log10 units: the plot is in log mode)
    bars = panel.bars.opts
    for i, owner in enumerate(panel.bar_layers):
        assert bars["y0"] + bars["height"][i] == pytest.approx(math.log10(norms[owner]))
    # the y range holds every bar; the tick labels are values, unscaled: no "(x0.001)"
    y0, y1 = plot.vb.viewRange()[1]
    assert y0 < min(math.log10(v) for v in norms.values())
    assert y1 > max(math.log10(v) for v in norms.values())
    left = plot.getAxis("left")
    assert left.autoSIPrefixScale == 1.0 and "(x" not in left.labelString()
    values = _left_ticks(plot)
    assert len(values) >= 2
    assert all(10**y0 * 0.99 <= v <= 10**y1 * 1.01 for v in values), (values, y0, y1)


def test_a_second_reading_turns_the_bars_into_curves_over_the_steps(window, qtbot):
    window.autograd.dock.show()
    assert window.autograd.capture()
    panel = window.autograd.panel
    stats = panel.graph.grads
    panel.show_grads(GradStats(20, stats.params))
    plot = panel.chart.getPlotItem()
    assert panel.bars is None
    assert plot.getAxis("bottom")._tickLevels is None
    assert plot.getAxis("bottom").labelText == "step"
    assert all(c.isVisible() for c in panel.curves.values())
    panel.reset_history()
    panel.show_grads(GradStats(0, stats.params))  # one reading again (a new run): bars
    assert panel.bars is not None
