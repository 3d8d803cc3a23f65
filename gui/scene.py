"""The canvas scene: items that draw the graph. Items hold node ids; the graph owns the state.

Wiring: press on a port and drag to another port. While dragging, ports that would accept the
wire light up and the others dim; a refused drop says why in the status bar. Dragging from a
connected input picks its wire up (drop elsewhere to move it, on empty canvas to remove it).
Dropping a wire on empty canvas asks for a new node to connect (``wireDroppedOnEmpty``).
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from torchcanvas.graph import CycleError, Edge, GraphError, PortSpec
from torchcanvas.gui import theme
from torchcanvas.gui.document import Document

NODE_WIDTH = 150.0
HEADER = 40.0  # left → right flow: header, one row per port, footer
ROW = 22.0
FOOTER = 20.0
TB_HEADER = 36.0  # top → down flow: ports sit on the top and bottom edges
TB_FOOTER = 18.0
TB_LABELS = 13.0  # a strip for port names, only on a side with several ports
PORT_R = 6.0
GRID = 20.0


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if len(shape) else "scalar"


class PortItem(QGraphicsItem):
    """A port circle; its name is drawn by the node."""

    def __init__(self, node: NodeItem, spec: PortSpec, is_input: bool):
        super().__init__(node)
        self.node = node
        self.spec = spec
        self.is_input = is_input
        self.state = "normal"  # normal, ok (would accept), dim (would refuse), hover
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)

    @property
    def name(self) -> str:
        return self.spec.name

    def boundingRect(self) -> QRectF:
        r = PORT_R + 4
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(self.boundingRect())
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        t = theme.current()
        color = QColor(theme.PORT_COLORS.get(self.spec.kind, "#94a3b8"))
        r = PORT_R
        if self.state == "dim":
            color.setAlpha(60)
        elif self.state in ("ok", "hover"):
            r = PORT_R + 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(t.node_body if self.state != "ok" else t.selection, 2))
        painter.setBrush(color)
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        if self.state == "normal":
            self.state = "hover"
            self.update()
        kind = "input" if self.is_input else "output"
        self.setToolTip(f"{self.node.label}.{self.name} ({self.spec.kind} {kind})"
                        + (f": {self.spec.help}" if self.spec.help else ""))

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        if self.state == "hover":
            self.state = "normal"
            self.update()


def _count(n: int) -> str:
    """A parameter count short enough for a node's footer: 9,930, 684k, 11.2M."""
    if n < 100_000:
        return f"{n:,}"
    return f"{n / 1e3:.0f}k" if n < 1_000_000 else f"{n / 1e6:.1f}M"


class NodeItem(QGraphicsObject):
    def __init__(self, scene: CanvasScene, node_id: str):
        super().__init__()
        self.canvas = scene
        self.node_id = node_id
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.problem: tuple[str, str] | None = None  # (severity, message)
        self.params_text = ""
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.refresh()

    # ------------------------------------------------------------------ state from the graph
    @property
    def graph(self):
        return self.canvas.doc.graph

    @property
    def label(self) -> str:
        return self.graph.node(self.node_id).label

    def refresh(self) -> None:
        """Re-read label, ports and position from the graph."""
        graph = self.graph
        node = graph.node(self.node_id)
        self.prepareGeometryChange()
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setParentItem(None)
            if port.scene() is not None:
                port.scene().removeItem(port)
        self.inputs = {p.name: PortItem(self, p, True) for p in graph.input_ports(node.id)}
        self.outputs = {p.name: PortItem(self, p, False) for p in graph.output_ports(node.id)}
        if self.canvas.flow == "TB":
            top = TB_LABELS if len(self.inputs) > 1 else 0.0
            bottom = TB_LABELS if len(self.outputs) > 1 else 0.0
            self._header_top, self._header_h = top, TB_HEADER
            self._footer_h = TB_FOOTER
            self._height = top + TB_HEADER + TB_FOOTER + bottom
            for ports, y in ((self.inputs, 0.0), (self.outputs, self._height)):
                for i, port in enumerate(ports.values()):
                    port.setPos(NODE_WIDTH * (i + 1) / (len(ports) + 1), y)
        else:
            rows = max(len(self.inputs), len(self.outputs), 1)
            self._header_top, self._header_h, self._footer_h = 0.0, HEADER, FOOTER
            self._height = HEADER + rows * ROW + FOOTER
            for i, port in enumerate(self.inputs.values()):
                port.setPos(0, HEADER + (i + 0.5) * ROW)
            for i, port in enumerate(self.outputs.values()):
                port.setPos(NODE_WIDTH, HEADER + (i + 0.5) * ROW)
        self.setPos(QPointF(*node.pos))
        self._update_tooltip()
        self.update()

    def _update_tooltip(self) -> None:
        node = self.graph.node(self.node_id)
        spec = node.spec
        lines = [f"<b>{escape(node.label)}</b> — {escape(spec.title if spec else node.type_id)}"]
        if spec and spec.help:
            lines.append(escape(spec.help))
        if self.problem:
            color = "#dc2626" if self.problem[0] == "error" else "#c27c0e"
            lines.append(f"<span style='color:{color}'>{escape(self.problem[1])}</span>")
        self.setToolTip("<br>".join(lines))

    def set_problem(self, problem: tuple[str, str] | None) -> None:
        if problem != self.problem:
            self.problem = problem
            self._update_tooltip()
            self.update()

    def set_params_text(self, text: str) -> None:
        if text != self.params_text:
            self.params_text = text
            self.update()

    # ------------------------------------------------------------------ drawing
    def boundingRect(self) -> QRectF:
        pad = PORT_R + 4
        return QRectF(-pad, -pad, NODE_WIDTH + 2 * pad, self._height + 2 * pad)

    def body_rect(self) -> QRectF:
        return QRectF(0, 0, NODE_WIDTH, self._height)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        t = theme.current()
        node = self.graph.node(self.node_id)
        spec = node.spec
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.body_rect()
        accent = theme.category_color(spec.category if spec else "")
        if node.is_placeholder:
            accent = QColor("#64748b")

        border = t.node_border
        width = 1.2
        if self.problem and self.problem[0] == "error":
            border, width = t.error, 2.4
        elif self.problem:
            border, width = t.warning, 2.0
        if self.isSelected():
            border, width = t.selection, 2.6
        painter.setPen(QPen(border, width))
        painter.setBrush(t.node_body)
        painter.drawRoundedRect(rect, 7, 7)

        # header band in the category colour
        top, head = self._header_top, self._header_h
        header = QPainterPath()
        if top == 0:
            header.addRoundedRect(QRectF(0, 0, NODE_WIDTH, head), 7, 7)
            header.addRect(QRectF(0, head - 8, NODE_WIDTH, 8))
        else:
            header.addRect(QRectF(0.6, top, NODE_WIDTH - 1.2, head))
        band = QColor(accent)
        band.setAlpha(230 if not t.dark else 200)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(band)
        painter.drawPath(header.simplified())

        title_font = QFont(painter.font())
        title_font.setPointSizeF(9.5)
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(QColor("#ffffff"))
        fm = QFontMetricsF(title_font)
        painter.drawText(QRectF(10, top + 2, NODE_WIDTH - 20, 19), Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(node.label, Qt.TextElideMode.ElideRight, NODE_WIDTH - 20))
        sub_font = QFont(painter.font())
        sub_font.setPointSizeF(7.5)
        sub_font.setBold(False)
        painter.setFont(sub_font)
        painter.setPen(QColor(255, 255, 255, 215))
        subtitle = spec.title if spec else f"unknown: {node.type_id}"
        if node.type_id == "block":
            subtitle = f"block · {node.params.get('block', '')}"
        painter.drawText(QRectF(10, top + 18, NODE_WIDTH - 20, 16), Qt.AlignmentFlag.AlignVCenter,
                         QFontMetricsF(sub_font).elidedText(subtitle, Qt.TextElideMode.ElideRight,
                                                            NODE_WIDTH - 20))

        port_font = QFont(painter.font())
        port_font.setPointSizeF(8 if self.canvas.flow == "LR" else 7)
        painter.setFont(port_font)
        painter.setPen(t.node_text)
        if self.canvas.flow == "TB":
            centre = Qt.AlignmentFlag.AlignCenter
            if len(self.inputs) > 1:
                for port in self.inputs.values():
                    x = port.pos().x()
                    painter.drawText(QRectF(x - 40, 1, 80, TB_LABELS), centre, port.name)
            if len(self.outputs) > 1:
                for port in self.outputs.values():
                    x = port.pos().x()
                    painter.drawText(QRectF(x - 40, self._height - TB_LABELS - 1, 80, TB_LABELS),
                                     centre, port.name)
        else:
            for port in self.inputs.values():
                y = port.pos().y()
                painter.drawText(QRectF(12, y - ROW / 2, NODE_WIDTH / 2 - 12, ROW),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                                 port.name)
            for port in self.outputs.values():
                y = port.pos().y()
                painter.drawText(QRectF(NODE_WIDTH / 2, y - ROW / 2, NODE_WIDTH / 2 - 12, ROW),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                                 port.name)

        foot_top = top + head
        foot = QRectF(10, foot_top, NODE_WIDTH - 20, self._footer_h)
        painter.setPen(t.node_subtext)
        foot_font = QFont(painter.font())
        foot_font.setPointSizeF(7.5)
        painter.setFont(foot_font)
        text = self.params_text
        if self.problem and self.problem[0] == "error":
            painter.setPen(t.error)
            text = "⚠ " + self.problem[1]
        painter.drawText(foot, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         QFontMetricsF(foot_font).elidedText(text, Qt.TextElideMode.ElideRight,
                                                             foot.width()))

    # ------------------------------------------------------------------ movement
    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and \
                self.canvas.snap and self.canvas.dragging_nodes:
            p = value
            return QPointF(round(p.x() / GRID * 2) * GRID / 2, round(p.y() / GRID * 2) * GRID / 2)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.canvas.node_geometry_changed(self.node_id)
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(3 if value else 1)
        return super().itemChange(change, value)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.canvas.nodeActivated.emit(self.node_id)
        event.accept()


class WireLabel(QGraphicsItem):
    """The tensor shape of a wire, drawn above nodes so a short wire's label stays readable."""

    FONT_SIZE = 7.0

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.setZValue(4)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._font = QFont("monospace")
        self._font.setStyleHint(QFont.StyleHint.Monospace)
        self._font.setPointSizeF(self.FONT_SIZE)
        self._rect = QRectF()

    def set_text(self, text: str) -> None:
        if text == self.text:
            return
        self.prepareGeometryChange()
        self.text = text
        w = QFontMetricsF(self._font).horizontalAdvance(text) + 8
        self._rect = QRectF(-w / 2, -8, w, 16) if text else QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        if not self.text:
            return
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(t.node_border, 0.8))
        painter.setBrush(t.label_bg)
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setFont(self._font)
        painter.setPen(t.label_text)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class EdgeItem(QGraphicsPathItem):
    def __init__(self, scene: CanvasScene, edge: Edge):
        super().__init__()
        self.canvas = scene
        self.edge = edge
        self.label = ""
        self.label_item = WireLabel()
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.setAcceptHoverEvents(True)

    def kind(self) -> str:
        src = self.canvas.nodes[self.edge.src].outputs.get(self.edge.src_port)
        return src.spec.kind if src else "tensor"

    def update_path(self) -> None:
        a = self.canvas.port_pos(self.edge.src, self.edge.src_port, False)
        b = self.canvas.port_pos(self.edge.dst, self.edge.dst_port, True)
        self.setPath(bezier(a, b, self.canvas.flow))
        self.label_item.setPos(self.path().pointAtPercent(0.5))

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def set_label(self, text: str) -> None:
        self.label = text
        self.label_item.set_text(text if self.canvas.show_shapes else "")

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemVisibleHasChanged:
            self.label_item.setVisible(bool(value))
        return super().itemChange(change, value)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = QColor(theme.PORT_COLORS.get(self.kind(), "#94a3b8")) if self.kind() != "tensor" \
            else t.wire
        pen = QPen(t.selection if self.isSelected() else color, 2.6 if self.isSelected() else 1.8)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())


def bezier(a: QPointF, b: QPointF, flow: str = "LR") -> QPainterPath:
    """A wire from an output at ``a`` to an input at ``b``, leaving and entering along the flow."""
    path = QPainterPath(a)
    if flow == "TB":
        dy = max(abs(b.y() - a.y()) * 0.5, 30.0)
        path.cubicTo(QPointF(a.x(), a.y() + dy), QPointF(b.x(), b.y() - dy), b)
    else:
        dx = max(abs(b.x() - a.x()) * 0.5, 40.0)
        path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return path



class CanvasScene(QGraphicsScene):
    wireDroppedOnEmpty = Signal(str, str, bool, QPointF)  # node id, port, from input?, where
    nodeActivated = Signal(str)

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.show_shapes = True
        self.snap = True
        self.flow = doc.graph.settings.get("flow", "TB")
        self.dragging_nodes = False
        self._press_positions: dict[str, QPointF] = {}
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: PortItem | None = None
        self._picked_edge: Edge | None = None
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setSceneRect(QRectF(-5000, -5000, 10000, 10000))
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

    # ------------------------------------------------------------------ model → items
    def rebuild(self) -> None:
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self._wire = None
        for node in self.doc.graph.nodes():
            self._add_node(node.id)
        for edge in self.doc.graph.edges():
            self._add_edge(edge)
        if self.doc.shapes is not None:
            self.apply_shapes(self.doc.shapes)

    def _add_node(self, node_id: str) -> None:
        item = NodeItem(self, node_id)
        self.nodes[node_id] = item
        self.addItem(item)

    def _remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is not None:
            self.removeItem(item)

    def _add_edge(self, edge: Edge) -> None:
        if edge.src not in self.nodes or edge.dst not in self.nodes:
            return
        item = EdgeItem(self, edge)
        self.edges[edge] = item
        self.addItem(item)
        self.addItem(item.label_item)
        item.update_path()
        if self.doc.shapes is not None:
            self._label_edge(item, self.doc.shapes)

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is not None:
            self.removeItem(item.label_item)
            self.removeItem(item)

    def _settings_changed(self, name: str) -> None:
        if name == "flow":
            self.set_flow(self.doc.graph.settings["flow"])

    def set_flow(self, flow: str) -> None:
        """Ports left/right (LR) or top/bottom (TB); wires follow."""
        if flow == self.flow:
            return
        self.flow = flow
        for item in self.nodes.values():
            item.refresh()
        for item in self.edges.values():
            item.update_path()

    def node_size(self, graph, node_id: str) -> tuple[float, float]:
        """What the auto-layout needs: the drawn size of a node."""
        item = self.nodes.get(node_id)
        if item is None:
            return 150.0, 60.0
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

    def node_geometry_changed(self, node_id: str) -> None:
        for edge, item in self.edges.items():
            if edge.src == node_id or edge.dst == node_id:
                item.update_path()

    def port_pos(self, node_id: str, port: str, is_input: bool) -> QPointF:
        item = self.nodes[node_id]
        ports = item.inputs if is_input else item.outputs
        p = ports.get(port)
        if p is None:
            return item.scenePos()
        return p.scenePos()

    # ------------------------------------------------------------------ shapes → items
    def apply_shapes(self, result) -> None:
        for edge_item in self.edges.values():
            self._label_edge(edge_item, result)
        by_node: dict[str, tuple[str, str]] = {}
        for p in result.problems:
            if p.node_id and (p.node_id not in by_node or p.severity == "error"):
                by_node[p.node_id] = (p.severity, p.message)
        for nid, item in self.nodes.items():
            item.set_problem(by_node.get(nid))
            count = result.param_counts.get(nid)
            node = self.doc.graph.node(nid)
            if count is not None:
                trainable = result.trainable_counts.get(nid, count)
                if trainable == count:
                    item.set_params_text(f"{count:,} params")
                elif trainable == 0:  # the snowflake badge marks frozen parameters
                    item.set_params_text(f"❄ frozen: {_count(count)} params")
                else:
                    item.set_params_text(f"❄ frozen: {_count(count - trainable)} of "
                                         f"{_count(count)}")
            elif node.kind == "data" and result.data_info is not None and \
                    (nid, "x") in result.shapes:  # the data node that was described
                info = result.data_info
                classes = f", {len(info.classes)} classes" if info.classes else ""
                item.set_params_text(f"{info.n_train:,} train / {info.n_val:,} val{classes}")
            else:
                item.set_params_text("")

    @staticmethod
    def _label_edge(item: EdgeItem, result) -> None:
        shape = result.shapes.get((item.edge.src, item.edge.src_port))
        item.set_label(_fmt_shape(shape) if shape is not None else "")

    # ------------------------------------------------------------------ selection helpers
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, node_ids) -> None:
        wanted = set(node_ids)
        self.clearSelection()
        for nid in wanted:
            if nid in self.nodes:
                self.nodes[nid].setSelected(True)

    def items_bounds(self) -> QRectF:
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # ------------------------------------------------------------------ background
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        t = theme.current()
        painter.fillRect(rect, t.background)
        left = int(rect.left()) - int(rect.left()) % int(GRID)
        top = int(rect.top()) - int(rect.top()) % int(GRID)
        minor, major = [], []
        x = left
        while x < rect.right():
            (major if x % (GRID * 5) == 0 else minor).append(
                (QPointF(x, rect.top()), QPointF(x, rect.bottom())))
            x += GRID
        y = top
        while y < rect.bottom():
            (major if y % (GRID * 5) == 0 else minor).append(
                (QPointF(rect.left(), y), QPointF(rect.right(), y)))
            y += GRID
        scale = painter.transform().m11()
        if scale > 0.45:
            painter.setPen(QPen(t.grid_minor, 0))
            for a, b in minor:
                painter.drawLine(a, b)
        painter.setPen(QPen(t.grid_major, 0))
        for a, b in major:
            painter.drawLine(a, b)

    # ------------------------------------------------------------------ mouse: wires and moves
    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None:
                self._start_wire(port)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_positions = {i.node_id: i.pos() for i in self.selectedItems()
                                     if isinstance(i, NodeItem)}
            self.dragging_nodes = bool(self._press_positions)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None:
            self._update_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None and event.button() == Qt.MouseButton.LeftButton:
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
    def _start_wire(self, port: PortItem) -> None:
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
        self._wire = QGraphicsPathItem()
        pen = QPen(theme.current().selection, 2, Qt.PenStyle.DashLine)
        self._wire.setPen(pen)
        self._wire.setZValue(5)
        self.addItem(self._wire)
        self._highlight_targets(port)
        self._update_wire(port.scenePos())

    def _candidate(self, a: PortItem, b: PortItem):
        """(src node, src port, dst node, dst port) for a wire between a and b, or None."""
        if a.is_input == b.is_input:
            return None
        out, inp = (b, a) if a.is_input else (a, b)
        return out.node.node_id, out.name, inp.node.node_id, inp.name

    def _check(self, a: PortItem, b: PortItem) -> str | None:
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

    def _highlight_targets(self, origin: PortItem) -> None:
        for item in self.nodes.values():
            for port in [*item.inputs.values(), *item.outputs.values()]:
                if port is origin:
                    continue
                port.state = "ok" if self._check(origin, port) is None else "dim"
                port.update()

    def _clear_highlight(self) -> None:
        for item in self.nodes.values():
            for port in [*item.inputs.values(), *item.outputs.values()]:
                port.state = "normal"
                port.update()

    def _update_wire(self, pos: QPointF) -> None:
        origin = self._wire_from
        target = self._port_at(pos)
        end = target.scenePos() if target is not None and target.state == "ok" else pos
        a, b = (end, origin.scenePos()) if origin.is_input else (origin.scenePos(), end)
        self._wire.setPath(bezier(a, b, self.flow))

    def _finish_wire(self, pos: QPointF) -> None:
        origin, picked = self._wire_from, self._picked_edge
        self.removeItem(self._wire)
        self._wire = None
        self._wire_from = None
        self._picked_edge = None
        self._clear_highlight()
        if picked is not None and picked in self.edges:
            self.edges[picked].setVisible(True)
        target = self._port_at(pos)
        if target is not None and target is not origin:
            reason = self._check(origin, target)
            if reason is not None:
                self.doc.message.emit(f"Cannot connect: {reason}")
                return
            cand = self._candidate(origin, target)
            if picked is not None and (cand[0], cand[1], cand[2], cand[3]) == (
                    picked.src, picked.src_port, picked.dst, picked.dst_port):
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
            self.removeItem(self._wire)
            self._wire = None
            if self._picked_edge is not None and self._picked_edge in self.edges:
                self.edges[self._picked_edge].setVisible(True)
            self._picked_edge = None
            self._clear_highlight()
            return
        super().keyPressEvent(event)

