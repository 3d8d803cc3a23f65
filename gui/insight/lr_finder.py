"""The learning-rate finder dialog: the range test (runtime.lr_finder) on a snapshot of the
graph in a background thread, its loss-against-lr curve drawn as it comes, and the suggested
rate applied to the optimizer as one undoable edit."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.document import Graph
from torchcanvas.gui import theme
from torchcanvas.gui.commands import SetParam
from torchcanvas.gui.training.plots import theme_plot

LOSS_COLOR = theme.CATEGORY_COLORS["Data"]
SUGGESTION_COLOR = theme.CATEGORY_COLORS["Layers"]
CURRENT_COLOR = theme.CATEGORY_COLORS["Optimizers"]


class FinderJob(QThread):
    """Runs the range test on a graph snapshot; never touches widgets."""

    progressed = Signal(int, float, float)  # step, lr, smoothed loss
    succeeded = Signal(object)  # LRFinderResult
    failed = Signal(str, object)  # message, node id

    def __init__(self, graph: Graph, project_dir: Path | None, steps: int):
        super().__init__()
        self.setObjectName("lr finder")
        self.graph = graph.copy()
        self.project_dir = project_dir
        self.steps = steps
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def _progress(self, step: int, lr: float, loss: float) -> bool:
        self.progressed.emit(step, lr, loss)
        return not self._cancel

    def run(self) -> None:
        from torchcanvas.runtime.compile import CompileError, compile_project
        from torchcanvas.runtime.data import DataError
        from torchcanvas.runtime.lr_finder import LRFinderError, find_lr

        try:
            project = compile_project(self.graph, self.project_dir)
            result = find_lr(project, steps=self.steps, progress=self._progress)
        except (CompileError, LRFinderError, DataError) as exc:
            self.failed.emit(str(exc), exc.node_id)
        except Exception as exc:  # a user's data or code node can raise anything
            self.failed.emit(f"{type(exc).__name__}: {exc}", None)
        else:
            self.succeeded.emit(result)


class LRFinderDialog(QDialog):
    """Run the range test for ``doc``'s project and apply its suggestion."""

    applied = Signal(float)

    def __init__(self, doc, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Learning-Rate Finder")
        self.doc = doc
        self.job: FinderJob | None = None
        self.result = None
        self._lrs: list[float] = []
        self._losses: list[float] = []

        intro = QLabel(
            "Trains a copy of the model for a few steps while the learning rate grows from "
            "1e-7 to 10, and suggests the rate where the loss falls fastest. The project is "
            "not changed until you apply the suggestion."
        )
        intro.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("lrPlot")
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss (smoothed)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        theme_plot(self.plot)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(LOSS_COLOR, width=2))
        self.suggestion_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(SUGGESTION_COLOR, width=2), movable=False
        )
        self.current_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(CURRENT_COLOR, width=1, style=Qt.PenStyle.DashLine)
        )
        for line in (self.suggestion_line, self.current_line):
            line.setVisible(False)
            self.plot.addItem(line)

        self.status = QLabel("")
        self.status.setObjectName("lrStatus")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing())
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.steps = QSpinBox()
        self.steps.setRange(10, 1000)
        self.steps.setValue(100)
        self.steps.setSuffix(" steps")
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.toggle)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setEnabled(False)
        self.apply_button.setMinimumWidth(
            self.apply_button.fontMetrics().horizontalAdvance("Apply lr = 0.00000045") + 24
        )
        self.apply_button.clicked.connect(self.apply)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.steps)
        buttons.addWidget(self.run_button)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(640, 460)

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def toggle(self) -> None:
        if self.running:
            self.job.cancel()
            self.status.setText("Stopping…")
        else:
            self.start()

    def start(self) -> bool:
        if self.running:
            return False
        self.result = None
        self._lrs, self._losses = [], []
        self.curve.setData([], [])
        self.suggestion_line.setVisible(False)
        self.apply_button.setEnabled(False)
        self.apply_button.setText("Apply")
        self.job = FinderJob(self.doc.graph, self.doc.project_dir, self.steps.value())
        self.job.progressed.connect(self._progressed)
        self.job.succeeded.connect(self._succeeded)
        self.job.failed.connect(self._failed)
        self.job.finished.connect(self._ended)
        self.run_button.setText("Stop")
        self.status.setText("Running the range test…")
        self.job.start()
        return True

    def _progressed(self, step: int, lr: float, loss: float) -> None:
        self._lrs.append(lr)
        self._losses.append(loss)
        self.curve.setData(np.array(self._lrs), np.array(self._losses))
        self.status.setText(f"step {step}: lr {lr:.2e}, loss {loss:.4g}")

    def _succeeded(self, result) -> None:
        self.result = result
        self.curve.setData(np.array(result.lrs), np.array(result.losses))
        self.suggestion_line.setPos(math.log10(result.suggestion))
        self.suggestion_line.setVisible(True)
        if result.current_lr > 0:
            self.current_line.setPos(math.log10(result.current_lr))
            self.current_line.setVisible(True)
        rule = (
            "where the loss falls fastest"
            if result.rule == "steepest"
            else "a tenth of the rate at the lowest loss"
        )
        early = " The loss diverged, so the test stopped early." if result.stopped_early else ""
        self.status.setText(
            f"Suggested lr: {result.suggestion:g} ({rule}); {result.optimizer_label} now has "
            f"lr={result.current_lr:g}.{early}"
        )
        self.apply_button.setText(f"Apply lr = {result.suggestion:g}")
        self.apply_button.setEnabled(result.optimizer_id in self.doc.graph)

    def _failed(self, message: str, node_id) -> None:
        self.status.setText(f"The range test failed: {message}")

    def _ended(self) -> None:
        self.run_button.setText("Run")

    # ------------------------------------------------------------------ applying
    def apply(self) -> bool:
        """Write the suggestion into the optimizer's lr: one undoable edit."""
        result = self.result
        if result is None or result.optimizer_id not in self.doc.graph:
            return False
        command = SetParam(self.doc.graph, result.optimizer_id, "lr", result.suggestion)
        command.setText(f"Apply suggested lr {result.suggestion:g}")
        self.doc.push(command)
        self.status.setText(
            f"{result.optimizer_label}: lr set to {result.suggestion:g} (Edit → Undo to go back)."
        )
        self.apply_button.setEnabled(False)
        self.applied.emit(result.suggestion)
        return True

    def closeEvent(self, event) -> None:
        if self.running:
            self.job.cancel()
            self.job.wait()
        super().closeEvent(event)
