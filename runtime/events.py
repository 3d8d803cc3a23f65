"""What a training run says and how it is steered, as plain data that never needs torch.

The trainer yields these events and obeys a :class:`RunControl`; the training worker pickles the
events to the window, which reads them without importing torch (tensors travel as numpy
arrays). :class:`TrainOptions` is what a caller asks of one run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


# ---------------------------------------------------------------------------- events
@dataclass(frozen=True)
class RunStarted:
    device: str
    epochs: int
    steps_per_epoch: int
    n_train: int
    n_val: int
    task: str
    classes: tuple[str, ...] | None
    params: int
    start_epoch: int
    start_batch: int
    notices: tuple[str, ...] = ()  # things the user should know (e.g. no pretrained weights)


@dataclass(frozen=True)
class StepEvent:
    epoch: int  # 0-based
    step: int  # step within the epoch, 1-based
    global_step: int
    loss: float
    lr: float
    samples_per_s: float
    elapsed: float


@dataclass(frozen=True)
class EpochEvent:
    epoch: int  # 1-based count of finished epochs
    global_step: int  # steps trained when the epoch ended (its x on the step axis)
    train_loss: float
    val_loss: float
    metrics: dict[str, Any]
    lr: float
    elapsed: float
    is_best: bool
    predictions: Any = None  # (prediction, target) tensors on the CPU, for result views
    samples: Any = None  # (inputs, predicted, targets) of up to 16 validation images, CPU
    image: Any = None  # an optimised image (style transfer): uint8 numpy array [H, W, 3]


@dataclass(frozen=True)
class StateChanged:
    state: str  # "paused" or "running"


@dataclass(frozen=True)
class RunFinished:
    status: str  # "completed" or "stopped"
    epochs_done: int
    global_step: int
    history: tuple[dict[str, Any], ...]
    checkpoint: str | None
    elapsed: float


@dataclass(frozen=True)
class RunFailed:
    message: str
    node_id: str | None
    traceback: str
    checkpoint: str | None
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class AutogradSnapshot:
    """Gradient health after a step, and the backward graph of that step's batch when asked."""

    global_step: int
    grads: Any  # autograd.GradStats
    graph: Any = None  # autograd.AutogradGraph, or None


Event = (
    RunStarted | StepEvent | EpochEvent | StateChanged | RunFinished | RunFailed | AutogradSnapshot
)


class RunControl:
    """Pause, resume and stop, checked by the loop between steps. Thread-safe."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        # autograd view: gradient norms every N steps, the graph every N steps or on request
        # (0: never); read by the loop between steps
        self.grads_every = 0
        self.graph_every = 0
        self._graph_wanted = threading.Event()

    def request_graph(self) -> None:
        """Capture the backward graph after the next step."""
        self._graph_wanted.set()

    def autograd_due(self, step: int) -> tuple[bool, bool]:
        """(gradient norms, graph) to report after ``step``."""
        graph = self._graph_wanted.is_set() or (
            self.graph_every > 0 and step % self.graph_every == 0
        )
        grads = graph or (self.grads_every > 0 and step % self.grads_every == 0)
        if graph:
            self._graph_wanted.clear()
        return grads, graph

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._running.wait(timeout)


@dataclass
class TrainOptions:
    epochs: int | None = None  # default: the project's setting
    device: str | None = None
    out_dir: Path | None = None  # checkpoint.pt, best.pt, weights.pt, metrics.json
    resume: Path | None = None
    log_every: int | None = None
    keep_predictions: bool = True
    data_dir: Path | None = None
    max_steps: int | None = None  # stop after this many steps in total (tests, benchmarks)
    # TensorBoard event files in out_dir/tensorboard (None: the project's tensorboard setting)
    tensorboard: bool | None = None
    hparams: dict[str, Any] | None = None  # recorded beside the project's own (a sweep trial's)
