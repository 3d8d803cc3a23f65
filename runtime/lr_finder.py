"""The learning-rate range test: train a fresh copy of the model for about a hundred steps while
the learning rate grows exponentially from ``start`` to ``end``, and read off where the loss
falls fastest.

It uses the project's own data, losses, optimizer and training step (the generated train.py
functions, as the trainer does), so the figures are those of a real run; nothing of the project
changes, and the global random state is left as it was.

The suggestion: the loss is smoothed with an exponential moving average (bias-corrected, as in
fast.ai's finder), and the suggested rate is the one where the smoothed loss falls most steeply
against log(lr), searched from the start up to the lowest smoothed loss. When that search has
too few points (the loss diverged almost at once), the rule falls back to a tenth of the rate at
the lowest smoothed loss. The test stops early once the smoothed loss exceeds ``diverge`` times
its lowest value, or the loss is no longer finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from torchcanvas.runtime.compile import CompiledProject
from torchcanvas.runtime.data import DataError, materialize
from torchcanvas.runtime.trainer import pick_device

STEPS = 100
START_LR = 1e-7
END_LR = 10.0
SMOOTHING = 0.9  # weight of the running average (a window of about ten steps)
DIVERGE = 4.0  # stop once the smoothed loss is this many times its minimum
MIN_SEARCH = 5  # points before the minimum needed for the steepest-descent rule


class _NoSchedule:
    """Stands in for the scheduler: the range test sets the rate itself."""

    def step(self, *_args) -> None:
        return None


class LRFinderError(Exception):
    """The range test cannot run; names the node or setting at fault."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


@dataclass(frozen=True)
class LRFinderResult:
    lrs: tuple[float, ...]  # the rate of each step taken
    losses: tuple[float, ...]  # the smoothed loss after each step
    raw_losses: tuple[float, ...]  # the loss of each step's batch
    suggestion: float  # the suggested learning rate
    rule: str  # "steepest" or "min/10": which rule gave the suggestion
    min_loss_lr: float  # the rate at the lowest smoothed loss
    stopped_early: bool  # the loss diverged before the last step
    current_lr: float  # the optimizer's lr in the project
    optimizer_id: str = ""
    optimizer_label: str = ""
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "suggestion": self.suggestion,
            "rule": self.rule,
            "min_loss_lr": self.min_loss_lr,
            "stopped_early": self.stopped_early,
            "current_lr": self.current_lr,
            "optimizer": {"id": self.optimizer_id, "label": self.optimizer_label},
            "points": [
                {"lr": lr, "loss": loss, "raw_loss": raw}
                for lr, loss, raw in zip(self.lrs, self.losses, self.raw_losses, strict=True)
            ],
            "notes": list(self.notes),
        }


def lr_schedule(start: float, end: float, steps: int) -> list[float]:
    """``steps`` rates from ``start`` to ``end``, evenly spaced on a log scale."""
    if steps == 1:
        return [start]
    ratio = (end / start) ** (1 / (steps - 1))
    return [start * ratio**i for i in range(steps)]


def smooth(values: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return out


def suggest(lrs: list[float], losses: list[float]) -> tuple[float, str, float]:
    """(suggested lr, rule, lr at the minimum) for smoothed ``losses`` at ``lrs``: the steepest
    descent of the loss against log(lr) before its minimum, else a tenth of the minimum's lr."""
    if not lrs:
        raise LRFinderError("the range test took no steps")
    best = min(range(len(losses)), key=losses.__getitem__)
    min_lr = lrs[best]
    if best >= MIN_SEARCH:
        logs = [math.log(lr) for lr in lrs]
        slopes = [
            (losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(1, best)
        ]
        steepest = min(range(len(slopes)), key=slopes.__getitem__)
        if slopes[steepest] < 0:
            return lrs[steepest + 1], "steepest", min_lr
    return min_lr / 10, "min/10", min_lr


def _check(start: float, end: float, steps: int) -> None:
    if not (math.isfinite(start) and start > 0):
        raise LRFinderError(f"start: {start} must be a positive number")
    if not (math.isfinite(end) and end > start):
        raise LRFinderError(f"end: {end} must be a number above start ({start})")
    if not 2 <= steps <= 10_000:
        raise LRFinderError(f"steps: {steps} must be between 2 and 10000")


def find_lr(
    project: CompiledProject,
    steps: int = STEPS,
    start: float = START_LR,
    end: float = END_LR,
    diverge: float = DIVERGE,
    device: str | None = None,
    data_dir: Path | None = None,
    progress: Callable[[int, float, float], bool | None] | None = None,
) -> LRFinderResult:
    """Run the range test on a fresh copy of ``project``'s model (seeded as training seeds it).

    ``progress(step, lr, smoothed_loss)`` is called after every step; returning False stops the
    test there (the result covers the steps taken)."""
    _check(start, end, steps)
    plan = project.plan
    if plan.optimises_image:
        raise LRFinderError(
            "this project optimises an image, not weights: the learning-rate finder needs a "
            "model to train",
            plan.optimizer.id,
        )
    settings = project.graph.settings
    fn = project.fn
    try:
        dev = pick_device(device or settings["device"])
    except ValueError as exc:
        raise LRFinderError(f"device: {exc}") from None
    base_lr = float(plan.optimizer.params["lr"])
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(settings["seed"])
        model = fn("prepare_model")(project.model.new().to(dev))
        model.train()
        folder = materialize(plan.data, data_dir)
        try:
            train_set, _, _ = fn("make_datasets")(folder)
        except (OSError, ValueError, RuntimeError, IndexError, KeyError) as exc:
            raise DataError(f"{plan.data.label}: {exc}", plan.data.id) from exc
        if len(train_set) == 0:
            raise LRFinderError(f"{plan.data.label}: the training split is empty", plan.data.id)
        losses = fn("build_losses")().to(dev)
        optimizer = fn("build_optimizer")(model)
        # every parameter group keeps its ratio to the optimizer node's lr
        ratios = [g["lr"] / base_lr if base_lr > 0 else 1.0 for g in optimizer.param_groups]
        scaler = fn("make_scaler")(dev)
        train_step, make_loader = fn("train_step"), fn("make_loader")
        schedule = lr_schedule(start, end, steps)
        lrs: list[float] = []
        raw: list[float] = []
        smoothed: list[float] = []
        avg, best, stopped = 0.0, math.inf, False
        epoch = 0
        batches = iter(make_loader(train_set, train=True, epoch=epoch))
        for i, lr in enumerate(schedule):
            try:
                batch = next(batches)
            except StopIteration:
                epoch += 1
                batches = iter(make_loader(train_set, train=True, epoch=epoch))
                batch = next(batches)
            for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
                group["lr"] = lr * ratio
            loss, _, _ = train_step(model, losses, optimizer, _NoSchedule(), scaler, batch, dev)
            value = float(loss)  # one sync per step: the test needs every value to stop
            if not math.isfinite(value):
                stopped = i < steps - 1
                break
            avg = SMOOTHING * avg + (1 - SMOOTHING) * value
            current = avg / (1 - SMOOTHING ** (i + 1))
            lrs.append(lr)
            raw.append(value)
            smoothed.append(current)
            best = min(best, current)
            if progress is not None and progress(i + 1, lr, current) is False:
                stopped = i < steps - 1
                break
            if current > diverge * best and i >= MIN_SEARCH:
                stopped = i < steps - 1
                break
    if not lrs:
        raise LRFinderError(
            f"the loss was not finite at the first step (lr={start}); try a lower start",
            plan.losses[0].node.id,
        )
    suggestion, rule, min_lr = suggest(lrs, smoothed)
    return LRFinderResult(
        tuple(lrs),
        tuple(smoothed),
        tuple(raw),
        round_lr(suggestion),
        rule,
        min_lr,
        stopped,
        base_lr,
        plan.optimizer.id,
        plan.optimizer.label,
    )


def round_lr(lr: float) -> float:
    """``lr`` to two significant digits (3.2e-3, not 3.1622776e-3)."""
    return float(f"{lr:.2g}")
