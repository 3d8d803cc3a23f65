"""The canvas view: zoom to the cursor, pan (middle drag or space + drag), rubber-band select,
fit all, drop palette items, ask for the quick-add popup (Tab or double-click) and for a node's
menu (right-click)."""

from __future__ import annotations

import functools
from functools import lru_cache

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QContextMenuEvent, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QGraphicsView

from torchcanvas.graph import GraphError, get_spec
from torchcanvas.gui import theme
from torchcanvas.gui.canvas.items import NodeItem
from torchcanvas.gui.canvas.palette import BLOCK_PREFIX, MIME_NODE_TYPE
from torchcanvas.gui.canvas.scene import CanvasScene

MIN_ZOOM, MAX_ZOOM = 0.1, 3.0
FLOW_GAP = 60.0  # between a selection and a node added after it: room for the wire
PLACE_MARGIN = 20.0  # kept free around a placed node
KEEP_IN_VIEW = 40  # pixels between an added node and the view's edge
_STEP = 20.0
# after an open the canvas waits this long at most for the graph's shapes before its first draw
HOLD_FIRST_DRAW_MS = 250
_BY_BOUNDS = Qt.ItemSelectionMode.IntersectsItemBoundingRect


@lru_cache(maxsize=2)
def _offsets(along_x: bool) -> tuple[tuple[float, float], ...]:
    """Grid offsets out to 40 steps, nearest first; a step against the flow counts double
    and one along it wins a tie, so a crowded spot gives way downstream first."""
    span = range(-40, 41)
    offsets = []
    for i in span:
        for j in span:
            along, across = (i, j) if along_x else (j, i)
            cost = (2 * along if along < 0 else along) ** 2 + across**2
            offsets.append((cost, -along, abs(across), i * _STEP, j * _STEP))
    offsets.sort()
    return tuple((dx, dy) for *_, dx, dy in offsets)


class CanvasView(QGraphicsView):
    quickAddRequested = Signal(QPointF, QPoint)  # scene position, global position
    escapePressed = Signal()  # Esc that nothing on the canvas used (a wire cancels first)
    nodeMenuRequested = Signal(str, QPoint)  # a right-click on a node: its id, global position

    def __init__(self, scene: CanvasScene, parent=None):
        super().__init__(scene, parent)
        self.canvas = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space = False
        self._held = False  # hold_until_shapes
        self._holds = 0

    # ------------------------------------------------------------------ first draw
    def hold_until_shapes(self, doc, limit_ms: int | None = None) -> None:
        """Draw a newly opened document once its shapes are in (at most ``limit_ms`` later;
        ``HOLD_FIRST_DRAW_MS`` by default).

        A draw before them is thrown away when they arrive: every wire gains its label and
        every node its output shape. In a big graph that first draw is the longest piece of an
        open (a tenth of a second for 1000 nodes) and it holds up the shapes themselves,
        which the window can only take once the draw is done."""
        self._holds += 1  # a hold for an earlier document ends here
        hold = self._holds
        self._release(hold)
        if doc.shapes is not None:  # shapes saved with the project: draw them at once
            return
        self._held = True
        release = functools.partial(self._release, hold)
        doc.shapesUpdated.connect(release, Qt.ConnectionType.SingleShotConnection)
        QTimer.singleShot(limit_ms or HOLD_FIRST_DRAW_MS, self, release)

    def _release(self, hold: int, *_args) -> None:
        if self._held and hold == self._holds:
            self._held = False
            self.viewport().update()

    def paintEvent(self, event) -> None:
        if self._held:  # the background only, until the shapes are in
            QPainter(self.viewport()).fillRect(event.rect(), theme.current().background)
            return
        super().paintEvent(event)

    # ------------------------------------------------------------------ zoom and pan
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = max(MIN_ZOOM, min(MAX_ZOOM, factor))
        self.scale(factor / self.zoom, factor / self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        self.set_zoom(self.zoom * (1.15**steps))
        event.accept()

    def fit_all(self) -> None:
        rect = self.canvas.items_bounds()
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        self.fit_rect(rect)

    def fit_rect(self, rect: QRectF) -> None:
        self.fitInView(rect.adjusted(-60, -60, 60, 60), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.25:
            self.set_zoom(1.25)
        self.centerOn(rect.center())

    def center_on_nodes(self, node_ids) -> None:
        rect = QRectF()
        for nid in node_ids:
            item = self.canvas.nodes.get(nid)
            if item is not None:
                rect = rect.united(item.sceneBoundingRect())
        if not rect.isNull():
            self.ensureVisible(rect, 80, 80)

    def _start_pan(self, pos: QPoint) -> None:
        self._pan_from = pos
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space
        ):
            self._start_pan(event.position().toPoint())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            pos = event.position().toPoint()
            delta = pos - self._pan_from
            self._pan_from = pos
            self.translate_view(delta.x(), delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def translate_view(self, dx: float, dy: float) -> None:
        """Move the content by (dx, dy) screen pixels."""
        center = self.mapToScene(self.viewport().rect().center())
        self.centerOn(center - QPointF(dx, dy) / self.zoom)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor
            )
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        scene_pos = self.mapToScene(event.position().toPoint())
        if (
            not any(isinstance(i, NodeItem) for i in self.canvas.items(scene_pos))
            and event.button() == Qt.MouseButton.LeftButton
        ):
            self.quickAddRequested.emit(scene_pos, event.globalPosition().toPoint())
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """A right-click on a node asks for its menu (the node is selected first)."""
        scene_pos = self.mapToScene(event.pos())
        node = next((i for i in self.canvas.items(scene_pos) if isinstance(i, NodeItem)), None)
        if node is None or self.canvas.wiring:
            super().contextMenuEvent(event)
            return
        if not node.isSelected():
            self.canvas.select_nodes([node.node_id])
        event.accept()
        self.nodeMenuRequested.emit(node.node_id, event.globalPos())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)
        if event.key() == Qt.Key.Key_Escape and not event.isAccepted():
            event.accept()
            self.escapePressed.emit()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        # Tab opens the quick-add popup at the cursor instead of moving focus
        cursor = self.mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(cursor):
            cursor = self.viewport().rect().center()
        self.quickAddRequested.emit(self.mapToScene(cursor), self.mapToGlobal(cursor))
        return True

    def cursor_scene_pos(self) -> QPointF:
        cursor = self.mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(cursor):
            cursor = self.viewport().rect().center()
        return self.mapToScene(cursor)

    # ------------------------------------------------------------------ drop from the palette
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(MIME_NODE_TYPE):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(MIME_NODE_TYPE):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        if not data.hasFormat(MIME_NODE_TYPE):
            super().dropEvent(event)
            return
        type_id = bytes(data.data(MIME_NODE_TYPE)).decode("utf-8")
        pos = self.mapToScene(event.position().toPoint())
        self.add_node_at(type_id, pos)
        event.acceptProposedAction()

    def add_node_at(self, type_id: str, pos: QPointF, free: bool = False) -> str | None:
        """Create a node centred horizontally on ``pos``, snapped to the grid, select it and
        keep it in view. ``free``: the nearest spot there where it overlaps no other node."""
        width, height = self._new_node_size(type_id)
        x = round((pos.x() - width / 2) / 10) * 10
        y = round((pos.y() - 20) / 10) * 10
        if free:
            rect = self.free_spot(QRectF(x, y, width, height))
            x, y = rect.x(), rect.y()
        if type_id.startswith(BLOCK_PREFIX):  # a use of one of the project's blocks
            params = {"block": type_id[len(BLOCK_PREFIX) :]}
            nid = self.canvas.doc.add_node("block", (float(x), float(y)), params)
        else:
            nid = self.canvas.doc.add_node(type_id, (float(x), float(y)))
        if nid is not None:
            self.canvas.select_nodes([nid])
            item = self.canvas.nodes.get(nid)
            if item is not None:
                self.ensureVisible(item.sceneBoundingRect(), KEEP_IN_VIEW, KEEP_IN_VIEW)
        return nid

    def add_node_here(self, type_id: str) -> str | None:
        """Add a node where the user is looking (the palette's Enter or double-click): after
        the selection along the flow when the selection is in view, else in the middle of
        the view; moved to the nearest free spot, never on top of another node."""
        visible = self.visible_scene_rect()
        width, height = self._new_node_size(type_id)
        selection = QRectF()
        for nid in self.canvas.selected_node_ids():
            item = self.canvas.nodes[nid]
            selection = selection.united(item.body_rect().translated(item.pos()))
        if not selection.isNull() and selection.intersects(visible):
            if self.canvas.flow == "TB":
                centre = QPointF(selection.center().x(), selection.bottom() + FLOW_GAP + height / 2)
            else:
                centre = QPointF(selection.right() + FLOW_GAP + width / 2, selection.center().y())
        else:
            centre = visible.center()
        return self.add_node_at(
            type_id, QPointF(centre.x(), centre.y() - height / 2 + 20), free=True
        )

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def _new_node_size(self, type_id: str) -> tuple[float, float]:
        if type_id.startswith(BLOCK_PREFIX):
            d = self.canvas.doc.graph.blocks.get(type_id[len(BLOCK_PREFIX) :])
            ins, outs = (list(d.inputs), list(d.outputs)) if d is not None else ([], [])
            return self.canvas.node_width(ins, outs), self.canvas.node_height(len(ins), len(outs))
        try:
            spec = get_spec(type_id)
        except GraphError:
            return self.canvas.node_width([], []), self.canvas.node_height(1, 1)
        ins, outs = [p.name for p in spec.inputs], [p.name for p in spec.outputs]
        return self.canvas.node_width(ins, outs), self.canvas.node_height(len(ins), len(outs))

    def free_spot(self, rect: QRectF) -> QRectF:
        """``rect`` moved by the smallest step on the grid (preferring the flow's direction)
        to where it and a margin around it overlap no node; ``rect`` itself if it is free."""
        margin = PLACE_MARGIN
        items = self.canvas.items
        for dx, dy in _offsets(self.canvas.flow != "TB"):
            spot = rect.translated(dx, dy)
            probe = spot.adjusted(-margin, -margin, margin, margin)
            if not any(isinstance(i, NodeItem) for i in items(probe, _BY_BOUNDS)):
                return spot
        return rect
