"""The main window: a project's layers with their shapes, the generated code, and the status."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QFontDatabase, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
)

from torchcanvas.graph import Graph, GraphError, load


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.graph: Graph | None = None
        self.path: Path | None = None
        self.setWindowTitle("torchcanvas")

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Node", "Type", "Output shape", "Params"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.code = QPlainTextEdit(readOnly=True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.code.setFont(mono)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.code)
        splitter.setSizes([700, 600])
        self.setCentralWidget(splitter)
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        self._menus()

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._ask_open)
        file_menu.addAction(open_action)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

    def _ask_open(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open project", "",
                                              "torchcanvas projects (*.json)")
        if name:
            self.open_file(Path(name))

    def open_file(self, path: Path) -> bool:
        try:
            graph = load(path)
        except (OSError, GraphError) as exc:
            self.show_error("Cannot open project", f"{path}: {exc}")
            return False
        self.graph, self.path = graph, Path(path)
        self.setWindowTitle(f"{self.path.name} — torchcanvas")
        self.refresh()
        return True

    def refresh(self) -> None:
        from torchcanvas.codegen.model import generate_model
        from torchcanvas.runtime.shapes import format_shape, infer_shapes

        graph = self.graph
        assert graph is not None
        result = infer_shapes(graph, self.path.parent if self.path else None)
        nodes = graph.nodes()
        self.table.setRowCount(len(nodes))
        for row, node in enumerate(nodes):
            shapes = [format_shape(s) for (nid, _), s in result.shapes.items() if nid == node.id]
            problems = result.errors_for(node.id)
            cells = [node.label, node.type_id,
                     ", ".join(shapes) or (problems[0].message if problems else "-"),
                     f"{result.param_counts[node.id]:,}" if node.id in result.param_counts
                     else ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if problems and problems[0].severity == "error":
                    item.setForeground(Qt.GlobalColor.red)
                    item.setToolTip(problems[0].message)
                self.table.setItem(row, col, item)
        if result.ok:
            self.code.setPlainText(generate_model(graph, result.resolved).source)
            self.status.setText(f"valid · {result.total_params:,} parameters")
        else:
            error = result.first_error()
            self.code.setPlainText(f"# cannot generate code yet:\n# {error.message}")
            self.status.setText(f"invalid: {error.message}")

    def wait_for_shapes(self) -> None:
        """Shapes are computed synchronously on open; nothing to wait for."""

    def show_error(self, title: str, message: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, parent=self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.show()
