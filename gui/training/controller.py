"""Training from the window: each run trains in a worker process; a QThread turns its messages
into the signals the panels use.

The worker (``runtime/worker.py``) compiles a snapshot of the graph (edits during a run apply to
the next run), trains it and sends the trainer's events back, step events in batches at most ~20
times a second. Because it is another process, nothing the run does can take the window down or
hold the window's GIL: a crash, ``os._exit`` or a hang ends the worker and the run is marked
failed, naming the signal or exit code and, when the stacks show it, the node. Stop is read by
the loop between steps; a run that has not answered it within ``grace_s`` of the press (a hung
step, or a start that hangs while compiling, building the model or loading data) is ended (its
stacks written, then terminate, then kill), with the countdown shown. One spare worker waits
warm (``prepare``, which the window calls once the document's first shapes are in, and again
after every run), so Train starts without importing torch anew.

Each run keeps its files in a runs folder beside the project: the project snapshot,
metrics.json, checkpoint.pt, best.pt and weights.pt, and fault.log when the worker crashed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from torchcanvas.graph.serialize import dumps
from torchcanvas.runtime.runs import UNTITLED, runs_root
from torchcanvas.runtime.worker import (
    Job,
    RemoteControl,
    WorkerProcess,
    death_message,
    ensure_spare,
    environ,
    fault_node,
    take_worker,
)

FAULT_LOG = "fault.log"  # the worker's Python stacks when it crashed or was ended
EXIT_GRACE_S = 5.0  # a worker still alive this long after its last event is ended
KILL_AFTER_S = 2.0  # terminate, then kill after this long


def new_run_dir(project_path: Path | None, unsaved_name: str = UNTITLED) -> Path:
    root = runs_root(project_path, create=True, unsaved_name=unsaved_name)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, k = root / stamp, 2
    while path.exists():
        path, k = root / f"{stamp}-{k}", k + 1
    path.mkdir(parents=True)
    return path


class _Reader(QThread):
    """Reads one worker's messages until it exits. Never touches widgets."""

    message = Signal(int, object)  # (run serial, message)
    exited = Signal(int, object)  # (run serial, exit code)

    def __init__(self, serial: int, worker: WorkerProcess, run_dir: Path):
        super().__init__()
        self.setObjectName("training")
        self.serial = serial
        self.worker = worker
        self.run_dir = run_dir

    def run(self) -> None:
        worker = self.worker
        while worker.wait_message(None):
            try:
                message = worker.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # a message that cannot be read: said, then skipped
                sys.stderr.write(
                    f"training: a message from the worker could not be read: "
                    f"{type(exc).__name__}: {exc}\n"
                )
                continue
            self.message.emit(self.serial, message)
        worker.process.join()
        self.exited.emit(self.serial, worker.process.exitcode)


# every reader until its worker has exited and it has been waited for (Qt aborts when a running
# QThread is destroyed), by run serial
_READERS: dict[int, _Reader] = {}
_serials = iter(range(1, 1 << 62))


@atexit.register
def _end_readers() -> None:
    for reader in list(_READERS.values()):
        reader.worker.kill()
        reader.wait(3_000)


class TrainingController(QObject):
    """Starts, pauses, resumes and stops runs for the window; one run at a time."""

    runStarted = Signal(object)  # RunStarted
    stepsArrived = Signal(object)  # list[StepEvent]
    epochDone = Signal(object)  # EpochEvent
    stateChanged = Signal(str)  # idle, starting, running, paused, stopping
    runEnded = Signal(object)  # RunFinished or RunFailed
    autogradArrived = Signal(object)  # AutogradSnapshot
    countdown = Signal(float)  # seconds before a step that ignores Stop is ended; -1: none

    GRACE_S = 10.0

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = "idle"
        self.control: RemoteControl | None = None
        self.run_dir: Path | None = None
        self.started_event = None
        self.grace_s = self.GRACE_S
        self.threads: int | None = None  # torch threads in the worker (None: its default)
        self.warm: bool | None = None  # the current (last) run got a warm spare worker
        self.grads_every = 0  # gradient norms every N steps in the next run (autograd view)
        self.graph_every = 0  # the backward graph every N steps in the next run
        self._reader: _Reader | None = None
        self._ended = True
        self._lines: dict = {}
        self._labels: dict[str, str] = {}
        self._settings: dict = {}
        self._deadline: float | None = None
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._tick)
        self._ending: list[tuple[float, WorkerProcess]] = []  # (when, worker) to end
        self._reaper = QTimer(self, interval=100)
        self._reaper.timeout.connect(self._reap)

    @property
    def running(self) -> bool:
        return self.state != "idle"

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    @staticmethod
    def prepare() -> None:
        """Start the spare worker (after the window is up), so the first Train is fast."""
        ensure_spare()

    def start(self, doc, resume: Path | None = None, epochs: int | None = None) -> Path | None:
        """Train a snapshot of ``doc``'s graph. Returns the run folder, or None when busy."""
        if self.running:
            return None
        from torchcanvas.runtime.events import TrainOptions

        self.run_dir = new_run_dir(doc.path, doc.unsaved_name)
        text = dumps(doc.graph)
        (self.run_dir / "project.json").write_text(text, encoding="utf-8")
        (self.run_dir / "run.json").write_text(
            json.dumps(
                {
                    "name": self.run_dir.name,
                    "project": str(doc.path) if doc.path else None,
                    "started": datetime.now().isoformat(timespec="seconds"),
                    "resumed_from": str(resume) if resume else None,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        self._labels = {n.id: n.label for n in doc.graph.nodes()}
        self._settings = dict(doc.graph.settings)
        self._lines, self._ended, self.started_event = {}, False, None
        worker, self.warm = take_worker()
        self.control = RemoteControl(worker, self.grads_every, self.graph_every)
        job = Job(
            json.loads(text),
            TrainOptions(out_dir=self.run_dir, resume=resume, epochs=epochs),
            doc.project_dir,
            doc.path.stem if doc.path else "",
            fault_log=self.run_dir / FAULT_LOG,
            environ=environ(),
            threads=self.threads,
            grads_every=self.grads_every,
            graph_every=self.graph_every,
        )
        reader = _Reader(next(_serials), worker, self.run_dir)
        reader.message.connect(self._on_message)
        reader.exited.connect(self._on_exited)
        self._reader = reader
        _READERS[reader.serial] = reader
        reader.start()
        self._set_state("starting")
        worker.run(job)  # a worker that died meanwhile is reported by its reader
        return self.run_dir

    # ------------------------------------------------------------------ from the worker
    def _on_message(self, serial: int, message: tuple) -> None:
        if self._reader is None or serial != self._reader.serial or self._ended:
            return  # what a previous run said last
        kind = message[0]
        if kind == "steps":
            self.stepsArrived.emit(message[1])
        elif kind == "event":
            self._on_event(message[1])
        elif kind == "lines":
            self._lines = message[1]
        elif kind == "stopping":  # the loop read Stop: it ends the run itself
            self._cancel_countdown()

    def _on_event(self, event) -> None:
        from torchcanvas.runtime.events import (
            AutogradSnapshot,
            EpochEvent,
            RunFailed,
            RunFinished,
            RunStarted,
            StateChanged,
        )

        if isinstance(event, RunStarted):
            self.started_event = event
            if self.state == "starting":
                self._set_state("running")
            self.runStarted.emit(event)
        elif isinstance(event, EpochEvent):
            self.epochDone.emit(event)
        elif isinstance(event, StateChanged):
            if self.state != "stopping":
                self._set_state(event.state)
        elif isinstance(event, AutogradSnapshot):
            self.autogradArrived.emit(event)
        elif isinstance(event, RunFinished | RunFailed):
            self._finish(event, reported=True)

    def _finish(self, event, reported: bool = False) -> None:
        """The run ended with ``event``; ``reported``: the worker said so itself (it did not
        crash, hang or get ended)."""
        from torchcanvas.runtime.events import RunFailed

        self._ended = True
        if isinstance(event, RunFailed) and self.run_dir is not None:
            if self.started_event is None and reported:
                # it never started training (the model did not compile, the data did not
                # load): nothing to resume, compare or read, so no folder is left in the runs
                # list; the message says what went wrong
                shutil.rmtree(self.run_dir, ignore_errors=True)
            else:  # the runs list shows it failed, and why (a crash keeps its fault.log)
                self._mark_failed(self.run_dir, event.message)
        self._cancel_countdown()
        self._set_state("idle")
        self.runEnded.emit(event)
        if self._reader is not None:  # it exits by itself after its last event
            self._end_later(self._reader.worker, EXIT_GRACE_S)

    def _on_exited(self, serial: int, exitcode: int | None) -> None:
        reader = _READERS.pop(serial, None)
        if reader is None:
            return
        reader.wait()
        reader.worker.close(0)
        if reader is self._reader:
            self._reader = None
            if not self._ended:
                self._finish(self._death(reader, exitcode))
        log = reader.run_dir / FAULT_LOG
        with contextlib.suppress(OSError):
            if log.exists() and log.stat().st_size == 0:
                log.unlink()
        ensure_spare()  # the next run starts warm

    def _death(self, reader: _Reader, exitcode: int | None):
        """The run's RunFailed when its worker ended without a final event."""
        from torchcanvas.runtime.events import RunFailed

        run_dir = reader.run_dir
        try:
            stacks = (run_dir / FAULT_LOG).read_text(encoding="utf-8", errors="replace")
        except OSError:
            stacks = ""
        node_id = fault_node(stacks, self._lines)
        where = f" in {self._labels.get(node_id, node_id)}" if node_id else ""
        message = death_message(
            exitcode,
            reader.worker.ended_by,
            self.grace_s,
            where,
            started=self.started_event is not None,
        )
        history = self._mark_failed(run_dir, message)
        checkpoint = run_dir / "checkpoint.pt"
        return RunFailed(
            message, node_id, stacks, str(checkpoint) if checkpoint.exists() else None, history
        )

    def _mark_failed(self, run_dir: Path, message: str) -> tuple:
        """metrics.json says the run failed (its history stays); returns the history."""
        path = run_dir / "metrics.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {
                "epochs": 0,
                "global_step": 0,
                "final": {},
                "history": [],
                "settings": self._settings,
            }
        if not isinstance(data, dict):
            return ()
        data["status"], data["error"] = "failed", message
        with contextlib.suppress(OSError):
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n", encoding="utf-8")
            tmp.replace(path)
        history = data.get("history")
        return tuple(history) if isinstance(history, list) else ()

    # ------------------------------------------------------------------ ending a worker
    def _start_countdown(self) -> None:
        self._deadline = time.monotonic() + self.grace_s
        self._shown = math.ceil(self.grace_s)
        self.countdown.emit(self.grace_s)
        self._timer.start()

    def _cancel_countdown(self) -> None:
        if self._deadline is not None:
            self._deadline = None
            self._timer.stop()
            self.countdown.emit(-1.0)

    def _tick(self) -> None:
        if self._deadline is None:
            self._timer.stop()
            return
        left = self._deadline - time.monotonic()
        if left > 0:
            if math.ceil(left) != self._shown:
                self._shown = math.ceil(left)
                self.countdown.emit(left)
            return
        self._timer.stop()
        self._deadline = None
        self.countdown.emit(0.0)
        if self._reader is not None:
            worker = self._reader.worker
            worker.dump_stacks()  # where it hangs, for the message
            self._end_later(worker, 0.2)

    def _end_later(self, worker: WorkerProcess, delay_s: float) -> None:
        """Terminate ``worker`` in ``delay_s`` unless it has exited, then kill it."""
        self._ending.append((time.monotonic() + delay_s, worker))
        self._reaper.start()

    def _reap(self) -> None:
        now, keep = time.monotonic(), []
        for when, worker in self._ending:
            if not worker.alive():
                continue
            if now < when:
                keep.append((when, worker))
            elif worker.ended_by is None:
                worker.terminate()
                keep.append((now + KILL_AFTER_S, worker))
            else:
                worker.kill()
        self._ending = keep
        if not keep:
            self._reaper.stop()

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        if self.control is not None and self.state == "running":
            self.control.pause()

    def resume(self) -> None:
        if self.control is not None and self.state == "paused":
            self.control.resume()

    def stop(self) -> None:
        if self.control is not None and self.running and self.state != "stopping":
            self.control.stop()
            self._set_state("stopping")
            # counted from now in every phase: a run that hangs while it compiles, builds its
            # model or loads its data is ended too (its checkpoint and metrics stay)
            self._start_countdown()

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Stop the run and wait for its checkpoint and for its worker to exit (closing the
        window during a run)."""
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer

        self.stop()
        deadline = QDeadlineTimer(timeout_ms)
        while (self.running or self._reader is not None) and not deadline.hasExpired():
            QCoreApplication.processEvents()
            QThread.msleep(10)
        return not self.running
