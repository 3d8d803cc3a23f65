"""The cost overlay: nodes coloured by their share of the model's multiply-accumulates (MACs),
and the legend that says what the colours mean.

Shares come from the shape result (``ShapeResult.macs``, counted in the shape process). The
colour runs from the node's own body colour (no MACs) through amber to red (all of them), on a
square-root scale so that a layer with a few percent still shows.
"""

from __future__ import annotations

from itertools import pairwise
from math import sqrt

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QWidget

from torchcanvas.gui import theme
from torchcanvas.runtime.cost import format_bytes, format_macs

_STOPS = ((0.0, QColor(253, 224, 71)), (0.5, QColor(249, 115, 22)), (1.0, QColor(220, 38, 38)))


def heat(share: float) -> QColor:
    """The overlay's colour for a share of the MACs (0..1), before mixing with the body."""
    t = sqrt(max(0.0, min(1.0, share)))
    for (a, ca), (b, cb) in pairwise(_STOPS):
        if t <= b:
            f = (t - a) / (b - a)
            return QColor(
                round(ca.red() + (cb.red() - ca.red()) * f),
                round(ca.green() + (cb.green() - ca.green()) * f),
                round(ca.blue() + (cb.blue() - ca.blue()) * f),
            )
    return QColor(_STOPS[-1][1])


def body_colour(base: QColor, share: float | None) -> QColor:
    """A node's body under the overlay: its own colour with no MACs (or none counted), mixed
    towards the heat colour as its share grows."""
    if not share:
        return base
    h = heat(share)
    k = 0.25 + 0.4 * sqrt(min(1.0, share))  # the text on it stays readable
    return QColor(
        round(base.red() + (h.red() - base.red()) * k),
        round(base.green() + (h.green() - base.green()) * k),
        round(base.blue() + (h.blue() - base.blue()) * k),
    )


def shares(result) -> dict[str, float]:
    """Each counted node's share of the model's MACs (empty when nothing is counted)."""
    total = result.total_macs if result is not None else 0
    if not total:
        return {}
    return {nid: m / total for nid, m in result.macs.items()}


def node_cost_text(result, node_id: str) -> str:
    """One line on a node's cost for a sample: MACs and their share, output and parameter
    memory; "" when the result has none for it."""
    if result is None or node_id not in result.activation_bytes:
        return ""
    parts = []
    macs = result.macs.get(node_id)
    if macs is None:
        parts.append("MACs unknown (code is not run)")
    elif macs:
        total = result.total_macs
        parts.append(f"{format_macs(macs)} MACs ({100 * macs / total:.1f} %)")
    else:
        parts.append("no MACs")
    act = result.activation_bytes.get(node_id, 0)
    parts.append(f"output {format_bytes(act)}" if act else "output: a view, no new memory")
    pbytes = result.param_bytes.get(node_id)
    if pbytes:
        parts.append(f"params {format_bytes(pbytes)}")
    return " · ".join(parts)


def totals_text(result) -> str:
    """The model's cost per sample and the training-memory estimate, in one line."""
    if result is None or not result.activation_bytes:
        return ""
    parts = [f"{format_macs(result.total_macs)} MACs/sample"]
    memory = result.memory
    if memory is not None:
        room = f" of {format_bytes(memory.capacity)}" if memory.capacity else ""
        parts.append(f"training ≈ {format_bytes(memory.total)}{room} (batch {memory.batch_size})")
    return " · ".join(parts)


class CostLegend(QWidget):
    """What the overlay's colours mean, in the canvas's top-right corner."""

    WIDTH, HEIGHT = 220, 54

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.resize(self.WIDTH, self.HEIGHT)
        self.total = ""
        parent.installEventFilter(self)  # follows the canvas's size
        self.hide()

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.place()
        return False

    def set_total(self, text: str) -> None:
        if text != self.total:
            self.total = text
            self.update()

    def place(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.move(parent.width() - self.WIDTH - 12, 12)

    def paintEvent(self, event) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(0.5, 0.5, self.WIDTH - 1, self.HEIGHT - 1)
        p.setPen(QPen(t.grid_major, 1))
        p.setBrush(t.label_bg)
        p.drawRoundedRect(box, 6, 6)
        p.setPen(t.label_text)
        font = p.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        title = "Cost: share of MACs" + (f" ({self.total})" if self.total else "")
        p.drawText(QRectF(8, 4, self.WIDTH - 16, 16), Qt.AlignmentFlag.AlignLeft, title)
        bar = QRectF(8, 22, self.WIDTH - 16, 10)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for i in range(11):
            share = (i / 10) ** 2  # the colour scale is square-root: even steps of colour
            gradient.setColorAt(i / 10, body_colour(t.node_body, share))
        p.setPen(QPen(t.grid_major, 1))
        p.setBrush(gradient)
        p.drawRect(bar)
        p.setPen(t.label_text)
        for share, align in (
            (0.0, Qt.AlignmentFlag.AlignLeft),
            (0.25, Qt.AlignmentFlag.AlignHCenter),
            (1.0, Qt.AlignmentFlag.AlignRight),
        ):
            x = bar.left() + bar.width() * sqrt(share)
            rect = QRectF(x - 20, 34, 40, 14)
            if align == Qt.AlignmentFlag.AlignLeft:
                rect.moveLeft(bar.left())
            elif align == Qt.AlignmentFlag.AlignRight:
                rect.moveRight(bar.right())
            p.drawText(rect, align, f"{share * 100:.0f} %")
        p.end()
