"""The project's files, as the main window's part: New, Open, Open Recent, examples, import of a
PyTorch model, Save, Save As and Export; unsaved-changes questions; autosave to a recovery folder
(never over the user's file) and the offer to restore it after a crash.

``MainWindow`` inherits these methods (``ProjectFilesMixin``); they use its document, settings,
view and status bar.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from torchcanvas.graph import Graph, GraphError, load
from torchcanvas.graph.serialize import dumps, loads
from torchcanvas.gui.project import Document

MAX_RECENT = 10


def recovery_dir() -> Path:
    root = os.environ.get("TORCHCANVAS_RECOVERY_DIR")
    path = Path(root) if root else Path.home() / ".local" / "share" / "torchcanvas" / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


def recovery_file(path: Path | None) -> Path:
    key = str(Path(path).resolve()) if path else "untitled"
    return recovery_dir() / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".json")


@contextmanager
def loading():
    """No garbage-collector passes while a project is read and drawn: what is made then lives
    as long as the document, and a pass would walk the whole heap for nothing."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class ProjectFilesMixin:
    """File, recent-file, autosave and recovery commands of ``MainWindow``."""

    # ------------------------------------------------------------------ files
    def confirm_discard(self) -> bool:
        """True when there are no unsaved changes, or the user saved or discarded them."""
        if self.doc is None or not self.doc.modified:
            return True
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        return QMessageBox.question(
            self,
            "Unsaved changes",
            "Save the changes to this project first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )

    def ask_restore(self, saved_at: float) -> bool:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved_at))
        return (
            QMessageBox.question(
                self,
                "Recover unsaved work",
                f"torchcanvas closed without saving changes to this project ({when}). "
                "Restore them?",
            )
            == QMessageBox.StandardButton.Yes
        )

    def new_file(self) -> None:
        if self.confirm_discard():
            self._discard_recovery()
            self.example_name = None
            self.set_document(Document(Graph()))
            self._offer_recovery(None)

    def ask_open(self) -> None:
        start = str(self.doc.project_dir or Path.home())
        name, _ = QFileDialog.getOpenFileName(
            self, "Open project", start, "torchcanvas projects (*.json)"
        )
        if name:
            self.open_file(Path(name))

    def open_file(self, path: Path) -> bool:
        if not self.confirm_discard():
            return False
        try:
            with loading():
                graph = load(path)
        except (OSError, GraphError) as exc:
            self.show_error("Cannot open project", f"{path}: {exc}")
            return False
        with loading():
            self._discard_recovery()
            self.example_name = None
            self.set_document(Document(graph, Path(path)))
        self._remember_recent(Path(path))
        self._offer_recovery(Path(path))
        code = sum(1 for n in graph.nodes() if n.kind == "code")
        if code:  # opening never runs it; compiling does: say so before anyone trains
            self.show_message(
                f"This project has {code} code node{'s' if code > 1 else ''}: their Python "
                "code (shown in the Inspector) runs when you train or export the model."
            )
        return True

    def open_example(self, path: Path) -> bool:
        """An example opens as a new, unsaved project, so the bundled file is never changed."""
        if not self.confirm_discard():
            return False
        try:
            with loading():
                graph = load(path)
        except (OSError, GraphError) as exc:
            self.show_error("Cannot open example", f"{path}: {exc}")
            return False
        with loading():
            self._discard_recovery()
            self.example_name = path.stem
            doc = Document(graph)
            doc.unsaved_name = f"example-{path.stem}"
            self.set_document(doc)
        return True

    def import_model(self) -> bool:
        """File → Import PyTorch model…: the traced model opens as a new, unsaved project."""
        from torchcanvas.gui.dialogs.import_dialog import ImportDialog

        if not self.confirm_discard():
            return False
        dialog = ImportDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.result_value is None:
            return False
        result = dialog.result_value
        self._discard_recovery()
        self.example_name = self.imported_name = Path(dialog.spec.rpartition(":")[2]).stem
        doc = Document(result.graph)
        doc.unsaved_name = f"imported-{self.example_name}"
        self.set_document(doc)
        QTimer.singleShot(0, self._show_start)  # after set_document's fit_all
        self.show_message(
            " · ".join([f"Imported {dialog.spec}: {len(result.graph)} nodes", *result.notes])
        )
        return True

    def _show_start(self) -> None:
        """A large imported graph is unreadable fitted whole: show its start at full size."""
        graph = self.doc.graph
        if not len(graph):
            return
        rect = self.scene.nodes[graph.topological_order()[0]].sceneBoundingRect()
        self.view.resetTransform()
        half = self.view.viewport().rect()
        if self.scene.flow == "LR":
            self.view.centerOn(rect.left() + half.width() / 2 - 40, rect.center().y())
        else:
            self.view.centerOn(rect.center().x(), rect.top() + half.height() / 2 - 40)

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        try:
            self.doc.save()
        except OSError as exc:
            self.show_error("Cannot save", str(exc))
            return False
        self._discard_recovery()
        self.show_message(f"Saved {self.doc.path}")
        return True

    def save_as(self) -> bool:
        start = str(self.doc.path or Path.home() / f"{self.example_name or 'untitled'}.json")
        name, _ = QFileDialog.getSaveFileName(
            self, "Save project", start, "torchcanvas projects (*.json)"
        )
        if not name:
            return False
        path = Path(name) if name.endswith(".json") else Path(name + ".json")
        old_recovery = recovery_file(self.doc.path)
        try:
            self.doc.save(path)
        except OSError as exc:
            self.show_error("Cannot save", str(exc))
            return False
        old_recovery.unlink(missing_ok=True)
        self.example_name = None
        self._update_title()
        self._remember_recent(path)
        return True

    def export_project(self) -> None:
        """File → Export…: the export dialog, with this project's runs to take weights from."""
        from torchcanvas.gui.dialogs.export_dialog import ExportDialog, default_export_folder
        from torchcanvas.runtime.compile import compile_project

        doc = self.doc
        title = doc.path.stem if doc.path else (self.example_name or "")
        dialog = ExportDialog(
            lambda: compile_project(doc.graph, doc.project_dir, title=title),
            self.runs.runs,
            doc.graph.settings["seed"],
            folder=default_export_folder(doc.path, self.example_name),
            parent=self,
        )
        dialog.nodeRequested.connect(self.focus_node)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _remember_recent(self, path: Path) -> None:
        recent = [p for p in self._recent() if p != str(path.resolve())]
        recent.insert(0, str(path.resolve()))
        self.settings.setValue("recent", json.dumps(recent[:MAX_RECENT]))

    def _recent(self) -> list[str]:
        try:
            value = json.loads(self.settings.value("recent", "[]"))
        except (TypeError, ValueError):
            return []
        return [v for v in value if isinstance(v, str)]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in self._recent() if Path(p).exists()]
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for p in recent:
            act = self.recent_menu.addAction(Path(p).name)
            act.setToolTip(p)
            act.triggered.connect(lambda _=False, p=p: self.open_file(Path(p)))

    # ------------------------------------------------------------------ autosave and recovery
    def autosave(self) -> bool:
        """Write unsaved changes to the recovery folder (never over the user's file)."""
        if self.doc is None or not self.doc.modified:
            return False
        data = {
            "path": str(self.doc.path) if self.doc.path else None,
            "saved_at": time.time(),
            "project": json.loads(dumps(self.doc.graph)),
        }
        target = recovery_file(self.doc.path)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(target)
        return True

    def _discard_recovery(self) -> None:
        if self.doc is not None:
            recovery_file(self.doc.path).unlink(missing_ok=True)

    def _offer_recovery(self, path: Path | None) -> bool:
        target = recovery_file(path)
        if not target.exists():
            return False
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
            project = json.loads(dumps(loads(json.dumps(data["project"]))))  # checked, canonical
            saved_at = float(data["saved_at"])
        except (OSError, ValueError, KeyError, TypeError, GraphError):
            target.unlink(missing_ok=True)
            return False
        if path is not None and path.exists() and path.stat().st_mtime > saved_at:
            target.unlink(missing_ok=True)  # the file was saved after the autosave
            return False
        if not self.ask_restore(saved_at):
            target.unlink(missing_ok=True)
            return False
        self.doc.change("Restore unsaved work", lambda g: g.restore(project))
        self.show_message("Restored unsaved work")
        return True

    def offer_startup_recovery(self) -> bool:
        """After a crash with an untitled project, offer it back."""
        return self._offer_recovery(None)
