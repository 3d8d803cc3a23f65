"""Run folders on disk: what a training run keeps beside the project, read, renamed and deleted
without torch or Qt.

Each run folder (``gui.training.new_run_dir``) holds ``run.json`` (name, project, started,
resumed_from), ``project.json``, and once an epoch has finished ``metrics.json`` (status,
epochs, global_step, final, per-epoch history, settings) with ``checkpoint.pt``, ``best.pt``
and ``weights.pt``. :func:`load_runs` reads the small JSON files only: never torch, never the
checkpoints, and a half-written or broken folder never raises.

A sweep folder in the runs folder (``space.json``, ``results.json``, ``trials/trial-NNNN/``) is
read by :func:`load_sweeps`: its trials are run folders too (their run.json names the sweep and
the trial's values; trials of older sweeps have only trial.json and are read from it).

Comparing: metrics.json keeps per-epoch figures only, so a compared run is drawn per epoch (its
validation loss and metrics, plus ``train_loss``) at the step where each epoch ended,
``epoch × steps per epoch`` with the steps per epoch estimated as ``global_step / epochs``; the
live plots share that step axis with the current run. See :func:`overlay_data`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

MAX_NAME = 80
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
CHECKPOINT_FILE = "checkpoint.pt"
# history keys that are not drawn as metric curves
_NOT_METRICS = frozenset({"epoch", "train_loss", "val_loss", "lr"})


@dataclass
class RunInfo:
    """One run folder, as far as its JSON files tell."""

    folder: Path
    name: str
    started: str = ""  # ISO time from run.json ("" when unknown)
    status: str = "unknown"  # metrics.json's status, or "unknown" / "unreadable"
    epochs: int = 0
    final: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    has_checkpoint: bool = False
    global_step: int = 0
    resumed_from: str | None = None
    problem: str = ""  # why the folder is "unreadable"
    error: str = ""  # why a "failed" run failed (metrics.json's "error")
    settings: dict[str, Any] = field(default_factory=dict, repr=False)  # metrics.json's
    sibling_steps: float | None = field(default=None, repr=False)  # see steps_per_epoch
    root: Path | None = field(default=None, repr=False)  # the runs root it was loaded from
    sweep: str | None = None  # a sweep's trial: the sweep folder's name (run.json's "sweep")
    trial: int | None = None  # its trial number
    params: dict[str, Any] = field(default_factory=dict)  # the values the trial tried

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    @property
    def ends_on_epoch(self) -> bool:
        """metrics.json was written at the end of an epoch ("completed", or "running" after
        each epoch), so ``global_step / epochs`` is the exact steps per epoch."""
        return self.status in ("completed", "running") and self.epochs > 0 and self.global_step > 0

    @property
    def steps_per_epoch(self) -> float:
        """Training steps per epoch, for drawing epochs on the step axis: ``global_step /
        epochs`` when the run ended on an epoch boundary. A run stopped (or failed) mid-epoch
        counts its partial epoch's steps too, so it takes the exact figure of a sibling run
        with the same batch size and validation split where that fits its step count, else
        the (slightly high) estimate."""
        if self.epochs <= 0 or self.global_step <= 0:
            return 1.0
        if self.ends_on_epoch:
            return self.global_step / self.epochs
        hint = self.sibling_steps
        if hint and hint * self.epochs <= self.global_step < hint * (self.epochs + 1):
            return hint
        return self.global_step / self.epochs

    def started_text(self) -> str:
        """``2025-01-31 14:02`` from the ISO time, else what run.json says."""
        try:
            return datetime.fromisoformat(self.started).strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            return self.started


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _sort_time(info: RunInfo | SweepInfo) -> float:
    try:
        return datetime.fromisoformat(info.started).timestamp()
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        return info.folder.stat().st_mtime
    except OSError:
        return 0.0


def read_run(folder: Path, root: Path | None = None) -> RunInfo | None:
    """The run in ``folder``; None when it is no run folder (no run.json). Never raises."""
    folder = Path(folder)
    run_file = folder / RUN_FILE
    try:
        if folder.is_symlink() or not folder.is_dir() or not run_file.is_file():
            return None
    except OSError:
        return None
    info = RunInfo(folder=folder, name=folder.name, root=root)
    try:
        meta = _read_json(run_file)
        if not isinstance(meta, dict):
            raise ValueError("run.json holds no object")
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        info.status, info.problem = "unreadable", f"run.json: {exc}"
        return info
    name = meta.get("name")
    if isinstance(name, str) and name.strip():
        info.name = name.strip()
    if isinstance(meta.get("started"), str):
        info.started = meta["started"]
    if isinstance(meta.get("resumed_from"), str):
        info.resumed_from = meta["resumed_from"]
    if isinstance(meta.get("sweep"), str):
        info.sweep = meta["sweep"]
    if isinstance(meta.get("trial"), int) and not isinstance(meta.get("trial"), bool):
        info.trial = meta["trial"]
    if isinstance(meta.get("params"), dict):
        info.params = meta["params"]
    return _read_metrics(info)


def _read_metrics(info: RunInfo) -> RunInfo:
    """``info`` with what the folder's checkpoint.pt and metrics.json tell."""
    folder = info.folder
    with contextlib.suppress(OSError):
        info.has_checkpoint = (folder / CHECKPOINT_FILE).is_file()

    metrics_file = folder / METRICS_FILE
    try:
        if not metrics_file.exists():
            return info  # no epoch finished yet (or it ended before one did)
        metrics = _read_json(metrics_file)
        if not isinstance(metrics, dict):
            raise ValueError("metrics.json holds no object")
    except (OSError, ValueError) as exc:
        info.status, info.problem = "unreadable", f"metrics.json: {exc}"
        return info
    status = metrics.get("status")
    info.status = status if isinstance(status, str) and status else "unknown"
    if isinstance(metrics.get("error"), str):
        info.error = metrics["error"]
    history = metrics.get("history")
    info.history = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    info.epochs = max(0, _int(metrics.get("epochs"), len(info.history)))
    info.global_step = max(0, _int(metrics.get("global_step")))
    if isinstance(metrics.get("settings"), dict):
        info.settings = metrics["settings"]
    final = metrics.get("final")
    if isinstance(final, dict) and final:
        info.final = final
    elif info.history:
        info.final = info.history[-1]
    return info


def load_runs(root: Path | None) -> list[RunInfo]:
    """Every run folder directly in ``root``, newest first. Folders without run.json are
    skipped; broken JSON shows as status "unreadable". Never raises."""
    if root is None:
        return []
    root = Path(root)
    try:
        children = list(root.iterdir())
    except OSError:
        return []
    runs = [info for child in children if (info := read_run(child, root)) is not None]
    runs.sort(key=lambda r: (_sort_time(r), r.folder.name), reverse=True)
    _share_steps(runs)
    return runs


def _share_steps(runs: list[RunInfo]) -> None:
    """Give runs stopped mid-epoch the exact steps per epoch of a sibling with the same data."""
    exact: dict[str, float] = {}
    for info in runs:
        if info.ends_on_epoch:
            exact.setdefault(_data_key(info), info.global_step / info.epochs)
    for info in runs:
        if not info.ends_on_epoch:
            info.sibling_steps = exact.get(_data_key(info))


# ---------------------------------------------------------------------------- sweeps
SWEEP_SPACE = "space.json"
SWEEP_RESULTS = "results.json"
TRIALS_FOLDER = "trials"
TRIAL_FILE = "trial.json"


@dataclass
class SweepInfo:
    """A sweep folder in the runs folder (``space.json`` and ``trials/``), with its trials."""

    folder: Path
    name: str
    started: str = ""  # ISO time of its first trial ("" when none started)
    state: str = "unknown"  # "finished", "unfinished" (resumable) or "running"
    metric: str = ""
    direction: str = "minimize"
    best: float | None = None  # the best trial's objective
    best_trial: int | None = None
    budget: int = 0
    counted: int = 0  # finished trials (the budget used)
    trials: list[RunInfo] = field(default_factory=list)  # newest first
    root: Path | None = field(default=None, repr=False)
    problem: str = ""  # why results.json cannot be read

    def started_text(self) -> str:
        try:
            return datetime.fromisoformat(self.started).strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            return self.started

    def summary(self) -> str:
        """``best val_loss 0.0123 (trial 3) · 6 of 20 trials``."""
        parts = []
        if self.best is not None:
            parts.append(f"best {self.metric} {self.best:.4g} (trial {self.best_trial})")
        elif self.metric:
            parts.append(f"no finished trial yet ({self.metric}, {self.direction})")
        parts.append(f"{self.counted} of {self.budget} trials" if self.budget else "")
        return " · ".join(p for p in parts if p)


def is_sweep_folder(folder: Path) -> bool:
    try:
        return (
            not folder.is_symlink()
            and (folder / SWEEP_SPACE).is_file()
            and (folder / TRIALS_FOLDER).is_dir()
        )
    except OSError:
        return False


def read_trial(folder: Path, root: Path | None = None, sweep: str | None = None) -> RunInfo | None:
    """A sweep's trial folder as a run: its run.json, or for sweeps made before trials had one,
    its trial.json (named "trial N"); the sweep's own verdict ("pruned") from trial.json.
    None when the folder holds neither. Never raises."""
    folder = Path(folder)
    info = read_run(folder, root)
    try:
        meta = _read_json(folder / TRIAL_FILE)
        if not isinstance(meta, dict):
            meta = {}
    except (OSError, ValueError):
        meta = {}
    if info is None:
        try:
            if not (folder / TRIAL_FILE).is_file():
                return None  # neither a run nor a trial
        except OSError:
            return None
        info = _read_metrics(RunInfo(folder=folder, name=folder.name, root=root))
        number = meta.get("number")
        if isinstance(number, int) and not isinstance(number, bool):
            info.trial, info.name = number, f"trial {number}"
        if isinstance(meta.get("params"), dict):
            info.params = meta["params"]
        started = meta.get("started")
        if isinstance(started, int | float) and not isinstance(started, bool):
            with contextlib.suppress(OverflowError, OSError, ValueError):
                info.started = datetime.fromtimestamp(started).isoformat(timespec="seconds")
    info.sweep = info.sweep or sweep
    if meta.get("state") == "PRUNED":
        info.status = "pruned"
    elif meta.get("state") == "FAIL" and info.status in ("unknown", "running", "stopped"):
        info.status = "stopped" if "interrupted" in str(meta.get("message", "")) else "failed"
        info.error = info.error or str(meta.get("message", ""))
    return info


def read_sweep(folder: Path, root: Path | None = None) -> SweepInfo | None:
    """The sweep in ``folder`` with its trials; None when it is no sweep folder. Never raises."""
    folder = Path(folder)
    if not is_sweep_folder(folder):
        return None
    sweep = SweepInfo(folder=folder, name=folder.name, root=root)
    try:
        space = _read_json(folder / SWEEP_SPACE)
        objective = space.get("objective", {}) if isinstance(space, dict) else {}
        sweep.metric = str(objective.get("metric", ""))
        sweep.direction = str(objective.get("direction", "minimize"))
        sweep.budget = max(0, _int(space.get("trials")))
    except (OSError, ValueError, AttributeError):
        pass
    try:
        trial_dirs = sorted((folder / TRIALS_FOLDER).iterdir())
    except OSError:
        trial_dirs = []
    for child in trial_dirs:
        if child.is_dir() and (info := read_trial(child, root, folder.name)) is not None:
            sweep.trials.append(info)
    sweep.trials.sort(key=lambda r: (_sort_time(r), r.folder.name), reverse=True)
    _share_steps(sweep.trials)
    try:
        results = _read_json(folder / SWEEP_RESULTS)
        if not isinstance(results, dict):
            raise ValueError("results.json holds no object")
    except FileNotFoundError:
        results = {}
    except (OSError, ValueError) as exc:
        sweep.problem, results = f"results.json: {exc}", {}
    sweep.budget = max(0, _int(results.get("budget"), sweep.budget))
    sweep.counted = max(0, _int(results.get("counted")))
    best = results.get("best")
    if isinstance(best, dict):
        sweep.best = _number(best.get("objective"))
        if isinstance(best.get("number"), int):
            sweep.best_trial = best["number"]
    sweep.state = "finished" if sweep.budget and sweep.counted >= sweep.budget else "unfinished"
    starts = [t.started for t in sweep.trials if t.started]
    sweep.started = min(starts) if starts else ""
    return sweep


def load_sweeps(root: Path | None) -> list[SweepInfo]:
    """Every sweep folder directly in ``root``, newest first. Never raises."""
    if root is None:
        return []
    try:
        children = list(Path(root).iterdir())
    except OSError:
        return []
    sweeps = [s for child in children if (s := read_sweep(child, Path(root))) is not None]
    sweeps.sort(key=lambda s: (_sort_time(s), s.folder.name), reverse=True)
    return sweeps


def delete_sweep(sweep: SweepInfo, root: Path | None = None) -> None:
    """Remove a whole sweep folder (its study, results and every trial). Refuses (ValueError)
    unless it is a real sweep folder directly inside the runs root."""
    base = root if root is not None else sweep.root
    if base is None:
        raise ValueError("refusing to delete a sweep whose runs folder is unknown")
    folder = Path(sweep.folder)
    if not is_sweep_folder(folder) or not folder.is_dir():
        raise ValueError(f"refusing to delete {folder}: not a sweep folder")
    if folder.resolve().parent != Path(base).resolve():
        raise ValueError(f"refusing to delete {folder}: not inside the runs folder {base}")
    shutil.rmtree(folder)


def _data_key(info: RunInfo) -> str:
    """What the steps per epoch depend on, as far as metrics.json tells."""
    return json.dumps([info.settings.get("batch_size"), info.settings.get("val_split")])


def clean_name(new_name: str) -> str:
    """``new_name`` on one line, trimmed; ValueError when empty or longer than 80 chars."""
    name = " ".join(str(new_name).split())
    if not name:
        raise ValueError("a run name cannot be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"a run name has at most {MAX_NAME} characters ({len(name)} given)")
    return name


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def rename_run(info: RunInfo, new_name: str) -> None:
    """Write ``new_name`` into run.json (the folder keeps its name) and into ``info``.
    ValueError for an invalid name or an unreadable run.json; OSError when it cannot write."""
    name = clean_name(new_name)
    path = info.folder / RUN_FILE
    try:
        meta = _read_json(path)
    except FileNotFoundError as exc:
        if info.trial is None or not (info.folder / TRIAL_FILE).is_file():
            raise ValueError(f"cannot read {path}: {exc}") from exc
        # a trial of a sweep made before trials had run.json: it gets one now
        meta = {"sweep": info.sweep, "trial": info.trial, "params": info.params}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{path} holds no object")
    meta["name"] = name
    _write_json(path, meta)
    info.name = name


def delete_run(info: RunInfo, root: Path | None = None) -> None:
    """Remove the run's folder. Refuses (ValueError) unless the folder is a real folder
    directly inside the runs root (``root``, else the one it was loaded from), or a trial of a
    sweep there, and holds run.json (a trial: or trial.json). OSError when removing fails."""
    base = root if root is not None else info.root
    if base is None:
        raise ValueError("refusing to delete a run whose runs folder is unknown")
    folder = Path(info.folder)
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"refusing to delete {folder}: not a folder")
    parent, base = folder.resolve().parent, Path(base).resolve()
    trial = (
        parent.name == TRIALS_FOLDER
        and parent.parent.parent == base
        and is_sweep_folder(parent.parent)
    )
    if parent != base and not trial:
        raise ValueError(f"refusing to delete {folder}: not inside the runs folder {base}")
    if not (folder / RUN_FILE).is_file() and not (trial and (folder / TRIAL_FILE).is_file()):
        raise ValueError(f"refusing to delete {folder}: it holds no {RUN_FILE}")
    shutil.rmtree(folder)


def overlay_data(info: RunInfo) -> dict[str, list[float]]:
    """The run's curves for ``LivePlots.set_overlays``: "epoch_steps" (the step where each
    epoch ended, estimated), "epochs", "train_loss", "val_loss", "lr" and every scalar metric
    in the history ("accuracy", "mae", "r2"…), one value per epoch, NaN where missing. No
    "steps"/"losses": metrics.json keeps no per-step loss."""
    per_step = info.steps_per_epoch
    epochs: list[float] = []
    for i, record in enumerate(info.history):
        epoch = _number(record.get("epoch"))
        epochs.append(epoch if epoch is not None else float(i + 1))
    data: dict[str, list[float]] = {
        "epochs": epochs,
        "epoch_steps": [round(e * per_step, 3) for e in epochs],
    }
    keys = ["train_loss", "val_loss", "lr"]
    for record in info.history:
        for key, value in record.items():
            if key not in _NOT_METRICS and key not in keys and _number(value) is not None:
                keys.append(key)
    for key in keys:
        values = [_number(record.get(key)) for record in info.history]
        data[key] = [math.nan if v is None else v for v in values]
    return data
