"""The backward graph of a network as plain data: capture, attribution, gradient health.

A :class:`Recorder` watches one forward pass (a torch function mode). Every new ``grad_fn`` an
operation returns is attributed to an *owner*: the canvas node whose generated line ran it (the
innermost frame in the generated model.py or train.py, through their line maps), or, for a plain
``nn.Module``, the innermost submodule running (forward hooks). :meth:`Recorder.graph` then walks
``next_functions`` from the loss(es) and returns an :class:`AutogradGraph`: function nodes
(``AddmmBackward0``…) with the shapes and dtypes of their saved tensors, leaf nodes
(``AccumulateGrad`` with the parameter's name and shape) and one node per loss. Functions the
mode never saw (created inside one call, like the ``TBackward0`` inside ``F.linear``) take the
owner of the function that consumes them; functions reading a parameter directly fall back on the
parameter's owner.

:func:`grad_stats` reads the gradient norm of every parameter after a backward pass (one device
sync for all of them) with the ratio to the weight norm, and flags vanishing and exploding
gradients. :func:`capture_project` does all of it for a compiled canvas project on one batch.
Nothing here imports Qt; everything returned is plain data.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from torchcanvas.runtime.autograd_data import (
    AutogradGraph,
    FnNode,
    GradStats,
    ParamGrad,
    SavedValue,
)
from torchcanvas.runtime.source import register

# gradient health thresholds (absolute gradient norm, and gradient norm / weight norm)
VANISH_NORM = 1e-7
VANISH_RATIO = 1e-6
EXPLODE_NORM = 1e3
EXPLODE_RATIO = 1e2
RATIO_MIN_WEIGHT = 1e-3  # below this weight norm (fresh zero biases) the ratio says nothing


# ---------------------------------------------------------------------------- recording
def _tensors(value: Any) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            if isinstance(v, torch.Tensor):
                yield v


class _Mode(TorchFunctionMode):
    def __init__(self, recorder: Recorder):
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        rec = self.recorder
        owner: Any = rec  # not looked up yet
        for t in _tensors(out):
            fn = t.grad_fn
            if fn is not None and fn not in rec.owners:
                if owner is rec:
                    owner = rec.current_owner()
                rec.owners[fn] = owner
        return out


class Recorder:
    """Attributes the backward functions of the forward passes run inside ``with recorder:``.

    ``lines``: pseudo file name of generated source → (1-based line → owner). The innermost
    frame in one of those files names the owner. Otherwise ``modules`` (module → owner; by
    default every submodule of ``model`` by its qualified name) give the innermost module running.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        lines: dict[str, dict[int, str]] | None = None,
        modules: dict[nn.Module, str] | None = None,
        param_owner: Callable[[str], str | None] | None = None,
        labels: dict[str, str] | None = None,
    ):
        self.model = model
        self.lines = lines or {}
        if modules is None and model is not None and not self.lines:
            modules = {m: name for name, m in model.named_modules() if name}
        self.modules = modules or {}
        self.param_owner = param_owner or _module_of_param
        self.labels = dict(labels or {})
        self.owners: dict[Any, str | None] = {}
        self._stack: list[str] = []
        self._hooks: list[Any] = []
        self._mode: _Mode | None = None

    def current_owner(self) -> str | None:
        if self.lines:
            frame = sys._getframe(2)
            while frame is not None:
                table = self.lines.get(frame.f_code.co_filename)
                if table is not None:
                    return table.get(frame.f_lineno)
                frame = frame.f_back
        return self._stack[-1] if self._stack else None

    def __enter__(self) -> Recorder:
        for module, name in self.modules.items():

            def pre(_m, _args, name=name):
                self._stack.append(name)

            def post(_m, _args, _out):
                if self._stack:
                    self._stack.pop()

            self._hooks.append(module.register_forward_pre_hook(pre))
            self._hooks.append(module.register_forward_hook(post, always_call=True))
        self._mode = _Mode(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        assert self._mode is not None
        self._mode.__exit__(*exc)
        self._mode = None
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        self._stack.clear()

    def graph(
        self,
        losses: torch.Tensor | Sequence[tuple[str, torch.Tensor]],
        params: Iterable[tuple[str, torch.Tensor]] | None = None,
    ) -> AutogradGraph:
        if params is None and self.model is not None:
            params = self.model.named_parameters()
        return extract(losses, params, self.owners, self.param_owner, self.labels)


def _module_of_param(name: str) -> str | None:
    return name.rpartition(".")[0] or None


# ---------------------------------------------------------------------------- the walk
_SAVED_NAMES: dict[type, tuple[str, ...]] = {}


def _saved(fn: Any) -> tuple[SavedValue, ...]:
    names = _SAVED_NAMES.get(type(fn))
    if names is None:
        names = tuple(a for a in dir(fn) if a.startswith("_saved_"))
        _SAVED_NAMES[type(fn)] = names
    out = []
    for attr in names:
        try:
            value = getattr(fn, attr)
        except Exception:  # freed by a backward pass already, or a type Python cannot see
            continue
        name = attr[len("_saved_") :]
        if isinstance(value, torch.Tensor):
            out.append(SavedValue(name, tuple(value.shape), _dtype(value.dtype)))
        elif isinstance(value, tuple | list) and value and isinstance(value[0], torch.Tensor):
            shapes = "; ".join(f"[{', '.join(map(str, v.shape))}]" for v in value[:4])
            out.append(SavedValue(name, text=f"{len(value)} tensors {shapes}"))
        elif value is not None:
            text = repr(value)
            out.append(SavedValue(name, text=text if len(text) <= 48 else text[:45] + "..."))
    return tuple(out)


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def extract(
    losses: torch.Tensor | Sequence[tuple[str, torch.Tensor]],
    params: Iterable[tuple[str, torch.Tensor]] | None = None,
    owners: dict[Any, str | None] | None = None,
    param_owner: Callable[[str], str | None] | None = None,
    labels: dict[str, str] | None = None,
) -> AutogradGraph:
    """The backward graph from ``losses`` (a tensor, or (label, tensor) pairs): walk
    ``next_functions``, name the leaves after ``params``, attribute functions (``owners`` from a
    :class:`Recorder`, then consumers, then the parameters they read)."""
    if isinstance(losses, torch.Tensor):
        losses = [("loss", losses)]
    owners = owners or {}
    param_owner = param_owner or _module_of_param
    param_names = {id(p): name for name, p in (params or ())}
    nodes: list[FnNode] = []
    edges: list[tuple[int, int]] = []
    index: dict[Any, int] = {}
    roots: list[int] = []
    seen: set[int] = set()  # functions the recorder attributed (maybe to no owner)
    queue: deque[tuple[Any, int]] = deque()
    for label, loss in losses:
        if loss.grad_fn is None:
            raise ValueError(f"{label}: the loss does not depend on any parameter (no grad_fn)")
        root = len(nodes)
        nodes.append(FnNode(root, label, "loss", shape=tuple(loss.shape), dtype=_dtype(loss.dtype)))
        roots.append(root)
        queue.append((loss.grad_fn, root))
    while queue:
        fn, parent = queue.popleft()
        i = index.get(fn)
        if i is None:
            i = index[fn] = len(nodes)
            name = type(fn).__name__
            if name == "AccumulateGrad":
                var = fn.variable
                pname = param_names.get(id(var))
                nodes.append(
                    FnNode(
                        i,
                        name,
                        "leaf",
                        param_owner(pname) if pname else None,
                        pname,
                        tuple(var.shape),
                        _dtype(var.dtype),
                    )
                )
            else:
                nodes.append(FnNode(i, name, "function", owners.get(fn), saved=_saved(fn)))
                if fn in owners:
                    seen.add(i)
                for nxt, _ in fn.next_functions:
                    if nxt is not None:
                        queue.append((nxt, i))
        edges.append((parent, i))
    edges = list(dict.fromkeys(edges))  # a function using a value twice: one edge
    _attribute(nodes, edges, roots, seen)
    graph = AutogradGraph(nodes, edges, roots, dict(labels or {}))
    return graph


def _attribute(
    nodes: list[FnNode], edges: list[tuple[int, int]], roots: list[int], seen: set[int]
) -> None:
    """Owners for the functions the recorder did not see, and for the losses."""
    children: list[list[int]] = [[] for _ in nodes]
    parents: list[list[int]] = [[] for _ in nodes]
    for a, b in edges:
        children[a].append(b)
        parents[b].append(a)
    # a function reading parameters of one owner directly belongs to it
    for n in nodes:
        if n.kind == "function" and n.owner is None and n.index not in seen:
            found = {nodes[c].owner for c in children[n.index] if nodes[c].kind == "leaf"} - {None}
            if len(found) == 1:
                n.owner = found.pop()
    # then the owner of a consumer (breadth first from the losses)
    for i in topological(len(nodes), edges):
        n = nodes[i]
        if n.kind == "function" and n.owner is None and i not in seen:
            for p in parents[i]:
                if nodes[p].kind == "function" and nodes[p].owner is not None:
                    n.owner = nodes[p].owner
                    break
    for r in roots:
        below = {nodes[c].owner for c in children[r]}
        if len(below) == 1:
            nodes[r].owner = below.pop()


def topological(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Kahn's order of ``range(n)`` (a DAG; nodes on a cycle come last, in index order)."""
    indeg = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        out[a].append(b)
        indeg[b] += 1
    queue = deque(i for i in range(n) if indeg[i] == 0)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for j in out[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                queue.append(j)
    if len(order) < n:
        placed = set(order)
        order += [i for i in range(n) if i not in placed]
    return order


# ---------------------------------------------------------------------------- gradient health
def _flag(grad: float | None, weight: float) -> str:
    if grad is None:
        return "none"
    if not math.isfinite(grad) or grad > EXPLODE_NORM:
        return "exploding"
    if grad < VANISH_NORM:
        return "vanishing"
    if weight >= RATIO_MIN_WEIGHT:
        ratio = grad / weight
        if ratio > EXPLODE_RATIO:
            return "exploding"
        if ratio < VANISH_RATIO:
            return "vanishing"
    return "ok"


@torch.no_grad()
def grad_norms(params: Sequence[torch.Tensor]) -> tuple[list[float | None], list[float]]:
    """Gradient and weight norms of ``params``, read back with one device sync."""
    if not params:
        return [], []
    with_grad = [i for i, p in enumerate(params) if p.grad is not None]
    weights = torch._foreach_norm([p.detach() for p in params])
    grads = torch._foreach_norm([params[i].grad for i in with_grad]) if with_grad else []
    values = torch.stack([*(w.float() for w in weights), *(g.float() for g in grads)]).cpu()
    values = values.tolist()
    weight_norms = values[: len(params)]
    grad_out: list[float | None] = [None] * len(params)
    for k, i in enumerate(with_grad):
        grad_out[i] = values[len(params) + k]
    return grad_out, weight_norms


def grad_stats(
    named_params: Iterable[tuple[str, torch.Tensor]],
    param_owner: Callable[[str], str | None] | None = None,
    step: int = 0,
) -> GradStats:
    """Gradient health of every parameter (its ``.grad`` as the last backward left it)."""
    param_owner = param_owner or _module_of_param
    named = [(n, p) for n, p in named_params if p.requires_grad]
    grads, weights = grad_norms([p for _, p in named])
    out = []
    for (name, p), g, w in zip(named, grads, weights, strict=True):
        out.append(ParamGrad(name, param_owner(name), tuple(p.shape), g, w, _flag(g, w)))
    return GradStats(step, tuple(out))


# ---------------------------------------------------------------------------- canvas projects
def project_owner(project) -> Callable[[str], str | None]:
    """Parameter name (``conv1.weight``, ``block1.conv.bias``) → canvas node id."""
    attrs = {attr: nid for nid, attr in project.model.source.ir.attrs.items()}

    def owner(name: str) -> str | None:
        return attrs.get(name.partition(".")[0])

    return owner


def project_recorder(project, model: nn.Module) -> Recorder:
    """A recorder that attributes through the generated model.py and train.py line maps."""
    src, train = project.model.source, project.train
    lines = {register(src.source, "model.py"): src.line_map}
    # the app runs train.py with its model import line blanked (same line numbers)
    from torchcanvas.codegen.train import MODEL_IMPORT

    body = train.source.replace(MODEL_IMPORT.format(name=src.ir.class_name), "\n", 1)
    lines[register(body, "train.py")] = train.line_map
    labels = {n.id: n.label for n in project.graph.nodes()}
    return Recorder(model, lines=lines, param_owner=project_owner(project), labels=labels)


def loss_labels(project) -> list[str]:
    return [term.node.label for term in project.plan.losses]


CHEAP_SOURCES = ("sklearn", "synthetic", "bundled_csv")


def project_batch(project, data_dir: Path | None = None) -> tuple[Any, str]:
    """One training batch: from the project's data when it is bundled and cheap to read, else
    random values of the inferred input shapes. Returns (batch, where it came from)."""
    data = project.plan.data
    settings = project.graph.settings
    if data.spec.extra.get("source") in CHEAP_SOURCES:
        from torchcanvas.runtime.data import materialize

        try:
            train_set, _, _ = project.fn("make_datasets")(materialize(data, data_dir))
            if len(train_set):
                loader = project.fn("make_loader")(train_set, train=False)
                return next(iter(loader)), f"one batch of {data.label}"
        except Exception:  # unreadable data: fall back on random values of the right shape
            pass
    info = project.shapes.data_info
    if info is None:
        raise ValueError(f"{data.label}: the input shape is not known yet; check the data node")
    n = settings["batch_size"]
    g = torch.Generator().manual_seed(settings["seed"])
    x = _random((n, *info.x_shape), info.x_dtype, g, info.num_classes)
    y = _random((n, *info.y_shape), info.y_dtype, g, info.num_classes)
    return (x, y), f"a random batch of {n} (no data read)"


def _random(shape, dtype, g, classes) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(0, max(classes or 2, 1), shape, generator=g, dtype=dtype)


def capture_project(
    project,
    model: nn.Module | None = None,
    batch: Any = None,
    device: torch.device | str = "cpu",
    backward: bool = True,
    step: int = 0,
) -> AutogradGraph:
    """Forward one batch through a compiled project's model and losses, capture the backward
    graph (before ``backward`` frees its saved tensors), run ``backward`` and read the gradient
    health. ``model`` defaults to a fresh seeded instance; ``batch`` to :func:`project_batch`."""
    if model is None:
        torch.manual_seed(project.graph.settings["seed"])
        model = project.model.new().to(device)
    if batch is None:
        batch, _ = project_batch(project)
    losses = project.fn("build_losses")().to(device)
    recorder = project_recorder(project, model)
    with recorder:
        loss, _, _ = project.fn("compute_loss")(model, losses, batch, device)
    graph = recorder.graph([(" + ".join(loss_labels(project)), loss)])
    # one loss: the root is that loss node; several: their sum belongs to none of them
    terms = project.plan.losses
    graph.nodes[graph.roots[0]].owner = terms[0].node.id if len(terms) == 1 else None
    graph.step = step
    if backward:
        model.zero_grad(set_to_none=True)
        loss.backward()
        graph.grads = grad_stats(model.named_parameters(), project_owner(project), step)
    return graph


@torch.no_grad()
def _buffers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, b.clone()) for b in model.buffers()]


def capture_during_training(
    project, model: nn.Module, batch: Any, device, step: int
) -> AutogradGraph:
    """The graph of the latest step's batch, captured between training steps without changing
    the run: the forward pass leaves running statistics and the random state as they were, and
    the gradients reported are the ones the step itself computed."""
    stats = grad_stats(model.named_parameters(), project_owner(project), step)
    buffers = _buffers(model)
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        graph = capture_project(project, model, batch, device, backward=False, step=step)
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    graph.grads = stats
    return graph
