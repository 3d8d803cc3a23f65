"""The canvas scene: items that draw the graph. Items hold node ids; the graph owns the state.

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
from html import escape
from math import ceil

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPixmap,
    QPixmapCache,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QToolTip,
    QWidget,
)

from torchcanvas.graph import CycleError, Edge, GraphError, PortSpec
from torchcanvas.gui import theme
from torchcanvas.gui.project import Document

NODE_WIDTH = 150.0
HEADER = 40.0  # left → right flow: header, one row per port, footer
ROW = 22.0
FOOTER = 20.0
TB_HEADER = 36.0  # top → down flow: ports sit on the top and bottom edges
TB_FOOTER = 18.0
TB_LABELS = 13.0  # a strip for port names, only on a side with several ports
HEADER_PAD = 4.0  # above the title and below the subtitle (heights grow with the fonts)
PORT_R = 6.0
PORT_HOVER_R = PORT_R + 2  # a lit port (hovered, or accepting a dragged wire) is drawn larger
PORT_HIT = PORT_R + 4  # a press this close to a port's centre, outside the body, starts a wire
PORT_HIT_BODY = PORT_R + 1.5  # inside the body only a press on the circle does
LABEL_GAP = 3.0  # between a port's lit circle and its name
GRID = 20.0

# level of detail, by the view's scale: below LOD_BOXES nodes are plain boxes (no text, no
# ports) and wires thin unsmoothed lines; below LOD_TEXT nodes show their title and ports but
# no port names, footer or wire labels
LOD_BOXES = 0.35
LOD_TEXT = 0.6

_ALIGN_LEFT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
_ALIGN_RIGHT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
_ALIGN_VCENTER = Qt.AlignmentFlag.AlignVCenter
_ALIGN_CENTER = Qt.AlignmentFlag.AlignCenter
_ELIDE = Qt.TextElideMode.ElideRight
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_NO_PEN = Qt.PenStyle.NoPen
_NO_BRUSH = Qt.BrushStyle.NoBrush
_NODE_FLAGS = (
    QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
)
_EDGE_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
_LEFT = Qt.MouseButton.LeftButton
NODE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache
PIXMAP_CACHE_KB = 96 * 1024
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


class _Look:
    """Fonts, metrics, pens and colours for one theme, made once and shared by every item.
    ``text_scale`` sizes every node font by that factor (the heights follow)."""

    def __init__(self, t: theme.Theme, text_scale: float = 1.0) -> None:
        self.theme = t
        base = QGuiApplication.font()

        def font(size: float, bold: bool = False, family: QFont | None = None) -> QFont:
            f = QFont(family if family is not None else base)
            f.setPointSizeF(size * text_scale)
            f.setBold(bold)
            return f

        self.title = font(9.5, True)
        self.sub = font(7.5)
        self.port = {"LR": font(8), "TB": font(7)}
        self.port_fm = {flow: QFontMetricsF(f) for flow, f in self.port.items()}
        self.foot = font(7.5)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.wire = font(WIRE_FONT_SIZE, family=mono)
        self.title_fm = QFontMetricsF(self.title)
        self.sub_fm = QFontMetricsF(self.sub)
        self.foot_fm = QFontMetricsF(self.foot)
        self.wire_fm = QFontMetricsF(self.wire)
        self.label_widths: dict[str, float] = {}
        self._layout_metrics()
        self.label_pixmaps: dict[tuple[str, float], tuple[QPixmap, QRectF]] = {}

        self.border = {
            None: QPen(t.node_border, 1.2),
            "error": QPen(t.error, 2.4),
            "warning": QPen(t.warning, 2.0),
            "selected": QPen(t.selection, 2.6),
        }
        self.box_border = {}  # zoomed out: cosmetic pens, one or two device pixels wide
        for key, color, width in (
            (None, t.node_border, 1),
            ("error", t.error, 2),
            ("warning", t.warning, 2),
            ("selected", t.selection, 2),
        ):
            pen = QPen(color, width)
            pen.setCosmetic(True)
            self.box_border[key] = pen
        self.body = t.node_body
        self.bands: dict[str, QColor] = {}
        self.white = QColor("#ffffff")
        self.white_soft = QColor(255, 255, 255, 215)
        self.text_pen = QPen(t.node_text)
        self.subtext_pen = QPen(t.node_subtext)
        self.error_pen = QPen(t.error)
        self.port_pen = QPen(t.node_body, 2)
        self.port_pen_ok = QPen(t.selection, 2)
        self.port_fill: dict[str, QColor] = {}
        self.port_fill_dim: dict[str, QColor] = {}
        for kind, color in theme.PORT_COLORS.items():
            self.port_fill[kind] = QColor(color)
            dim = QColor(color)
            dim.setAlpha(60)
            self.port_fill_dim[kind] = dim
        self.port_fill[""] = QColor("#94a3b8")
        dim = QColor("#94a3b8")
        dim.setAlpha(60)
        self.port_fill_dim[""] = dim
        self.wire_pens = {
            kind: QPen(QColor(color), 1.8) for kind, color in theme.PORT_COLORS.items()
        }
        self.wire_pens["tensor"] = QPen(t.wire, 1.8)
        self.wire_pen_other = QPen(QColor("#94a3b8"), 1.8)
        self.wire_pen_selected = QPen(t.selection, 2.6)
        self.wire_pens_thin = {}
        for kind, pen in self.wire_pens.items():
            thin = QPen(pen.color(), 1)
            thin.setCosmetic(True)
            self.wire_pens_thin[kind] = thin
        self.wire_pen_thin_selected = QPen(t.selection, 2)
        self.wire_pen_thin_selected.setCosmetic(True)
        self.label_pen = QPen(t.node_border, 0.8)
        self.label_bg = t.label_bg
        self.label_text_pen = QPen(t.label_text)

    def _layout_metrics(self) -> None:
        """Heights that follow the fonts, so no text is cut whatever the screen's font DPI.
        Left → right the title and subtitle sit one above the other, centred in the header.
        Top → down a port's circle reaches into the header and the footer (a lit one by
        PORT_HOVER_R), so the texts keep below it and above the bottom one."""
        self.title_h = ceil(self.title_fm.height())
        self.sub_h = ceil(self.sub_fm.height())
        self.foot_line = ceil(self.foot_fm.height()) + 2
        texts = self.title_h + self.sub_h
        self.header = {
            "LR": max(HEADER, texts + 2 * HEADER_PAD),
            "TB": max(TB_HEADER, PORT_HOVER_R + 1 + texts + HEADER_PAD - 1),
        }
        self.footer = {
            "LR": max(FOOTER, self.foot_line + 2),
            "TB": max(TB_FOOTER, self.foot_line + PORT_HOVER_R + 1),
        }
        self.row = max(ROW, ceil(self.port_fm["LR"].height()) + 4)
        self.tb_labels = max(TB_LABELS, ceil(self.port_fm["TB"].height()) + 3)

    def band(self, category: str, placeholder: bool) -> QColor:
        key = "\0placeholder" if placeholder else category
        color = self.bands.get(key)
        if color is None:
            color = QColor("#64748b") if placeholder else theme.category_color(category)
            color.setAlpha(230 if not self.theme.dark else 200)
            self.bands[key] = color
        return color

    def label_pixmap(self, text: str, scale: float) -> tuple[QPixmap, QRectF]:
        """A wire's shape label drawn once per text and scale (device pixels per scene unit),
        then stamped."""
        key = (text, round(scale, 3))
        pixmap = self.label_pixmaps.get(key)
        if pixmap is None:
            if len(self.label_pixmaps) > 2000:  # many zoom levels visited: start again
                self.label_pixmaps.clear()
            w = self.label_width(text)
            ratio = max(scale, 0.05)
            pixmap = QPixmap(max(1, ceil(w * ratio)), max(1, ceil(16 * ratio)))
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(_ANTIALIAS, True)
            painter.scale(pixmap.width() / w, pixmap.height() / 16)
            box = QRectF(0.5, 0.5, w - 1, 15)
            painter.setPen(self.label_pen)
            painter.setBrush(self.label_bg)
            painter.drawRoundedRect(box, 4, 4)
            painter.setFont(self.wire)
            painter.setPen(self.label_text_pen)
            painter.drawText(box, _ALIGN_CENTER, text)
            painter.end()
            pixmap = self.label_pixmaps[key] = (pixmap, QRectF(pixmap.rect()))
        return pixmap

    def label_width(self, text: str) -> float:
        w = self.label_widths.get(text)
        if w is None:
            w = self.label_widths[text] = self.wire_fm.horizontalAdvance(text) + 8
        return w


WIRE_FONT_SIZE = 7.0
_look_cache: _Look | None = None


def _look() -> _Look:
    """The shared look for the current theme (rebuilt when the theme changes)."""
    global _look_cache
    t = theme.current()
    look = _look_cache
    if look is None or look.theme is not t:
        look = _look_cache = _Look(t)
    return look


_header_paths: dict[tuple[float, float, float], QPainterPath] = {}


def _header_path(top: float, head: float, height: float) -> QPainterPath:
    """The header band of a node: the band's rectangle cut to the node's rounded body, inset
    by half the plain border's width, so no corner of it shows outside the border (rounded at
    the top when it starts at the node's top edge). Made once per geometry."""
    key = (top, head, height)
    path = _header_paths.get(key)
    if path is None:
        inset = 0.6  # half the plain border's width
        body = QPainterPath()
        body.addRoundedRect(
            QRectF(inset, inset, NODE_WIDTH - 2 * inset, height - 2 * inset), 7 - inset, 7 - inset
        )
        band = QPainterPath()
        band.addRect(QRectF(0, top, NODE_WIDTH, head))
        path = _header_paths[key] = body.intersected(band).simplified()
    return path


class Port:
    """A port of a drawn node: its spec and where its centre sits in the node's coordinates.
    Not a graphics item: the node draws it and the scene finds it by geometry."""

    __slots__ = ("is_input", "local", "node", "spec")

    def __init__(self, node: NodeItem, spec: PortSpec, is_input: bool, local: QPointF):
        self.node = node
        self.spec = spec
        self.is_input = is_input
        self.local = local

    @property
    def name(self) -> str:
        return self.spec.name

    def scene_pos(self) -> QPointF:
        return self.node.pos() + self.local

    def tooltip(self) -> str:
        kind = "input" if self.is_input else "output"
        return f"{self.node.label}.{self.name} ({self.spec.kind} {kind})" + (
            f": {self.spec.help}" if self.spec.help else ""
        )

    def __repr__(self) -> str:
        return f"<Port {self.node.node_id}.{self.name} {'in' if self.is_input else 'out'}>"


class NodeItem(QGraphicsItem):
    """One node: body, header, texts and its ports, drawn in one paint call."""

    def __init__(self, scene: CanvasScene, node_id: str):
        super().__init__()
        self.canvas = scene
        self.node_id = node_id
        self.inputs: dict[str, Port] = {}
        self.outputs: dict[str, Port] = {}
        self.problem: tuple[str, str] | None = None  # (severity, message)
        self.params_text = ""
        self.hover_port: Port | None = None
        self._texts = None  # elided title, subtitle and footer, made at the first paint
        self._texts_look = None
        self.setFlags(_NODE_FLAGS)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.setCacheMode(NODE_CACHE)
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
        ins, outs = graph.input_ports(node.id), graph.output_ports(node.id)
        self.inputs, self.outputs = {}, {}
        look = _look()
        if self.canvas.flow == "TB":
            strip = look.tb_labels
            top = strip if len(ins) > 1 else 0.0
            bottom = strip if len(outs) > 1 else 0.0
            self._header_top, self._header_h = top, look.header["TB"]
            # the footer keeps clear of a lone output's circle; a strip of names does already
            self._footer_h = look.foot_line + 2 if bottom else look.footer["TB"]
            height = top + self._header_h + self._footer_h + bottom
            for specs, ports, y, is_input in (
                (ins, self.inputs, 0.0, True),
                (outs, self.outputs, height, False),
            ):
                for i, spec in enumerate(specs):
                    ports[spec.name] = Port(
                        self, spec, is_input, QPointF(NODE_WIDTH * (i + 1) / (len(specs) + 1), y)
                    )
        else:
            rows = max(len(ins), len(outs), 1)
            head, row = look.header["LR"], look.row
            self._header_top, self._header_h, self._footer_h = 0.0, head, look.footer["LR"]
            self._row = row
            height = head + rows * row + self._footer_h
            for i, spec in enumerate(ins):
                self.inputs[spec.name] = Port(self, spec, True, QPointF(0, head + (i + 0.5) * row))
            for i, spec in enumerate(outs):
                self.outputs[spec.name] = Port(
                    self, spec, False, QPointF(NODE_WIDTH, head + (i + 0.5) * row)
                )
        self._height = height
        # the footer: below the header top → down, below the port rows left → right
        self._foot_top = (
            self._header_top + self._header_h
            if self.canvas.flow == "TB"
            else height - self._footer_h
        )
        self._ports = [*self.inputs.values(), *self.outputs.values()]
        self._body = QRectF(0, 0, NODE_WIDTH, height)
        pad = PORT_HIT
        self._bounds = QRectF(-pad, -pad, NODE_WIDTH + 2 * pad, height + 2 * pad)
        self._shape = None
        self._port_labels = None  # laid out at the first detailed paint
        self._texts = None
        spec = node.spec
        self._category = spec.category if spec else ""
        self._placeholder = node.is_placeholder
        self.setPos(QPointF(*node.pos))
        self.update()

    def _layout_port_labels(self, look: _Look) -> list[tuple[QRectF, Qt.AlignmentFlag, str]]:
        """Where each port's name is drawn: (rect, alignment, elided name). Top → down, in
        the strip along the port's edge, right of its circle (a lit circle included) and clear
        of the next port's; left → right, in the port's row, clear of the circle."""
        labels = []
        if self.canvas.flow == "TB":
            fm = look.port_fm["TB"]
            strip = look.tb_labels
            clear = PORT_HOVER_R + LABEL_GAP
            for ports, y in ((self.inputs, 0.0), (self.outputs, self._height - strip)):
                if len(ports) < 2:
                    continue
                room = NODE_WIDTH / (len(ports) + 1) - 2 * clear
                for port in ports.values():
                    name = fm.elidedText(port.name, _ELIDE, room)
                    labels.append(
                        (QRectF(port.local.x() + clear, y + 1, room, strip - 2), _ALIGN_LEFT, name)
                    )
        else:
            fm = look.port_fm["LR"]
            row = self._row
            inner = PORT_HOVER_R + LABEL_GAP
            room = NODE_WIDTH / 2 - inner - 2
            for port in self.inputs.values():
                y = port.local.y()
                labels.append(
                    (
                        QRectF(inner, y - row / 2, room, row),
                        _ALIGN_LEFT,
                        fm.elidedText(port.name, _ELIDE, room),
                    )
                )
            for port in self.outputs.values():
                y = port.local.y()
                labels.append(
                    (
                        QRectF(NODE_WIDTH - inner - room, y - row / 2, room, row),
                        _ALIGN_RIGHT,
                        fm.elidedText(port.name, _ELIDE, room),
                    )
                )
        return labels

    def toolTip(self) -> str:
        node = self.graph.node(self.node_id)
        spec = node.spec
        lines = [f"<b>{escape(node.label)}</b> — {escape(spec.title if spec else node.type_id)}"]
        if spec and spec.help:
            lines.append(escape(spec.help))
        if self.problem:
            color = "#dc2626" if self.problem[0] == "error" else "#c27c0e"
            lines.append(f"<span style='color:{color}'>{escape(self.problem[1])}</span>")
        return "<br>".join(lines)

    def set_problem(self, problem: tuple[str, str] | None) -> None:
        if problem != self.problem:
            self.problem = problem
            self._texts = None
            self.update()

    def set_params_text(self, text: str) -> None:
        if text != self.params_text:
            self.params_text = text
            self._texts = None
            self.update()

    # ------------------------------------------------------------------ ports by geometry
    def port_at(self, local: QPointF) -> Port | None:
        """The port whose circle holds ``local``, if any: outside the body with a few pixels
        to spare, inside it only on the circle itself (with a pixel or two), so a press on the
        body beside a port takes the node."""
        x, y = local.x(), local.y()
        reach = PORT_HIT_BODY if self._body.contains(local) else PORT_HIT
        best, best_d = None, reach * reach
        for port in self._ports:
            dx, dy = port.local.x() - x, port.local.y() - y
            d = dx * dx + dy * dy
            if d <= best_d:
                best, best_d = port, d
        return best

    def port_pos(self, name: str, is_input: bool) -> QPointF:
        """A port's centre in scene coordinates (the node's position if it has no such port)."""
        port = (self.inputs if is_input else self.outputs).get(name)
        return self.pos() + port.local if port is not None else self.pos()

    # ------------------------------------------------------------------ drawing
    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            path = QPainterPath()
            path.setFillRule(Qt.FillRule.WindingFill)  # the port circles overlap the body
            path.addRect(self._body)
            for port in self._ports:
                path.addEllipse(port.local, PORT_HIT, PORT_HIT)
            self._shape = path
        return self._shape

    def body_rect(self) -> QRectF:
        return QRectF(self._body)

    def _make_texts(self, look: _Look):
        node = self.graph.node(self.node_id)
        spec = node.spec
        width = NODE_WIDTH - 20
        subtitle = spec.title if spec else f"unknown: {node.type_id}"
        if node.type_id == "block":
            subtitle = f"block · {node.params.get('block', '')}"
        elif spec is not None and spec.kind == "code":
            subtitle = f"code · {node.params.get('title', '')}"
        error = bool(self.problem and self.problem[0] == "error")
        foot = "⚠ " + self.problem[1] if error else self.params_text
        # title and subtitle one above the other: centred in the header left → right, at its
        # foot top → down (clear of the input's circle)
        texts_h = look.title_h + look.sub_h
        if self.canvas.flow == "TB":
            top = self._header_top + self._header_h - HEADER_PAD + 1 - texts_h
            foot_rect = QRectF(10, self._foot_top, width, look.foot_line)
        else:
            top = self._header_top + (self._header_h - texts_h) / 2
            foot_rect = QRectF(10, self._foot_top, width, self._footer_h)
        self._texts = (
            look.title_fm.elidedText(node.label, _ELIDE, width),
            look.sub_fm.elidedText(subtitle, _ELIDE, width),
            look.foot_fm.elidedText(foot, _ELIDE, width),
            error,
            QRectF(10, top, width, look.title_h),
            QRectF(10, top + look.title_h, width, look.sub_h),
            foot_rect,
        )
        self._texts_look = look
        return self._texts

    def drawn_texts(self) -> list[tuple[QFont, QRectF, Qt.AlignmentFlag, str]]:
        """Every text a detailed paint draws: (font, rect, alignment, text); the title, the
        subtitle, the footer when it has one, the port names."""
        look = _look()
        texts = self._texts if self._texts_look is look else None
        if texts is None:
            texts = self._make_texts(look)
            self._port_labels = None
        title, subtitle, foot, _error, title_rect, sub_rect, foot_rect = texts
        if self._port_labels is None:
            self._port_labels = self._layout_port_labels(look)
        out = [
            (look.title, title_rect, _ALIGN_VCENTER, title),
            (look.sub, sub_rect, _ALIGN_VCENTER, subtitle),
        ]
        if foot:
            out.append((look.foot, foot_rect, _ALIGN_LEFT, foot))
        port_font = look.port[self.canvas.flow]
        out.extend((port_font, rect, align, name) for rect, align, name in self._port_labels)
        return out

    def header_rect(self) -> QRectF:
        """The header band's rectangle, in the node's coordinates."""
        return QRectF(0, self._header_top, NODE_WIDTH, self._header_h)

    def header_path(self) -> QPainterPath:
        """The header band as painted, in the node's coordinates."""
        return _header_path(self._header_top, self._header_h, self._height)

    def _border_key(self) -> str | None:
        if self.isSelected():
            return "selected"
        return self.problem[0] if self.problem else None

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        look = _look()
        lod = painter.worldTransform().m11()
        band = look.band(self._category, self._placeholder)
        if lod < LOD_BOXES:  # a plain box: body, header band, border
            painter.setRenderHint(_ANTIALIAS, False)
            painter.setPen(look.box_border[self._border_key()])
            painter.setBrush(look.body)
            painter.drawRect(self._body)
            painter.fillRect(QRectF(0, self._header_top, NODE_WIDTH, self._header_h), band)
            return
        painter.setRenderHint(_ANTIALIAS, True)
        painter.setPen(look.border[self._border_key()])
        painter.setBrush(look.body)
        painter.drawRoundedRect(self._body, 7, 7)
        painter.setPen(_NO_PEN)
        painter.setBrush(band)
        painter.drawPath(_header_path(self._header_top, self._header_h, self._height))

        texts = self._texts if self._texts_look is look else None
        if texts is None:
            texts = self._make_texts(look)
            self._port_labels = None
        title, subtitle, foot, error, title_rect, sub_rect, foot_rect = texts
        painter.setFont(look.title)
        painter.setPen(look.white)
        painter.drawText(title_rect, _ALIGN_VCENTER, title)
        if lod >= LOD_TEXT:
            painter.setFont(look.sub)
            painter.setPen(look.white_soft)
            painter.drawText(sub_rect, _ALIGN_VCENTER, subtitle)
            labels = self._port_labels
            if labels is None:
                labels = self._port_labels = self._layout_port_labels(look)
            if labels:
                painter.setFont(look.port[self.canvas.flow])
                painter.setPen(look.text_pen)
                for rect, align, name in labels:
                    painter.drawText(rect, align, name)
            if foot:
                painter.setFont(look.foot)
                painter.setPen(look.error_pen if error else look.subtext_pen)
                painter.drawText(foot_rect, _ALIGN_LEFT, foot)
        self._paint_ports(painter, look)

    def _paint_ports(self, painter: QPainter, look: _Look) -> None:
        canvas = self.canvas
        wiring = canvas.wiring
        for port in self._ports:
            kind = port.spec.kind
            state = (
                canvas.port_state(port)
                if wiring
                else ("hover" if port is self.hover_port else "normal")
            )
            r = PORT_R
            fill = look.port_fill.get(kind) or look.port_fill[""]
            if state == "dim":
                fill = look.port_fill_dim.get(kind) or look.port_fill_dim[""]
            elif state in ("ok", "hover"):
                r = PORT_HOVER_R
            painter.setPen(look.port_pen_ok if state == "ok" else look.port_pen)
            painter.setBrush(fill)
            painter.drawEllipse(port.local, r, r)

    # ------------------------------------------------------------------ hover and clicks
    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hoverMoveEvent(event)  # repaint only if a port lights up (Qt's would repaint)

    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        port = self.port_at(event.pos())
        if port is not self.hover_port:
            self.hover_port = port
            if port is None:
                self.unsetCursor()
            else:
                self.setCursor(Qt.CursorShape.CrossCursor)
            self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        if self.hover_port is not None:
            self.hover_port = None
            self.unsetCursor()
            self.update()

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.canvas.nodeActivated.emit(self.node_id)
        event.accept()


class EdgeItem(QGraphicsItem):
    """A wire. Its shape label (``label``) is drawn by the scene's foreground pass, above the
    nodes, so a short wire's label stays readable."""

    def __init__(self, scene: CanvasScene, edge: Edge):
        super().__init__()
        self.canvas = scene
        self.edge = edge
        self.label = ""  # the tensor shape on this wire, "" when unknown
        self._kind = "tensor"
        self._path = QPainterPath()
        self._curve_bounds = QRectF()
        self._shape: QPainterPath | None = None
        self._mid = QPointF()
        self._label_rect = QRectF()  # empty when no label is shown
        self._bounds = QRectF()
        self.setFlags(_EDGE_FLAGS)
        self.setZValue(0)
        self.setCacheMode(NODE_CACHE)

    def kind(self) -> str:
        return self._kind

    def path(self) -> QPainterPath:
        return self._path

    def update_path(self) -> None:
        canvas, edge = self.canvas, self.edge
        src, dst = canvas.nodes[edge.src], canvas.nodes[edge.dst]
        out = src.outputs.get(edge.src_port)
        self._kind = out.spec.kind if out is not None else "tensor"
        a = src.port_pos(edge.src_port, False)
        b = dst.port_pos(edge.dst_port, True)
        self.prepareGeometryChange()
        self._path = bezier(a, b, canvas.flow)
        self._curve_bounds = self._path.controlPointRect().adjusted(-2, -2, 2, 2)
        self._shape = None
        self._mid = (a + b) / 2  # the curve is point-symmetric: its middle by length
        self._layout()

    def _layout(self) -> None:
        """Bounds: the curve's control points, plus the label when one is shown."""
        bounds = self._curve_bounds
        text = self.label if self.canvas.show_shapes else ""
        if text:
            w = _look().label_width(text)
            self._label_rect = QRectF(self._mid.x() - w / 2, self._mid.y() - 8, w, 16)
            bounds = bounds.united(self._label_rect.adjusted(-1, -1, 1, 1))
        else:
            self._label_rect = QRectF()
        self._bounds = bounds

    @property
    def shown_label(self) -> str:
        return self.label if self.canvas.show_shapes else ""

    def label_rect(self) -> QRectF:
        """Where the shape label is drawn, in scene coordinates (empty when none is shown)."""
        return QRectF(self._label_rect)

    def set_label(self, text: str) -> None:
        shown = bool(text) and self.canvas.show_shapes
        if text == self.label and shown == (not self._label_rect.isEmpty()):
            return
        self.prepareGeometryChange()  # repaints where the old label was
        self.label = text
        self._layout()
        if self.shown_label:
            self.canvas._labelled.add(self)
        else:
            self.canvas._labelled.discard(self)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(10)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        look = _look()
        selected = self.isSelected()
        if painter.worldTransform().m11() < LOD_BOXES:
            painter.setRenderHint(_ANTIALIAS, False)
            pen = (
                look.wire_pen_thin_selected
                if selected
                else look.wire_pens_thin.get(self._kind, look.wire_pens_thin["tensor"])
            )
        else:
            painter.setRenderHint(_ANTIALIAS, True)
            pen = (
                look.wire_pen_selected
                if selected
                else look.wire_pens.get(self._kind, look.wire_pen_other)
            )
        painter.setPen(pen)
        painter.setBrush(_NO_BRUSH)
        painter.drawPath(self._path)


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
        look = _look()
        if self.flow == "TB":
            top = look.tb_labels if n_inputs > 1 else 0.0
            bottom = look.tb_labels if n_outputs > 1 else 0.0
            footer = look.foot_line + 2 if bottom else look.footer["TB"]
            return top + look.header["TB"] + footer + bottom
        rows = max(n_inputs, n_outputs, 1)
        return look.header["LR"] + rows * look.row + look.footer["LR"]

    def set_flow(self, flow: str) -> None:
        """Ports left/right (LR) or top/bottom (TB); wires follow."""
        if flow == self.flow:
            return
        self.flow = flow
        for item in self.nodes.values():
            item.refresh()
        for item in self.edges.values():
            item.update_path()

    def set_show_shapes(self, on: bool) -> None:
        """Show or hide the shape labels on the wires."""
        self.show_shapes = on
        for item in self.edges.values():
            item.set_label(item.label)

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
        look = _look()
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
