"""The catalogue: one ``NodeSpec`` per node type, declared as data without importing torch.

Modules below register their specs in ``CATALOGUE``; ``tests/test_catalogue_torch.py`` checks every
spec with a ``torch_name`` against the real torch signature, so the catalogue cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable

from torchcanvas.graph.errors import UnknownNodeTypeError
from torchcanvas.graph.spec import CATEGORIES, NodeSpec

CATALOGUE: dict[str, NodeSpec] = {}


def register(specs: Iterable[NodeSpec]) -> None:
    for spec in specs:
        if spec.type_id in CATALOGUE:
            raise ValueError(f"duplicate node type {spec.type_id}")
        CATALOGUE[spec.type_id] = spec


def get_spec(type_id: str) -> NodeSpec:
    try:
        return CATALOGUE[type_id]
    except KeyError:
        raise UnknownNodeTypeError(type_id) from None


def specs_by_category() -> dict[str, list[NodeSpec]]:
    """Specs grouped in palette order, each group sorted by title."""
    groups: dict[str, list[NodeSpec]] = {c: [] for c in CATEGORIES}
    for spec in CATALOGUE.values():
        groups[spec.category].append(spec)
    return {c: sorted(v, key=lambda s: s.title.lower()) for c, v in groups.items() if v}


# Sub-groups of a category in the palette (``extra["group"]``), in palette order; a spec
# without a group sits directly under its category, after the groups.
GROUPS = (
    "Linear",
    "Convolution",
    "Pooling",
    "Normalization",
    "Dropout",
    "Recurrent",
    "Transformer",
    "Embedding",
    "Shape",
    "Resize",
    "Padding",
    "Distance",
    "Style transfer",
)


def grouped(specs: list[NodeSpec]) -> list[tuple[str | None, list[NodeSpec]]]:
    """``specs`` (of one category) split by ``extra["group"]`` in ``GROUPS`` order, each group
    keeping the order it was given; ungrouped specs last, under ``None``."""
    groups: dict[str | None, list[NodeSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.extra.get("group"), []).append(spec)
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(
        groups.items(), key=lambda kv: (kv[0] is None, order.get(kv[0], len(order)), kv[0] or "")
    )


def _load() -> None:
    from torchcanvas.graph.catalogue import (  # noqa: F401  (registration on import)
        activations,
        backbones,
        blocks,
        code,
        data,
        layers,
        losses,
        ops,
        optim,
        style,
    )


_load()
