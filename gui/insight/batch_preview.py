"""Preview a batch: one real batch pushed through a snapshot of the graph in a background
thread (runtime.preview), shown per node: the statistics in a table, flagged nodes (dead ReLUs,
exploding or non-finite activations) marked, and for the selected node its histogram and, for
image-shaped outputs, a strip of feature maps. Below, what the data node yields after its
transforms and augmentation. Editing goes on while it runs; the result belongs to the graph as
it was when asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QThread, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGraphicsSimpleTextItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.document import Graph
from torchcanvas.gui import theme
from torchcanvas.gui.insight.data_view import gray_pixmap, rgb_pixmap
from torchcanvas.gui.training.plots import theme_plot

COLUMNS = ("Node", "Shape", "Mean", "Std", "Min", "Max", "Zeros", "Flags")
FLAG_COLOR = "#dc2626"
SAMPLES = 8
STALE_NOTE = " (the graph has changed since: preview again to update)"
STALE_OPACITY = 0.4


class PreviewJob(QThread):
    """Runs the batch preview and the data node's samples; never touches widgets."""

    succeeded = Signal(object, object)  # BatchPreview, DataSamples or None
    failed = Signal(str, object)

    def __init__(self, graph: Graph, project_dir: Path | None):
        super().__init__()
        self.setObjectName("batch preview")
        self.graph = graph.copy()
        self.project_dir = project_dir

    def run(self) -> None:
        from torchcanvas.runtime.compile import CompileError, compile_project
        from torchcanvas.runtime.data import DataError
        from torchcanvas.runtime.preview import PreviewError, data_samples, preview_batch

        try:
            project = compile_project(self.graph, self.project_dir)
            result = preview_batch(project)
            samples = data_samples(
                project.plan.data, self.graph.settings, self.project_dir, n=SAMPLES
            )
        except (CompileError, PreviewError, DataError) as exc:
            self.failed.emit(str(exc), exc.node_id)
        except Exception as exc:  # a user's data or code node can raise anything
            self.failed.emit(f"{type(exc).__name__}: {exc}", None)
        else:
            self.succeeded.emit(result, samples)


class BatchPreviewPanel(QWidget):
    """The Batch Preview dock's contents."""

    nodeActivated = Signal(str)  # a node id the user picked in the table
    previewed = Signal(object)  # the BatchPreview shown

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = None
        self.job: PreviewJob | None = None
        self.result = None
        self.samples = None
        self.stale = False  # the graph changed after the batch shown was asked for
        self._edited_since_asked = False
        self._row_keys: list[str] = []

        self.run_button = QPushButton("Preview a Batch")
        self.run_button.setToolTip("Push one training batch through the graph as it is now")
        self.run_button.clicked.connect(self.start)
        self.status = QLabel("")
        self.status.setObjectName("previewStatus")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.status, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("previewTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selected)

        self.hist = pg.PlotWidget()
        self.hist.setObjectName("previewHistogram")
        self.hist.setMinimumHeight(130)
        self.hist.setMaximumHeight(180)
        self.hist.setMouseEnabled(False, False)
        self.hist.hideButtons()
        theme_plot(self.hist)
        self.bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=theme.CATEGORY_COLORS["Data"])
        self.hist.addItem(self.bars)
        self.maps = QLabel()
        self.maps.setObjectName("previewMaps")
        self.maps_row = QHBoxLayout()
        self.maps_box = QWidget()
        self.maps_box.setLayout(self.maps_row)
        self.data_title = QLabel("")
        self.data_box = QWidget()
        self.data_row = QHBoxLayout(self.data_box)
        self.data_row.setContentsMargins(0, 0, 0, 0)
        self.data_text = QLabel("")
        self.data_text.setWordWrap(True)
        self.data_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        detail = QWidget()
        lay = QVBoxLayout(detail)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.hist)
        lay.addWidget(self.maps_box)
        lay.addWidget(self.data_title)
        lay.addWidget(self.data_box)
        lay.addWidget(self.data_text)
        lay.addStretch(1)
        # the histogram, feature maps and samples scroll in a narrow dock, not cut at its edge
        self.detail_scroll = QScrollArea()
        self.detail_scroll.setObjectName("previewDetail")
        self.detail_scroll.setWidgetResizable(True)
        self.detail_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.detail_scroll.setWidget(detail)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail_scroll)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    def set_document(self, doc) -> None:
        self.doc = doc

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def start(self) -> bool:
        """Preview a batch of the graph as it is now (False when one is already running)."""
        if self.running or self.doc is None:
            return False
        self.job = PreviewJob(self.doc.graph, self.doc.project_dir)
        self.job.succeeded.connect(self._succeeded)
        self.job.failed.connect(self._failed)
        self.job.finished.connect(lambda: self.run_button.setEnabled(True))
        self.run_button.setEnabled(False)
        self._edited_since_asked = False
        self.status.setText("Pushing a batch through the graph…")
        self.job.start()
        return True

    def graph_edited(self) -> None:
        """The graph changed: what is shown (or on its way) is of the graph before."""
        self._edited_since_asked = True
        if self.result is not None and not self.stale:
            self.stale = True
            self.status.setText(self.status.text() + STALE_NOTE)

    def _failed(self, message: str, node_id) -> None:
        self.status.setText(f"Preview failed: {message}")

    def _succeeded(self, result, samples) -> None:
        self.result, self.samples = result, samples
        self.stale = self._edited_since_asked
        flagged = sum(1 for s in result.nodes.values() if s.flags)
        loss = f", loss {result.loss:.4g}" if result.loss is not None else ""
        self.status.setText(
            f"{result.batch_size} samples, {len(result.nodes)} nodes{loss}"
            + (f"; {flagged} flagged" if flagged else "")
            + (STALE_NOTE if self.stale else "")
        )
        self.table.setRowCount(0)
        self._row_keys = list(result.nodes)
        self.table.setRowCount(len(self._row_keys))
        for row, key in enumerate(self._row_keys):
            s = result.nodes[key]
            values = (
                s.label,
                "×".join(str(d) for d in s.shape),
                f"{s.mean:.4g}",
                f"{s.std:.4g}",
                f"{s.min:.4g}",
                f"{s.max:.4g}",
                f"{100 * s.zeros:.1f}%",
                ", ".join(s.flags),
            )
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if s.flags:
                    item.setForeground(QColor(FLAG_COLOR))
                item.setToolTip(self._tooltip(s))
                self.table.setItem(row, col, item)
        self._show_samples(samples)
        if self._row_keys:
            self.table.selectRow(0)
        self.previewed.emit(result)

    @staticmethod
    def _tooltip(s) -> str:
        lines = [f"{s.label} ({s.type_id}) {s.dtype}"]
        if s.dead is not None:
            lines.append(f"{100 * s.dead:.0f}% of channels/units zero for the whole batch")
        if "exploding" in s.flags:
            lines.append("activations are very large: normalise the data or lower the lr")
        if s.nonfinite:
            lines.append(f"{s.nonfinite} values are NaN or infinite")
        return "\n".join(lines)

    def select_node(self, node_id: str) -> bool:
        if node_id not in self._row_keys:
            return False
        self.table.selectRow(self._row_keys.index(node_id))
        return True

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.result is None:
            return
        s = self.result.nodes[self._row_keys[rows[0].row()]]
        lo, hi = s.min, s.max
        width = (hi - lo) / len(s.hist) if hi > lo else 1.0
        xs = lo + width * (np.arange(len(s.hist)) + 0.5)
        self.bars.setOpts(x=xs, height=np.array(s.hist, dtype=float), width=width * 0.9)
        self.hist.setTitle(
            f"{s.label}: values in the batch", color=theme.current().node_text.name()
        )
        while self.maps_row.count():
            widget = self.maps_row.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        if s.feature_maps is not None:
            for k, fmap in enumerate(s.feature_maps):
                label = QLabel()
                label.setPixmap(gray_pixmap(fmap))
                label.setToolTip(f"{s.label}: channel {k} of the first sample")
                self.maps_row.addWidget(label)
            self.maps_row.addStretch(1)
        self.maps_box.setVisible(s.feature_maps is not None)
        self.nodeActivated.emit(s.node_id)

    def _show_samples(self, samples) -> None:
        while self.data_row.count():
            widget = self.data_row.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.data_text.setText("")
        if samples is None:
            self.data_title.setText("")
            return
        self.data_title.setText(
            "What the data node yields for training, after its transforms and augmentation:"
        )
        if samples.kind == "image":
            for x, label in zip(samples.inputs, samples.labels, strict=True):
                cell = QLabel()
                cell.setPixmap(rgb_pixmap(x))
                cell.setToolTip(label)
                box = QVBoxLayout()
                holder = QWidget()
                holder.setLayout(box)
                box.setContentsMargins(0, 0, 0, 0)
                box.addWidget(cell)
                box.addWidget(QLabel(label))
                self.data_row.addWidget(holder)
            self.data_row.addStretch(1)
        elif samples.kind == "table":
            names = samples.feature_names
            rows = [
                ", ".join(f"{n}={v:.3g}" for n, v in zip(names, x, strict=True)) + f" → {y}"
                for x, y in zip(samples.inputs, samples.labels, strict=True)
            ]
            self.data_text.setText("\n".join(rows))
        elif samples.kind == "text":
            rows = [
                f"{text!r} → {label}   [{len([t for t in toks if t != '<pad>'])} tokens]"
                for text, label, toks in zip(
                    samples.texts, samples.labels, samples.tokens, strict=True
                )
            ]
            self.data_text.setText("\n".join(rows))
        else:
            shapes = ", ".join(str(list(x.shape)) for x in samples.inputs)
            self.data_text.setText(f"samples of shape {shapes}")

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.wait()


class StatsBadge(QGraphicsSimpleTextItem):
    """A node's batch statistics drawn beside it on the canvas (a child of the node
    item: it moves with the node and goes with it); red when the node is flagged."""

    def __init__(self, node_item, stats) -> None:
        super().__init__(node_item)
        self.node_id = stats.node_id
        self.flags = list(stats.flags)
        text = f"μ {stats.mean:.3g}  σ {stats.std:.3g}\nzeros {100 * stats.zeros:.0f}%"
        if stats.flags:
            text += "\n⚠ " + ", ".join(stats.flags)
        self.setText(text)
        look = theme.current()
        color = look.error if stats.flags else look.node_subtext
        self.setBrush(color)
        font = self.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        self.setFont(font)
        self.setToolTip(BatchPreviewPanel._tooltip(stats))
        self.setZValue(5)
        self.stale = False
        body = node_item.body_rect()
        self.setPos(body.right() + 8, body.top())
        # the canvas colour behind the text: a wire passing by does not run through it
        self.backdrop = QColor(look.background)
        self.backdrop.setAlpha(230)

    BACKDROP_MARGIN = 2.0

    def boundingRect(self) -> QRectF:
        m = self.BACKDROP_MARGIN
        return super().boundingRect().adjusted(-m, -m, m, m)

    def paint(self, painter, option, widget=None) -> None:
        painter.fillRect(self.boundingRect(), self.backdrop)
        super().paint(painter, option, widget)

    def mark_stale(self) -> None:
        """Measured on the graph before an edit: faded, and says so, until the next preview."""
        if self.stale:
            return
        self.stale = True
        self.setOpacity(STALE_OPACITY)
        self.setText("stale · " + self.text())
        self.setToolTip(
            "Measured before the last edit of the graph: Run → Preview a Batch (F7) again\n\n"
            + self.toolTip()
        )


def mark_nodes(scene, result) -> list[StatsBadge]:
    """Badges on the canvas for every node of ``result`` still on it (old ones removed)."""
    clear_marks(scene)
    badges = []
    for key, stats in result.nodes.items():
        if ":" in key:  # a second output of the same node: the first one speaks for it
            continue
        item = scene.nodes.get(stats.node_id)
        if item is not None:
            badges.append(StatsBadge(item, stats))
    return badges


def badges(scene) -> list[StatsBadge]:
    return [
        child
        for item in scene.nodes.values()
        for child in item.childItems()
        if isinstance(child, StatsBadge)
    ]


def mark_stale(scene) -> None:
    """The graph changed: every badge on the canvas is of the graph before."""
    for badge in badges(scene):
        badge.mark_stale()


def clear_marks(scene) -> None:
    for item in scene.nodes.values():
        for child in item.childItems():
            if isinstance(child, StatsBadge):
                scene.removeItem(child)
