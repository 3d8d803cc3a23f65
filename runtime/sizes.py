"""The size limit (the ``max_params`` training setting): what no check, run or export may
allocate. Read from a shape result alone; nothing here imports torch, so the window's problem
list shows it too."""

from __future__ import annotations

import math

from torchcanvas.graph.document import Graph
from torchcanvas.graph.settings import MAX_PARAMS
from torchcanvas.runtime.shape_result import Dim, Problem, ShapeResult, format_shape

LIMIT_HINT = (
    "if this machine has the memory, raise the max_params training setting (or pass --max-params)"
)


def _values(shape: tuple[Dim, ...], batch: int) -> int | None:
    """How many values a tensor of ``shape`` holds for a batch of ``batch``; None when a dim
    is unknown."""
    total = 1
    for d in shape:
        if isinstance(d, int):
            total *= d
        elif d == "B":
            total *= batch
        elif isinstance(d, str) and d.startswith("B*"):
            total *= batch * int(d[2:])
        else:
            return None
    return total


def _size(count: int) -> str:
    """``count`` float32 values in bytes, in the unit a person reads (48 TB, 1.2 GB)."""
    size = count * 4.0
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.3g} {unit}" if unit != "bytes" else f"{int(size)} bytes"
        size /= 1000
    return ""  # pragma: no cover - the loop always returns


def size_problems(graph: Graph, result: ShapeResult, limit: int | None = None) -> list[Problem]:
    """Errors for what is larger than ``limit`` (default: the project's ``max_params``): the
    model's parameters, one node's output for a batch of ``batch_size``, a data source's whole
    data. Each names the node; at most one per node."""
    limit = limit if limit is not None else graph.settings.get("max_params", MAX_PARAMS)
    batch = graph.settings.get("batch_size", 1)
    found: dict[str, str] = {}
    where = f"the size limit is {limit:,}; {LIMIT_HINT}"
    for nid, count in result.param_counts.items():
        if count > limit:
            found.setdefault(nid, f"{count:,} parameters ({_size(count)} in float32): {where}")
    total = result.total_params
    if total > limit and not found and result.param_counts:
        nid = max(result.param_counts, key=lambda n: result.param_counts[n])
        found[nid] = (
            f"the model has {total:,} parameters ({_size(total)} in float32), the "
            f"most of them here ({result.param_counts[nid]:,}); {where}"
        )
    info = result.data_info
    x_shape = getattr(info, "x_shape", None)
    if x_shape is not None:
        samples = info.n_train + info.n_val if info.batched else 1
        data = samples * math.prod(x_shape)
        data_nodes = [n.id for n in graph.nodes() if n.kind == "data"]
        if data > limit and data_nodes:
            found.setdefault(
                data_nodes[0],
                f"its data holds {data:,} values ({_size(data)}) in {samples:,} samples; {where}",
            )
    for (nid, port), shape in result.shapes.items():
        values = _values(shape, batch)
        if values is not None and values > limit and nid not in found:
            found[nid] = (
                f"output {port} {format_shape(shape)} holds {values:,} values "
                f"({_size(values)}) for a batch of {batch:,}; {where}"
            )
    return [Problem(nid, message) for nid, message in found.items()]
