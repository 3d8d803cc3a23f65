"""File → Export…: choose a folder, where the weights come from and the formats; then see what
each format wrote, or why it could not be produced."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.gui import theme
from torchcanvas.gui.training.run_folders import RunInfo
from torchcanvas.runtime.export import (
    FORMAT_LABELS,
    FORMAT_TITLES,
    FORMATS,
    ExportError,
    ExportReport,
    export_project,
    load_weights,
)

WEIGHT_FILES = ("best.pt", "checkpoint.pt", "weights.pt")
RESULT_ROWS = 8  # the result list shows this many lines before it scrolls (grows to fit)


def default_export_folder(project_path: Path | None, name: str | None = None) -> Path:
    """Where an export goes unless the user says otherwise: ``export/`` beside a saved
    project; for an unsaved one, a folder named after it under ``~/torchcanvas-exports``."""
    if project_path is not None:
        return Path(project_path).parent / "export"
    return Path.home() / "torchcanvas-exports" / (name or "untitled")


def run_has_weights(info: RunInfo) -> bool:
    return any((info.folder / name).is_file() for name in WEIGHT_FILES)


def run_text(info: RunInfo) -> str:
    """``name — completed, 15 epochs, best val_loss 0.0812``."""
    parts = [info.status]
    if info.epochs:
        parts.append(f"{info.epochs} epoch{'s' if info.epochs != 1 else ''}")
    losses = [h.get("val_loss") for h in info.history if isinstance(h, dict)]
    losses = [v for v in losses if isinstance(v, (int, float)) and math.isfinite(v)]
    if losses:
        parts.append(f"best val_loss {min(losses):.4g}")
    started = info.started_text()
    return f"{info.name} — {', '.join(parts)}" + (f" ({started})" if started else "")


class ExportDialog(QDialog):
    """Export the project: ``compile_project`` makes the CompiledProject when Export is
    pressed (it raises the app's CompileError for a graph that cannot become a model)."""

    nodeRequested = Signal(str)  # a result concerns this canvas node
    exported = Signal(object)  # the ExportReport

    def __init__(
        self,
        compile_project: Callable[[], object],
        runs: list[RunInfo],
        seed: int,
        folder: Path | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self._compile = compile_project
        self.report: ExportReport | None = None

        layout = QVBoxLayout(self)

        # folder
        row = QHBoxLayout()
        row.addWidget(QLabel("Folder:"))
        self.folder_edit = QLineEdit(str(folder) if folder else "")
        self.folder_edit.setPlaceholderText("the folder to write (created if missing)")
        row.addWidget(self.folder_edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse_folder)
        row.addWidget(browse)
        layout.addLayout(row)

        # weights
        box = QGroupBox("Weights")
        grid = QGridLayout(box)
        self.weights_group = QButtonGroup(self)
        self.fresh_radio = QRadioButton(
            f"Fresh: untrained, initialised with the project seed ({seed})"
        )
        self.run_radio = QRadioButton("From a run:")
        self.file_radio = QRadioButton("From a file:")
        for i, button in enumerate((self.fresh_radio, self.run_radio, self.file_radio)):
            self.weights_group.addButton(button, i)
        self.run_combo = QComboBox()
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for info in runs:
            if run_has_weights(info):
                self.run_combo.addItem(run_text(info), str(info.folder))
        self.run_combo.setToolTip(
            "A run's best.pt (lowest validation loss) is used, else its last checkpoint"
        )
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("checkpoint.pt, a state_dict (.pt) or .safetensors")
        file_browse = QPushButton("Browse…")
        file_browse.clicked.connect(self.browse_file)
        grid.addWidget(self.fresh_radio, 0, 0, 1, 3)
        grid.addWidget(self.run_radio, 1, 0)
        grid.addWidget(self.run_combo, 1, 1, 1, 2)
        grid.addWidget(self.file_radio, 2, 0)
        grid.addWidget(self.file_edit, 2, 1)
        grid.addWidget(file_browse, 2, 2)
        grid.setColumnStretch(1, 1)
        has_runs = self.run_combo.count() > 0
        self.run_radio.setEnabled(has_runs)
        self.run_combo.setEnabled(has_runs)
        if not has_runs:
            self.run_combo.addItem("no run of this project has saved weights yet")
        (self.run_radio if has_runs else self.fresh_radio).setChecked(True)
        self.run_combo.activated.connect(lambda _: self.run_radio.setChecked(True))
        self.file_edit.textEdited.connect(lambda _: self.file_radio.setChecked(True))
        layout.addWidget(box)

        # formats
        box = QGroupBox("Formats")
        formats = QVBoxLayout(box)
        self.format_boxes: dict[str, QCheckBox] = {}
        for name in FORMATS:
            check = QCheckBox(FORMAT_LABELS[name])
            check.setChecked(True)
            check.toggled.connect(self._update_buttons)
            self.format_boxes[name] = check
            formats.addWidget(check)
        layout.addWidget(box)

        # results
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.results = QTextBrowser()  # wraps long reasons; selectable, so they can be copied
        self.results.setOpenLinks(False)
        self.results.anchorClicked.connect(self._link_clicked)
        self.results.hide()
        line = self.results.fontMetrics().lineSpacing()
        self.results.setMinimumHeight(RESULT_ROWS * line)
        self.rows: list[tuple[str, str]] = []  # (format title, result text), as shown
        layout.addWidget(self.results, 1)

        buttons = QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.open_button = buttons.addButton("Open Folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setEnabled(False)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.export)
        self.open_button.clicked.connect(self.open_folder)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.folder_edit.textChanged.connect(self._update_buttons)
        self._update_buttons()
        self.resize(640, 480)

    # ------------------------------------------------------------------ choices
    def formats(self) -> list[str]:
        return [name for name, check in self.format_boxes.items() if check.isChecked()]

    def weights_source(self) -> Path | None:
        """None for fresh weights, else the run folder or file chosen."""
        if self.run_radio.isChecked() and self.run_combo.currentData():
            return Path(self.run_combo.currentData())
        if self.file_radio.isChecked():
            return Path(self.file_edit.text().strip()) if self.file_edit.text().strip() else None
        return None

    def browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def browse_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self,
            "Weights",
            self.file_edit.text(),
            "Weights (*.pt *.pth *.safetensors);;All files (*)",
        )
        if name:
            self.file_edit.setText(name)
            self.file_radio.setChecked(True)

    def _update_buttons(self) -> None:
        self.export_button.setEnabled(
            bool(self.folder_edit.text().strip()) and bool(self.formats())
        )

    # ------------------------------------------------------------------ export
    def _error(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.current().error.name()};")

    def export(self) -> ExportReport | None:
        """Export with the choices made; the results show in the dialog."""
        self.results.hide()
        folder = self.folder_edit.text().strip()
        if not folder:
            self._error("Folder: choose where to export.")
            return None
        if not self.formats():
            self._error("Formats: choose at least one.")
            return None
        if self.file_radio.isChecked() and not self.file_edit.text().strip():
            self._error("Weights file: choose a checkpoint or state_dict file.")
            return None
        source = self.weights_source()
        self.status.setStyleSheet("")
        self.status.setText("Exporting…")
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        QApplication.processEvents()
        try:
            weights = load_weights(source) if source is not None else None
            project = self._compile()
            report = export_project(project, Path(folder), self.formats(), weights)
        except ExportError as exc:
            label = {"weights": "Weights", "formats": "Formats"}.get(exc.field, "Export")
            self._error(f"{label}: {exc}")
            if exc.node_id:  # the model cannot be built: show the node its code raised in
                self.nodeRequested.emit(exc.node_id)
            return None
        except OSError as exc:
            self._error(f"Folder: cannot write {folder}: {exc}")
            return None
        except Exception as exc:  # the graph cannot become a model (CompileError and kin)
            self._error(f"Cannot export: {exc}")
            node = getattr(exc, "node_id", None)
            if node:
                self.nodeRequested.emit(node)
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.show_report(report)
        self.exported.emit(report)
        return report

    def show_report(self, report: ExportReport) -> None:
        self.report = report
        failed = report.failed()
        done = len(report.results) - len(failed)
        text = f"Exported {done} of {len(report.results)} formats to {report.out_dir}"
        self.status.setText(f"{text}.\nWeights: {report.weights}.")
        self.status.setStyleSheet("" if not failed else f"color: {theme.current().warning.name()};")
        bad = theme.current().error.name()
        self.rows, html = [], ["<table cellspacing='0' cellpadding='3'>"]
        for name, result in report.results.items():
            if result.ok:
                files = ", ".join(_rel(p, report.out_dir) for p in result.files)
                text = f"✓ {files}" + (f" ({result.note})" if result.note else "")
                cell = escape(text)
            else:
                text = f"✗ {result.error}"
                cell = f"<span style='color:{bad}'>{escape(text)}</span>"
                if result.node_id:
                    cell += f" <a href='node:{escape(result.node_id)}'>show node</a>"
            self.rows.append((FORMAT_TITLES[name], text))
            html.append(f"<tr><td><b>{escape(FORMAT_TITLES[name])}</b></td><td>{cell}</td></tr>")
        self.results.setHtml("".join(html) + "</table>")
        self.results.show()
        self._fit_results()
        self.open_button.setEnabled(True)
        node = next((r.node_id for r in failed if r.node_id), None)
        if node:
            self.nodeRequested.emit(node)

    def _fit_results(self) -> None:
        """Grow the dialog so every result row shows without scrolling, as far as the
        screen allows."""
        results = self.results
        doc = results.document()
        doc.setTextWidth(results.viewport().width())
        frame = results.height() - results.viewport().height()
        need = math.ceil(doc.size().height()) + frame + 2
        grow = need - results.height()
        if grow <= 0:
            return
        screen = self.screen() or QGuiApplication.primaryScreen()
        room = screen.availableGeometry().height() - 60 if screen is not None else 10_000
        self.resize(self.width(), min(self.height() + grow, max(room, self.height())))

    def _link_clicked(self, url: QUrl) -> None:
        if url.scheme() == "node":
            self.nodeRequested.emit(url.path())

    def open_folder(self) -> bool:
        if self.report is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report.out_dir)))


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
