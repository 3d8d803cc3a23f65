"""The runtime trainer: event order and content, pause/resume/stop from another thread, exact
resume from a checkpoint, and faults that end as ``RunFailed`` events instead of exceptions.

Runs on the CPU with few epochs and big batches; torch on the CPU is deterministic for these
small models, so losses are compared exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import threading
import time

import pytest
import torch

from torchcanvas.graph import Graph, load
from torchcanvas.runtime.compile import CompiledProject, compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.trainer import (
    EpochEvent,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    StepEvent,
    Trainer,
    TrainOptions,
    available_devices,
    pick_device,
)

DIGITS_TRAIN, DIGITS_VAL = 1438, 359  # 1797 samples, val_split 0.2


def example(name: str, **settings) -> Graph:
    graph = load(assets_dir() / "examples" / f"{name}.json")
    for key, value in {"device": "cpu", **settings}.items():  # exact values: CPU kernels
        graph.set_setting(key, value)
    return graph


def digits(**settings) -> Graph:
    """digits_cnn with 128-sample batches: 12 steps per epoch (11 × 128 + 30)."""
    return example("digits_cnn", **{"epochs": 2, "batch_size": 128, **settings})


def linear(**settings) -> Graph:
    """linear_regression: 160 training samples in batches of 8, 20 steps per epoch."""
    return example("linear_regression", **{"epochs": 3, **settings})


def of(events, kind) -> list:
    return [e for e in events if isinstance(e, kind)]


def losses(events) -> list[float]:
    return [e.loss for e in of(events, StepEvent)]


def check_steps(events, first: int, last: int, steps_per_epoch: int) -> None:
    """One StepEvent per step, global_step first..last without gaps, epoch/step consistent."""
    steps = of(events, StepEvent)
    assert [e.global_step for e in steps] == list(range(first, last + 1))
    for e in steps:
        assert e.epoch == (e.global_step - 1) // steps_per_epoch
        assert e.step == e.global_step - e.epoch * steps_per_epoch
        assert math.isfinite(e.loss) and e.loss > 0
        assert e.samples_per_s > 0 and e.elapsed >= 0


# ------------------------------------------------------------------------- events and files
def test_digits_events_metrics_and_files(tmp_path):
    project = compile_project(digits(log_every=5), title="digits")
    out = tmp_path / "run"
    trainer = Trainer(project, TrainOptions(out_dir=out))
    events = trainer.run()

    started = events[0]
    assert started == RunStarted(
        device="cpu",
        epochs=2,
        steps_per_epoch=12,
        n_train=DIGITS_TRAIN,
        n_val=DIGITS_VAL,
        task="classification",
        classes=tuple(str(i) for i in range(10)),
        params=9930,
        start_epoch=0,
        start_batch=0,
    )
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    assert (finished.epochs_done, finished.global_step) == (2, 24)
    assert not of(events, RunFailed) and not of(events, StateChanged)

    # losses are read back every 5 steps, yet every step has its own event, in order, and the
    # epoch event follows the epoch's last step
    check_steps(events, 1, 24, 12)
    kinds = [type(e).__name__ for e in events]
    assert kinds == (
        ["RunStarted"]
        + ["StepEvent"] * 12
        + ["EpochEvent"]
        + ["StepEvent"] * 12
        + ["EpochEvent", "RunFinished"]
    )
    assert [e.global_step for e in of(events, EpochEvent)] == [12, 24]  # where each one ended
    step_losses = losses(events)
    assert step_losses[-1] < step_losses[0]  # it learns

    # the batched read-back gives the same per-step values as reading every step
    every_step = Trainer(compile_project(digits(log_every=1)), TrainOptions()).run()
    assert losses(every_step) == step_losses

    sizes = [128] * 11 + [30]
    for epoch in of(events, EpochEvent):
        i = epoch.epoch - 1
        window = step_losses[12 * i : 12 * (i + 1)]
        # the epoch's train loss is the sample-weighted mean of its step losses (float32 sums)
        assert epoch.train_loss == pytest.approx(
            sum(v * n for v, n in zip(window, sizes, strict=True)) / DIGITS_TRAIN, rel=1e-5
        )
        m = epoch.metrics
        assert {"accuracy", "precision", "recall", "f1", "confusion_matrix"} <= m.keys()
        cm = torch.tensor(m["confusion_matrix"])
        assert cm.shape == (10, 10) and int(cm.sum()) == DIGITS_VAL
        assert m["accuracy"] == pytest.approx(int(cm.trace()) / DIGITS_VAL)
        prediction, target = epoch.predictions
        assert prediction.shape == (DIGITS_VAL, 10) and target.shape == (DIGITS_VAL,)
        assert m["accuracy"] == pytest.approx(
            (prediction.argmax(1) == target).double().mean().item()
        )
        for key in ("precision", "recall", "f1"):
            assert 0.0 < m[key] <= 1.0
        assert math.isfinite(epoch.val_loss) and epoch.lr == 0.001
    first, second = of(events, EpochEvent)
    assert second.metrics["accuracy"] > 0.5 and second.val_loss < first.val_loss
    assert first.is_best and second.is_best
    assert [h["val_loss"] for h in finished.history] == [first.val_loss, second.val_loss]

    # files
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt",
        "checkpoint.pt",
        "metrics.json",
        "weights.pt",
    ]
    assert finished.checkpoint == str(out / "checkpoint.pt")
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch"]) == (2, 0)
    assert [h["val_loss"] for h in ckpt["history"]] == [first.val_loss, second.val_loss]
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["epoch"] == 2
    model = project.model.new()
    model.load_state_dict(torch.load(out / "weights.pt", weights_only=True))
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)
        assert torch.equal(ckpt["model"][name], value)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert (metrics["epochs"], metrics["global_step"]) == (2, 24)
    assert metrics["final"] == metrics["history"][-1]
    assert metrics["final"]["accuracy"] == second.metrics["accuracy"]
    assert metrics["settings"]["batch_size"] == 128


def test_regression_metrics():
    project = compile_project(linear(log_every=7))
    events = Trainer(project, TrainOptions()).run()
    assert events[0].task == "regression" and events[0].classes is None
    assert (events[0].n_train, events[0].n_val, events[0].steps_per_epoch) == (160, 40, 20)
    assert events[-1].status == "completed" and events[-1].global_step == 60
    check_steps(events, 1, 60, 20)
    step_losses = losses(events)
    epochs = of(events, EpochEvent)
    assert [e.epoch for e in epochs] == [1, 2, 3]
    for e in epochs:
        window = step_losses[20 * (e.epoch - 1) : 20 * e.epoch]  # 20 full batches of 8
        assert e.train_loss == pytest.approx(sum(window) / 20, rel=1e-5)
        m = e.metrics
        prediction, target = (t.double() for t in e.predictions)
        assert prediction.shape == target.shape == (40, 1)
        err = prediction - target
        assert m["mae"] == pytest.approx(err.abs().mean().item(), rel=1e-6)
        assert m["mse"] == pytest.approx(e.val_loss, rel=1e-5)  # MSE loss, mean over samples
        var = ((target - target.mean()) ** 2).mean().item()
        assert m["r2"] == pytest.approx(1 - m["mse"] / var, rel=1e-6)
    assert epochs[-1].val_loss < epochs[0].val_loss
    assert epochs[-1].metrics["r2"] > epochs[0].metrics["r2"]


# ------------------------------------------------------------------------- control
def test_pause_resume_stop_from_another_thread(tmp_path):
    """The trainer runs in a worker thread; this thread pauses, resumes and stops it."""
    project = compile_project(digits(batch_size=32, log_every=1))  # 45 steps per epoch
    control = RunControl()
    out = tmp_path / "run"
    # maxsize 1: the worker blocks on put, so it runs at most two steps ahead of this reader
    inbox: queue.Queue = queue.Queue(maxsize=1)
    seen: list = []

    def work() -> None:
        for event in Trainer(project, TrainOptions(out_dir=out), control):
            inbox.put(event)
        inbox.put(None)

    def take():
        event = inbox.get(timeout=120)
        seen.append(event)
        return event

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        assert isinstance(take(), RunStarted)
        while not (isinstance(e := take(), StepEvent) and e.global_step == 3):
            pass
        control.pause()
        while not isinstance(e := take(), StateChanged):
            assert isinstance(e, StepEvent)
        assert e == StateChanged("paused") and control.paused
        paused_at = of(seen, StepEvent)[-1].global_step
        assert 3 <= paused_at <= 5  # the worker was at most two steps ahead
        with pytest.raises(queue.Empty):  # paused: nothing arrives
            inbox.get(timeout=0.5)
        assert worker.is_alive()
        control.resume()
        assert take() == StateChanged("running")
        e = take()
        assert isinstance(e, StepEvent) and e.global_step == paused_at + 1

        while e.global_step < paused_at + 4:
            e = take()
        control.stop()
        while (e := take()) is not None:
            assert isinstance(e, StepEvent | RunFinished)
    finally:  # never leave the worker blocked on a full queue
        control.stop()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                inbox.get(timeout=0.1)
        worker.join()

    finished = seen[-2]
    assert isinstance(finished, RunFinished) and finished.status == "stopped"
    stopped_at = finished.global_step
    assert paused_at + 4 <= stopped_at <= paused_at + 6
    check_steps(seen, 1, stopped_at, 45)  # no step lost or repeated across the pause
    assert finished.epochs_done == 0 and finished.history == ()
    assert not of(seen, EpochEvent)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch"]) == (0, stopped_at)  # mid-epoch
    assert finished.checkpoint == str(out / "checkpoint.pt")
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["status"], metrics["global_step"]) == ("stopped", stopped_at)
    assert (out / "weights.pt").exists() and not (out / "best.pt").exists()


def test_control_from_another_thread_while_iterating_here(tmp_path):
    """This thread iterates; timers on other threads resume and stop: exact stop points."""
    project = compile_project(linear(epochs=2, log_every=1))
    control = RunControl()
    out = tmp_path / "run"
    events: list = []
    stamps: list[float] = []
    timers = []
    for event in Trainer(project, TrainOptions(out_dir=out), control):
        events.append(event)
        stamps.append(time.perf_counter())
        if isinstance(event, StepEvent) and event.global_step in (6, 27):
            control.pause()
            action = control.resume if event.global_step == 6 else control.stop
            timers.append(threading.Timer(0.3, action))
            timers[-1].start()
    for timer in timers:
        timer.join()

    kinds = [type(e).__name__ for e in events]
    i = kinds.index("StateChanged")
    assert events[i - 1].global_step == 6
    assert events[i : i + 2] == [StateChanged("paused"), StateChanged("running")]
    assert isinstance(events[i + 2], StepEvent) and events[i + 2].global_step == 7
    assert stamps[i + 1] - stamps[i] >= 0.25  # it waited for the resume
    # paused at step 27, then stopped while paused: no "running", straight to the end
    assert events[-2:] == [StateChanged("paused"), events[-1]]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "stopped"
    assert (finished.global_step, finished.epochs_done, len(finished.history)) == (27, 1, 1)
    check_steps(events, 1, 27, 20)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch"]) == (1, 7)

    # and it picks up there
    resumed = Trainer(project, TrainOptions(resume=out / "checkpoint.pt")).run()
    assert (resumed[0].start_epoch, resumed[0].start_batch) == (1, 7)
    check_steps(resumed, 28, 40, 20)
    assert resumed[-1].status == "completed" and resumed[-1].epochs_done == 2
    assert len(resumed[-1].history) == 2


# ------------------------------------------------------------------------- exact resume
def with_dropout(graph: Graph) -> Graph:
    """Dropout between flatten and classifier: the resumed run must continue its RNG stream."""
    drop = graph.add_node("nn.Dropout", {"p": 0.5})
    (wire,) = [e for e in graph.edges() if e.src == "n7"]
    graph.disconnect(wire)
    graph.connect("n7", "out", drop, "x")
    graph.connect(drop, "out", "n8", "x")
    graph.set_param("n11", "step_size", 1)  # the learning rate changes every epoch
    return graph


@pytest.fixture(scope="module")
def dropout_project() -> CompiledProject:
    return compile_project(with_dropout(digits()))


@pytest.fixture(scope="module")
def uninterrupted(dropout_project):
    trainer = Trainer(dropout_project, TrainOptions())
    events = trainer.run()
    assert events[-1].status == "completed" and events[-1].global_step == 24
    return events, trainer.model.state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("k", [5, 12, 17], ids=["mid-epoch", "epoch-boundary", "next-epoch"])
def test_stopped_and_resumed_run_equals_uninterrupted(dropout_project, uninterrupted, k, tmp_path):
    a_events, a_weights = uninterrupted
    out = tmp_path / "b"
    first = Trainer(dropout_project, TrainOptions(max_steps=k, out_dir=out)).run()
    assert first[-1].status == "stopped" and first[-1].global_step == k
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch"]) == divmod(k, 12)

    second_trainer = Trainer(dropout_project, TrainOptions(resume=out / "checkpoint.pt"))
    second = second_trainer.run()
    assert (second[0].start_epoch, second[0].start_batch) == divmod(k, 12)
    assert second[-1].status == "completed" and second[-1].global_step == 24
    check_steps(second, k + 1, 24, 12)
    # Exact equality: same data order (sampler seeded by epoch), same dropout masks (RNG
    # restored), same Adam and StepLR state; CPU kernels here are deterministic.
    assert losses(first) + losses(second) == losses(a_events)
    assert [e.lr for e in of(first + second, StepEvent)] == [e.lr for e in of(a_events, StepEvent)]
    for name, value in a_weights.items():
        assert torch.equal(second_trainer.model.state_dict()[name], value), name
    a_history, b_history = a_events[-1].history, second[-1].history
    assert [h["val_loss"] for h in b_history] == [h["val_loss"] for h in a_history]
    # a stop mid-epoch kept the epoch's loss sums: its train_loss averages all its steps
    assert [h["train_loss"] for h in b_history] == [h["train_loss"] for h in a_history]
    assert [h["accuracy"] for h in b_history] == [h["accuracy"] for h in a_history]
    assert [h["lr"] for h in b_history] == [h["lr"] for h in a_history]
    # StepLR(step_size=1, gamma=0.5) was restored too: each epoch's steps ran at its own rate
    assert {e.lr for e in of(second, StepEvent) if e.epoch == 1} == {0.0005}


@pytest.mark.slow
def test_resume_with_other_rng_state_differs(dropout_project, uninterrupted, tmp_path):
    """Control for the test above: the dropout masks do depend on the restored RNG state."""
    a_events, _ = uninterrupted
    out = tmp_path / "b"
    Trainer(dropout_project, TrainOptions(max_steps=5, out_dir=out)).run()
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    ckpt["rng"] = torch.Generator().manual_seed(123).get_state()
    torch.save(ckpt, out / "other.pt")
    second = Trainer(dropout_project, TrainOptions(resume=out / "other.pt")).run()
    assert second[-1].status == "completed"
    assert losses(second) != losses(a_events)[5:]


# ------------------------------------------------------------------------- faults
def test_huge_learning_rate_fails_at_the_loss_node(tmp_path):
    graph = linear()
    graph.set_param("n4", "lr", 1e6)
    out = tmp_path / "run"
    events = Trainer(compile_project(graph), TrainOptions(out_dir=out)).run()  # never raises
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.node_id == "n3"  # loss1
    assert "lower learning rate" in failed.message
    assert "optimizer1" in failed.message and "1000000.0" in failed.message
    assert all(math.isfinite(v) for v in losses(events))  # events stop before the bad step
    # it diverged in the first epoch: there is no good checkpoint, and none was written
    assert failed.checkpoint is None and not (out / "checkpoint.pt").exists()
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("lr", [1.5, 4.0])
def test_divergence_keeps_the_last_good_checkpoint(tmp_path, lr):
    """lr 1.5 diverges in epoch 3; with 4.0 the first epoch's training losses are finite but its
    last steps blow the weights up, so its validation loss is inf: that is no good checkpoint."""
    graph = linear(epochs=10)
    graph.set_param("n4", "lr", lr)
    out = tmp_path / "run"
    events = Trainer(compile_project(graph), TrainOptions(out_dir=out)).run()
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.node_id == "n3"
    assert "diverged" in failed.message and "lower learning rate" in failed.message
    good = of(events, EpochEvent)
    assert all(math.isfinite(e.val_loss) for e in good)
    if lr == 4.0:
        assert not good and failed.checkpoint is None
        assert "validation loss" in failed.message
        return
    assert len(good) == 2 and len(failed.history) == 2
    assert failed.checkpoint == str(out / "checkpoint.pt")
    ckpt = torch.load(failed.checkpoint, weights_only=True)
    assert (ckpt["epoch"], ckpt["batch"]) == (2, 0)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert [h["val_loss"] for h in ckpt["history"]] == [e.val_loss for e in good]


def test_runtime_model_error_points_at_the_loss_node():
    """10 classes into a 5-way classifier: shapes agree, the loss fails on real targets."""
    graph = digits()
    graph.set_param("n8", "out_features", 5)
    events = Trainer(compile_project(graph), TrainOptions()).run()
    assert isinstance(events[0], RunStarted) and not of(events, StepEvent)
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.node_id == "n9"  # loss1, through the generated train.py's line map
    assert failed.message.startswith("loss1: IndexError: Target")
    assert "out of bounds" in failed.message
    assert "<torchcanvas train.py" in failed.traceback


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_fails_cleanly_and_the_project_still_runs():
    project = compile_project(linear(epochs=1))
    events = Trainer(project, TrainOptions(device="cuda")).run()
    assert len(events) == 1 and isinstance(events[0], RunFailed)
    assert "device 'cuda'" in events[0].message
    assert "CUDA is not available" in events[0].message
    assert events[0].node_id is None
    again = Trainer(project, TrainOptions(device="cpu")).run()
    assert again[0].device == "cpu" and again[-1].status == "completed"


def test_error_while_making_data_names_the_data_node(monkeypatch):
    project = compile_project(digits(epochs=1))

    def broken(data_dir):
        raise ValueError("bad row 7")

    monkeypatch.setitem(project.functions, "make_datasets", broken)
    events = Trainer(project, TrainOptions()).run()
    assert len(events) == 1 and isinstance(events[0], RunFailed)
    assert events[0].node_id == "n1"
    assert events[0].message == "digits: bad row 7"
    monkeypatch.undo()
    again = Trainer(project, TrainOptions()).run()
    assert again[-1].status == "completed" and again[-1].global_step == 12


def test_error_while_reading_a_sample_names_the_data_node(monkeypatch):
    project = compile_project(digits(epochs=1))
    make = project.functions["make_datasets"]

    class Corrupt(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner = inner

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            if i == 700:
                raise OSError("sample 700 is truncated")
            return self.inner[i]

    def corrupt(data_dir):
        train, val, classes = make(data_dir)
        return Corrupt(train), val, classes

    monkeypatch.setitem(project.functions, "make_datasets", corrupt)
    events = Trainer(project, TrainOptions()).run()
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.node_id == "n1"
    assert failed.message == "digits: OSError: sample 700 is truncated"
    assert len(of(events, StepEvent)) < 12


def test_out_of_memory_becomes_an_event(monkeypatch):
    project = compile_project(linear(epochs=1))

    def oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setitem(project.functions, "train_step", oom)
    failed = Trainer(project, TrainOptions()).run()[-1]
    assert isinstance(failed, RunFailed)
    assert "out of memory" in failed.message and "batch size" in failed.message
    assert "OutOfMemoryError" in failed.traceback


# ------------------------------------------------------------------------- devices
def test_devices():
    assert available_devices()[:2] == ["auto", "cpu"]
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert pick_device("auto") == torch.device("cpu")
        assert available_devices() == ["auto", "cpu"]
    if not torch.cuda.is_available():
        for setting in ("cuda", "cuda:1"):
            with pytest.raises(ValueError, match="CUDA is not available"):
                pick_device(setting)
