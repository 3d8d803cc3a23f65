"""The trainer: a plain loop that yields frozen events and obeys a control object.

It calls the generated train.py functions (data, losses, optimizer, step, evaluate), so it does
the same work in the same order as the exported script. It never imports Qt. Losses stay on the
device and are read back every ``log_every`` steps (``.item()`` would synchronise CUDA per step).
Faults are data: an exception, a NaN loss or running out of memory ends the run with a
``RunFailed`` event naming the node; the last checkpoint stays.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torchcanvas.runtime import metrics as metric_fns
from torchcanvas.runtime.compile import CompiledProject
from torchcanvas.runtime.data import DataError, materialize
from torchcanvas.runtime.events import (
    AutogradSnapshot,
    EpochEvent,
    Event,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    StepEvent,
    TrainOptions,
)
from torchcanvas.runtime.source import generated_line, register


def pick_device(setting: str) -> torch.device:
    """``auto``: CUDA when present, then MPS, else the CPU. Refuses devices that are absent."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {setting!r}: CUDA is not available on this machine")
        if (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(
                f"device {setting!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {setting!r}: MPS is not available on this machine")
    return device


def available_devices() -> list[str]:
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


SHOWN_AS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}  # characters that print as nothing


def token_names(vocab: Any, task: str) -> tuple[str, ...] | None:
    """A text corpus's classes are its tokens (the next one is predicted): their names as
    the results show them, blank characters made visible. None for other data."""
    if vocab is None or task != "classification":
        return None
    return tuple(SHOWN_AS.get(t, t) for t in vocab.tokens)


@dataclass
class _State:
    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = math.inf
    # the current epoch's summed train loss and samples before ``batch`` (a stop mid-epoch
    # saves them, so the resumed epoch's train_loss averages all its steps)
    loss_sum: float = 0.0
    loss_count: int = 0


class Trainer:
    def __init__(
        self,
        project: CompiledProject,
        options: TrainOptions | None = None,
        control: RunControl | None = None,
    ):
        self.project = project
        self.options = options or TrainOptions()
        self.control = control or RunControl()
        settings = project.graph.settings
        self.epochs = self.options.epochs or settings["epochs"]
        self.log_every = self.options.log_every or settings["log_every"]
        self.checkpoint: Path | None = None
        self.model: torch.nn.Module | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.log = None  # tensorboard.RunLog while a run writes event files

    # ------------------------------------------------------------------ public
    def __iter__(self) -> Iterator[Event]:
        state = _State()
        try:
            yield from self._run(state)
        except GeneratorExit:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            yield self._failed(exc, state)
        finally:  # a caller that stops reading still gets its event files flushed
            self._close_log(state, "stopped")

    def run(self) -> list[Event]:
        return list(self)

    # ------------------------------------------------------------------ loop
    def _run(self, state: _State) -> Iterator[Event]:
        fn = self.project.fn
        opts = self.options
        settings = self.project.graph.settings
        device = pick_device(opts.device or settings["device"])
        out_dir = opts.out_dir
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)

        if self.project.plan.optimises_image:
            yield from self._run_image(state, device, out_dir)
            return
        # same order as the generated main(): settings checked, seed, model, data, losses,
        # optimizer, scheduler, gradient scaler
        notices = self._configure(device)
        torch.manual_seed(settings["seed"])
        model = fn("prepare_model")(self.project.model.new().to(device))
        self.model = model
        data_dir = materialize(self.project.plan.data, opts.data_dir)
        try:
            train_set, val_set, classes = fn("make_datasets")(data_dir)
        except (OSError, ValueError, RuntimeError, IndexError, KeyError) as exc:
            raise DataError(
                f"{self.project.plan.data.label}: {exc}", self.project.plan.data.id
            ) from exc
        vocab = getattr(train_set, "vocab", None)
        if vocab is not None and out_dir is not None:  # text: generation needs this vocabulary
            vocab.save(out_dir / "vocab.json")
        losses = fn("build_losses")().to(device)
        optimizer = fn("build_optimizer")(model)
        batch_size = settings["batch_size"]
        steps_per_epoch = max(1, -(-len(train_set) // batch_size))
        scheduler = fn("build_scheduler")(optimizer, steps_per_epoch, self.epochs)
        scaler = self.scaler = fn("make_scaler")(device)
        weights = fn("sample_weights")(train_set) if fn("WEIGHTED_SAMPLING") else None

        if opts.resume is not None:
            ckpt = torch.load(opts.resume, map_location=device, weights_only=True)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            state.epoch, state.batch = ckpt["epoch"], ckpt["batch"]
            state.history = list(ckpt.get("history", []))
            sums = ckpt.get("epoch_sums")
            if sums and state.batch:
                state.loss_sum, state.loss_count = float(sums["loss"]), int(sums["count"])
            state.global_step = ckpt.get("global_step", state.epoch * steps_per_epoch + state.batch)
            state.best_val = min(
                (
                    h["val_loss"]
                    for h in state.history
                    if math.isfinite(h.get("val_loss", math.nan))
                ),
                default=math.inf,
            )
            # the generated make_loader seeds its own generator, so restoring the global RNG
            # here continues dropout and augmentation exactly, even mid-epoch
            self._set_rng((ckpt["rng"], ckpt.get("cuda_rng")))

        task = self.project.plan.task
        logits = self.project.plan.losses[0].node.type_id != "loss.BCE"
        if self._wants_log(out_dir):
            notices += self._open_log(out_dir, state, model, val_set or train_set, device)
        yield RunStarted(
            str(device),
            self.epochs,
            steps_per_epoch,
            len(train_set),
            len(val_set),
            task,
            tuple(classes) if classes else token_names(vocab, task),
            sum(p.numel() for p in model.parameters()),
            state.epoch,
            state.batch,
            notices,
        )

        start = time.perf_counter()
        train_step, evaluate, make_loader = fn("train_step"), fn("evaluate"), fn("make_loader")
        pending: list[torch.Tensor] = []
        pending_lr: list[float] = []
        window_start, window_samples = time.perf_counter(), 0
        self._stopping = False

        def flush(epoch: int, first_step: int) -> Iterator[Event]:
            nonlocal window_start, window_samples
            if not pending:
                return
            values = torch.stack(pending).float().cpu().tolist()  # one sync per window
            now = time.perf_counter()
            rate = window_samples / max(now - window_start, 1e-9)
            window_start, window_samples = now, 0
            for i, (value, lr) in enumerate(zip(values, pending_lr, strict=True)):
                if not math.isfinite(value):
                    pending.clear()
                    pending_lr.clear()
                    raise NonFiniteLoss(value, first_step + i)
                if self.log is not None:
                    self.log.step(first_step + i, value, lr)
                yield StepEvent(
                    epoch,
                    first_step + i - (epoch * steps_per_epoch),
                    first_step + i,
                    value,
                    lr,
                    rate,
                    now - start,
                )
            pending.clear()
            pending_lr.clear()

        for epoch in range(state.epoch, self.epochs):
            state.epoch = epoch
            loader = make_loader(
                train_set, train=True, epoch=epoch, start_batch=state.batch, weights=weights
            )
            total = torch.full((), state.loss_sum, device=device)
            count, state.loss_sum, state.loss_count = state.loss_count, 0.0, 0
            first_pending = state.global_step + 1
            batches = iter(loader)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except Exception as exc:
                    self._data_fault(exc)
                if not self.control.wait(0) or self.control.stopped:
                    yield from flush(epoch, first_pending)
                    first_pending = state.global_step + 1
                    if not self.control.stopped:
                        yield StateChanged("paused")
                        while not self.control.wait(0.05):
                            pass
                        if not self.control.stopped:
                            yield StateChanged("running")
                            window_start = time.perf_counter()
                    if self.control.stopped:
                        state.loss_sum, state.loss_count = total.item(), count
                        yield from self._stop(model, optimizer, scheduler, state, out_dir, start)
                        return
                loss, _, target = train_step(
                    model, losses, optimizer, scheduler, scaler, batch, device
                )
                n = len(target)
                total += loss * n
                count += n
                state.batch += 1
                state.global_step += 1
                window_samples += n
                pending.append(loss)
                pending_lr.append(optimizer.param_groups[0]["lr"])
                grads_due, graph_due = self.control.autograd_due(state.global_step)
                if grads_due:  # the autograd view asked for gradient health
                    yield self._autograd(model, batch, device, state.global_step, graph_due)
                if len(pending) >= self.log_every:
                    yield from flush(epoch, first_pending)
                    first_pending = state.global_step + 1
                if opts.max_steps is not None and state.global_step >= opts.max_steps:
                    self.control.stop()
            yield from flush(epoch, first_pending)
            if self.control.stopped and state.batch < steps_per_epoch:
                state.loss_sum, state.loss_count = total.item(), count
                yield from self._stop(model, optimizer, scheduler, state, out_dir, start)
                return

            val_loader = make_loader(val_set, train=False)
            val_loss, prediction, target = evaluate(model, losses, val_loader, device)
            train_loss = (total / max(count, 1)).item()
            if not math.isfinite(train_loss):
                raise NonFiniteLoss(train_loss, state.global_step)
            if len(val_set) and not math.isfinite(val_loss):  # weights blew up on the last steps
                raise NonFiniteLoss(val_loss, state.global_step, "validation loss")
            epoch_lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trained at
            fn("end_epoch")(scheduler, val_loss)
            values = metric_fns.compute(
                task, prediction, target, len(classes) if classes else None, logits
            )
            record = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": epoch_lr,
                **values,
            }
            state.history.append(record)
            if self.log is not None:
                self.log.epoch(record)
            state.epoch, state.batch = epoch + 1, 0
            is_best = math.isfinite(val_loss) and val_loss < state.best_val
            if is_best:
                state.best_val = val_loss
            if out_dir is not None:
                self._save(out_dir / "checkpoint.pt", model, optimizer, scheduler, state)
                if is_best:
                    self._save(out_dir / "best.pt", model, optimizer, scheduler, state)
                self._write_metrics(out_dir, state, "running")
            preds = samples = None
            if opts.keep_predictions:
                preds = (prediction.detach().cpu(), target.detach().cpu())
                samples = self._image_samples(model, val_set, task, logits, device)
            yield EpochEvent(
                epoch + 1,
                state.global_step,
                train_loss,
                val_loss,
                values,
                epoch_lr,
                time.perf_counter() - start,
                is_best,
                preds,
                samples,
            )
            if self.control.stopped:
                yield from self._stop(model, optimizer, scheduler, state, out_dir, start)
                return

        yield self._finished("completed", model, state, out_dir, start)

    def _run_image(
        self, state: _State, device: torch.device, out_dir: Path | None
    ) -> Iterator[Event]:
        """Optimise an image (style transfer): epochs of ``STEPS_PER_EPOCH`` steps on one pair
        of pictures, as the generated main() does. No validation and no metrics; every epoch
        sends the current picture, and result.png is written to the run folder."""
        fn = self.project.fn
        opts = self.options
        data = self.project.plan.data
        notices = self._configure(device)
        torch.manual_seed(self.project.graph.settings["seed"])
        model = fn("prepare_model")(self.project.model.new().to(device))
        self.model = model
        notices = tuple(
            dict.fromkeys(
                notices + tuple(m.notice for m in model.modules() if getattr(m, "notice", None))
            )
        )
        try:
            images = fn("make_images")(materialize(data, opts.data_dir))
        except (OSError, ValueError, RuntimeError) as exc:
            raise DataError(f"{data.label}: {exc}", data.id) from exc
        losses = fn("build_losses")().to(device)
        optimizer = fn("build_optimizer")(model)
        steps_per_epoch = fn("STEPS_PER_EPOCH")
        scheduler = fn("build_scheduler")(optimizer, steps_per_epoch, self.epochs)
        scaler = self.scaler = fn("make_scaler")(device)
        if opts.resume is not None:
            ckpt = torch.load(opts.resume, map_location=device, weights_only=True)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            state.epoch, state.history = ckpt["epoch"], list(ckpt.get("history", []))
            state.global_step = ckpt.get("global_step", state.epoch * steps_per_epoch)
            self._set_rng((ckpt["rng"], ckpt.get("cuda_rng")))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if self._wants_log(out_dir):  # the model takes no input: no graph to trace
            notices += self._open_log(out_dir, state, None, None, device)
        yield RunStarted(
            str(device),
            self.epochs,
            steps_per_epoch,
            1,
            0,
            "style",
            None,
            trainable,
            state.epoch,
            0,
            notices,
        )
        start = time.perf_counter()
        train_step, current_image, to_pixels = (
            fn("train_step"),
            fn("current_image"),
            fn("to_pixels"),
        )
        pending: list[torch.Tensor] = []
        window = [start]  # when the current window of steps began

        def flush(epoch: int) -> Iterator[Event]:
            if not pending:
                return
            values = torch.stack(pending).float().cpu().tolist()  # one sync per window
            now = time.perf_counter()
            rate = len(values) / max(now - window[0], 1e-9)  # one picture per step
            window[0] = now
            first = state.global_step - len(values) + 1
            lr = optimizer.param_groups[0]["lr"]
            pending.clear()
            for i, value in enumerate(values):
                if not math.isfinite(value):
                    raise NonFiniteLoss(value, first + i)
                if self.log is not None:
                    self.log.step(first + i, value, lr)
                yield StepEvent(
                    epoch,
                    first + i - epoch * steps_per_epoch,
                    first + i,
                    value,
                    lr,
                    rate,
                    now - start,
                )

        for epoch in range(state.epoch, self.epochs):
            state.epoch = epoch
            total, count = torch.zeros((), device=device), 0
            for _ in range(steps_per_epoch):
                if not self.control.wait(0) or self.control.stopped:
                    yield from flush(epoch)
                    if not self.control.stopped:
                        yield StateChanged("paused")
                        while not self.control.wait(0.05):
                            pass
                        if not self.control.stopped:
                            yield StateChanged("running")
                    if self.control.stopped:
                        yield from self._stop_image(
                            model, optimizer, scheduler, state, out_dir, start
                        )
                        return
                loss, _, _ = train_step(model, losses, optimizer, scheduler, scaler, images, device)
                total += loss
                count += 1
                state.global_step += 1
                pending.append(loss)
                if len(pending) >= self.log_every:
                    yield from flush(epoch)
                if opts.max_steps is not None and state.global_step >= opts.max_steps:
                    self.control.stop()
                    break
            yield from flush(epoch)
            if count < steps_per_epoch:  # stopped part-way: the epoch does not count
                yield from self._stop_image(model, optimizer, scheduler, state, out_dir, start)
                return
            train_loss = (total / count).item()
            epoch_lr = optimizer.param_groups[0]["lr"]
            fn("end_epoch")(scheduler, train_loss)
            state.history.append(
                {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": math.nan, "lr": epoch_lr}
            )
            if self.log is not None:
                self.log.epoch(state.history[-1])
            state.epoch = epoch + 1
            image = current_image(model)
            if out_dir is not None:
                self._save(out_dir / "checkpoint.pt", model, optimizer, scheduler, state)
                fn("save_image")(image, out_dir / "result.png")
                self._write_metrics(out_dir, state, "running")
            yield EpochEvent(
                epoch + 1,
                state.global_step,
                train_loss,
                math.nan,
                {},
                epoch_lr,
                time.perf_counter() - start,
                False,
                image=to_pixels(image).numpy(),
            )
            if self.control.stopped:
                yield from self._stop_image(model, optimizer, scheduler, state, out_dir, start)
                return
        yield self._finished("completed", model, state, out_dir, start)

    def _stop_image(
        self, model, optimizer, scheduler, state: _State, out_dir: Path | None, start: float
    ) -> Iterator[Event]:
        if out_dir is not None:
            image = self.project.fn("current_image")(model)
            self.project.fn("save_image")(image, out_dir / "result.png")
        yield from self._stop(model, optimizer, scheduler, state, out_dir, start)

    # ------------------------------------------------------------------ TensorBoard
    def _wants_log(self, out_dir: Path | None) -> bool:
        wanted = self.options.tensorboard
        if wanted is None:
            wanted = self.project.graph.settings.get("tensorboard", False)
        return bool(wanted) and out_dir is not None

    def hparams(self) -> dict[str, Any]:
        """What this run was trained with, for TensorBoard's HParams tab: the optimizer and its
        learning rate, the main settings and the caller's own (a sweep trial's values)."""
        settings = self.project.graph.settings
        opt = self.project.plan.optimizer
        values: dict[str, Any] = {
            "optimizer": opt.type_id.removeprefix("optim."),
            "lr": opt.params.get("lr"),
            "epochs": self.epochs,
        }
        for name in ("batch_size", "seed", "precision", "val_split"):
            values[name] = settings[name]
        return values | dict(self.options.hparams or {})

    def _open_log(
        self, out_dir: Path, state: _State, model, example_set, device
    ) -> tuple[str, ...]:
        """Start the run's event files (and its model graph); returns notices."""
        from torchcanvas.runtime.tensorboard import LOG_FOLDER, RunLog

        self.log = RunLog(out_dir / LOG_FOLDER, self.hparams(), purge_step=state.global_step)
        if model is None or example_set is None or not len(example_set):
            return ()
        try:
            batch = next(iter(self.project.fn("make_loader")(example_set, train=False)))
            inputs = self.project.fn("model_inputs")(batch, device)
        except Exception as exc:
            note = f"tensorboard: the model graph was left out (no example batch: {exc})"
            self.log.writer.add_text("notes", note)
            return (note,)
        with self._eager():
            note = self.log.graph(model, inputs)
        return (note,) if note else ()

    def _close_log(self, state: _State, status: str) -> None:
        if self.log is not None:
            log, self.log = self.log, None
            log.close(state.history[-1] if state.history else {}, status)

    # ------------------------------------------------------------------ helpers
    def _configure(self, device: torch.device) -> tuple[str, ...]:
        """The generated configure(): refuses what ``device`` cannot do, naming the setting, and
        sets cuDNN's benchmark mode; returns its notices. Also checks that torch.compile has a
        compiler to call before any data loads."""
        settings = self.project.graph.settings
        if settings["compile"]:
            missing = missing_compiler(device)
            if missing:
                raise SettingError(f"compile: {missing}; install one, or turn compile off")
        try:
            return tuple(self.project.fn("configure")(device))
        except ValueError as exc:
            raise SettingError(str(exc)) from None

    def _eager(self):
        """Run a compiled model eagerly for one-off passes (the autograd capture, the sample
        images), so their batch shapes and modes cost no compilation."""
        if self.project.graph.settings["compile"] and hasattr(torch.compiler, "set_stance"):
            return torch.compiler.set_stance("force_eager")
        return contextlib.nullcontext()

    def _autograd(self, model, batch, device, step: int, graph: bool) -> AutogradSnapshot:
        from torchcanvas.runtime import autograd

        if graph:
            with self._eager():
                captured = autograd.capture_during_training(
                    self.project, model, batch, device, step
                )
            return AutogradSnapshot(step, captured.grads, captured)
        stats = autograd.grad_stats(
            model.named_parameters(), autograd.project_owner(self.project), step
        )
        return AutogradSnapshot(step, stats)

    @staticmethod
    def _set_rng(rng_state) -> None:
        rng, cuda_rng = rng_state
        torch.set_rng_state(rng)
        if cuda_rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_rng)

    def _data_fault(self, exc: Exception) -> None:
        """Reading a batch failed: blame the data node unless generated code says otherwise."""
        node_id = getattr(exc, "node_id", None) or self._node_of(exc)
        data = self.project.plan.data
        if node_id is not None and node_id != data.id:
            raise exc
        raise DataError(f"{data.label}: {type(exc).__name__}: {exc}", data.id) from exc

    @torch.no_grad()
    def _image_samples(self, model, val_set, task: str, logits: bool, device):
        """Up to 16 validation images with what the model predicts, for the results grid."""
        if len(val_set) == 0 or len(self.project.model.source.ir.inputs) != 1:
            return None
        items = [val_set[i] for i in range(min(16, len(val_set)))]
        x = torch.stack([torch.as_tensor(item[0]) for item in items])
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            return None
        y = torch.stack([torch.as_tensor(item[1]) for item in items])
        was_training = model.training
        model.eval()
        with self._eager():
            out = model(x.to(device))
        model.train(was_training)
        if not isinstance(out, torch.Tensor):
            return None
        if task == "classification" and out.dim() == 2:
            predicted = out.argmax(1)
        elif task == "binary":
            predicted = (out > (0.0 if logits else 0.5)).long().reshape(len(items), -1)[:, 0]
        else:
            predicted = out
        return x.cpu(), predicted.detach().cpu(), y

    def _stop(
        self, model, optimizer, scheduler, state: _State, out_dir: Path | None, start: float
    ) -> Iterator[Event]:
        if out_dir is not None:
            self._save(out_dir / "checkpoint.pt", model, optimizer, scheduler, state)
        yield self._finished("stopped", model, state, out_dir, start)

    def _finished(
        self, status: str, model, state: _State, out_dir: Path | None, start: float
    ) -> RunFinished:
        """The end of a run: the final weights and metrics.json written, and its event."""
        if out_dir is not None:
            torch.save(model.state_dict(), out_dir / "weights.pt")
            self._write_metrics(out_dir, state, status)
        self._close_log(state, status)
        return RunFinished(
            status,
            state.epoch,
            state.global_step,
            tuple(state.history),
            str(self.checkpoint) if self.checkpoint else None,
            time.perf_counter() - start,
        )

    def _save(self, path: Path, model, optimizer, scheduler, state: _State) -> None:
        self.project.fn("save_checkpoint")(
            path, model, optimizer, scheduler, self.scaler, state.epoch, state.batch, state.history
        )
        if state.batch and state.loss_count:  # mid-epoch: the epoch's loss sums so far
            ckpt = torch.load(path, weights_only=True)
            ckpt["epoch_sums"] = {"loss": state.loss_sum, "count": state.loss_count}
            tmp = Path(str(path) + ".tmp")
            torch.save(ckpt, tmp)
            os.replace(tmp, path)
        if path.name == "checkpoint.pt":
            self.checkpoint = path

    def _write_metrics(self, out_dir: Path, state: _State, status: str) -> None:
        final = state.history[-1] if state.history else {}
        data = {
            "status": status,
            "epochs": state.epoch,
            "global_step": state.global_step,
            "final": final,
            "history": state.history,
            "settings": self.project.graph.settings,
        }
        tmp = out_dir / "metrics.json.tmp"
        tmp.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n", encoding="utf-8")
        tmp.replace(out_dir / "metrics.json")

    def _failed(self, exc: BaseException, state: _State) -> RunFailed:
        node_id = getattr(exc, "node_id", None)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, SettingError):
            pass  # the message names the setting
        elif self.project.graph.settings["compile"] and _compile_failure(exc):
            cause = getattr(exc, "inner_exception", None) or exc  # what the backend raised
            first = (str(cause).strip() or "?").splitlines()[0]
            message = (
                f"compile: torch.compile failed ({type(cause).__name__}: {first}); turn "
                "compile off in the training settings to train without it"
            )
        elif isinstance(exc, NonFiniteLoss):
            node_id = self.project.plan.losses[0].node.id
            opt = self.project.plan.optimizer
            message = (
                f"the {exc.what} became {exc.value} at step {exc.step}; training "
                f"diverged. Try a lower learning rate in {opt.label} "
                f"(lr={opt.params['lr']}) or add gradient clipping"
            )
        elif isinstance(exc, torch.OutOfMemoryError):
            message = (
                "out of memory on the device: lower the batch size (training settings) "
                "or the model's size"
            )
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        elif node_id is None:
            node_id = self._node_of(exc)
            label = self.project.graph.node(node_id).label if node_id else None
            message = (
                f"{label}: {type(exc).__name__}: {exc}" if label else f"{type(exc).__name__}: {exc}"
            )
        if self.options.out_dir is not None:
            with contextlib.suppress(OSError):
                self._write_metrics(self.options.out_dir, state, "failed")
        with contextlib.suppress(Exception):  # the fault is the message, not the log
            self._close_log(state, "failed")
        return RunFailed(
            message,
            node_id,
            "".join(traceback.format_exception(exc)),
            str(self.checkpoint) if self.checkpoint else None,
            tuple(state.history),
        )

    def _node_of(self, exc: BaseException) -> str | None:
        """The canvas node whose generated line raised, from the traceback."""
        hit = generated_line(exc)
        if hit is None:
            return None
        filename, line = hit
        model_src = self.project.model.source
        if filename == register(model_src.source, "model.py"):
            return model_src.line_map.get(line)
        return self.project.train.line_map.get(line)


class SettingError(ValueError):
    """A training setting this run cannot honour; the message starts with the setting."""


def missing_compiler(device: torch.device) -> str | None:
    """What torch.compile lacks to build its kernels for ``device``, or None.

    On the CPU its inductor backend compiles C++; on CUDA Triton builds a small C launcher.
    """
    if device.type == "cuda":
        found = (
            os.environ.get("CC")
            or shutil.which("cc")
            or shutil.which("gcc")
            or shutil.which("clang")
        )
        return None if found else "torch.compile needs a C compiler (gcc or clang) on the PATH"
    if device.type == "cpu":
        found = (
            os.environ.get("CXX")
            or shutil.which("g++")
            or shutil.which("clang++")
            or shutil.which("c++")
        )
        return (
            None
            if found
            else (
                "torch.compile needs a C++ compiler (g++ or clang++) on "
                "the PATH to compile for the CPU"
            )
        )
    return None


def _compile_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from torch.compile (Dynamo tracing or a backend compiler)."""
    from torch._dynamo.exc import TorchDynamoException

    return isinstance(exc, TorchDynamoException)


class NonFiniteLoss(ArithmeticError):
    def __init__(self, value: float, step: int, what: str = "loss"):
        super().__init__(f"{what} is {value} at step {step}")
        self.value = value
        self.step = step
        self.what = what
