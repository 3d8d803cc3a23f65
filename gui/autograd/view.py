"""The Autograd view: the backward graph of the network, linked to the canvas, with gradient
health.

The graph comes from :mod:`torchcanvas.runtime.autograd` as plain data (captured from the
canvas on one batch, or sent by a training run every N steps or on request). Function nodes are
coloured by the canvas node that produced them; a canvas node's functions collapse into one box
(double-click, or Collapse all). Selecting here selects the canvas node; selecting on the canvas
outlines its functions here. Parameters show their gradient norm and are coloured when their
gradients vanish or explode; the list on the side names them, and a chart follows the gradient
norm of every layer over the steps. Layout, search, fit, and export to PNG or SVG.

No torch here: torch loads only when a capture runs.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStyleOptionGraphicsItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.runtime.autograd_layout import layered

if TYPE_CHECKING:
    import pyqtgraph as pg

HEALTH_COLOURS = {
    "exploding": QColor("#e5484d"),
    "vanishing": QColor("#8e6cef"),
    "none": QColor("#8b8d98"),
    "ok": QColor("#30a46c"),
}
LOSS_COLOUR = QColor("#f5a524")
OTHER_COLOUR = QColor("#9aa0a6")
NODE_H = 36.0
MAX_HISTORY = 2000  # gradient-norm points kept per layer
MAX_LEGEND = 10  # the chart names its curves up to this many layers
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


class AutogradPanel(QWidget):
    """The Autograd dock's widget."""

    nodesSelected = Signal(list)  # canvas node ids picked here
    captureRequested = Signal()
    graphEveryChanged = Signal(int)  # during training: refresh the graph every N steps (0 off)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graph = None
        self._shape = None  # (nodes, edges) of the graph shown
        self._linking = False
        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}

        self.scene = AutogradScene(self)
        self.view = AutogradGraphView(self.scene)
        self.view.clusterToggled.connect(self.toggle_collapsed)
        self.scene.selectionChanged.connect(self._scene_selection)

        self.capture_button = QPushButton("Capture")
        self.capture_button.setToolTip(
            "Run one batch through the network and show its "
            "backward graph (during training: the latest step's)"
        )
        self.capture_button.clicked.connect(self.captureRequested)
        self.every = QSpinBox()
        self.every.setRange(0, 100_000)
        self.every.setSpecialValueText("on request")
        self.every.setPrefix("refresh ")
        self.every.setSuffix(" steps")
        self.every.setToolTip(
            "During training: refresh the graph every N steps (0: only when "
            "Capture is pressed). Gradient norms are read every 10 steps."
        )
        self.every.valueChanged.connect(self.graphEveryChanged)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search functions and parameters…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(self.search)
        self.search_box.returnPressed.connect(lambda: self.search(self.search_box.text(), True))
        fit = QPushButton("Fit")
        fit.clicked.connect(lambda: self.view.fit())
        self.collapse_all = QCheckBox("Collapse layers")
        self.collapse_all.setToolTip(
            "Show each canvas node as one box (double-click a box to open or close one)"
        )
        self.collapse_all.toggled.connect(self.set_all_collapsed)
        export = QPushButton("Export…")
        export.clicked.connect(self.ask_export)
        self.info = QLabel("Press Capture to see the backward graph of the network.")
        self.info.setWordWrap(True)

        bar = QHBoxLayout()
        for w in (self.capture_button, self.every, self.search_box, fit, self.collapse_all, export):
            bar.addWidget(w)
        bar.setStretch(2, 1)

        self.health = QTreeWidget()
        self.health.setHeaderLabels(["Parameter", "Layer", "‖grad‖", "‖grad‖/‖w‖", "Status"])
        self.health.setRootIsDecorated(False)
        self.health.setUniformRowHeights(True)
        self.health.itemClicked.connect(self._health_clicked)
        import pyqtgraph as pg  # loaded with the panel, not with the window

        from torchcanvas.gui.training.plots import SparseLogAxis

        # log axis labelled at mantissas 1, 2, 3 and 5 only, as the loss plot's
        self.chart = pg.PlotWidget(axisItems={"left": SparseLogAxis("left")})
        self.chart.setBackground("w")
        self.chart.setLogMode(y=True)
        plot = self.chart.getPlotItem()
        for name in ("left", "bottom"):  # the ticks say the values: no "(x0.001)" scaling
            plot.getAxis(name).enableAutoSIPrefix(False)
        self.chart.setLabel("left", "‖grad‖ per layer")
        self.chart.setLabel("bottom", "step")
        self.chart.setMinimumHeight(150)
        self.chart.addLegend(offset=(-5, 5), labelTextSize="8pt", labelTextColor="#202124")
        self.bars: pg.BarGraphItem | None = None  # one capture: a bar per layer
        self.bar_layers: list[str] = []  # the owners of the bars, left to right
        self._owner_rank: dict[str, int] | None = None
        self._ranked_graph = None
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.health)
        side.addWidget(self.chart)
        side.setSizes([200, 200])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 380])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.info)
        layout.addWidget(split, 1)

    def sizeHint(self) -> QSize:
        return QSize(1000, 420)

    # ------------------------------------------------------------------ content
    def set_graph(self, graph, note: str = "") -> None:
        """Show a captured graph (keeps collapsed layers and the canvas selection)."""
        self.graph = graph
        if self.collapse_all.isChecked():
            self.scene.collapsed = set(graph.owners())
        self.scene.set_graph(graph)
        n_fn = sum(n.kind == "function" for n in graph.nodes)
        n_leaf = sum(n.kind == "leaf" for n in graph.nodes)
        text = f"{n_fn} functions, {n_leaf} parameters"
        if graph.step:
            text += f", step {graph.step}"
        if note:
            text += f" — {note}"
        self.info.setText(text)
        if graph.grads is not None:
            self.show_grads(graph.grads)
        self.search(self.search_box.text())
        shape = (len(graph.nodes), len(graph.edges))
        if shape != self._shape:  # a new structure; a refresh of the same one keeps the view
            self._shape = shape
            self.view.fit(readable=True)

    def clear_graph(self, message: str) -> None:
        self.graph = None
        self._shape = None
        self.scene.graph = None
        self.scene.rebuild()
        self.info.setText(message)

    def toggle_collapsed(self, owner: str) -> None:
        if self.graph is None:
            return
        self.scene.collapsed ^= {owner}
        self.scene.rebuild()
        self.search(self.search_box.text())
        item = self.scene.items_by_key.get(("owner", owner))
        if item is None:  # opened: show its first function
            item = next((i for i in self.scene.items_by_key.values() if i.owner == owner), None)
        if item is not None:
            self.view.centerOn(item)

    def set_all_collapsed(self, on: bool) -> None:
        if self.graph is None:
            return
        self.scene.collapsed = set(self.graph.owners()) if on else set()
        self.scene.rebuild()
        self.search(self.search_box.text())
        self.view.fit(readable=True)

    def show_grads(self, stats, labels: dict[str, str] | None = None, history: bool = True) -> None:
        """Gradient health: the list (flagged first), leaf colours, and a point per layer on
        the chart."""
        if labels is None and self.graph is not None:
            labels = self.graph.labels
        labels = labels or {}
        self.health.clear()
        order = sorted(stats.params, key=lambda p: (p.flag == "ok", p.name))
        for p in order:
            row = QTreeWidgetItem(
                [p.name, labels.get(p.owner, p.owner or ""), fmt(p.grad_norm), fmt(p.ratio), p.flag]
            )
            row.setData(0, Qt.ItemDataRole.UserRole, p.owner)
            if p.flag != "ok":
                for c in range(5):
                    row.setForeground(c, HEALTH_COLOURS[p.flag])
            self.health.addTopLevelItem(row)
        for c in range(4):
            self.health.resizeColumnToContents(c)
        by_name = stats.by_name()
        self.scene.grads = stats
        if self.graph is not None:
            for n in self.graph.nodes:
                if n.kind == "leaf" and n.param in by_name:
                    item = self.scene.item_of.get(n.index)
                    if item is not None and item.kind == "leaf":
                        item.health = by_name[n.param].flag
                        item.subtitle = leaf_subtitle(n.shape, by_name[n.param])
                        item.setToolTip("")  # rebuilt on the next hover
                        item.update()
        if history:
            self.add_history(stats, labels)

    def add_history(self, stats, labels: dict[str, str]) -> None:
        for owner, norm in stats.per_owner().items():
            steps, values = self.history.setdefault(owner, ([], []))
            if steps and steps[-1] >= stats.step:  # a new run, or a capture at step 0
                steps.clear()
                values.clear()
            steps.append(stats.step)
            values.append(max(norm, 1e-30))
            del steps[:-MAX_HISTORY], values[:-MAX_HISTORY]
            curve = self.curves.get(owner)
            if curve is None:
                import pyqtgraph as pg

                colour = self.scene.colour(owner)
                curve = self.chart.plot(
                    [],
                    [],
                    pen=pg.mkPen(colour.darker(130), width=2),
                    symbol="o",
                    symbolSize=4,
                    symbolBrush=colour.darker(130),
                )
                curve.setToolTip(labels.get(owner, owner))
                self.curves[owner] = curve
                legend = self.chart.plotItem.legend
                if len(self.curves) <= MAX_LEGEND:
                    legend.addItem(curve, labels.get(owner, owner))
                elif len(self.curves) == MAX_LEGEND + 1:  # too many layers to name them all
                    legend.clear()
            curve.setData(steps, values)
        if self.history:
            if max(len(steps) for steps, _ in self.history.values()) == 1:
                self._show_bars(labels)  # one capture: no steps to span
            else:
                self._show_curves()

    def _show_bars(self, labels: dict[str, str]) -> None:
        """One reading per layer: a bar each, named on the x axis, on the log ‖grad‖ axis
        (the plot is in log mode, so the bars are drawn in log10 units)."""
        import pyqtgraph as pg

        plot = self.chart.getPlotItem()
        owners = sorted(self.history, key=lambda o: self._layer_order(o))
        logs = [math.log10(self.history[o][1][-1]) for o in owners]
        bottom = math.floor(min(logs))  # bars rise from a decade under the shortest one
        if min(logs) - bottom < 0.3:
            bottom -= 1
        top = max(logs) + 0.25
        for curve in self.curves.values():
            curve.setVisible(False)
        plot.legend.setVisible(False)
        if self.bars is not None:
            self.chart.removeItem(self.bars)
        self.bars = pg.BarGraphItem(
            x=list(range(len(owners))),
            y0=bottom,
            height=[v - bottom for v in logs],
            width=0.6,
            brushes=[self.scene.colour(o).darker(110) for o in owners],
            pens=[pg.mkPen(self.scene.colour(o).darker(150)) for o in owners],
        )
        self.bar_layers = owners
        self.chart.addItem(self.bars)
        axis = plot.getAxis("bottom")
        axis.setTicks([[(i, labels.get(o, o or "")) for i, o in enumerate(owners)]])
        self.chart.setLabel("bottom", "layer (one capture)")
        plot.vb.disableAutoRange()
        self.chart.setXRange(-0.5, len(owners) - 0.5, padding=0.02)
        self.chart.setYRange(bottom, top, padding=0)

    def _layer_order(self, owner: str) -> tuple:
        """Bars in the order the layers run forward (as the graph lists its leaves)."""
        order = self._owner_rank
        if order is None or self.graph is not self._ranked_graph:
            order = {}
            if self.graph is not None:
                for n in reversed(self.graph.nodes):  # the graph lists outputs first
                    if n.owner is not None and n.owner not in order:
                        order[n.owner] = len(order)
            self._owner_rank, self._ranked_graph = order, self.graph
        return (order.get(owner, len(order)), owner or "")

    def _show_curves(self) -> None:
        """Readings at several steps: a curve per layer over the steps."""
        plot = self.chart.getPlotItem()
        if self.bars is not None:
            self.chart.removeItem(self.bars)
            self.bars = None
            self.bar_layers = []
            plot.getAxis("bottom").setTicks(None)
            self.chart.setLabel("bottom", "step")
            plot.legend.setVisible(True)
            for curve in self.curves.values():
                curve.setVisible(True)
        plot.vb.enableAutoRange()

    def reset_history(self) -> None:
        self.history.clear()
        for curve in self.curves.values():
            self.chart.removeItem(curve)
        self.curves.clear()
        self.chart.plotItem.legend.clear()
        self._show_curves()

    # ------------------------------------------------------------------ linking
    def selected_owners(self) -> list[str]:
        owners: dict[str, None] = {}
        for item in self.scene.selectedItems():
            if isinstance(item, FnItem) and item.owner is not None:
                owners.setdefault(item.owner)
        return list(owners)

    def _scene_selection(self) -> None:
        if self._linking:
            return
        owners = self.selected_owners()
        if owners:
            self.nodesSelected.emit(owners)

    def highlight_owners(self, node_ids) -> None:
        """The canvas selection changed: outline those nodes' functions (no signal back)."""
        self._linking = True
        try:
            hits = self.scene.set_linked(node_ids)
        finally:
            self._linking = False
        if hits and self.isVisible():
            rect = QRectF()
            for item in hits:
                rect = rect.united(item.sceneBoundingRect())
            if (
                not self.view.mapToScene(self.view.viewport().rect())
                .boundingRect()
                .intersects(rect)
            ):
                self.view.centerOn(rect.center())

    def _health_clicked(self, row: QTreeWidgetItem) -> None:
        owner = row.data(0, Qt.ItemDataRole.UserRole)
        if self.graph is not None:
            leaf = self.graph.leaves().get(row.text(0))
            item = self.scene.item_of.get(leaf.index) if leaf is not None else None
            if item is not None:
                self.scene.clearSelection()
                item.setSelected(True)
                self.view.centerOn(item)
                return
        if owner:
            self.nodesSelected.emit([owner])

    # ------------------------------------------------------------------ search, export
    def search(self, text: str, jump: bool = False) -> list[FnItem]:
        hits = self.scene.search(text)
        if hits and jump:
            self.view.centerOn(hits[0])
        return hits

    def ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export autograd view", "autograd.svg", "SVG image (*.svg);;PNG image (*.png)"
        )
        if path:
            self.export(Path(path))

    def export(self, path: Path) -> Path:
        """The whole graph as SVG (by suffix) or PNG."""
        path = Path(path)
        rect = self.scene.bounds.adjusted(-20, -20, 20, 20)
        if path.suffix.lower() == ".svg":
            from PySide6.QtSvg import QSvgGenerator

            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(rect.size().toSize())
            gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
            gen.setTitle("Autograd graph")
            painter = QPainter(gen)
            self.scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
            painter.end()
            return path
        self.render_image(rect).save(str(path))
        return path

    def render_image(self, rect: QRectF | None = None, max_side: int = 8000) -> QImage:
        rect = rect if rect is not None else self.scene.bounds.adjusted(-20, -20, 20, 20)
        scale = min(2.0, max_side / max(rect.width(), rect.height(), 1.0))
        image = QImage(
            max(1, int(rect.width() * scale)),
            max(1, int(rect.height() * scale)),
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        image.fill(QColor("#f7f7f8"))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.scene.render(painter, QRectF(image.rect()), rect)
        painter.end()
        return image


class AutogradDock:
    """The Autograd dock in the main window: capture from the canvas, linked selection, and
    gradient health sent by training runs (only while the dock is shown)."""

    GRADS_EVERY = 20  # steps between gradient-norm readings during training
    REFRESH_MS = 400  # the list and chart redraw at most this often during training

    def __init__(self, window):
        from PySide6.QtCore import QTimer

        self.window = window
        self._panel: AutogradPanel | None = None  # built when the dock first shows, or asked for
        self.dock = window._dock("Autograd", None, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self._visibility_changed)
        training = window.training
        training.runStarted.connect(self._run_started)
        training.autogradArrived.connect(self._snapshot)
        self._pending = None
        self._doc = window.doc
        self._stale_run = False  # a run of a document no longer open
        self._timer = QTimer(self.dock, singleShot=True, interval=self.REFRESH_MS)
        self._timer.timeout.connect(self._flush)

    @property
    def panel(self) -> AutogradPanel:
        """The dock's widget, built on first use (its chart loads pyqtgraph: not at start-up)."""
        if self._panel is None:
            panel = self._panel = AutogradPanel()
            panel.captureRequested.connect(self.capture)
            panel.nodesSelected.connect(self.select_on_canvas)
            panel.graphEveryChanged.connect(lambda _: self._configure_run())
            self.dock.setWidget(panel)
        return self._panel

    @property
    def built(self) -> bool:
        return self._panel is not None

    def _visibility_changed(self, visible: bool) -> None:
        if visible and self._panel is None:
            self.panel.highlight_owners(self.window.scene.selected_node_ids())
        self._configure_run()

    # ------------------------------------------------------------------ canvas
    def document_changed(self) -> None:
        """Another document is open: drop the graph now (node ids repeat across projects; doing
        it later, inside a selection of one of its items, would delete that item mid-call), and
        ignore what a run still training the previous document sends."""
        self._doc = self.window.doc
        self._stale_run = self.window.training.running
        self._pending = None
        if self._panel is None:
            return
        if self.panel.graph is not None:
            self.panel.clear_graph("Press Capture to see the backward graph of the network.")
        self.panel.reset_history()

    def _same_document(self) -> bool:
        """The graph shown belongs to the open document."""
        return self.window.doc is self._doc

    def canvas_selection(self, node_ids: list[str]) -> None:
        """The canvas selection changed: outline those nodes' functions here."""
        if self._same_document() and self._panel is not None:
            self.panel.highlight_owners(node_ids)

    def select_on_canvas(self, node_ids: list[str]) -> None:
        window = self.window
        if not self._same_document():
            return
        ids = [n for n in node_ids if n in window.doc.graph]
        if ids:
            window.scene.select_nodes(ids)
            window.view.center_on_nodes(ids)

    def capture(self) -> bool:
        """Capture from the canvas graph, or ask a running training for its latest step."""
        window = self.window
        control = window.training.control
        if window.training.running and control is not None:
            control.request_graph()
            self.panel.info.setText("The graph of the next training step is on its way…")
            return True
        from PySide6.QtWidgets import QApplication

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return self._capture_canvas()
        finally:
            QApplication.restoreOverrideCursor()

    def _capture_canvas(self) -> bool:
        from torchcanvas.runtime.autograd import capture_project, project_batch
        from torchcanvas.runtime.compile import CompileError, compile_project

        doc = self._doc = self.window.doc
        try:
            project = compile_project(doc.graph, doc.project_dir)
            batch, note = project_batch(project)
            graph = capture_project(project, batch=batch)
        except CompileError as exc:
            self.panel.clear_graph(f"Cannot capture: {exc}")
            if exc.node_id:
                self.window.focus_node(exc.node_id)
            return False
        except Exception as exc:  # a user's graph can fail in any torch call
            self.panel.clear_graph(f"Cannot capture: {type(exc).__name__}: {exc}")
            return False
        self.panel.reset_history()
        self.panel.set_graph(graph, f"from {note}")
        self.panel.highlight_owners(self.window.scene.selected_node_ids())
        return True

    # ------------------------------------------------------------------ training
    def _configure_run(self) -> None:
        training = self.window.training
        shown = self.dock.isVisible() and self._panel is not None
        # kept for the next run too, which then reports from its first step
        training.grads_every = self.GRADS_EVERY if shown else 0
        training.graph_every = self.panel.every.value() if shown else 0
        if training.control is not None:
            training.control.grads_every = training.grads_every
            training.control.graph_every = training.graph_every

    def _run_started(self, _event) -> None:
        self._stale_run = False
        if self._panel is not None:
            self.panel.reset_history()
        self._configure_run()

    def _snapshot(self, snapshot) -> None:
        if self._stale_run:
            return
        if snapshot.graph is not None:
            self._pending = None
            self.panel.set_graph(snapshot.graph, "captured during training")
            self.panel.highlight_owners(self.window.scene.selected_node_ids())
            return
        labels = {n.id: n.label for n in self.window.doc.graph.nodes()}
        self.panel.add_history(snapshot.grads, labels)  # every point goes on the chart
        self._pending = snapshot.grads
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        stats, self._pending = self._pending, None
        if stats is None:
            return
        labels = {n.id: n.label for n in self.window.doc.graph.nodes()}
        self.panel.show_grads(stats, labels, history=False)
