"""The main window's training side: the Training dock (run panel, live curves, results, runs,
try it), the run controller's signals turned into views, and the Sweep dock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from torchcanvas.gui.lazy import LazyTab
from torchcanvas.gui.training.controller import TrainingController
from torchcanvas.gui.training.run_panel import RunPanel
from torchcanvas.gui.training.runs import RunsWidget
from torchcanvas.gui.training.tryit import TryItPanel
from torchcanvas.runtime.text import project_text_task

if TYPE_CHECKING:
    from torchcanvas.gui.training.plots import LivePlots
    from torchcanvas.gui.training.results import ResultsView

RESULTS_DEFER_MS = 40  # an epoch's results are drawn this long after it, at most once


class TrainingWindowMixin:
    """Training, curves, results, runs and sweeps of ``MainWindow``."""

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
        self.training_tabs.currentChanged.connect(lambda _: self._results_for_chosen_run())
        self._results_of: Path | None = None  # the run whose results the Results tab holds
        self._results_chosen: Path | None = None  # the run chosen in the Runs tab
        self._results_job = None
        self.runs = RunsWidget()
        self.training_tabs.addTab(self.runs, "Runs")
        self.runs.runChosen.connect(self._run_chosen)
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

    def sweep_panel(self):
        """The Sweep dock's panel (built on first use), following the current document."""
        panel = self.sweep_dock.widget()
        if panel is None:
            from torchcanvas.gui.training.sweep_dock import SweepPanel

            panel = SweepPanel(self.doc)
            panel.compareRequested.connect(self._compare_trials)
            # the sweep's trials show in the Runs tab as they finish
            runner = panel.runner
            runner.started.connect(lambda info: self.runs.set_active_sweep(info["out_dir"]))
            runner.trialsUpdated.connect(lambda _info: self.runs.reload())
            runner.finished.connect(lambda _info: self.runs.set_active_sweep(None))
            runner.failed.connect(lambda _message: self.runs.set_active_sweep(None))
            self.sweep_dock.setWidget(panel)
        return panel

    def show_sweep(self):
        """Show the Sweep dock (in front); its panel."""
        panel = self.sweep_panel()
        self.sweep_dock.show()
        self.sweep_dock.raise_()
        return panel

    def _compare_trials(self, overlays: list) -> None:
        """Sweep trials drawn beside the current run on the Curves tab (the Training dock)."""
        self.training_dock.show()
        self.training_dock.raise_()
        self.training_tabs.setCurrentWidget(self.plots)
        self.plots.set_overlays(overlays)

    def ask_stop_sweep(self) -> bool:
        return (
            QMessageBox.question(
                self,
                "Sweep in progress",
                "A sweep is running. Stop it (its finished trials are kept; Resume continues "
                "it) and close?",
            )
            == QMessageBox.StandardButton.Yes
        )

    def _sweep_dock_shown(self, visible: bool) -> None:
        if visible:
            self.sweep_panel()
            self._bottom_dock_shown(True)

    @staticmethod
    def _make_results() -> ResultsView:
        from torchcanvas.gui.training.results import ResultsView

        return ResultsView()

    def start_training(self, resume: Path | None = None) -> bool:
        if self.training.running:
            return False
        doc = self.doc
        if resume is not None:
            trial = self._trial_project(Path(resume).parent)
            if trial is not None:  # a sweep's trial trains on with its own values
                doc = trial
        self.training_dock.show()
        self.training_dock.raise_()
        run_dir = self.training.start(doc, resume=resume)
        if run_dir is not None:
            self._results_of, self._results_chosen = run_dir, None
            self._forget_run_views()  # the previous run's curves are not this run's
            self.runs.set_active(run_dir)
            self.show_message(f"Training… (run folder {run_dir})")
        return run_dir is not None

    def _trial_project(self, folder: Path):
        """For a sweep trial's folder: the project as that trial trained it (its project.json,
        with the trial's values), in the shape ``TrainingController.start`` takes; else None."""
        import json
        from types import SimpleNamespace

        from torchcanvas.graph import GraphError, load

        try:
            meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or not isinstance(meta.get("sweep"), str):
                return None
            graph = load(folder / "project.json")
        except (OSError, ValueError, GraphError):
            return None
        doc = self.doc
        return SimpleNamespace(
            graph=graph, path=doc.path, unsaved_name=doc.unsaved_name, project_dir=doc.project_dir
        )

    # ------------------------------------------------------------- results of a chosen run
    def _run_chosen(self, info) -> None:
        self._results_chosen = info.folder if info is not None else None
        self._results_for_chosen_run()

    def _results_for_chosen_run(self) -> bool:
        """While the Results tab is in view, show the results of the run (or trial) chosen in
        the Runs tab: its final weights evaluated on its validation split in the background.
        Not while a run trains (its own results are shown then)."""
        folder = self._results_chosen
        if (
            folder is None
            or folder == self._results_of
            or not self._results.built
            or self.training_tabs.currentWidget() is not self.results
            or self.training.running
            or self._results_job is not None
        ):
            return False
        from torchcanvas.gui.training.results import RunResultsJob

        info = self.runs.current_run()
        name = info.name if info is not None and info.folder == folder else folder.name
        self._results_of = folder
        self._latest_results = None
        self._results_timer.stop()
        self.results.clear()
        self.results.set_source(f"Computing the results of “{name}”…")
        job = self._results_job = RunResultsJob(folder, name, self)
        job.succeeded.connect(self._run_results_ready)
        job.failed.connect(self._run_results_failed)
        job.finished.connect(self._run_results_done)
        job.start()
        return True

    def _run_results_ready(self, folder: Path, name: str, results) -> None:
        if folder != self._results_of:
            return  # another run was chosen meanwhile
        self.results.show_epoch(
            results.task, results.classes, results.metrics, results.predictions, results.samples
        )
        self.results.set_source(
            f"Results of “{name}”: its final weights ({results.weights.name}) on the "
            "validation split"
        )

    def _run_results_failed(self, folder: Path, name: str, message: str) -> None:
        if folder != self._results_of:
            return
        self.results.clear()
        self.results.set_source(f"No results for “{name}”: {message}")

    def _run_results_done(self) -> None:
        job, self._results_job = self._results_job, None
        if job is not None:
            job.deleteLater()
        self._results_for_chosen_run()  # a run chosen while this one computed

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
        if self._results.built:
            self.results.set_source("")  # the run training now
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
