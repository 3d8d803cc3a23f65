"""Sweeps on a Ray cluster: the same trials as ``runtime.sweep``, run as Ray Tune trials.

Optuna is Tune's search algorithm (``ray.tune.search.optuna.OptunaSearch``, with the space's
sampler: TPE, random or grid, its study kept in the sweep folder's ``sweep.db``) and ASHA
(``ray.tune.schedulers.ASHAScheduler``) stops poor trials early, reporting per epoch; a space
with ``"pruner": "none"`` lets every trial run. Each trial trains the project with its values
through the ordinary trainer (the generated train.py's functions) in a folder of its own on the
node that runs it, reports every epoch to Tune and hands its run folder back as a Tune
checkpoint; the driver then copies each into ``SWEEP/trials/trial-NNNN/`` and writes
``results.json`` and the same table as a local sweep, as each trial finishes. Tune's own
records stay in ``SWEEP/ray/`` (or ``storage``, which a multi-node cluster needs to be shared:
NFS, S3, GCS). ``resume`` continues a stopped sweep: the trials in results.json stay, trials the
study holds as running (a lost driver) are tried again with the same values, and only the rest
of the budget runs.

Ray is optional (``pip install torchcanvas[ray]``); it is imported only here, when a sweep asks
for it. No Qt.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from torchcanvas.graph import save
from torchcanvas.graph.document import Graph
from torchcanvas.runtime.sweep import (
    Space,
    SweepError,
    SweepResult,
    TrialResult,
    _counts,
    _distributions,
    _sampler,
    _write_json,
    apply_values,
    check_same_space,
    sweep_storage,
    write_trial_run_file,
)

INSTALL_HINT = 'Ray is not installed; install it with: pip install "torchcanvas[ray]"'
LOCAL = "local"  # start a Ray instance on this machine rather than join a cluster


def require_ray() -> None:
    """Raise ``SweepError`` saying how to install Ray when it is missing."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch  # noqa: F401
    except ImportError as exc:
        raise SweepError(f"--ray: {INSTALL_HINT} ({exc})") from None


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid without its ``study.stop()`` once the grid is used up (legal only inside
    ``study.optimize``, which Tune does not call); the budget is capped at the grid's size.
    At module level, so that Tune can pickle the search algorithm with it."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def _key(i: int) -> str:
    return f"d{i}"  # Tune's config keys; the targets hold dots, which Tune reads as nesting


def _trainable(config: dict[str, Any], setup: dict[str, Any]) -> None:
    """One Tune trial: the project with the trial's values, trained epoch by epoch, each epoch
    reported to Tune; the run folder goes back as the trial's checkpoint when it ends."""
    import torch
    from ray import tune

    from torchcanvas.graph.serialize import from_dict
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.events import EpochEvent, RunFailed, TrainOptions
    from torchcanvas.runtime.trainer import Trainer

    torch.set_num_threads(setup["threads"])
    targets: list[str] = setup["targets"]
    params = {t: config[_key(i)] for i, t in enumerate(targets)}
    graph = from_dict(setup["project"])
    apply_values(graph, params)
    project_path = Path(setup["project_path"])
    project = compile_project(graph, project_path.parent, title=project_path.stem)
    run_dir = Path(tempfile.mkdtemp(prefix="torchcanvas-trial-"))
    save(graph, run_dir / "project.json")
    trial_id = tune.get_context().get_trial_id()
    options = TrainOptions(
        out_dir=run_dir,
        keep_predictions=False,
        device=setup["device"],
        tensorboard=setup["tensorboard"],
        hparams={"trial": trial_id, **params},
    )
    epochs = project.graph.settings["epochs"]
    started = time.time()
    try:
        for event in Trainer(project, options):
            if isinstance(event, RunFailed):
                raise RuntimeError(event.message)
            if not isinstance(event, EpochEvent):
                continue
            record = {
                "epoch": event.epoch,
                "train_loss": event.train_loss,
                "val_loss": event.val_loss,
                **{k: v for k, v in event.metrics.items() if isinstance(v, (int, float))},
                "started": started,
            }
            if event.epoch < epochs:
                tune.report(record)
        # the last epoch's report carries the run folder back to the sweep
        tune.report(record, checkpoint=tune.Checkpoint.from_directory(str(run_dir)))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


class RaySweep:
    """A sweep folder filled by Ray Tune trials; ``run()`` returns the same ``SweepResult`` as
    a local sweep. ``address``: ``auto`` (the cluster this machine belongs to), a cluster
    address (``ray://head:10001``, ``head:6379``) or ``local`` (a Ray instance started here).
    ``jobs``: at most this many trials at a time (None: as many as the cluster fits)."""

    def __init__(
        self,
        graph: Graph,
        project_path: Path,
        space: Space,
        out_dir: Path,
        *,
        address: str = "auto",
        jobs: int | None = None,
        device: str | None = None,
        tensorboard: bool | None = None,
        cpus_per_trial: int = 1,
        storage: str | None = None,
        resume: bool = False,
    ):
        require_ray()
        self.graph = graph
        self.project_path = Path(project_path)
        self.space = space
        self.out_dir = Path(out_dir)
        self.address = address
        self.jobs = jobs
        self.device = device
        self.tensorboard = tensorboard
        self.cpus_per_trial = cpus_per_trial
        self.storage = storage
        self.resume = resume
        self.earlier: list[TrialResult] = []  # trials of the sweep being resumed
        held = (self.out_dir / "sweep.db").exists() or (self.out_dir / "results.json").exists()
        if held and not resume:
            raise SweepError(
                f"--out: {self.out_dir} already holds a sweep; continue it with --resume or "
                "choose another folder"
            )
        if resume:
            if not held:
                raise SweepError(f"--resume: {self.out_dir} holds no sweep (no sweep.db)")
            check_same_space(self.out_dir, space)
            self.earlier = _earlier_trials(self.out_dir)
        if space.strategy == "grid":
            from torchcanvas.runtime.sweep import grid_size

            self.trials = min(space.trials, grid_size(space))
        else:
            self.trials = space.trials

    def budget(self) -> int:
        return self.trials

    def _mode(self) -> str:
        return "min" if self.space.direction == "minimize" else "max"

    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address == LOCAL:
            ray.init(**kwargs)
        else:
            ray.init(address=self.address, **kwargs)

    def _retry_interrupted(self) -> int:
        """Trials a killed sweep left running in the study: failed, and their values queued to
        be tried first. Returns how many trials the study holds (the sampler's seed offset,
        so that a resumed random sweep draws anew)."""
        from optuna.trial import TrialState

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = sweep_storage(self.out_dir)
        try:
            study = optuna.load_study(study_name=self.out_dir.name, storage=storage)
        except KeyError:  # no trial was ever asked for
            return 0
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            if t.state == TrialState.RUNNING:
                study.tell(t.number, state=TrialState.FAIL)
                study.enqueue_trial(dict(t.params))
        return len(trials)

    def _search(self, offset: int = 0):
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = _distributions(self.space)
        renamed = {_key(i): dists[d.target] for i, d in enumerate(self.space.dimensions)}
        sampler = _sampler(self.space, offset)
        if self.space.strategy == "grid":  # the grid's own keys are Tune's
            sampler = _Grid(
                {_key(i): d.grid_values() for i, d in enumerate(self.space.dimensions)},
                seed=self.space.seed,
            )
        storage = sweep_storage(self.out_dir)
        return OptunaSearch(
            space=renamed,
            metric=self.space.metric,
            mode=self._mode(),
            sampler=sampler,
            storage=storage,
            study_name=self.out_dir.name,
        )

    def run(
        self, on_trial: Callable[[TrialResult, SweepResult], None] | None = None
    ) -> SweepResult:
        # Tune's console tables would mix with the sweep's own progress bar and table
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        from torchcanvas.graph.serialize import to_dict

        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "trials").mkdir(exist_ok=True)
        _write_json(self.out_dir / "space.json", self.space.to_dict())
        left = self.trials - sum(1 for t in self.earlier if _counts(t))
        if left <= 0:  # a resumed sweep whose budget is used up
            result = self._result({})
            _write_json(self.out_dir / "results.json", result.to_dict())
            return result
        offset = self._retry_interrupted() if self.resume else 0
        first = max((t.number for t in self.earlier), default=-1) + 1  # the next trial number
        self._connect()
        targets = [d.target for d in self.space.dimensions]
        setup = {
            "project": to_dict(self.graph),
            "project_path": str(self.project_path.resolve()),
            "targets": targets,
            "device": self.device,
            "tensorboard": self.tensorboard,
            "threads": self.cpus_per_trial,
        }
        epochs = self.graph.settings["epochs"]
        scheduler = None
        if self.space.pruner != "none":
            scheduler = ASHAScheduler(
                time_attr="training_iteration",
                metric=self.space.metric,
                mode=self._mode(),
                max_t=epochs,
                grace_period=1,
                reduction_factor=2,
            )
        rows: dict[str, TrialResult] = {}
        sweep = self

        class Collect(tune.Callback):
            """Each finished trial as a row, as it finishes (for a progress bar)."""

            def on_trial_complete(self, iteration, trials, trial, **info):
                self._row(trial)

            def on_trial_error(self, iteration, trials, trial, **info):
                self._row(trial)

            def _row(self, trial):
                row = sweep._row(trial, first + len(rows), targets, epochs)
                rows[trial.trial_id] = row
                sweep._bring_back(trial.checkpoint, row)
                _write_json(sweep.out_dir / "results.json", sweep._result(rows).to_dict())
                if on_trial is not None:
                    on_trial(rows[trial.trial_id], sweep._result(rows))

        trainable = tune.with_resources(
            tune.with_parameters(_trainable, setup=setup), {"cpu": self.cpus_per_trial}
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=self._search(offset),
                scheduler=scheduler,
                num_samples=left,
                max_concurrent_trials=self.jobs,
                time_budget_s=self.space.timeout_s,
                # a trial's worker process trains the next trial too: torch and the project
                # are imported once per worker, not once per trial
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=self._tune_name(first),
                storage_path=self.storage or str((self.out_dir / "ray").resolve()),
                callbacks=[Collect()],
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        grid = tuner.fit()
        for result in grid:  # checkpoints not brought back as their trials finished
            row = rows.get(result.metrics.get("trial_id")) if result.metrics else None
            if row is not None and not (Path(row.run_dir) / "metrics.json").exists():
                self._bring_back(result.checkpoint, row)
        for row in rows.values():
            Path(row.run_dir).mkdir(parents=True, exist_ok=True)
            if not (Path(row.run_dir) / "trial.json").exists():
                _write_json(Path(row.run_dir) / "trial.json", row.to_dict())
        result = self._result(rows)
        _write_json(self.out_dir / "results.json", result.to_dict())
        return result

    def _tune_name(self, first: int) -> str:
        """``tune``, and ``tune-from-N`` for a resume whose first trial is N: Tune's records of
        each part of a resumed sweep kept apart (``-2``, ``-3``… where one exists already)."""
        name = "tune" if first == 0 else f"tune-from-{first}"
        if self.storage and "://" in self.storage:
            return name
        root = Path(self.storage) if self.storage else self.out_dir / "ray"
        base, k = name, 2
        while (root / name).exists():
            name, k = f"{base}-{k}", k + 1
        return name

    def _bring_back(self, checkpoint, row: TrialResult) -> None:
        """The trial's run folder (its Tune checkpoint) into ``SWEEP/trials/``, with trial.json."""
        target = Path(row.run_dir)
        if checkpoint is not None:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(target)
            checkpoint.to_directory(str(target))
        target.mkdir(parents=True, exist_ok=True)
        _write_json(target / "trial.json", row.to_dict())
        write_trial_run_file(target, self.out_dir, self.project_path, row.number, row.params)

    def _result(self, rows: dict[str, TrialResult]) -> SweepResult:
        result = SweepResult(self.out_dir, self.space)
        result.trials = sorted([*self.earlier, *rows.values()], key=lambda t: t.number)
        return result

    def _row(self, trial, number: int, targets: list[str], epochs: int) -> TrialResult:
        """A finished Tune trial as a sweep table row: complete when it trained every epoch,
        pruned when ASHA stopped it sooner, failed with its error."""
        last = dict(trial.last_result or {})
        config = trial.config
        params = {t: config.get(_key(i)) for i, t in enumerate(targets)}
        run_dir = self.out_dir / "trials" / f"trial-{number:04d}"
        done = int(last.get("epoch", 0) or 0)
        objective = last.get(self.space.metric)
        duration = last.get("time_total_s")
        duration = None if duration is None else round(float(duration), 3)
        started = last.get("started")
        if trial.error_file or trial.status == "ERROR":
            message = _error_text(trial)
            return TrialResult(
                number, params, "FAIL", None, duration, done, message, str(run_dir), started
            )
        finite = isinstance(objective, (int, float)) and math.isfinite(objective)
        if done >= epochs and finite:
            return TrialResult(
                number,
                params,
                "COMPLETE",
                float(objective),
                duration,
                done,
                "",
                str(run_dir),
                started,
            )
        if done < epochs:
            message = f"stopped early by ASHA after epoch {done}"
            return TrialResult(
                number,
                params,
                "PRUNED",
                None,
                duration,
                done,
                message,
                str(run_dir),
                started,
                float(objective) if finite else None,
            )
        message = f"objective {self.space.metric} is {objective}; no finite value recorded"
        return TrialResult(
            number, params, "FAIL", None, duration, done, message, str(run_dir), started
        )


def _earlier_trials(out_dir: Path) -> list[TrialResult]:
    """The trials results.json records (a resumed Ray sweep keeps them); [] when it has none."""
    import json

    path = out_dir / "results.json"
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["trials"]
        return [TrialResult(**row) for row in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"--resume: {path} cannot be read ({exc})") from None


def _error_text(trial) -> str:
    """The last line of a failed trial's error (its RuntimeError's message)."""
    text = ""
    with contextlib.suppress(Exception):
        text = trial.get_error().__str__()
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return "the trial failed on the cluster"
    last = lines[-1]
    return last.split("RuntimeError: ", 1)[-1]
