"""The confusion matrix of a classification run, painted as square cells (rows: true class,
columns: predicted class; counts or row-normalised), class names on both axes, a sequential
blue colour scale for the light and dark themes, and a tooltip per cell.

numpy only, never torch.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QSizePolicy,
    QToolTip,
    QWidget,
)

from torchcanvas.gui import theme

CELL_TEXT_MAX_CLASSES = 20  # counts are written in the cells up to this many classes
# Sequential blues (light: matplotlib's "Blues"; dark: the same hue rising from the panel colour).
_LIGHT_STOPS = ("#f7fbff", "#deebf7", "#9ecae1", "#4292c6", "#08519c", "#08306b")
_DARK_STOPS = ("#2a2e36", "#1d3a5f", "#1f5fa6", "#3d8ee6", "#8cc4ff", "#dcedff")
_LUTS: dict[bool, list[QColor]] = {}


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the recall view); all-zero rows stay zero."""
    counts = np.asarray(counts, dtype=np.float64)
    sums = counts.sum(1, keepdims=True)
    return np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)


def _lut(dark: bool) -> list[QColor]:
    if dark not in _LUTS:
        stops = [QColor(c) for c in (_DARK_STOPS if dark else _LIGHT_STOPS)]
        lut = []
        for i in range(256):
            t = i / 255 * (len(stops) - 1)
            j = min(int(t), len(stops) - 2)
            f = t - j
            a, b = stops[j], stops[j + 1]
            lut.append(
                QColor(
                    round(a.red() + (b.red() - a.red()) * f),
                    round(a.green() + (b.green() - a.green()) * f),
                    round(a.blue() + (b.blue() - a.blue()) * f),
                )
            )
        _LUTS[dark] = lut
    return _LUTS[dark]


def _readable_on(color: QColor) -> QColor:
    lum = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    return QColor("#ffffff") if lum < 150 else QColor("#1f2328")


# ---------------------------------------------------------------------------- confusion matrix
class ConfusionMatrixWidget(QWidget):
    """The confusion matrix painted as square cells, class names on both axes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._counts = np.zeros((0, 0), dtype=np.int64)
        self._image = np.zeros((0, 0))
        self._names: list[str] = []
        self._normalise = False
        self._hover: tuple[int, int] | None = None

    # ------------------------------------------------------------------ data
    def set_matrix(self, counts: np.ndarray, names: list[str]) -> None:
        self._counts = np.asarray(counts, dtype=np.int64)
        self._names = list(names)
        self._hover = None
        self._refresh()

    def set_normalise(self, on: bool) -> None:
        self._normalise = bool(on)
        self._refresh()

    def image(self) -> np.ndarray:
        return self._image

    def _refresh(self) -> None:
        self._image = row_normalised(self._counts) if self._normalise else self._counts.copy()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 380)

    def minimumSizeHint(self) -> QSize:
        return QSize(180, 160)

    # ------------------------------------------------------------------ geometry
    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(11)
        return font

    def _layout(self):
        """Cell size, matrix origin, elided names, whether column names are rotated."""
        k = len(self._counts)
        fm = QFontMetrics(self._label_font())
        fh = fm.height()
        max_label = 110
        names = [fm.elidedText(n, Qt.TextElideMode.ElideMiddle, max_label) for n in self._names]
        widths = [fm.horizontalAdvance(n) for n in names] or [0]
        row_w = max(widths) + 8
        margin = 8
        title_w = fh + 6  # "true", rotated, left of the row names
        left = margin + title_w + row_w
        w, h = self.width(), self.height()

        def cell_for(col_h: float) -> float:
            avail_w = w - left - margin
            avail_h = h - margin - col_h - (fh + 6) - margin  # column names, "predicted"
            return max(2.0, min(avail_w, avail_h) / max(k, 1))

        cell = cell_for(fh + 6)
        step = max(1, math.ceil((fh + 2) / cell))  # label every step-th class when crowded
        rotated = max(widths) + 6 > cell * step
        col_h = fh + 6
        if rotated:
            col_h = (max(widths) + fh) * 0.7072 + 8
            cell = cell_for(col_h)
            step = max(1, math.ceil((fh + 2) / cell))
            # the first column's name runs left, under the row names: leave it room
            left = max(left, margin + (widths[0] + 4) * 0.7072 - cell / 2)
            cell = min(cell, max(2.0, (w - left - margin) / max(k, 1)))
        side = cell * k
        x0 = left + max(0.0, (w - left - margin - side) / 2)
        y0 = margin
        return cell, x0, y0, names, rotated, col_h, step, row_w

    def _cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        k = len(self._counts)
        if not k:
            return None
        cell, x0, y0, *_ = self._layout()
        col = math.floor((pos.x() - x0) / cell)
        row = math.floor((pos.y() - y0) / cell)
        if 0 <= row < k and 0 <= col < k:
            return row, col
        return None

    # ------------------------------------------------------------------ painting
    def _cell_text(self, value) -> str:
        if not self._normalise:
            return str(int(value))
        if value == 0:
            return "0"
        if value < 0.005:
            return "<1%"
        return f"{value * 100:.0f}%"

    def paintEvent(self, event) -> None:
        k = len(self._counts)
        if not k:
            return
        painter = QPainter(self)
        try:
            self._paint(painter, k)
        finally:
            painter.end()

    def _paint(self, painter: QPainter, k: int) -> None:
        pal = self.palette()
        text_color = pal.color(pal.ColorRole.WindowText)
        muted = QColor(text_color)
        muted.setAlpha(150)
        cell, x0, y0, names, rotated, col_h, step, row_w = self._layout()
        side = cell * k
        lut = _lut(theme.is_dark())
        image = self._image.astype(np.float64)
        top = float(image.max()) if image.size else 0.0
        scale = 1.0 if self._normalise else (1.0 / top if top > 0 else 0.0)

        # cells
        for i in range(k):
            for j in range(k):
                v = image[i, j]
                t = 0.0 if v <= 0 else max(0.1, min(1.0, v * scale))
                painter.fillRect(
                    QRectF(x0 + j * cell, y0 + i * cell, cell, cell), lut[round(t * 255)]
                )
        if cell >= 6:  # thin gaps between cells, in the panel colour
            painter.setPen(QPen(pal.color(pal.ColorRole.Window), 1))
            for i in range(1, k):
                painter.drawLine(QPointF(x0, y0 + i * cell), QPointF(x0 + side, y0 + i * cell))
                painter.drawLine(QPointF(x0 + i * cell, y0), QPointF(x0 + i * cell, y0 + side))
        painter.setPen(QPen(pal.color(pal.ColorRole.Mid), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(x0, y0, side, side))

        # numbers in the cells
        if k <= CELL_TEXT_MAX_CLASSES:
            texts = [[self._cell_text(image[i, j]) for j in range(k)] for i in range(k)]
            widest = max(texts, key=lambda row: max(len(t) for t in row))
            font = QFont(self.font())
            size = max(7, min(14, int(cell * 0.36)))
            while size >= 7:
                font.setPixelSize(size)
                fm = QFontMetrics(font)
                if max(fm.horizontalAdvance(t) for t in widest) <= cell - 3 and fm.height() <= cell:
                    break
                size -= 1
            if size >= 7:
                painter.setFont(font)
                for i in range(k):
                    for j in range(k):
                        v = image[i, j]
                        t = 0.0 if v <= 0 else max(0.1, min(1.0, v * scale))
                        color = _readable_on(lut[round(t * 255)])
                        if v <= 0:
                            color.setAlpha(110)
                        if i == j and v > 0:
                            font.setBold(True)
                        painter.setFont(font)
                        font.setBold(False)
                        painter.setPen(color)
                        painter.drawText(
                            QRectF(x0 + j * cell, y0 + i * cell, cell, cell),
                            Qt.AlignmentFlag.AlignCenter,
                            texts[i][j],
                        )

        # hovered cell
        if self._hover is not None:
            i, j = self._hover
            painter.setPen(QPen(QColor("#f59e0b"), 2))
            painter.drawRect(QRectF(x0 + j * cell + 1, y0 + i * cell + 1, cell - 2, cell - 2))

        # class names
        label_font = self._label_font()
        painter.setFont(label_font)
        fm = QFontMetrics(label_font)
        fh = fm.height()
        painter.setPen(text_color)
        for i in range(0, k, step):
            painter.drawText(
                QRectF(x0 - 200 - 6, y0 + i * cell + cell / 2 - fh / 2, 200, fh),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                names[i],
            )
        base_y = y0 + side + 4
        for j in range(0, k, step):
            cx = x0 + j * cell + cell / 2
            if rotated:
                painter.save()
                painter.translate(cx + fh * 0.35, base_y + fh * 0.35)
                painter.rotate(-45)
                tw = fm.horizontalAdvance(names[j])
                painter.drawText(
                    QRectF(-tw - 2, -fh / 2, tw + 2, fh),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    names[j],
                )
                painter.restore()
            else:
                painter.drawText(
                    QRectF(cx - 100, base_y, 200, fh),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    names[j],
                )

        # axis titles
        title_font = QFont(label_font)
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(muted)
        painter.drawText(
            QRectF(x0, base_y + col_h - 4, side, fh + 4),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            "predicted",
        )
        painter.save()
        painter.translate(x0 - row_w - 4 - fh / 2, y0 + side / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-side / 2, -fh / 2, side, fh), Qt.AlignmentFlag.AlignCenter, "true")
        painter.restore()

    # ------------------------------------------------------------------ interaction
    def _describe(self, row: int, col: int) -> str:
        count = int(self._counts[row, col])
        total = int(self._counts[row].sum())
        share = f" ({count / total:.1%} of true {self._names[row]})" if total else ""
        return f"true: {self._names[row]}\npredicted: {self._names[col]}\ncount: {count}{share}"

    def mouseMoveEvent(self, event) -> None:
        hit = self._cell_at(event.position())
        if hit != self._hover:
            self._hover = hit
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        if self._hover is not None:
            self._hover = None
            self.update()
        super().leaveEvent(event)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            hit = self._cell_at(QPointF(event.pos()))
            if hit is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), self._describe(*hit), self)
            return True
        return super().event(event)
