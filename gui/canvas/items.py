"""What the canvas draws: a node (``NodeItem``, which draws its own ports), a wire (``EdgeItem``),
the port geometry they share, and the cached look (colours, fonts, pens) and sizes of both.

Items hold node ids; the graph owns the state. The scene (``scene.CanvasScene``) creates them,
moves them and draws the wires' shape labels in its foreground pass. Zoomed out below
``LOD_TEXT`` a node leaves out its texts, below ``LOD_BOXES`` it is a plain box.
"""

from __future__ import annotations

from html import escape
from math import ceil
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
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
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from torchcanvas.graph import Edge, PortSpec
from torchcanvas.graph.layout import NAMES_GAP, default_width
from torchcanvas.gui import theme
from torchcanvas.gui.canvas.cost import body_colour, node_cost_text

if TYPE_CHECKING:
    from torchcanvas.gui.canvas.scene import CanvasScene

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
NODE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache


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
        self.node_widths: dict[tuple, float] = {}
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

    def node_width(self, inputs: tuple[str, ...], outputs: tuple[str, ...], flow: str) -> float:
        """``graph.layout.default_width`` in this look's port font, once per set of names."""
        key = (flow, inputs, outputs)
        width = self.node_widths.get(key)
        if width is None:
            if len(self.node_widths) > 5000:
                self.node_widths.clear()
            width = default_width(inputs, outputs, flow, self.port_fm[flow].horizontalAdvance)
            self.node_widths[key] = width
        return width

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


def current_look() -> _Look:
    """The shared look for the current theme (rebuilt when the theme changes)."""
    global _look_cache
    t = theme.current()
    look = _look_cache
    if look is None or look.theme is not t:
        look = _look_cache = _Look(t)
    return look


_header_paths: dict[tuple[float, float, float, float], QPainterPath] = {}


def _header_path(top: float, head: float, height: float, width: float) -> QPainterPath:
    """The header band of a node: the band's rectangle cut to the node's rounded body, inset
    by half the plain border's width, so no corner of it shows outside the border (rounded at
    the top when it starts at the node's top edge). Made once per geometry."""
    key = (top, head, height, width)
    path = _header_paths.get(key)
    if path is None:
        inset = 0.6  # half the plain border's width
        body = QPainterPath()
        body.addRoundedRect(
            QRectF(inset, inset, width - 2 * inset, height - 2 * inset), 7 - inset, 7 - inset
        )
        band = QPainterPath()
        band.addRect(QRectF(0, top, width, head))
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
        self.cost_share: float | None = None  # of the model's MACs, under the cost overlay
        self.cost_text = ""  # the footer under the cost overlay
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
        look = current_look()
        flow = self.canvas.flow
        self._width = width = look.node_width(
            tuple(p.name for p in ins), tuple(p.name for p in outs), flow
        )
        if flow == "TB":
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
                        self, spec, is_input, QPointF(width * (i + 1) / (len(specs) + 1), y)
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
                    self, spec, False, QPointF(width, head + (i + 0.5) * row)
                )
        self._height = height
        # the footer: below the header top → down, below the port rows left → right
        self._foot_top = (
            self._header_top + self._header_h
            if self.canvas.flow == "TB"
            else height - self._footer_h
        )
        self._ports = [*self.inputs.values(), *self.outputs.values()]
        self._body = QRectF(0, 0, width, height)
        pad = PORT_HIT
        self._bounds = QRectF(-pad, -pad, width + 2 * pad, height + 2 * pad)
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
        width = self._width
        if self.canvas.flow == "TB":
            fm = look.port_fm["TB"]
            strip = look.tb_labels
            clear = PORT_HOVER_R + LABEL_GAP
            for ports, y in ((self.inputs, 0.0), (self.outputs, self._height - strip)):
                if len(ports) < 2:
                    continue
                room = width / (len(ports) + 1) - 2 * clear
                for port in ports.values():
                    name = fm.elidedText(port.name, _ELIDE, room)
                    labels.append(
                        (QRectF(port.local.x() + clear, y + 1, room, strip - 2), _ALIGN_LEFT, name)
                    )
        else:
            # a row's two names share it: each takes what it needs when both fit whole,
            # else half each
            fm = look.port_fm["LR"]
            row = self._row
            inner = PORT_HOVER_R + LABEL_GAP
            avail = width - 2 * inner - NAMES_GAP
            ins, outs = list(self.inputs.values()), list(self.outputs.values())
            for i in range(max(len(ins), len(outs))):
                a = fm.horizontalAdvance(ins[i].name) if i < len(ins) else 0.0
                b = fm.horizontalAdvance(outs[i].name) if i < len(outs) else 0.0
                if a + b <= avail:
                    in_room, out_room = avail - b, b + 1
                else:
                    in_room = out_room = avail / 2
                if i < len(ins):
                    y = ins[i].local.y()
                    labels.append(
                        (
                            QRectF(inner, y - row / 2, in_room, row),
                            _ALIGN_LEFT,
                            fm.elidedText(ins[i].name, _ELIDE, in_room),
                        )
                    )
                if i < len(outs):
                    y = outs[i].local.y()
                    labels.append(
                        (
                            QRectF(width - inner - out_room, y - row / 2, out_room, row),
                            _ALIGN_RIGHT,
                            fm.elidedText(outs[i].name, _ELIDE, out_room),
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
        cost = node_cost_text(self.canvas.doc.shapes, self.node_id)
        if cost:
            lines.append(f"<i>per sample:</i> {escape(cost)}")
        return "<br>".join(lines)

    def set_problem(self, problem: tuple[str, str] | None) -> None:
        if problem != self.problem:
            self.problem = problem
            self._texts = None
            self.update()

    def set_cost(self, share: float | None, text: str) -> None:
        """The node's share of the MACs and its footer under the cost overlay."""
        if share != self.cost_share or text != self.cost_text:
            self.cost_share, self.cost_text = share, text
            if self.canvas.cost_overlay:
                self._texts = None
                self.update()

    def _body_brush(self, look: _Look):
        if self.canvas.cost_overlay:
            return body_colour(look.body, self.cost_share)
        return look.body

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
        width = self._width - 20
        subtitle = spec.title if spec else f"unknown: {node.type_id}"
        if node.type_id == "block":
            subtitle = f"block · {node.params.get('block', '')}"
        elif spec is not None and spec.kind == "code":
            subtitle = f"code · {node.params.get('title', '')}"
        error = bool(self.problem and self.problem[0] == "error")
        foot = (
            "⚠ " + self.problem[1]
            if error
            else (self.cost_text if self.canvas.cost_overlay else self.params_text)
        )
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
        look = current_look()
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
        return QRectF(0, self._header_top, self._width, self._header_h)

    def header_path(self) -> QPainterPath:
        """The header band as painted, in the node's coordinates."""
        return _header_path(self._header_top, self._header_h, self._height, self._width)

    def _border_key(self) -> str | None:
        if self.isSelected():
            return "selected"
        return self.problem[0] if self.problem else None

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        look = current_look()
        lod = painter.worldTransform().m11()
        band = look.band(self._category, self._placeholder)
        if lod < LOD_BOXES:  # a plain box: body, header band, border
            painter.setRenderHint(_ANTIALIAS, False)
            painter.setPen(look.box_border[self._border_key()])
            painter.setBrush(self._body_brush(look))
            painter.drawRect(self._body)
            painter.fillRect(QRectF(0, self._header_top, self._width, self._header_h), band)
            return
        painter.setRenderHint(_ANTIALIAS, True)
        painter.setPen(look.border[self._border_key()])
        painter.setBrush(self._body_brush(look))
        painter.drawRoundedRect(self._body, 7, 7)
        painter.setPen(_NO_PEN)
        painter.setBrush(band)
        painter.drawPath(_header_path(self._header_top, self._header_h, self._height, self._width))

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
                painter.setPen(
                    look.error_pen
                    if error
                    else (look.text_pen if self.canvas.cost_overlay else look.subtext_pen)
                )
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
            w = current_look().label_width(text)
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
        look = current_look()
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
