"""The sweep a project keeps in its file: the search space and strategy as plain JSON.

Here the form is checked (fields, kinds, strategy, numbers), with the path of a bad field;
whether each target names a real setting or node param, and each value fits it, is checked
against the graph when a sweep runs (``torchcanvas.runtime.sweep.parse_space``), since a node
may be removed after the sweep was set up. Imports neither torch nor Qt.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from torchcanvas.graph.errors import InvalidProjectError

KINDS = ("log", "linear", "int", "choice")
STRATEGIES = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
DIRECTIONS = ("minimize", "maximize")
SPACE_KEYS = {"dimensions", "objective", "strategy", "trials", "timeout_s", "pruner", "seed"}
DIM_KEYS = {"target", "kind", "low", "high", "step", "log", "choices", "grid"}


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int, str))


def _number(value: Any, integer: bool = False) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def validate_sweep(raw: Any, path: str = "sweep") -> dict[str, Any]:
    """A deep copy of ``raw`` when it has the form of a sweep space; ``InvalidProjectError``
    naming the field otherwise."""
    if not isinstance(raw, dict):
        raise InvalidProjectError(path, "must be an object with dimensions")
    for key in sorted(set(raw) - SPACE_KEYS):
        raise InvalidProjectError(f"{path}.{key}", "unknown field")
    dims = raw.get("dimensions", [])
    if not isinstance(dims, list):
        raise InvalidProjectError(f"{path}.dimensions", "must be a list")
    for i, dim in enumerate(dims):
        at = f"{path}.dimensions[{i}]"
        if not isinstance(dim, dict):
            raise InvalidProjectError(at, "must be an object with target and kind")
        for key in sorted(set(dim) - DIM_KEYS):
            raise InvalidProjectError(f"{at}.{key}", "unknown field")
        if not isinstance(dim.get("target"), str) or not dim["target"]:
            raise InvalidProjectError(f"{at}.target", "must be text such as settings.batch_size")
        if dim.get("kind") not in KINDS:
            raise InvalidProjectError(f"{at}.kind", f"must be one of {', '.join(KINDS)}")
        for key in ("low", "high", "step"):
            if key in dim and not _number(dim[key]):
                raise InvalidProjectError(f"{at}.{key}", "must be a number")
        if "log" in dim and not isinstance(dim["log"], bool):
            raise InvalidProjectError(f"{at}.log", "must be true or false")
        for key in ("choices", "grid"):
            if key in dim:
                values = dim[key]
                if not isinstance(values, list) or not all(_scalar(v) for v in values):
                    raise InvalidProjectError(
                        f"{at}.{key}", "must be a list of numbers, text or true/false"
                    )
    objective = raw.get("objective", {})
    if not isinstance(objective, dict):
        raise InvalidProjectError(f"{path}.objective", 'must be {"metric": …, "direction": …}')
    for key in sorted(set(objective) - {"metric", "direction"}):
        raise InvalidProjectError(f"{path}.objective.{key}", "unknown field")
    if "metric" in objective and not isinstance(objective["metric"], str):
        raise InvalidProjectError(f"{path}.objective.metric", "must be a metric's name")
    if "direction" in objective and objective["direction"] not in DIRECTIONS:
        raise InvalidProjectError(f"{path}.objective.direction", "must be minimize or maximize")
    for key, allowed in (("strategy", STRATEGIES), ("pruner", PRUNERS)):
        if key in raw and raw[key] not in allowed:
            raise InvalidProjectError(f"{path}.{key}", f"must be one of {', '.join(allowed)}")
    if "trials" in raw and (not _number(raw["trials"], integer=True) or raw["trials"] < 1):
        raise InvalidProjectError(f"{path}.trials", "must be a whole number ≥ 1")
    timeout = raw.get("timeout_s")
    if timeout is not None and (not _number(timeout) or timeout <= 0):
        raise InvalidProjectError(f"{path}.timeout_s", "must be seconds > 0, or null")
    seed = raw.get("seed")
    if seed is not None and (not _number(seed, integer=True) or seed < 0):
        raise InvalidProjectError(f"{path}.seed", "must be a whole number ≥ 0, or null")
    try:
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidProjectError(path, f"must be plain JSON ({exc})") from None
    return copy.deepcopy(raw)
