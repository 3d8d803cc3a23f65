"""Training from the window: a QThread worker iterates the runtime trainer and sends plain data.

The worker compiles a snapshot of the graph (edits during a run apply to the next run), trains
it, and forwards the trainer's events: step events are batched and sent at most ~20 times a
second, so the event loop is never flooded. Each run keeps its files in a runs folder beside the
project: the project snapshot, metrics.json, checkpoint.pt, best.pt and weights.pt.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from torchcanvas.graph.serialize import dumps, from_dict

BATCH_S = 0.05  # step events are forwarded in batches at most this often


def runs_root(project_path: Path | None, create: bool = True) -> Path:
    """``<project folder>/runs/<project name>/``, or a per-user folder for unsaved projects.
    Only a run creates it (``create``); listing runs does not."""
    override = os.environ.get("TORCHCANVAS_RUNS_DIR")
    if override:
        root = Path(override)
    elif project_path is not None:
        root = Path(project_path).parent / "runs" / Path(project_path).stem
    else:
        root = Path.home() / ".local" / "share" / "torchcanvas" / "runs" / "untitled"
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def new_run_dir(project_path: Path | None) -> Path:
    root = runs_root(project_path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, k = root / stamp, 2
    while path.exists():
        path, k = root / f"{stamp}-{k}", k + 1
    path.mkdir(parents=True)
    return path


class TrainingWorker(QObject):
    """Lives in the training thread. Never touches widgets."""

    started = Signal(object)  # RunStarted
    steps = Signal(object)  # list[StepEvent]
    epoch = Signal(object)  # EpochEvent
    state = Signal(str)  # "paused" / "running"
    ended = Signal(object)  # RunFinished or RunFailed
    autograd = Signal(object)  # AutogradSnapshot (only when the autograd view asks)

    @Slot(object, object, object, object, str)
    def run(self, data: dict, project_dir: Path | None, options: Any, control: Any,
            title: str) -> None:
        from torchcanvas.runtime.compile import CompileError, compile_project
        from torchcanvas.runtime.trainer import (
            AutogradSnapshot,
            EpochEvent,
            RunFailed,
            RunStarted,
            StateChanged,
            StepEvent,
            Trainer,
        )

        try:
            project = compile_project(from_dict(data), project_dir, title=title)
        except CompileError as exc:
            self.ended.emit(RunFailed(str(exc), exc.node_id, "", None))
            return
        except Exception as exc:
            self.ended.emit(RunFailed(f"{type(exc).__name__}: {exc}", None, "", None))
            return
        pending: list = []
        last = time.monotonic()
        for event in Trainer(project, options, control):
            if isinstance(event, StepEvent):
                pending.append(event)
                now = time.monotonic()
                if now - last >= BATCH_S:
                    self.steps.emit(pending)
                    pending, last = [], now
                continue
            if pending:
                self.steps.emit(pending)
                pending, last = [], time.monotonic()
            if isinstance(event, RunStarted):
                self.started.emit(event)
            elif isinstance(event, EpochEvent):
                self.epoch.emit(event)
            elif isinstance(event, StateChanged):
                self.state.emit(event.state)
            elif isinstance(event, AutogradSnapshot):
                self.autograd.emit(event)
            else:
                self.ended.emit(event)


class TrainingController(QObject):
    """Starts, pauses, resumes and stops runs for the window; one run at a time."""

    runStarted = Signal(object)  # RunStarted
    stepsArrived = Signal(object)  # list[StepEvent]
    epochDone = Signal(object)  # EpochEvent
    stateChanged = Signal(str)  # idle, starting, running, paused, stopping
    runEnded = Signal(object)  # RunFinished or RunFailed
    autogradArrived = Signal(object)  # AutogradSnapshot
    _go = Signal(object, object, object, object, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = "idle"
        self.control = None
        self.run_dir: Path | None = None
        self.started_event = None
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None

    @property
    def running(self) -> bool:
        return self.state != "idle"

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    def start(self, doc, resume: Path | None = None, epochs: int | None = None) -> Path | None:
        """Train a snapshot of ``doc``'s graph. Returns the run folder, or None when busy."""
        if self.running:
            return None
        from torchcanvas.runtime.trainer import RunControl, TrainOptions

        self.run_dir = new_run_dir(doc.path)
        (self.run_dir / "project.json").write_text(dumps(doc.graph), encoding="utf-8")
        (self.run_dir / "run.json").write_text(json.dumps({
            "name": self.run_dir.name, "project": str(doc.path) if doc.path else None,
            "started": datetime.now().isoformat(timespec="seconds"),
            "resumed_from": str(resume) if resume else None}, indent=2), encoding="utf-8")
        self.control = RunControl()
        options = TrainOptions(out_dir=self.run_dir, resume=resume, epochs=epochs)
        self._thread = QThread(self)
        self._thread.setObjectName("training")
        self._worker = TrainingWorker()
        self._worker.moveToThread(self._thread)
        self._go.connect(self._worker.run)
        self._worker.started.connect(self._on_started)
        self._worker.steps.connect(self.stepsArrived)
        self._worker.epoch.connect(self.epochDone)
        self._worker.state.connect(self._set_state)
        self._worker.ended.connect(self._on_ended)
        self._worker.autograd.connect(self.autogradArrived)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        self._set_state("starting")
        title = doc.path.stem if doc.path else ""
        self._go.emit(json.loads(dumps(doc.graph)), doc.project_dir, options, self.control,
                      title)
        self._go.disconnect(self._worker.run)
        return self.run_dir

    def _on_started(self, event) -> None:
        self.started_event = event
        self._set_state("running")
        self.runStarted.emit(event)

    def _on_ended(self, event) -> None:
        thread = self._thread
        self._thread = self._worker = None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        self._set_state("idle")
        self.runEnded.emit(event)

    def pause(self) -> None:
        if self.control is not None and self.state == "running":
            self.control.pause()

    def resume(self) -> None:
        if self.control is not None and self.state == "paused":
            self.control.resume()

    def stop(self) -> None:
        if self.control is not None and self.running:
            self.control.stop()
            self._set_state("stopping")

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Stop the run and wait for its checkpoint (closing the window during a run)."""
        if not self.running:
            return True
        self.stop()
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer

        deadline = QDeadlineTimer(timeout_ms)
        while self.running and not deadline.hasExpired():
            QCoreApplication.processEvents()
            QThread.msleep(10)
        return not self.running
