"""Explanations of a trained classifier's predictions, with Captum.

A run folder holds the project snapshot it trained (project.json) and its weights; the model is
rebuilt from the snapshot (the same generated model.py) and loaded with them. Samples come from
the validation split, in order: the first N, or the first N the model gets wrong.

Methods, by what the model reads:

- images ``[C, H, W]``: ``saliency`` (absolute input gradient), ``ig`` (Integrated Gradients
  from a black image) and ``gradcam`` (Grad-CAM on a layer node, by default the last
  convolution, upsampled to the input's size);
- tables (one row of features): ``saliency`` and ``ig`` (from all-zero features, which are the
  means when the data node standardises), one attribution per feature;
- token sequences: ``ig`` as Layer Integrated Gradients on the embedding's output, from a
  sequence of padding tokens; one attribution per token (summed over the embedding).

The attributed output is the class the model predicts (its logit); for a one-output binary
classifier, that output. Nothing here imports Qt; :func:`write_explanations` writes PNG overlays
(images) or CSV (tables and text) with plain Pillow and numpy.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from torchcanvas.graph import GraphError, load
from torchcanvas.graph.document import Graph
from torchcanvas.runtime.compile import CompiledProject, CompileError, compile_project
from torchcanvas.runtime.data import DataError, materialize
from torchcanvas.runtime.preview import feature_names

METHODS = ("ig", "saliency", "gradcam")
WEIGHT_FILES = ("weights.pt", "checkpoint.pt", "best.pt")  # the run's final weights first
IG_STEPS = 64
CONV_TYPES = ("nn.Conv1d", "nn.Conv2d", "nn.Conv3d", "nn.ConvTranspose2d")


class ExplainError(Exception):
    """Explanations cannot be made; says why in the user's terms (with the node, when one)."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


@dataclass
class TrainedRun:
    """A run's model with its weights, ready to explain."""

    project: CompiledProject
    model: nn.Module
    run_dir: Path
    weights: Path
    project_dir: Path | None

    @property
    def graph(self) -> Graph:
        return self.project.graph


@dataclass
class Explanation:
    """Attributions for a few validation samples."""

    kind: str  # "image", "table" or "text"
    method: str
    indices: list[int]  # positions in the validation split
    inputs: np.ndarray  # the samples as the model read them
    labels: list[int]
    predicted: list[int]
    targets: list[int]  # the output attributed
    attributions: np.ndarray  # per sample: [H, W] (image), [F] (table) or [S] (text)
    classes: list[str] | None
    layer: str | None = None  # Grad-CAM: the layer node's id
    layer_maps: np.ndarray | None = None  # Grad-CAM: the maps at the layer's own size
    deltas: list[float] = field(default_factory=list)  # IG: completeness gaps
    feature_names: list[str] = field(default_factory=list)  # tables
    tokens: list[list[str]] = field(default_factory=list)  # text: each sample's tokens
    raw: np.ndarray | None = None  # image IG/saliency: attributions per channel [C, H, W]

    def class_name(self, k: int) -> str:
        if self.classes and 0 <= k < len(self.classes):
            return str(self.classes[k])
        return str(k)


# ---------------------------------------------------------------------------- loading
def _project_dir(run_dir: Path) -> Path | None:
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    project = info.get("project") if isinstance(info, dict) else None
    return Path(project).parent if isinstance(project, str) else None


def load_run(run_dir: Path, device: str = "cpu", project_dir: Path | None = None) -> TrainedRun:
    """The model of ``run_dir`` (its project.json) with the run's weights."""
    from torchcanvas.runtime.trainer import pick_device

    try:
        dev = pick_device(device)
    except ValueError as exc:
        raise ExplainError(f"device: {exc}") from None
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExplainError(f"{run_dir}: no such run folder")
    snapshot = run_dir / "project.json"
    if not snapshot.is_file():
        raise ExplainError(f"{run_dir}: no project.json (the project the run trained)")
    try:
        graph = load(snapshot)
    except GraphError as exc:
        raise ExplainError(f"{snapshot}: {exc}") from None
    weights = next((run_dir / n for n in WEIGHT_FILES if (run_dir / n).is_file()), None)
    if weights is None:
        raise ExplainError(f"{run_dir.name}: no trained weights yet; train at least one epoch")
    project_dir = project_dir or _project_dir(run_dir)
    try:
        project = compile_project(graph, project_dir)
    except CompileError as exc:
        raise ExplainError(str(exc), exc.node_id) from None
    if project.plan.optimises_image:
        raise ExplainError("this project optimises an image; there are no predictions to explain")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = project.model.new()
    try:
        model.load_state_dict(state.get("model", state))
    except RuntimeError as exc:
        raise ExplainError(f"{weights}: the weights do not fit the run's model ({exc})") from None
    model.to(dev).eval()
    return TrainedRun(project, model, run_dir, weights, project_dir)


# ---------------------------------------------------------------------------- samples
def _kind(x: torch.Tensor) -> str:
    if not x.is_floating_point():
        if x.dim() == 1:
            return "text"
    elif x.dim() == 3:
        return "image"
    elif x.dim() == 1:
        return "table"
    raise ExplainError(
        f"explanations cover images [C, H, W], feature rows and token sequences; this model "
        f"reads {x.dtype} samples of shape {list(x.shape)}"
    )


def _targets(out: torch.Tensor) -> torch.Tensor:
    """The output index attributed for each row: the predicted class, or 0 for one output."""
    if out.dim() != 2:
        raise ExplainError(
            f"explanations need a classifier that gives one row of scores per sample; this "
            f"model gives {list(out.shape)}"
        )
    if out.shape[1] == 1:
        return torch.zeros(len(out), dtype=torch.long)
    return out.argmax(1)


def _predicted(out: torch.Tensor, binary_logits: bool) -> torch.Tensor:
    if out.shape[1] == 1:
        return (out[:, 0] > (0.0 if binary_logits else 0.5)).long()
    return out.argmax(1)


def select_samples(
    run: TrainedRun, n: int, misclassified: bool = False, data_dir: Path | None = None
) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor, Any, list[str] | None]:
    """(indices, inputs, labels, predicted, train_set, classes) of ``n`` validation samples,
    in order: the first ones, or the first ones the model gets wrong."""
    if n < 1:
        raise ExplainError(f"samples: {n} must be at least 1")
    project = run.project
    if len(project.model.source.ir.inputs) != 1:
        raise ExplainError("explanations need a model with one input")
    plan = project.plan
    if plan.task not in ("classification", "binary"):
        raise ExplainError(f"explanations need a classifier; this project's task is {plan.task}")
    try:
        train_set, val_set, classes = project.fn("make_datasets")(materialize(plan.data, data_dir))
    except (OSError, ValueError, RuntimeError, IndexError, KeyError) as exc:
        raise DataError(f"{plan.data.label}: {exc}", plan.data.id) from exc
    if len(val_set) == 0:
        raise ExplainError(
            "the validation split is empty; raise val_split in the training settings"
        )
    logits = plan.losses[0].node.type_id != "loss.BCE"
    device = next(run.model.parameters()).device
    chosen: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    batch = 64
    with torch.no_grad():
        for first in range(0, len(val_set), batch):
            items = [val_set[i] for i in range(first, min(first + batch, len(val_set)))]
            x = torch.stack([torch.as_tensor(it[0]) for it in items])
            y = torch.stack([torch.as_tensor(it[1]) for it in items]).reshape(len(items), -1)[:, 0]
            out = run.model(x.to(device))
            if not isinstance(out, torch.Tensor):
                raise ExplainError("explanations need a model with one output tensor")
            _targets(out)  # checks the output's shape
            pred = _predicted(out, logits).cpu()
            for k in range(len(items)):
                if misclassified and int(pred[k]) == int(y[k]):
                    continue
                chosen.append((first + k, x[k], y[k].long(), pred[k]))
                if len(chosen) == n:
                    break
            if len(chosen) == n:
                break
    if not chosen:
        raise ExplainError("the model classifies every validation sample correctly")
    idx = [c[0] for c in chosen]
    return (
        idx,
        torch.stack([c[1] for c in chosen]),
        torch.stack([c[2] for c in chosen]),
        torch.stack([c[3] for c in chosen]),
        train_set,
        [str(c) for c in classes] if classes else None,
    )


# ---------------------------------------------------------------------------- layers
def _node(graph: Graph, key: str):
    if key in graph:
        return graph.node(key)
    matches = [n for n in graph.nodes() if n.label == key]
    if len(matches) != 1:
        raise ExplainError(
            f"layer: no node with id or label {key!r}"
            if not matches
            else f"layer: {len(matches)} nodes are labelled {key!r}; name one by its id"
        )
    return matches[0]


def layer_module(run: TrainedRun, node_id: str) -> nn.Module:
    """The module of a layer node in the run's model."""
    attr = run.project.model.source.ir.attrs.get(node_id)
    node = run.graph.node(node_id)
    if attr is None:
        raise ExplainError(
            f"layer: {node.label} ({node.type_id}) is not a layer of the model", node_id
        )
    return getattr(run.model, attr)


def default_conv_layer(run: TrainedRun) -> str:
    """The last convolution of the model (in forward order), or the activation layer that its
    output goes straight into (Grad-CAM reads rectified feature maps)."""
    from torchcanvas.codegen.model import model_nodes
    from torchcanvas.runtime.shapes import ELEMENTWISE

    graph = run.graph
    convs = [n.id for n in model_nodes(graph) if n.type_id in CONV_TYPES]
    if not convs:
        raise ExplainError("Grad-CAM needs a convolution layer; this model has none")
    chosen = convs[-1]
    while True:
        after = graph.out_edges(chosen)
        if len(after) != 1:
            return chosen
        nxt = graph.node(after[0].dst)
        if nxt.type_id not in ELEMENTWISE or "Dropout" in nxt.type_id:
            return chosen
        chosen = nxt.id


def embedding_node(run: TrainedRun) -> str:
    from torchcanvas.codegen.model import model_nodes

    found = [n.id for n in model_nodes(run.graph) if n.type_id == "nn.Embedding"]
    if not found:
        raise ExplainError("per-token attributions need an Embedding layer in the model")
    return found[0]


# ---------------------------------------------------------------------------- attribution
def explain(
    run: TrainedRun,
    samples: int = 8,
    method: str = "ig",
    layer: str | None = None,
    misclassified: bool = False,
    data_dir: Path | None = None,
    ig_steps: int = IG_STEPS,
) -> Explanation:
    """Attributions of ``samples`` validation samples with ``method``."""
    if method not in METHODS:
        raise ExplainError(f"method: {method!r}; choose one of {', '.join(METHODS)}")
    from captum.attr import (
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        LayerIntegratedGradients,
        Saliency,
    )

    idx, x, y, pred, train_set, classes = select_samples(run, samples, misclassified, data_dir)
    kind = _kind(x[0])
    model = run.model
    device = next(model.parameters()).device
    xd = x.to(device)
    with torch.no_grad():
        targets = _targets(model(xd))
    result = Explanation(
        kind,
        method,
        idx,
        x.numpy(),
        [int(v) for v in y],
        [int(v) for v in pred],
        [int(v) for v in targets],
        np.empty(0),
        classes,
    )
    if kind == "text":
        if method != "ig":
            raise ExplainError(
                f"method: {method} works on images and tables; text is explained with ig "
                "(per-token Integrated Gradients)"
            )
        node_id = embedding_node(run)
        emb = layer_module(run, node_id)
        vocab = getattr(train_set, "vocab", None)
        pad = vocab.index.get("<pad>", 0) if vocab is not None else 0
        lig = LayerIntegratedGradients(model, emb)
        attr, delta = lig.attribute(
            xd,
            baselines=torch.full_like(xd, pad),
            target=targets.to(device),
            n_steps=ig_steps,
            return_convergence_delta=True,
        )
        result.attributions = attr.sum(-1).detach().cpu().numpy()
        result.deltas = [float(d) for d in delta]
        result.layer = node_id
        if vocab is not None:
            result.tokens = [[vocab.tokens[int(t)] for t in row] for row in x]
        return result
    if method == "gradcam":
        if kind != "image":
            raise ExplainError("method: gradcam needs image inputs; use ig or saliency")
        node_id = _node(run.graph, layer).id if layer else default_conv_layer(run)
        module = layer_module(run, node_id)
        cam = LayerGradCam(model, module)
        maps = cam.attribute(xd, target=targets.to(device), relu_attributions=True)
        if maps.dim() != 4:
            node = run.graph.node(node_id)
            raise ExplainError(
                f"layer: {node.label} gives {list(maps.shape)}; Grad-CAM needs a layer with "
                "image-shaped output [B, C, H, W]",
                node_id,
            )
        up = LayerAttribution.interpolate(maps, tuple(x.shape[-2:]), "bilinear")
        result.layer = node_id
        result.layer_maps = maps[:, 0].detach().cpu().numpy()
        result.attributions = up[:, 0].detach().cpu().numpy()
        return result
    if layer:
        raise ExplainError("layer: only gradcam uses a layer")
    xg = xd.clone().requires_grad_(True)
    if method == "saliency":
        attr = Saliency(model).attribute(xg, target=targets.to(device), abs=True)
    else:
        ig = IntegratedGradients(model)
        attr, delta = ig.attribute(
            xg,
            baselines=torch.zeros_like(xg),
            target=targets.to(device),
            n_steps=ig_steps,
            return_convergence_delta=True,
        )
        result.deltas = [float(d) for d in delta]
    attr = attr.detach().cpu()
    if kind == "image":
        result.raw = attr.numpy()
        result.attributions = attr.abs().sum(1).numpy() if method == "ig" else attr.sum(1).numpy()
    else:
        result.attributions = attr.numpy()
        result.feature_names = feature_names(run.project.plan.data, x.shape[1])
    return result


# ---------------------------------------------------------------------------- writing
# a perceptual dark-to-bright ramp (black, purple, red, orange, pale yellow)
_RAMP = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64
)


def heat_colors(values: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] for ``values`` in 0..1 along the ramp."""
    v = np.clip(np.nan_to_num(values), 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_RAMP) - 2)
    t = (v - lo)[..., None]
    return (_RAMP[lo] * (1 - t) + _RAMP[lo + 1] * t).round().astype(np.uint8)


def normalise(a: np.ndarray) -> np.ndarray:
    """``a`` scaled to 0..1 by its 99th percentile of magnitude (outliers saturate)."""
    a = np.abs(a.astype(np.float64))
    top = np.percentile(a, 99) if a.size else 0.0
    if not top > 0:
        top = a.max() if a.size and a.max() > 0 else 1.0
    return np.clip(a / top, 0.0, 1.0)


def image_rgb(x: np.ndarray) -> np.ndarray:
    """A [C, H, W] sample as uint8 RGB [H, W, 3], scaled by its own range."""
    x = x.astype(np.float64)
    if x.shape[0] == 1:
        x = np.repeat(x, 3, 0)
    elif x.shape[0] != 3:
        x = np.repeat(x.mean(0, keepdims=True), 3, 0)
    lo, hi = x.min(), x.max()
    x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return (x.transpose(1, 2, 0) * 255).round().astype(np.uint8)


def overlay_panel(x: np.ndarray, attribution: np.ndarray, min_side: int = 128) -> np.ndarray:
    """The sample, its heat map and the two blended, side by side: uint8 [H', 3W'+gaps, 3]."""
    base = image_rgb(x)
    heat = heat_colors(normalise(attribution))
    blend = (0.45 * base + 0.55 * heat).round().astype(np.uint8)
    h, w = base.shape[:2]
    scale = max(1, math.ceil(min_side / min(h, w)))
    parts = [np.kron(p, np.ones((scale, scale, 1), dtype=np.uint8)) for p in (base, heat, blend)]
    gap = np.full((h * scale, 4, 3), 255, dtype=np.uint8)
    return np.concatenate([parts[0], gap, parts[1], gap, parts[2]], axis=1)


def _save_png(pixels: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(pixels, "RGB").save(path)


def write_explanations(result: Explanation, out: Path) -> list[Path]:
    """PNG overlays (images) or CSV rows (tables, text), a summary.csv, and every array in
    attributions.npz; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    summary = out / "summary.csv"
    rows = []
    for k, index in enumerate(result.indices):
        row = {
            "sample": k,
            "index": index,
            "label": result.class_name(result.labels[k]),
            "predicted": result.class_name(result.predicted[k]),
            "correct": int(result.labels[k] == result.predicted[k]),
            "target": result.class_name(result.targets[k]),
            "method": result.method,
            "delta": f"{result.deltas[k]:.6g}" if result.deltas else "",
            "file": "",
        }
        if result.kind == "image":
            name = f"sample_{k:03d}_val{index}_{result.method}.png"
            _save_png(overlay_panel(result.inputs[k], result.attributions[k]), out / name)
            written.append(out / name)
            row["file"] = name
        rows.append(row)
    with open(summary, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written.append(summary)
    if result.kind == "table":
        path = out / "attributions.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["sample", "index", "label", "predicted", *result.feature_names])
            for k, index in enumerate(result.indices):
                writer.writerow(
                    [
                        k,
                        index,
                        result.class_name(result.labels[k]),
                        result.class_name(result.predicted[k]),
                        *(f"{v:.6g}" for v in result.attributions[k]),
                    ]
                )
        written.append(path)
    elif result.kind == "text":
        path = out / "attributions.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["sample", "index", "label", "predicted", "position", "token", "attribution"]
            )
            for k, index in enumerate(result.indices):
                tokens = result.tokens[k] if result.tokens else []
                for pos, value in enumerate(result.attributions[k]):
                    token = tokens[pos] if pos < len(tokens) else str(int(result.inputs[k][pos]))
                    if token == "<pad>":
                        continue
                    writer.writerow(
                        [
                            k,
                            index,
                            result.class_name(result.labels[k]),
                            result.class_name(result.predicted[k]),
                            pos,
                            token,
                            f"{value:.6g}",
                        ]
                    )
        written.append(path)
    arrays = {
        "indices": np.array(result.indices),
        "inputs": result.inputs,
        "labels": np.array(result.labels),
        "predicted": np.array(result.predicted),
        "targets": np.array(result.targets),
        "attributions": result.attributions,
    }
    if result.layer_maps is not None:
        arrays["layer_maps"] = result.layer_maps
    if result.deltas:
        arrays["deltas"] = np.array(result.deltas)
    np.savez_compressed(out / "attributions.npz", **arrays)
    written.append(out / "attributions.npz")
    return written
