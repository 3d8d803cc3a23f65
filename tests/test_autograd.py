"""The autograd capture: graph structure against known networks, attribution to canvas nodes and
modules, saved tensor metadata, gradient health against ``p.grad.norm()``, the layered layout,
and the trainer's snapshots (which must leave the run unchanged)."""

from __future__ import annotations

import itertools
import math
import time

import pytest
import torch
from torch import nn

from torchcanvas.graph import Graph, load
from torchcanvas.runtime.autograd import (
    AutogradGraph,
    Recorder,
    capture_during_training,
    capture_project,
    extract,
    grad_stats,
    project_batch,
)
from torchcanvas.runtime.autograd_layout import acyclic_order, layered
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.trainer import (
    AutogradSnapshot,
    RunControl,
    StepEvent,
    Trainer,
    TrainOptions,
)


def example(name: str, **settings) -> Graph:
    graph = load(assets_dir() / "examples" / f"{name}.json")
    for key, value in {"device": "cpu", **settings}.items():
        graph.set_setting(key, value)
    return graph


def by_label(graph: Graph, label: str) -> str:
    return next(n.id for n in graph.nodes() if n.label == label)


def names(g: AutogradGraph, kind: str | None = None) -> list[str]:
    return sorted(n.name for n in g.nodes if kind is None or n.kind == kind)


def node_named(g: AutogradGraph, name: str):
    (node,) = g.by_name(name)
    return node


# ---------------------------------------------------------------------------- plain modules
class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_two_layer_mlp_functions_leaves_and_attribution():
    torch.manual_seed(0)
    model = MLP()
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    with Recorder(model) as rec:
        loss = nn.functional.cross_entropy(model(x), y)
    g = rec.graph(loss)
    assert names(g, "function") == sorted(
        [
            "NllLossBackward0",
            "LogSoftmaxBackward0",
            "AddmmBackward0",
            "TBackward0",
            "ReluBackward0",
            "AddmmBackward0",
            "TBackward0",
        ]
    )
    leaves = g.leaves()
    assert sorted(leaves) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert leaves["fc1.weight"].shape == (8, 4) and leaves["fc1.weight"].dtype == "float32"
    assert {leaves[p].owner for p in leaves} == {"fc1", "fc2"}
    assert leaves["fc2.bias"].owner == "fc2"
    # functions belong to the module that ran them
    relu = node_named(g, "ReluBackward0")
    assert relu.owner == "act"
    addmms = g.by_name("AddmmBackward0")
    assert sorted(n.owner for n in addmms) == ["fc1", "fc2"]
    for t in g.by_name("TBackward0"):  # inside F.linear: the owner of its consumer
        parent = next(a for a, b in g.edges if b == t.index)
        assert t.owner == g.nodes[parent].owner
    # one loss on top, edges follow next_functions
    (root,) = g.roots
    assert g.nodes[root].kind == "loss"
    assert [g.nodes[c].name for c in g.children(root)] == ["NllLossBackward0"]
    fc2 = next(n for n in addmms if n.owner == "fc2")
    below = {g.nodes[c].name for c in g.children(fc2.index)}
    assert below == {"AccumulateGrad", "ReluBackward0", "TBackward0"}
    assert {g.nodes[c].param for c in g.children(fc2.index)} - {None} == {"fc2.bias"}
    # saved tensors: shapes and dtypes
    saved = {s.name: s for s in fc2.saved}
    assert saved["mat1"].shape == (5, 8) and saved["mat1"].dtype == "float32"
    assert "mat1: float32 [5, 8]" in fc2.tooltip()


def test_extract_without_recorder_uses_parameter_ownership():
    model = MLP()
    loss = model(torch.randn(2, 4)).sum()
    g = extract(loss, model.named_parameters())
    addmms = g.by_name("AddmmBackward0")
    assert sorted(n.owner for n in addmms) == ["fc1", "fc2"]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(4, 4)
        self.branch = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))

    def forward(self, x):
        h = self.stem(x)
        return h + self.branch(h)


def test_residual_add_joins_two_paths():
    model = Residual()
    with Recorder(model) as rec:
        loss = model(torch.randn(3, 4)).pow(2).mean()
    g = rec.graph(loss)
    add = node_named(g, "AddBackward0")
    assert add.owner is None  # the top-level forward, outside any submodule
    children = g.children(add.index)
    assert len(children) == 2
    # one way goes straight to the stem, the other through the branch back to the stem
    stem = next(n for n in g.by_name("AddmmBackward0") if n.owner == "stem")
    assert stem.index in children
    other = next(c for c in children if c != stem.index)
    assert g.nodes[other].owner == "branch.2"

    def reaches(a: int, b: int) -> bool:
        todo, seen = [a], set()
        while todo:
            v = todo.pop()
            if v == b:
                return True
            if v not in seen:
                seen.add(v)
                todo += g.children(v)
        return False

    assert reaches(other, stem.index)
    assert len([n for n in g.nodes if n.kind == "leaf"]) == 6


def test_multiple_losses_and_recurrent_layers():
    lstm, head = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 2)
    model = nn.ModuleDict({"lstm": lstm, "head": head})
    x = torch.randn(2, 7, 3)
    with Recorder(model) as rec:
        out, _ = lstm(x)
        pred = head(out[:, -1])
        loss_a = pred.pow(2).mean()
        loss_b = out.abs().mean()
    g = rec.graph([("mse", loss_a), ("l1", loss_b)])
    assert [g.nodes[r].name for r in g.roots] == ["mse", "l1"]
    leaves = g.leaves()
    assert {p for p in leaves if p.startswith("lstm.")} == {
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "lstm.bias_ih_l0",
        "lstm.bias_hh_l0",
    }
    assert {leaves[p].owner for p in leaves} == {"lstm", "head"}
    # the recurrent function is shared by both losses: reached from both roots, listed once
    rnn = [n for n in g.nodes if n.owner == "lstm" and n.kind == "function"]
    assert rnn
    assert len({n.index for n in g.nodes}) == len(g.nodes)


def test_capture_after_backward_raises_nothing_and_skips_freed_tensors():
    model = MLP()
    loss = model(torch.randn(2, 4)).sum()
    loss.backward()
    g = extract(loss, model.named_parameters())  # saved tensors are freed: metadata skipped
    assert node_named(g, "ReluBackward0").saved == ()


def test_loss_without_graph_is_a_clear_error():
    with pytest.raises(ValueError, match="mine: the loss does not depend"):
        extract([("mine", torch.zeros(()))])


# ---------------------------------------------------------------------------- gradient health
def test_grad_norms_match_torch():
    torch.manual_seed(1)
    model = MLP()
    model(torch.randn(6, 4)).pow(2).sum().backward()
    stats = grad_stats(model.named_parameters(), step=7)
    assert stats.step == 7
    for (name, p), pg in zip(model.named_parameters(), stats.params, strict=True):
        assert pg.name == name
        assert pg.grad_norm == pytest.approx(p.grad.norm().item(), rel=1e-6)
        assert pg.weight_norm == pytest.approx(p.detach().norm().item(), rel=1e-6)
        assert pg.ratio == pytest.approx(p.grad.norm().item() / p.detach().norm().item(), rel=1e-5)
        assert pg.flag == "ok"
    per = stats.per_owner()
    expected = math.sqrt(model.fc1.weight.grad.norm() ** 2 + model.fc1.bias.grad.norm() ** 2)
    assert per["fc1"] == pytest.approx(expected, rel=1e-5)


def test_vanishing_exploding_and_missing_gradients_are_flagged():
    model = MLP()
    model(torch.randn(3, 4)).sum().backward()
    with torch.no_grad():
        model.fc1.weight.grad.mul_(1e6)
        model.fc1.bias.grad.fill_(float("nan"))
        model.fc2.weight.grad.mul_(1e-12)
    model.fc2.bias.grad = None
    stats = grad_stats(model.named_parameters())
    flags = {p.name: p.flag for p in stats.params}
    assert flags == {
        "fc1.weight": "exploding",
        "fc1.bias": "exploding",
        "fc2.weight": "vanishing",
        "fc2.bias": "none",
    }
    assert {p.name for p in stats.flagged} == set(flags)
    assert stats.by_name()["fc2.bias"].grad_norm is None


# ---------------------------------------------------------------------------- canvas projects
def test_canvas_mlp_attribution_to_canvas_nodes():
    graph = example("iris_mlp")
    project = compile_project(graph)
    g = capture_project(project)
    hidden, relu, classifier, loss = (
        by_label(graph, x) for x in ("hidden", "relu", "classifier", "loss1")
    )
    owners = {n.name: set() for n in g.nodes}
    for n in g.nodes:
        owners[n.name].add(n.owner)
    assert owners["AddmmBackward0"] == {hidden, classifier}
    assert owners["ReluBackward0"] == {relu}
    assert owners["NllLossBackward0"] == {loss}
    assert owners["LogSoftmaxBackward0"] == {loss}
    assert g.nodes[g.roots[0]].owner == loss
    assert {p: n.owner for p, n in g.leaves().items()} == {
        "hidden.weight": hidden,
        "hidden.bias": hidden,
        "classifier.weight": classifier,
        "classifier.bias": classifier,
    }
    assert g.label_of(hidden) == "hidden"
    assert set(g.owners()) == {hidden, relu, classifier, loss}
    # gradient health after the backward pass
    assert g.grads is not None
    assert [p.name for p in g.grads.params] == [
        "hidden.weight",
        "hidden.bias",
        "classifier.weight",
        "classifier.bias",
    ]
    assert all(p.grad_norm and p.grad_norm > 0 for p in g.grads.params)


def test_canvas_two_losses_each_own_their_functions():
    graph = example("iris_mlp")
    classifier, iris, opt = (by_label(graph, x) for x in ("classifier", "iris", "optimizer1"))
    aux = graph.add_node("loss.CrossEntropy", {}, label="aux", pos=(0, 0))
    graph.connect(classifier, "out", aux, "input")
    graph.connect(iris, "y", aux, "target")
    graph.connect(aux, "loss", opt, "loss")
    g = capture_project(compile_project(graph))
    main = by_label(graph, "loss1")
    (root,) = g.roots
    assert g.nodes[root].name == "loss1 + aux" and g.nodes[root].owner is None
    nll = g.by_name("NllLossBackward0")
    assert sorted(n.owner for n in nll) == sorted([main, aux])
    # both losses read the classifier's output: one function, two consumers
    (head,) = [n for n in g.by_name("AddmmBackward0") if n.owner == classifier]
    consumers = {a for a, b in g.edges if b == head.index}
    assert {g.nodes[c].owner for c in consumers} == {main, aux}


def residual_canvas() -> Graph:
    g = Graph({"model_name": "ResNetish", "device": "cpu", "batch_size": 16})
    ids = {}

    def add(label, type_id, **params):
        ids[label] = g.add_node(type_id, params, label=label, pos=(len(ids) * 200, 0))

    add("digits", "data.Digits")
    add("stem", "nn.Conv2d", out_channels=4, padding=1)
    add("conv_a", "nn.Conv2d", out_channels=4, padding=1)
    add("relu_a", "nn.ReLU")
    add("add", "op.add")
    add("flatten", "nn.Flatten")
    add("head", "nn.Linear", out_features=10)
    add("loss", "loss.CrossEntropy")
    add("opt", "optim.SGD")
    for a, b in (("stem", "conv_a"), ("conv_a", "relu_a"), ("add", "flatten"), ("flatten", "head")):
        g.connect(ids[a], "out", ids[b], "x")
    g.connect(ids["digits"], "x", ids["stem"], "x")
    g.connect(ids["relu_a"], "out", ids["add"], "a")
    g.connect(ids["stem"], "out", ids["add"], "b")
    g.connect(ids["head"], "out", ids["loss"], "input")
    g.connect(ids["digits"], "y", ids["loss"], "target")
    g.connect(ids["loss"], "loss", ids["opt"], "loss")
    return g


def test_canvas_residual_add_is_an_op_node_joining_both_paths():
    graph = residual_canvas()
    project = compile_project(graph)
    g = capture_project(project)
    add = node_named(g, "AddBackward0")
    assert add.owner == by_label(graph, "add")
    kids = {g.nodes[c].owner for c in g.children(add.index)}
    assert kids == {by_label(graph, "relu_a"), by_label(graph, "stem")}
    convs = [n for n in g.by_name("ConvolutionBackward0")]
    assert {n.owner for n in convs} == {by_label(graph, "stem"), by_label(graph, "conv_a")}


def test_canvas_recurrent_layer():
    g = Graph({"model_name": "SeqNet", "device": "cpu", "batch_size": 8})
    ids = {}

    def add(label, type_id, **params):
        ids[label] = g.add_node(type_id, params, label=label, pos=(len(ids) * 200, 0))

    add("digits", "data.Digits")
    add("rows", "op.reshape", shape=[8, 8])
    add("lstm", "nn.LSTM", hidden_size=12, output="last_step")
    add("head", "nn.Linear", out_features=10)
    add("loss", "loss.CrossEntropy")
    add("opt", "optim.SGD")
    g.connect(ids["digits"], "x", ids["rows"], "x")
    g.connect(ids["rows"], "out", ids["lstm"], "x")
    g.connect(ids["lstm"], "out", ids["head"], "x")
    g.connect(ids["head"], "out", ids["loss"], "input")
    g.connect(ids["digits"], "y", ids["loss"], "target")
    g.connect(ids["loss"], "loss", ids["opt"], "loss")
    captured = capture_project(compile_project(g))
    leaves = captured.leaves()
    assert {n.owner for p, n in leaves.items() if p.startswith("lstm.")} == {ids["lstm"]}
    lstm_fns = [n for n in captured.nodes if n.owner == ids["lstm"] and n.kind == "function"]
    assert lstm_fns
    # the reshape acts on the input (no gradient): nothing of it in the backward graph
    assert not any(n.owner == ids["rows"] for n in captured.nodes)
    head = next(n for n in captured.nodes if n.name == "AddmmBackward0")
    assert head.owner == ids["head"]
    assert ids["lstm"] in {captured.nodes[c].owner for c in captured.children(head.index)}
    assert all(p.grad_norm is not None for p in captured.grads.params)


def test_project_batch_reads_bundled_data_or_falls_back_on_random():
    project = compile_project(example("digits_cnn", batch_size=12))
    (x, y), note = project_batch(project)
    assert x.shape == (12, 1, 8, 8) and y.dtype == torch.long
    assert "digits" in note
    # data that cannot be read: random values of the inferred shapes
    project.functions = {**project.functions, "make_datasets": _broken}
    (x2, y2), note2 = project_batch(project)
    assert x2.shape == (12, 1, 8, 8) and y2.dtype == torch.long
    assert int(y2.max()) < 10 and "random" in note2


def _broken(_folder):
    raise OSError("unreadable")


# ---------------------------------------------------------------------------- training
def _losses(events) -> list[float]:
    return [e.loss for e in events if isinstance(e, StepEvent)]


def test_trainer_snapshots_leave_the_run_unchanged():
    graph = example("digits_cnn", epochs=1, batch_size=128)
    plain = Trainer(compile_project(graph), TrainOptions(keep_predictions=False, max_steps=6)).run()
    control = RunControl()
    control.grads_every = 2
    control.graph_every = 3
    control.request_graph()
    events = Trainer(
        compile_project(graph), TrainOptions(keep_predictions=False, max_steps=6), control
    ).run()
    snaps = [e for e in events if isinstance(e, AutogradSnapshot)]
    assert [s.global_step for s in snaps] == [1, 2, 3, 4, 6]
    assert [s.graph is not None for s in snaps] == [True, False, True, False, True]
    assert _losses(events) == _losses(plain)  # same losses, bit for bit
    graph_snap = snaps[0]
    assert graph_snap.graph.step == 1
    assert graph_snap.graph.grads is graph_snap.grads
    assert {n.name for n in graph_snap.graph.nodes} >= {"ConvolutionBackward0", "NllLossBackward0"}
    assert all(p.grad_norm is not None for p in snaps[1].grads.params)


def test_capture_during_training_keeps_buffers_rng_and_grads():
    g = Graph({"model_name": "BNNet", "device": "cpu", "batch_size": 16})
    ids = {}

    def add(label, type_id, **params):
        ids[label] = g.add_node(type_id, params, label=label, pos=(len(ids) * 200, 0))

    add("digits", "data.Digits")
    add("conv", "nn.Conv2d", out_channels=4, padding=1)
    add("bn", "nn.BatchNorm2d")
    add("drop", "nn.Dropout", p=0.5)
    add("flatten", "nn.Flatten")
    add("head", "nn.Linear", out_features=10)
    add("loss", "loss.CrossEntropy")
    add("opt", "optim.SGD")
    for a, b in (("conv", "bn"), ("bn", "drop"), ("drop", "flatten"), ("flatten", "head")):
        g.connect(ids[a], "out", ids[b], "x")
    g.connect(ids["digits"], "x", ids["conv"], "x")
    g.connect(ids["head"], "out", ids["loss"], "input")
    g.connect(ids["digits"], "y", ids["loss"], "target")
    g.connect(ids["loss"], "loss", ids["opt"], "loss")
    project = compile_project(g)
    model = project.model.new()
    batch, _ = project_batch(project)
    loss, _, _ = project.fn("compute_loss")(model, project.fn("build_losses")(), batch, "cpu")
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    buffers = [b.clone() for b in model.buffers()]
    rng = torch.get_rng_state()
    captured = capture_during_training(project, model, batch, "cpu", step=5)
    assert captured.step == 5 and captured.grads.step == 5
    assert {"NativeBatchNormBackward0", "MulBackward0"} <= {n.name for n in captured.nodes}
    assert torch.equal(torch.get_rng_state(), rng)
    for b, before in zip(model.buffers(), buffers, strict=True):
        assert torch.equal(b, before)
    for p, before in zip(model.parameters(), grads, strict=True):
        assert torch.equal(p.grad, before)
    by_name = captured.grads.by_name()
    for name, p in model.named_parameters():
        assert by_name[name].grad_norm == pytest.approx(p.grad.norm().item(), rel=1e-6)


# ---------------------------------------------------------------------------- layout
def test_layout_puts_the_loss_on_top_and_parents_above_children():
    model = Residual()
    with Recorder(model) as rec:
        loss = model(torch.randn(3, 4)).sum()
    g = rec.graph(loss)
    sizes = [(100.0, 30.0)] * len(g.nodes)
    pos = layered(len(g.nodes), g.edges, sizes)
    root = g.roots[0]
    assert pos[root][1] == min(y for _, y in pos)
    for a, b in g.edges:
        assert pos[a][1] <= pos[b][1]
        if pos[a][1] == pos[b][1]:  # a parameter beside the function reading it
            assert g.nodes[b].kind == "leaf"
    rows: dict[float, list[float]] = {}
    for x, y in pos:
        rows.setdefault(y, []).append(x)
    for xs in rows.values():  # no overlaps inside a row
        xs.sort()
        assert all(b - a >= 100.0 for a, b in itertools.pairwise(xs))


def test_layout_tolerates_cycles_and_is_fast_on_big_graphs():
    order, back = acyclic_order(3, [(0, 1), (1, 2), (2, 0)])
    assert sorted(order) == [0, 1, 2] and len(back) == 1
    assert len(layered(3, [(0, 1), (1, 2), (2, 0)], [(10.0, 10.0)] * 3)) == 3
    # a long chain with side leaves and skips, ~6000 nodes
    n, edges = 0, []
    for i in range(2000):
        a, leaf1, leaf2 = 3 * i, 3 * i + 1, 3 * i + 2
        edges += [(a, leaf1), (a, leaf2), (a, a + 3)]
        if i % 5 == 0 and i >= 5:
            edges.append((a - 15, a))
        n = a + 4
    start = time.perf_counter()
    pos = layered(n, edges, [(120.0, 36.0)] * n)
    assert time.perf_counter() - start < 2.0
    assert len(pos) == n
