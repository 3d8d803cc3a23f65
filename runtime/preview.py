"""Data seen through the graph: what each data node yields after its transforms and
augmentation, and one real batch pushed through the model with every node's activation
statistics.

The batch is the first of the first training epoch, as the trainer would draw it (the generated
``make_loader``, so augmentation applies), through a fresh model seeded as training seeds it, in
training mode (dropout on, batch norm on batch statistics), or through weights given. The
model's forward is the generated one, step for step (the same expressions as model.py, from the
model IR), with each node's output read as it is made, so in-place activations are measured
before anything overwrites them. Nothing of the project changes and the global random state is
left as it was.

Flags: ``dead`` when at least ``DEAD_FRACTION`` of a ReLU-family node's channels (images:
dimension 1) or units (the last dimension) are zero for every sample of the batch;
``exploding`` when the standard deviation exceeds ``EXPLODE_STD`` or a value's magnitude exceeds
``EXPLODE_ABS`` (model nodes only: a data source's raw values are what they are);
``nonfinite`` when any value is NaN or infinite. Nothing here imports Qt;
everything returned is plain numbers and numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchcanvas.graph.document import Graph, Node
from torchcanvas.runtime.compile import CompiledProject
from torchcanvas.runtime.data import DataError, make_datasets, materialize
from torchcanvas.runtime.shape_result import DataSamples
from torchcanvas.runtime.source import run_source
from torchcanvas.runtime.trainer import pick_device

BINS = 16
FEATURE_MAPS = 8  # channels shown for an image-shaped output (of the first sample)
MAP_SIZE = 32  # feature maps larger than this are average-pooled down to it
DEAD_FRACTION = 0.5
EXPLODE_STD = 100.0
EXPLODE_ABS = 1e4
RELU_TYPES = frozenset({"nn.ReLU", "nn.ReLU6", "op.relu"})
_RECORD = "__torchcanvas_record"


class PreviewError(Exception):
    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


@dataclass
class NodeStats:
    node_id: str
    label: str
    type_id: str
    port: str
    shape: tuple[int, ...]
    dtype: str
    mean: float
    std: float  # population standard deviation (over every value of the batch)
    min: float
    max: float
    zeros: float  # fraction of values exactly zero
    hist: list[int]  # BINS counts over [min, max]
    nonfinite: int = 0
    dead: float | None = None  # ReLU family: fraction of channels/units zero for every sample
    flags: list[str] = field(default_factory=list)
    feature_maps: np.ndarray | None = None  # [k, h, w] of the first sample

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "feature_maps"}
        data["shape"] = list(self.shape)
        if self.feature_maps is not None:
            data["feature_maps"] = list(self.feature_maps.shape)
        return data


@dataclass
class BatchPreview:
    nodes: dict[str, NodeStats]  # by node id (several ports: "id:port" after the first)
    batch_size: int
    loss: float | None
    mode: str  # "train" or "eval"

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "loss": self.loss,
            "mode": self.mode,
            "nodes": {k: v.to_dict() for k, v in self.nodes.items()},
        }

    def flagged(self, flag: str) -> list[str]:
        return [k for k, v in self.nodes.items() if flag in v.flags]


# ---------------------------------------------------------------------------- statistics
def channel_dim(t: torch.Tensor, graph: Graph | None = None, node_id: str | None = None) -> int:
    """The dimension that holds channels or units: 1 for images and for 1-d convolutions'
    [B, C, L] outputs (found by walking back to the layer that made the tensor), else the
    last."""
    if t.dim() >= 4 or t.dim() == 2:
        return 1
    if t.dim() == 3 and graph is not None and node_id is not None:
        nid = node_id
        for _ in range(32):
            node = graph.node(nid)
            if node.type_id.endswith("1d") and node.type_id.startswith("nn."):
                return 1
            ins = graph.in_edges(nid)
            if node.kind != "layer" or len(ins) != 1:
                break
            nid = ins[0].src
    return t.dim() - 1


@torch.no_grad()
def tensor_stats(
    t: torch.Tensor,
    node: Node,
    port: str,
    graph: Graph | None = None,
) -> NodeStats:
    """The statistics of one node output ``t`` (a batch)."""
    f = t.detach().float()
    finite = torch.isfinite(f)
    bad = int((~finite).sum())
    vals = f[finite] if bad else f.reshape(-1)
    if vals.numel():
        lo, hi = float(vals.min()), float(vals.max())
        mean = float(vals.mean())
        std = float(vals.std(correction=0))
        hist = torch.histc(vals, bins=BINS, min=lo, max=hi if hi > lo else lo + 1)
    else:
        lo = hi = mean = std = math.nan
        hist = torch.zeros(BINS)
    zeros = float((f == 0).float().mean()) if f.numel() else 0.0
    stats = NodeStats(
        node.id,
        node.label,
        node.type_id,
        port,
        tuple(t.shape),
        str(t.dtype).removeprefix("torch."),
        mean,
        std,
        lo,
        hi,
        zeros,
        [int(c) for c in hist.tolist()],
        bad,
    )
    if node.type_id in RELU_TYPES and t.dim() >= 2:
        dim = channel_dim(t, graph, node.id)
        other = [d for d in range(t.dim()) if d != dim]
        dead = (
            (f == 0).all(dim=other[0])
            if len(other) == 1
            else (f == 0).permute(dim, *other).reshape(f.shape[dim], -1).all(1)
        )
        stats.dead = float(dead.float().mean())
        if stats.dead >= DEAD_FRACTION:
            stats.flags.append("dead")
    if bad:
        stats.flags.append("nonfinite")
    if (
        node.kind != "data"
        and vals.numel()
        and (std > EXPLODE_STD or max(abs(lo), abs(hi)) > EXPLODE_ABS)
    ):
        stats.flags.append("exploding")
    if t.dim() == 4 and t.shape[0] > 0:
        maps = f[0, :FEATURE_MAPS]
        if maps.shape[-1] > MAP_SIZE or maps.shape[-2] > MAP_SIZE:
            size = (min(MAP_SIZE, maps.shape[-2]), min(MAP_SIZE, maps.shape[-1]))
            maps = torch.nn.functional.adaptive_avg_pool2d(maps[None], size)[0]
        stats.feature_maps = maps.cpu().numpy().astype(np.float32)
    return stats


# ---------------------------------------------------------------------------- the forward
def recording_forward(project: CompiledProject):
    """The generated forward, with a call to the recorder after every step:
    ``forward(self, *inputs)`` for a model instance, recording ``(node id, port, value)``."""
    ir = project.model.source.ir
    graph = project.graph
    args = "".join(f", {name}" for name, _ in ir.inputs)
    lines = [f"def forward(self{args}):"]
    for name, (nid, port) in ir.inputs:
        lines.append(f"    {_RECORD}({nid!r}, {port!r}, {name})")
    for step in ir.steps:
        lines.append(f"    {step.target} = {step.expr}")
        recorded = set()
        for port in graph.output_ports(step.node_id):
            var = ir.names.get((step.node_id, port.name))
            # a port that names the same value as another (a max pool's indices with
            # return_indices off) is not a second output: recorded once
            if var is not None and var not in recorded:
                recorded.add(var)
                lines.append(f"    {_RECORD}({step.node_id!r}, {port.name!r}, {var})")
    returned = [name for name, _ in ir.outputs]
    lines.append(f"    return {', '.join(returned)}")
    namespace = dict(project.model.cls.forward.__globals__)
    return lines, namespace


def preview_batch(
    project: CompiledProject,
    batch_size: int | None = None,
    device: str = "cpu",
    train_mode: bool = True,
    state_dict: dict[str, Any] | None = None,
    data_dir: Path | None = None,
) -> BatchPreview:
    """Push the first training batch through the model; statistics of every node's output."""
    plan = project.plan
    if plan.optimises_image:
        raise PreviewError("this project optimises an image: there is no batch to preview")
    settings = project.graph.settings
    graph = project.graph
    try:
        dev = pick_device(device)
    except ValueError as exc:
        raise PreviewError(f"device: {exc}") from None
    fn = project.fn
    if batch_size is not None and batch_size < 1:
        raise PreviewError(f"batch size: {batch_size} must be at least 1")
    records: dict[str, NodeStats] = {}

    def record(nid: str, port: str, value: Any) -> None:
        if not isinstance(value, torch.Tensor):
            return
        key = nid if nid not in records else f"{nid}:{port}"
        records[key] = tensor_stats(value, graph.node(nid), port, graph)

    lines, namespace = recording_forward(project)
    namespace[_RECORD] = record
    forward = run_source("\n".join(lines) + "\n", "preview", namespace)["forward"]

    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(settings["seed"])
        model = project.model.new().to(dev)
        if state_dict is not None:
            model.load_state_dict(state_dict)
        model.train(train_mode)
        folder = materialize(plan.data, data_dir)
        try:
            train_set, _, _ = fn("make_datasets")(folder)
        except (OSError, ValueError, RuntimeError, IndexError, KeyError) as exc:
            raise DataError(f"{plan.data.label}: {exc}", plan.data.id) from exc
        if len(train_set) == 0:
            raise PreviewError(f"{plan.data.label}: the training split is empty", plan.data.id)
        old_size = fn("SETTINGS")["batch_size"]
        if batch_size is not None:
            fn("SETTINGS")["batch_size"] = batch_size
        try:
            batch = next(iter(fn("make_loader")(train_set, train=True, epoch=0)))
        except Exception as exc:
            message = f"{plan.data.label}: {type(exc).__name__}: {exc}"
            raise DataError(message, plan.data.id) from exc
        finally:
            fn("SETTINGS")["batch_size"] = old_size
        losses = fn("build_losses")().to(dev)
        model.forward = forward.__get__(model)
        with torch.no_grad():
            loss, _, target = fn("compute_loss")(model, losses, batch, dev)
    value = float(loss) if isinstance(loss, torch.Tensor) and loss.numel() == 1 else None
    return BatchPreview(records, len(target), value, "train" if train_mode else "eval")


# ---------------------------------------------------------------------------- data samples
def feature_names(node: Node, count: int) -> list[str]:
    """Names of a table's feature columns, when the data source knows them."""
    extra = node.spec.extra
    names: list[str] = []
    if extra.get("source") == "sklearn":
        from sklearn import datasets

        names = [str(n) for n in getattr(getattr(datasets, extra["loader"])(), "feature_names", [])]
    elif extra.get("source") == "csv":
        names = [str(c) for c in node.params.get("feature_columns") or []]
    if len(names) != count:
        names = [f"x{i}" for i in range(count)]
    return names


def _label(y: torch.Tensor, classes) -> str:
    if y.numel() == 1 and not y.is_floating_point() and classes:
        k = int(y)
        return str(classes[k]) if 0 <= k < len(classes) else str(k)
    if y.numel() == 1:
        return f"{float(y):.4g}" if y.is_floating_point() else str(int(y))
    return f"{list(y.shape)} {y.dtype}".replace("torch.", "")


def data_samples(
    node: Node,
    settings: dict[str, Any],
    project_dir: Path | None = None,
    n: int = 8,
    split: str = "train",
    data_dir: Path | None = None,
) -> DataSamples:
    """The first ``n`` samples of a data node's training (or validation) split, read as the
    trainer reads them: transforms and, for training, augmentation applied; the random state
    seeded with the project seed (and restored afterwards), so the same call shows the same
    samples."""
    if node.spec.extra.get("source") == "style_images":
        raise PreviewError(f"{node.label}: a picture pair, not samples", node.id)
    if split not in ("train", "val"):
        raise PreviewError(f"split: {split!r}; use train or val")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        train_set, val_set, classes = make_datasets(node, settings, project_dir, data_dir)
        data = train_set if split == "train" else val_set
        try:
            items = [data[i] for i in range(min(n, len(data)))]
        except Exception as exc:
            raise DataError(f"{node.label}: {type(exc).__name__}: {exc}", node.id) from exc
    xs = [torch.as_tensor(it[0]) for it in items]
    ys = [torch.as_tensor(it[1]) for it in items]
    kind = "tensor"
    if xs and xs[0].is_floating_point() and xs[0].dim() == 3:
        kind = "image"
    elif xs and xs[0].is_floating_point() and xs[0].dim() == 1:
        kind = "table"
    elif xs and not xs[0].is_floating_point() and xs[0].dim() == 1:
        kind = "text"
    vocab = getattr(train_set, "vocab", None)
    result = DataSamples(
        node.id,
        kind,
        [x.numpy() for x in xs],
        [_label(y, classes) for y in ys],
    )
    if kind == "table":
        result.feature_names = feature_names(node, xs[0].shape[0])
    if kind == "text" and vocab is not None:
        result.tokens = [[vocab.tokens[int(t)] for t in x] for x in xs]
        if not classes:  # a language model: the target is the next tokens
            result.labels = [" ".join(vocab.tokens[int(t)] for t in y.reshape(-1)) for y in ys]
        result.texts = [
            vocab.decode([int(t) for t in x if vocab.tokens[int(t)] != "<pad>"]) for x in xs
        ]
    return result
