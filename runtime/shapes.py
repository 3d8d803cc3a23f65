"""Shape inference on the ``meta`` device: no data, no memory.

Every node runs once per batch size on meta tensors (two batch sizes, so dims that follow the
batch show as ``B``). ``auto`` params are filled from input shapes, parameter counts are taken,
and a node that fails reports torch's message. Results for a node are cached by its params and
input shapes, so after an edit only what changed is run again.

A block instance runs its definition's nodes with the instance's inputs (recursively for nested
blocks). Problems inside are reported on the instance ("block1 › conv2: ..."); its parameter
count is the sum of its layers'. ``auto`` params inside a definition are resolved once per
definition (``resolved[block_key(name, node_id)]``): every instance must agree, else the second
instance is reported.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchcanvas.codegen.backbone import backbone_code, resolve_weights
from torchcanvas.codegen.emit import (
    CodegenError,
    ctor_args,
    first_output,
    flatten_returns,
    forward_expr,
    unpacked_call,
)
from torchcanvas.codegen.style import check_vgg_outputs, module_support
from torchcanvas.graph.document import Graph, GraphEvent, Node, block_key
from torchcanvas.graph.spec import AUTO
from torchcanvas.runtime.cost import (
    FAST_MACS,
    MACS_CACHE,
    MACS_CACHE_SIZE,
    NO_MACS,
    OP_FORMULAS,
    VIEWS,
    MacCounter,
    fast_macs,
    has_formula,
    module_macs,
    op_macs,
)
from torchcanvas.runtime.data import DataError, DataInfo, describe
from torchcanvas.runtime.shape_result import (  # noqa: F401 - the names callers import from here
    DataSummary,
    Dim,
    Problem,
    ShapeResult,
    Value,
    format_shape,
)
from torchcanvas.runtime.source import run_source

MAX_POOLS = frozenset({"nn.MaxPool1d", "nn.MaxPool2d", "nn.MaxPool3d"})
BATCHES = (3, 5)  # two batch sizes: a dim that changes with them is the batch dim


class ShapeError(Exception):
    def __init__(
        self, message: str, node_id: str | None, inner: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.inner = inner  # inside a block: (its definition, the node there that failed)


# what torch says (a warning for MSE/L1/Huber, an error for BCE) when a loss's input and target
# shapes differ: broadcasting would silently compare the wrong elements
_SIZE_MISMATCH = "that is different to the input size"
# the param that sets a layer's output size along a dim: where a loss mismatch is fixed
_SIZE_PARAMS = (("out_features", -1), ("out_channels", 1))
# how a shape param reads in a message ("expects 100 input features but gets 512")
_SIZE_NOUNS = {
    "in_features": "input features",
    "in_channels": "input channels",
    "num_features": "features",
    "input_size": "input features",
    "embed_dim": "embedding features",
}


class _LossMismatch(ShapeError):
    """A loss's input and target shapes differ (display shapes, with B)."""

    def __init__(self, node: Node, inp: tuple[Dim, ...], target: tuple[Dim, ...]):
        super().__init__(
            f"{node.label}: input {format_shape(inp)} and target "
            f"{format_shape(target)} differ; {node.spec.title} compares them "
            "element by element, so they must have the same shape",
            node.id,
        )
        self.input, self.target = inp, target


def _shown(
    ins: dict[str, torch.Tensor], other: dict[str, torch.Tensor], port: str
) -> tuple[Dim, ...]:
    """The shape of input ``port`` in the user's terms (B for the batch)."""
    return _display(ins[port].shape, other[port].shape) if port in other else tuple(ins[port].shape)


def _user_terms(text: str, ins: dict[str, torch.Tensor], other: dict[str, torch.Tensor]) -> str:
    """``text`` from torch about the probe batch ``ins``, with its input shapes written as
    the user knows them: ``[3, 512]``, ``torch.Size([3, 512])`` and ``3x512`` become
    ``[B, 512]`` / ``Bx512`` (``other`` is the same inputs at the other probe batch size)."""
    for port, t in ins.items():
        dims = [int(d) for d in t.shape]
        shown = _shown(ins, other, port)
        if not dims or list(shown) == dims:
            continue
        listed = format_shape(shown)
        text = text.replace(f"torch.Size({dims})", listed).replace(str(dims), listed)
        if len(dims) > 1:
            crossed = "x".join(str(d) for d in dims)
            text = re.sub(rf"(?<![\w.]){crossed}(?![\w.])", "x".join(str(d) for d in shown), text)
    return text


@dataclass
class _NodeRun:
    outputs: list[dict[str, torch.Tensor]]  # per batch size: port → meta tensor
    resolved: dict[str, Any]
    params: int
    trainable: int
    warnings: list[str]
    cost: tuple | None = None  # (MACs or None, new output bytes, parameter bytes) per sample
    key: tuple = ()
    _display: tuple | None = None
    _sig: tuple | None = None

    def display(self, nid: str) -> tuple[dict, dict]:
        """The shapes and dtypes a node shows, by (node id, port)."""
        if self._display is None or self._display[0] != nid:
            b0, b1 = self.outputs
            shapes = {(nid, port): _display(t.shape, b1[port].shape) for port, t in b0.items()}
            dtypes = {(nid, port): str(t.dtype).removeprefix("torch.") for port, t in b0.items()}
            self._display = (nid, shapes, dtypes)
        return self._display[1], self._display[2]

    def signature(self) -> tuple:
        """What the nodes after this one read: each output's shapes and dtype."""
        if self._sig is None:
            b0, b1 = self.outputs
            self._sig = tuple(
                (port, tuple(t.shape), tuple(b1[port].shape), t.dtype) for port, t in b0.items()
            )
        return self._sig


@dataclass(eq=False, slots=True)
class _Record:
    """One document node's part of a ShapeResult, kept between runs."""

    failed: bool = False
    problems: list[Problem] | tuple = ()
    outputs: list[dict[str, torch.Tensor]] | None = None
    sig: tuple | None = None  # outputs as the next nodes see them (None: no outputs)
    shown: tuple | None = None  # what the result shows for the node, to tell what changed
    resolved: dict[str, Any] | None = None
    params: int | None = None
    trainable: int | None = None
    shapes: dict | None = None
    dtypes: dict | None = None
    data_info: DataInfo | None = None
    # block instances: shapes inside (by instance path), auto values resolved inside
    # definitions first run here (by block_key), and the definitions first seen here
    block_shapes: dict | None = None
    inner_resolved: dict | None = None
    seen: dict | None = None
    cost: tuple | None = None  # _NodeRun.cost


_FAILED_SIG = ("failed",)
_EMPTY = _Record()  # a node that shows nothing (optimizer, scheduler, output)
_FAILED = _Record(failed=True, sig=_FAILED_SIG, shown=("failed",))  # after a failed input


class _Shape:
    """A value's shape and dtype without a tensor: what the fast rules give. It becomes a meta
    tensor (``_real``) only where a node is really run on it."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype):
        self.shape = shape  # a plain tuple: reads like torch.Size where it is read here
        self.dtype = dtype

    def dim(self) -> int:
        return len(self.shape)


def _one(at_first: int, at_second: int) -> int:
    """A figure measured at the two probe batch sizes, for a batch of one: the part that grows
    with the batch, per sample, plus any part that does not (a whole-tensor input has only
    that)."""
    (n, m) = BATCHES
    return max(0, at_first - (at_second - at_first) * (n - 1) // (m - n))


def _real(t: torch.Tensor | _Shape) -> torch.Tensor:
    if t.__class__ is _Shape:
        return torch.empty(t.shape, dtype=t.dtype, device="meta")
    return t


_FORWARD_CACHE: dict[str, Any] = {}
_AUTO_PARAMS: dict[str, list] = {}  # type id → its params that can be auto


def _forward_fn(expr: str, ports: list[str]):
    """Compile ``lambda m, <ports>: expr`` once per distinct expression."""
    key = f"{','.join(ports)}|{expr}"
    fn = _FORWARD_CACHE.get(key)
    if fn is None:
        src = f"def node_forward(m, {', '.join(ports)}):\n    return {expr}\n"
        fn = run_source(src, "node", {"torch": torch, "nn": nn})["node_forward"]
        _FORWARD_CACHE[key] = fn
    return fn


# ---------------------------------------------------------------------------- exact fast rules
# Running a node on meta tensors costs 0.1-0.3 ms (torch's meta kernels for these ops are Python
# decompositions). For the commonest layers the output shape is plain arithmetic, so it is
# computed directly when the input is clearly valid; anything else, including every error case,
# still runs on meta so the message is torch's own. tests/test_shapes.py checks each rule
# against meta execution.
ELEMENTWISE = frozenset(
    {
        "nn.ReLU",
        "nn.ReLU6",
        "nn.LeakyReLU",
        "nn.ELU",
        "nn.SELU",
        "nn.GELU",
        "nn.SiLU",
        "nn.Sigmoid",
        "nn.Tanh",
        "nn.Softplus",
        "nn.Softsign",
        "nn.Hardswish",
        "nn.Hardsigmoid",
        "nn.Hardtanh",
        "nn.Mish",
        "nn.Threshold",
        "nn.Dropout",
        "nn.Identity",
        "nn.CELU",
        "nn.RReLU",
        "nn.LogSigmoid",
        "nn.Hardshrink",
        "nn.Softshrink",
        "nn.Tanhshrink",
        "nn.AlphaDropout",
    }
)


def fast_rule(
    type_id: str, params: dict[str, Any], x: torch.Tensor
) -> tuple[tuple[int, ...], int] | None:
    """(output shape, parameter count) for a single-input node, or None to run it on meta."""
    if not x.dtype.is_floating_point:
        return None
    shape = tuple(x.shape)
    if type_id in ELEMENTWISE:
        return shape, 0
    if type_id in ("nn.Softmax", "nn.LogSoftmax", "nn.Softmin"):
        dim = params.get("dim")
        return (shape, 0) if dim is not None and -len(shape) <= dim < len(shape) else None
    if type_id == "nn.Linear":
        if not shape or shape[-1] != params["in_features"]:
            return None
        out = params["out_features"]
        return (*shape[:-1], out), params["in_features"] * out + (out if params["bias"] else 0)
    if type_id == "nn.Conv2d":
        return _conv2d_rule(params, shape)
    if type_id == "nn.MaxPool2d":
        return _max_pool2d_rule(params, shape)
    if type_id == "nn.Flatten":
        n = len(shape)
        start, end = params["start_dim"], params["end_dim"]
        if n == 0 or not (-n <= start < n and -n <= end < n):
            return None
        start, end = start % n, end % n
        if start > end:
            return None
        size = 1
        for d in shape[start : end + 1]:
            size *= d
        return (*shape[:start], size, *shape[end + 1 :]), 0
    return None


def _pair(v: Any) -> tuple[int, int] | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v, v
    if isinstance(v, list | tuple) and len(v) == 2 and all(type(x) is int for x in v):
        return v[0], v[1]
    return None


def _window_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _conv2d_rule(
    params: dict[str, Any], shape: tuple[int, ...]
) -> tuple[tuple[int, ...], int] | None:
    """Conv2d on a batched [N, C, H, W] input with zero padding given as sizes. (On meta its
    checks import sympy on first use: a second at start-up.)"""
    if len(shape) != 4 or params.get("padding_mode") != "zeros":
        return None
    sizes = [_pair(params.get(k)) for k in ("kernel_size", "stride", "padding", "dilation")]
    if any(v is None for v in sizes):
        return None
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = sizes
    c_in, c_out, groups = params["in_channels"], params["out_channels"], params["groups"]
    if shape[1] != c_in or c_in % groups or c_out % groups or 0 in shape:
        return None
    h, w = _window_out(shape[2], kh, sh, ph, dh), _window_out(shape[3], kw, sw, pw, dw)
    if (
        h < 1
        or w < 1
        or shape[2] + 2 * ph < dh * (kh - 1) + 1
        or shape[3] + 2 * pw < dw * (kw - 1) + 1
    ):
        return None
    count = c_out * (c_in // groups) * kh * kw + (c_out if params["bias"] else 0)
    return (shape[0], c_out, h, w), count


def _max_pool2d_rule(
    params: dict[str, Any], shape: tuple[int, ...]
) -> tuple[tuple[int, ...], int] | None:
    if len(shape) != 4 or params.get("ceil_mode") or 0 in shape:
        return None
    stride = params.get("stride")
    sizes = [
        _pair(params.get("kernel_size")),
        _pair(params["kernel_size"] if stride is None else stride),
        _pair(params.get("padding")),
        _pair(params.get("dilation")),
    ]
    if any(v is None for v in sizes):
        return None
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = sizes
    if 2 * ph > kh or 2 * pw > kw:
        return None
    h, w = _window_out(shape[2], kh, sh, ph, dh), _window_out(shape[3], kw, sw, pw, dw)
    if h < 1 or w < 1:
        return None
    return (*shape[:2], h, w), 0


SAME_SHAPE_LOSSES = frozenset({"loss.MSE", "loss.L1"})
INDEX_LOSSES = frozenset({"loss.CrossEntropy", "loss.NLL"})


def fast_loss_rule(type_id: str, params: dict[str, Any], inp, target) -> tuple[int, ...] | None:
    """The output shape of a loss whose inputs are clearly valid, or None to run it on meta.
    (On meta, cross-entropy runs a Python decomposition whose first call imports torch's
    compiler stack: seconds at start-up, for a shape that is plain arithmetic.)"""
    if not inp.dtype.is_floating_point:
        return None
    shape = tuple(inp.shape)
    per_item = params.get("reduction") == "none"
    if type_id in SAME_SHAPE_LOSSES:
        if tuple(target.shape) != shape or target.dtype != inp.dtype:
            return None
        return shape if per_item else ()
    if type_id in INDEX_LOSSES:
        if len(shape) != 2 or target.dtype != torch.int64 or tuple(target.shape) != shape[:1]:
            return None
        return shape[:1] if per_item else ()
    return None


NO_META_LOSSES = frozenset({"loss.CTC", "loss.GaussianNLL"})


def no_meta_loss_rule(node: Node, params: dict[str, Any], ins: dict) -> tuple[int, ...]:
    """The output shape of a loss torch cannot run on meta tensors (CTC has no meta kernel;
    Gaussian NLL checks its variance with ``.item()``), from the shapes torch checks."""
    shapes = {k: tuple(v.shape) for k, v in ins.items()}
    per_item = params.get("reduction") == "none"

    def fail(message: str) -> ShapeError:
        described = ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
        return ShapeError(f"{node.label}: {message} (inputs: {described})", node.id)

    if node.type_id == "loss.CTC":
        log_probs, targets = shapes["log_probs"], shapes["targets"]
        if not ins["log_probs"].dtype.is_floating_point:
            raise fail("log_probs must be floating point (log-probabilities)")
        if len(log_probs) not in (2, 3):
            raise fail("log_probs must be [T, B, C] (or [T, C] for one sequence)")
        batch = log_probs[1:2] if len(log_probs) == 3 else ()
        for port in ("input_lengths", "target_lengths"):
            if shapes[port] not in (batch, ()) or ins[port].dtype.is_floating_point:
                raise fail(f"{port} must be integer lengths, one per sequence {list(batch)}")
        if (
            ins["targets"].dtype.is_floating_point
            or len(targets) not in (1, 2)
            or (len(targets) == 2 and batch and targets[0] != batch[0])
        ):
            raise fail("targets must be integer class indices [B, S] or concatenated [sum S]")
        return batch if per_item else ()
    inp, target, var = shapes["input"], shapes["target"], shapes["var"]
    if inp != target:
        raise fail("input and target must have the same shape")
    if var != inp and var != inp[:-1] and var != (*inp[:-1], 1):
        raise fail("var must have the shape of input, or one dim less, or a last dim of 1")
    return inp if per_item else ()


_SUPPORT: dict[str, Any] = {}


def _support_class(name: str):
    """A class that model.py defines itself (codegen/style.py), compiled once."""
    if name not in _SUPPORT:
        imports, sources = module_support([name])
        ns = run_source(
            "\n".join(imports) + "\nfrom torch import nn\n\n\n" + "\n\n\n".join(sources) + "\n",
            f"model_{name}",
        )
        _SUPPORT[name] = ns[name]
    return _SUPPORT[name]


def _torch_class(torch_name: str):
    obj: Any = torch
    for part in torch_name.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


class ShapeInferencer:
    """Keeps per-node results between runs; create one per open document.

    ``attach(graph)`` makes later ``infer(graph)`` calls incremental: the graph's events mark
    the nodes an edit touched, only those are run again, and a node's successors follow only
    when its outputs changed. ``ShapeResult.changed`` names the nodes whose shapes, errors,
    auto values or parameter counts changed (``None`` after a full run). Without ``attach``
    every call is a full run (with the per-node cache)."""

    def __init__(self, cost: bool | str = True) -> None:
        # cost: count MACs and memory (True), not (False), or count every node's MACs with
        # FlopCounterMode, formulas and shape rules unused ("exact": what tests compare with)
        self._cost = cost
        self._cache: dict[str, _NodeRun] = {}
        self._project_dir: Path | None = None
        self._graph: Graph | None = None
        self._dirty: set[str] | None = None  # None: everything (no earlier run to build on)
        self._records: dict[str, _Record] = {}

    # ------------------------------------------------------------------ edits
    def attach(self, graph: Graph) -> None:
        """Follow ``graph``'s edits so the next ``infer(graph)`` re-runs only what they reach."""
        self.detach()
        self._graph = graph
        self._dirty = None
        graph.subscribe(self._on_event)

    def detach(self) -> None:
        if self._graph is not None:
            self._graph.unsubscribe(self._on_event)
        self._graph = None
        self._dirty = None

    def _on_event(self, event: GraphEvent) -> None:
        dirty = self._dirty
        if dirty is None:
            return
        kind = event.kind
        if kind in ("node_added", "param_changed", "type_changed", "node_removed"):
            dirty.add(event.node_id)
        elif kind in ("edge_added", "edge_removed"):
            dirty.add(event.edge.src)  # a VGG node checks which of its outputs are wired
            dirty.add(event.edge.dst)
        elif kind == "label_changed":  # messages name the node, and a loss names its feeder
            dirty.add(event.node_id)
            dirty.update(e.dst for e in self._graph.out_edges(event.node_id))
        elif kind != "node_moved":  # settings, block definitions, reset: run everything
            self._dirty = None

    # ------------------------------------------------------------------ whole graph
    def infer(self, graph: Graph, project_dir: Path | None = None) -> ShapeResult:
        attached = graph is self._graph
        dirty = self._dirty if attached and project_dir == self._project_dir else None
        self._dirty = None  # until this run succeeds: a failed one leaves a full run next
        self._project_dir = project_dir
        old = self._records if dirty is not None else {}
        records: dict[str, _Record] = {}
        changed: set[str] = set()
        run_all = dirty is None
        dirty = dirty or set()
        rerun_blocks = False
        data_info: DataInfo | None = None
        seen: dict[str, tuple[dict, str]] = {}  # definition → (inner resolved, inputs)
        out_index = graph._out
        order = graph.topological_order()
        for nid in order:
            node = graph.node(nid)
            prev = old.get(nid)
            if (
                prev is not None
                and not run_all
                and nid not in dirty
                and not (rerun_blocks and node.kind == "block")
            ):
                rec = prev
                if rec.data_info is not None:
                    data_info = rec.data_info
                if rec.seen:
                    seen.update(rec.seen)
            else:
                rec = self._node_record(graph, node, records, data_info, seen, project_dir)
                if rec.data_info is not None:
                    if prev is None or prev.data_info != rec.data_info:
                        run_all = True  # every later node may read the data's facts
                    data_info = rec.data_info
                if prev is None or rec.sig != prev.sig:
                    dirty.update(e.dst for e in out_index[nid])
                if node.kind == "block" and (prev is None or rec.seen != prev.seen):
                    rerun_blocks = True  # later instances compare with what this one resolved
                if prev is None or rec.shown != prev.shown:
                    changed.add(nid)
            records[nid] = rec
        self._records = records if attached else {}
        if attached:
            self._dirty = set()

        result = ShapeResult()
        result.changed = changed if old else None
        problems = result.problems
        for nid in order:
            rec = records[nid]
            if rec is _EMPTY:
                continue
            problems.extend(rec.problems)
            if rec.data_info is not None:
                result.data_info = rec.data_info
            if rec.resolved:
                result.resolved[nid] = rec.resolved
            if rec.inner_resolved:
                result.resolved.update(rec.inner_resolved)
            if rec.params is not None:
                result.param_counts[nid] = rec.params
                result.trainable_counts[nid] = rec.trainable
            if rec.cost is not None:
                macs, act, pbytes = rec.cost
                if macs is not None:
                    result.macs[nid] = macs
                result.activation_bytes[nid] = act
                if pbytes or rec.params is not None:
                    result.param_bytes[nid] = pbytes
            if rec.shapes:
                result.shapes.update(rec.shapes)
                result.dtypes.update(rec.dtypes)
            if rec.block_shapes:
                result.block_shapes.update(rec.block_shapes)
        return result

    def _node_record(
        self,
        graph: Graph,
        node: Node,
        records: dict[str, _Record],
        data_info: DataInfo | None,
        seen: dict[str, tuple[dict, str]],
        project_dir: Path | None,
    ) -> _Record:
        """One document node's part of the result, run (or taken from the cache) now."""
        nid = node.id
        if node.is_placeholder:
            return _Record(
                failed=True, problems=[Problem(nid, f"unknown node type {node.type_id!r}")]
            )
        for e in graph._in[nid]:
            if records[e.src].failed:
                return _FAILED
        kind = node.kind
        rec = _Record()
        try:
            if kind == "data":
                info = describe(node, graph.settings, project_dir)
                rec.data_info = info
                run = self._data_run(info)
            elif kind in ("layer", "op", "loss", "code"):
                if node.type_id == "nn.VGG16Features":
                    check_vgg_outputs(graph, node)
                inputs = self._top_inputs(graph, node, records)
                try:
                    run = self._run_node(node, inputs, data_info)
                except _LossMismatch as exc:
                    raise ShapeError(str(exc) + _loss_fix(graph, node, exc, records), nid) from None
                if kind == "loss":
                    _check_text_classes(graph, node, inputs[0], data_info)
            elif kind == "block":
                inputs = self._top_inputs(graph, node, records)
                rec.block_shapes, rec.inner_resolved = {}, {}
                before = set(seen)
                try:
                    run = self._run_block(graph, node, inputs, data_info, rec, nid, seen)
                finally:
                    rec.seen = {k: v for k, v in seen.items() if k not in before}
            else:
                return _EMPTY
        except (ShapeError, DataError, CodegenError) as exc:
            rec.failed = True
            rec.problems = [
                Problem(
                    getattr(exc, "node_id", None) or nid,
                    str(exc),
                    inner=getattr(exc, "inner", None),
                )
            ]
            rec.sig = _FAILED_SIG
            rec.shown = (rec.problems, None, None, None, None, rec.block_shapes, rec.inner_resolved)
            return rec
        if run.warnings:
            rec.problems = [Problem(nid, w, "warning") for w in run.warnings]
        rec.resolved = run.resolved or None
        if kind in ("layer", "block", "code"):
            rec.params, rec.trainable = run.params, run.trainable
        rec.outputs = run.outputs
        rec.cost = run.cost
        shapes, dtypes = run.display(nid)
        rec.shapes, rec.dtypes = shapes, dtypes
        rec.sig = run.signature()
        rec.shown = (
            rec.problems,
            rec.resolved,
            rec.params,
            rec.trainable,
            shapes,
            rec.block_shapes,
            rec.inner_resolved,
            rec.cost,
        )
        return rec

    @staticmethod
    def _top_inputs(
        graph: Graph, node: Node, records: dict[str, _Record]
    ) -> list[dict[str, torch.Tensor]]:
        per_batch: list[dict[str, torch.Tensor]] = [{} for _ in BATCHES]
        for port in graph.input_ports(node.id):
            e = graph.input_edge(node.id, port.name)
            if e is None:
                if port.optional:
                    continue
                raise ShapeError(f"{node.label}: input {port.name!r} is not connected", node.id)
            outs = records[e.src].outputs
            source = graph.node(e.src)
            if (
                outs is not None
                and e.src_port == "indices"
                and source.type_id in MAX_POOLS
                and not source.params.get("return_indices")
            ):
                raise ShapeError(
                    f"{source.label}: its indices output is wired (to {node.label}): "
                    "turn on return_indices",
                    source.id,
                )
            if outs is None or e.src_port not in outs[0]:
                raise ShapeError(
                    f"{node.label}: input {port.name!r} has no shape (its source is not a tensor)",
                    node.id,
                )
            for ins, out in zip(per_batch, outs, strict=True):
                ins[port.name] = out[e.src_port]
        return per_batch

    # ------------------------------------------------------------------ per node
    def _data_run(self, info: DataInfo) -> _NodeRun:
        outs = []
        x, y = info.ports
        for b in BATCHES:
            lead = (b,) if info.batched else ()  # unbatched: the shapes are whole tensors
            outs.append(
                {
                    x: torch.empty((*lead, *info.x_shape), dtype=info.x_dtype, device="meta"),
                    y: torch.empty((*lead, *info.y_shape), dtype=info.y_dtype, device="meta"),
                }
            )
        return _NodeRun(outs, {}, 0, 0, [], self._costed(outs, 0))

    def _costed(
        self, outs: list[dict], macs: tuple | int | None, param_bytes: int = 0, views=()
    ) -> tuple | None:
        """A node's cost per sample from its outputs at the two batch sizes and its MACs
        there (a pair, 0, or None: unknown); None when costs are not counted."""
        if not self._cost:
            return None
        if isinstance(macs, tuple):
            macs = _one(*macs)
        a, b = (
            sum(
                math.prod(t.shape) * t.dtype.itemsize
                for port, t in out.items()
                if port not in views
            )
            for out in outs
        )
        return macs, _one(a, b), param_bytes

    @staticmethod
    def _inputs(graph: Graph, node: Node, values) -> list[dict[str, torch.Tensor]]:
        per_batch = []
        for vals in values:
            inputs = {}
            for port in graph.input_ports(node.id):
                e = graph.input_edge(node.id, port.name)
                if e is None:
                    if port.optional:
                        continue
                    raise ShapeError(f"{node.label}: input {port.name!r} is not connected", node.id)
                if (e.src, e.src_port) not in vals:
                    raise ShapeError(
                        f"{node.label}: input {port.name!r} has no shape (its "
                        "source is not a tensor)",
                        node.id,
                    )
                inputs[port.name] = vals[(e.src, e.src_port)]
            per_batch.append(inputs)
        return per_batch

    def _run_node(
        self,
        node: Node,
        inputs: list[dict[str, torch.Tensor]],
        data_info: DataInfo | None,
        cache_id: str | None = None,
    ) -> _NodeRun:
        """Run one node; ``cache_id`` keys the cache (a path for nodes inside blocks)."""
        cache_id = cache_id or node.id
        # a plain tuple: the values' types count too (True is not 1 to the module)
        key = (
            node.type_id,
            tuple((k, v.__class__, v) for k, v in node.params.items()),
            tuple((k, tuple(t.shape), t.dtype) for k, t in inputs[0].items()),
            tuple(tuple(t.shape) for t in inputs[1].values()),
            (data_info.num_classes, data_info.vocab_size) if data_info else None,
            self._project_dir if "weights" in node.params else None,  # resolved against it
        )
        cached = self._cache.get(cache_id)
        if cached is not None and cached.key == key:
            return cached
        run = self._execute(node, inputs, data_info, key)
        run.key = key
        self._cache[cache_id] = run
        return run

    def _run_block(
        self,
        graph: Graph,
        node: Node,
        inputs: list[dict[str, torch.Tensor]],
        data_info: DataInfo | None,
        into: _Record,
        path: str,
        seen: dict[str, tuple[dict, str]],
    ) -> _NodeRun:
        """Run block instance ``node`` of ``graph``: its definition's nodes on ``inputs``.

        ``path`` names the instance from the document down ("n5", "n5/n3"): it keys the
        per-node cache and ``into.block_shapes``. ``seen`` holds each definition's resolved
        params and inputs from its first instance; another instance must resolve the same."""
        d = graph.block(node.params["block"])
        body = d.graph
        values: list[dict[Value, torch.Tensor]] = [{} for _ in BATCHES]
        resolved: dict[str, dict[str, Any]] = {}
        shapes: dict[Value, tuple[Dim, ...]] = {}
        for io in d.io_nodes("input"):
            for vals, ins in zip(values, inputs, strict=True):
                if io.params["name"] in ins:
                    vals[(io.id, "out")] = ins[io.params["name"]]
            if io.params["name"] in inputs[0]:  # the wires leaving the block's inputs
                name = io.params["name"]
                shapes[(io.id, "out")] = _display(inputs[0][name].shape, inputs[1][name].shape)
        n_params = n_trainable = 0
        total = [0, 0, 0]
        caught: list[str] = []

        def fail(inner: Node, exc: Exception) -> ShapeError:
            msg = str(exc)
            if not msg.startswith(f"{inner.label}"):
                msg = f"{inner.label}: {msg}"
            # the deepest node that failed, for a canvas that shows a block's body
            where = getattr(exc, "inner", None) or (d.name, inner.id)
            return ShapeError(f"{node.label} › {msg}", node.id, where)

        for nid in body.topological_order():
            inner = body.node(nid)
            if inner.kind == "io":
                continue
            try:
                if inner.is_placeholder:
                    raise ShapeError(f"unknown node type {inner.type_id!r}", nid)
                ins = self._inputs(body, inner, values)
                if inner.kind == "block":
                    run = self._run_block(body, inner, ins, data_info, into, f"{path}/{nid}", seen)
                else:
                    run = self._run_node(inner, ins, data_info, f"{path}/{nid}")
            except (ShapeError, CodegenError) as exc:
                raise fail(inner, exc) from None
            prefix = f"{node.label} › " + ("" if inner.kind == "block" else f"{inner.label}: ")
            caught += [prefix + w for w in run.warnings]
            if run.resolved:
                resolved[nid] = run.resolved
            if inner.kind in ("layer", "block", "code"):
                n_params += run.params
                n_trainable += run.trainable
            if run.cost is not None:
                total = [
                    None if t is None or c is None else t + c
                    for t, c in zip(total, run.cost, strict=True)
                ]
            for i, outs in enumerate(run.outputs):
                for port, t in outs.items():
                    values[i][(nid, port)] = t
            for port, t in run.outputs[0].items():
                shapes[(nid, port)] = _display(t.shape, run.outputs[1][port].shape)
        outs: list[dict[str, torch.Tensor]] = [{} for _ in BATCHES]
        ios = d.io_nodes("output")
        if not ios:
            raise ShapeError(f"{node.label}: block {d.name} has no output", node.id)
        for io in ios:
            e = body.input_edge(io.id, "x")
            if e is None:
                raise ShapeError(
                    f"{node.label} › block output {io.params['name']!r} is not connected", node.id
                )
            for out, vals in zip(outs, values, strict=True):
                if (e.src, e.src_port) not in vals:  # an input left unwired, passed through
                    raise ShapeError(
                        f"{node.label}: input {e.src_port!r} is not connected", node.id
                    )
                out[io.params["name"]] = vals[(e.src, e.src_port)]

        described = ", ".join(
            (f"{port} " if len(inputs[0]) > 1 else "")
            + format_shape(_display(t.shape, inputs[1][port].shape))
            for port, t in inputs[0].items()
        )
        first = seen.get(d.name)
        if first is None:
            seen[d.name] = (resolved, described)
            for nid, params in resolved.items():
                into.inner_resolved[block_key(d.name, nid)] = params
        elif first[0] != resolved:
            raise ShapeError(
                f"{node.label}: {d.name} is used with inputs {first[1]} and "
                f"{described}; its layers would need different sizes: make a "
                "second block",
                node.id,
            )
        into.block_shapes[path] = shapes
        cost = tuple(total) if self._cost else None
        return _NodeRun(outs, {}, n_params, n_trainable, caught, cost)

    def _execute(
        self,
        node: Node,
        inputs: list[dict[str, torch.Tensor]],
        data_info: DataInfo | None,
        key: tuple = (),
    ) -> _NodeRun:
        spec = node.spec
        if spec.kind == "code":  # its code never runs here: MACs unknown
            run = _recorded(node, inputs)
            run.cost = self._costed(run.outputs, None, run.params * 4)
            return run
        resolved: dict[str, Any] = {}
        auto_params = _AUTO_PARAMS.get(spec.type_id)
        if auto_params is None:
            auto_params = _AUTO_PARAMS[spec.type_id] = [p for p in spec.params if p.auto]
        for p in auto_params:
            if node.params[p.name] != AUTO:
                continue
            values = [self._auto_value(node, p, ins, data_info) for ins in inputs]
            if values[0] != values[1]:
                raise ShapeError(
                    f"{node.label}: {p.name} would depend on the batch size "
                    f"({values[0]} vs {values[1]}); check the layers before it",
                    node.id,
                )
            resolved[p.name] = values[0]
        if spec.type_id == "nn.VGG16Features" and node.params["weights"]:
            resolved["weights"] = resolve_weights(node.params["weights"], self._project_dir)
        params = {**node.params, **resolved} if resolved else node.params
        exact = self._cost == "exact"  # every node under FlopCounterMode: no shape rules
        if (
            spec.kind == "layer"
            and len(inputs[0]) == 1
            and "x" in inputs[0]
            and not exact
            and not params.get("return_indices")  # a max pool's indices: torch gives them
        ):
            x0, x1 = inputs[0]["x"], inputs[1]["x"]
            r0 = fast_rule(spec.type_id, params, x0)
            r1 = fast_rule(spec.type_id, params, x1) if r0 is not None else None
            if r1 is not None:
                port = spec.outputs[0].name
                outs = [{port: _Shape(r0[0], x0.dtype)}, {port: _Shape(r1[0], x1.dtype)}]
                cost = None
                if self._cost:  # plain arithmetic, as the shapes were
                    type_id = spec.type_id
                    macs = (
                        _one(
                            fast_macs(type_id, params, x0.shape, r0[0]),
                            fast_macs(type_id, params, x1.shape, r1[0]),
                        )
                        if type_id in FAST_MACS
                        else 0
                    )
                    size = (
                        0
                        if type_id in VIEWS
                        else _one(math.prod(r0[0]), math.prod(r1[0])) * x0.dtype.itemsize
                    )
                    cost = (macs, size, r0[1] * 4)
                return _NodeRun(outs, resolved, r0[1], r0[1], [], cost)
        if spec.kind == "loss" and set(inputs[0]) == {"input", "target"} and not exact:
            rules = [
                fast_loss_rule(spec.type_id, params, ins["input"], ins["target"]) for ins in inputs
            ]
            if all(r is not None for r in rules):
                outs = [
                    {spec.outputs[0].name: _Shape(r, ins["input"].dtype)}
                    for r, ins in zip(rules, inputs, strict=True)
                ]
                return _NodeRun(outs, resolved, 0, 0, [], self._costed(outs, 0))
        module = None
        n_params = n_trainable = param_bytes = 0
        notes: list[str] = []
        if spec.extra.get("backbone"):
            module, weights, notes = _backbone(node, self._project_dir)
            resolved["weights"] = weights
            n_params = sum(p.numel() for p in module.parameters())
            n_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        elif spec.kind in ("layer", "loss"):
            args, kwargs = ctor_args(spec, params, node.id)
            try:
                cls = (
                    _support_class(spec.extra["module"])
                    if spec.extra.get("module")
                    else _torch_class(spec.torch_name)
                )
                with torch.device("meta"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = cls(*args, **kwargs)
            except Exception as exc:  # torch's own message is the useful one
                raise ShapeError(f"{node.label}: {_message(exc)}", node.id) from None
            n_params = sum(p.numel() for p in module.parameters())
            n_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        if module is not None:
            param_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
        if spec.kind == "loss":
            ports = [p.name for p in spec.inputs]
            if spec.type_id in NO_META_LOSSES:  # torch has no meta kernel for these
                outs = [
                    {
                        spec.outputs[0].name: _Shape(
                            no_meta_loss_rule(node, params, ins), ins[ports[0]].dtype
                        )
                    }
                    for ins in inputs
                ]
                cost = self._costed(outs, 0, param_bytes)
                return _NodeRun(outs, resolved, n_params, n_trainable, [], cost)
            expr = f"m({', '.join(ports)})"
        elif spec.returns is not None:  # every value it returns, one per output port
            ports = [p.name for p in spec.inputs if p.name in inputs[0]]
            expr = unpacked_call(spec, params, {p: p for p in ports}, "m")
        else:
            ports = [p.name for p in spec.inputs if p.name in inputs[0]]
            expr = forward_expr(
                spec, params, {p: p for p in ports}, "m" if module is not None else None, node.id
            )
        fn = _forward_fn(expr, ports)
        outputs = []
        # MACs: a formula for the commonest modules, 0 for types with no counted op, else
        # FlopCounterMode around the forward (runtime/cost.py)
        counting = bool(self._cost) and (exact or spec.type_id not in NO_MACS)
        formula = counting and not exact and (spec.type_id in OP_FORMULAS or has_formula(module))
        macs_key = repr(key) if key and counting and not formula and not exact else None
        known = MACS_CACHE.get(macs_key) if macs_key else None
        if known is not None:  # counted before: the same type, params and inputs
            counting = False
        macs: list[int] = []
        views: set[str] = set()
        caught: list[str] = notes
        if getattr(module, "notice", None):  # e.g. no pretrained weights found
            caught.append(module.notice)
        for i, ins in enumerate(inputs):
            other = inputs[1 - i]
            try:
                args = [_real(ins[p]) for p in ports]
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    if formula and module is None:
                        out = fn(module, *args)
                        macs.append(op_macs(spec.type_id, args, out))
                    elif formula:
                        out = fn(module, *args)
                        got = out if isinstance(out, tuple) else (out,)
                        macs.append(module_macs(module, args, [t for t in got if t is not None]))
                    elif counting:
                        with MacCounter() as counter:
                            out = fn(module, *args)
                        macs.append(counter.macs)
                    else:
                        out = fn(module, *args)
            except Exception as exc:
                if spec.kind == "loss" and _SIZE_MISMATCH in str(exc):
                    raise _LossMismatch(
                        node, _shown(ins, other, "input"), _shown(ins, other, "target")
                    ) from None
                shapes = ", ".join(f"{p} {format_shape(_shown(ins, other, p))}" for p in ports)
                hint = self._hint(node, ins, other, data_info)
                if hint:  # the usual mistake, in the user's terms: torch's words add nothing
                    raise ShapeError(f"{node.label}: {hint}", node.id) from None
                raise ShapeError(
                    f"{node.label}: {_user_terms(_message(exc), ins, other)} (inputs: {shapes})",
                    node.id,
                ) from None
            for x in w:
                text = _user_terms(str(x.message), ins, other)
                if spec.kind == "loss" and _SIZE_MISMATCH in text:
                    raise _LossMismatch(
                        node, _shown(ins, other, "input"), _shown(ins, other, "target")
                    )
                if text not in caught:  # the same warning at both probe batch sizes: once
                    caught.append(text)
            if spec.returns is not None:
                outputs.append(_returned(spec, params, out))
                continue
            if isinstance(out, tuple) and len(spec.outputs) > 1:  # one value per output port
                computed = getattr(module, "stages", None)  # VGG16Features: the rest are empty
                outputs.append(
                    {
                        p.name: t
                        for p, t in zip(spec.outputs, out, strict=True)
                        if isinstance(t, torch.Tensor) and (computed is None or p.name in computed)
                    }
                )
            elif not isinstance(out, torch.Tensor):
                raise ShapeError(
                    f"{node.label}: produced {type(out).__name__}, not a tensor", node.id
                )
            else:
                port = spec.outputs[0].name if spec.outputs else "out"
                outputs.append({port: out})
            # an output that is an input, or a view of one, takes no new memory
            storages = {a.untyped_storage()._cdata for a in args}
            views.update(
                port for port, t in outputs[-1].items() if t.untyped_storage()._cdata in storages
            )
        if counting and macs_key:
            if len(MACS_CACHE) >= MACS_CACHE_SIZE:
                MACS_CACHE.clear()
            MACS_CACHE[macs_key] = tuple(macs)
        if known is not None:
            macs = list(known)
        cost = (
            self._costed(outputs, tuple(macs) if macs else 0, param_bytes, views)
            if self._cost
            else None
        )
        return _NodeRun(outputs, resolved, n_params, n_trainable, caught, cost)

    def _hint(
        self,
        node: Node,
        ins: dict[str, torch.Tensor],
        other: dict[str, torch.Tensor],
        data_info: DataInfo | None,
    ) -> str:
        """Name a shape param set by hand that disagrees with the input (the usual mistake),
        in the user's terms: "expects 100 input features but gets 512 (input [B, 512]); set
        in_features to auto or 512"."""
        for p in node.spec.params:
            if p.auto is None or node.params[p.name] == AUTO:
                continue
            try:
                expected = self._auto_value(node, p, ins, data_info)
            except ShapeError:
                continue
            if expected != node.params[p.name]:
                noun = _SIZE_NOUNS.get(p.name)
                value = node.params[p.name]
                said = (
                    f"expects {value} {noun} but gets {expected}"
                    if noun
                    else f"{p.name} is {value} but the input gives {expected}"
                )
                port = p.auto.port
                where = (
                    f" ({port if port != 'x' else 'input'} "
                    f"{format_shape(_shown(ins, other, port))})"
                    if not p.auto.from_data and port in ins
                    else ""
                )
                return f"{said}{where}; set {p.name} to auto or {expected}"
        return ""

    @staticmethod
    def _auto_value(node: Node, p, ins: dict[str, torch.Tensor], data_info: DataInfo | None):
        rule = p.auto
        if rule.from_data:
            value = data_info.fact(rule.from_data) if data_info else None
            if value is None:
                raise ShapeError(
                    f"{node.label}: {p.name} is auto but the data source does not "
                    f"tell its {rule.from_data}; set it by hand",
                    node.id,
                )
            return value
        t = ins.get(rule.port)
        if t is None:
            raise ShapeError(
                f"{node.label}: {p.name} is auto but input {rule.port!r} is not connected", node.id
            )
        if t.dim() == 0 or not -t.dim() <= rule.dim < t.dim():
            raise ShapeError(
                f"{node.label}: {p.name} is auto but the input has shape "
                f"{list(t.shape)}, which has no dim {rule.dim}",
                node.id,
            )
        value = int(t.shape[rule.dim])
        return [value] if rule.as_list else value


_BACKBONE_CACHE: dict[str, Any] = {}


def _returned(spec, params: dict[str, Any], out: Any) -> dict[str, torch.Tensor]:
    """A several-value layer's result by output port, the first port picked as model.py
    picks it (a recurrent layer's ``output``)."""
    values = flatten_returns(spec.returns, out)
    first = spec.outputs[0].name
    pick = first_output(spec, params, {p: p for p in values})
    if pick is not None:
        names = list(values)
        values[first] = _forward_fn(pick, names)(None, *(values[p] for p in names))
    return values


def _backbone(node: Node, project_dir: Path | None) -> tuple[nn.Module, str, list[str]]:
    """A backbone node's network on the meta device (built by the code model.py carries,
    without loading weights), its weights path resolved against the project's folder, and
    notes for the user. A chosen weights file must exist."""
    weights = resolve_weights(node.params["weights"], project_dir)
    notes = []
    if not weights:
        notes.append(
            "no weights file: the backbone starts from random weights (choose a "
            ".pth file, e.g. from the torch hub cache, to start from pretrained ones)"
        )
    elif not Path(weights).is_file():
        raise ShapeError(f"{node.label}: weights: file not found: {weights}", node.id)
    code = backbone_code("build", node.params, node.id, node.label, load=False)
    key = "\n".join(code.lines)
    build = _BACKBONE_CACHE.get(key)
    if build is None:
        import torchvision.models as models

        build = run_source(key + "\n", "backbone", {"nn": nn, "models": models})["build"]
        _BACKBONE_CACHE[key] = build
    from torchcanvas.runtime.backbones import on_meta

    with on_meta(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = build()
    return module, weights, notes


def _check_text_classes(
    graph: Graph, node: Node, inputs: dict[str, torch.Tensor], data_info: DataInfo | None
) -> None:
    """A class-index loss fed by a text source's targets needs one score per class (labelled
    text) or per vocabulary token (a corpus): a wrong count would only fail while training."""
    if (
        data_info is None
        or data_info.vocab_size is None
        or node.spec.extra.get("task") != "classification"
    ):
        return
    edge = graph.input_edge(node.id, "target")
    if edge is None or graph.node(edge.src).kind != "data" or inputs["input"].dim() < 2:
        return
    expected = data_info.num_classes or data_info.vocab_size
    what = "classes" if data_info.num_classes else "tokens in the vocabulary"
    scores = int(inputs["input"].shape[1])
    if scores != expected:
        src = graph.input_edge(node.id, "input")
        feeder = graph.node(src.src).label if src is not None else "the model"
        raise ShapeError(
            f"{node.label}: the data has {expected} {what} but the model gives "
            f"{scores} scores (dim 1 of its input from {feeder}); make the last "
            f"layer's output size {expected}",
            node.id,
        )


def _recorded(node: Node, inputs: list[dict[str, torch.Tensor]]) -> _NodeRun:
    """A code node's output as recorded at import: its code is never run here."""
    params = node.params
    shape = tuple(params["shape"])
    outs = []
    for batch in BATCHES[: len(inputs)]:
        full = (batch, *shape) if params.get("batched", False) else shape
        outs.append(
            {"out": torch.empty(full, dtype=getattr(torch, params["dtype"]), device="meta")}
        )
    if node.spec.extra["code"] == "tensor":
        count = math.prod(shape) if params["role"] == "parameter" else 0
        return _NodeRun(outs, {}, count, count if params["requires_grad"] else 0, [])
    count = params.get("param_count", 0)
    return _NodeRun(outs, {}, count, count, [])


def _loss_fix(graph: Graph, loss: Node, exc: _LossMismatch, records: dict) -> str:
    """The edit that makes a loss's input match its target: the layer upstream whose size
    param sets the differing dim ("; set fc2.out_features to 1"), found through the layers
    that keep their input's shape (activations, dropout); "" when there is none."""
    inp, target = exc.input, exc.target
    if len(inp) != len(target):
        return ""
    differ = [d for d in range(len(inp)) if inp[d] != target[d]]
    if len(differ) != 1 or not isinstance(target[differ[0]], int):
        return ""
    dim, want = differ[0], target[differ[0]]
    edge = graph.input_edge(loss.id, "input")
    for _ in range(len(graph)):
        if edge is None:
            return ""
        node = graph.node(edge.src)
        for name, param_dim in _SIZE_PARAMS:
            if name in node.params and param_dim % len(inp) == dim:
                return f"; set {node.label}.{name} to {want}"
        ins = list(graph._in[node.id])
        if len(ins) != 1 or node.kind not in ("layer", "op"):
            return ""
        shapes = records[node.id].shapes or {}
        before = (records[ins[0].src].shapes or {}).get((ins[0].src, ins[0].src_port))
        if before is None or shapes.get((node.id, edge.src_port)) != before:
            return ""  # it changes the shape itself: no single param to point at
        edge = ins[0]
    return ""


def _display(a: torch.Size, b: torch.Size) -> tuple[Dim, ...]:
    """Merge the shapes seen at the two batch sizes: a dim that differs is the batch."""
    if len(a) != len(b):
        return tuple(a)
    out: list[Dim] = []
    for x, y in zip(a, b, strict=True):
        if x == y:
            out.append(int(x))
        elif x % BATCHES[0] == 0 and y % BATCHES[1] == 0 and x // BATCHES[0] == y // BATCHES[1]:
            k = x // BATCHES[0]
            out.append("B" if k == 1 else f"B*{k}")
        else:
            out.append("?")
    return tuple(out)


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) > 300 else text


def infer_shapes(graph: Graph, project_dir: Path | None = None) -> ShapeResult:
    return ShapeInferencer().infer(graph, project_dir)
