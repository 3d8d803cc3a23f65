"""The Sweep dock's plots (pyqtgraph): parallel coordinates, one line per finished trial across
its parameters to its objective (coloured from worst to best, the best drawn thick), and the
objective of each trial against its number with the best so far as a step line.

Each parameter axis spans its dimension's range (a log range on a log scale) or lists its
choices; the objective axis spans the values seen. Redrawn when a trial finishes (a few
times a minute at most), so each redraw simply replaces its items. No torch here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from torchcanvas.gui import theme

BEST_COLOR = "#16a34a"
POINT_COLOR = theme.CATEGORY_COLORS["Data"]
PRUNED_COLOR = "#9ca3af"
COLORMAP = "viridis"  # worst (dark violet) … best (yellow)


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _axis_position(dim: dict[str, Any], value: Any) -> float | None:
    """Where ``value`` sits on its dimension's axis, 0 (low) … 1 (high); None if off it."""
    kind = dim.get("kind")
    if kind == "choice":
        choices = list(dim.get("choices", []))
        if value not in choices:
            return None
        return 0.5 if len(choices) == 1 else choices.index(value) / (len(choices) - 1)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    low, high = float(dim.get("low", 0)), float(dim.get("high", 1))
    if kind == "log" or (kind == "int" and dim.get("log")):
        if low <= 0 or value <= 0:
            return None
        low, high, value = math.log10(low), math.log10(high), math.log10(value)
    if high == low:
        return 0.5
    return (float(value) - low) / (high - low)


MAX_CHOICE_LABELS = 8  # a choice axis with more choices names its two ends only


def _axis_labels(dim: dict[str, Any]) -> list[tuple[str, float]]:
    """The words along a dimension's axis, each with its height 0 … 1: a range's ends, or
    each choice where its trials cross (a node type by its title)."""
    if dim.get("kind") == "choice":
        from torchcanvas.gui.training.sweep_edit import value_title

        choices = list(dim.get("choices", []))
        target = str(dim.get("target", ""))
        shown = [
            (value_title(target, c), _axis_position(dim, c))
            for i, c in enumerate(choices)
            if len(choices) <= MAX_CHOICE_LABELS or i in (0, len(choices) - 1)
        ]
        return [(text, y) for text, y in shown if y is not None]
    return [(_short(dim.get("low")), 0.0), (_short(dim.get("high")), 1.0)]


class SweepPlots(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        t = theme.current()
        self._text = QColor(t.node_text)
        self.parallel = pg.PlotWidget()
        self.parallel.setObjectName("sweepParallel")
        self.objective = pg.PlotWidget()
        self.objective.setObjectName("sweepObjective")
        for w in (self.parallel, self.objective):
            w.setBackground(t.node_body)
            w.setMenuEnabled(False)
            for name in ("left", "bottom"):
                axis = w.getPlotItem().getAxis(name)
                axis.setTextPen(pg.mkPen(self._text))
                axis.setPen(pg.mkPen(QColor(t.node_subtext)))
        p = self.parallel.getPlotItem()
        p.hideAxis("left")
        p.setMouseEnabled(x=False, y=False)
        p.setTitle("Parallel coordinates", color=self._text.name(), size="9pt")
        o = self.objective.getPlotItem()
        o.setTitle("Objective by trial", color=self._text.name(), size="9pt")
        o.setLabel("bottom", "trial")
        o.showGrid(x=False, y=True, alpha=0.2)
        self.points = pg.ScatterPlotItem(
            size=8, pen=pg.mkPen(None), brush=pg.mkBrush(POINT_COLOR), hoverable=True
        )
        self.pruned_points = pg.ScatterPlotItem(
            size=8,
            symbol="x",
            pen=pg.mkPen(PRUNED_COLOR),
            brush=pg.mkBrush(PRUNED_COLOR),
            hoverable=True,
        )
        self.best_curve = pg.PlotDataItem(pen=pg.mkPen(BEST_COLOR, width=2), stepMode=None)
        o.addItem(self.best_curve)
        o.addItem(self.points)
        o.addItem(self.pruned_points)
        self.lines: list[pg.PlotDataItem] = []
        self._labels: list[pg.TextItem] = []
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.parallel)
        split.addWidget(self.objective)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def show_trials(
        self,
        trials: list[dict[str, Any]],
        dimensions: list[dict[str, Any]],
        metric: str,
        direction: str,
        titles: dict[str, str],
    ) -> None:
        """Draw ``trials`` (rows as ``TrialResult.to_dict``) for this space."""
        done = [
            t
            for t in trials
            if t.get("state") == "COMPLETE"
            and isinstance(t.get("objective"), (int, float))
            and math.isfinite(t["objective"])
        ]
        self._draw_parallel(done, dimensions, metric, direction, titles)
        self._draw_objective(trials, done, metric, direction)

    # ------------------------------------------------------------------ parallel coordinates
    def _draw_parallel(self, done, dimensions, metric, direction, titles) -> None:
        plot = self.parallel.getPlotItem()
        for item in (*self.lines, *self._labels):
            plot.removeItem(item)
        self.lines, self._labels = [], []
        n = len(dimensions)
        ticks = [(i, titles.get(d["target"], d["target"])) for i, d in enumerate(dimensions)]
        ticks.append((n, metric))
        plot.getAxis("bottom").setTicks([ticks])
        for i in range(n + 1):
            axis = pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen(QColor(theme.current().wire)))
            plot.addItem(axis)
            self._labels.append(axis)
        values = [t["objective"] for t in done]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        axes = [_axis_labels(d) for d in dimensions] + [[(_short(lo), 0.0), (_short(hi), 1.0)]]
        for i, words in enumerate(axes):
            for text, y in words:
                # the bottom word hangs below its height, the top one stands above, others centred
                anchor = (0, 0) if y <= 0.0 else (0, 1) if y >= 1.0 else (0, 0.5)
                label = pg.TextItem(text, color=self._text, anchor=anchor)
                label.setPos(i, y)
                plot.addItem(label)
                self._labels.append(label)
        cmap = pg.colormap.get(COLORMAP)
        sign = 1 if direction == "maximize" else -1
        ranked = sorted(done, key=lambda t: sign * t["objective"])  # worst first, best last
        for rank, trial in enumerate(ranked):
            ys = [_axis_position(d, trial["params"].get(d["target"])) for d in dimensions]
            ys.append(0.5 if hi == lo else (trial["objective"] - lo) / (hi - lo))
            if any(y is None for y in ys):
                continue
            best = rank == len(ranked) - 1
            share = rank / max(1, len(ranked) - 1)
            color = QColor(BEST_COLOR) if best else cmap.map(0.15 + 0.7 * share, mode="qcolor")
            line = pg.PlotDataItem(
                np.arange(n + 1, dtype=float),
                np.array(ys, dtype=float),
                pen=pg.mkPen(color, width=3 if best else 1.5),
            )
            line.setZValue(10 if best else rank / (len(ranked) + 1))
            line.setToolTip(f"trial {trial['number']}: {metric} {trial['objective']:.4g}")
            plot.addItem(line)
            self.lines.append(line)
        plot.setXRange(-0.4, n + 0.4, padding=0)
        plot.setYRange(-0.08, 1.08, padding=0)

    # ------------------------------------------------------------------ objective by trial
    def _draw_objective(self, trials, done, metric, direction) -> None:
        plot = self.objective.getPlotItem()
        plot.setTitle(f"{metric} by trial", color=self._text.name(), size="9pt")
        xs = np.array([t["number"] for t in done], dtype=float)
        ys = np.array([t["objective"] for t in done], dtype=float)
        self.points.setData(
            xs, ys, data=[f"trial {t['number']}" for t in done], tip=self._tip(metric)
        )
        # a pruned trial where it stood when it was stopped; without that figure, at the
        # worst end of the finished ones
        pruned = [t for t in trials if t.get("state") == "PRUNED"]
        finite = [
            t.get("last_value")
            for t in pruned
            if isinstance(t.get("last_value"), (int, float)) and np.isfinite(t["last_value"])
        ]
        stood = [t.get("last_value") if t.get("last_value") in finite else None for t in pruned]
        # the view fits the finished trials; a pruned trial beyond them sits on the worse edge
        # (its tooltip gives its figure), so a few bad ones do not flatten the good ones
        known = ys if len(ys) else np.array(finite, dtype=float)
        if len(known):
            lo, hi = float(known.min()), float(known.max())
            pad = 0.12 * ((hi - lo) or abs(hi) or 1.0)
            lo, hi = lo - pad, hi + pad
            worse = lo if direction == "maximize" else hi
        else:
            lo, hi, worse = -1.0, 1.0, 0.0
        shown = [worse if v is None else min(max(v, lo), hi) for v in stood]
        plot.enableAutoRange(y=False)
        plot.setYRange(lo, hi, padding=0.04)  # the edge marks drawn whole
        self.pruned_points.setData(
            np.array([t["number"] for t in pruned], dtype=float),
            np.array(shown, dtype=float),
            data=[
                f"trial {t['number']}, pruned after epoch {t.get('epochs', '?')}\n"
                + (f"{metric} {v:.4g} then" if v is not None else f"no {metric} reported")
                for t, v in zip(pruned, stood, strict=True)
            ],
            tip=lambda x, y, data: data,
        )
        if len(xs):
            best = (
                np.maximum.accumulate(ys) if direction == "maximize" else np.minimum.accumulate(ys)
            )
            self.best_curve.setData(xs, best, stepMode=None)
        else:
            self.best_curve.setData([], [])

    @staticmethod
    def _tip(metric: str):
        return lambda x, y, data: f"{data}\n{metric} {y:.4g}"
