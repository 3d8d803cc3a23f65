"""The autograd graph itself: function boxes coloured by the canvas node that made them, the
scene that lays them out and draws the wires, and the view that pans, zooms and fits it."""

from __future__ import annotations

import colorsys
import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
)

from torchcanvas.runtime.autograd_layout import layered

HEALTH_COLOURS = {
    "exploding": QColor("#e5484d"),
    "vanishing": QColor("#8e6cef"),
    "none": QColor("#8b8d98"),
    "ok": QColor("#30a46c"),
}
LOSS_COLOUR = QColor("#f5a524")
OTHER_COLOUR = QColor("#9aa0a6")
NODE_H = 36.0
MIN_READABLE = 0.6  # zoom below which names are too small to read


def owner_colour(k: int) -> QColor:
    """Well separated hues for the k-th canvas node (golden-ratio steps)."""
    h = (0.08 + k * 0.618034) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.45, 0.95)
    return QColor.fromRgbF(r, g, b)


_WIDTHS: dict[tuple[bool, str], float] = {}


def text_width(title: bool, text: str) -> float:
    """Width of a title (or subtitle) text, cached: big graphs repeat a few function names."""
    key = (title, text)
    width = _WIDTHS.get(key)
    if width is None:
        metrics = QFontMetricsF(_TITLE_FONT if title else _SUB_FONT)
        width = _WIDTHS[key] = metrics.horizontalAdvance(text)
    return width


def leaf_subtitle(shape, grad) -> str:
    """``[16, 1, 3, 3]  ‖g‖ 0.25``; ``grad`` a ParamGrad, or 0 for the widest norm text."""
    text = "[" + ", ".join(map(str, shape or ())) + "]"
    if grad == 0:
        return text + "  ‖g‖ -8.88e-888"
    if grad is not None:
        text += f"  ‖g‖ {fmt(grad.grad_norm)}"
    return text


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


class FnItem(QGraphicsItem):
    """One function, parameter or loss; or a collapsed canvas node."""

    def __init__(
        self,
        key,
        title: str,
        subtitle: str,
        colour: QColor,
        owner: str | None,
        width: float,
        kind: str,
        indices: list[int],
    ):
        super().__init__()
        self.key, self.title, self.subtitle = key, title, subtitle
        self.colour, self.owner, self.kind, self.indices = colour, owner, kind, indices
        self.width = width
        self.health: str | None = None
        self.linked = False  # its canvas node is selected
        self.match = False  # search hit
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)

    def hoverEnterEvent(self, event) -> None:
        if not self.toolTip() and self.scene() is not None:
            self.setToolTip(self.scene().tooltip(self))
        super().hoverEnterEvent(event)

    def boundingRect(self) -> QRectF:
        return QRectF(-3, -3, self.width + 6, NODE_H + 6)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        rect = QRectF(0, 0, self.width, NODE_H)
        fill = QColor(self.colour)
        if self.kind == "leaf":
            fill = fill.lighter(125)
        painter.setBrush(fill)
        border, width = QColor("#3a3d45"), 1.0
        if self.health is not None and self.health != "ok":
            border, width = HEALTH_COLOURS[self.health], 3.0
        if self.linked:
            border, width = QColor("#1f6feb"), 3.0
        if self.match:
            border, width = QColor("#f5d90a"), 3.0
        if self.isSelected():
            border, width = QColor("#0b3d91"), 3.5
        pen = QPen(border, width)
        if self.kind == "cluster":
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        radius = 10.0 if self.kind in ("loss", "cluster") else 4.0
        painter.drawRoundedRect(rect, radius, radius)
        painter.setPen(QColor("#101114"))
        painter.setFont(_TITLE_FONT)
        painter.drawText(
            rect.adjusted(6, 2, -6, -NODE_H / 2), Qt.AlignmentFlag.AlignVCenter, self.title
        )
        painter.setFont(_SUB_FONT)
        painter.setPen(QColor("#30323a"))
        painter.drawText(
            rect.adjusted(6, NODE_H / 2 - 1, -6, -2), Qt.AlignmentFlag.AlignVCenter, self.subtitle
        )


_TITLE_FONT = QFont()
_TITLE_FONT.setPointSizeF(8.5)
_TITLE_FONT.setBold(True)
_SUB_FONT = QFont()
_SUB_FONT.setPointSizeF(7.5)


class AutogradScene(QGraphicsScene):
    """Items for an AutogradGraph, with collapsed canvas nodes drawn as one box each."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graph = None
        self.collapsed: set[str] = set()
        self.items_by_key: dict = {}
        self.item_of: dict[int, FnItem] = {}  # graph node index → the item showing it
        self.colours: dict[str | None, QColor] = {None: OTHER_COLOUR}  # kept across captures
        self.grads = None  # the latest gradient health shown (GradStats)
        self.linked: set[str] = set()
        self.bounds = QRectF()
        self._edges = QGraphicsPathItem()
        self._edges.setPen(QPen(QColor("#8b8d98"), 1.2))
        self._edges.setZValue(-2)
        self._linked_edges = QGraphicsPathItem()
        self._linked_edges.setPen(QPen(QColor("#1f6feb"), 2.2))
        self._linked_edges.setZValue(-1)
        self._visible_edges: list[tuple] = []

    def colour(self, owner: str | None) -> QColor:
        """A canvas node's colour, the same in the graph and on the chart for the session."""
        colour = self.colours.get(owner)
        if colour is None:
            colour = self.colours[owner] = owner_colour(len(self.colours) - 1)
        return colour

    def set_graph(self, graph) -> None:
        self.graph = graph
        owners = graph.owners()
        for o in owners:
            self.colour(o)
        if graph.grads is not None:
            self.grads = graph.grads
        self.collapsed &= set(owners)
        self.rebuild()

    def rebuild(self) -> None:
        """Items and layout for the graph with the current collapsed set."""
        for item in (self._edges, self._linked_edges):
            if item.scene() is self:
                self.removeItem(item)
        self.clear()
        self.items_by_key, self.item_of = {}, {}
        self._visible_edges = []  # their items are gone with clear()
        self.bounds = QRectF()
        graph = self.graph
        if graph is None:
            return
        keys: list = []
        rep: list[int] = []  # graph node index → visible item index
        members: dict = {}
        position: dict = {}
        for n in graph.nodes:
            key = ("owner", n.owner) if n.owner in self.collapsed else ("node", n.index)
            if key not in members:
                members[key] = []
                position[key] = len(keys)
                keys.append(key)
            members[key].append(n.index)
            rep.append(position[key])
        edges = list(dict.fromkeys((rep[a], rep[b]) for a, b in graph.edges if rep[a] != rep[b]))
        grads = self.grads.by_name() if self.grads is not None else {}
        items: list[FnItem] = []
        for key in keys:
            idx = members[key]
            if key[0] == "owner":
                owner = key[1]
                title = graph.label_of(owner)
                subtitle = f"{len(idx)} functions (collapsed)"
                kind = "cluster"
            else:
                n = graph.nodes[idx[0]]
                owner, kind, title = n.owner, n.kind, n.title
                if n.kind == "leaf":
                    subtitle = leaf_subtitle(n.shape, grads.get(n.param) if n.param else None)
                elif n.kind == "loss":
                    subtitle = "loss"
                else:
                    subtitle = graph.label_of(owner)
            width = max(text_width(True, title), text_width(False, subtitle)) + 14
            if kind == "leaf":  # room for any gradient norm shown later
                width = max(width, text_width(False, leaf_subtitle(n.shape, 0)) + 14)
            colour = LOSS_COLOUR if kind == "loss" else self.colour(owner)
            item = FnItem(key, title, subtitle, colour, owner, max(width, 70.0), kind, idx)
            if kind == "leaf":
                g = grads.get(graph.nodes[idx[0]].param)
                item.health = g.flag if g is not None else None
            item.linked = owner is not None and owner in self.linked
            items.append(item)
        positions = layered(len(items), edges, [(it.width, NODE_H) for it in items])
        for item, (x, y) in zip(items, positions, strict=True):
            item.setPos(x, y)
            self.addItem(item)
            self.items_by_key[item.key] = item
            for i in item.indices:
                self.item_of[i] = item
        self._visible_edges = [(items[a], items[b]) for a, b in edges]
        self.addItem(self._edges)
        self.addItem(self._linked_edges)
        self._draw_edges()
        if items:
            left = min(x for x, _ in positions)
            top = min(y for _, y in positions)
            right = max(x + it.width for it, (x, _) in zip(items, positions, strict=True))
            bottom = max(y for _, y in positions) + NODE_H
            self.bounds = QRectF(left, top, right - left, bottom - top)
        self.setSceneRect(self.bounds.adjusted(-40, -40, 40, 40))

    def tooltip(self, item: FnItem) -> str:
        """Built when the pointer first rests on an item (thousands of items draw faster)."""
        graph = self.graph
        if graph is None:
            return ""
        if item.kind == "cluster":
            fns = sorted({graph.nodes[i].name for i in item.indices})
            return f"{item.title}: {len(item.indices)} functions\n" + ", ".join(fns)
        n = graph.nodes[item.indices[0]]
        tip = n.tooltip()
        if n.kind != "loss":
            tip += f"\nfrom {graph.label_of(n.owner)}"
        if n.kind == "leaf" and self.grads is not None and n.param:
            g = self.grads.by_name().get(n.param)
            if g is not None:
                tip += f"\n‖grad‖ {fmt(g.grad_norm)}, ‖grad‖/‖w‖ {fmt(g.ratio)}: {g.flag}"
        return tip

    def _draw_edges(self) -> None:
        plain, linked = QPainterPath(), QPainterPath()
        for a, b in self._visible_edges:
            pa, pb = a.pos(), b.pos()
            path = linked if (a.linked and b.linked) else plain
            if abs(pa.y() - pb.y()) < 1e-6:  # a parameter beside the function reading it
                y = pa.y() + NODE_H / 2
                left, right = (a, b) if pa.x() < pb.x() else (b, a)
                path.moveTo(left.pos().x() + left.width, y)
                path.lineTo(right.pos().x(), y)
                continue
            start = QPointF(pa.x() + a.width / 2, pa.y() + NODE_H)
            end = QPointF(pb.x() + b.width / 2, pb.y())
            dy = max((end.y() - start.y()) / 2, 20.0)
            path.moveTo(start)
            path.cubicTo(start + QPointF(0, dy), end - QPointF(0, dy), end)
        self._edges.setPath(plain)
        self._linked_edges.setPath(linked)

    def set_linked(self, owners) -> list[FnItem]:
        self.linked = set(owners)
        hits = []
        for item in self.items_by_key.values():
            on = item.owner in self.linked and item.owner is not None
            if on != item.linked:
                item.linked = on
                item.update()
            if on:
                hits.append(item)
        self._draw_edges()
        return hits

    def search(self, text: str) -> list[FnItem]:
        text = text.strip().lower()
        hits = []
        for item in self.items_by_key.values():
            on = bool(text) and (text in item.title.lower() or text in item.subtitle.lower())
            if on != item.match:
                item.match = on
                item.update()
            if on:
                hits.append(item)
        return hits


class AutogradGraphView(QGraphicsView):
    """Pan (drag), zoom (wheel), fit; double-click opens or closes a canvas node's box."""

    clusterToggled = Signal(str)  # the owner (canvas node id) double-clicked

    def __init__(self, scene: AutogradScene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QBrush(QColor("#f7f7f8")))

    def wheelEvent(self, event) -> None:
        factor = 1.2 if event.angleDelta().y() > 0 else 1 / 1.2
        zoom = self.transform().m11() * factor
        if 0.02 < zoom < 8:
            self.scale(factor, factor)

    def fit(self, rect: QRectF | None = None, readable: bool = False) -> None:
        """Show all of ``rect`` (default: the graph). With ``readable``, a graph too big to
        read whole is shown from the top (the loss) at a size where names can be read."""
        rect = rect if rect is not None else self.scene().bounds
        if rect.isNull():
            return
        self.fitInView(rect.adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)
        zoom = self.transform().m11()
        if zoom > 1.5:  # a tiny graph: do not blow it up
            self.resetTransform()
            self.centerOn(rect.center())
        elif readable and zoom < MIN_READABLE:
            self.resetTransform()
            self.scale(MIN_READABLE, MIN_READABLE)
            view_h = self.viewport().height() / MIN_READABLE
            self.centerOn(QPointF(rect.center().x(), rect.top() + view_h / 2 - 20))

    def mouseDoubleClickEvent(self, event) -> None:
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, FnItem) and item.owner is not None:
            self.clusterToggled.emit(item.owner)
            return
        super().mouseDoubleClickEvent(event)
