"""TensorBoard event files for a run, written with ``torch.utils.tensorboard``.

A run with the ``tensorboard`` setting on writes into ``RUN/tensorboard/``: the training loss
and learning rate per step (``step/…``), the losses, metrics and learning rate per epoch
(``epoch/…``), the model graph, and when the run ends its hyperparameters with its final
metrics (``hparam/…``), so that runs and sweep trials side by side fill TensorBoard's HParams
tab. ``tensorboard --logdir`` on a runs or sweep folder shows every run in it.

The writer (and the tensorboard package behind it) is imported only when a run asks for it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

LOG_FOLDER = "tensorboard"
FLUSH_S = 5
_HPARAM_TYPES = (bool, int, float, str)


def hparam_values(values: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The values TensorBoard's HParams tab can show (numbers, text, true/false); others as
    text."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in values.items():
        if isinstance(value, _HPARAM_TYPES):
            out[key] = value
        elif value is not None:
            out[key] = str(value)
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RunLog:
    """One run's event files. ``hparams`` are recorded with the final metrics at ``close``."""

    def __init__(self, log_dir: Path, hparams: dict[str, Any], purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.hparams = hparam_values(hparams)
        # a resumed run drops what the first one logged after its checkpoint
        # flushed every few seconds: a run that is killed keeps what it had logged
        self.writer = SummaryWriter(
            str(self.log_dir), purge_step=purge_step or None, flush_secs=FLUSH_S
        )
        self.closed = False

    def graph(self, model, inputs: tuple) -> str | None:
        """Add the model graph (traced with ``inputs``); a note saying why it was left out when
        the model cannot be traced. Training is not disturbed: the trace runs in eval mode
        (no batch-norm statistics move) with the random state restored afterwards."""
        import torch

        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
                # torch.jit.trace, which add_graph calls, warns that it is deprecated
                warnings.simplefilter("ignore")
                self.writer.add_graph(model, inputs)
        except Exception as exc:
            first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            note = f"tensorboard: the model graph was left out ({type(exc).__name__}: {first})"
            self.writer.add_text("notes", note)
            return note
        finally:
            model.train(was_training)
        return None

    def step(self, global_step: int, loss: float, lr: float) -> None:
        self.writer.add_scalar("step/train_loss", loss, global_step)
        self.writer.add_scalar("step/lr", lr, global_step)

    def epoch(self, record: dict[str, Any]) -> None:
        """An epoch's record (``epoch``, ``train_loss``, ``val_loss``, ``lr``, metrics…)."""
        epoch = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and _finite(value):
                self.writer.add_scalar(f"epoch/{key}", value, epoch)

    def close(self, final: dict[str, Any], status: str) -> None:
        """Record the hyperparameters with the final metrics and close the files."""
        if self.closed:
            return
        self.closed = True
        from torch.utils.tensorboard.summary import hparams

        metrics = {f"hparam/{k}": float(v) for k, v in final.items() if k != "epoch" and _finite(v)}
        experiment, start, end = hparams(self.hparams | {"status": status}, metrics)
        file_writer = self.writer._get_file_writer()
        for summary in (experiment, start, end):
            file_writer.add_summary(summary)
        step = int(final.get("epoch", 0)) if _finite(final.get("epoch")) else 0
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.close()
