"""The main window: canvas in the middle, palette left, inspector and code right, problems and
history below; menus for files, editing, view and graph. The file commands, autosave and crash
recovery are in ``files.py`` (``ProjectFilesMixin``)."""

from __future__ import annotations

import atexit
import gc
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.assets import examples as bundled_examples
from torchcanvas.graph import Graph, GraphError, get_spec
from torchcanvas.graph.clipboard import (
    copy_fragment,
    fragment_from_text,
    fragment_to_text,
    plan_paste,
)
from torchcanvas.graph.layout import layered_layout
from torchcanvas.gui.autograd.dock import AutogradDock
from torchcanvas.gui.canvas.block_edit import BlockBodyDocument
from torchcanvas.gui.canvas.breadcrumb import BreadcrumbBar
from torchcanvas.gui.canvas.cost import CostLegend, totals_text
from torchcanvas.gui.canvas.palette import PaletteWidget
from torchcanvas.gui.canvas.quickadd import QuickAddPopup, compatible_types
from torchcanvas.gui.canvas.scene import CanvasScene
from torchcanvas.gui.canvas.startcard import StartCard
from torchcanvas.gui.canvas.view import CanvasView
from torchcanvas.gui.files import ProjectFilesMixin
from torchcanvas.gui.lazy import LazyTab
from torchcanvas.gui.panels.codeview import CodeView
from torchcanvas.gui.panels.inspector import InspectorWidget
from torchcanvas.gui.panels.problems import ProblemsWidget
from torchcanvas.gui.project import Document
from torchcanvas.gui.training.controller import TrainingController
from torchcanvas.gui.training.run_panel import RunPanel
from torchcanvas.gui.training.runs import RunsWidget
from torchcanvas.gui.training.tryit import TryItPanel
from torchcanvas.runtime.cost import format_macs
from torchcanvas.runtime.text import project_text_task

if TYPE_CHECKING:
    from torchcanvas.gui.training.plots import LivePlots
    from torchcanvas.gui.training.results import ResultsView

FRAGMENT_MIME = "application/x-torchcanvas-fragment"
_clipboard_guard: list = []  # the exit handler below, once registered


def _plain_clipboard_at_exit() -> None:
    """While Python still runs at exit: the clipboard's copied nodes are a QMimeData made here,
    with a Python wrapper; Qt's own teardown would delete it after the interpreter is gone and
    crash the process (SIGSEGV at exit). A plain-text copy takes its place (pasting reads the
    same fragment from the text)."""
    if QApplication.instance() is None:
        return
    clipboard = QApplication.clipboard()
    mime = clipboard.mimeData()
    if mime is not None and mime.hasFormat(FRAGMENT_MIME):
        clipboard.setText(mime.text())


AUTOSAVE_MS = 15_000
SPARE_FALLBACK_MS = 8_000  # the spare worker starts by then even if no shapes came
RESULTS_DEFER_MS = 40  # an epoch's results are drawn this long after it, at most once
BOTTOM_SHARE = 0.42  # the most of the window's height an opening bottom dock takes


def settle_heap() -> None:
    """Move every object alive now (the loaded project, its items, Qt's wrappers, torch once
    imported) out of the garbage collector's view. A full collection would otherwise walk
    them all again and again (about 0.3 s each with a 1000-node project and torch loaded);
    frozen objects are still freed by reference counting when dropped."""
    gc.freeze()


class MainWindow(ProjectFilesMixin, QMainWindow):
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

    def _build_training(self) -> None:
        """The Training dock: run panel, live curves and results; the controller behind it."""
        self.training = TrainingController(self)
        self.run_panel = RunPanel()  # gets its document in set_document
        self.training_tabs = QTabWidget()
        # pyqtgraph and numpy load when these tabs are first shown or used, not at start-up
        self._curves = LazyTab(self.training_tabs, "Curves", self._make_plots)
        self._results = LazyTab(self.training_tabs, "Results", self._make_results)
        self._explain = LazyTab(self.training_tabs, "Explain", self._make_explain)
        self._latest_results = None
        # an epoch's results are drawn in their own event-loop turn, after the curves', and at
        # most once per RESULTS_DEFER_MS, so neither handler holds the window long
        self._results_timer = QTimer(self, singleShot=True, interval=RESULTS_DEFER_MS)
        self._results_timer.timeout.connect(self._show_results)
        self.training_tabs.currentChanged.connect(
            lambda _: (
                self._results.built
                and self.training_tabs.currentWidget() is self.results
                and self._show_results()
            )
        )
        self.runs = RunsWidget()
        self.training_tabs.addTab(self.runs, "Runs")
        self.runs.resumeRequested.connect(lambda path: self.start_training(resume=path))
        self.runs.compareChanged.connect(lambda runs: self.plots.set_overlays(runs))
        self.try_it = TryItPanel()  # text projects: generate or classify with a trained run
        self.try_it.selected_run = lambda: r.folder if (r := self.runs.current_run()) else None
        self.training_tabs.addTab(self.try_it, "Try it")
        self.runs.tree.currentItemChanged.connect(lambda *_: self.try_it.refresh())
        self.runs.tree.currentItemChanged.connect(lambda *_: self._explain_run())
        # the run settings scroll inside the panel when the dock is short (the canvas keeps its
        # height); the buttons and the status stay in view
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.run_panel)
        split.addWidget(self.training_tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 900])
        self.training_dock = self._dock("Training", split, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.training_dock.hide()  # shown when a run starts (or from View)
        self.training_dock.visibilityChanged.connect(self._bottom_dock_shown)
        self.run_panel.trainRequested.connect(self.start_training)
        self.run_panel.pauseRequested.connect(self.training.pause)
        self.run_panel.resumeRequested.connect(self.training.resume)
        self.run_panel.stopRequested.connect(self.training.stop)
        self.run_panel.nodeClicked.connect(self.focus_node)
        self.training.stateChanged.connect(self.run_panel.set_state)
        self.training.countdown.connect(self.run_panel.show_countdown)
        self.training.stateChanged.connect(self._training_state)
        self.training.runStarted.connect(self._run_started)
        self.training.stepsArrived.connect(self._steps_arrived)
        self.training.epochDone.connect(self._epoch_done)
        self.training.runEnded.connect(self._run_ended)
        self._run_classes = None
        self._run_task = "other"

    @property
    def plots(self) -> LivePlots:
        """The live curves (built on first use)."""
        return self._curves.widget()

    @property
    def results(self) -> ResultsView:
        """The validation results (built on first use)."""
        return self._results.widget()

    @staticmethod
    def _make_plots() -> LivePlots:
        from torchcanvas.gui.training.plots import LivePlots

        return LivePlots()

    @property
    def explain_view(self):
        """Explanations of the current run's predictions (built on first use)."""
        return self._explain.widget()

    def _make_explain(self):
        from torchcanvas.gui.insight.explain_view import ExplainView

        view = ExplainView()
        QTimer.singleShot(0, self, self._explain_run)
        return view

    def _explain_run(self) -> None:
        """Point the Explain tab at the run chosen in the Runs tab (its project snapshot)."""
        if not self._explain.built:
            return
        from torchcanvas.graph import GraphError, load

        run = self.runs.current_run()
        folder = run.folder if run is not None else None
        graph = None
        if folder is not None and (folder / "project.json").is_file():
            try:
                graph = load(folder / "project.json")
            except (OSError, GraphError):
                graph = None
        self.explain_view.set_run(folder if graph is not None else None, graph)

    # ------------------------------------------------------------------ sweeps
    def sweep_panel(self):
        """The Sweep dock's panel (built on first use), following the current document."""
        panel = self.sweep_dock.widget()
        if panel is None:
            from torchcanvas.gui.training.sweep_dock import SweepPanel

            panel = SweepPanel(self.doc)
            self.sweep_dock.setWidget(panel)
        return panel

    def show_sweep(self):
        """Show the Sweep dock (in front); its panel."""
        panel = self.sweep_panel()
        self.sweep_dock.show()
        self.sweep_dock.raise_()
        return panel

    def _sweep_dock_shown(self, visible: bool) -> None:
        if visible:
            self.sweep_panel()
            self._bottom_dock_shown(True)

    # ------------------------------------------------------------------ insight
    def find_lr(self):
        """The learning-rate finder for the project as it is now (a dialog, started)."""
        from torchcanvas.gui.insight.lr_finder import LRFinderDialog

        dialog = getattr(self, "_lr_dialog", None)
        if dialog is None or dialog.doc is not self.doc:
            if dialog is not None:
                dialog.close()
            dialog = self._lr_dialog = LRFinderDialog(self.doc, self)
            dialog.applied.connect(lambda lr: self.show_message(f"Learning rate set to {lr:g}"))
        dialog.show()
        dialog.raise_()
        if dialog.result is None:
            dialog.start()
        return dialog

    def preview_panel(self):
        """The Batch Preview dock's panel (built on first use)."""
        panel = self.preview_dock.widget()
        if panel is None:
            from torchcanvas.gui.insight.batch_preview import BatchPreviewPanel

            panel = BatchPreviewPanel()
            panel.previewed.connect(self._mark_preview)
            panel.nodeActivated.connect(self._preview_node)
            self.preview_dock.setWidget(panel)
        panel.set_document(self.doc)
        return panel

    def preview_batch(self):
        """Push one batch through the graph as it is now, in the background; the panel."""
        panel = self.preview_panel()
        self.preview_dock.show()
        self.preview_dock.raise_()
        return panel if panel.start() else None

    def _mark_preview(self, result) -> None:
        """The batch's statistics beside the nodes; stale at once when the graph was edited
        while the batch ran."""
        from torchcanvas.gui.insight.batch_preview import mark_nodes, mark_stale

        mark_nodes(self.scene, result)
        if self.preview_dock.widget().stale:
            mark_stale(self.scene)

    def _preview_node(self, node_id: str) -> None:
        if node_id in self.canvas_doc.graph and node_id not in self.scene.selected_node_ids():
            self.scene.select_nodes([node_id])

    @staticmethod
    def _make_results() -> ResultsView:
        from torchcanvas.gui.training.results import ResultsView

        return ResultsView()

    # ------------------------------------------------------------------ training
    def start_training(self, resume: Path | None = None) -> bool:
        if self.training.running:
            return False
        self.training_dock.show()
        self.training_dock.raise_()
        run_dir = self.training.start(self.doc, resume=resume)
        if run_dir is not None:
            self._forget_run_views()  # the previous run's curves are not this run's
            self.runs.set_active(run_dir)
            self.show_message(f"Training… (run folder {run_dir})")
        return run_dir is not None

    def _training_state(self, state: str) -> None:
        running = state != "idle"
        self.train_action.setEnabled(not running)
        self.pause_action.setEnabled(state in ("running", "paused"))
        self.pause_action.setText("&Resume" if state == "paused" else "&Pause")
        self.stop_action.setEnabled(running)

    def _toggle_pause(self) -> None:
        if self.training.state == "paused":
            self.training.resume()
        else:
            self.training.pause()

    def _run_started(self, event) -> None:
        self._run_task, self._run_classes = event.task, event.classes
        self._latest_results = None
        self._results_timer.stop()
        self.run_panel.run_started(event)
        first = event.start_epoch * event.steps_per_epoch + event.start_batch
        self.plots.reset(
            event.task,
            list(event.classes) if event.classes else None,
            steps=(first, event.epochs * event.steps_per_epoch),
        )
        QTimer.singleShot(0, self, self._clear_results)  # its own turn, before any epoch's

    def _forget_run_views(self) -> None:
        """Empty the curves and results of the last run (built tabs only)."""
        self._latest_results = None
        self._results_timer.stop()
        if self._curves.built:
            self.plots.reset(self.plots.task)
        if self._results.built:
            self.results.clear()

    def _clear_results(self) -> None:
        if self._latest_results is None and not self._results_timer.isActive():
            self.results.clear()

    def _steps_arrived(self, events: list) -> None:
        self.run_panel.steps(events)
        self.plots.add_steps(
            [e.global_step for e in events], [e.loss for e in events], [e.lr for e in events]
        )

    def _epoch_done(self, event) -> None:
        values = {k: v for k, v in event.metrics.items() if isinstance(v, float)}
        self.plots.add_epoch(
            event.global_step, event.epoch, event.train_loss, event.val_loss, values
        )
        self._latest_results = (
            self._run_task,
            list(self._run_classes or []) or None,
            event.metrics,
            event.predictions,
            event.samples,
        )
        if getattr(event, "image", None) is not None:  # style transfer: the picture so far
            self._latest_results += (
                event.image,
                f"after epoch {event.epoch}: "
                f"{event.train_loss:.4g} loss · saved as result.png in "
                "the run folder",
            )
        if (
            self.training_tabs.currentWidget() is self.results
            and self.training_dock.isVisible()
            and not self._results_timer.isActive()
        ):
            self._results_timer.start()
        self.try_it.refresh()  # its checkpoint can be tried from the first epoch on

    def _show_results(self) -> None:
        """Draw the latest epoch's results; only while the Results tab is in view, so a fast
        run does not redraw a hidden confusion matrix and image grid every epoch."""
        if self._latest_results is not None:
            self.results.show_epoch(*self._latest_results)
            self._latest_results = None

    def _run_ended(self, event) -> None:
        from torchcanvas.runtime.events import RunFailed

        if self._results_timer.isActive():  # the last epoch's results, drawn now
            self._results_timer.stop()
            self._show_results()
        self.run_panel.run_ended(event)
        self.plots.refresh()
        self.runs.set_active(None)
        self.runs.set_root(self.doc.runs_root())
        self.try_it.refresh()
        if isinstance(event, RunFailed):
            self.show_message(f"Training stopped: {event.message}")
            if event.node_id:
                self.focus_node(event.node_id)
        else:
            self.show_message(f"Training {event.status}: {event.epochs_done} epochs")

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

    def _update_start_card(self) -> None:
        """The start card shows while the canvas is empty."""
        empty = len(self.doc.graph) == 0
        if empty != self.start_card.isVisible():
            self.start_card.setVisible(empty)

    def _quick_add_mid_view(self) -> None:
        centre = self.view.viewport().rect().center()
        self.view.setFocus()
        self._quick_add_at(self.view.mapToScene(centre), self.view.mapToGlobal(centre))

    def _update_try_it(self) -> None:
        self.try_it.set_project(
            project_text_task(self.doc.graph), self.doc.runs_root(), self.doc.project_dir
        )

    def ask_stop_training(self) -> bool:
        return (
            QMessageBox.question(
                self,
                "Training in progress",
                "A run is still training. Stop it (its checkpoint is kept) and close?",
            )
            == QMessageBox.StandardButton.Yes
        )

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

    # ------------------------------------------------------------------ actions and menus
    def _action(self, text: str, slot, shortcut=None, menu=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        action.triggered.connect(slot)
        if tip:
            action.setStatusTip(tip)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action("&New", self.new_file, keys.New, file_menu)
        self._action("&Open…", self.ask_open, keys.Open, file_menu)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        examples = file_menu.addMenu("&Examples")
        for path in bundled_examples():
            act = QAction(path.stem.replace("_", " "), self)
            act.triggered.connect(lambda _=False, p=path: self.open_example(p))
            examples.addAction(act)
        self._action(
            "&Import PyTorch model…",
            self.import_model,
            None,
            file_menu,
            "Trace a PyTorch model (torchvision, a .py file or a module) onto a new canvas",
        )
        file_menu.addSeparator()
        self._action("&Save", self.save, keys.Save, file_menu)
        self._action("Save &As…", self.save_as, keys.SaveAs, file_menu)
        self._action(
            "&Export…",
            self.export_project,
            QKeySequence("Ctrl+E"),
            file_menu,
            "Write model.py, train.py, weights, TorchScript and ONNX to a folder",
        )
        file_menu.addSeparator()
        self._action("&Quit", self.close, keys.Quit, file_menu)

        edit = bar.addMenu("&Edit")
        self.edit_menu = edit
        self._undo_anchor = edit.addSeparator()
        self._action("Cu&t", self.cut, keys.Cut, edit)
        self._action("&Copy", self.copy, keys.Copy, edit)
        self._action("&Paste", self.paste, keys.Paste, edit)
        self._action("&Duplicate", self.duplicate, QKeySequence("Ctrl+D"), edit)
        self._action(
            "&Delete",
            self.delete_selection,
            [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
            edit,
        )
        edit.addSeparator()
        self._action("Select &All", self.select_all, keys.SelectAll, edit)
        self._action("&Find node type…", self.palette_focus, QKeySequence("Ctrl+F"), edit)

        view = bar.addMenu("&View")
        self._action(
            "&Fit All",
            lambda: self.view.fit_all(),
            [QKeySequence("F"), QKeySequence(Qt.Key.Key_Home)],
            view,
        )
        self._action(
            "Zoom &In", lambda: self.view.set_zoom(self.view.zoom * 1.25), keys.ZoomIn, view
        )
        self._action(
            "Zoom &Out", lambda: self.view.set_zoom(self.view.zoom / 1.25), keys.ZoomOut, view
        )
        self._action("&Actual Size", lambda: self.view.set_zoom(1.0), QKeySequence("Ctrl+0"), view)
        view.addSeparator()
        shapes = self._action("Show &Shapes on Wires", self._toggle_shapes, None, view)
        shapes.setCheckable(True)
        shapes.setChecked(True)
        self.cost_action = self._action(
            "Show &Cost (share of MACs)",
            self.set_cost_overlay,
            QKeySequence("Ctrl+M"),
            view,
            "Colour the nodes by their share of the model's multiply-accumulates",
        )
        self.cost_action.setCheckable(True)
        view.addSeparator()
        for dock in (
            self.palette_dock,
            self.inspector_dock,
            self.code_dock,
            self.problems_dock,
            self.history_dock,
            self.training_dock,
        ):
            view.addAction(dock.toggleViewAction())
        view.addAction(self.autograd.dock.toggleViewAction())
        view.addAction(self.sweep_dock.toggleViewAction())

        graph_menu = bar.addMenu("&Graph")
        self._action(
            "&Add Node…",
            lambda: self._quick_add_at(self.view.cursor_scene_pos(), self.cursor().pos()),
            None,
            graph_menu,
            "Tab or double-click on the canvas",
        )
        self._action(
            "Auto-&Layout",
            lambda: self.auto_layout(),
            QKeySequence("L"),
            graph_menu,
            "Lay out the selection, or everything, along the flow",
        )
        graph_menu.addSeparator()
        self._action(
            "&Collapse into Block…",
            self.collapse_selection,
            QKeySequence("Ctrl+G"),
            graph_menu,
            "Turn the selected layers into a reusable block (nn.Module)",
        )
        self._action(
            "&Expand Block",
            self.expand_selection,
            QKeySequence("Ctrl+Shift+G"),
            graph_menu,
            "Put a block's layers back on the canvas",
        )
        self._action(
            "&Edit Block in Place",
            self.edit_selected_block,
            QKeySequence("Ctrl+B"),
            graph_menu,
            "Open the selected block's layers on the canvas (or double-click it); Esc goes back",
        )
        flow_menu = view.addMenu("&Flow")
        self.flow_actions = {}
        for flow, text in (("TB", "&Top → down"), ("LR", "&Left → right")):
            act = self._action(text, lambda _=False, f=flow: self.set_flow(f), None, flow_menu)
            act.setCheckable(True)
            self.flow_actions[flow] = act

        run_menu = bar.addMenu("&Run")
        self.train_action = self._action(
            "&Train",
            lambda: self.start_training(),
            QKeySequence("F5"),
            run_menu,
            "Train the graph as it is now, in the background",
        )
        self.pause_action = self._action("&Pause", self._toggle_pause, QKeySequence("F6"), run_menu)
        self.stop_action = self._action(
            "&Stop", lambda: self.training.stop(), QKeySequence("Shift+F5"), run_menu
        )
        self.pause_action.setEnabled(False)
        self.stop_action.setEnabled(False)
        run_menu.addSeparator()
        self._action(
            "Find &Learning Rate…",
            lambda: self.find_lr(),
            None,
            run_menu,
            "Range test: train a copy of the model briefly with a growing learning rate",
        )
        self._action(
            "Pre&view a Batch",
            lambda: self.preview_batch(),
            QKeySequence("F7"),
            run_menu,
            "Push one training batch through the graph and show every node's statistics",
        )

        help_menu = bar.addMenu("&Help")
        self._action("&Keyboard Shortcuts", self.show_shortcuts, QKeySequence("F1"), help_menu)

    def _rebind_undo(self, doc: Document) -> None:
        for action in getattr(self, "_undo_actions", []):
            self.edit_menu.removeAction(action)
            self.removeAction(action)
        undo = doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Shift+Z")])
        self.edit_menu.insertActions(self._undo_anchor, [undo, redo])
        self.addActions([undo, redo])
        self._undo_actions = [undo, redo]

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

    def show_shortcuts(self) -> None:
        text = (
            "<table>"
            "<tr><td><b>Tab</b>, double-click</td><td>add a node at the cursor</td></tr>"
            "<tr><td>drag port → port</td><td>connect; drag from a wired input to move it</td></tr>"
            "<tr><td>wheel</td><td>zoom to the cursor</td></tr>"
            "<tr><td>middle drag, Space + drag</td><td>pan</td></tr>"
            "<tr><td><b>F</b>, Home</td><td>fit all</td></tr>"
            "<tr><td><b>L</b></td><td>auto-layout (selection or all)</td></tr>"
            "<tr><td>Ctrl+C / X / V / D</td><td>copy, cut, paste, duplicate</td></tr>"
            "<tr><td>Delete</td><td>delete the selection</td></tr>"
            "<tr><td>Ctrl+Z / Ctrl+Shift+Z</td><td>undo / redo</td></tr>"
            "<tr><td>Ctrl+F</td><td>search the palette</td></tr>"
            "</table>"
        )
        QMessageBox.information(self, "Keyboard shortcuts", text)

    # ------------------------------------------------------------------ selection
    def _selection_changed(self) -> None:
        ids = self.scene.selected_node_ids()
        self.inspector.show_nodes(ids)
        if self.block_doc is not None:  # ids inside a block's body: nothing else knows them
            return
        self.code_view.highlight_nodes(ids)
        self.autograd.canvas_selection(ids)
        if len(ids) == 1 and self._explain.built:
            self.explain_view.pick_layer(ids[0])

    def focus_node(self, node_id: str) -> None:
        """Select and show a node of the model (back from a block's body if need be)."""
        if node_id in self.doc.graph:
            self.leave_block()
            self.scene.select_nodes([node_id])
            self.view.center_on_nodes([node_id])

    def focus_inner_node(self, block: str, node_id: str) -> None:
        """Open block ``block``'s body and select its node ``node_id`` (a problem inside)."""
        if self.enter_block(block) and node_id in self.block_doc.graph:
            self.scene.select_nodes([node_id])
            self.view.center_on_nodes([node_id])

    # ------------------------------------------------------------------ blocks in place
    @property
    def canvas_doc(self):
        """What the canvas edits: the project, or the block body shown in its place."""
        return self.block_doc if self.block_doc is not None else self.doc

    def _connect_scene(self, scene: CanvasScene) -> None:
        scene.selectionChanged.connect(self._selection_changed)
        scene.wireDroppedOnEmpty.connect(self._wire_dropped)
        scene.nodeActivated.connect(self._node_activated)

    def _node_activated(self, node_id: str) -> None:
        """A double-click on a node: a block opens in place."""
        graph = self.canvas_doc.graph
        if node_id in graph and graph.node(node_id).kind == "block":
            self.enter_block(graph.node(node_id).params["block"])

    def edit_selected_block(self) -> bool:
        """Ctrl+B: open the selected block's body on the canvas."""
        graph = self.canvas_doc.graph
        blocks = [n for n in self.scene.selected_node_ids() if graph.node(n).kind == "block"]
        if not blocks:
            self.show_message("Select a block to edit (or double-click it)")
            return False
        return self.enter_block(graph.node(blocks[0]).params["block"])

    def _blocks_changed(self) -> None:
        """The palette lists the project's blocks, with their ports."""
        graph = self.doc.graph
        self.palette.set_blocks(
            {
                name: (d.inputs, d.outputs, len(graph.block_users(name)))
                for name, d in graph.blocks.items()
            }
        )

    def enter_block(self, name: str) -> bool:
        """Show block ``name``'s body on the canvas in place of the model, under a breadcrumb
        bar (Model ▸ name); edits there change every use and are undone like any other."""
        if name not in self.doc.graph.blocks:
            return False
        if self.block_doc is not None:
            if self.block_doc.block_name == name:
                return True
            self._close_block()
        else:
            self._root_view = (self.view.transform(), self.view.visible_scene_rect().center())
            self._root_inspector = self.inspector
            self._came_from = self.scene.selected_node_ids()
        body = self.block_doc = BlockBodyDocument(self.doc, name)
        body.message.connect(self.show_message)
        body.gone.connect(self.leave_block)
        body.renamed.connect(lambda new: self._show_breadcrumb())
        self.scene = CanvasScene(body, self)
        self._connect_scene(self.scene)
        self.scene.set_show_shapes(self.root_scene.show_shapes)
        self.view.setScene(self.scene)
        self.view.canvas = self.scene
        self.inspector = InspectorWidget(body)
        self.inspector_dock.setWidget(self.inspector)
        self.inspector.show_nodes([])
        self._show_breadcrumb()
        self.start_card.hide()
        self.view.fit_all()
        return True

    def _show_breadcrumb(self) -> None:
        name = self.block_doc.block_name
        self.breadcrumb.show_block(name, len(self.doc.graph.block_users(name)))

    def _close_block(self) -> None:
        """Let go of the body shown (its scene, inspector and document)."""
        body, scene, inspector = self.block_doc, self.scene, self.inspector
        self.block_doc = None
        self.scene = self.root_scene
        self.view.setScene(self.scene)
        self.view.canvas = self.scene
        self.inspector = self._root_inspector
        self.inspector_dock.setWidget(self.inspector)
        inspector.deleteLater()
        body.close()
        body.deleteLater()
        scene.dispose()
        scene.deleteLater()

    def leave_block(self) -> bool:
        """Back from a block's body to the whole model (Esc, or "Model" in the breadcrumb)."""
        if self.block_doc is None:
            return False
        self._close_block()
        self.breadcrumb.hide()
        transform, centre = self._root_view
        self.view.setTransform(transform)
        self.view.centerOn(centre)
        came_from = [n for n in self._came_from if n in self.scene.nodes]
        self.scene.select_nodes(came_from)
        self.inspector.show_nodes(came_from)
        self._update_start_card()
        return True

    def select_all(self) -> None:
        self.scene.select_nodes(self.scene.nodes)

    def palette_focus(self) -> None:
        self.palette_dock.show()
        self.palette_dock.raise_()
        self.palette.focus_search()

    # ------------------------------------------------------------------ adding nodes
    def _add_from_palette(self, type_id: str) -> None:
        self.view.add_node_here(type_id)

    def _quick_add_at(self, scene_pos: QPointF, global_pos) -> None:
        self._quick_add_target = (scene_pos, None)
        self.quick_add.popup(global_pos)

    def _wire_dropped(self, node_id: str, port: str, from_input: bool, pos: QPointF) -> None:
        ports = (
            self.canvas_doc.graph.input_ports(node_id)
            if from_input
            else self.canvas_doc.graph.output_ports(node_id)
        )
        spec = next(p for p in ports if p.name == port)
        self._quick_add_target = (pos, (node_id, port, from_input, spec.kind))
        global_pos = self.view.mapToGlobal(self.view.mapFromScene(pos))
        self.quick_add.popup(
            global_pos,
            compatible_types(spec.kind, want_input=not from_input),
            hint=f"connect to {self.canvas_doc.graph.node(node_id).label}.{port}",
        )

    def _quick_add_chosen(self, type_id: str) -> None:
        if self._quick_add_target is None:
            return
        pos, wire = self._quick_add_target
        self._quick_add_target = None
        if wire is None:
            self.view.add_node_at(type_id, pos, free=True)
            return
        node_id, port, from_input, kind = wire
        spec = get_spec(type_id)
        doc = self.canvas_doc
        with doc.macro(f"Add {spec.title}"):
            new = self.view.add_node_at(type_id, pos, free=True)
            if new is None:
                return
            if from_input:
                out = next((p for p in spec.outputs if p.kind == kind), None)
                if out is not None:
                    doc.connect_ports(new, out.name, node_id, port)
            else:
                inp = next((p for p in spec.inputs if p.kind == kind), None)
                if inp is not None:
                    doc.connect_ports(node_id, port, new, inp.name)

    # ------------------------------------------------------------------ clipboard
    def copy(self) -> bool:
        ids = self.scene.selected_node_ids()
        if not ids:
            return False
        text = fragment_to_text(copy_fragment(self.canvas_doc.graph, ids))
        from PySide6.QtCore import QMimeData

        mime = QMimeData()
        mime.setData(FRAGMENT_MIME, text.encode("utf-8"))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        if not _clipboard_guard:
            _clipboard_guard.append(atexit.register(_plain_clipboard_at_exit))
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection(text="Cut")

    def paste(
        self, fragment: dict | None = None, offset: tuple[float, float] | None = None
    ) -> list[str]:
        if fragment is None:
            mime = QApplication.clipboard().mimeData()
            raw = (
                bytes(mime.data(FRAGMENT_MIME)).decode("utf-8")
                if mime.hasFormat(FRAGMENT_MIME)
                else mime.text()
            )
            try:
                fragment = fragment_from_text(raw)
            except GraphError as exc:
                self.show_message(str(exc))
                return []
        if offset is None:
            positions = [
                n["pos"]
                for n in fragment["nodes"].values()
                if isinstance(n, dict) and isinstance(n.get("pos"), list)
            ]
            target = self.view.cursor_scene_pos()
            if positions:
                offset = (
                    round(target.x() - min(p[0] for p in positions), -1),
                    round(target.y() - min(p[1] for p in positions), -1),
                )
            else:
                offset = (40.0, 40.0)
        doc = self.canvas_doc
        plan = plan_paste(doc.graph, fragment, offset)
        if not plan.nodes:
            return []

        def apply(g) -> None:
            for name, body in plan.blocks:  # definitions the pasted blocks need
                g.add_block_def(name, body)
            for nid, type_id, params, label, pos in plan.nodes:
                g.add_node(type_id, params, label=label, pos=pos, node_id=nid)
            for e in plan.edges:
                g.connect(e.src, e.src_port, e.dst, e.dst_port)

        if doc.change("Paste", apply) is None and plan.nodes[0][0] not in doc.graph:
            return []
        ids = [n[0] for n in plan.nodes]
        self.scene.select_nodes(ids)
        return ids

    def duplicate(self) -> list[str]:
        ids = self.scene.selected_node_ids()
        if not ids:
            return []
        return self.paste(copy_fragment(self.canvas_doc.graph, ids), (40.0, 40.0))

    def delete_selection(self, _=False, text: str = "Delete") -> None:
        self.canvas_doc.remove(self.scene.selected_node_ids(), self.scene.selected_edges())

    # ------------------------------------------------------------------ blocks
    def ask_block_name(self, default: str) -> str | None:
        from PySide6.QtWidgets import QInputDialog

        name, ok = QInputDialog.getText(
            self, "Collapse into block", "Class name of the block (e.g. ConvBlock):", text=default
        )
        return name.strip() if ok and name.strip() else None

    def collapse_selection(self) -> str | None:
        ids = self.scene.selected_node_ids()
        if not ids:
            self.show_message("Select the layers to collapse into a block")
            return None
        k = 1
        while f"Block{k}" in self.doc.graph.blocks:
            k += 1
        name = self.ask_block_name(f"Block{k}")
        if name is None:
            return None
        instance = self.canvas_doc.change(f"Collapse into {name}", lambda g: g.collapse(ids, name))
        if instance is not None:
            self.scene.select_nodes([instance])
        return instance

    def expand_selection(self) -> list[str]:
        blocks = [
            n
            for n in self.scene.selected_node_ids()
            if self.canvas_doc.graph.node(n).type_id == "block"
        ]
        if not blocks:
            self.show_message("Select a block to expand")
            return []

        def expand(g) -> list[str]:
            new: list[str] = []
            for nid in blocks:
                new += g.expand(nid)
            return new

        new = self.canvas_doc.change("Expand block", expand) or []
        self.scene.select_nodes(new)
        return new

    # ------------------------------------------------------------------ layout
    def set_flow(self, flow: str) -> None:
        """Switch the canvas direction and lay the graph out along it, as one undo step."""
        for f, act in self.flow_actions.items():
            act.setChecked(f == flow)
        if self.doc.graph.settings["flow"] == flow:
            return
        self.leave_block()  # the flow is the model's: it is laid out again
        with self.doc.macro("Change flow"):
            self.doc.set_setting("flow", flow)
            self.auto_layout(all_nodes=True)

    def auto_layout(self, direction: str | None = None, all_nodes: bool = False) -> None:
        selected = [] if all_nodes else self.scene.selected_node_ids()
        ids = selected if len(selected) > 1 else None
        doc = self.canvas_doc
        positions = layered_layout(
            doc.graph, ids, direction or self.scene.flow, size=self.scene.node_size
        )
        moves = {nid: (doc.graph.node(nid).pos, pos) for nid, pos in positions.items()}
        if doc.move_nodes(moves, "Auto-layout") and ids is None:
            QTimer.singleShot(0, self.view.fit_all)

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
