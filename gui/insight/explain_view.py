"""Explanations in the Results tab: for a run of a classifier, attributions of validation
samples (or the misclassified ones) with Captum, made in a background thread
(runtime.explain): image overlays (saliency, Integrated Gradients, Grad-CAM on a layer chosen
here or on the canvas), per-feature bars for tables, per-token shading for text."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt, QThread, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

METHODS = (("ig", "Integrated Gradients"), ("saliency", "Saliency"), ("gradcam", "Grad-CAM"))


class ExplainJob(QThread):
    """Loads the run and explains it; hands back plain arrays (never touches widgets)."""

    succeeded = Signal(object, object)  # Explanation, list of uint8 RGB panels (images)
    failed = Signal(str, object)

    def __init__(self, run_dir: Path, samples: int, method: str, layer, misclassified: bool):
        super().__init__()
        self.setObjectName("explain")
        self.args = (run_dir, samples, method, layer, misclassified)

    def run(self) -> None:
        from torchcanvas.runtime.data import DataError
        from torchcanvas.runtime.explain import ExplainError, explain, load_run, overlay_panel

        run_dir, samples, method, layer, misclassified = self.args
        try:
            run = load_run(run_dir)
            result = explain(run, samples, method, layer, misclassified)
            panels = (
                [
                    overlay_panel(x, a, 96)
                    for x, a in zip(result.inputs, result.attributions, strict=True)
                ]
                if result.kind == "image"
                else []
            )
        except (ExplainError, DataError) as exc:
            self.failed.emit(str(exc), exc.node_id)
        except Exception as exc:  # a user's data or code node can raise anything
            self.failed.emit(f"{type(exc).__name__}: {exc}", None)
        else:
            self.succeeded.emit(result, panels)


def rgb_pixmap(pixels: np.ndarray) -> QPixmap:
    pixels = np.ascontiguousarray(pixels)
    h, w, _ = pixels.shape
    return QPixmap.fromImage(QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class ExplainView(QWidget):
    """Pick a method, a layer and samples; see what the model looked at."""

    layerWanted = Signal()  # asks the canvas selection for a layer

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.graph = None
        self.job: ExplainJob | None = None
        self.result = None
        self.panels: list[np.ndarray] = []
        self.cells: list[QWidget] = []  # an image explanation's samples, in as many columns as fit
        self._laid_columns = 0

        self.method = QComboBox()
        for key, text in METHODS:
            self.method.addItem(text, key)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.layer = QComboBox()
        self.layer.setToolTip("Grad-CAM's layer; selecting a layer on the canvas picks it too")
        self.samples = QSpinBox()
        self.samples.setRange(1, 64)
        self.samples.setValue(8)
        self.samples.setSuffix(" samples")
        self.wrong = QCheckBox("misclassified only")
        self.button = QPushButton("Explain")
        self.button.clicked.connect(self.start)
        self.status = QLabel("Choose a run with weights in the Runs tab.")
        self.status.setObjectName("explainStatus")
        self.status.setWordWrap(True)
        controls = QHBoxLayout()
        for w in (self.method, self.layer, self.samples, self.wrong, self.button):
            controls.addWidget(w)
        controls.addStretch(1)

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.grid_host)
        self.scroll.viewport().installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.scroll, 1)
        self._method_changed()
        self.set_run(None)

    def set_run(self, run_dir: Path | None, graph=None) -> None:
        """The run to explain (its folder) and the graph it trained, for the layer list."""
        self.run_dir = run_dir
        self.graph = graph
        self.layer.clear()
        self.layer.addItem("last convolution", None)
        if graph is not None:
            from torchcanvas.codegen.model import model_nodes

            for node in model_nodes(graph):
                if node.kind == "layer":
                    self.layer.addItem(f"{node.label} ({node.type_id})", node.id)
        self.button.setEnabled(run_dir is not None)
        self.status.setText(
            f"Run {run_dir.name}: choose a method and press Explain."
            if run_dir is not None
            else "Choose a run with weights in the Runs tab."
        )

    def pick_layer(self, node_id: str) -> bool:
        """Use ``node_id`` as Grad-CAM's layer when it is one of the model's layers."""
        index = self.layer.findData(node_id)
        if index < 0:
            return False
        self.layer.setCurrentIndex(index)
        return True

    def _method_changed(self) -> None:
        self.layer.setEnabled(self.method.currentData() == "gradcam")

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def start(self) -> bool:
        if self.running or self.run_dir is None:
            return False
        method = self.method.currentData()
        layer = self.layer.currentData() if method == "gradcam" else None
        self.job = ExplainJob(
            self.run_dir, self.samples.value(), method, layer, self.wrong.isChecked()
        )
        self.job.succeeded.connect(self._succeeded)
        self.job.failed.connect(lambda message, _node: self.status.setText(message))
        self.job.finished.connect(lambda: self.button.setEnabled(True))
        self.button.setEnabled(False)
        self.status.setText("Explaining…")
        self.job.start()
        return True

    def _clear(self) -> None:
        self.cells = []
        while self.grid.count():
            widget = self.grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()

    def _succeeded(self, result, panels) -> None:
        self.result, self.panels = result, panels
        self._clear()
        name = dict(METHODS)[result.method]
        where = ""
        if result.layer and self.graph is not None and result.layer in self.graph:
            where = f" on {self.graph.node(result.layer).label}"
        self.status.setText(
            f"{name}{where}: {len(result.indices)} validation samples; the class each is "
            "explained for is the predicted one."
        )
        for k, index in enumerate(result.indices):
            caption = (
                f"val[{index}] {result.class_name(result.labels[k])} → "
                f"{result.class_name(result.predicted[k])}"
            )
            if result.kind == "image":
                if not np.any(result.attributions[k]):
                    caption += " (no positive evidence at this layer)"
                cell = QLabel()
                cell.setPixmap(rgb_pixmap(panels[k]))
                cell.setToolTip("the sample, the attribution map, and the two blended")
                text = QLabel(caption)
                box = QWidget()
                lay = QVBoxLayout(box)
                lay.setContentsMargins(2, 2, 2, 2)
                lay.addWidget(cell)
                lay.addWidget(text)
                self.cells.append(box)
            elif result.kind == "table":
                label = QLabel(caption + "<br>" + self._feature_html(result, k))
                self.grid.addWidget(label, k, 0)
            else:
                label = QLabel(caption + "<br>" + self._token_html(result, k))
                label.setWordWrap(True)
                self.grid.addWidget(label, k, 0)
        self._flow_cells()

    def columns(self) -> int:
        """How many image cells fit side by side in the scroll area's width (at least one)."""
        if not self.cells:
            return 1
        margins = self.grid.contentsMargins()
        free = self.scroll.viewport().width() - margins.left() - margins.right()
        step = self.cells[0].sizeHint().width() + max(self.grid.horizontalSpacing(), 0)
        return max(1, (free + max(self.grid.horizontalSpacing(), 0)) // step)

    def _flow_cells(self) -> None:
        """Lay the image cells out row by row in as many columns as the width takes."""
        columns = self.columns()
        for box in self.cells:
            self.grid.removeWidget(box)
        for k, box in enumerate(self.cells):
            self.grid.addWidget(box, k // columns, k % columns)
        self._laid_columns = columns

    def eventFilter(self, watched, event) -> bool:
        """The scroll area's viewport resized: as many columns as now fit."""
        if (
            event.type() == QEvent.Type.Resize
            and self.cells
            and self.columns() != self._laid_columns
        ):
            self._flow_cells()
        return super().eventFilter(watched, event)

    @staticmethod
    def _feature_html(result, k: int) -> str:
        values = result.attributions[k]
        top = max(float(np.abs(values).max()), 1e-12)
        rows = []
        for name, v in zip(result.feature_names, values, strict=True):
            width = int(120 * abs(v) / top)
            color = "#16a34a" if v >= 0 else "#dc2626"
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{v:+.3g}</td><td>"
                f"<div style='background:{color};width:{width}px'>&nbsp;</div></td></tr>"
            )
        return "<table>" + "".join(rows) + "</table>"

    @staticmethod
    def _token_html(result, k: int) -> str:
        values = result.attributions[k]
        tokens = result.tokens[k] if result.tokens else [str(int(t)) for t in result.inputs[k]]
        top = max(float(np.abs(values).max()), 1e-12)
        parts = []
        for token, v in zip(tokens, values, strict=True):
            if token == "<pad>":
                continue
            alpha = min(1.0, abs(float(v)) / top)
            rgb = "22,163,74" if v >= 0 else "220,38,38"
            parts.append(
                f"<span style='background-color:rgba({rgb},{alpha:.2f})' "
                f"title='{v:+.3g}'>{html.escape(token)}</span>"
            )
        return " ".join(parts)

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.wait()
