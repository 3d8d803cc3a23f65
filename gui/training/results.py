"""The results view: what the model gets right and wrong after each validation pass.

Classification (and binary) runs show the confusion matrix (rows: true class, columns: predicted
class; counts or row-normalised), a sortable per-class table and the headline metrics; regression
runs show predicted against true values with the y = x line. When the trainer passes a few
validation images, a grid shows them with their predicted and true labels, wrong ones in red.
The matrix is drawn by ``confusion.py``, the image grid by ``samples.py``; this module lays
them out with the per-class table, the headline cards and the regression plot.

Arrays come from the trainer as CPU tensors or numpy arrays; this module needs numpy only and
never imports torch (tensors convert through ``__array__``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt, QThread, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.gui import theme
from torchcanvas.gui.training.confusion import ConfusionMatrixWidget
from torchcanvas.gui.training.samples import ImageResult, SampleGrid, image_to_qimage

MAX_TILES = 16
MAX_SCATTER_POINTS = 50_000  # beyond this a fixed random subset is drawn (setData ~0.1 s)
EMPTY_HINT = "Train to see results"
EMPTY_DETAIL = (
    "The confusion matrix, per-class scores, predicted-vs-true plots and sample "
    "predictions appear here after each validation pass."
)


# ---------------------------------------------------------------------------- data helpers
def to_numpy(value) -> np.ndarray | None:
    """A numpy array from a tensor (any device, any dtype), an array or a nested list."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach()
        if getattr(value, "device", None) is not None and str(value.device) != "cpu":
            value = value.cpu()
        try:
            return np.asarray(value)
        except (TypeError, RuntimeError):  # bfloat16 and other dtypes numpy lacks
            return np.asarray(value.float())
    return np.asarray(value)


def class_names(task: str, classes: Sequence[str] | None, k: int) -> list[str]:
    """``k`` display names: ``classes`` where given, else the class indices."""
    if task == "binary" and not classes:
        classes = ["0", "1"]
    names = [str(c) for c in (classes or [])][:k]
    return names + [str(i) for i in range(len(names), k)]


def predicted_labels(task: str, prediction: np.ndarray) -> np.ndarray:
    """Class labels from logits/probabilities [N, C, ...] or labels [N, ...] (flattened)."""
    p = np.asarray(prediction)
    if task == "classification":
        if p.ndim >= 2 and p.shape[1] > 1:
            return np.moveaxis(p, 1, -1).reshape(-1, p.shape[1]).argmax(1)
        return p.reshape(-1).astype(np.int64)
    p = p.reshape(-1)
    if p.dtype.kind == "f":  # binary outputs: probabilities in [0, 1], else logits
        finite = p[np.isfinite(p)]
        threshold = 0.5 if finite.size and finite.min() >= 0 and finite.max() <= 1 else 0.0
        return (p > threshold).astype(np.int64)
    return p.astype(np.int64)


def confusion_matrix(task: str, prediction, target, k: int | None = None) -> np.ndarray:
    """Counts [k, k], rows true, columns predicted; targets outside 0..k-1 are ignored."""
    predicted = predicted_labels(task, to_numpy(prediction))
    true = to_numpy(target).reshape(-1).astype(np.int64)
    if k is None:
        k = 2 if task == "binary" else int(max(predicted.max(initial=-1), true.max(initial=-1)) + 1)
        p = to_numpy(prediction)
        if task == "classification" and p.ndim >= 2 and p.shape[1] > 1:
            k = max(k, p.shape[1])
    if predicted.size != true.size or k <= 0:
        return np.zeros((max(k, 0), max(k, 0)), dtype=np.int64)
    valid = (true >= 0) & (true < k)
    flat = true[valid] * k + np.clip(predicted[valid], 0, k - 1)
    return np.bincount(flat, minlength=k * k).reshape(k, k)


def _per_class_from_matrix(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    predicted, true = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    return precision, recall


def _number(value) -> float | None:
    """A metric as a float: Python, numpy or 0-d tensor numbers; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value) if np.ndim(to_numpy(value)) == 0 else None
    except (TypeError, ValueError):
        return None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def fmt_quantity(value: float | None) -> str:
    """A regression error or value for people: 0.2531, 36,310, 1.2e-05."""
    if value is None or not math.isfinite(value):
        return "–"
    a = abs(value)
    if a >= 1e4:
        return f"{value:,.0f}" if a < 1e12 else f"{value:.3e}"
    if a and a < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4g}"


def _fmt_value(value) -> str:
    """A regression value (scalar or small vector) for a caption."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size == 1:
        return f"{v[0]:.3g}"
    shown = ", ".join(f"{x:.3g}" for x in v[:2])
    return f"[{shown}{', …' if v.size > 2 else ''}]"


# ---------------------------------------------------------------------------- per-class table
class _SortItem(QTableWidgetItem):
    """A cell that sorts by its UserRole value (numbers as numbers, classes by index)."""

    def __lt__(self, other) -> bool:
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if a is None or b is None:
            return super().__lt__(other)
        return a < b


class PerClassTable(QTableWidget):
    COLUMNS = ("Class", "Precision", "Recall", "F1", "Support")

    def __init__(self, parent=None):
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # class_…_name_7 stays distinct
        header = self.horizontalHeader()
        # the numbers fit their contents, the class column gets the rest (_fit_class_column)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setDefaultSectionSize(72)  # before stretching: the last column's floor
        header.setStretchLastSection(True)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)

    def set_rows(self, rows: list[tuple[str, float, float, int]]) -> None:
        section = self.horizontalHeader().sortIndicatorSection()
        order = self.horizontalHeader().sortIndicatorOrder()
        self.setSortingEnabled(False)
        self.setRowCount(len(rows))
        weak = theme.current().error
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, (name, precision, recall, support) in enumerate(rows):
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            item = _SortItem(name)
            item.setData(Qt.ItemDataRole.UserRole, r)
            item.setToolTip(name)
            self.setItem(r, 0, item)
            for c, value in enumerate((precision, recall, f1), start=1):
                cell = _SortItem(f"{value:.3f}")
                cell.setData(Qt.ItemDataRole.UserRole, float(value))
                cell.setTextAlignment(align)
                if support and value < 0.5:
                    cell.setForeground(weak)
                self.setItem(r, c, cell)
            cell = _SortItem(f"{support:,}")
            cell.setData(Qt.ItemDataRole.UserRole, int(support))
            cell.setTextAlignment(align)
            self.setItem(r, 4, cell)
        self.setSortingEnabled(True)
        self.sortByColumn(section, order)
        self._fit_class_column()

    def _fit_class_column(self) -> None:
        """The class column takes the room the numbers leave (at least 60 px, names elided in
        the middle); a Stretch section would stay wide when the panel narrows."""
        header = self.horizontalHeader()
        last = len(self.COLUMNS) - 1
        numbers = sum(
            max(self.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(1, last)
        )
        numbers += max(
            self.sizeHintForColumn(last), header.sectionSizeHint(last), header.defaultSectionSize()
        )  # the stretched last column's floor
        room = self.viewport().width() - numbers
        self.setColumnWidth(0, max(60, room))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_class_column()


# ---------------------------------------------------------------------------- headline
class _MetricCard(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(0)
        self.caption = QLabel()
        self.value = QLabel()
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setBold(True)
        self.value.setFont(font)
        small = QFont(self.caption.font())
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.caption.setFont(small)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)

    def set_muted(self, color: QColor) -> None:
        pal = self.caption.palette()
        pal.setColor(pal.ColorRole.WindowText, color)
        self.caption.setPalette(pal)

    def set(self, caption: str, value: str, tip: str = "") -> None:
        self.caption.setText(caption)
        self.value.setText(value)
        self.setToolTip(tip)


# ---------------------------------------------------------------------------- the view
class ResultsView(QWidget):
    """Validation results of the latest epoch; ``show_epoch`` after each validation pass."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._mode = "empty"
        self._counts = np.zeros((0, 0), dtype=np.int64)
        self._rows: list[tuple[str, float, float, int]] = []
        self._scatter = (np.zeros(0), np.zeros(0))
        self._side_key: tuple[int, bool] | None = None
        self._point_alpha = 110

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)

        # which run the results are of, when not the run training now
        self._source = QLabel()
        self._source.setWordWrap(True)
        self._source.hide()
        outer.addWidget(self._source)

        # headline metrics, sample count, normalise
        self._header = QWidget()
        header = QHBoxLayout(self._header)
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(6)
        self._cards = [_MetricCard() for _ in range(4)]
        for card in self._cards:
            header.addWidget(card)
        header.addStretch(1)
        self._info = QLabel()
        self._info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header.addWidget(self._info)
        self.normalise = QCheckBox("normalise")
        self.normalise.setToolTip(
            "Divide each row by its number of samples: the diagonal is then each class's recall"
        )
        self.normalise.toggled.connect(self._normalise_toggled)
        header.addWidget(self.normalise)
        outer.addWidget(self._header)

        self._pages = QStackedWidget()
        outer.addWidget(self._pages, 1)

        # empty page
        empty = QWidget()
        el = QVBoxLayout(empty)
        el.addStretch(1)
        self._hint = QLabel(EMPTY_HINT)
        hint_font = QFont(self._hint.font())
        hint_font.setPointSizeF(hint_font.pointSizeF() * 1.5)
        self._hint.setFont(hint_font)
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._detail = QLabel(EMPTY_DETAIL)
        self._detail.setWordWrap(True)
        self._detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        el.setContentsMargins(40, 0, 40, 0)
        el.addWidget(self._hint)
        el.addWidget(self._detail)
        el.addStretch(1)
        self._pages.addWidget(empty)

        # results page: [matrix | scatter] beside [per-class table / samples]
        self._split = QSplitter(Qt.Orientation.Horizontal)
        self._split.setChildrenCollapsible(False)
        self._main = QStackedWidget()
        self.matrix = ConfusionMatrixWidget()
        self._main.addWidget(self.matrix)
        self.plot = None  # the regression plot: built with the first regression result
        self._split.addWidget(self._main)

        self._side = QSplitter(Qt.Orientation.Vertical)
        self._side.setChildrenCollapsible(False)
        self.table = PerClassTable()
        self._side.addWidget(self.table)
        self._samples_box = QWidget()
        sl = QVBoxLayout(self._samples_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(2)
        self._samples_title = QLabel("Validation samples")
        bold = QFont(self._samples_title.font())
        bold.setBold(True)
        self._samples_title.setFont(bold)
        sl.addWidget(self._samples_title)
        self.samples = SampleGrid()
        sl.addWidget(self.samples, 1)
        self._side.addWidget(self._samples_box)
        self._split.addWidget(self._side)
        self._split.setStretchFactor(0, 3)
        self._split.setStretchFactor(1, 2)
        self._split.setSizes([580, 420])  # proportions until the user drags the handle
        self.table.setMinimumWidth(220)
        self._pages.addWidget(self._split)

        # image page: the picture a style transfer paints, as it changes
        self.image_view = ImageResult()
        self._pages.addWidget(self.image_view)

        self._apply_theme()
        self.clear()

    # ------------------------------------------------------------------ public API
    def mode(self) -> str:
        return self._mode

    def confusion_image(self) -> np.ndarray:
        """The matrix shown: counts, or fractions of each row when "normalise" is checked."""
        return self.matrix.image()

    def per_class_rows(self) -> list[tuple[str, float, float, int]]:
        """(class name, precision, recall, support) in class order."""
        return list(self._rows)

    def _regression_plot(self):
        """The predicted-vs-true plot, built on first use: pyqtgraph loads only when a
        regression result is shown, not while the window opens."""
        if self.plot is None:
            import pyqtgraph as pg

            self.plot = pg.PlotWidget()
            self.plot.setMinimumSize(200, 160)
            item = self.plot.getPlotItem()
            item.setLabel("bottom", "true")
            item.setLabel("left", "predicted")
            item.showGrid(x=True, y=True, alpha=0.25)
            item.setMenuEnabled(False)
            self._points = pg.ScatterPlotItem(
                pxMode=True, size=4, pen=None, symbol="o", antialias=False
            )
            self._reference = pg.PlotDataItem([], [])
            self._reference.setZValue(10)  # over the cloud of points
            item.addItem(self._points)
            item.addItem(self._reference)
            self._main.addWidget(self.plot)
            self._apply_theme()
        return self.plot

    def scatter_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(true, predicted) as plotted."""
        return self._scatter

    def image_tiles(self) -> int:
        return self.samples.count()

    def tile_captions(self) -> list[str]:
        return self.samples.captions()

    def wrong_tiles(self) -> list[bool]:
        return self.samples.wrong()

    def headline(self) -> dict[str, str]:
        return {c.caption.text(): c.value.text() for c in self._cards if not c.isHidden()}

    def hint(self) -> str:
        return self._hint.text()

    def source(self) -> str:
        """Which run the results shown are of ("" for the run training now)."""
        return self._source.text() if not self._source.isHidden() else ""

    def set_source(self, text: str) -> None:
        self._source.setText(text)
        self._source.setVisible(bool(text))

    def clear(self) -> None:
        self._show_empty(EMPTY_HINT, EMPTY_DETAIL)

    def show_epoch(
        self,
        task: str,
        classes: list[str] | None,
        metrics: dict,
        predictions=None,
        samples=None,
        image=None,
        caption: str = "",
    ) -> None:
        """Show one validation pass. ``predictions``: (prediction, target) for the whole
        validation set; ``samples``: (inputs, predicted, targets) for a few of its inputs.
        ``image``: the picture a run optimises (uint8 [H, W, 3]), shown instead."""
        metrics = dict(metrics or {})
        if image is not None:
            self._show_image(image, caption)
            return
        if task in ("classification", "binary"):
            names = self._show_classification(task, classes, metrics, predictions)
        elif task == "regression":
            names = self._show_regression(metrics, predictions)
        else:
            self._show_empty(
                "No result view for this task",
                f"Task {task!r} has no confusion matrix or scatter plot; the "
                "loss curves show how it trains.",
            )
            return
        if names is None:
            return
        self._show_samples(task, names, samples)

    # ------------------------------------------------------------------ modes
    def _show_image(self, image, caption: str) -> None:
        self._show_empty(EMPTY_HINT, EMPTY_DETAIL)  # forget any earlier run's results
        pixels = to_numpy(image)
        h, w = pixels.shape[:2]
        self.image_view.set_image(pixels, caption or f"{w}×{h} pixels")
        self._mode = "image"
        self._pages.setCurrentWidget(self.image_view)

    def _show_empty(self, hint: str, detail: str) -> None:
        self._mode = "empty"
        self._counts = np.zeros((0, 0), dtype=np.int64)
        self._rows = []
        self._scatter = (np.zeros(0), np.zeros(0))
        self.matrix.set_matrix(self._counts, [])
        self.table.set_rows([])
        if self.plot is not None:
            self._points.clear()
            self._reference.setData([], [])
        self.samples.set_samples([], [], [])
        self._hint.setText(hint)
        self._detail.setText(detail)
        self._header.hide()
        self._pages.setCurrentIndex(0)

    def _set_cards(self, items: list[tuple[str, str, str]]) -> None:
        for card, entry in zip(self._cards, items + [None] * len(self._cards), strict=False):
            card.setVisible(entry is not None)
            if entry is not None:
                card.set(*entry)

    def _show_classification(
        self, task: str, classes, metrics: dict, predictions
    ) -> list[str] | None:
        cm = metrics.get("confusion_matrix")
        cm = to_numpy(cm) if cm is not None else None
        if cm is None or cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not cm.size:
            cm = None
            if predictions is not None:
                pred, target = (to_numpy(a) for a in predictions)
                if target is not None and target.size:
                    k = len(classes) if classes else None
                    cm = confusion_matrix(task, pred, target, k)
        if cm is None or not cm.size:
            self._show_empty(
                "No validation results",
                "The validation set is empty, so there is nothing to score yet.",
            )
            return None
        cm = np.rint(cm).astype(np.int64)
        k = len(cm)
        names = class_names(task, classes, k)
        precision, recall = _per_class_from_matrix(cm)
        given_p, given_r = metrics.get("per_class_precision"), metrics.get("per_class_recall")
        if given_p is not None and len(given_p) == k:
            precision = np.asarray(given_p, dtype=np.float64)
        if given_r is not None and len(given_r) == k:
            recall = np.asarray(given_r, dtype=np.float64)
        support = cm.sum(1)
        self._counts = cm
        self._rows = [
            (names[i], float(precision[i]), float(recall[i]), int(support[i])) for i in range(k)
        ]

        n = int(cm.sum())
        present = support > 0
        f1 = np.divide(
            2 * precision * recall,
            precision + recall,
            out=np.zeros_like(precision),
            where=(precision + recall) > 0,
        )

        def headline(key: str, fallback: float) -> float:
            value = _number(metrics.get(key))
            return fallback if value is None else value

        macro = (lambda a: float(a[present].mean())) if present.any() else (lambda a: 0.0)
        accuracy = headline("accuracy", float(np.trace(cm) / n) if n else 0.0)
        self._set_cards(
            [
                (
                    "Accuracy",
                    f"{accuracy:.1%}" if math.isfinite(accuracy) else "–",
                    f"{int(np.trace(cm)):,} of {n:,} validation samples right",
                ),
                (
                    "Precision",
                    _fmt(headline("precision", macro(precision))),
                    "macro average over the classes present",
                ),
                (
                    "Recall",
                    _fmt(headline("recall", macro(recall))),
                    "macro average over the classes present",
                ),
                ("F1", _fmt(headline("f1", macro(f1))), "macro average over the classes present"),
            ]
        )
        self._info.setText(f"{n:,} validation samples · {k} classes")
        self.normalise.show()
        self.matrix.set_matrix(cm, names)
        self.matrix.set_normalise(self.normalise.isChecked())
        self.table.set_rows(self._rows)
        self.table.show()
        self._scatter = (np.zeros(0), np.zeros(0))
        if self.plot is not None:
            self._points.clear()
            self._reference.setData([], [])
        self._main.setCurrentWidget(self.matrix)
        self._mode = "classification"
        self._header.show()
        self._pages.setCurrentIndex(1)
        return names

    def _show_regression(self, metrics: dict, predictions) -> list[str] | None:
        true = pred = np.zeros(0)
        if predictions is not None:
            p, t = (to_numpy(a) for a in predictions)
            if p is not None and t is not None and p.size == t.size:
                true = t.reshape(-1).astype(np.float64)
                pred = p.reshape(-1).astype(np.float64)
                finite = np.isfinite(true) & np.isfinite(pred)
                if not finite.all():
                    true, pred = true[finite], pred[finite]
        if not true.size and not metrics:
            self._show_empty(
                "No validation results",
                "The validation set is empty, so there is nothing to score yet.",
            )
            return None

        def metric(key: str, fallback) -> float:
            value = _number(metrics.get(key))
            return fallback() if value is None else value

        err = pred - true
        mae = metric("mae", lambda: float(np.abs(err).mean()) if err.size else math.nan)
        mse = metric("mse", lambda: float((err**2).mean()) if err.size else math.nan)
        var = float(true.var()) if true.size else 0.0
        r2 = metric("r2", lambda: 1 - mse / var if var > 0 else 0.0)
        n = len(true)
        self._set_cards(
            [
                ("MAE", fmt_quantity(mae), "mean absolute error"),
                (
                    "RMSE",
                    fmt_quantity(math.sqrt(mse)) if math.isfinite(mse) and mse >= 0 else "–",
                    "root mean squared error",
                ),
                ("R²", _fmt(r2), "coefficient of determination: 1 is perfect, 0 is the mean"),
            ]
        )
        self._info.setText(f"{n:,} validation values")
        self.normalise.hide()
        self._counts = np.zeros((0, 0), dtype=np.int64)
        self._rows = []
        self.matrix.set_matrix(self._counts, [])
        self.table.set_rows([])
        self.table.hide()

        shown_true, shown_pred = true, pred
        if n > MAX_SCATTER_POINTS:
            pick = np.random.default_rng(0).choice(n, MAX_SCATTER_POINTS, replace=False)
            pick.sort()
            shown_true, shown_pred = true[pick], pred[pick]
        self._scatter = (shown_true, shown_pred)
        # few points: larger and more opaque; many: small and see-through (one brush for all)
        size, alpha = (
            (7, 200)
            if len(shown_true) < 1_000
            else (5, 150)
            if len(shown_true) < 10_000
            else (4, 110)
        )
        self._point_alpha = alpha
        self._regression_plot()
        import pyqtgraph as pg

        self._points.setData(
            x=shown_true, y=shown_pred, size=size, brush=pg.mkBrush(self._point_color(alpha))
        )
        if n:
            lo = float(min(true.min(), pred.min()))
            hi = float(max(true.max(), pred.max()))
            if hi - lo < 1e-12:
                lo, hi = lo - 1.0, hi + 1.0
            self._reference.setData([lo, hi], [lo, hi])
            pad = (hi - lo) * 0.04
            self.plot.getPlotItem().setRange(
                xRange=(lo - pad, hi + pad), yRange=(lo - pad, hi + pad), padding=0
            )
        else:
            self._reference.setData([], [])
        finite = math.isfinite(mae) and math.isfinite(r2)
        title = f"MAE {fmt_quantity(mae)} · R² {r2:.3f}" if finite else "predicted vs true"
        self.plot.getPlotItem().setTitle(title)
        self._main.setCurrentWidget(self.plot)
        self._mode = "regression"
        self._header.show()
        self._pages.setCurrentIndex(1)
        return []

    def _show_samples(self, task: str, names: list[str], samples) -> None:
        images, captions, wrong = [], [], []
        if samples is not None and len(samples) == 3:
            inputs, predicted, targets = (to_numpy(a) for a in samples)
            if (
                inputs is not None
                and inputs.ndim == 4
                and inputs.shape[1] in (1, 3)
                and predicted is not None
                and targets is not None
            ):
                n = min(MAX_TILES, len(inputs), len(predicted), len(targets))
                images = [image_to_qimage(inputs[i]) for i in range(n)]
                if task == "regression":
                    captions = [
                        (_fmt_value(predicted[i]), _fmt_value(targets[i])) for i in range(n)
                    ]
                    wrong = [False] * n
                else:
                    pred_labels = self._sample_labels(task, predicted[:n])
                    true_labels = targets[:n].reshape(-1)
                    if pred_labels.size != n or true_labels.size != n:  # per-pixel labels
                        images = []
                        n = 0
                    for p, t in zip(pred_labels[:n], true_labels[:n].astype(np.int64), strict=True):
                        captions.append((self._name(names, int(p)), self._name(names, int(t))))
                        wrong.append(int(p) != int(t))
        self.samples.set_samples(images, captions, wrong)
        self._samples_box.setVisible(bool(images))
        self._side.setVisible(not self.table.isHidden() or bool(images))
        key = (self.table.rowCount(), bool(images))
        if key != self._side_key and images and not self.table.isHidden():
            # the table as tall as its rows (at most 40 %), the images get the rest
            total = max(self._side.height(), 300)
            rows_h = (
                self.table.horizontalHeader().sizeHint().height()
                + 4
                + self.table.rowCount() * self.table.verticalHeader().defaultSectionSize()
            )
            table_h = max(90, min(rows_h, int(total * 0.4)))
            self._side.setSizes([table_h, total - table_h])
        self._side_key = key  # a new run re-divides; within a run the user's split stays

    @staticmethod
    def _sample_labels(task: str, predicted: np.ndarray) -> np.ndarray:
        """Labels [N] from labels [N] / [N, 1] or scores [N, C]; anything else comes back with
        more than N entries (the caller then shows no grid)."""
        if predicted.ndim == 2 and predicted.shape[1] == 1:
            predicted = predicted[:, 0]
        return predicted_labels(task, predicted)

    @staticmethod
    def _name(names: list[str], label: int) -> str:
        return names[label] if 0 <= label < len(names) else str(label)

    # ------------------------------------------------------------------ theme
    def _normalise_toggled(self, on: bool) -> None:
        self.matrix.set_normalise(on)

    @staticmethod
    def _point_color(alpha: int) -> QColor:
        color = QColor("#60a5fa" if theme.is_dark() else "#2563eb")
        color.setAlpha(alpha)
        return color

    def _apply_theme(self) -> None:
        dark = theme.is_dark()
        if self.plot is not None:
            import pyqtgraph as pg

            pal = self.palette()
            self.plot.setBackground(pal.color(pal.ColorRole.Base))
            fg = pal.color(pal.ColorRole.Text)
            item = self.plot.getPlotItem()
            for name in ("left", "bottom"):
                axis = item.getAxis(name)
                axis.setPen(pg.mkPen(pal.color(pal.ColorRole.Mid)))
                axis.setTextPen(pg.mkPen(fg))
            item.titleLabel.setAttr("color", fg.name())
            self._points.setBrush(pg.mkBrush(self._point_color(self._point_alpha)))
            self._reference.setPen(
                pg.mkPen(
                    QColor("#f59e0b" if dark else "#d97706"), width=2, style=Qt.PenStyle.DashLine
                )
            )
        muted = theme.current().node_subtext
        for card in self._cards:
            card.set_muted(muted)
        detail = self._detail.palette()
        detail.setColor(detail.ColorRole.WindowText, muted)
        self._detail.setPalette(detail)
        self.matrix.update()
        self.samples.update()

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ThemeChange) and hasattr(
            self, "image_view"
        ):
            self._apply_theme()
        super().changeEvent(event)


class RunResultsJob(QThread):
    """Computes a finished run's results (runtime.run_results) in the background; hands back
    plain tensors, never touches widgets."""

    succeeded = Signal(object, str, object)  # folder, name, RunResults
    failed = Signal(object, str, str)  # folder, name, message

    def __init__(self, folder: Path, name: str, parent=None):
        super().__init__(parent)
        self.setObjectName("run results")
        self.folder, self.name = Path(folder), name

    def run(self) -> None:
        from torchcanvas.runtime.run_results import run_results

        try:
            results = run_results(self.folder)
        except Exception as exc:  # a user's data or code node can raise anything
            self.failed.emit(self.folder, self.name, str(exc) or type(exc).__name__)
        else:
            self.succeeded.emit(self.folder, self.name, results)
