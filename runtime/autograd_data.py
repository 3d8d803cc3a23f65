"""The backward graph and gradient health of one step as plain data (no torch needed to read
it): what :mod:`torchcanvas.runtime.autograd` records and the autograd view draws."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SavedValue:
    """One value a backward function saved: a tensor's shape and dtype, or a short repr."""

    name: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    text: str | None = None

    def describe(self) -> str:
        if self.shape is not None:
            return f"{self.name}: {self.dtype} [{', '.join(map(str, self.shape))}]"
        return f"{self.name}: {self.text}"


@dataclass
class FnNode:
    index: int
    name: str  # "AddmmBackward0", "AccumulateGrad", or the loss's label
    kind: str  # "function", "leaf" or "loss"
    owner: str | None = None  # canvas node id (or module name) it belongs to
    param: str | None = None  # leaves: the parameter's qualified name
    shape: tuple[int, ...] | None = None  # leaves: the parameter's shape
    dtype: str | None = None
    saved: tuple[SavedValue, ...] = ()

    @property
    def title(self) -> str:
        if self.kind == "leaf" and self.param:
            return self.param
        return self.name

    def tooltip(self) -> str:
        lines = [self.name]
        if self.param:
            lines.append(f"parameter {self.param}")
        if self.shape is not None:
            lines.append(f"{self.dtype} [{', '.join(map(str, self.shape))}]")
        lines += [v.describe() for v in self.saved]
        return "\n".join(lines)


@dataclass(frozen=True)
class ParamGrad:
    name: str
    owner: str | None
    shape: tuple[int, ...]
    grad_norm: float | None  # None: the parameter got no gradient
    weight_norm: float
    flag: str  # "ok", "vanishing", "exploding" or "none"

    @property
    def ratio(self) -> float | None:
        if self.grad_norm is None or self.weight_norm == 0:
            return None
        return self.grad_norm / self.weight_norm


@dataclass(frozen=True)
class GradStats:
    step: int
    params: tuple[ParamGrad, ...]

    @property
    def flagged(self) -> list[ParamGrad]:
        return [p for p in self.params if p.flag != "ok"]

    def per_owner(self) -> dict[str, float]:
        """The gradient norm of each owner's parameters together (sqrt of summed squares)."""
        sums: dict[str, float] = {}
        for p in self.params:
            if p.owner is not None and p.grad_norm is not None:
                sums[p.owner] = sums.get(p.owner, 0.0) + p.grad_norm**2
        return {k: math.sqrt(v) for k, v in sums.items()}

    def by_name(self) -> dict[str, ParamGrad]:
        return {p.name: p for p in self.params}


@dataclass
class AutogradGraph:
    nodes: list[FnNode]
    edges: list[tuple[int, int]]  # (function, one of its next_functions): loss → leaves
    roots: list[int]  # the loss nodes
    labels: dict[str, str] = field(default_factory=dict)  # owner → display name
    grads: GradStats | None = None
    step: int | None = None  # the training step it was captured at, if any

    def owners(self) -> list[str]:
        seen: dict[str, None] = {}
        for n in self.nodes:
            if n.owner is not None:
                seen.setdefault(n.owner)
        return list(seen)

    def cluster(self, owner: str) -> list[int]:
        return [n.index for n in self.nodes if n.owner == owner]

    def by_name(self, name: str) -> list[FnNode]:
        return [n for n in self.nodes if n.name == name]

    def leaves(self) -> dict[str, FnNode]:
        return {n.param: n for n in self.nodes if n.kind == "leaf" and n.param}

    def children(self, index: int) -> list[int]:
        return [b for a, b in self.edges if a == index]

    def label_of(self, owner: str | None) -> str:
        if owner is None:
            return "(other)"
        return self.labels.get(owner, owner)
