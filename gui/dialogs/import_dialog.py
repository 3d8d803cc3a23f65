"""File → Import PyTorch model…: pick a model, trace it onto a new canvas.

Three ways to name the model: a torchvision architecture (untrained, nothing downloads), a class
or function in a Python file, or ``package.module:name``. Importing runs the model's code once on
a random batch of the given input shape; a failure (data-dependent control flow, a wrong shape)
is shown in the dialog, naming the file and line, and the dialog stays open to try again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

COMMON_MODELS = (
    "resnet18",
    "resnet50",
    "vgg11",
    "alexnet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "squeezenet1_0",
    "densenet121",
    "efficientnet_b0",
)


class ImportDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import PyTorch model")
        self.setMinimumWidth(560)
        self.result_value: Any = None  # the ImportResult once an import succeeded
        self.spec = ""

        self.tabs = QTabWidget()
        # torchvision
        tv = QWidget()
        tv_form = QFormLayout(tv)
        self.tv_name = QComboBox()
        self.tv_name.setEditable(True)
        self.tv_name.addItems(COMMON_MODELS)
        self.tv_name.setToolTip(
            "A torchvision classification model; it starts untrained (no weights are downloaded)"
        )
        tv_form.addRow("Model", self.tv_name)
        tv_form.addRow(_note("Untrained (weights=None): nothing is downloaded."))
        self.tabs.addTab(tv, "torchvision")
        # a Python file
        file_tab = QWidget()
        file_form = QFormLayout(file_tab)
        row = QHBoxLayout()
        self.file_path = QLineEdit()
        self.file_path.setPlaceholderText("path/to/model.py")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row.addWidget(self.file_path, 1)
        row.addWidget(browse)
        file_form.addRow("File", row)
        self.class_name = QLineEdit()
        self.class_name.setPlaceholderText("Net")
        file_form.addRow("Class or function", self.class_name)
        file_form.addRow(_note("Importing runs the file's code."))
        self.tabs.addTab(file_tab, "Python file")
        # module:callable
        mod_tab = QWidget()
        mod_form = QFormLayout(mod_tab)
        self.module_spec = QLineEdit()
        self.module_spec.setPlaceholderText("package.module:build_model")
        mod_form.addRow("Module:name", self.module_spec)
        mod_form.addRow(_note("An installed module, then a colon and the class or function."))
        self.tabs.addTab(mod_tab, "Module")

        form = QFormLayout()
        self.input_shape = QLineEdit("3, 64, 64")
        self.input_shape.setToolTip("Shape of one input sample, without the batch dim")
        form.addRow("Input shape", self.input_shape)
        self.args = QLineEdit()
        self.args.setPlaceholderText('{"num_classes": 10}  (optional)')
        self.args.setToolTip("Keyword arguments for the class or function, as a JSON object")
        form.addRow("Arguments", self.args)

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("color: #dc2626;")
        self.error.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setDefault(True)
        buttons.accepted.connect(self.do_import)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    # ------------------------------------------------------------------ inputs
    def browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self,
            "Python file with the model",
            self.file_path.text() or str(Path.home()),
            "Python files (*.py)",
        )
        if name:
            self.file_path.setText(name)

    def current_spec(self) -> str:
        """The SPEC the inputs describe; raises ValueError naming what is missing."""
        tab = self.tabs.currentIndex()
        if tab == 0:
            name = self.tv_name.currentText().strip()
            if not name:
                raise ValueError("Choose a torchvision model.")
            return name
        if tab == 1:
            path, cls = self.file_path.text().strip(), self.class_name.text().strip()
            if not path:
                raise ValueError("Choose the Python file.")
            if not cls:
                raise ValueError("Enter the class or function that builds the model.")
            return f"{path}:{cls}"
        spec = self.module_spec.text().strip()
        if ":" not in spec:
            raise ValueError("Enter package.module:name (a colon before the class or function).")
        return spec

    def shape(self) -> tuple[int, ...]:
        text = self.input_shape.text().replace("x", ",").replace("×", ",")
        try:
            dims = tuple(int(d) for d in text.split(",") if d.strip())
        except ValueError:
            raise ValueError(
                f"Input shape {self.input_shape.text()!r}: use whole numbers such as 3, 64, 64."
            ) from None
        if not dims or min(dims) < 1:
            raise ValueError("Input shape: use positive whole numbers such as 3, 64, 64.")
        return dims

    def kwargs(self) -> dict[str, Any]:
        text = self.args.text().strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Arguments are not valid JSON: {exc.msg}.") from None
        if not isinstance(value, dict):
            raise ValueError('Arguments must be a JSON object such as {"num_classes": 10}.')
        return value

    # ------------------------------------------------------------------ import
    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def do_import(self) -> bool:
        """Import what the inputs name; on success keep the result and accept."""
        try:
            spec, shape, kwargs = self.current_spec(), self.shape(), self.kwargs()
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        from torchcanvas.runtime.importer import ModelImportError, import_model

        self.error.hide()
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.result_value = import_model(spec, shape, args=kwargs)
        except ModelImportError as exc:
            self.show_error(f"Cannot import {spec}: {exc}")
            return False
        except Exception as exc:  # the model's own code can raise anything
            self.show_error(f"Cannot import {spec}: {type(exc).__name__}: {exc}")
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.spec = spec
        self.accept()
        return True


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid);")
    return label
