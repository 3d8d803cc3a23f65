"""The main window: canvas in the middle, palette left, inspector and code right, problems and
history below; menus for files, editing, view and graph. This module builds the window and
switches documents; its commands live by subject in mixins:

- ``gui/files.py`` (``ProjectFilesMixin``): files, recent files, autosave and crash recovery
- ``gui/canvas/editing.py`` (``CanvasEditingMixin``): selection, blocks in place, adding nodes,
  clipboard, collapse/expand, layout
- ``gui/training/window.py`` (``TrainingWindowMixin``): the Training and Sweep docks
- ``gui/insight/window.py`` (``InsightWindowMixin``): Explain, the lr finder, batch preview
- ``gui/menus.py`` (``MenusMixin``): actions, menus and shortcuts
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.assets import examples as bundled_examples
from torchcanvas.graph import Graph
from torchcanvas.gui.autograd.dock import AutogradDock
from torchcanvas.gui.canvas.breadcrumb import BreadcrumbBar
from torchcanvas.gui.canvas.cost import CostLegend, totals_text
from torchcanvas.gui.canvas.editing import CanvasEditingMixin
from torchcanvas.gui.canvas.palette import PaletteWidget
from torchcanvas.gui.canvas.quickadd import QuickAddPopup
from torchcanvas.gui.canvas.scene import CanvasScene
from torchcanvas.gui.canvas.startcard import StartCard
from torchcanvas.gui.canvas.view import CanvasView
from torchcanvas.gui.files import ProjectFilesMixin
from torchcanvas.gui.insight.window import InsightWindowMixin
from torchcanvas.gui.menus import MenusMixin
from torchcanvas.gui.panels.codeview import CodeView
from torchcanvas.gui.panels.inspector import InspectorWidget
from torchcanvas.gui.panels.problems import ProblemsWidget
from torchcanvas.gui.project import Document
from torchcanvas.gui.training.window import TrainingWindowMixin
from torchcanvas.runtime.cost import format_macs
from torchcanvas.runtime.text import project_text_task

if TYPE_CHECKING:
    pass

AUTOSAVE_MS = 15_000
SPARE_FALLBACK_MS = 8_000  # the spare worker starts by then even if no shapes came
BOTTOM_SHARE = 0.42  # the most of the window's height an opening bottom dock takes


def settle_heap() -> None:
    """Move every object alive now (the loaded project, its items, Qt's wrappers, torch once
    imported) out of the garbage collector's view. A full collection would otherwise walk
    them all again and again (about 0.3 s each with a 1000-node project and torch loaded);
    frozen objects are still freed by reference counting when dropped."""
    gc.freeze()


class MainWindow(
    ProjectFilesMixin,
    CanvasEditingMixin,
    TrainingWindowMixin,
    InsightWindowMixin,
    MenusMixin,
    QMainWindow,
):
    def __init__(self) -> None:
        super().__init__()
        self.doc: Document | None = None
        self.block_doc = None  # a BlockBodyDocument while a block's body is on the canvas
        self.example_name: str | None = None
        self.imported_name: str | None = None  # example_name of an imported model
        self.settings = QSettings("torchcanvas", "torchcanvas")
        self.setWindowTitle("torchcanvas")
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )

        self.palette = PaletteWidget()
        self.palette.activated.connect(self._add_from_palette)
        self.quick_add = QuickAddPopup(self)
        self._quick_add_target: tuple | None = None
        self.quick_add.chosen.connect(self._quick_add_chosen)

        area = Qt.DockWidgetArea
        self.palette_dock = self._dock("Palette", self.palette, area.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", None, Qt.DockWidgetArea.RightDockWidgetArea)
        self.code_dock = self._dock("Code", None, Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems_dock = self._dock("Problems", None, Qt.DockWidgetArea.RightDockWidgetArea)
        self.history_dock = self._dock("History", None, Qt.DockWidgetArea.RightDockWidgetArea)
        # its panel (pyqtgraph, numpy) is built when a batch is first previewed
        self.preview_dock = self._dock("Batch Preview", None, area.RightDockWidgetArea)
        self.splitDockWidget(self.inspector_dock, self.code_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.code_dock, self.problems_dock)
        self.tabifyDockWidget(self.problems_dock, self.history_dock)
        self.tabifyDockWidget(self.history_dock, self.preview_dock)
        self.preview_dock.hide()
        self.code_dock.raise_()

        self._build_training()
        self.autograd = AutogradDock(self)  # the Autograd dock (View menu)
        # Training and Autograd share the bottom as tabs: side by side, their widths added
        # up to more than a 1366 px screen and the canvas above them lost its height
        self.tabifyDockWidget(self.training_dock, self.autograd.dock)
        self.autograd.dock.visibilityChanged.connect(self._bottom_dock_shown)
        # the Sweep dock (View menu); its panel is built when first shown
        self.sweep_dock = self._dock("Sweep", None, area.BottomDockWidgetArea)
        self.tabifyDockWidget(self.autograd.dock, self.sweep_dock)
        self.sweep_dock.hide()
        self.sweep_dock.visibilityChanged.connect(self._sweep_dock_shown)

        self.message_label = QLabel()
        self.status_label = QLabel()
        self.statusBar().addWidget(self.message_label, 1)
        self.statusBar().addPermanentWidget(self.status_label)
        self._message_timer = QTimer(self, singleShot=True, interval=6000)
        self._message_timer.timeout.connect(lambda: self.message_label.setText(""))

        self._autosave_timer = QTimer(self, interval=AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start()

        self._build_actions()
        self.set_document(Document(Graph()))
        self.resize(1440, 900)
        self._sized = False
        self._spare_asked = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:  # give the canvas the room: slim docks on first show
            self._sized = True
            horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
            # the right column as wide as a line of generated code, up to a third of the window
            right = max(360, min(self.code_view.sizeHint().width(), int(self.width() * 0.34)))
            self.resizeDocks([self.palette_dock, self.inspector_dock], [220, right], horizontal)
            self.resizeDocks([self.inspector_dock, self.code_dock], [460, 340], vertical)
            # a spare training process imports torch, so Train starts at once: after the
            # document's first shapes (the shape process imports torch too; on two cores the
            # two would slow each other), or after a while if none come
            QTimer.singleShot(SPARE_FALLBACK_MS, self, self._prepare_spare)

    # ------------------------------------------------------------------ layout
    def _bottom_dock_shown(self, visible: bool) -> None:
        """A bottom dock (Training, Autograd) that opens takes at most BOTTOM_SHARE of the
        window's height, so the canvas above it stays a canvas (checked once laid out)."""
        if visible:
            QTimer.singleShot(0, self, self._fit_bottom_docks)

    def _fit_bottom_docks(self) -> None:
        docks = [
            d
            for d in (self.training_dock, self.autograd.dock, self.sweep_dock)
            if d.isVisible()
            and not d.isFloating()
            and self.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea
        ]
        if not docks:
            return
        most = int(self.height() * BOTTOM_SHARE)
        if max(d.height() for d in docks) > most:
            self.resizeDocks(docks, [most] * len(docks), Qt.Orientation.Vertical)

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}Dock")
        if widget is not None:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ------------------------------------------------------------------ training

    def _graph_edited(self, *_args) -> None:
        self._update_start_card()
        panel = self.preview_dock.widget()
        if panel is not None:  # the batch preview's figures are of the graph before
            from torchcanvas.gui.insight.batch_preview import mark_stale

            panel.graph_edited()
            mark_stale(self.scene)
        if self.training.running:
            self.run_panel.graph_edited_during_run()
        if project_text_task(self.doc.graph) != self.try_it.task:
            self._update_try_it()

    def set_document(self, doc: Document) -> None:
        """Show ``doc``; the previous document's thread is stopped."""
        self.leave_block()
        old = self.doc
        old_scene = getattr(self, "scene", None)
        self.doc = doc
        self.scene = self.root_scene = CanvasScene(doc, self)
        if hasattr(self, "view"):
            self.view.setScene(self.scene)
            self.view.canvas = self.scene
        else:
            self.view = CanvasView(self.scene, self)
            self.view.quickAddRequested.connect(self._quick_add_at)
            self.view.escapePressed.connect(self.leave_block)
            self.view.nodeMenuRequested.connect(self._node_menu_requested)
            self.breadcrumb = BreadcrumbBar()
            self.breadcrumb.rootRequested.connect(self.leave_block)
            self.breadcrumb.hide()
            central = QWidget()
            central.setObjectName("canvasArea")
            column = QVBoxLayout(central)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(0)
            column.addWidget(self.breadcrumb)
            column.addWidget(self.view, 1)
            self.setCentralWidget(central)
            self.start_card = StartCard(self.view.viewport(), bundled_examples())
            self.start_card.paletteRequested.connect(self.palette_focus)
            self.start_card.addRequested.connect(self._quick_add_mid_view)
            self.start_card.exampleRequested.connect(self.open_example)
            self.cost_legend = CostLegend(self.view.viewport())
        self._connect_scene(self.scene)
        doc.blocksChanged.connect(self._blocks_changed)
        self._blocks_changed()
        if getattr(self, "cost_action", None) is not None:  # the overlay stays as it was
            self.scene.set_cost_overlay(self.cost_action.isChecked())
        for dock in (
            self.inspector_dock,
            self.code_dock,
            self.problems_dock,
            self.history_dock,
        ):  # the previous document's widgets
            if dock.widget() is not None:
                dock.widget().deleteLater()
        self.inspector = InspectorWidget(doc)
        self.inspector_dock.setWidget(self.inspector)
        self.code_view = CodeView(doc)
        self.code_view.nodeClicked.connect(self.focus_node)
        self.code_dock.setWidget(self.code_view)
        self.problems = ProblemsWidget(doc)
        self.problems.nodeClicked.connect(self.focus_node)
        self.problems.innerClicked.connect(self.focus_inner_node)
        self.problems_dock.setWidget(self.problems)
        self.history_dock.setWidget(QUndoView(doc.undo_stack))
        doc.message.connect(self.show_message)
        doc.modifiedChanged.connect(lambda _: self._update_title())
        doc.pathChanged.connect(lambda _: self._update_title())
        doc.shapesUpdated.connect(self._shapes_updated)
        doc.shapesPending.connect(lambda: self.status_label.setText("checking shapes…"))
        self._rebind_undo(doc)
        self._update_title()
        doc.settingsChanged.connect(self._sync_flow_actions)
        self._sync_flow_actions("flow")
        self.run_panel.set_document(doc)
        if hasattr(self, "sweep_dock") and self.sweep_dock.widget() is not None:
            self.sweep_dock.widget().set_document(doc)
        self.runs.set_root(doc.runs_root())
        doc.pathChanged.connect(lambda _: self.runs.set_root(self.doc.runs_root()))
        self._update_try_it()
        doc.pathChanged.connect(lambda _: self._update_try_it())
        for signal in (
            doc.nodeAdded,
            doc.nodeRemoved,
            doc.edgeAdded,
            doc.edgeRemoved,
            doc.nodeChanged,
            doc.graphReset,
        ):
            signal.connect(self._graph_edited)
        self._update_start_card()
        self.inspector.show_nodes([])
        if hasattr(self, "autograd"):  # built after the first document
            self.autograd.document_changed()
        if hasattr(self, "message_label"):  # a message about the previous document
            self.message_label.clear()
        if hasattr(self, "_curves") and not self.training.running:
            self.run_panel.clear_run()  # its last run's message is about another project
            self._forget_run_views()
        if old is not None:
            old.close()
            old.deleteLater()
            if old_scene is not None:
                old_scene.dispose()
                old_scene.deleteLater()
        self.view.hold_until_shapes(doc)
        self._heap_settled = False
        settle_heap()
        QTimer.singleShot(0, self.view.fit_all)

    # ------------------------------------------------------------------ status
    def show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self._message_timer.start()

    def _shapes_updated(self, result) -> None:
        if not self._heap_settled:  # the first shapes: torch and the project are loaded
            self._heap_settled = True
            settle_heap()
        if self._sized and not self._spare_asked:
            QTimer.singleShot(0, self, self._prepare_spare)  # after these shapes are drawn
        if len(self.doc.graph) == 0:  # nothing to check: say so, not "valid"
            self.status_label.setText("empty canvas · add a node to start")
            return
        errors = [p for p in result.problems if p.severity == "error"]
        cost = totals_text(result)
        cost = f" · {cost}" if cost and not errors else ""
        if self.cost_legend.isVisible():
            self.cost_legend.set_total(self._legend_total(result))
        if errors:
            self.status_label.setText(
                f"⚠ {len(errors)} problem{'s' * (len(errors) > 1)} · {result.total_params:,} params"
            )
        else:
            self.status_label.setText(f"✓ valid · {result.total_params:,} params{cost}")

    def _prepare_spare(self) -> None:
        if not self._spare_asked:
            self._spare_asked = True
            self.training.prepare()

    def _update_title(self) -> None:
        doc = self.doc
        if doc.path:
            name = doc.path.name
        elif self.example_name:
            kind = "imported" if self.example_name == self.imported_name else "example"
            name = f"{self.example_name} ({kind})"
        else:
            name = "untitled"
        self.setWindowTitle(f"{name}[*] — torchcanvas")
        self.setWindowModified(doc.modified)

    def _sync_flow_actions(self, name: str) -> None:
        if name == "flow":
            for f, act in self.flow_actions.items():
                act.setChecked(f == self.doc.graph.settings["flow"])

    def _toggle_shapes(self, on: bool) -> None:
        self.scene.set_show_shapes(on)

    def set_cost_overlay(self, on: bool) -> None:
        """Colour the nodes by their share of the MACs, with a legend over the canvas."""
        if self.cost_action.isChecked() != on:
            self.cost_action.setChecked(on)
        self.scene.set_cost_overlay(on)
        self.cost_legend.set_total(self._legend_total(self.doc.shapes))
        self.cost_legend.place()
        self.cost_legend.setVisible(on)
        self.cost_legend.raise_()

    @staticmethod
    def _legend_total(result) -> str:
        if result is None or not result.activation_bytes:
            return ""
        return f"{format_macs(result.total_macs)} in all"

    # ------------------------------------------------------------------ errors and closing
    def show_error(self, title: str, message: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, parent=self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.show()
        self.show_message(message)

    def wait_for_shapes(self) -> bool:
        return self.doc.wait_for_shapes()

    def closeEvent(self, event) -> None:
        if self.training.running:
            if not self.ask_stop_training():
                event.ignore()
                return
            self.training.stop_and_wait()  # the run keeps its checkpoint and metrics
        sweep = self.sweep_dock.widget()
        if sweep is not None and sweep.runner.running and not self.ask_stop_sweep():
            event.ignore()
            return
        if not self.confirm_discard():
            event.ignore()
            return
        self._discard_recovery()
        self._autosave_timer.stop()
        self.leave_block()  # a block's body shown lets go of the project first
        if self.doc is not None:
            self.doc.close()
        self.try_it.shutdown()
        self.runs.tensorboard.shutdown()
        if self._results_job is not None:  # a chosen run's results being computed
            self._results_job.wait()
        if self.sweep_dock.widget() is not None:
            self.sweep_dock.widget().shutdown()
        panel = self.preview_dock.widget()
        if panel is not None:
            panel.shutdown()
        if self._explain.built:
            self.explain_view.shutdown()
        dialog = getattr(self, "_lr_dialog", None)
        if dialog is not None:
            dialog.close()
        event.accept()
