"""Training in a worker process, so that nothing a run does can take its caller down.

A segfault or ``os.abort()`` in a code node, ``os._exit``, a CUDA device assert that poisons the
process, a step that never returns: each ends the worker, never the window. The worker is a
process of the ``spawn`` start method (a fresh interpreter: no forked Qt or CUDA state) that
imports torch and the runtime, reports ``ready`` and waits for one job; it trains that job and
exits, so all its memory (RAM and device) goes back when the run ends. Since a fresh interpreter
takes seconds to import torch, callers keep one spare worker started ahead of time
(``take_worker`` / ``ensure_spare``).

Messages are pickled tuples over two one-way pipes (``pickle``, never ``ForkingPickler``, so
tensors travel as bytes, not as shared-memory handles that die with the worker).

Caller → worker (the control pipe, read by the training loop between steps)::

    ("run", Job)            once: what to train
    ("pause",) ("resume",) ("stop",)
    ("graph",)              capture the backward graph after the next step
    ("autograd", grads_every, graph_every)

Worker → caller (the event pipe)::

    ("ready", import_seconds)       the worker is warm
    ("lines", {file: {line: node}})  generated files' line → node maps, to place a crash
    ("steps", [StepEvent, ...])      batched: at most one message per ``BATCH_S``
    ("event", event)                 RunStarted, EpochEvent, StateChanged, AutogradSnapshot,
                                     RunFinished or RunFailed (the last message of a run)
    ("stopping",)                    the loop has read a stop request

When the worker dies without a final event, ``death_message`` says why (exit code or signal)
and ``fault_node`` finds the canvas node in the Python stacks that ``faulthandler`` wrote to
the job's fault log (on a fatal signal, or on ``SIGUSR1`` when a hung step is ended).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import faulthandler
import os
import pickle
import re
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from torchcanvas.runtime.spawn import SPAWN, SpawnProcess

BATCH_S = 0.05  # step events are sent in batches at most this often
DUMP_SIGNAL = getattr(signal, "SIGUSR1", None)  # asks a worker to write its Python stacks

_PROTOCOL = pickle.HIGHEST_PROTOCOL


@dataclass
class Job:
    """One training run, as the worker receives it: plain data and the trainer's options."""

    project: dict[str, Any]  # the graph as saved (graph.serialize.to_dict form)
    options: Any  # trainer.TrainOptions
    project_dir: Path | None = None
    title: str = ""
    fault_log: Path | None = None  # where faulthandler writes the stacks of a crash or hang
    environ: dict[str, str] | None = None  # the caller's environment when the run started
    threads: int | None = None  # torch intra-op threads (None: default_threads())
    grads_every: int = 0
    graph_every: int = 0


def _send(conn: Connection, message: tuple) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=_PROTOCOL))


def _recv(conn: Connection) -> tuple:
    return pickle.loads(conn.recv_bytes())


# ---------------------------------------------------------------------------- worker side
def _warm_up() -> None:
    """Import what every run needs, so a spare worker starts training at once."""
    import torch  # noqa: F401

    import torchcanvas.runtime.autograd
    import torchcanvas.runtime.compile
    import torchcanvas.runtime.data
    import torchcanvas.runtime.trainer  # noqa: F401
    from torchcanvas.graph import serialize  # noqa: F401

    with contextlib.suppress(ImportError):  # the bundled tabular/image sets
        import sklearn.datasets  # noqa: F401
    # the first compile and the first steps of a process pay for shape inference and kernel
    # set-up: pay them here, on the bundled example, before anyone waits
    with contextlib.suppress(Exception):
        from torchcanvas.assets import assets_dir
        from torchcanvas.graph import load
        from torchcanvas.runtime.compile import compile_project
        from torchcanvas.runtime.trainer import Trainer, TrainOptions

        project = compile_project(load(assets_dir() / "examples" / "digits_cnn.json"))
        for _ in Trainer(project, TrainOptions(device="cpu", max_steps=2, keep_predictions=False)):
            pass


def _numpy(value):
    """``value`` with every tensor in it (nested in tuples and lists) as a numpy array: the window
    reads events without importing torch."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        return value.numpy()
    if isinstance(value, tuple | list):
        return type(value)(_numpy(v) for v in value)
    return value


def _portable(event):
    """The event as the window reads it: result tensors as numpy arrays."""
    from torchcanvas.runtime.events import EpochEvent

    if isinstance(event, EpochEvent) and (
        event.predictions is not None or event.samples is not None
    ):
        return dataclasses.replace(
            event, predictions=_numpy(event.predictions), samples=_numpy(event.samples)
        )
    return event


def _control_class():
    from torchcanvas.runtime.events import RunControl

    class PipeControl(RunControl):
        """The trainer's run control, fed by the control pipe. The loop calls ``wait`` between
        steps, which reads what arrived; while paused it blocks on the pipe itself, so a
        resume or stop answers at once."""

        def __init__(self, conn: Connection, events: Connection):
            super().__init__()
            self._conn = conn
            self._events = events

        def _apply(self, message: tuple) -> None:
            kind = message[0]
            if kind == "pause":
                self.pause()
            elif kind == "resume":
                self.resume()
            elif kind == "stop":
                self.stop()
                _send(self._events, ("stopping",))
            elif kind == "graph":
                self.request_graph()
            elif kind == "autograd":
                self.grads_every, self.graph_every = message[1], message[2]

        def drain(self, timeout: float = 0.0) -> None:
            try:
                while self._conn.poll(timeout):
                    self._apply(_recv(self._conn))
                    timeout = 0.0
            except (EOFError, OSError):  # the caller is gone: stop, keep the checkpoint
                self.stop()

        def wait(self, timeout: float | None = None) -> bool:
            self.drain()
            if not self._running.is_set() and timeout:
                self.drain(timeout)
            return self._running.is_set()

    return PipeControl


def default_threads() -> int:
    """torch's own thread count, less one CPU for the window that draws the run: threads that
    share their CPUs with other busy processes wait on each other at every parallel op (on 2
    busy CPUs, a digits CNN epoch took 10x longer on 2 threads than on 1)."""
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cpus - 1))


def _line_maps(project) -> dict[str, dict[int, str]]:
    from torchcanvas.runtime.source import register

    model = project.model.source
    return {
        register(model.source, "model.py"): dict(model.line_map),
        project.functions["__file__"]: dict(project.train.line_map),
    }


def _apply_environ(environ: dict[str, str] | None) -> None:
    """The caller's environment as of the job (a spare may have started before a change:
    data and runs folders, TORCH_HOME for weights…)."""
    if environ is None:
        return
    for key in [k for k in os.environ if k not in environ]:
        del os.environ[key]
    os.environ.update(environ)


def _run(job: Job, control_conn: Connection, events: Connection) -> None:
    import torch

    from torchcanvas.graph.serialize import from_dict
    from torchcanvas.runtime.compile import CompileError, compile_project
    from torchcanvas.runtime.trainer import RunFailed, StepEvent, Trainer

    _apply_environ(job.environ)
    torch.set_num_threads(job.threads or default_threads())
    if job.fault_log is not None:
        log = open(job.fault_log, "w", encoding="utf-8")  # noqa: SIM115 (open until exit)
        faulthandler.enable(log, all_threads=True)
        if DUMP_SIGNAL is not None:
            faulthandler.register(DUMP_SIGNAL, log, all_threads=True)
    control = _control_class()(control_conn, events)
    control.grads_every, control.graph_every = job.grads_every, job.graph_every
    control.drain()
    try:
        project = compile_project(from_dict(job.project), job.project_dir, title=job.title)
    except CompileError as exc:
        _send(events, ("event", RunFailed(str(exc), exc.node_id, "", None)))
        return
    except Exception as exc:
        _send(
            events,
            (
                "event",
                RunFailed(f"{type(exc).__name__}: {exc}", None, traceback.format_exc(), None),
            ),
        )
        return
    _send(events, ("lines", _line_maps(project)))
    pending: list = []
    last = time.monotonic()
    for event in Trainer(project, job.options, control):
        if isinstance(event, StepEvent):
            pending.append(event)
            now = time.monotonic()
            if now - last >= BATCH_S:
                _send(events, ("steps", pending))
                pending, last = [], now
            continue
        if pending:
            _send(events, ("steps", pending))
            pending, last = [], time.monotonic()
        try:
            message = pickle.dumps(("event", _portable(event)), protocol=_PROTOCOL)
        except Exception as exc:  # an event holding something that cannot travel
            message = pickle.dumps(
                (
                    "event",
                    RunFailed(
                        f"the training process could not send {type(event).__name__}: {exc}",
                        None,
                        traceback.format_exc(),
                        None,
                    ),
                ),
                protocol=_PROTOCOL,
            )
        events.send_bytes(message)


def main(control_conn: Connection, events: Connection) -> None:
    """The worker process: warm up, say ready, run one job, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is for the app
    if DUMP_SIGNAL is not None:  # a dump asked for before a job's log is open goes to stderr
        faulthandler.register(DUMP_SIGNAL, sys.stderr, all_threads=True)
    code = 0
    try:
        _serve(control_conn, events)
    except BaseException:
        traceback.print_exc()
        code = 1
    # every file of the run is written and closed; tearing down an interpreter that holds
    # torch takes seconds, and all of its memory goes back at exit anyway
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve(control_conn: Connection, events: Connection) -> None:
    start = time.perf_counter()
    _warm_up()
    try:
        _send(events, ("ready", time.perf_counter() - start))
        message = _recv(control_conn)
    except (EOFError, OSError):  # the caller let this spare go
        return
    if message[0] != "run":
        return
    try:
        _run(message[1], control_conn, events)
    except (BrokenPipeError, EOFError):  # the caller is gone
        pass
    except Exception as exc:  # outside the trainer's own fault handling: still said in words
        from torchcanvas.runtime.events import RunFailed

        with contextlib.suppress(Exception):
            _send(
                events,
                (
                    "event",
                    RunFailed(f"{type(exc).__name__}: {exc}", None, traceback.format_exc(), None),
                ),
            )
    finally:
        with contextlib.suppress(OSError):
            events.close()


# ---------------------------------------------------------------------------- caller side
class WorkerProcess:
    """The caller's handle on one worker process: its pipes, and the means to end it."""

    def __init__(self) -> None:
        control_r, self._control = SPAWN.Pipe(duplex=False)
        self.events, events_w = SPAWN.Pipe(duplex=False)
        self.process = SpawnProcess(
            target=main, args=(control_r, events_w), name="torchcanvas-training"
        )
        self.spawned_at = time.monotonic()
        self.process.start()
        control_r.close()
        events_w.close()
        self.ended_by: str | None = None  # "terminate" / "kill" when the caller ended it

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, *message: Any) -> bool:
        """Send a control message; False when the worker is gone."""
        try:
            _send(self._control, message)
        except (OSError, ValueError):
            return False
        return True

    def run(self, job: Job) -> bool:
        return self.send("run", job)

    def recv(self) -> tuple:
        """The next message (blocks); EOFError once the worker has closed its end."""
        return _recv(self.events)

    def wait_message(self, timeout: float | None) -> bool:
        """True when a message (or end of file) is ready, False when the worker exited or the
        timeout passed without one."""
        from multiprocessing.connection import wait

        ready = wait([self.events, self.process.sentinel], timeout)
        if self.events in ready:
            return True
        return bool(ready) and self.events.poll(0)

    def dump_stacks(self) -> None:
        """Have the worker write its Python stacks to the fault log (where a hang is)."""
        if DUMP_SIGNAL is not None and self.alive():
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, DUMP_SIGNAL)

    def terminate(self) -> None:
        if self.alive():
            self.ended_by = self.ended_by or "terminate"
            self.process.terminate()

    def kill(self) -> None:
        if self.alive():
            self.ended_by = "kill"
            self.process.kill()

    def close(self, timeout: float = 2.0) -> int | None:
        """Close the pipes (a waiting worker then exits), end it if it lingers; exit code."""
        for conn in (self._control, self.events):
            with contextlib.suppress(OSError):
                conn.close()
        self.process.join(timeout)
        if self.alive():
            self.terminate()
            self.process.join(1.0)
        if self.alive():
            self.kill()
            self.process.join(1.0)
        return self.process.exitcode


class RemoteControl:
    """RunControl's interface for a run in a worker: every call becomes a control message."""

    def __init__(self, worker: WorkerProcess, grads_every: int = 0, graph_every: int = 0):
        self._worker = worker
        self._grads_every = grads_every
        self._graph_every = graph_every
        self.paused = False
        self.stopped = False

    def pause(self) -> None:
        self.paused = self._worker.send("pause") or self.paused

    def resume(self) -> None:
        self._worker.send("resume")
        self.paused = False

    def stop(self) -> None:
        self._worker.send("stop")
        self.stopped = True

    def request_graph(self) -> None:
        self._worker.send("graph")

    @property
    def grads_every(self) -> int:
        return self._grads_every

    @grads_every.setter
    def grads_every(self, value: int) -> None:
        self._set_intervals(value, self._graph_every)

    @property
    def graph_every(self) -> int:
        return self._graph_every

    @graph_every.setter
    def graph_every(self, value: int) -> None:
        self._set_intervals(self._grads_every, value)

    def _set_intervals(self, grads_every: int, graph_every: int) -> None:
        """Keeps the autograd intervals and tells the worker when they change."""
        if (grads_every, graph_every) != (self._grads_every, self._graph_every):
            self._grads_every, self._graph_every = grads_every, graph_every
            self._worker.send("autograd", grads_every, graph_every)


# ---------------------------------------------------------------------------- the spare
_spare: WorkerProcess | None = None


def take_worker() -> tuple[WorkerProcess, bool]:
    """A worker for a run: the spare when there is a live one (warm), else a new one (cold)."""
    global _spare
    worker, _spare = _spare, None
    if worker is not None and worker.alive():
        return worker, True
    if worker is not None:
        worker.close(0.1)
    return WorkerProcess(), False


def ensure_spare() -> WorkerProcess:
    """Start a spare worker unless a live one waits already."""
    global _spare
    if _spare is None or not _spare.alive():
        if _spare is not None:
            _spare.close(0.1)
        _spare = WorkerProcess()
    return _spare


def discard_spare() -> None:
    """End the spare worker (at exit, or to measure a cold start)."""
    global _spare
    worker, _spare = _spare, None
    if worker is not None:
        worker.close(2.0)


atexit.register(discard_spare)


def environ() -> dict[str, str]:
    """The caller's environment, for a job (a spare may predate a change)."""
    return dict(os.environ)


# ---------------------------------------------------------------------------- post-mortem
_FRAME = re.compile(r'File "(<torchcanvas [^"]+>)", line (\d+)')


def fault_node(text: str, lines: dict[str, dict[int, str]]) -> str | None:
    """The canvas node of the innermost generated line in a faulthandler dump: the crashing
    thread's stack when the dump names it, else the first stack."""
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", text)
    current = [b for b in blocks if b.lstrip().startswith("Current thread")] or blocks
    for block in current[:1]:
        for match in _FRAME.finditer(block):  # most recent call first
            node = lines.get(match.group(1), {}).get(int(match.group(2)))
            if node is not None:
                return node
    return None


def death_message(
    exitcode: int | None,
    ended_by: str | None = None,
    grace_s: float | None = None,
    where: str = "",
    started: bool = True,
) -> str:
    """Why a worker ended without a final event, in words; ``where`` (" in conv1") places it;
    ``started``: whether the run had begun its steps (else it was still compiling, building
    the model or loading data)."""
    if ended_by is not None and not started:
        return (
            f"the run was still starting{where} (compiling, building the model or loading "
            f"data) {grace_s:g} s after Stop, so the training process was ended"
        )
    if ended_by is not None:
        return (
            f"the current step{where} did not finish within {grace_s:g} s of Stop, so "
            "the training process was ended"
        )
    if exitcode is None:
        return f"the training process ended{where} without a word"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        what = signal.strsignal(number) or name
        hint = " (the system may have run out of memory)" if name == "SIGKILL" else ""
        return f"the training process crashed{where}: {what} ({name}){hint}"
    return f"the training process exited with code {exitcode}{where} before the run ended"
