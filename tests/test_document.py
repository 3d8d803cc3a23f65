"""The document API: nodes, labels, params, ports, edges, cycles, listeners, order, settings."""

from __future__ import annotations

import itertools
import math

import pytest

from torchcanvas.graph import (
    AUTO,
    CATALOGUE,
    CycleError,
    Edge,
    Graph,
    GraphEvent,
    NodeNotFoundError,
    ParamError,
    PortError,
    PortTypeError,
    UnknownNodeTypeError,
    dumps,
)
from torchcanvas.graph.serialize import from_dict, to_dict


class Recorder:
    """A listener that keeps every event."""

    def __init__(self, graph: Graph):
        self.events: list[GraphEvent] = []
        graph.subscribe(self)

    def __call__(self, event: GraphEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def g() -> Graph:
    return Graph()


@pytest.fixture
def rec(g: Graph) -> Recorder:
    return Recorder(g)


class Unchanged:
    """Snapshot a graph; ``check()`` asserts nothing changed and no event fired since."""

    def __init__(self, graph: Graph, rec: Recorder):
        self.graph, self.rec = graph, rec
        self.text = dumps(graph)
        self.n_events = len(rec.events)

    def check(self) -> None:
        assert dumps(self.graph) == self.text
        assert self.rec.events[self.n_events :] == []


def chain(g: Graph, *type_ids: str) -> list[str]:
    """Add nodes and wire each ``out`` to the next ``x``."""
    ids = [g.add_node(t) for t in type_ids]
    for a, b in itertools.pairwise(ids):
        g.connect(a, "out", b, "x")
    return ids


# --------------------------------------------------------------------------- add_node, labels


def test_add_node_takes_spec_defaults(g):
    nid = g.add_node("nn.Linear")
    node = g.node(nid)
    assert nid == "n1"
    assert node.type_id == "nn.Linear"
    assert node.spec is CATALOGUE["nn.Linear"]
    assert node.params == CATALOGUE["nn.Linear"].default_params()
    assert node.params["in_features"] == AUTO and node.params["out_features"] == 10
    assert node.pos == (0.0, 0.0)
    assert not node.is_placeholder
    assert node.kind == "layer"


def test_add_node_params_override_defaults_and_are_normalised(g):
    nid = g.add_node(
        "nn.Conv2d", {"out_channels": 32, "kernel_size": [5, 5], "stride": 2.0}, pos=(3, 4)
    )
    node = g.node(nid)
    assert node.params["out_channels"] == 32
    assert node.params["kernel_size"] == [5, 5]
    assert node.params["stride"] == 2 and type(node.params["stride"]) is int
    assert node.params["padding"] == 0 and node.params["padding_mode"] == "zeros"
    assert node.pos == (3.0, 4.0)


def test_add_node_copies_list_params_and_defaults(g):
    betas = [0.5, 0.6]
    a = g.add_node("optim.Adam", {"betas": betas})
    b = g.add_node("optim.Adam")
    betas.append(0.7)
    g.node(b).params["betas"].append(1.0)
    assert g.node(a).params["betas"] == [0.5, 0.6]
    # the catalogue's shared default list was not touched
    assert CATALOGUE["optim.Adam"].param("betas").default == [0.9, 0.999]
    assert g.node(g.add_node("optim.Adam")).params["betas"] == [0.9, 0.999]


def test_labels_are_unique_per_label_base(g):
    fc1, fc2 = g.add_node("nn.Linear"), g.add_node("nn.Linear")
    conv = g.add_node("nn.Conv2d")
    assert [g.node(n).label for n in (fc1, fc2, conv)] == ["fc1", "fc2", "conv1"]
    g.remove_node(fc1)
    # the smallest free number is reused
    assert g.node(g.add_node("nn.Linear")).label == "fc1"
    assert g.node(g.add_node("nn.Linear")).label == "fc3"


@pytest.mark.parametrize(
    "type_id",
    [
        "nn.Linear",
        "nn.Conv2d",
        "nn.ReLU",
        "nn.Flatten",
        "nn.MaxPool2d",
        "nn.LSTM",
        "nn.Softmax",
        "op.add",
        "op.concat",
        "loss.MSE",
        "loss.CrossEntropy",
        "optim.SGD",
        "optim.Adam",
        "sched.StepLR",
        "sched.OneCycleLR",
        "clip.GradNorm",
    ],
)
def test_default_label_comes_from_label_base(g, type_id):
    spec = CATALOGUE[type_id]
    nid = g.add_node(type_id)
    assert g.node(nid).label == f"{spec.label_base}1"
    assert g.node(g.add_node(type_id)).label == f"{spec.label_base}2"


def test_explicit_label_is_kept_and_stripped(g):
    nid = g.add_node("nn.Linear", label="  head  ")
    assert g.node(nid).label == "head"
    # a taken explicit label does not confuse the automatic ones
    g.add_node("nn.Linear", label="fc1")
    assert g.node(g.add_node("nn.Linear")).label == "fc2"


@pytest.mark.parametrize("label", ["", "   ", 5, None, "x" * 81, "bad\ud800"])
def test_bad_label_is_refused_and_changes_nothing(g, rec, label):
    if label is None:  # None means "pick one" for add_node; test set_label instead
        nid = g.add_node("nn.Linear")
        snap = Unchanged(g, rec)
        with pytest.raises(ParamError) as info:
            g.set_label(nid, label)
    else:
        snap = Unchanged(g, rec)
        with pytest.raises(ParamError) as info:
            g.add_node("nn.Linear", label=label)
        assert len(g) == 0
    assert info.value.name == "label"
    snap.check()


def test_unknown_type_raises_and_changes_nothing(g, rec):
    snap = Unchanged(g, rec)
    with pytest.raises(UnknownNodeTypeError) as info:
        g.add_node("nn.NoSuchLayer")
    assert info.value.type_id == "nn.NoSuchLayer"
    assert "nn.NoSuchLayer" in str(info.value)
    snap.check()
    assert g.add_node("nn.ReLU") == "n1"


@pytest.mark.parametrize(
    ("type_id", "params", "name", "allowed"),
    [
        ("nn.Linear", {"out_features": 0}, "out_features", "≥ 1"),
        ("nn.Linear", {"out_features": -5}, "out_features", "≥ 1"),
        ("nn.Linear", {"out_features": 2.5}, "out_features", "whole number"),
        ("nn.Linear", {"out_features": True}, "out_features", "whole number"),
        ("nn.Linear", {"out_features": "10"}, "out_features", "whole number"),
        ("nn.Linear", {"out_features": 2**70}, "out_features", "too large"),
        ("nn.Linear", {"in_features": "automatic"}, "in_features", "whole number"),
        ("nn.Linear", {"bias": 1}, "bias", "true or false"),
        ("nn.Linear", {"bias": "yes"}, "bias", "true or false"),
        ("nn.Linear", {"colour": "red"}, "colour", "no parameter"),
        ("nn.Conv2d", {"kernel_size": [3]}, "kernel_size", "expected 2 values, got 1"),
        ("nn.Conv2d", {"kernel_size": [3, 3, 3]}, "kernel_size", "expected 2 values"),
        ("nn.Conv2d", {"kernel_size": [3, 0]}, "kernel_size", "≥ 1"),
        ("nn.Conv2d", {"padding": -1}, "padding", "≥ 0"),
        ("nn.Conv2d", {"padding_mode": "mirror"}, "padding_mode", "'zeros'"),
        ("nn.Conv2d", {"padding_mode": None}, "padding_mode", "required"),
        ("nn.LSTM", {"dropout": 1.5}, "dropout", "≤ 1"),
        ("nn.LSTM", {"output": "all"}, "output", "'sequence'"),
        ("nn.Flatten", {"start_dim": "1"}, "start_dim", "whole number"),
        ("optim.SGD", {"lr": 0}, "lr", "> 0"),
        ("optim.SGD", {"lr": float("nan")}, "lr", "finite"),
        ("optim.SGD", {"lr": float("inf")}, "lr", "finite"),
        ("optim.SGD", {"lr": 10**400}, "lr", "finite"),
        ("optim.SGD", {"lr": "fast"}, "lr", "a number"),
        ("optim.Adam", {"betas": [0.9, 1.5]}, "betas", "≤ 1"),
        ("optim.Adam", {"betas": [0.9]}, "betas", "expected 2 values"),
        ("optim.Adam", {"betas": 0.9}, "betas", "a list"),
        ("loss.CrossEntropy", {"reduction": "avg"}, "reduction", "'mean'"),
        ("loss.CrossEntropy", {"label_smoothing": -0.1}, "label_smoothing", "≥ 0"),
        ("sched.OneCycleLR", {"anneal_strategy": "step"}, "anneal_strategy", "'cos'"),
        ("clip.GradNorm", {"max_norm": 0.0}, "max_norm", "> 0"),
    ],
)
def test_bad_param_names_param_and_range_and_changes_nothing(
    g, rec, type_id, params, name, allowed
):
    g.add_node("nn.ReLU")
    snap = Unchanged(g, rec)
    with pytest.raises(ParamError) as info:
        g.add_node(type_id, params)
    err = info.value
    assert err.name == name
    assert name in str(err)
    assert allowed in str(err)
    assert isinstance(err, ValueError)
    snap.check()
    # a refused add does not even use up an id
    assert g.add_node("nn.ReLU") == "n2"


def test_bool_is_not_accepted_as_int_and_int_not_as_bool(g):
    with pytest.raises(ParamError, match="whole number"):
        g.add_node("nn.Linear", {"out_features": False})
    with pytest.raises(ParamError, match="true or false"):
        g.add_node("nn.Linear", {"bias": 0})


def test_choice_must_match_type_as_well_as_value(g):
    with pytest.raises(ParamError, match="padding_mode"):
        g.add_node("nn.Conv2d", {"padding_mode": ["zeros"]})


def test_optional_param_accepts_none(g):
    assert g.node(g.add_node("nn.MaxPool2d")).params["stride"] is None
    nid = g.add_node("nn.MaxPool2d", {"stride": [2, 1]})
    g.set_param(nid, "stride", None)
    assert g.node(nid).params["stride"] is None


def test_auto_only_where_allowed(g):
    nid = g.add_node("nn.Linear", {"in_features": "auto"})
    assert g.node(nid).params["in_features"] == AUTO
    # out_features may follow the data (one score per class or token); out_channels may not
    assert g.node(g.add_node("nn.Linear", {"out_features": "auto"})).params["out_features"] == AUTO
    with pytest.raises(ParamError, match="out_channels"):
        g.add_node("nn.Conv2d", {"out_channels": "auto"})


def test_add_node_with_explicit_id(g):
    assert g.add_node("nn.ReLU", node_id="n7") == "n7"
    # new ids continue after the largest numbered one
    assert g.add_node("nn.ReLU") == "n8"
    with pytest.raises(ValueError, match="already used"):
        g.add_node("nn.ReLU", node_id="n7")
    for bad in ("has space", "x" * 65, "é", "n1\n"):
        with pytest.raises(ValueError, match="node id"):
            g.add_node("nn.ReLU", node_id=bad)
    assert g.node_ids() == ["n7", "n8"]


def test_node_lookup_errors(g):
    with pytest.raises(NodeNotFoundError) as info:
        g.node("n1")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no node with id 'n1'"
    for call in (
        lambda: g.remove_node("n1"),
        lambda: g.set_param("n1", "x", 1),
        lambda: g.set_label("n1", "a"),
        lambda: g.in_edges("n1"),
    ):
        with pytest.raises(NodeNotFoundError):
            call()


# --------------------------------------------------------------------------- set_param & co


def test_set_param_emits_old_and_new(g, rec):
    nid = g.add_node("nn.Linear")
    rec.clear()
    g.set_param(nid, "out_features", 32)
    assert rec.events == [GraphEvent("param_changed", nid, name="out_features", old=10, new=32)]
    assert g.node(nid).params["out_features"] == 32


def test_set_param_same_value_is_silent(g, rec):
    nid = g.add_node("optim.SGD")
    rec.clear()
    g.set_param(nid, "lr", 0.001)
    g.set_param(nid, "nesterov", False)
    assert rec.events == []


def test_set_param_normalises_int_to_float(g, rec):
    nid = g.add_node("optim.SGD")
    rec.clear()
    g.set_param(nid, "lr", 1)
    value = g.node(nid).params["lr"]
    assert value == 1.0 and type(value) is float
    assert rec.events[0].new == 1.0 and type(rec.events[0].new) is float


def test_set_param_list_is_copied(g):
    nid = g.add_node("nn.Conv2d")
    size = [5, 5]
    g.set_param(nid, "kernel_size", size)
    size[0] = 99
    assert g.node(nid).params["kernel_size"] == [5, 5]


@pytest.mark.parametrize(
    ("name", "value"), [("out_features", 0), ("bias", 1), ("nope", 3), ("out_features", None)]
)
def test_refused_set_param_changes_nothing(g, rec, name, value):
    nid = g.add_node("nn.Linear")
    snap = Unchanged(g, rec)
    with pytest.raises(ParamError) as info:
        g.set_param(nid, name, value)
    assert info.value.name == name
    snap.check()


def test_a_label_another_node_has_is_refused_and_the_old_one_kept(g, rec):
    fc = g.add_node("nn.Linear")
    relu = g.add_node("nn.ReLU")
    rec.clear()
    with pytest.raises(ParamError) as info:
        g.set_label(relu, " fc1 ")
    assert str(info.value) == (
        "label: 'fc1' is already the label of another node (Linear); each node needs its own label"
    )
    assert g.node(relu).label == "relu1" and g.node(fc).label == "fc1" and rec.events == []
    g.set_label(fc, "fc1")  # its own label: no change, no refusal
    # restoring a label exactly as it was (undo) may meet a twin a project file held
    g.set_label(relu, "fc1", allow_duplicate=True)
    assert g.node(relu).label == "fc1"


@pytest.mark.parametrize("label", ["fc\n1", "fc\t1", "fc1\r", "a\u2028b", "x\x00"])
def test_a_label_with_tabs_or_line_breaks_is_refused_on_rename(g, label):
    nid = g.add_node("nn.Linear")
    with pytest.raises(ParamError) as info:
        g.set_label(nid, label)
    assert "one line of text" in str(info.value)
    assert g.node(nid).label == "fc1"


def test_a_file_label_with_line_breaks_loads_on_one_line():
    g = Graph()
    nid = g.add_node("nn.Linear")
    data = to_dict(g)
    data["nodes"][nid]["label"] = "first\n\tlayer"
    loaded = from_dict(data)
    assert loaded.node(nid).label == "first layer"


def test_set_label_and_position(g, rec):
    nid = g.add_node("nn.Linear")
    rec.clear()
    g.set_label(nid, " encoder ")
    g.set_label(nid, "encoder")  # same: silent
    g.set_position(nid, (10, 20.5))
    g.set_position(nid, (10.0, 20.5))  # same: silent
    assert rec.events == [
        GraphEvent("label_changed", nid, old="fc1", new="encoder"),
        GraphEvent("node_moved", nid, old=(0.0, 0.0), new=(10.0, 20.5)),
    ]
    assert g.node(nid).label == "encoder"
    assert g.node(nid).pos == (10.0, 20.5)


@pytest.mark.parametrize("pos", [(math.nan, 0), (0, math.inf), (10**400, 0), ("a", 0)])
def test_position_must_be_finite(g, rec, pos):
    nid = g.add_node("nn.Linear")
    snap = Unchanged(g, rec)
    with pytest.raises(ParamError, match="pos"):
        g.set_position(nid, pos)
    with pytest.raises(ParamError, match="pos"):
        g.add_node("nn.Linear", pos=pos)
    snap.check()
    assert g.add_node("nn.ReLU") == "n2"


# --------------------------------------------------------------------------- connect


def test_connect_and_disconnect(g, rec):
    a, b = g.add_node("nn.Linear"), g.add_node("nn.ReLU")
    rec.clear()
    edge = g.connect(a, "out", b, "x")
    assert edge == Edge(a, "out", b, "x")
    assert g.edges() == [edge]
    assert g.has_edge(edge)
    assert g.out_edges(a) == [edge] and g.in_edges(b) == [edge]
    assert g.in_edges(a) == [] and g.out_edges(b) == []
    assert g.input_edge(b, "x") == edge
    assert rec.events == [GraphEvent("edge_added", b, edge=edge)]

    rec.clear()
    g.disconnect(edge)
    assert g.edges() == [] and not g.has_edge(edge)
    assert g.input_edge(b, "x") is None
    assert rec.events == [GraphEvent("edge_removed", b, edge=edge)]
    snap = Unchanged(g, rec)
    with pytest.raises(PortError, match="no such wire"):
        g.disconnect(edge)
    snap.check()


def test_one_output_feeds_many_inputs(g):
    a = g.add_node("nn.Linear")
    b, c = g.add_node("nn.ReLU"), g.add_node("nn.ReLU")
    g.connect(a, "out", b, "x")
    g.connect(a, "out", c, "x")
    assert len(g.out_edges(a)) == 2


@pytest.mark.parametrize(
    ("src_type", "src_port", "dst_type", "dst_port"),
    [
        ("loss.MSE", "loss", "nn.Linear", "x"),  # loss -> tensor
        ("nn.Linear", "out", "optim.SGD", "loss"),  # tensor -> loss
        ("optim.Adam", "optimizer", "nn.ReLU", "x"),  # optimizer -> tensor
        ("loss.MSE", "loss", "sched.StepLR", "optimizer"),  # loss -> optimizer
        ("nn.Linear", "out", "clip.GradNorm", "optimizer"),  # tensor -> optimizer
    ],
)
def test_port_kind_mismatch_raises_port_type_error(g, rec, src_type, src_port, dst_type, dst_port):
    a, b = g.add_node(src_type), g.add_node(dst_type)
    snap = Unchanged(g, rec)
    with pytest.raises(PortTypeError) as info:
        g.connect(a, src_port, b, dst_port)
    assert info.value.node_id == b and info.value.port == dst_port
    assert not g.can_connect(a, src_port, b, dst_port)
    snap.check()


def test_missing_port_is_a_port_error_not_a_type_error(g, rec):
    a, b = g.add_node("nn.Linear"), g.add_node("nn.ReLU")
    snap = Unchanged(g, rec)
    with pytest.raises(PortError, match="no output 'y'") as info:
        g.connect(a, "y", b, "x")
    assert not isinstance(info.value, PortTypeError)
    assert (info.value.node_id, info.value.port) == (a, "y")
    with pytest.raises(PortError, match="no input 'input'") as info:
        g.connect(a, "out", b, "input")
    assert (info.value.node_id, info.value.port) == (b, "input")
    with pytest.raises(NodeNotFoundError):
        g.connect(a, "out", "n99", "x")
    assert not g.can_connect(a, "out", "n99", "x")
    snap.check()


def test_single_input_port_takes_one_edge(g, rec):
    a, b, c = g.add_node("nn.Linear"), g.add_node("nn.Linear"), g.add_node("nn.ReLU")
    g.connect(a, "out", c, "x")
    snap = Unchanged(g, rec)
    assert not g.can_connect(b, "out", c, "x")
    with pytest.raises(PortError, match="already has an input"):
        g.connect(b, "out", c, "x")
    snap.check()


def test_the_same_edge_twice_is_refused(g, rec):
    a, b = g.add_node("loss.MSE"), g.add_node("optim.SGD")
    g.connect(a, "loss", b, "loss")
    snap = Unchanged(g, rec)
    with pytest.raises(PortError, match="already wired"):
        g.connect(a, "loss", b, "loss")
    snap.check()


def test_multi_port_accepts_several_losses(g):
    l1, l2 = g.add_node("loss.MSE"), g.add_node("loss.CrossEntropy")
    opt = g.add_node("optim.SGD")
    e1 = g.connect(l1, "loss", opt, "loss")
    e2 = g.connect(l2, "loss", opt, "loss")
    assert g.in_edges(opt) == sorted([e1, e2])


def test_ops_have_several_inputs(g):
    a, b, c = g.add_node("nn.Linear"), g.add_node("nn.Linear"), g.add_node("nn.Linear")
    add = g.add_node("op.add")
    for src, port in ((a, "a"), (b, "b"), (c, "c")):
        g.connect(src, "out", add, port)
    assert [e.dst_port for e in g.in_edges(add)] == ["a", "b", "c"]
    with pytest.raises(PortError):
        g.connect(a, "out", add, "e")


def test_cycle_is_refused(g, rec):
    a, b, c = chain(g, "nn.Linear", "nn.ReLU", "nn.Linear")
    snap = Unchanged(g, rec)
    with pytest.raises(CycleError) as info:
        g.connect(c, "out", a, "x")
    assert (info.value.src, info.value.dst) == (c, a)
    assert not g.can_connect(c, "out", a, "x")
    snap.check()
    # a diamond is not a cycle
    add = g.add_node("op.add")
    g.connect(a, "out", add, "a")
    g.connect(c, "out", add, "b")
    assert g.topological_order() == [a, b, c, add]


def test_self_loop_is_a_cycle(g, rec):
    a = g.add_node("op.add")
    snap = Unchanged(g, rec)
    with pytest.raises(CycleError):
        g.connect(a, "out", a, "a")
    assert not g.can_connect(a, "out", a, "b")
    snap.check()


def test_cycle_through_loss_and_optimizer_kinds(g):
    # a placeholder could otherwise close a loop through non-tensor ports
    loss = g.add_node("loss.MSE")
    opt = g.add_node("optim.SGD")
    g.connect(loss, "loss", opt, "loss")
    g.add_placeholder("p1", "future.Thing", "thing", {}, (0, 0), {"in": {"opt"}, "out": {"out"}})
    g.connect(opt, "optimizer", "p1", "opt")
    with pytest.raises(CycleError):
        g.connect("p1", "out", loss, "input")


# --------------------------------------------------------------------------- remove


def test_remove_node_returns_and_removes_its_edges(g, rec):
    a, b, c = chain(g, "nn.Linear", "nn.ReLU", "nn.Linear")
    loss = g.add_node("loss.MSE")
    g.connect(c, "out", loss, "input")
    g.connect(a, "out", loss, "target")
    rec.clear()
    removed = g.remove_node(c)
    assert sorted(removed) == sorted([Edge(b, "out", c, "x"), Edge(c, "out", loss, "input")])
    assert c not in g and len(g) == 3
    assert g.edges() == [Edge(a, "out", b, "x"), Edge(a, "out", loss, "target")]
    assert rec.kinds() == ["edge_removed", "edge_removed", "node_removed"]
    assert {e.edge for e in rec.events[:2]} == set(removed)
    assert rec.events[2] == GraphEvent("node_removed", c)


def test_remove_then_restore_is_an_undo(g):
    a, b, c = chain(g, "nn.Linear", "nn.ReLU", "nn.Linear")
    g.set_param(b, "inplace", True)
    before = dumps(g)
    node = g.node(b)
    removed = g.remove_node(b)
    g.add_node(node.type_id, node.params, label=node.label, pos=node.pos, node_id=node.id)
    for e in removed:
        g.connect(e.src, e.src_port, e.dst, e.dst_port)
    assert dumps(g) == before
    assert g.topological_order() == [a, b, c]


# --------------------------------------------------------------------------- listeners


def test_every_mutation_notifies(g, rec):
    a = g.add_node("nn.Linear")
    b = g.add_node("nn.ReLU")
    e = g.connect(a, "out", b, "x")
    g.set_param(a, "bias", False)
    g.set_label(a, "head")
    g.set_position(a, (1, 2))
    g.set_setting("epochs", 3)
    g.disconnect(e)
    g.remove_node(b)
    assert rec.events == [
        GraphEvent("node_added", a),
        GraphEvent("node_added", b),
        GraphEvent("edge_added", b, edge=e),
        GraphEvent("param_changed", a, name="bias", old=True, new=False),
        GraphEvent("label_changed", a, old="fc1", new="head"),
        GraphEvent("node_moved", a, old=(0.0, 0.0), new=(1.0, 2.0)),
        GraphEvent("settings_changed", name="epochs", old=10, new=3),
        GraphEvent("edge_removed", b, edge=e),
        GraphEvent("node_removed", b),
    ]


def test_listener_sees_the_state_after_the_change(g):
    seen = []
    g.subscribe(lambda ev: seen.append((ev.kind, ev.node_id in g, len(g.edges()))))
    a, b = g.add_node("nn.Linear"), g.add_node("nn.ReLU")
    g.connect(a, "out", b, "x")
    g.remove_node(b)
    assert seen == [
        ("node_added", True, 0),
        ("node_added", True, 0),
        ("edge_added", True, 1),
        ("edge_removed", True, 0),
        ("node_removed", False, 0),
    ]


def test_unsubscribe(g):
    rec = Recorder(g)
    g.add_node("nn.ReLU")
    g.unsubscribe(rec)
    g.add_node("nn.ReLU")
    assert rec.kinds() == ["node_added"]


def test_copy_is_deep_and_has_no_listeners(g, rec):
    a, b = chain(g, "nn.Linear", "nn.ReLU")
    g.set_setting("model_name", "Tiny")
    dup = g.copy()
    rec.clear()
    assert dumps(dup) == dumps(g)
    dup.set_param(a, "out_features", 3)
    dup.remove_node(b)
    dup.set_setting("epochs", 1)
    assert rec.events == []
    assert g.node(a).params["out_features"] == 10
    assert b in g and g.settings["epochs"] == 10


# --------------------------------------------------------------------------- order


def test_topological_order_breaks_ties_by_numeric_id(g):
    ids = [g.add_node("nn.ReLU") for _ in range(12)]
    assert g.topological_order() == ids  # n1, n2, ..., n10, n11, n12: n2 before n10
    assert g.node_ids() == ids
    assert [n.id for n in g.nodes()] == ids


def test_topological_order_follows_edges_then_ids(g):
    for i in (10, 2, 3, 1):
        g.add_node("nn.ReLU", node_id=f"n{i}")
    g.connect("n10", "out", "n2", "x")
    g.connect("n3", "out", "n1", "x")
    # n10 must precede n2; among the free ones the smallest id goes first
    assert g.topological_order() == ["n3", "n1", "n10", "n2"]
    assert g.topological_order({"n1", "n2", "n10"}) == ["n1", "n10", "n2"]


def test_topological_order_does_not_depend_on_insertion_order():
    def build(order):
        graph = Graph()
        for i in order:
            graph.add_node("op.add", node_id=f"n{i}")
        for src, dst, port in (
            (1, 5, "a"),
            (2, 5, "b"),
            (5, 12, "a"),
            (3, 12, "b"),
            (12, 20, "a"),
            (4, 20, "b"),
        ):
            graph.connect(f"n{src}", "out", f"n{dst}", port)
        return graph

    orders = [[1, 2, 3, 4, 5, 12, 20], [20, 12, 5, 4, 3, 2, 1], [5, 1, 20, 3, 12, 2, 4]]
    results = {tuple(build(o).topological_order()) for o in orders}
    assert results == {("n1", "n2", "n3", "n4", "n5", "n12", "n20")}


def test_ancestors_and_descendants(g):
    a, b, c = chain(g, "nn.Linear", "nn.ReLU", "nn.Linear")
    assert g.ancestors(c) == {a, b}
    assert g.descendants(a) == {b, c}


# --------------------------------------------------------------------------- settings


def test_default_settings(g):
    expected = {
        "epochs": 10,
        "batch_size": 64,
        "seed": 0,
        "device": "auto",
        "val_split": 0.2,
        "model_name": "Net",
        "log_every": 10,
        "num_workers": 0,
    }
    assert {k: g.settings[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("device", "cuda:1"),
        ("device", "cpu"),
        ("device", "cuda"),
        ("device", "mps"),
        ("model_name", "DigitsCNN"),
        ("epochs", 1),
        ("val_split", 0),
        ("seed", 2**32 - 1),
    ],
)
def test_set_setting_accepts(g, rec, name, value):
    g.set_setting(name, value)
    assert g.settings[name] == value
    old = Graph().settings[name]
    assert rec.events == [GraphEvent("settings_changed", name=name, old=old, new=value)]


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("device", "gpu", "'gpu' is not a device"),
        ("device", "cuda:", "not a device"),
        ("device", "cpu\n", "not a device"),
        ("device", "cuda:\u0663", "not a device"),  # an Arabic-Indic digit
        ("device", 0, "text"),
        ("model_name", "net", "class name"),
        ("model_name", "2Net", "class name"),
        ("model_name", "My Net", "class name"),
        ("model_name", "None", "class name"),
        ("model_name", "True", "class name"),
        ("model_name", "", "class name"),
        ("epochs", 0, "≥ 1"),
        ("epochs", 1.5, "whole number"),
        ("val_split", 0.95, "≤ 0.9"),
        ("seed", -1, "≥ 0"),
        ("learning_rate", 0.1, "no such training setting"),
    ],
)
def test_set_setting_refuses_naming_the_setting(g, rec, name, value, fragment):
    snap = Unchanged(g, rec)
    with pytest.raises(ParamError) as info:
        g.set_setting(name, value)
    assert info.value.name == name
    assert fragment in str(info.value)
    snap.check()


def test_graph_settings_are_validated_on_construction():
    assert Graph({"epochs": 5}).settings["epochs"] == 5
    with pytest.raises(ParamError, match="device"):
        Graph({"device": "tpu"})


# --------------------------------------------------------------------------- placeholders


def test_placeholder_ports_accept_any_kind_and_several_wires(g):
    g.add_placeholder(
        "p1",
        "loss.Future",
        "future",
        {"k": [1, {"a": None}]},
        (1, 2),
        {"in": {"input"}, "out": {"loss"}},
    )
    node = g.node("p1")
    assert node.is_placeholder and node.kind == "unknown"
    assert [p.name for p in g.input_ports("p1")] == ["input"]
    assert [p.name for p in g.output_ports("p1")] == ["loss"]
    a, b = g.add_node("nn.Linear"), g.add_node("nn.Linear")
    g.connect(a, "out", "p1", "input")
    g.connect(b, "out", "p1", "input")
    opt = g.add_node("optim.SGD")
    g.connect("p1", "loss", opt, "loss")  # a placeholder's kind is unknown: allowed
    assert len(g.edges()) == 3
    with pytest.raises(PortError, match="no input"):
        g.connect(a, "out", "p1", "other")
    with pytest.raises(ParamError, match="unknown"):
        g.set_param("p1", "k", 1)


def test_edges_with_arrow_like_port_names_stay_distinct(g):
    g.add_placeholder("p1", "x.A", "a", {}, (0, 0), {"out": {"a->b", "a"}})
    g.add_placeholder("p2", "x.B", "b", {}, (0, 0), {"in": {"c", "b->c"}})
    e1 = g.connect("p1", "a->b", "p2", "c")
    e2 = g.connect("p1", "a", "p2", "b->c")
    assert g.edges() == sorted([e1, e2])
    g.disconnect(e1)
    assert g.edges() == [e2]
    assert not g.has_edge(e1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("path", "data\ud800.csv"),
        ("target_column", "\udfff"),
        ("feature_columns", ["a", "b\ud800"]),
    ],
)
def test_text_params_must_be_saveable_unicode(g, rec, name, value):
    nid = g.add_node("data.CSV")
    snap = Unchanged(g, rec)
    with pytest.raises(ParamError, match="lone surrogate") as info:
        g.set_param(nid, name, value)
    assert info.value.name == name
    snap.check()
    g.set_param(nid, name, ["ünï ☃"] if isinstance(value, list) else "ünï ☃.csv")
    dumps(g).encode("utf-8")


def test_restore_refreshes_the_cached_topological_order(g):
    a = g.add_node("nn.ReLU")
    b = g.add_node("nn.ReLU")
    g.connect(a, "out", b, "x")
    before = g.snapshot()
    assert g.topological_order() == [a, b]
    c = g.add_node("nn.ReLU")
    g.connect(b, "out", c, "x")
    after = g.snapshot()
    g.restore(before)
    assert g.topological_order() == [a, b]  # cached for this structure
    g.restore(after)  # a 3-node graph: the cached 2-node order must not survive
    assert g.topological_order() == [a, b, c]
    assert g.in_edges(c) == [Edge(b, "out", c, "x")]
    g.restore(before)
    assert g.topological_order() == [a, b]
    assert g.out_edges(b) == []


def test_nodes_of_kind_follow_adds_removals_and_restores(g):
    relu = g.add_node("nn.ReLU")
    loss = g.add_node("loss.MSE")
    assert [n.id for n in g.nodes_of_kind("layer")] == [relu]
    before = g.snapshot()
    more = [g.add_node("nn.Linear", {"in_features": 2, "out_features": 3}) for _ in range(11)]
    assert [n.id for n in g.nodes_of_kind("layer")] == sorted(
        [relu, *more], key=lambda i: int(i.lstrip("n"))
    )  # natural id order: n2 before n10
    assert [n.id for n in g.nodes_of_kind("loss", "layer")] == [
        n.id for n in g.nodes() if n.id in {relu, loss, *more}
    ]
    g.remove_node(more[0])
    assert more[0] not in [n.id for n in g.nodes_of_kind("layer")]
    g.restore(before)
    assert [n.id for n in g.nodes_of_kind("layer")] == [relu]
    assert [n.id for n in g.nodes_of_kind("loss")] == [loss]
    g.nodes_of_kind("layer").clear()  # a copy: the index is not the caller's to change
    assert [n.id for n in g.nodes_of_kind("layer")] == [relu]
