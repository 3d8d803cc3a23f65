"""Small icons drawn with QPainter: one per palette category, and a coloured dot per node type.

No image files: every icon is painted at a few sizes (crisp on high-DPI screens) and cached.
Needs a ``QGuiApplication`` to exist before the first call.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

from torchcanvas.gui import theme

_SIZES = (16, 24, 32, 48)
_cache: dict[tuple, QIcon] = {}


def _glyph(p: QPainter, category: str) -> None:
    """Draw the category's pictogram in a 16×16 box (the painter is already scaled)."""
    pen = QPen(
        QColor("white"),
        1.5,
        Qt.PenStyle.SolidLine,
        Qt.PenCapStyle.RoundCap,
        Qt.PenJoinStyle.RoundJoin,
    )
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if category == "Data":  # a database cylinder
        p.drawEllipse(QRectF(4.5, 3.5, 7, 2.6))
        p.drawLine(QPointF(4.5, 4.8), QPointF(4.5, 11.2))
        p.drawLine(QPointF(11.5, 4.8), QPointF(11.5, 11.2))
        path = QPainterPath(QPointF(4.5, 11.2))
        path.cubicTo(QPointF(4.5, 13.0), QPointF(11.5, 13.0), QPointF(11.5, 11.2))
        p.drawPath(path)
        path = QPainterPath(QPointF(4.5, 8.0))
        path.cubicTo(QPointF(4.5, 9.8), QPointF(11.5, 9.8), QPointF(11.5, 8.0))
        p.drawPath(path)
    elif category == "Layers":  # stacked sheets
        for y in (4.0, 7.5, 11.0):
            p.drawLine(QPointF(4.0, y), QPointF(12.0, y))
    elif category == "Activations":  # a ReLU kink
        path = QPainterPath(QPointF(3.5, 11.0))
        path.lineTo(QPointF(8.0, 11.0))
        path.lineTo(QPointF(12.5, 4.5))
        p.drawPath(path)
    elif category == "Ops":  # plus and times
        p.drawLine(QPointF(8.0, 4.0), QPointF(8.0, 12.0))
        p.drawLine(QPointF(4.0, 8.0), QPointF(12.0, 8.0))
    elif category == "Losses":  # a valley with its minimum
        path = QPainterPath(QPointF(3.5, 4.5))
        path.cubicTo(QPointF(5.5, 13.0), QPointF(10.5, 13.0), QPointF(12.5, 4.5))
        p.drawPath(path)
        p.setBrush(QColor("white"))
        p.drawEllipse(QPointF(8.0, 10.4), 0.9, 0.9)
    elif category == "Optimizers":  # a step downhill
        p.drawLine(QPointF(4.5, 4.5), QPointF(11.5, 11.5))
        path = QPainterPath(QPointF(7.5, 11.5))
        path.lineTo(QPointF(11.5, 11.5))
        path.lineTo(QPointF(11.5, 7.5))
        p.drawPath(path)
    elif category == "Schedulers":  # a clock
        p.drawEllipse(QPointF(8.0, 8.0), 4.5, 4.5)
        path = QPainterPath(QPointF(8.0, 5.2))
        path.lineTo(QPointF(8.0, 8.0))
        path.lineTo(QPointF(10.2, 9.2))
        p.drawPath(path)
    else:  # anything else: a small square
        p.drawRect(QRectF(5.0, 5.0, 6.0, 6.0))


def _paint(size: int, draw) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 16.0, size / 16.0)
    draw(p)
    p.end()
    return pm


def category_icon(category: str) -> QIcon:
    """A rounded square in the category colour with a white pictogram."""
    key = ("cat", category)
    icon = _cache.get(key)
    if icon is None:
        color = theme.category_color(category)

        def draw(p: QPainter) -> None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color)
            p.drawRoundedRect(QRectF(0.5, 0.5, 15, 15), 3.5, 3.5)
            _glyph(p, category)

        icon = QIcon()
        for size in _SIZES:
            icon.addPixmap(_paint(size, draw))
        _cache[key] = icon
    return icon


def dot_icon(color: QColor | str, radius: float = 3.5) -> QIcon:
    """A filled circle centred in a 16×16 box: the marker for one node type."""
    color = QColor(color)
    key = ("dot", color.name(), radius)
    icon = _cache.get(key)
    if icon is None:

        def draw(p: QPainter) -> None:
            p.setPen(QPen(color.darker(130), 0.8))
            p.setBrush(color)
            p.drawEllipse(QPointF(8.0, 8.0), radius, radius)

        icon = QIcon()
        for size in _SIZES:
            icon.addPixmap(_paint(size, draw))
        _cache[key] = icon
    return icon


def type_icon(category: str) -> QIcon:
    """The marker shown beside a node type: a dot in its category colour."""
    return dot_icon(theme.category_color(category))
