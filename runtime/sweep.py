"""Hyperparameter sweeps: a search space over training settings and node params, trials run by
the ordinary trainer, searched and pruned by Optuna, stored in the sweep folder.

A sweep folder holds ``space.json`` (the space used), ``sweep.db`` (Optuna's SQLite storage;
the study is named after the folder), ``results.json`` (every trial and the best one, rewritten
as trials finish) and ``trials/trial-NNNN/``: normal run folders (run.json, checkpoint, weights,
metrics.json, the trial's project.json; the Runs tab lists them under their sweep) with a
``trial.json`` (number, params, state, objective, duration). A trial the sweep was stopped in
is retried on ``--resume`` by a new trial that continues from its checkpoint (``resumed_from``
in that trial's run.json).

The space is JSON, the same the app writes::

    {"dimensions": [
        {"target": "settings.batch_size", "kind": "choice", "choices": [16, 32, 64]},
        {"target": "nodes.n4.params.lr", "kind": "log", "low": 1e-4, "high": 0.1},
        {"target": "nodes.n2.params.out_features", "kind": "int", "low": 8, "high": 64,
         "step": 8}],
     "objective": {"metric": "val_loss", "direction": "minimize"},
     "strategy": "tpe", "trials": 20, "timeout_s": null, "pruner": "median", "seed": 0}

Targets are ``settings.<name>``, ``nodes.<node id>.params.<name>`` or ``nodes.<node id>.type``
(the node's type: a choice of type ids such as ``["optim.SGD", "optim.Adam", "optim.RMSprop"]``
or ``["nn.ReLU", "nn.GELU", "nn.Tanh"]``, each one that fits the node's wiring; a trial changes
the type first, keeping the params that fit, then sets the node's param dimensions, which must
fit every type listed). Kinds: ``log`` and ``linear`` (float ranges), ``int`` (``step``,
optional ``log``) and ``choice``. A trial's objective is the metric after its last epoch (what
its metrics.json calls ``final``).

Torch and Optuna are imported when a sweep runs, not when this module loads. No Qt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from torchcanvas.graph import GraphError, save
from torchcanvas.graph.document import Graph
from torchcanvas.graph.settings import SETTINGS
from torchcanvas.graph.sweep import (
    DIM_KEYS,
    DIRECTIONS,
    KINDS,
    PRUNERS,
    SPACE_KEYS,
    STRATEGIES,
)

# which kinds fit a param of each type (other param types take choices only)
_KINDS_FOR_TYPE = {"float": ("log", "linear", "choice"), "int": ("int", "choice")}
_SPACE_KEYS, _DIM_KEYS = SPACE_KEYS, DIM_KEYS


class SweepError(ValueError):
    """A bad space or sweep folder; the message names the field (``dimensions[1].target: …``)."""


@dataclass(frozen=True)
class Dimension:
    target: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    grid: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "kind": self.kind}
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        else:
            out["low"], out["high"] = self.low, self.high
            if self.step is not None:
                out["step"] = self.step
            if self.log and self.kind == "int":
                out["log"] = True
        if self.grid:
            out["grid"] = list(self.grid)
        return out

    def grid_values(self) -> list[Any]:
        if self.grid:
            return list(self.grid)
        if self.kind == "choice":
            return list(self.choices)
        step = int(self.step or 1)
        return list(range(int(self.low), int(self.high) + 1, step))


@dataclass(frozen=True)
class Space:
    dimensions: tuple[Dimension, ...]
    metric: str = "val_loss"
    direction: str = "minimize"
    strategy: str = "tpe"
    trials: int = 20
    timeout_s: float | None = None
    pruner: str = "median"
    seed: int | None = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimensions": [d.to_dict() for d in self.dimensions],
            "objective": {"metric": self.metric, "direction": self.direction},
            "strategy": self.strategy,
            "trials": self.trials,
            "timeout_s": self.timeout_s,
            "pruner": self.pruner,
            "seed": self.seed,
        }


# ---------------------------------------------------------------------------- targets
TYPE_SUFFIX = ".type"


def split_target(target: str) -> tuple[str, str | None, str]:
    """("settings", None, name), ("node", node_id, param) or ("type", node_id, "type");
    ValueError saying what is wrong. (Param names hold no dot; node ids may.)"""
    if target.startswith("settings."):
        return "settings", None, target[len("settings.") :]
    if target.startswith("nodes."):
        rest = target[len("nodes.") :]
        node_id, sep, name = rest.rpartition(".params.")
        if sep and node_id and name and "." not in name:
            return "node", node_id, name
        if rest.endswith(TYPE_SUFFIX) and len(rest) > len(TYPE_SUFFIX):
            return "type", rest[: -len(TYPE_SUFFIX)], "type"
    raise ValueError(
        f"{target!r} is not a target; use settings.<name>, nodes.<node id>.params.<name> "
        "or nodes.<node id>.type"
    )


def type_target(node_id: str) -> str:
    return f"nodes.{node_id}{TYPE_SUFFIX}"


def is_type_target(target: str) -> bool:
    try:
        return split_target(target)[0] == "type"
    except ValueError:
        return False


def _node(graph: Graph, node_id: str):
    if node_id not in graph:
        raise ValueError(f"no node {node_id!r}")
    node = graph.node(node_id)
    if node.spec is None:
        raise ValueError(f"node {node_id!r} has an unknown type ({node.type_id})")
    return node


def param_spec(graph: Graph, target: str):
    """The ``ParamSpec`` of a setting or node param target; ValueError when it names none (a
    type target names a node's type, not a param)."""
    where, node_id, name = split_target(target)
    if where == "settings":
        if name not in SETTINGS:
            raise ValueError(f"no training setting {name!r}")
        return SETTINGS[name]
    node = _node(graph, node_id)
    if where == "type":
        raise ValueError(f"{target} is the type of node {node_id!r}, not a param")
    if name not in node.params:
        raise ValueError(f"node {node_id!r} ({node.type_id}) has no param {name!r}")
    return node.spec.param(name)


def apply_values(graph: Graph, values: dict[str, Any]) -> None:
    """Set each ``target: value`` on ``graph`` through its own checks (``set_type``,
    ``set_setting`` and ``set_param``); node types first, so a param of a node whose type is
    swept lands on its new type. Raises ``GraphError`` (a bad value) or ``ValueError`` (a bad
    target)."""
    split = [(split_target(target), target, value) for target, value in values.items()]
    for (where, node_id, name), target, value in sorted(
        split, key=lambda item: item[0][0] != "type"
    ):
        if where == "settings":
            graph.set_setting(name, value)
        elif where == "type":
            _node(graph, node_id)
            if not isinstance(value, str):
                raise ValueError(f"{target}: a node type is a type id such as optim.Adam")
            graph.set_type(node_id, value)
        else:
            param_spec(graph, target)  # a clear error for a missing node or param
            graph.set_param(node_id, name, value)


def value_text(target: str, value: Any) -> str:
    """How a trial's value reads in a table: a node type by its title ("Adam"), a float in 4
    significant digits."""
    if isinstance(value, str) and is_type_target(target):
        from torchcanvas.graph import CATALOGUE

        spec = CATALOGUE.get(value)
        return spec.title if spec is not None else value
    return _short(value)


def best_values(sweep_dir: Path) -> dict[str, Any]:
    """The best trial's ``target: value`` from a sweep folder's results.json."""
    path = Path(sweep_dir) / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{path}: no such file; is {sweep_dir} a sweep folder?") from None
    best = results.get("best")
    if not best:
        raise SweepError(f"{sweep_dir}: no trial has completed yet")
    return dict(best["params"])


def apply_best(graph: Graph, sweep_dir: Path) -> dict[str, Any]:
    """Apply the best trial's values to ``graph`` and return them."""
    values = best_values(sweep_dir)
    apply_values(graph, values)
    return values


# ---------------------------------------------------------------------------- the space
def _number(raw: Any, where: str, integer: bool = False) -> float | int:
    ok = isinstance(raw, int) if integer else isinstance(raw, (int, float))
    if isinstance(raw, bool) or not ok or (isinstance(raw, float) and not math.isfinite(raw)):
        raise SweepError(
            f"{where}: expected {'an integer' if integer else 'a number'}, got {json.dumps(raw)}"
        )
    return raw


def _try_value(graph: Graph, target: str, value: Any, where: str) -> None:
    """The graph's own check, on a copy: a value the param refuses names the dimension."""
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise SweepError(f"{where}: {json.dumps(value)} is not a number, text or true/false")
    trial = graph.copy()
    try:
        apply_values(trial, {target: value})
    except (GraphError, ValueError) as exc:
        raise SweepError(f"{where}: {json.dumps(value)} is refused: {exc}") from None


def _try_type(graph: Graph, node_id: str, value: Any, where: str) -> None:
    """A type id the node can take (``Graph.set_type`` would accept it and every input it
    requires is wired); SweepError naming the choice otherwise."""
    if not isinstance(value, str):
        example = graph.node(node_id).type_id
        raise SweepError(f"{where}: expected a type id such as {example}, got {json.dumps(value)}")
    try:
        graph.check_type(node_id, value)
    except GraphError as exc:
        raise SweepError(f"{where}: {value} does not fit: {exc}") from None
    missing = graph.unwired_inputs(node_id, value)
    if missing:
        label = graph.node(node_id).label
        raise SweepError(
            f"{where}: {value} needs its input{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} wired, which {label} has not"
        )


def parse_dimension(
    graph: Graph,
    raw: Any,
    i: int,
    strategy: str,
    types: dict[str, tuple[str, ...]] | None = None,
) -> Dimension:
    """One dimension of a space, checked against ``graph``; ``SweepError`` names the field
    (``dimensions[i].…``). ``types``: node id → the types a type dimension of the same space
    gives that node; a param dimension of such a node must fit each of them."""
    target = raw.get("target") if isinstance(raw, dict) else None
    swept = None
    if types and isinstance(target, str):
        try:
            where, node_id, _ = split_target(target)
        except ValueError:
            where = node_id = None
        if where == "node" and node_id in types and node_id in graph:
            swept = types[node_id]
    if not swept:
        return _parse_dimension(graph, raw, i, strategy)
    dim = None
    for type_id in swept:
        trial = graph.copy()
        trial.set_type(node_id, type_id)
        try:
            dim = _parse_dimension(trial, raw, i, strategy)
        except SweepError as exc:
            raise SweepError(
                f"{exc} (with {type_target(node_id)} = {type_id}, one of the types swept)"
            ) from None
    return dim


def _parse_dimension(graph: Graph, raw: Any, i: int, strategy: str) -> Dimension:
    at = f"dimensions[{i}]"
    if not isinstance(raw, dict):
        raise SweepError(f"{at}: expected an object with target and kind")
    unknown = sorted(set(raw) - _DIM_KEYS)
    if unknown:
        raise SweepError(f"{at}.{unknown[0]}: unknown field; use {', '.join(sorted(_DIM_KEYS))}")
    target = raw.get("target")
    if not isinstance(target, str):
        raise SweepError(f"{at}.target: expected text such as settings.batch_size")
    try:
        where, node_id, _ = split_target(target)
        if where == "type":
            spec = None  # the node's type: a choice of type ids
            node = _node(graph, node_id)
            if not graph.type_alternatives(node_id):
                raise ValueError(f"node {node_id!r} ({node.type_id}) keeps its type")
        else:
            spec = param_spec(graph, target)
    except ValueError as exc:
        raise SweepError(f"{at}.target: {exc}") from None
    kind = raw.get("kind")
    if kind not in KINDS:
        raise SweepError(f"{at}.kind: {json.dumps(kind)} is not a kind; use {', '.join(KINDS)}")
    fits = ("choice",) if spec is None else _KINDS_FOR_TYPE.get(spec.type, ("choice",))
    if kind not in fits:
        what = "a node's type: list type ids" if spec is None else f"{spec.type} param"
        raise SweepError(
            f"{at}.kind: {kind!r} does not fit {target} ({what}); use {' or '.join(fits)}"
        )
    low = high = step = None
    log = False
    choices: tuple[Any, ...] = ()
    if kind == "choice":
        for key in ("low", "high", "step", "log"):
            if key in raw:
                raise SweepError(f"{at}.{key}: a choice dimension takes choices, not {key}")
        raw_choices = raw.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            raise SweepError(f"{at}.choices: expected a non-empty list of values")
        for j, value in enumerate(raw_choices):
            if spec is None:
                _try_type(graph, node_id, value, f"{at}.choices[{j}]")
            else:
                _try_value(graph, target, value, f"{at}.choices[{j}]")
        if len({json.dumps(c) for c in raw_choices}) != len(raw_choices):
            raise SweepError(f"{at}.choices: a value is listed twice")
        choices = tuple(raw_choices)
    else:
        if "choices" in raw:
            raise SweepError(f"{at}.choices: only a choice dimension takes choices")
        integer = kind == "int"
        for key in ("low", "high"):
            if key not in raw:
                raise SweepError(f"{at}.{key}: required for a {kind} dimension")
        low = _number(raw["low"], f"{at}.low", integer)
        high = _number(raw["high"], f"{at}.high", integer)
        if low > high:
            raise SweepError(f"{at}.low: {low} is above high ({high})")
        log = kind == "log" or (integer and raw.get("log") is True)
        if "log" in raw and (not integer or not isinstance(raw["log"], bool)):
            raise SweepError(
                f"{at}.log: only an int dimension takes log (true or false); "
                "for floats use kind log"
            )
        if log and low <= 0:
            raise SweepError(f"{at}.low: a log range needs low > 0, got {low}")
        if "step" in raw:
            if kind == "log" or log:
                raise SweepError(f"{at}.step: a log range takes no step")
            step = _number(raw["step"], f"{at}.step", integer)
            if step <= 0:
                raise SweepError(f"{at}.step: must be > 0, got {step}")
            span = (high - low) / step
            if abs(span - round(span)) > 1e-9:
                raise SweepError(
                    f"{at}.step: high - low ({high - low}) is not a multiple of step ({step})"
                )
        _try_value(graph, target, low, f"{at}.low")
        _try_value(graph, target, high, f"{at}.high")
    grid: tuple[Any, ...] = ()
    if "grid" in raw:
        raw_grid = raw["grid"]
        if not isinstance(raw_grid, list) or not raw_grid:
            raise SweepError(f"{at}.grid: expected a non-empty list of values")
        for j, value in enumerate(raw_grid):
            if kind != "choice":
                _number(value, f"{at}.grid[{j}]", kind == "int")
                if not low <= value <= high:
                    raise SweepError(
                        f"{at}.grid[{j}]: {value} is outside low..high ({low}..{high})"
                    )
            elif value not in choices:
                raise SweepError(f"{at}.grid[{j}]: {json.dumps(value)} is not among choices")
            if spec is not None:
                _try_value(graph, target, value, f"{at}.grid[{j}]")
        grid = tuple(raw_grid)
    if strategy == "grid" and kind in ("log", "linear") and not grid:
        raise SweepError(
            f"{at}: a grid sweep needs a list of values for a {kind} range; add "
            f'"grid": [...] (e.g. [{low}, {high}])'
        )
    return Dimension(target, kind, low, high, step, log, choices, grid)


def parse_space(raw: Any, graph: Graph) -> Space:
    """Check a space fully against ``graph`` before any trial; ``SweepError`` names the field."""
    if not isinstance(raw, dict):
        raise SweepError("space: expected a JSON object with dimensions")
    unknown = sorted(set(raw) - _SPACE_KEYS)
    if unknown:
        raise SweepError(f"{unknown[0]}: unknown field; use {', '.join(sorted(_SPACE_KEYS))}")
    strategy = raw.get("strategy", "tpe")
    if strategy not in STRATEGIES:
        raise SweepError(
            f"strategy: {json.dumps(strategy)} is not a strategy; use {', '.join(STRATEGIES)}"
        )
    dims_raw = raw.get("dimensions")
    if not isinstance(dims_raw, list) or not dims_raw:
        raise SweepError("dimensions: expected a non-empty list")
    # node types first: a param dimension of a node whose type is swept must fit every type
    first: dict[int, Dimension] = {}
    types: dict[str, tuple[str, ...]] = {}
    for i, d in enumerate(dims_raw):
        if isinstance(d, dict) and isinstance(d.get("target"), str) and is_type_target(d["target"]):
            first[i] = dim = parse_dimension(graph, d, i, strategy)
            types.setdefault(split_target(dim.target)[1], dim.choices)
    dims = tuple(
        first[i] if i in first else parse_dimension(graph, d, i, strategy, types)
        for i, d in enumerate(dims_raw)
    )
    seen: dict[str, int] = {}
    for i, d in enumerate(dims):
        if d.target in seen:
            raise SweepError(
                f"dimensions[{i}].target: {d.target} is already dimensions[{seen[d.target]}]"
            )
        seen[d.target] = i
    objective = raw.get("objective", {})
    if not isinstance(objective, dict) or set(objective) - {"metric", "direction"}:
        raise SweepError('objective: expected {"metric": ..., "direction": ...}')
    metric = objective.get("metric", "val_loss")
    known = objective_metrics(graph)
    if metric not in known:
        raise SweepError(
            f"objective.metric: {json.dumps(metric)} is not recorded for this "
            f"project; use {', '.join(known)}"
        )
    for node_id, swept in types.items():  # another loss may record other metrics
        if graph.node(node_id).kind != "loss":
            continue
        for type_id in swept:
            trial = graph.copy()
            trial.set_type(node_id, type_id)
            if metric not in objective_metrics(trial):
                raise SweepError(
                    f"objective.metric: {json.dumps(metric)} is not recorded when "
                    f"{type_target(node_id)} is {type_id}; use a metric every loss swept "
                    "records, such as val_loss"
                )
    direction = objective.get("direction", "minimize")
    if direction not in DIRECTIONS:
        raise SweepError(f"objective.direction: {json.dumps(direction)}; use minimize or maximize")
    trials = raw.get("trials", 20)
    if _number(trials, "trials", integer=True) < 1:
        raise SweepError(f"trials: must be at least 1, got {trials}")
    timeout = raw.get("timeout_s")
    if timeout is not None and _number(timeout, "timeout_s") <= 0:
        raise SweepError(f"timeout_s: must be > 0 seconds or null, got {timeout}")
    pruner = raw.get("pruner", "median")
    if pruner not in PRUNERS:
        raise SweepError(f"pruner: {json.dumps(pruner)} is not a pruner; use {', '.join(PRUNERS)}")
    seed = raw.get("seed", 0)
    if seed is not None and _number(seed, "seed", integer=True) < 0:
        raise SweepError(f"seed: must be ≥ 0 or null, got {seed}")
    return Space(dims, metric, direction, strategy, trials, timeout, pruner, seed)


def objective_metrics(graph: Graph) -> tuple[str, ...]:
    """What every epoch of this project records, by its loss's task."""
    from torchcanvas.codegen import CodegenError
    from torchcanvas.codegen.plan import training_plan

    try:
        task = training_plan(graph).task
    except CodegenError as exc:
        raise SweepError(f"project: {exc}") from None
    extra = {
        "classification": ("accuracy", "precision", "recall", "f1"),
        "binary": ("accuracy", "precision", "recall", "f1"),
        "regression": ("mae", "mse", "r2"),
    }.get(task, ())
    return ("val_loss", "train_loss", *extra)


def load_space(path: Path, graph: Graph) -> Space:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path}: not valid JSON ({exc})") from None
    return parse_space(raw, graph)


# ---------------------------------------------------------------------------- running
@dataclass
class TrialResult:
    number: int
    params: dict[str, Any]
    state: str  # COMPLETE, PRUNED, FAIL or RUNNING
    objective: float | None
    duration_s: float | None
    epochs: int = 0
    message: str = ""
    run_dir: str = ""
    started: float | None = None  # when the trial began (seconds since the epoch)
    # the objective's metric at the last epoch reported to the pruner (where a pruned trial
    # stood when it was stopped); None without a pruner
    last_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "params": self.params,
            "state": self.state,
            "objective": self.objective,
            "duration_s": self.duration_s,
            "epochs": self.epochs,
            "message": self.message,
            "run_dir": self.run_dir,
            "started": self.started,
            "last_value": self.last_value,
        }


@dataclass
class SweepResult:
    out_dir: Path
    space: Space
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def best(self) -> TrialResult | None:
        done = [t for t in self.trials if t.state == "COMPLETE" and t.objective is not None]
        if not done:
            return None
        sign = 1 if self.space.direction == "minimize" else -1
        return min(done, key=lambda t: (sign * t.objective, t.number))

    def ranked(self) -> list[TrialResult]:
        """Best first: completed trials by objective, then pruned, then failed."""
        sign = 1 if self.space.direction == "minimize" else -1
        order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "FAIL": 3}

        def key(t: TrialResult):
            value = sign * t.objective if t.objective is not None else math.inf
            return (order.get(t.state, 4), value, t.number)

        return sorted(self.trials, key=key)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "study": self.out_dir.name,
            "objective": {"metric": self.space.metric, "direction": self.space.direction},
            "budget": self.space.trials,
            "counted": sum(1 for t in self.trials if _counts(t)),
            "best": best.to_dict() if best else None,
            "trials": [t.to_dict() for t in self.trials],
        }


def _counts(t: TrialResult) -> bool:
    """Finished trials use up the budget; one a stopped or killed sweep left is tried again."""
    return t.state in ("COMPLETE", "PRUNED") or (t.state == "FAIL" and t.message != INTERRUPTED)


INTERRUPTED = "interrupted: the sweep stopped while this trial ran; retried on resume"
CHECKPOINT = "checkpoint.pt"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _sampler(space: Space, offset: int):
    import optuna

    seed = None if space.seed is None else space.seed + offset
    if space.strategy == "grid":
        grid = {d.target: d.grid_values() for d in space.dimensions}
        return _grid_sampler(grid, seed=seed)
    if space.strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _grid_class():
    import optuna

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid, without its ``study.stop()`` once the grid is used up (legal only
        inside ``study.optimize``); the sweep's budget is capped at the grid's size instead."""

        def after_trial(self, study, trial, state, values) -> None:
            pass

    return Grid


def _grid_sampler(grid: dict[str, list[Any]], seed: int | None):
    return _grid_class()(grid, seed=seed)


def _pruner(space: Space):
    import optuna

    if space.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if space.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    return optuna.pruners.NopPruner()


def _distributions(space: Space) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out = {}
    for d in space.dimensions:
        if space.strategy == "grid" or d.kind == "choice":
            out[d.target] = CategoricalDistribution(
                d.grid_values() if space.strategy == "grid" else list(d.choices)
            )
        elif d.kind == "int":
            out[d.target] = IntDistribution(
                int(d.low), int(d.high), log=d.log, step=int(d.step or 1)
            )
        else:
            out[d.target] = FloatDistribution(
                float(d.low),
                float(d.high),
                log=d.kind == "log",
                step=None if d.step is None else float(d.step),
            )
    return out


def grid_size(space: Space) -> int:
    n = 1
    for d in space.dimensions:
        n *= len(d.grid_values())
    return n


def _record(trial) -> TrialResult:
    """A finished or running Optuna trial as a table row."""
    attrs = trial.user_attrs
    objective = trial.value if trial.state.name == "COMPLETE" else None
    duration = attrs.get("duration_s")
    reported = trial.intermediate_values
    last = reported[max(reported)] if reported else None
    return TrialResult(
        trial.number,
        dict(trial.params),
        trial.state.name,
        objective,
        duration,
        attrs.get("epochs", -1),
        attrs.get("message", ""),
        attrs.get("run_dir", ""),
        attrs.get("started"),
        last,
    )


def check_same_space(out_dir: Path, space: Space) -> None:
    """Raise ``SweepError`` when the sweep in ``out_dir`` was started with another space (its
    budget, trials and timeout, may change on resume)."""
    saved = Path(out_dir) / "space.json"
    if saved.exists():
        budget = {"trials": None, "timeout_s": None}
        old = json.loads(saved.read_text(encoding="utf-8")) | budget
        if old != space.to_dict() | budget:
            raise SweepError(
                f"--space: differs from the space of the sweep in "
                f"{out_dir} (space.json); resume with the same space"
            )


class Sweep:
    """One sweep folder: ``run()`` trains trials until the budget or the timeout.

    ``on_trial`` is called with each finished :class:`TrialResult`; ``control`` (a
    ``RunControl``) stops the running trial and the sweep when stopped.
    """

    def __init__(
        self,
        graph: Graph,
        project_path: Path,
        space: Space,
        out_dir: Path,
        *,
        resume: bool = False,
        device: str | None = None,
        tensorboard: bool | None = None,
        jobs: int = 1,
    ):
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise SweepError(f"--jobs: trials at a time must be 1 or more, got {jobs}")
        self.graph = graph
        self.project_path = Path(project_path)
        self.space = space
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.device = device
        self.tensorboard = tensorboard  # None: the project's setting
        self.jobs = jobs
        self.stop_requested = False
        self._control = None
        self._stop_event = None  # parallel trials: tells the trial processes to stop
        self._go_event = None  # parallel trials: cleared while the sweep is paused
        self._going = threading.Event()  # cleared while paused
        self._going.set()
        self._paused_at: float | None = None
        self.paused_s = 0.0  # time spent paused (left out of durations and the timeout)
        db = self.out_dir / "sweep.db"
        if db.exists() and not resume:
            raise SweepError(
                f"--out: {self.out_dir} already holds a sweep; continue it with "
                "--resume or choose another folder"
            )
        if resume and not db.exists():
            raise SweepError(f"--resume: {self.out_dir} holds no sweep (no sweep.db)")
        if resume:
            check_same_space(self.out_dir, space)

    def stop(self) -> None:
        """Stop the running trial (recorded as it stands) and start no more."""
        self.pause(False)  # a paused sweep stops too
        self.stop_requested = True
        if self._control is not None:
            self._control.stop()
        if self._stop_event is not None:
            self._stop_event.set()

    @property
    def paused(self) -> bool:
        return not self._going.is_set()

    def pause(self, on: bool = True) -> None:
        """Hold the running trials between two steps and start no new one (``on``), or go on
        (``on`` False). Time spent paused counts neither in durations nor the timeout."""
        if on == self.paused or (on and self.stop_requested):
            return
        if on:
            self._paused_at = time.perf_counter()
            self._going.clear()
        else:
            self.paused_s += time.perf_counter() - (self._paused_at or time.perf_counter())
            self._paused_at = None
            self._going.set()
        control = self._control
        if control is not None:
            control.pause() if on else control.resume()
        if self._go_event is not None:
            self._go_event.clear() if on else self._go_event.set()

    def _wait_while_paused(self) -> None:
        self._going.wait()

    def _study(self, offset: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return optuna.create_study(
            storage=sweep_storage(self.out_dir),
            study_name=self.out_dir.name,
            direction=self.space.direction,
            sampler=_sampler(self.space, offset),
            pruner=_pruner(self.space),
            load_if_exists=self.resume,
        )

    def results(self, study) -> SweepResult:
        result = SweepResult(self.out_dir, self.space)
        result.trials = [_record(t) for t in study.get_trials(deepcopy=False)]
        return result

    def budget(self) -> int:
        if self.space.strategy == "grid":
            return min(self.space.trials, grid_size(self.space))
        return self.space.trials

    def run(
        self,
        on_trial: Callable[[TrialResult, SweepResult], None] | None = None,
        on_start: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> SweepResult:
        """Train trials until the budget, the timeout or ``stop()``. ``on_start(number,
        params)`` is called as each trial starts, ``on_trial(row, result)`` as it ends."""
        from optuna.trial import TrialState

        offset = 0
        if self.resume:  # a resumed sampler draws anew rather than repeat the first draws
            offset = len(self._study(0).get_trials(deepcopy=False))
        study = self._study(offset)
        _write_json(self.out_dir / "space.json", self.space.to_dict())
        (self.out_dir / "trials").mkdir(exist_ok=True)
        # trials a killed sweep left RUNNING: failed, and their params tried again
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study._storage.set_trial_user_attr(t._trial_id, "message", INTERRUPTED)
            study.tell(t.number, state=TrialState.FAIL)
            self._mark_interrupted(t.number, dict(t.params))
            study.enqueue_trial(dict(t.params), user_attrs=self._resume_attrs(t))
        if self.jobs > 1:
            return self._run_parallel(study, offset, on_trial, on_start)
        distributions = _distributions(self.space)
        started = time.perf_counter()
        while not self.stop_requested:
            self._wait_while_paused()
            if self.stop_requested:
                break
            result = self.results(study)
            if sum(1 for t in result.trials if _counts(t)) >= self.budget():
                break
            if (
                self.space.timeout_s is not None
                and time.perf_counter() - started - self.paused_s >= self.space.timeout_s
            ):
                break
            trial = study.ask(distributions)
            if on_start is not None:
                on_start(trial.number, dict(trial.params))
            row = self._run_trial(study, trial)
            result = self.results(study)
            _write_json(self.out_dir / "results.json", result.to_dict())
            if on_trial is not None:
                on_trial(row, result)
        result = self.results(study)
        _write_json(self.out_dir / "results.json", result.to_dict())
        return result

    def _run_parallel(self, study, offset: int, on_trial, on_start=None) -> SweepResult:
        """``jobs`` trial processes, each asking the shared study for the next trial and training
        it as an ordinary run; this process collects the finished trials, writes results.json
        and calls ``on_trial``. The budget check and ``ask`` happen under one lock, so the
        budget is never overrun."""
        import queue as queues

        from torchcanvas.graph.serialize import to_dict
        from torchcanvas.runtime.spawn import SPAWN, SpawnProcess

        lock, stop, inbox, go = SPAWN.Lock(), SPAWN.Event(), SPAWN.Queue(), SPAWN.Event()
        self._stop_event, self._go_event = stop, go
        if self.stop_requested:
            stop.set()
        if not self.paused:
            go.set()
        setup = {
            "project": to_dict(self.graph),
            "project_path": self.project_path,
            "space": self.space,
            "out_dir": self.out_dir,
            "device": self.device,
            "tensorboard": self.tensorboard,
            "budget": self.budget(),
            "started": time.time(),
            "offset": offset,
            "threads": _threads_per_job(self.jobs),
        }
        procs = [
            SpawnProcess(target=_trial_process, args=(setup, i, lock, stop, inbox, go), daemon=True)
            for i in range(self.jobs)
        ]
        for proc in procs:
            proc.start()
        running: dict[int, int] = {}  # process index → the trial it trains
        alive, errors = set(range(self.jobs)), []
        try:
            while alive:
                try:
                    kind, index, value = inbox.get(timeout=0.25)
                except queues.Empty:
                    for i in sorted(alive):
                        if not procs[i].is_alive():  # ended without a word: a crash
                            alive.discard(i)
                            number = running.pop(i, None)
                            if number is not None:
                                self._lost_trial(study, number, procs[i].exitcode, on_trial)
                    continue
                if kind == "start":
                    running[index] = value[0]
                    if on_start is not None:
                        on_start(*value)
                elif kind == "trial":
                    running.pop(index, None)
                    result = self.results(study)
                    _write_json(self.out_dir / "results.json", result.to_dict())
                    if on_trial is not None:
                        on_trial(value, result)
                elif kind == "error":
                    errors.append(value)
                elif kind == "done":
                    alive.discard(index)
        except BaseException:
            stop.set()  # Ctrl+C: the trials stop as they stand and are retried on resume
            raise
        finally:
            for proc in procs:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
            self._stop_event = self._go_event = None
        if errors:
            raise RuntimeError(f"a trial process failed:\n{errors[0]}")
        result = self.results(study)
        _write_json(self.out_dir / "results.json", result.to_dict())
        return result

    def _lost_trial(self, study, number: int, exitcode: int | None, on_trial) -> None:
        """A trial whose process died: failed, with the exit code or signal as its message."""
        from optuna.trial import TrialState

        from torchcanvas.runtime.worker import death_message

        trial = study.get_trials(deepcopy=False)[number]
        if trial.state != TrialState.RUNNING:
            return
        message = f"the trial's process died: {death_message(exitcode)}"
        study._storage.set_trial_user_attr(trial._trial_id, "message", message)
        study.tell(number, state=TrialState.FAIL)
        run_dir = self.out_dir / "trials" / f"trial-{number:04d}"
        row = TrialResult(number, dict(trial.params), "FAIL", None, None, 0, message, str(run_dir))
        if run_dir.is_dir():
            _write_json(run_dir / "trial.json", row.to_dict())
        result = self.results(study)
        _write_json(self.out_dir / "results.json", result.to_dict())
        if on_trial is not None:
            on_trial(row, result)

    def _resume_attrs(self, trial) -> dict[str, Any]:
        """What the retry of an interrupted ``trial`` continues from: its checkpoint.pt (written
        after every epoch and when the sweep stopped it), or nothing (trained from scratch)."""
        checkpoint = self.out_dir / "trials" / f"trial-{trial.number:04d}" / CHECKPOINT
        if checkpoint.is_file():
            return {"resume_from": str(checkpoint)}
        earlier = trial.user_attrs.get("resume_from")  # interrupted before its first save
        return {"resume_from": earlier} if earlier and Path(earlier).is_file() else {}

    def _write_run_file(
        self, run_dir: Path, number: int, params: dict[str, Any], resume: Path | None
    ) -> None:
        write_trial_run_file(run_dir, self.out_dir, self.project_path, number, params, resume)

    def _earlier_values(self, folder: Path) -> list[tuple[int, float]]:
        """(epoch, objective) of each epoch the interrupted trial in ``folder`` finished, from
        its metrics.json; empty when it cannot be read."""
        try:
            history = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["history"]
            out = []
            for record in history:
                value = record.get(self.space.metric)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    out.append((int(record["epoch"]), float(value)))
            return out
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []

    def _mark_interrupted(self, number: int, params: dict[str, Any]) -> None:
        run_dir = self.out_dir / "trials" / f"trial-{number:04d}"
        if run_dir.is_dir():
            _write_json(
                run_dir / "trial.json",
                TrialResult(
                    number, params, "FAIL", None, None, 0, INTERRUPTED, str(run_dir)
                ).to_dict(),
            )

    def _run_trial(self, study, trial) -> TrialResult:
        from optuna.trial import TrialState

        from torchcanvas.runtime.compile import CompileError, compile_project
        from torchcanvas.runtime.events import (
            EpochEvent,
            RunControl,
            RunFailed,
            RunFinished,
            TrainOptions,
        )
        from torchcanvas.runtime.trainer import Trainer

        params = dict(trial.params)
        run_dir = self.out_dir / "trials" / f"trial-{trial.number:04d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        trial.set_user_attr("run_dir", str(run_dir))
        began = round(time.time(), 3)
        trial.set_user_attr("started", began)
        resume = trial.user_attrs.get("resume_from")
        resume = Path(resume) if resume and Path(resume).is_file() else None
        self._write_run_file(run_dir, trial.number, params, resume)
        graph = self.graph.copy()
        start, paused_before = time.perf_counter(), self.paused_s
        state, objective, message, epochs = TrialState.FAIL, None, "", 0
        stopped = False
        try:
            apply_values(graph, params)
            save(graph, run_dir / "project.json")
            project = compile_project(graph, self.project_path.parent, title=self.project_path.stem)
        except (GraphError, ValueError, CompileError) as exc:
            message = str(exc)
        else:
            control = self._control = RunControl()
            if self.stop_requested:
                control.stop()
            elif self.paused:
                control.pause()
            pruned = False
            last = None
            options = TrainOptions(
                out_dir=run_dir,
                keep_predictions=False,
                device=self.device,
                tensorboard=self.tensorboard,
                hparams={"trial": trial.number, **params},  # TensorBoard's HParams tab
            )
            if resume is not None:
                options = replace(options, resume=resume)
                # the pruner sees the epochs trained before the interruption too
                for epoch, value in self._earlier_values(resume.parent):
                    if self.space.pruner != "none":
                        trial.report(value, epoch)
                    last = value
            for event in Trainer(project, options, control):
                if isinstance(event, EpochEvent):
                    epochs = event.epoch
                    record = {
                        "train_loss": event.train_loss,
                        "val_loss": event.val_loss,
                        **event.metrics,
                    }
                    last = record.get(self.space.metric)
                    # per-epoch values serve the pruner only: without one, no storage write
                    # per epoch (the trial's metrics.json holds its history anyway)
                    prunes = self.space.pruner != "none"
                    if prunes and isinstance(last, (int, float)) and math.isfinite(last):
                        trial.report(float(last), event.epoch)
                        if not control.stopped and trial.should_prune():
                            pruned = True
                            control.stop()
                elif isinstance(event, RunFailed):
                    message = event.message
                elif isinstance(event, RunFinished):
                    epochs = event.epochs_done
                    if event.history:  # a resumed trial may train no epoch more
                        last = event.history[-1].get(self.space.metric, last)
                    if pruned:
                        state = TrialState.PRUNED
                        message = f"pruned after epoch {epochs}"
                    elif event.status == "stopped":
                        stopped = True  # by the sweep's stop(): left RUNNING, retried on resume
                    elif isinstance(last, (int, float)) and math.isfinite(last):
                        state, objective = TrialState.COMPLETE, float(last)
                    else:
                        message = (
                            f"objective {self.space.metric} is {last}; the project "
                            "records no finite value for it"
                        )
            self._control = None
        duration = time.perf_counter() - start - (self.paused_s - paused_before)
        trial.set_user_attr("duration_s", round(duration, 3))
        trial.set_user_attr("epochs", epochs)
        if message:
            trial.set_user_attr("message", message)
        if stopped:
            row = TrialResult(
                trial.number,
                params,
                "RUNNING",
                None,
                round(duration, 3),
                epochs,
                "stopped with the sweep; continues from its checkpoint on resume",
                str(run_dir),
                began,
            )
            _write_json(run_dir / "trial.json", row.to_dict())
            return row
        study.tell(trial, objective if state == TrialState.COMPLETE else None, state=state)
        row = TrialResult(
            trial.number,
            params,
            state.name,
            objective,
            round(duration, 3),
            epochs,
            message,
            str(run_dir),
            began,
        )
        _write_json(run_dir / "trial.json", row.to_dict())
        return row


def write_trial_run_file(
    run_dir: Path,
    sweep_dir: Path,
    project_path: Path,
    number: int,
    params: dict[str, Any],
    resume: Path | None = None,
) -> None:
    """A trial's run.json, as the app writes it for a run (so the Runs tab lists the trial),
    with the sweep, the trial's number and its values."""
    _write_json(
        run_dir / "run.json",
        {
            "name": f"trial {number}",
            "project": str(project_path),
            "started": datetime.now().isoformat(timespec="seconds"),
            "resumed_from": str(resume) if resume else None,
            "sweep": Path(sweep_dir).name,
            "trial": number,
            "params": params,
        },
    )


def _sqlite_connection(path: str):
    """A connection to the sweep's SQLite file in write-ahead-log mode with ``synchronous=NORMAL``:
    a commit appends to the log without waiting for the disk (a trial makes dozens of small
    commits), yet the file cannot be corrupted by a crash; at worst the last commits are lost,
    and a resumed sweep runs those trials again."""
    import sqlite3

    # parallel trials write from several processes: wait for SQLite's lock, not fail
    conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def sweep_storage(out_dir: Path):
    """Optuna's storage for the sweep in ``out_dir``: ``sweep.db``, SQLite."""
    import functools

    import optuna

    path = str((out_dir / "sweep.db").resolve())
    return optuna.storages.RDBStorage(
        f"sqlite:///{path}",
        engine_kwargs={"creator": functools.partial(_sqlite_connection, path)},
    )


def _threads_per_job(jobs: int) -> int:
    """torch threads for each of ``jobs`` trial processes: the CPUs shared out, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // jobs)


def _follow_pause(sweep: Sweep, go, stop) -> None:
    """In a trial process: pause and go on as the sweep's ``go`` event says."""
    while not stop.wait(0.2):
        sweep.pause(not go.is_set())


def _trial_process(setup: dict[str, Any], index: int, lock, stop, outbox, go) -> None:
    """One of a parallel sweep's trial processes: ask, train, tell, until the budget is used,
    the timeout has passed or the sweep stops; held while ``go`` is cleared (paused). Says
    ("start", i, (number, params)), ("trial", i, row), ("error", i, traceback) and, last,
    ("done", i, None)."""
    import signal
    import threading
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the sweep's to handle
    try:
        import torch

        from torchcanvas.graph.serialize import from_dict

        torch.set_num_threads(setup["threads"])
        space: Space = setup["space"]
        sweep = Sweep(
            from_dict(setup["project"]),
            setup["project_path"],
            space,
            setup["out_dir"],
            resume=True,
            device=setup["device"],
            tensorboard=setup["tensorboard"],
        )
        # each process draws its own sequence (the same seed would repeat the same values)
        study = sweep._study(setup["offset"] + 1000 * (index + 1))
        threading.Thread(target=lambda: (stop.wait(), sweep.stop()), daemon=True).start()
        threading.Thread(target=_follow_pause, args=(sweep, go, stop), daemon=True).start()
        distributions = _distributions(space)
        while not stop.is_set():
            while not go.wait(0.2) and not stop.is_set():
                pass  # paused: no new trial
            if stop.is_set():
                break
            with lock:
                rows = [_record(t) for t in study.get_trials(deepcopy=False)]
                taken = sum(1 for t in rows if _counts(t) or t.state == "RUNNING")
                late = (
                    space.timeout_s is not None
                    and time.time() - setup["started"] - sweep.paused_s >= space.timeout_s
                )
                if taken >= setup["budget"] or late or stop.is_set():
                    break
                trial = study.ask(distributions)
            outbox.put(("start", index, (trial.number, dict(trial.params))))
            outbox.put(("trial", index, sweep._run_trial(study, trial)))
    except BaseException:
        outbox.put(("error", index, traceback.format_exc()))
    finally:
        outbox.put(("done", index, None))


def iter_rows(result: SweepResult) -> Iterator[tuple[str, ...]]:
    for t in result.ranked():
        params = ", ".join(f"{_short_target(k)}={value_text(k, v)}" for k, v in t.params.items())
        yield (
            str(t.number),
            t.state.lower(),
            params,
            "-" if t.objective is None else f"{t.objective:.6g}",
            "-" if t.duration_s is None else f"{t.duration_s:.1f} s",
        )


def _short_target(target: str) -> str:
    """A target in a table's few characters: its param or setting name; a node's type as
    ``<node id>.type``."""
    if is_type_target(target):
        return f"{split_target(target)[1]}.type"
    return target.rpartition(".")[2]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(result: SweepResult) -> str:
    header = ("Trial", "State", "Params", result.space.metric, "Duration")
    rows = list(iter_rows(result))
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(
            c.ljust(w) if i in (1, 2) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    best = result.best
    if best is not None:
        lines.append(
            f"best: trial {best.number}, {result.space.metric} {best.objective:.6g} "
            f"({result.space.direction})"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- command line
def add_sweep_parser(sub) -> None:
    """``torchcanvas sweep``, added to the headless commands' subparsers."""
    sweep = sub.add_parser("sweep", help="search settings and params of a project with Optuna")
    sweep.add_argument("file", type=Path)
    sweep.add_argument(
        "--space",
        type=Path,
        help="the sweep space (JSON); when left out, the sweep saved in the project (or, "
        "with --resume, the sweep folder's own space.json)",
    )
    sweep.add_argument("--trials", type=int, help="override the space's trial budget")
    sweep.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="start no trial after S seconds (overrides timeout_s)",
    )
    sweep.add_argument(
        "--out",
        type=Path,
        help="the sweep folder (default: a new sweep-DATE-TIME folder in the "
        "project's runs folder)",
    )
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out until its trial budget is reached",
    )
    sweep.add_argument("--strategy", choices=STRATEGIES, help="override the space's strategy")
    sweep.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TensorBoard event files in each trial's folder (default: the project's setting); "
        "see them all with tensorboard --logdir OUT/trials",
    )
    sweep.add_argument(
        "--jobs",
        type=int,
        help="trials at a time, each in its own process (default 1: one after another, in "
        "this process); the CPUs are shared out between them. With --ray: at most this many "
        "trials at a time (default: as many as the cluster fits)",
    )
    sweep.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the trials as Ray Tune trials on a Ray cluster: auto (the cluster this "
        "machine belongs to), its address (ray://HEAD:10001 or HEAD:6379), or local (a Ray "
        "instance started here). Needs pip install 'torchcanvas[ray]'",
    )
    sweep.add_argument(
        "--ray-storage",
        metavar="URI",
        help="where Tune keeps its records and the trials' checkpoints before they are copied "
        "into --out (default OUT/ray; a multi-node cluster needs shared storage: an NFS "
        "path, s3://… or gs://…)",
    )
    sweep.add_argument(
        "--cpus-per-trial",
        type=int,
        default=1,
        help="with --ray: CPUs Ray gives each trial (and torch threads it uses; default 1)",
    )


def cmd_sweep(args) -> int:
    import sys

    from torchcanvas.graph import load

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 1

    if args.jobs is not None and args.jobs < 1:
        return fail(f"--jobs: trials at a time must be 1 or more, got {args.jobs}")
    if args.ray is not None:
        if args.cpus_per_trial < 1:
            return fail(f"--cpus-per-trial: must be 1 or more, got {args.cpus_per_trial}")
        from torchcanvas.runtime.ray_sweep import require_ray

        try:
            require_ray()
        except SweepError as exc:
            return fail(str(exc))
    elif args.ray_storage is not None:
        return fail("--ray-storage: only a Ray sweep (--ray ADDRESS) keeps Tune records")
    if args.resume and args.out is None:
        return fail("--resume: name the sweep folder to continue with --out DIR")
    try:
        graph = load(args.file)
    except FileNotFoundError:
        return fail(f"{args.file}: no such file")
    except GraphError as exc:
        return fail(f"{args.file}: {exc}")
    space_path = args.space
    if space_path is None and not args.resume:
        if graph.sweep is None:
            return fail(
                "--space: required (a JSON file with the sweep's dimensions); the project "
                "keeps no sweep of its own"
            )
        raw = json.loads(json.dumps(graph.sweep))  # the sweep saved in the project
    else:
        space_path = space_path or args.out / "space.json"
        try:
            raw = json.loads(Path(space_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return fail(f"--space: {space_path}: no such file")
        except json.JSONDecodeError as exc:
            return fail(f"--space: {space_path} is not valid JSON ({exc})")
    if isinstance(raw, dict):
        for key, value in (
            ("trials", args.trials),
            ("timeout_s", args.timeout),
            ("strategy", args.strategy),
        ):
            if value is not None:
                raw[key] = value
    out = args.out
    if out is None:
        from torchcanvas.runtime.runs import runs_root

        out = runs_root(args.file, create=True) / time.strftime("sweep-%Y%m%d-%H%M%S")
    try:
        space = parse_space(raw, graph)
        if args.ray is not None:
            from torchcanvas.runtime.ray_sweep import RaySweep

            sweep = RaySweep(
                graph,
                args.file,
                space,
                out,
                address=args.ray,
                jobs=args.jobs,
                tensorboard=args.tensorboard,
                cpus_per_trial=args.cpus_per_trial,
                storage=args.ray_storage,
                resume=args.resume,
            )
        else:
            sweep = Sweep(
                graph,
                args.file,
                space,
                out,
                resume=args.resume,
                tensorboard=args.tensorboard,
                jobs=args.jobs or 1,
            )
    except SweepError as exc:
        return fail(str(exc))

    from tqdm import tqdm

    budget = sweep.budget()
    bar = tqdm(total=budget, unit="trial", dynamic_ncols=True, file=sys.stderr, disable=None)

    def on_trial(row: TrialResult, result: SweepResult) -> None:
        bar.n = min(budget, sum(1 for t in result.trials if _counts(t)))
        best = result.best
        bar.set_postfix(
            trial=row.number,
            state=row.state.lower(),
            best="-" if best is None else f"{best.objective:.4g}",
            refresh=False,
        )
        bar.refresh()

    print(
        f"sweep of {args.file.name}: {budget} trials ({space.strategy}), {space.metric} "
        f"({space.direction}), into {out}",
        file=sys.stderr,
    )
    try:
        result = sweep.run(on_trial)
    except KeyboardInterrupt:
        bar.close()
        again = f" --ray {args.ray}" if args.ray is not None else ""
        print(
            f"stopped; continue with: torchcanvas sweep {args.file} --out {out} --resume{again}",
            file=sys.stderr,
        )
        return 130
    bar.close()
    print(format_table(result))
    counted = sum(1 for t in result.trials if _counts(t))
    if counted < budget and space.timeout_s is None:  # Tune ends its run on Ctrl+C
        again = f" --ray {args.ray}" if args.ray is not None else ""
        print(
            f"stopped after {counted} of {budget} trials; continue with: torchcanvas sweep "
            f"{args.file} --out {out} --resume{again}",
            file=sys.stderr,
        )
    ray_folder = ", ray/" if args.ray is not None and args.ray_storage is None else ""
    print(f"wrote {out}/: results.json, space.json, sweep.db, trials/{ray_folder}", file=sys.stderr)
    return 0
