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

import math
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QPainter,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import pyqtgraph as pg

from torchcanvas.gui.autograd.graph import (
    HEALTH_COLOURS,
    AutogradGraphView,
    AutogradScene,
    FnItem,
    fmt,
    leaf_subtitle,
)

MAX_HISTORY = 2000  # gradient-norm points kept per layer
MAX_LEGEND = 10  # the chart names its curves up to this many layers


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
        self.set_grads_every(20)
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
        legend = self.chart.addLegend(
            offset=(-5, 5),
            labelTextSize="8pt",
            labelTextColor="#202124",
            brush=pg.mkBrush(255, 255, 255, 220),  # the curves pass under it, not through it
            pen=pg.mkPen("#dadce0"),
        )
        legend.setZValue(10)
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

    def set_grads_every(self, steps: int) -> None:
        """Say in the refresh box's tooltip how often a run sends gradient norms."""
        self.every.setToolTip(
            "During training: refresh the graph every N steps (0: only when "
            f"Capture is pressed). Gradient norms are read every {steps} steps."
        )

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
