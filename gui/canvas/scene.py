"""The canvas scene: it holds the items that draw the graph (``items.py``), keeps them in step with
the document, and handles wiring, dragging and the wires' shape labels. Items hold node ids; the
graph owns the state.

Wiring: press on a port and drag to another port. While dragging, ports that would accept the
wire light up and the others dim; a refused drop says why in the status bar. Dragging from a
connected input picks its wire up (drop elsewhere to move it, on empty canvas to remove it).
Dropping a wire on empty canvas asks for a new node to connect (``wireDroppedOnEmpty``).

The scene is kept lean so that graphs of thousands of nodes open and pan smoothly: a node is one
item that draws its own ports (hit tests by geometry, ``CanvasScene.port_at``), a wire is one
item whose shape label the scene draws above the nodes in its foreground pass, tooltips are
built when asked for, colours, fonts, pens and elided texts are cached, and zoomed out the
nodes are drawn as plain boxes without text. No item overrides ``itemChange``: a drag snaps the
nodes and moves their wires from the scene's mouse handler.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QPainter,
    QPen,
    QPixmapCache,
)
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneMouseEvent,
    QToolTip,
)

from torchcanvas.graph import CycleError, Edge, GraphError
from torchcanvas.graph.layout import NODE_WIDTH
from torchcanvas.gui import theme
from torchcanvas.gui.canvas.cost import shares
from torchcanvas.gui.canvas.items import (
    LOD_TEXT,
    EdgeItem,
    NodeItem,
    Port,
    bezier,
    current_look,
)
from torchcanvas.gui.project import Document
from torchcanvas.runtime.cost import format_macs

GRID = 20.0
PIXMAP_CACHE_KB = 96 * 1024
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_LEFT = Qt.MouseButton.LeftButton
_BY_BOUNDS = Qt.ItemSelectionMode.IntersectsItemBoundingRect
_ASCENDING = Qt.SortOrder.AscendingOrder
_DESCENDING = Qt.SortOrder.DescendingOrder


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if len(shape) else "scalar"


def _count(n: int) -> str:
    """A parameter count short enough for a node's footer: 9,930, 684k, 11.2M."""
    if n < 100_000:
        return f"{n:,}"
    return f"{n / 1e3:.0f}k" if n < 1_000_000 else f"{n / 1e6:.1f}M"


def shape_changes(prev, result, new_by_node=None) -> tuple[set[str] | None, set | None]:
    """What differs between two applied results: (node ids whose footer or problem may have
    changed, output values whose shape changed); (None, None) means everything."""
    if prev is None:
        return None, None
    shapes, counts, trainable, by_node, data_info = prev
    values = {k for k, v in result.shapes.items() if k not in shapes or shapes[k] != v}
    values.update(k for k in shapes if k not in result.shapes)
    nodes: set[str] = set()
    for old, new in ((counts, result.param_counts), (trainable, result.trainable_counts)):
        nodes.update(k for k, v in new.items() if old.get(k) != v)
        nodes.update(k for k in old if k not in new)
    if new_by_node is None:
        new_by_node = _problems_by_node(result)
    nodes.update(k for k, v in new_by_node.items() if by_node.get(k) != v)
    nodes.update(k for k in by_node if k not in new_by_node)
    nodes.update(nid for nid, port in values if port == "x")  # a data node's description
    if data_info != result.data_info:
        return None, values
    return nodes, values


def _problems_by_node(result) -> dict[str, tuple[str, str]]:
    by_node: dict[str, tuple[str, str]] = {}
    for p in result.problems:
        if p.node_id and (p.node_id not in by_node or p.severity == "error"):
            by_node[p.node_id] = (p.severity, p.message)
    return by_node


class CanvasScene(QGraphicsScene):
    wireDroppedOnEmpty = Signal(str, str, bool, QPointF)  # node id, port, from input?, where
    nodeActivated = Signal(str)

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.show_shapes = True
        self.cost_overlay = False  # nodes coloured by their share of the MACs
        self.snap = True
        self.flow = doc.graph.settings.get("flow", "TB")
        self.dragging_nodes = False
        self._node_edges: dict[str, list[EdgeItem]] = {}  # node id → its wires
        self._labelled: set[EdgeItem] = set()  # wires with a shape label to draw
        self._raised: set[NodeItem] = set()  # selected nodes, drawn above the others
        self._rebuilding = False
        self._applied = None  # what the last apply_shapes saw, to diff the next result
        self._press_positions: dict[str, QPointF] = {}
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: Port | None = None
        self._picked_edge: Edge | None = None
        self._states: dict[Port, str] = {}  # while wiring: would this port accept the wire?
        self.setItemIndexMethod(INDEX_METHOD)
        # nodes and wires paint into cached pixmaps (panning then only stamps them): room
        # for a screenful of them
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.setSceneRect(QRectF(-5000, -5000, 10000, 10000))
        self.selectionChanged.connect(self._raise_selected)
        notifier = theme.notifier()
        if notifier is not None:
            notifier.changed.connect(self._theme_changed)
        doc.nodeAdded.connect(self._add_node)
        doc.nodeRemoved.connect(self._remove_node)
        doc.edgeAdded.connect(self._add_edge)
        doc.edgeRemoved.connect(self._remove_edge)
        doc.nodeChanged.connect(self._node_changed)
        doc.nodeMoved.connect(self._node_moved)
        doc.graphReset.connect(self.rebuild)
        doc.settingsChanged.connect(self._settings_changed)
        doc.shapesUpdated.connect(self.apply_shapes)
        self.rebuild()

    def dispose(self) -> None:
        """Drop the references between items and scene (the scene is going away), so its
        Python objects are freed by reference counting, not left to the cycle collector."""
        self._cancel_wire()
        for item in self.nodes.values():
            item.inputs, item.outputs, item._ports, item.hover_port = {}, {}, [], None
        self.nodes.clear()
        self.edges.clear()
        self._node_edges.clear()
        self._labelled.clear()
        self._raised.clear()
        self._applied = None

    @property
    def wiring(self) -> bool:
        """A wire is being dragged from a port."""
        return self._wire_from is not None

    # ------------------------------------------------------------------ model → items
    def rebuild(self) -> None:
        self._cancel_wire()
        self._raised.clear()
        self._rebuilding = True  # clear() emits selectionChanged while deleting the items
        try:
            self.clear()
        finally:
            self._rebuilding = False
        self.nodes.clear()
        self.edges.clear()
        self._node_edges.clear()
        self._labelled.clear()
        self._applied = None
        graph = self.doc.graph
        # everything made here lives as long as the scene: no collector passes while building
        collecting = gc.isenabled()
        gc.disable()
        self._rebuilding = True  # one scene rect for all, below
        try:
            for node in graph.nodes():
                self._add_node(node.id)
            self._rebuilding = False
            for edge in graph.edges():
                self._add_edge(edge, labelled=False)  # apply_shapes below labels them all
            self._grow_scene_rect()
            if self.doc.shapes is not None:
                self.apply_shapes(self.doc.shapes)
        finally:
            self._rebuilding = False
            if collecting:
                gc.enable()

    def _grow_scene_rect(self) -> None:
        """Room to scroll around every node, however large the graph."""
        self._make_room(self.items_bounds())

    def _make_room(self, rect: QRectF) -> None:
        if not self.sceneRect().contains(rect):
            self.setSceneRect(self.sceneRect().united(rect.adjusted(-2000, -2000, 2000, 2000)))

    def _add_node(self, node_id: str) -> None:
        item = NodeItem(self, node_id)
        self.nodes[node_id] = item
        self._node_edges.setdefault(node_id, [])
        self.addItem(item)
        if not self._rebuilding:
            self._make_room(item.sceneBoundingRect())
        if self._applied is not None:
            self._apply_node(item, self.doc.shapes)

    def _remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        self._node_edges.pop(node_id, None)
        if item is not None:
            self._raised.discard(item)
            self.removeItem(item)

    def _add_edge(self, edge: Edge, labelled: bool = True) -> None:
        if edge.src not in self.nodes or edge.dst not in self.nodes:
            return
        item = EdgeItem(self, edge)
        self.edges[edge] = item
        self._node_edges[edge.src].append(item)
        if edge.dst != edge.src:
            self._node_edges[edge.dst].append(item)
        item.update_path()
        self.addItem(item)
        if labelled and self.doc.shapes is not None:
            self._label_edge(item, self.doc.shapes)

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is not None:
            for nid in (edge.src, edge.dst):
                wires = self._node_edges.get(nid)
                if wires is not None and item in wires:
                    wires.remove(item)
            self._labelled.discard(item)
            self.removeItem(item)

    def _settings_changed(self, name: str) -> None:
        if name == "flow":
            self.set_flow(self.doc.graph.settings["flow"])

    def node_height(self, n_inputs: int, n_outputs: int) -> float:
        """The height a node with this many ports gets in the current flow and fonts (the
        same sums as ``NodeItem.refresh``), for placing a node before it exists."""
        look = current_look()
        if self.flow == "TB":
            top = look.tb_labels if n_inputs > 1 else 0.0
            bottom = look.tb_labels if n_outputs > 1 else 0.0
            footer = look.foot_line + 2 if bottom else look.footer["TB"]
            return top + look.header["TB"] + footer + bottom
        rows = max(n_inputs, n_outputs, 1)
        return look.header["LR"] + rows * look.row + look.footer["LR"]

    def node_width(self, inputs: list[str], outputs: list[str]) -> float:
        """The width a node with these port names gets in the current flow and fonts (as
        ``NodeItem.refresh`` makes it), for placing a node before it exists."""
        return current_look().node_width(tuple(inputs), tuple(outputs), self.flow)

    def set_flow(self, flow: str) -> None:
        """Ports left/right (LR) or top/bottom (TB); wires follow."""
        if flow == self.flow:
            return
        self.flow = flow
        for item in self.nodes.values():
            item.refresh()
        for item in self.edges.values():
            item.update_path()

    def set_cost_overlay(self, on: bool) -> None:
        """Colour the nodes by their share of the model's MACs (footers say it), or not."""
        if on == self.cost_overlay:
            return
        self.cost_overlay = on
        if on:
            self._apply_costs(self.doc.shapes)
        for item in self.nodes.values():
            item._texts = None
            item.update()

    def _apply_costs(self, result) -> None:
        """Each node's share of the MACs and its footer, for the overlay."""
        share = shares(result)
        for nid, item in self.nodes.items():
            if result is None or nid not in result.activation_bytes:
                item.set_cost(None, "")
                continue
            macs = result.macs.get(nid)
            if macs is None:
                text = "MACs unknown"
            elif macs:
                text = f"{format_macs(macs)} MACs · {100 * share[nid]:.1f} %"
            else:
                text = "no MACs"
            item.set_cost(share.get(nid), text)

    def set_show_shapes(self, on: bool) -> None:
        """Show or hide the shape labels on the wires."""
        self.show_shapes = on
        for item in self.edges.values():
            item.set_label(item.label)

    def node_size(self, graph, node_id: str) -> tuple[float, float]:
        """What the auto-layout needs: the drawn size of a node."""
        item = self.nodes.get(node_id)
        if item is None:
            return NODE_WIDTH, 60.0
        rect = item.body_rect()
        return rect.width(), rect.height()

    def _node_changed(self, node_id: str) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.refresh()
            self.node_geometry_changed(node_id)

    def _node_moved(self, node_id: str) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            pos = QPointF(*self.doc.graph.node(node_id).pos)
            if item.pos() != pos:
                item.setPos(pos)
                self.node_geometry_changed(node_id)
            self._make_room(item.sceneBoundingRect())

    def node_geometry_changed(self, node_id: str) -> None:
        for item in self._node_edges.get(node_id, ()):
            item.update_path()

    def port_pos(self, node_id: str, port: str, is_input: bool) -> QPointF:
        return self.nodes[node_id].port_pos(port, is_input)

    def _theme_changed(self) -> None:
        for item in self._labelled:
            item.prepareGeometryChange()
            item._layout()  # label widths follow the font
        self.repaint_items()

    def repaint_items(self) -> None:
        """Repaint every item, not only the scene: items keep their drawing in pixmaps."""
        for item in self.nodes.values():
            item.update()
        for item in self.edges.values():
            item.update()
        self.update()

    # ------------------------------------------------------------------ shapes → items
    def apply_shapes(self, result) -> None:
        """Show a shape result: wire labels, node problems and footers. Only the items whose
        text may have changed since the previous result are looked at: the nodes the result
        names in ``changed`` and their outgoing wires, or, when it names none (``None``: a full
        run, a saved result), what a diff with the previous result finds."""
        if self.cost_overlay:  # every share follows the total: all nodes
            self._apply_costs(result)
        prev = self._applied
        by_node = _problems_by_node(result)
        # results are not changed once made: the previous one is kept as it is, not copied
        self._applied = (
            result.shapes,
            result.param_counts,
            result.trainable_counts,
            by_node,
            result.data_info,
        )
        changed = result.changed
        if prev is not None and changed is not None and prev[4] == result.data_info:
            node_edges = self._node_edges
            for nid in changed:
                for edge_item in node_edges.get(nid, ()):
                    if edge_item.edge.src == nid:
                        self._label_edge(edge_item, result)
            nodes = self.nodes
            for nid in changed:
                item = nodes.get(nid)
                if item is not None:
                    self._apply_node(item, result, by_node)
            return
        nodes, values = shape_changes(prev, result, by_node)
        if values is None:
            for edge_item in self.edges.values():
                self._label_edge(edge_item, result)
        else:
            for nid, port in values:
                for edge_item in self._node_edges.get(nid, ()):
                    if edge_item.edge.src == nid and edge_item.edge.src_port == port:
                        self._label_edge(edge_item, result)
        items = (
            self.nodes.values()
            if nodes is None
            else [self.nodes[n] for n in nodes if n in self.nodes]
        )
        for item in items:
            self._apply_node(item, result, by_node)

    def _apply_node(self, item: NodeItem, result, by_node=None) -> None:
        nid = item.node_id
        if by_node is None:
            by_node = _problems_by_node(result)
        problem = by_node.get(nid)
        if problem != item.problem:
            item.set_problem(problem)
        count = result.param_counts.get(nid)
        if count is not None:
            trainable = result.trainable_counts.get(nid, count)
            if trainable == count:
                text = f"{count:,} params"
            elif trainable == 0:  # the snowflake badge marks frozen parameters
                text = f"❄ frozen: {_count(count)} params"
            else:
                text = f"❄ frozen: {_count(count - trainable)} of {_count(count)}"
        elif (
            result.data_info is not None
            and (nid, "x") in result.shapes
            and self.doc.graph.node(nid).kind == "data"
        ):  # the data node that was described
            info = result.data_info
            classes = f", {len(info.classes)} classes" if info.classes else ""
            text = f"{info.n_train:,} train / {info.n_val:,} val{classes}"
        else:
            text = ""
        if text != item.params_text:
            item.set_params_text(text)

    @staticmethod
    def _label_edge(item: EdgeItem, result) -> None:
        shape = result.shapes.get((item.edge.src, item.edge.src_port))
        text = _fmt_shape(shape) if shape is not None else ""
        if text != item.label:
            item.set_label(text)

    # ------------------------------------------------------------------ selection helpers
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, node_ids) -> None:
        """Select exactly these nodes; ``selectionChanged`` is emitted once."""
        wanted = {self.nodes[n] for n in node_ids if n in self.nodes}
        before = set(self.selectedItems())
        if before == wanted:
            return
        blocked = self.blockSignals(True)
        try:
            for item in before - wanted:
                item.setSelected(False)
            for item in wanted - before:
                item.setSelected(True)
        finally:
            self.blockSignals(blocked)
        self.selectionChanged.emit()

    def _raise_selected(self) -> None:
        """Selected nodes are drawn above the others."""
        if self._rebuilding:
            return
        selected = {i for i in self.selectedItems() if isinstance(i, NodeItem)}
        for item in self._raised - selected:
            if item.scene() is self:
                item.setZValue(1)
        for item in selected - self._raised:
            item.setZValue(3)
        self._raised = selected

    def items_bounds(self) -> QRectF:
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # ------------------------------------------------------------------ hit tests, tooltips
    def _node_and_port_at(self, pos: QPointF) -> tuple[NodeItem | None, Port | None]:
        """The topmost node under a scene point and the port there, if any: the index finds
        the nodes whose bounds hold the point, the rest is arithmetic (no shapes built)."""
        for item in self.items(pos, _BY_BOUNDS, _DESCENDING):
            if isinstance(item, NodeItem):
                local = pos - item.pos()
                port = item.port_at(local)
                if port is not None or item._body.contains(local):
                    return item, port
        return None, None

    def port_at(self, pos: QPointF) -> Port | None:
        """The port under a scene point, on the topmost node there."""
        return self._node_and_port_at(pos)[1]

    def tooltip_at(self, pos: QPointF) -> str:
        """The tooltip for a scene point, made when asked: a port's, else its node's."""
        item, port = self._node_and_port_at(pos)
        if port is not None:
            return port.tooltip()
        return item.toolTip() if item is not None else ""

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:
        text = self.tooltip_at(event.scenePos())
        if text:
            QToolTip.showText(event.screenPos(), text, event.widget())
        else:
            QToolTip.hideText()
        event.setAccepted(bool(text))

    # ------------------------------------------------------------------ background, labels
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        t = theme.current()
        painter.fillRect(rect, t.background)
        step = int(GRID)
        left = int(rect.left()) - int(rect.left()) % step
        top = int(rect.top()) - int(rect.top()) % step
        x0, x1, y0, y1 = rect.left(), rect.right(), rect.top(), rect.bottom()
        minor, major = [], []
        for x in range(left, int(x1) + 1, step):
            (major if x % (step * 5) == 0 else minor).append(QLineF(x, y0, x, y1))
        for y in range(top, int(y1) + 1, step):
            (major if y % (step * 5) == 0 else minor).append(QLineF(x0, y, x1, y))
        painter.setRenderHint(_ANTIALIAS, False)
        if painter.worldTransform().m11() > 0.45:
            painter.setPen(QPen(t.grid_minor, 0))
            painter.drawLines(minor)
        painter.setPen(QPen(t.grid_major, 0))
        painter.drawLines(major)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """The wires' shape labels, above the nodes; none when zoomed out."""
        if not self._labelled or painter.worldTransform().m11() < LOD_TEXT:
            return
        look = current_look()
        device = painter.device()  # stamped 1:1 on the screen's pixels, HiDPI included
        scale = painter.worldTransform().m11() * (device.devicePixelRatioF() if device else 1.0)
        labelled = self._labelled
        for item in self.items(rect, _BY_BOUNDS, _ASCENDING):
            if item in labelled and item.isVisible():
                box = item._label_rect
                if box.intersects(rect):
                    painter.drawPixmap(box, *look.label_pixmap(item.label, scale))

    # ------------------------------------------------------------------ mouse: wires and moves
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == _LEFT:
            port = self.port_at(event.scenePos())
            if port is not None:
                self._start_wire(port)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == _LEFT:
            self._press_positions = {
                i.node_id: i.pos() for i in self.selectedItems() if isinstance(i, NodeItem)
            }
            self.dragging_nodes = bool(self._press_positions)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None:
            self._update_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self.dragging_nodes:
            self._follow_drag()

    def _follow_drag(self) -> None:
        """After Qt moved the dragged nodes: snap them to the grid and bring their wires."""
        half = GRID / 2
        wires: set[EdgeItem] = set()
        for nid, start in self._press_positions.items():
            item = self.nodes.get(nid)
            if item is None:
                continue
            p = item.pos()
            if p == start:
                continue
            if self.snap:
                snapped = QPointF(round(p.x() / half) * half, round(p.y() / half) * half)
                if snapped != p:
                    item.setPos(snapped)
            wires.update(self._node_edges.get(nid, ()))
        for wire in wires:
            wire.update_path()

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None and event.button() == _LEFT:
            self._finish_wire(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if self._press_positions:
            moves = {}
            for nid, old in self._press_positions.items():
                item = self.nodes.get(nid)
                if item is not None and item.pos() != old:
                    moves[nid] = ((old.x(), old.y()), (item.pos().x(), item.pos().y()))
            self._press_positions = {}
            self.dragging_nodes = False
            if moves:
                self.doc.move_nodes(moves)

    # wires
    def _start_wire(self, port: Port) -> None:
        graph = self.doc.graph
        self._picked_edge = None
        if port.is_input:
            existing = graph.input_edge(port.node.node_id, port.name)
            if existing is not None and not port.spec.multi:
                # pick the wire up: drag it from its source
                self._picked_edge = existing
                self.edges[existing].setVisible(False)
                port = self.nodes[existing.src].outputs[existing.src_port]
        self._wire_from = port
        self._states = {}
        self._wire = QGraphicsPathItem()
        pen = QPen(theme.current().selection, 2, Qt.PenStyle.DashLine)
        self._wire.setPen(pen)
        self._wire.setZValue(5)
        self.addItem(self._wire)
        for item in self.nodes.values():  # ports repaint lit or dimmed, each checked if drawn
            item.update()
        self._update_wire(port.scene_pos())

    def port_state(self, port: Port) -> str:
        """While wiring: "ok" if ``port`` would accept the wire, "dim" if not, "normal" for
        the port the wire starts from (and when not wiring). Checked once per port, lazily:
        only the ports that get drawn are checked."""
        origin = self._wire_from
        if origin is None or port is origin:
            return "normal"
        state = self._states.get(port)
        if state is None:
            state = self._states[port] = "ok" if self._check(origin, port) is None else "dim"
        return state

    def _candidate(self, a: Port, b: Port):
        """(src node, src port, dst node, dst port) for a wire between a and b, or None."""
        if a.is_input == b.is_input:
            return None
        out, inp = (b, a) if a.is_input else (a, b)
        return out.node.node_id, out.name, inp.node.node_id, inp.name

    def _check(self, a: Port, b: Port) -> str | None:
        """None if the wire a–b would be accepted, else the reason."""
        cand = self._candidate(a, b)
        if cand is None:
            return "connect an output to an input"
        picked = self._picked_edge
        if picked is not None and (cand[2], cand[3]) == (picked.dst, picked.dst_port):
            return None  # dropping a picked-up wire back on its own input
        try:
            self.doc.graph.check_connect(*cand)
        except CycleError:
            return "that wire would make a cycle"
        except GraphError as exc:
            return str(exc)
        return None

    def _update_wire(self, pos: QPointF) -> None:
        origin = self._wire_from
        target = self.port_at(pos)
        end = target.scene_pos() if target is not None and self.port_state(target) == "ok" else pos
        a, b = (end, origin.scene_pos()) if origin.is_input else (origin.scene_pos(), end)
        self._wire.setPath(bezier(a, b, self.flow))

    def _cancel_wire(self) -> tuple[Port | None, Edge | None]:
        """Drop the wire being dragged (if any); returns where it came from."""
        origin, picked = self._wire_from, self._picked_edge
        if self._wire is not None and self._wire.scene() is self:
            self.removeItem(self._wire)
        self._wire = None
        self._wire_from = None
        self._picked_edge = None
        if origin is not None:
            self._states = {}
            for item in self.nodes.values():  # the ports return to normal
                item.update()
        if picked is not None and picked in self.edges:
            self.edges[picked].setVisible(True)
        return origin, picked

    def _finish_wire(self, pos: QPointF) -> None:
        target = self.port_at(pos)
        reason = None
        origin, picked = self._wire_from, self._picked_edge
        if target is not None and target is not origin:
            reason = self._check(origin, target)
        self._cancel_wire()
        if target is not None and target is not origin:
            if reason is not None:
                self.doc.message.emit(f"Cannot connect: {reason}")
                return
            cand = self._candidate(origin, target)
            if picked is not None and (cand[0], cand[1], cand[2], cand[3]) == (
                picked.src,
                picked.src_port,
                picked.dst,
                picked.dst_port,
            ):
                return  # dropped back where it was
            with self.doc.macro("Connect"):
                if picked is not None:
                    self.doc.disconnect_edge(picked)
                self.doc.connect_ports(*cand)
            return
        if target is None:
            if picked is not None:
                self.doc.disconnect_edge(picked)
                return
            self.wireDroppedOnEmpty.emit(origin.node.node_id, origin.name, origin.is_input, pos)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self._wire is not None:
            self._cancel_wire()
            return
        super().keyPressEvent(event)


# Hit tests (ports, tooltips, hover, clicks) and painting ask the index for the items at a
# point or in the exposed rectangle; bench/canvas_scale.py measures both methods
INDEX_METHOD = QGraphicsScene.ItemIndexMethod.BspTreeIndex
