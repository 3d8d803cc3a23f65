"""Node specifications: the typed description of every node type in the catalogue.

Declared as plain data, without importing torch. A ``ParamSpec`` knows how to check and
normalise a value, so the document, the file loader and the inspector share one set of rules.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from torchcanvas.graph.errors import ParamError, quoted, short_repr

FLOAT32_MAX = 3.4028234663852886e38  # the largest finite float32 (torch.finfo(torch.float32).max)

AUTO = "auto"
"""The value of a shape-derived parameter that shape inference fills in."""

_MISSING: Any = object()
_INT64_MAX = 2**63 - 1

PARAM_TYPES = (
    "int",  # a whole number
    "float",  # a real number (ints accepted)
    "bool",
    "str",  # free text
    "choice",  # one of ``choices``
    "size",  # an int, or a list of ints (kernel sizes, strides, padding, ...)
    "ints",  # a list of ints
    "floats",  # a list of numbers (betas, ...)
    "strs",  # a list of strings (column names, ...)
    "path",  # a file or folder path, as text
)

PORT_KINDS = ("tensor", "loss", "optimizer")

NODE_KINDS = (
    "data",
    "io",
    "layer",
    "op",
    "block",
    "code",
    "loss",
    "optimizer",
    "scheduler",
    "clip",
)

CATEGORIES = (
    "Data",
    "Layers",
    "Activations",
    "Ops",
    "Losses",
    "Optimizers",
    "Schedulers",
    "Pretrained",  # torchvision networks that load pretrained weights
    "Blocks",  # block instances and block boundaries; internal: the palette lists definitions
    "Code",  # imported code the catalogue cannot express; internal: only an import makes them
)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any = None
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Any, ...] = ()
    optional: bool = False  # None is a legal value
    auto: Any = None  # an AutoRule: shape inference may fill this parameter
    length: tuple[int, int] | None = None  # allowed list length for list types (min, max)
    ctor: bool = True  # passed to the torch constructor
    required: bool = False  # torch has no default: generated code passes it positionally
    torch_default: Any = _MISSING  # when our default differs from torch's
    pattern: str | None = None  # text params: a regular expression the whole text must match
    pattern_hint: str = ""  # what ``pattern`` asks for, in words ("a Python name such as x")

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"param {self.name}: unknown type {self.type!r}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"param {self.name}: a choice needs choices")

    @property
    def upstream_default(self) -> Any:
        """Torch's own default, which decides whether generated code spells the argument."""
        return self.default if self.torch_default is _MISSING else self.torch_default

    def describe_range(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.min_exclusive else '≥'} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.max_exclusive else '≤'} {self.maximum:g}")
        return " and ".join(parts)

    def validate(self, value: Any, node_id: str | None = None) -> Any:
        """Return the normalised value, or raise ``ParamError`` naming this parameter."""

        def fail(msg: str) -> ParamError:
            return ParamError(self.name, msg, node_id)

        if value is None:
            if self.optional:
                return None
            raise fail("a value is required")
        if isinstance(value, str) and value == AUTO and self.auto is not None:
            return AUTO
        t = self.type
        if t == "int":
            return self._number(self._int(value, fail), fail)
        if t == "float":
            return self._number(self._float(value, fail), fail)
        if t == "bool":
            if isinstance(value, bool):
                return value
            raise fail(f"expected true or false, got {short_repr(value)}")
        if t in ("str", "path"):
            if isinstance(value, str):
                if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
                    raise fail(
                        f"{short_repr(value)} is not allowed; use "
                        f"{self.pattern_hint or 'text matching ' + self.pattern}"
                    )
                return self._text(value, fail)
            raise fail(f"expected text, got {short_repr(value)}")
        if t == "choice":
            if any(value == c and type(value) is type(c) for c in self.choices):
                return value
            raise fail(f"{short_repr(value)} is not allowed; choose {self.describe_range()}")
        if t == "size":
            if isinstance(value, (list, tuple)):
                items = [self._number(self._int(v, fail), fail) for v in value]
                self._check_length(items, fail)
                return items
            return self._number(self._int(value, fail), fail)
        if t in ("ints", "floats", "strs"):
            if not isinstance(value, (list, tuple)):
                raise fail(f"expected a list, got {short_repr(value)}")
            if t == "ints":
                items = [self._number(self._int(v, fail), fail) for v in value]
            elif t == "floats":
                items = [self._number(self._float(v, fail), fail) for v in value]
            else:
                items = []
                for v in value:
                    if not isinstance(v, str):
                        raise fail(f"expected text items, got {short_repr(v)}")
                    items.append(self._text(v, fail))
            self._check_length(items, fail)
            return items
        raise fail(f"unsupported type {t}")  # pragma: no cover - guarded in __post_init__

    def _check_length(self, items: list, fail) -> None:
        if self.length is None:
            return
        lo, hi = self.length
        if not lo <= len(items) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise fail(f"expected {want} values, got {len(items)}")

    @staticmethod
    def _text(value: str, fail) -> str:
        try:
            value.encode("utf-8")  # a lone surrogate could not be saved
        except UnicodeEncodeError:
            raise fail("text is not valid Unicode (lone surrogate)") from None
        return value

    @staticmethod
    def _int(value: Any, fail) -> int:
        if isinstance(value, bool):
            raise fail(f"expected a whole number, got {short_repr(value)}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            if abs(value) > _INT64_MAX:  # torch takes int64 at most; a huge int cannot be saved
                raise fail(f"{short_repr(value)} is too large")
            return value
        raise fail(f"expected a whole number, got {short_repr(value)}")

    @staticmethod
    def _float(value: Any, fail) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"expected a number, got {short_repr(value)}")
        try:
            value = float(value)
        except OverflowError:  # an int too large for a float
            raise fail("expected a finite number, got a number too large") from None
        if not math.isfinite(value):
            raise fail(f"expected a finite number, got {short_repr(value)}")
        if abs(value) > FLOAT32_MAX:  # torch computes in float32: it would overflow there
            raise fail(f"{value:g} is too large; a 32-bit float holds at most ±{FLOAT32_MAX:.4g}")
        return value

    def _number(self, value: float, fail):
        if self.minimum is not None:
            too_low = value <= self.minimum if self.min_exclusive else value < self.minimum
            if too_low:
                raise fail(f"{short_repr(value)} is out of range; must be {self.describe_range()}")
        if self.maximum is not None and (
            value >= self.maximum if self.max_exclusive else value > self.maximum
        ):
            raise fail(f"{short_repr(value)} is out of range; must be {self.describe_range()}")
        return value


@dataclass(frozen=True)
class AutoRule:
    """How shape inference fills an ``auto`` parameter from an input's shape.

    ``dim`` indexes the input tensor's shape; ``as_list`` wraps the value in a list (LayerNorm's
    ``normalized_shape``); ``from_data`` reads a fact reported by the data node feeding the graph
    (``num_classes``, ``vocab_size``) instead of a shape.
    """

    port: str = "x"
    dim: int = 1
    as_list: bool = False
    from_data: str | None = None


@dataclass(frozen=True)
class PortSpec:
    name: str
    kind: str = "tensor"
    optional: bool = False
    multi: bool = False  # accepts several incoming edges (only for loss inputs of optimizers)
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PORT_KINDS:
            raise ValueError(f"port {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class NodeSpec:
    type_id: str
    title: str
    category: str
    kind: str
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    help: str = ""
    torch_name: str | None = None  # e.g. "torch.nn.Conv2d": checked against the real signature
    label_base: str = "node"  # default labels are label_base + a number: conv1, conv2...
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts, see catalogue
    # a layer whose module returns several values: how they nest, by output port name, e.g.
    # ("out", ("h", "c")) for LSTM's ``output, (h_n, c_n)``; None: one value per output port
    returns: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.returns is not None and flat_returns(self.returns) != [
            p.name for p in self.outputs
        ]:
            raise ValueError(f"{self.type_id}: returns {self.returns} does not name its outputs")
        if self.kind not in NODE_KINDS:
            raise ValueError(f"{self.type_id}: unknown kind {self.kind!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.type_id}: unknown category {self.category!r}")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.type_id}: duplicate param names")

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(name, f"{self.type_id} has no parameter {quoted(name)}")

    def input(self, name: str) -> PortSpec | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        return next((p for p in self.outputs if p.name == name), None)

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate_params(self, params: dict[str, Any], node_id: str | None = None) -> dict:
        """Complete ``params`` with defaults and check every value; unknown names are refused."""
        known = {p.name for p in self.params}
        for name in params:
            if name not in known:
                raise ParamError(name, f"{self.type_id} has no parameter {quoted(name)}", node_id)
        out = {}
        for p in self.params:
            out[p.name] = p.validate(params.get(p.name, p.default), node_id)
        return out


def flat_returns(returns: tuple[Any, ...]) -> list[str]:
    """The port names of a ``NodeSpec.returns`` structure, in order: ("out", ("h", "c")) →
    ["out", "h", "c"]."""
    out: list[str] = []
    for item in returns:
        out += flat_returns(item) if isinstance(item, tuple) else [item]
    return out
