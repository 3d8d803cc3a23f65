"""Changing a node's type in place (``Graph.set_type``): checked first (kind, ports the wires
use), params kept where they fit, listeners told, replayed exactly by the edit recorder, and the
alternatives a node's wiring allows."""

from __future__ import annotations

import pytest

from torchcanvas.assets import assets_dir
from torchcanvas.graph import (
    AUTO,
    BlockError,
    Graph,
    NodeTypeError,
    PortError,
    UnknownNodeTypeError,
    load,
)
from torchcanvas.graph.edits import EditRecorder, apply_edits
from torchcanvas.graph.serialize import from_dict, to_dict

IRIS = assets_dir() / "examples" / "iris_mlp.json"  # n3 ReLU, n5 CrossEntropy, n6 Adam


@pytest.fixture
def iris() -> Graph:
    return load(IRIS)


def events(graph: Graph) -> list:
    seen: list = []
    graph.subscribe(seen.append)
    return seen


def test_set_type_keeps_the_node_and_the_params_that_fit(iris):
    iris.set_param("n6", "lr", 0.05)
    iris.set_param("n6", "weight_decay", 0.001)
    wires = iris.in_edges("n6") + iris.out_edges("n6")
    label, pos = iris.node("n6").label, iris.node("n6").pos
    seen = events(iris)
    iris.set_type("n6", "optim.SGD")
    node = iris.node("n6")
    assert node.type_id == "optim.SGD" and node.spec.title == "SGD"
    assert (node.label, node.pos) == (label, pos)
    assert iris.in_edges("n6") + iris.out_edges("n6") == wires
    # lr and weight_decay fit SGD and stay; betas, eps and amsgrad are Adam's only; momentum
    # and the rest take SGD's defaults
    assert node.params == {
        "lr": 0.05,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.001,
        "nesterov": False,
    }
    assert [(e.kind, e.node_id, e.old, e.new) for e in seen] == [
        ("type_changed", "n6", "optim.Adam", "optim.SGD")
    ]
    assert to_dict(iris)["nodes"]["n6"]["type"] == "optim.SGD"
    iris.set_type("n6", "optim.SGD")  # already that type: nothing happens
    assert len(seen) == 1


def test_a_value_the_new_type_refuses_takes_its_default():
    g = Graph()
    g.add_node("nn.Hardtanh", {"min_val": -3.0, "max_val": 3.0}, node_id="a")
    g.set_type("a", "nn.ELU")  # ELU has alpha, no min_val
    g.set_type("a", "nn.CELU")
    assert g.node("a").params["alpha"] == 1.0
    g.set_param("a", "alpha", 0.5)
    g.set_type("a", "nn.ELU")
    assert g.node("a").params["alpha"] == 0.5  # a valid value is kept
    g.add_node("nn.LeakyReLU", {"negative_slope": 0.2}, node_id="b")
    g.set_type("b", "nn.RReLU")  # RReLU's lower/upper have their own defaults
    assert g.node("b").params == g.node("b").spec.validate_params({}, "b")


def test_auto_params_stay_auto_and_set_ones_are_kept():
    g = Graph()
    g.add_node("nn.Conv1d", {"out_channels": 12, "kernel_size": 5}, node_id="c")
    g.set_type("c", "nn.Conv2d")
    params = g.node("c").params
    assert params["in_channels"] == AUTO
    assert params["out_channels"] == 12 and params["kernel_size"] == 5


def test_explicit_params_restore_a_type_exactly(iris):
    before = to_dict(iris)
    old = dict(iris.node("n6").params)
    iris.set_type("n6", "optim.RMSprop")
    iris.set_type("n6", "optim.Adam", old)
    assert to_dict(iris) == before


@pytest.mark.parametrize(
    ("node", "type_id", "error", "message"),
    [
        ("n6", "optim.Nope", UnknownNodeTypeError, "unknown node type 'optim.Nope' (node 'n6')"),
        ("n6", "nn.ReLU", NodeTypeError, "optimizer1: nn.ReLU is a layer, not an optimizer"),
        ("n3", "optim.SGD", NodeTypeError, "relu: optim.SGD is an optimizer, not a layer"),
        ("n3", "nn.Bilinear", PortError, "relu: nn.Bilinear has no input 'x' for the wire from"),
        ("n1", "data.CSV", None, ""),  # data sources share their x and y outputs
    ],
)
def test_a_type_that_does_not_fit_is_refused_naming_the_node(iris, node, type_id, error, message):
    before = to_dict(iris)
    seen = events(iris)
    if error is None:
        iris.set_type(node, type_id)
        assert iris.node(node).type_id == type_id
        return
    with pytest.raises(error) as info:
        iris.set_type(node, type_id)
    assert message in str(info.value)
    assert info.value.node_id == node
    assert to_dict(iris) == before and seen == []


def test_a_missing_output_port_is_refused():
    g = Graph()
    g.add_node("nn.LSTM", {"hidden_size": 8}, node_id="rnn")
    g.add_node("nn.Linear", {"out_features": 2}, node_id="fc")
    g.connect("rnn", "c", "fc", "x")  # the LSTM's cell state: a GRU has none
    with pytest.raises(PortError, match=r"nn\.GRU has no output 'c' for the wire to fc1") as info:
        g.set_type("rnn", "nn.GRU")
    assert (info.value.node_id, info.value.port) == ("rnn", "c")
    assert g.node("rnn").type_id == "nn.LSTM"
    assert g.type_alternatives("rnn") == ["nn.LSTM"]  # wired from c: nothing else fits


def test_placeholders_blocks_and_frozen_bodies_keep_their_type(iris):
    iris.add_placeholder("p", "future.Thing", "thing", {}, (0, 0), {"in": {"x"}})
    with pytest.raises(NodeTypeError, match=r"its type .* is unknown"):
        iris.set_type("p", "nn.ReLU")
    name = iris.collapse(["n2", "n3"], "Hidden")
    with pytest.raises(NodeTypeError, match="a block node keeps its type"):
        iris.set_type(name, "nn.ReLU")
    body = iris.block("Hidden").graph
    relu = next(n.id for n in body.nodes() if n.type_id == "nn.ReLU")
    with pytest.raises(BlockError, match="read-only"):
        body.set_type(relu, "nn.GELU")
    scratch = iris.scratch_body("Hidden")
    scratch.set_type(relu, "nn.GELU")
    iris.replace_block_def("Hidden", scratch)
    assert iris.block("Hidden").graph.node(relu).type_id == "nn.GELU"


def test_the_edit_recorder_replays_a_type_change(iris):
    copy = from_dict(to_dict(iris))
    recorder = EditRecorder(iris)
    recorder.take()  # the whole document, once
    iris.set_param("n6", "lr", 0.2)
    iris.set_type("n6", "optim.SGD")
    iris.set_param("n6", "momentum", 0.9)
    iris.set_type("n3", "nn.GELU")
    kind, ops = recorder.take()
    assert kind == "ops" and [op[0] for op in ops] == ["param", "type", "param", "type"]
    apply_edits(copy, ops)
    assert to_dict(copy) == to_dict(iris)


def test_type_alternatives_follow_the_palette_and_the_wiring(iris):
    acts = iris.type_alternatives("n3")
    assert acts[0] == "nn.ReLU"
    assert {"nn.GELU", "nn.Tanh", "nn.SiLU", "nn.LeakyReLU", "nn.ELU"} <= set(acts)
    assert "nn.Linear" not in acts  # another palette category
    optims = iris.type_alternatives("n6")
    assert optims[0] == "optim.Adam"
    assert {"optim.SGD", "optim.AdamW", "optim.RMSprop"} <= set(optims)
    assert not any(t.startswith("optim.lr_scheduler") for t in optims)
    # every alternative is accepted by set_type
    for type_id in acts + optims:
        trial = iris.copy()
        node = "n3" if type_id in acts else "n6"
        trial.set_type(node, type_id)
    iris.add_placeholder("p", "future.Thing", "thing", {}, (0, 0), {})
    assert iris.type_alternatives("p") == []


def test_incremental_shape_inference_follows_a_type_change(iris):
    """The shape process's inferencer re-runs a node that changed type and what it reaches."""
    from torchcanvas.runtime.shapes import ShapeInferencer

    inf = ShapeInferencer()
    inf.attach(iris)
    first = inf.infer(iris)
    assert first.ok and first.param_counts["n2"] == 4 * 16 + 16
    iris.set_type("n2", "nn.Identity")  # hidden Linear(4 → 16) becomes a pass-through
    again = inf.infer(iris)
    assert again.ok and again.param_counts.get("n2", 0) == 0
    assert "n2" in again.changed and "n4" in again.changed  # the classifier now takes 4
    assert again.resolved["n4"]["in_features"] == 4
