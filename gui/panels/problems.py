"""The problems dock: every shape-inference error and warning, plus why the project cannot train
yet; a click on a row selects its node on the canvas."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.codegen.emit import CodegenError
from torchcanvas.graph.document import duplicate_labels
from torchcanvas.graph.errors import quoted
from torchcanvas.gui import theme

NODE_ROLE = Qt.ItemDataRole.UserRole
SEVERITY_ROLE = Qt.ItemDataRole.UserRole + 1
INNER_ROLE = Qt.ItemDataRole.UserRole + 2
OK_COLOR = "#16a34a"


@dataclass(frozen=True)
class Row:
    severity: str  # "error" or "warning"
    node_id: str | None
    label: str  # the node's label, "" when the problem concerns no node
    message: str  # without the leading "label: "
    inner: tuple[str, str] | None = None  # inside a block: (its definition, the node there)


def problem_message(graph, node_id: str | None, message: str) -> str:
    """``message``, led by the node's label unless it already is."""
    if node_id is None or node_id not in graph:
        return message
    label = graph.node(node_id).label
    return message if message.startswith(f"{label}:") else f"{label}: {message}"


def _strip_label(message: str, label: str) -> str:
    if label and message.startswith(f"{label}:"):
        return message[len(label) + 1 :].strip()
    return message


def _duplicate_label_rows(graph) -> list[Row]:
    """A warning on every node whose label another node has too, naming the others: a file
    made elsewhere may hold one twice (the editor refuses it)."""
    rows = []
    for label, ids in duplicate_labels(graph).items():
        for nid in ids:
            mine = graph.node(nid)
            others = []
            for other in ids:
                if other != nid:
                    node = graph.node(other)
                    kind = node.spec.title if node.spec is not None else node.type_id
                    same = node.type_id == mine.type_id
                    others.append(f"{'another' if same else 'the'} {kind} node")
            rows.append(
                Row(
                    "warning",
                    nid,
                    label,
                    f"{quoted(label)} is also the label of {', '.join(others)}; each node "
                    "needs its own label: rename one",
                )
            )
    return rows


def collect_rows(graph, result) -> list[Row]:
    """The problems to list for ``result``: errors first, then warnings, then training."""
    rows: list[Row] = []
    for p in result.problems:
        label = graph.node(p.node_id).label if p.node_id in graph else (p.node_id or "")
        rows.append(Row(p.severity, p.node_id, label, _strip_label(p.message, label), p.inner))
    rows.extend(_duplicate_label_rows(graph))
    rows.sort(key=lambda r: r.severity != "error")  # stable: keeps graph order within each
    if result.ok:
        from torchcanvas.codegen.plan import training_plan

        try:
            training_plan(graph)
        except CodegenError as exc:
            nid = exc.node_id if exc.node_id in graph else None
            label = graph.node(nid).label if nid else ""
            rows.append(
                Row("warning", nid, label, f"cannot train yet: {_strip_label(str(exc), label)}")
            )
    return rows


def summary_text(rows: list[Row]) -> str:
    errors = sum(r.severity == "error" for r in rows)
    warnings = len(rows) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return ", ".join(parts) or "No problems"


def severity_icon(kind: str, size: int = 16) -> QIcon:
    """A round badge: red cross (error), amber bang (warning), green tick (ok)."""
    t = theme.current()
    color = {"error": t.error, "warning": t.warning}.get(kind, QColor(OK_COLOR))
    ratio = 2
    pix = QPixmap(size * ratio, size * ratio)
    pix.setDevicePixelRatio(ratio)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    r = QRectF(1.5, 1.5, size - 3, size - 3)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawEllipse(r)
    pen = QPen(
        QColor("white"),
        1.8,
        Qt.PenStyle.SolidLine,
        Qt.PenCapStyle.RoundCap,
        Qt.PenJoinStyle.RoundJoin,
    )
    p.setPen(pen)
    c = r.center()
    k = size * 0.18
    if kind == "error":
        p.drawLine(QPointF(c.x() - k, c.y() - k), QPointF(c.x() + k, c.y() + k))
        p.drawLine(QPointF(c.x() - k, c.y() + k), QPointF(c.x() + k, c.y() - k))
    elif kind == "warning":
        p.drawLine(QPointF(c.x(), c.y() - k * 1.5), QPointF(c.x(), c.y() + k * 0.3))
        p.drawPoint(QPointF(c.x(), c.y() + k * 1.4))
    else:
        path = QPainterPath(QPointF(c.x() - k * 1.2, c.y()))
        path.lineTo(QPointF(c.x() - k * 0.2, c.y() + k))
        path.lineTo(QPointF(c.x() + k * 1.3, c.y() - k))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
    p.end()
    return QIcon(pix)


class _WrapDelegate(QStyledItemDelegate):
    """Rows tall enough for the message wrapped to its column's width."""

    def __init__(self, tree: QTreeWidget):
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        if index.column() != 1:
            return size
        width = self.tree.header().sectionSize(1) - 12
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        if width <= 20 or not text:
            return size
        rect = option.fontMetrics.boundingRect(
            QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap, text
        )
        return QSize(size.width(), max(size.height(), rect.height() + 6))


class ProblemsWidget(QWidget):
    """The latest problems of ``doc``; ``nodeClicked`` carries the node id of a clicked row."""

    nodeClicked = Signal(str)
    innerClicked = Signal(str, str)  # a problem inside a block: (block, node in its body)

    def __init__(self, doc, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.rows: list[Row] = []
        self.checking = False

        header = QHBoxLayout()
        header.setContentsMargins(6, 3, 6, 3)
        header.setSpacing(5)
        self.summary_icon = QLabel()
        self.summary_label = QLabel()
        font = QFont(self.summary_label.font())
        font.setBold(True)
        self.summary_label.setFont(font)
        self.status = QLabel()
        self.status.setEnabled(False)  # greyed: a quiet hint
        header.addWidget(self.summary_icon)
        header.addWidget(self.summary_label)
        header.addStretch(1)
        header.addWidget(self.status)

        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Node", "Problem"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setItemDelegate(_WrapDelegate(self.tree))
        head = self.tree.header()
        head.setStretchLastSection(True)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        head.resizeSection(0, 150)
        # row heights follow the message column's width (wrapped messages)
        head.sectionResized.connect(lambda *_: self.tree.scheduleDelayedItemsLayout())
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.tree, 1)

        doc.shapesUpdated.connect(self._shapes_updated)
        doc.shapesPending.connect(self._shapes_pending)
        if doc.shapes_ready:
            self._shapes_updated(doc.shapes)
        else:
            self._shapes_pending()
            self._show()

    # ------------------------------------------------------------------ public
    def summary(self) -> str:
        """``"2 errors, 1 warning"``, or ``"No problems"``."""
        return summary_text(self.rows)

    def row_count(self) -> int:
        """Problem rows shown (the "No problems" row does not count)."""
        return len(self.rows)

    def item(self, index: int) -> QTreeWidgetItem:
        return self.tree.topLevelItem(index)

    # ------------------------------------------------------------------ updates
    def _shapes_updated(self, result) -> None:
        self.rows = collect_rows(self.doc.graph, result)
        self.checking = False
        self.status.setText("")
        self._show()

    def _shapes_pending(self) -> None:
        self.checking = True
        self.status.setText("checking…")

    def _show(self) -> None:
        t = theme.current()
        self.tree.clear()
        muted = self.palette().color(self.palette().ColorRole.PlaceholderText)
        for row in self.rows:
            color = t.error if row.severity == "error" else t.warning
            item = QTreeWidgetItem([row.label or "—", row.message])
            item.setIcon(0, severity_icon(row.severity))
            item.setForeground(0, color if row.label else muted)
            item.setData(0, NODE_ROLE, row.node_id)
            item.setData(0, SEVERITY_ROLE, row.severity)
            item.setData(0, INNER_ROLE, list(row.inner) if row.inner else None)
            where = f" ({row.label})" if row.label else ""
            item.setToolTip(0, f"{row.severity}{where}")
            item.setToolTip(1, row.message)
            self.tree.addTopLevelItem(item)
        if not self.rows:
            text = "Checking…" if self.doc.shapes is None else "No problems"
            item = QTreeWidgetItem(["", text])
            item.setForeground(1, muted)
            if self.doc.shapes is not None:
                item.setIcon(0, severity_icon("ok"))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item.setFirstColumnSpanned(True)
            item.setText(0, text)
            item.setText(1, "")
            item.setForeground(0, muted)
            self.tree.addTopLevelItem(item)
        self.summary_label.setText(self.summary() if self.doc.shapes is not None else "")
        errors = any(r.severity == "error" for r in self.rows)
        kind = "error" if errors else "warning" if self.rows else "ok"
        self.summary_icon.setPixmap(severity_icon(kind).pixmap(16, 16))
        self.summary_icon.setVisible(self.doc.shapes is not None)
        if self.rows:
            color = t.error if errors else t.warning
            self.summary_label.setStyleSheet(f"color: {color.name()}")
        else:
            self.summary_label.setStyleSheet("")

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        inner = item.data(0, INNER_ROLE)
        if inner:  # inside a block: open its body at that node
            self.innerClicked.emit(inner[0], inner[1])
            return
        node_id = item.data(0, NODE_ROLE)
        if node_id:
            self.nodeClicked.emit(node_id)
