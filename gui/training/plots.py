"""Live training curves: loss per step, validation metrics per epoch and learning rate.

Data flow (DESIGN.md, GUI): ``add_steps`` / ``add_epoch`` only append to numpy buffers that grow
by doubling (``CurveBuffer``, in ``curves.py``) and mark what changed; a ~20 Hz ``QTimer`` calls
:meth:`LivePlots.refresh` when something is pending, never once per step. One
``PlotDataItem`` per curve.

Why a refresh stays cheap with a million points: every per-step ("dense") curve keeps a min/max
pyramid (block minima and maxima at block sizes 16·2^k) that is updated only where new points
landed, so drawing the whole run reads a few thousand block extremes instead of scanning the
history (the same picture as pyqtgraph's "peak" downsampling, at O(new points + pixels) per
refresh). The smoothed loss is an exponential moving average continued from its last value, also
vectorised. When zoomed in, the visible slice of the raw buffers is handed to the item as a
view; pyqtgraph's own auto-downsampling ("peak") and clip-to-view stay on for the in-between
frames of a pan or zoom.

Repaints (Qt's raster engine; no OpenGL): translucent pens and pens wider than 1 px draw many
times slower than opaque 1 px ones, so dimmed colours are blended into the background up front,
only the smoothed loss is 2 px wide, and the grid is one item per plot (:class:`_Grid`).

What a repaint costs depends most on whether the view moved: a new range regenerates every axis,
its tick labels and the grid. Auto-range therefore moves in steps (:class:`_SteadyViewBox`): the
x axis spans the whole run from its first step (its length is known when it starts) and y ranges
snap to tick multiples and stay put while the data fits them well, so during a run the axes are
redrawn a handful of times instead of at every refresh.

No torch here: the GUI shows these plots before torch is imported.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QLineF, QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.gui import theme
from torchcanvas.gui.training.curves import (
    DenseCurve,
    EpochCurve,
    ema,
    ema_state,
)

# The headline metrics per task. The same table as torchcanvas.runtime.metrics.HEADLINE (a test
# keeps them equal); copied because this module must not import torch.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1"),
    "binary": ("accuracy", "precision", "recall", "f1"),
    "regression": ("mae", "r2"),
}
UNIT_INTERVAL_METRICS = frozenset({"accuracy", "precision", "recall", "f1"})

# Curve colours: the theme's category colours, mid-tones that read on light and dark backgrounds.
TRAIN_COLOR = theme.CATEGORY_COLORS["Data"]  # blue
VAL_COLOR = theme.PORT_COLORS["loss"]  # orange
LR_COLOR = theme.CATEGORY_COLORS["Optimizers"]  # pink
METRIC_COLORS = {
    "accuracy": theme.CATEGORY_COLORS["Layers"],  # green
    "precision": theme.CATEGORY_COLORS["Ops"],  # violet
    "recall": theme.CATEGORY_COLORS["Activations"],  # amber
    "f1": theme.CATEGORY_COLORS["Losses"],  # red
    "mae": theme.CATEGORY_COLORS["Schedulers"],  # indigo
    "r2": theme.CATEGORY_COLORS["Layers"],  # green
}
METRIC_SYMBOLS = {
    "accuracy": "o",
    "precision": "s",
    "recall": "t",
    "f1": "d",
    "mae": "o",
    "r2": "s",
}
METRIC_LABELS = {"mae": "MAE", "r2": "R²"}
READOUT_NAMES = {"accuracy": "acc", "precision": "prec", "recall": "rec", "mae": "MAE", "r2": "R²"}
# Runs drawn for comparison: one colour per run, dimmed.
OVERLAY_COLORS = ("#14b8a6", "#64748b", "#d946ef", "#84cc16", "#0ea5e9", "#a16207")
OVERLAY_OPACITY = 0.55  # blended into the background: opaque pens draw much faster
RAW_OPACITY = 0.4

REFRESH_INTERVAL_MS = 50  # ~20 Hz when drawing is cheap
MAX_INTERVAL_MS = 400  # never slower than 2.5 Hz
DRAW_BUDGET = 0.03  # refreshing and painting the curves may take this share of the UI thread
READOUT_HINT = "Point at a plot to read the values at a step; drag to pan, wheel to zoom."
DEFAULT_SMOOTHING = 0.9
AXIS_WIDTH = 60  # same left/right axis widths on every plot, so the linked x axes line up
RIGHT_AXIS_WIDTH = 46


def theme_plot(widget: pg.PlotWidget) -> None:
    """A plot in the window's theme: its background, axes, tick labels and axis titles (not
    pyqtgraph's own black background and grey text, which stand out in a light window)."""
    t = theme.current()
    widget.setBackground(t.node_body)
    text = QColor(t.node_text)
    for name in ("left", "bottom", "right", "top"):
        axis = widget.getPlotItem().getAxis(name)
        axis.setPen(pg.mkPen(QColor(t.node_subtext)))
        axis.setTextPen(pg.mkPen(text))
        axis.labelStyle = {**axis.labelStyle, "color": text.name()}
        axis.label.setHtml(axis.labelString())


def _nice_step(span: float) -> float:
    """1, 2, 2.5 or 5 × 10^k: about an eighth of ``span`` (> 0)."""
    raw = span / 8
    scale = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0):
        if raw <= m * scale * (1 + 1e-9):
            return m * scale
    return 10.0 * scale


def steady_range(
    data: tuple[float, float], current: tuple[float, float], padding: float = 0.0, snap: bool = True
) -> tuple[float, float]:
    """A view range for ``data`` (lowest, highest value) that changes rarely as the data grows:
    ``current`` while it holds the data and the data fills at least half of it; otherwise the
    data widened to multiples of a nice step (``snap``) plus ``padding`` (a fraction of the span)
    on each side. A falling loss thus moves its axis a few times per run, not at every refresh."""
    lo, hi = float(data[0]), float(data[1])
    c0, c1 = float(current[0]), float(current[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return lo, hi
    if c0 <= lo and hi <= c1 and (hi - lo) >= 0.5 * (c1 - c0) > 0:
        return c0, c1
    span = hi - lo
    if span <= 0:
        span = abs(hi) * 0.2 or 1.0
        lo, hi = lo - span / 2, hi + span / 2
    if snap:
        step = _nice_step(span)
        lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    pad = (hi - lo) * padding
    return lo - pad, hi + pad


class _SteadyViewBox(pg.ViewBox):
    """A ViewBox whose auto-range moves in steps (:func:`steady_range`). ``x_extent`` (first and
    last step of the run) makes the followed x range span the whole run from its start."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.x_extent: tuple[float, float] | None = None
        self.y_floor: float | None = None  # followed y ranges reach down to this value
        self._auto = False

    def updateAutoRange(self) -> None:
        self._auto = True
        try:
            super().updateAutoRange()
        finally:
            self._auto = False

    def setRange(
        self, rect=None, xRange=None, yRange=None, padding=None, update=True, disableAutoRange=True
    ) -> None:
        if self._auto and rect is None:  # called by updateAutoRange, padding included
            (x0, x1), (y0, y1) = self.viewRange()
            if xRange is not None:
                p = self.suggestPadding(0)
                lo, hi = _unpad(xRange, p)
                extent = self.x_extent
                if extent is not None:
                    lo, hi = min(lo, extent[0]), max(hi, extent[1])
                xRange = steady_range((lo, hi), (x0, x1), p, snap=extent is None)
            if yRange is not None:
                p = self.suggestPadding(1)
                lo, hi = _unpad(yRange, p)
                if self.y_floor is not None:
                    lo = min(lo, self.y_floor)
                yRange = steady_range((lo, hi), (y0, y1), p)
        super().setRange(rect, xRange, yRange, padding, update, disableAutoRange)


def _unpad(padded: tuple[float, float], padding: float) -> tuple[float, float]:
    """The data range that ViewBox padding (a fraction of the span per side) widened."""
    lo, hi = float(padded[0]), float(padded[1])
    pad = (hi - lo) * padding / (1 + 2 * padding)
    return lo + pad, hi - pad


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.4g}"


def _blend(color: str | QColor, background: QColor, opacity: float) -> QColor:
    """``color`` at ``opacity`` over ``background``, as an opaque colour. Qt's raster engine
    draws translucent lines many times slower than opaque ones."""
    fg = QColor(color)
    return QColor.fromRgbF(
        *(
            opacity * a + (1.0 - opacity) * b
            for a, b in zip(fg.getRgbF()[:3], background.getRgbF()[:3], strict=True)
        )
    )


class SparseLogAxis(pg.AxisItem):
    """In log mode, labels only mantissas 1, 2, 3 and 5: pyqtgraph labels every minor tick
    and "0.9" collides with "1"."""

    def logTickStrings(self, values, scale, spacing):
        strings = super().logTickStrings(values, scale, spacing)
        out = []
        for value, text in zip(values, strings, strict=True):
            mantissa = 10 ** (value - math.floor(value + 1e-9))
            out.append(text if min(abs(mantissa - m) for m in (1, 2, 3, 5)) < 0.05 else "")
        return out


class _Grid(pg.GraphicsObject):
    """Grid lines at the plot's tick positions (major and minor), under everything the plot's
    views draw (a child of the PlotItem below its ViewBoxes), one ``drawLines`` per level with
    opaque pens. pyqtgraph's own axis grid draws line by line through a QPicture, translucent,
    and costs several times more per repaint."""

    def __init__(self, plot: pg.PlotItem) -> None:
        super().__init__(plot)
        self._plot = plot
        self.pens = (pg.mkPen("#d0d0d0"), pg.mkPen("#e8e8e8"))
        self._lines: tuple[tuple, list[list[QLineF]]] | None = None  # (view key, per level)
        self.setZValue(-1000)  # ViewBoxes sit at -100
        plot.vb.sigRangeChanged.connect(self._changed)
        plot.vb.sigResized.connect(self._changed)

    def _changed(self, *_args) -> None:
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._plot.vb.geometry()

    def paint(self, painter, *_args) -> None:
        vb = self._plot.vb
        rect = vb.geometry()
        (x0, x1), (y0, y1) = vb.viewRange()
        if rect.width() <= 0 or rect.height() <= 0 or x0 == x1 or y0 == y1:
            return
        key = (
            x0,
            x1,
            y0,
            y1,
            rect.x(),
            rect.y(),
            rect.width(),
            rect.height(),
            self._plot.getAxis("left").logMode,
        )
        if self._lines is None or self._lines[0] != key:  # ticks move only with the view
            self._lines = (key, self._grid_lines(rect, x0, x1, y0, y1))
        painter.setRenderHint(painter.RenderHint.Antialiasing, False)
        for pen, lines in zip(self.pens, self._lines[1], strict=False):
            if lines:
                painter.setPen(pen)
                painter.drawLines(lines)

    def _grid_lines(
        self, rect: QRectF, x0: float, x1: float, y0: float, y1: float
    ) -> list[list[QLineF]]:
        """Lines per tick level (major, minor) at the axes' tick positions."""
        out: list[list[QLineF]] = [[], []]
        for name, vertical in (("bottom", True), ("left", False)):
            lo, hi, length = (x0, x1, rect.width()) if vertical else (y0, y1, rect.height())
            levels = self._plot.getAxis(name).tickValues(lo, hi, length)
            for level, (_spacing, values) in enumerate(levels[:2]):
                if not len(values):
                    continue
                at = np.asarray(values, dtype=np.float64)
                if vertical:
                    px = rect.left() + (at - x0) / (x1 - x0) * rect.width()
                    out[level] += [QLineF(v, rect.top(), v, rect.bottom()) for v in px.tolist()]
                else:
                    py = rect.bottom() - (at - y0) / (y1 - y0) * rect.height()
                    out[level] += [QLineF(rect.left(), v, rect.right(), v) for v in py.tolist()]
        return out


# ------------------------------------------------------------------------------- widget
class LivePlots(QWidget):
    """Training loss per step (raw, smoothed) with validation loss per epoch; the task's
    validation metrics per epoch; learning rate per step. All three share the step axis.

    ``reset(task, classes)`` starts a run; ``add_steps`` / ``add_epoch`` append data (cheap, no
    drawing); the refresh timer (``timer_interval_ms``) or :meth:`refresh` draws it. While the
    widget is hidden the timer draws nothing; showing it draws what is pending.
    ``set_overlays`` draws other runs dimmed for comparison; they stay across ``reset``.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._task = "other"
        self._classes: tuple[str, ...] | None = None
        self._metric_names: tuple[str, ...] = ()
        self._smoothing = DEFAULT_SMOOTHING
        self._ema_last: float | None = None
        self._pending = False
        self.cycle_ms = 0.0  # what a refresh and its repaint cost (smoothed), to pace the timer
        self._pushed_full = True
        self._overlay_runs: list[tuple[str, dict]] = []
        self._overlay_dense: list[DenseCurve] = []
        self._overlay_items: list[tuple[pg.PlotItem | pg.ViewBox, pg.PlotDataItem]] = []
        self._epochs: list[int] = []  # epoch numbers, parallel to the per-epoch buffers

        self._build_toolbar()
        self._build_plots()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self._toolbar)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._apply_chrome()
        self.reset("other")

    # ---------------------------------------------------------------- construction
    def _build_toolbar(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 0)
        bar.setSpacing(8)
        label = QLabel("Smoothing")
        self.smoothing_box = QDoubleSpinBox()
        self.smoothing_box.setRange(0.0, 0.99)
        self.smoothing_box.setSingleStep(0.05)
        self.smoothing_box.setDecimals(2)
        self.smoothing_box.setValue(DEFAULT_SMOOTHING)
        self.smoothing_box.setToolTip(
            "Exponential moving average of the training loss (0 = raw, 0.99 = very smooth)"
        )
        self.smoothing_box.valueChanged.connect(self.set_smoothing)
        label.setBuddy(self.smoothing_box)
        self.log_box = QCheckBox("Log loss")
        self.log_box.setToolTip("Logarithmic y axis for the loss plot")
        self.log_box.toggled.connect(self._on_log_toggled)
        self.autorange_button = QPushButton("Auto-range")
        self.autorange_button.setToolTip("Fit all plots to their data and follow new steps")
        self.autorange_button.clicked.connect(self.auto_range)
        self.readout = QLabel()
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.readout.setContentsMargins(6, 0, 6, 2)
        for widget in (label, self.smoothing_box, self.log_box, self.autorange_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        self._toolbar = bar

    def _build_plots(self) -> None:
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(4, 4, 4, 4)
        self.graphics.ci.setSpacing(0)
        self.loss_plot = self.graphics.addPlot(
            row=0, col=0, viewBox=_SteadyViewBox(), axisItems={"left": SparseLogAxis("left")}
        )
        self.metrics_plot = self.graphics.addPlot(row=1, col=0, viewBox=_SteadyViewBox())
        self.lr_plot = self.graphics.addPlot(row=2, col=0, viewBox=_SteadyViewBox())
        self.plots = (self.loss_plot, self.metrics_plot, self.lr_plot)
        grid = self.graphics.ci.layout
        for row, stretch in enumerate((5, 3, 2)):
            grid.setRowStretchFactor(row, stretch)
        for plot in self.plots:
            plot.hideButtons()
            plot.setMenuEnabled(False, True)  # keep the view menu, drop "Plot options"
            plot.showAxis("right")
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.getAxis("right").setWidth(RIGHT_AXIS_WIDTH)
            plot.getAxis("right").setStyle(showValues=False)
            plot.getAxis("bottom").setStyle(showValues=plot is self.lr_plot)
            plot.getAxis("bottom").setHeight(None if plot is self.lr_plot else 6)
            plot.vb.setDefaultPadding(0.02)
            plot.vb.setAutoVisible(y=True)  # zoomed in x: fit y to what is in view
            if plot is not self.loss_plot:
                plot.setXLink(self.loss_plot)
                plot.vb.enableAutoRange(x=False)
        self._grids = []
        for plot in self.plots:
            self._grids.append(_Grid(plot))
        self.loss_plot.setLabel("left", "loss")
        self.lr_plot.setLabel("left", "lr")
        # no "(x0.001)" scale in the label: it would be longer than the short lr plot is tall
        self.lr_plot.getAxis("left").enableAutoSIPrefix(False)
        self.lr_plot.setLabel("bottom", "step")

        # training loss: raw (thin, light) under the smoothed line, validation on top
        self.raw_curve = self._dense_item(self.loss_plot, name="train loss")
        self.smooth_curve = self._dense_item(self.loss_plot, name="smoothed")
        self.val_curve = pg.PlotDataItem(name="val loss", antialias=True, symbol="o", symbolSize=7)
        self.loss_plot.addItem(self.val_curve)
        self.lr_curve = self._dense_item(self.lr_plot, name="learning rate")
        self.lr_plot.vb.y_floor = 0.0  # a schedule reads best against zero
        self._raw = DenseCurve(self.raw_curve)
        self._smooth = DenseCurve(self.smooth_curve)
        self._lr = DenseCurve(self.lr_curve)
        self._val = EpochCurve(self.val_curve)
        self._dense = [self._raw, self._smooth, self._lr]

        # metrics: left axis; a second view on the right axis for regression's R²
        # (under the main view, so the MAE curve and the legend stay on top; over the grid)
        self.metrics_right = _SteadyViewBox(enableMenu=False)
        self.metrics_right.setParentItem(self.metrics_plot)  # after __init__: hooks the scene
        self.metrics_right.setZValue(-110)
        self.metrics_right.setMouseEnabled(x=False, y=False)
        self.metrics_right.setDefaultPadding(0.05)
        self.metrics_right.setAutoVisible(y=True)
        self.metrics_right.setXLink(self.metrics_plot)
        self.metrics_plot.vb.sigResized.connect(self._sync_right_view)
        self.metric_curves: dict[str, pg.PlotDataItem] = {}
        self._metric_owner: dict[str, pg.PlotItem | pg.ViewBox] = {}
        self._metrics: dict[str, EpochCurve] = {}
        self._overlay_samples: list[tuple[str, pg.PlotDataItem, bool]] = []

        self.loss_legend = self._legend(self.loss_plot, (-6, 6))
        self.metrics_legend = self._legend(self.metrics_plot, (-6, -6))
        self.metrics_legend.setColumnCount(2)

        # crosshair: one vertical line per plot, values in the readout under the plots
        self._crosshair = []
        for plot in self.plots:
            line = pg.InfiniteLine(angle=90, movable=False)
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            self._crosshair.append(line)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.viewport().installEventFilter(self)
        self.graphics.viewport().setMouseTracking(True)

        self.loss_plot.vb.sigXRangeChanged.connect(self._on_x_range_changed)
        for plot in (self.loss_plot, self.lr_plot):
            plot.vb.sigResized.connect(self._on_resized)

    def _dense_item(self, plot: pg.PlotItem, name: str) -> pg.PlotDataItem:
        item = pg.PlotDataItem(name=name, antialias=False)
        plot.addItem(item)
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        return item

    def _legend(self, plot: pg.PlotItem, offset: tuple[int, int]) -> pg.LegendItem:
        legend = pg.LegendItem(offset=offset, verSpacing=-4, labelTextSize="8pt")
        legend.setParentItem(plot.vb)
        legend.setZValue(10)
        return legend

    def _apply_chrome(self) -> None:
        """Background, axes, grid, legends and pens from the current theme (light or dark)."""
        t = theme.current()
        background = t.node_body
        text = t.node_text
        self.graphics.setBackground(background)
        axis_pen = pg.mkPen(_blend(text, background, 0.3))
        grid_pens = (
            pg.mkPen(_blend(text, background, 0.15 if t.dark else 0.12)),
            pg.mkPen(_blend(text, background, 0.08 if t.dark else 0.06)),
        )
        for plot, grid in zip(self.plots, self._grids, strict=True):
            for name in ("left", "bottom", "right"):
                axis = plot.getAxis(name)
                axis.setPen(axis_pen)
                axis.setTextPen(pg.mkPen(text))
                axis.setStyle(maxTickLevel=1)  # major and minor: what the grid draws
            grid.pens = grid_pens
            grid.update()
        legend_brush = QColor(background)
        legend_brush.setAlpha(200)
        for legend in (self.loss_legend, self.metrics_legend):
            legend.setBrush(legend_brush)
            legend.setPen(pg.mkPen(t.node_border))
            legend.setLabelTextColor(text)
        self.raw_curve.setPen(pg.mkPen(_blend(TRAIN_COLOR, background, RAW_OPACITY), width=1))
        self.smooth_curve.setPen(pg.mkPen(TRAIN_COLOR, width=2))
        self.val_curve.setPen(pg.mkPen(VAL_COLOR, width=2))
        self.val_curve.setSymbolBrush(pg.mkBrush(VAL_COLOR))
        self.val_curve.setSymbolPen(pg.mkPen(background, width=1.5))
        self.lr_curve.setPen(pg.mkPen(LR_COLOR, width=1))
        for line in self._crosshair:
            line.setPen(pg.mkPen(t.node_subtext, width=1, style=Qt.PenStyle.DashLine))
        self._background = background
        self.readout.setStyleSheet(f"color: {t.node_subtext.name()};")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_chrome()
            if self._overlay_runs:  # their colours are blended into the background
                self._build_overlays()
                self._rebuild_legends()
                self.refresh()
        super().changeEvent(event)

    # ---------------------------------------------------------------- public API
    @property
    def point_count(self) -> int:
        """Training-loss points held for the current run."""
        return len(self._raw.buffer)

    @property
    def timer_interval_ms(self) -> int:
        return self._timer.interval()

    @property
    def task(self) -> str:
        return self._task

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self._metric_names

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def reset(self, task: str, classes=None, steps: tuple[int, int] | None = None) -> None:
        """Forget the current run and prepare the panels for ``task`` ("classification",
        "binary", "regression" or "other"). ``steps`` (first and last global step of the run,
        when known) lets the followed x axis span the whole run from the start. Comparison
        overlays stay."""
        self._task = task
        self.loss_plot.vb.x_extent = (float(steps[0]), float(steps[1])) if steps else None
        self._classes = tuple(classes) if classes else None
        self._metric_names = TASK_METRICS.get(task, ())
        self._timer.stop()
        self._pending = False
        self._ema_last = None
        self._epochs = []
        for curve in self._dense:
            curve.clear()
        self._val.clear()
        self._build_metric_curves()
        self._build_overlays()
        self._rebuild_legends()
        self._hide_crosshair()
        self.auto_range()
        self.refresh()  # the overlays, rebuilt for this task

    def add_steps(self, steps, losses, lrs) -> None:
        """Append training steps (global step, raw loss, learning rate); drawn at the next
        refresh."""
        steps = np.asarray(steps, dtype=np.float64).reshape(-1)
        if not len(steps):
            return
        losses = np.asarray(losses, dtype=np.float64).reshape(-1)
        lrs = np.asarray(lrs, dtype=np.float64).reshape(-1)
        self._raw.buffer.extend(steps, losses)
        smoothed, self._ema_last = ema_state(losses, self._smoothing, self._ema_last)
        self._smooth.buffer.extend(steps, smoothed)
        self._lr.buffer.extend(steps, lrs)
        for curve in self._dense:
            curve.dirty = True
        self._schedule()

    def add_epoch(
        self, global_step: int, epoch: int, train_loss: float, val_loss: float, metrics: dict
    ) -> None:
        """Append a finished epoch (validation loss and the task's metrics, at the step where
        the epoch ended); drawn at the next refresh."""
        x = float(global_step)
        self._epochs.append(int(epoch))
        self._val.buffer.append(x, _number(val_loss))
        self._val.dirty = True
        metrics = metrics or {}
        for name, curve in self._metrics.items():
            curve.buffer.append(x, _number(metrics.get(name)))
            curve.dirty = True
        self._schedule()

    def set_overlays(self, runs: list[tuple[str, dict]]) -> None:
        """Draw other runs dimmed, one colour per run, for comparison; ``[]`` clears them.

        Each dict may hold "steps" and "losses" (per-step training loss; drawn smoothed like the
        current run), "epoch_steps" with "val_loss" and metric arrays by name."""
        self._overlay_runs = [(str(name), dict(data)) for name, data in runs]
        self._build_overlays()
        self._rebuild_legends()
        self.refresh()

    def set_log_scale(self, on: bool) -> None:
        """Logarithmic y axis for the loss plot (the "Log loss" checkbox)."""
        self.log_box.setChecked(bool(on))  # toggled -> _on_log_toggled

    @property
    def log_scale(self) -> bool:
        return self.log_box.isChecked()

    def set_smoothing(self, value: float) -> None:
        """Change the EMA factor (0..0.99): recomputes the smoothed curves once."""
        value = min(max(float(value), 0.0), 0.99)
        if abs(self.smoothing_box.value() - value) > 1e-9:
            self.smoothing_box.setValue(value)  # comes back here through valueChanged
            return
        if value == self._smoothing:
            return
        self._smoothing = value
        steps, losses = self._raw.buffer.view()
        smoothed, self._ema_last = ema_state(losses, value, None)
        self._smooth.set(steps, smoothed)
        self._build_overlays()
        self._rebuild_legends()
        self.refresh()

    def auto_range(self) -> None:
        """Fit every plot to its data again and follow new steps."""
        self.loss_plot.vb.enableAutoRange(x=True, y=True)
        self.lr_plot.vb.enableAutoRange(y=True)
        self.metrics_right.enableAutoRange(y=True)
        self._range_metrics()
        if not self._pushed_full:
            self._mark_dense_dirty()
            self._schedule()

    def refresh(self) -> None:
        """Push pending data to the plot items now."""
        self._pending = False
        self._push_dense()
        for curve in (self._val, *self._metrics.values()):
            if curve.dirty:
                curve.push()

    # ---------------------------------------------------------------- timer
    def _schedule(self) -> None:
        self._pending = True
        if not self._timer.isActive():
            self._timer.start()

    def _tick(self) -> None:
        if not self._pending or not self.isVisible():
            self._timer.stop()  # restarted by new data, or by showEvent
            return
        start = time.perf_counter()
        self.refresh()
        self.graphics.viewport().repaint()  # now, so that the cost below is the whole cycle
        cost_ms = (time.perf_counter() - start) * 1000
        self.cycle_ms = 0.8 * self.cycle_ms + 0.2 * cost_ms if self.cycle_ms else cost_ms
        # The UI thread shares the GIL with a training thread (and painting holds it): keep the
        # share of time spent on the curves within DRAW_BUDGET, at 20 Hz when that is cheap.
        interval = int(min(max(REFRESH_INTERVAL_MS, self.cycle_ms / DRAW_BUDGET), MAX_INTERVAL_MS))
        if interval != self._timer.interval():
            self._timer.setInterval(interval)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending:
            self._timer.start()

    def _mark_dense_dirty(self) -> None:
        for curve in (*self._dense, *self._overlay_dense):
            curve.dirty = True

    def _push_dense(self) -> None:
        x_range = self._visible_x()
        pixels = self._pixels()
        for curve in (*self._dense, *self._overlay_dense):
            if curve.dirty:
                curve.push(x_range, pixels)
        self._pushed_full = x_range is None

    def _visible_x(self) -> tuple[float, float] | None:
        """None while the plots follow the whole run, else the x range in view."""
        vb = self.loss_plot.vb
        if vb.autoRangeEnabled()[0]:
            return None
        low, high = vb.viewRange()[0]
        return float(low), float(high)

    def _pixels(self) -> int:
        width = self.loss_plot.vb.width()
        return int(max(400.0, width if width > 1 else 1000.0))

    def _on_x_range_changed(self, *_args) -> None:
        # following the run: the data pushed is already whole; zoomed or panned: re-decimate
        if self._visible_x() is None and self._pushed_full:
            return
        self._mark_dense_dirty()
        self._push_dense()

    def _on_resized(self, *_args) -> None:
        if len(self._raw.buffer) > 800 or self._overlay_dense:
            self._mark_dense_dirty()
            self._schedule()

    def _sync_right_view(self, *_args) -> None:
        self.metrics_right.setGeometry(self.metrics_plot.vb.geometry())
        self.metrics_right.linkedViewChanged(self.metrics_plot.vb, self.metrics_right.XAxis)

    def _on_log_toggled(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)

    # ---------------------------------------------------------------- metrics panel
    def _build_metric_curves(self) -> None:
        for name, item in self.metric_curves.items():
            self._metric_owner[name].removeItem(item)
        self.metric_curves = {}
        self._metric_owner = {}
        self._metrics = {}
        names = self._metric_names
        self.metrics_plot.setVisible(bool(names))
        grid = self.graphics.ci.layout
        grid.setRowStretchFactor(1, 3 if names else 0)
        if names:
            self.metrics_plot.setMaximumHeight(16777215)
        else:
            self.metrics_plot.setMaximumHeight(0)
        regression = self._task == "regression"
        right = self.metrics_plot.getAxis("right")
        right.setStyle(showValues=regression)
        right.linkToView(self.metrics_right if regression else self.metrics_plot.vb)
        self.metrics_right.setVisible(regression)
        if regression:
            self.metrics_plot.setLabel("left", METRIC_LABELS["mae"])
            self.metrics_plot.setLabel("right", METRIC_LABELS["r2"])
        else:
            right.showLabel(False)
            self.metrics_plot.setLabel("left", "val metrics")
        for name in names:
            color = METRIC_COLORS.get(name, "#64748b")
            item = pg.PlotDataItem(
                name=METRIC_LABELS.get(name, name),
                antialias=True,
                pen=pg.mkPen(color, width=2),
                symbol=METRIC_SYMBOLS.get(name, "o"),
                symbolSize=6,
                symbolBrush=pg.mkBrush(color),
                symbolPen=None,
            )
            owner = self.metrics_right if regression and name == "r2" else self.metrics_plot
            owner.addItem(item)
            self._metric_owner[name] = owner
            self.metric_curves[name] = item
            self._metrics[name] = EpochCurve(item)
        # free corners: rising scores leave the lower right; a falling MAE and a rising R²
        # cross in the middle but leave the right-hand middle
        if regression:
            self.metrics_legend.anchor((1, 0.5), (1, 0.5), (-6, 0))
        else:
            self.metrics_legend.anchor((1, 1), (1, 1), (-6, -6))
        self._range_metrics()

    def _range_metrics(self) -> None:
        vb = self.metrics_plot.vb
        if self._metric_names and set(self._metric_names) <= UNIT_INTERVAL_METRICS:
            vb.enableAutoRange(y=False)
            vb.setYRange(0.0, 1.0, padding=0.08)
        else:
            vb.enableAutoRange(y=True)

    # ---------------------------------------------------------------- overlays
    def _build_overlays(self) -> None:
        for owner, item in self._overlay_items:
            owner.removeItem(item)
        self._overlay_items = []
        self._overlay_dense = []
        self._overlay_samples = []
        for index, (name, data) in enumerate(self._overlay_runs):
            color = _blend(
                OVERLAY_COLORS[index % len(OVERLAY_COLORS)], self._background, OVERLAY_OPACITY
            )
            steps = np.asarray(data.get("steps", ()), dtype=np.float64).reshape(-1)
            losses = np.asarray(data.get("losses", ()), dtype=np.float64).reshape(-1)
            n = min(len(steps), len(losses))
            train = pg.PlotDataItem(name=name, antialias=False, pen=pg.mkPen(color, width=1))
            self._add_overlay(self.loss_plot, train)
            train.setDownsampling(auto=True, method="peak")
            train.setClipToView(True)
            dense = DenseCurve(train)
            if n:
                dense.set(steps[:n], ema(losses[:n], self._smoothing))
            self._overlay_dense.append(dense)
            epoch_steps = np.asarray(data.get("epoch_steps", ()), dtype=np.float64).reshape(-1)
            has_metrics = False
            if len(epoch_steps):
                series = [("train_loss", self.loss_plot), ("val_loss", self.loss_plot)]
                series += [(metric, None) for metric in self._metric_names]
                for key, plot in series:
                    if key not in data:
                        continue
                    values = np.asarray(data[key], dtype=np.float64).reshape(-1)
                    m = min(len(values), len(epoch_steps))
                    x, y = epoch_steps[:m], values[:m]
                    keep = np.isfinite(y)
                    item = pg.PlotDataItem(
                        x=x[keep],
                        y=y[keep],
                        antialias=True,
                        pen=pg.mkPen(
                            color,
                            width=1.5,
                            style=Qt.PenStyle.SolidLine
                            if key == "train_loss"
                            else Qt.PenStyle.DashLine,
                        ),
                        symbol={"val_loss": "o", "train_loss": "t"}.get(
                            key, METRIC_SYMBOLS.get(key, "o")
                        ),
                        symbolSize=5,
                        symbolBrush=pg.mkBrush(color),
                        symbolPen=None,
                    )
                    if plot is None:
                        has_metrics = True
                        owner = (
                            self.metrics_right
                            if self._task == "regression" and key == "r2"
                            else self.metrics_plot
                        )
                    else:
                        owner = plot
                    self._add_overlay(owner, item)
            self._overlay_samples.append((name, train, has_metrics))

    def _add_overlay(self, owner, item: pg.PlotDataItem) -> None:
        owner.addItem(item)
        item.setZValue(-5)
        self._overlay_items.append((owner, item))

    def _rebuild_legends(self) -> None:
        self.loss_legend.clear()
        self.loss_legend.addItem(self.raw_curve, "train loss")
        self.loss_legend.addItem(self.smooth_curve, f"smoothed ({self._smoothing:.2f})")
        self.loss_legend.addItem(self.val_curve, "val loss")
        self.metrics_legend.clear()
        for name, item in self.metric_curves.items():
            self.metrics_legend.addItem(item, METRIC_LABELS.get(name, name))
        for name, sample, has_metrics in self._overlay_samples:
            self.loss_legend.addItem(sample, name)
            if has_metrics:
                self.metrics_legend.addItem(sample, name)

    @property
    def overlay_items(self) -> list[pg.PlotDataItem]:
        return [item for _owner, item in self._overlay_items]

    # ---------------------------------------------------------------- crosshair
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._hide_crosshair()
        return super().eventFilter(watched, event)

    def _hide_crosshair(self) -> None:
        for line in self._crosshair:
            line.hide()
        self.readout.setText(READOUT_HINT)

    def _on_mouse_moved(self, pos: QPointF) -> None:
        for plot in self.plots:
            if plot.isVisible() and plot.vb.sceneBoundingRect().contains(pos):
                step = plot.vb.mapSceneToView(pos).x()
                break
        else:
            self._hide_crosshair()
            return
        self.show_values_at(step)

    def show_values_at(self, step: float) -> str:
        """Move the crosshair to ``step`` and show the values there (the nearest step, and the
        last epoch finished by then); returns the text."""
        for line, plot in zip(self._crosshair, self.plots, strict=True):
            line.setPos(step)
            line.setVisible(plot.isVisible())
        ex, val = self._val.buffer.view()
        x, raw = self._raw.buffer.view()
        parts = [f"step {step:,.0f}"]
        if len(x):
            i = min(int(np.searchsorted(x, step)), len(x) - 1)
            if i > 0 and abs(x[i - 1] - step) <= abs(x[i] - step):
                i -= 1
            step = float(x[i])
            k = int(np.searchsorted(ex, step, "left"))  # the epoch this step belongs to
            epoch = (
                self._epochs[k]
                if k < len(self._epochs)
                else (self._epochs[-1] + 1 if self._epochs else 1)
            )
            parts = [
                f"step {step:,.0f} (epoch {epoch})",
                f"loss {_fmt(raw[i])}",
                f"smoothed {_fmt(self._smooth.buffer.view()[1][i])}",
                f"lr {_fmt(self._lr.buffer.view()[1][i])}",
            ]
        text = "   ".join(parts)
        j = int(np.searchsorted(ex, step, "right")) - 1
        if j >= 0:
            values = [f"val loss {_fmt(val[j])}"]
            for name, curve in self._metrics.items():
                value = float(curve.buffer.view()[1][j])
                shown = (
                    f"{value:.3f}"
                    if name in UNIT_INTERVAL_METRICS and math.isfinite(value)
                    else _fmt(value)
                )
                values.append(f"{READOUT_NAMES.get(name, name)} {shown}")
            text += f"    |    epoch {self._epochs[j]}: " + "   ".join(values)
        self.readout.setText(text)
        self.readout.setToolTip(text)
        return text
