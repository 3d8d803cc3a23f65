"""Fuzzing the project loader: whatever a file holds, loading either refuses it with
``InvalidProjectError`` (which includes ``UnsupportedVersionError``) or gives a graph that saves
and reloads to the same text. Any other exception is a bug."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from torchcanvas.graph import (
    CATALOGUE,
    CycleError,
    Graph,
    InvalidProjectError,
    ParamError,
    PortError,
    dumps,
    loads,
)
from torchcanvas.graph.serialize import from_dict, to_dict
from torchcanvas.graph.settings import SETTINGS

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(make) -> Graph | None:
    """Run a loader call; only InvalidProjectError may escape, and a graph must round-trip."""
    try:
        graph = make()
    except InvalidProjectError as exc:
        assert exc.path is not None
        str(exc).encode("utf-8")  # the message can be shown anywhere
        note_outcome(f"refused at {exc.path.split('.')[0].split('[')[0] or '<root>'}")
        return None
    note_outcome("accepted")
    text = dumps(graph)
    text.encode("utf-8")  # save() writes UTF-8: every accepted string must encode
    again = loads(text)
    assert dumps(again) == text
    assert again.topological_order() == graph.topological_order()
    return graph


def note_outcome(what: str) -> None:
    """Count outcomes (see ``pytest --hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(what)


# --------------------------------------------------------------------------- strategies

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=12,
)
FINITE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=12,
)

TYPE_IDS = sorted(CATALOGUE)
PARAM_NAMES = sorted({p.name for spec in CATALOGUE.values() for p in spec.params})
PORT_NAMES = sorted({p.name for spec in CATALOGUE.values() for p in (*spec.inputs, *spec.outputs)})
CHOICES = sorted(
    {c for spec in CATALOGUE.values() for p in spec.params for c in p.choices if isinstance(c, str)}
)
IDS = ["n1", "n2", "n3", "n10", "a", "b-1"]

SPECIAL = st.sampled_from(
    [
        0,
        -1,
        1,
        2,
        -(2**63),
        2**63,
        10**30,
        10**400,
        -(10**400),
        1e308,
        -1e308,
        1e-320,
        0.5,
        float("inf"),
        float("-inf"),
        float("nan"),
        True,
        False,
        None,
        "",
        " ",
        "auto",
        "x" * 200,
        "☃" * 81,
        "\ud800",
        "a\udfffb",
        "\x00",
        "\n",
        "ünï",
        "n1",
        "out",
        "x",
        "loss",
        [],
        {},
        [3],
        [3, 3],
        [3, 3, 3],
        [0.9, 0.999],
        ["a"],
        {"a": 1},
    ]
)
HUGE = st.sampled_from([10**400, -(10**400), 2**64, -(2**64), 1e308, -1e308, 5e-324])
DEEP = st.integers(1, 60).map(lambda n: json.loads("[" * n + "1" + "]" * n))
VALUE = JSON | SPECIAL | DEEP | st.sampled_from(CHOICES) | st.lists(st.integers(-3, 70), max_size=4)


def mostly(right):
    """``right`` nine times in ten, else any value."""
    return st.integers(0, 9).flatmap(lambda i: VALUE if i == 0 else st.just(right))


NODE_ID = st.sampled_from(IDS) | st.text(max_size=8)
PORT = st.sampled_from(PORT_NAMES) | st.text(max_size=6)
NODE = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(TYPE_IDS) | st.sampled_from(["x.Future", "", "nn."]) | VALUE,
        "label": st.text(max_size=10) | VALUE,
        "params": st.dictionaries(
            st.sampled_from(PARAM_NAMES) | st.text(max_size=5), VALUE, max_size=4
        )
        | VALUE,
        "pos": st.lists(st.integers() | st.floats(), min_size=0, max_size=3) | VALUE,
    },
)
EDGE = (
    st.fixed_dictionaries(
        {"from": st.tuples(NODE_ID, PORT).map(list), "to": st.tuples(NODE_ID, PORT).map(list)}
    )
    | VALUE
)
PROJECT = st.fixed_dictionaries(
    # mostly a right header, so the fuzzing reaches the nodes and edges
    {"format": mostly("torchcanvas"), "version": mostly(1)},
    optional={
        "nodes": st.dictionaries(NODE_ID, NODE, max_size=5) | VALUE,
        "edges": st.lists(EDGE, max_size=6) | VALUE,
        "settings": st.dictionaries(
            st.sampled_from(sorted(SETTINGS)) | st.text(max_size=5), VALUE, max_size=4
        )
        | VALUE,
    },
)


# --------------------------------------------------------------------------- (a) random values


@FUZZ
@given(JSON)
def test_random_json_values_via_from_dict(value):
    check(lambda: from_dict(value))


@FUZZ
@given(JSON)
def test_random_json_text_via_loads(value):
    text = json.dumps(value)  # NaN/Infinity become the literals loads refuses
    check(lambda: loads(text))


@FUZZ
@given(PROJECT)
def test_random_projects(project):
    check(lambda: from_dict(copy.deepcopy(project)))
    check(lambda: loads(json.dumps(project)))


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=200))
def test_random_text(text):
    check(lambda: loads(text))


# --------------------------------------------------------------------------- (b) mutated files


def base_project() -> dict:
    g = Graph()
    data = g.add_node("data.Digits", pos=(-100, 0))
    conv = g.add_node("nn.Conv2d", {"kernel_size": [3, 3], "padding": 1})
    relu = g.add_node("nn.ReLU")
    flat = g.add_node("nn.Flatten")
    fc = g.add_node("nn.Linear", {"out_features": 10}, label="head", pos=(3.5, 1))
    skip = g.add_node("nn.Linear", {"out_features": 10})
    add = g.add_node("op.add")
    lstm = g.add_node("nn.LSTM")
    loss = g.add_node("loss.CrossEntropy")
    mse = g.add_node("loss.MSE")
    opt = g.add_node("optim.Adam")
    sched = g.add_node("sched.OneCycleLR")
    clip = g.add_node("clip.GradNorm")
    for a, b in ((data, conv), (conv, relu), (relu, flat), (flat, fc), (flat, skip)):
        g.connect(a, "x" if a == data else "out", b, "x")
    g.connect(fc, "out", add, "a")
    g.connect(skip, "out", add, "b")
    g.connect(add, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    g.connect(add, "out", mse, "input")
    g.connect(fc, "out", mse, "target")
    g.connect(loss, "loss", opt, "loss")
    g.connect(mse, "loss", opt, "loss")
    g.connect(opt, "optimizer", sched, "optimizer")
    g.connect(opt, "optimizer", clip, "optimizer")
    g.add_placeholder(
        "p1",
        "nn.FromTheFuture",
        "future",
        {"k": [1, {"z": None}]},
        (0, 0),
        {"in": {"q"}, "out": {"out"}},
    )
    g.connect(add, "out", "p1", "q")
    g.connect("p1", "out", lstm, "x")
    return to_dict(g)


BASE = json.loads(json.dumps(base_project()))


def test_base_project_is_valid():
    g = check(lambda: from_dict(copy.deepcopy(BASE)))
    assert g is not None and len(g) == 14 and len(g.edges()) == 17


def paths(value, prefix=()):
    """Every path into a JSON value (the root excluded)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for k, v in items:
        yield (*prefix, k)
        yield from paths(v, (*prefix, k))


def parent_of(doc, path):
    target = doc
    for key in path[:-1]:
        target = target[key]
    return target


def mutate(doc: dict, data) -> None:
    """Apply one random mutation to ``doc`` in place."""
    op = data.draw(
        st.sampled_from(
            [
                "delete",
                "replace",
                "special",
                "retype",
                "rename_id",
                "swap_ids",
                "port",
                "dup_edge",
                "back_edge",
                "node_type",
                "deep",
                "unicode_label",
                "huge_number",
                "param",
                "param",
                "pos",
                "label",
            ]
        )
    )
    all_paths = list(paths(doc))
    nodes = doc.get("nodes") if isinstance(doc.get("nodes"), dict) else None
    edges = doc.get("edges") if isinstance(doc.get("edges"), list) else None

    if op in ("delete", "replace", "special", "retype", "deep") and all_paths:
        path = data.draw(st.sampled_from(all_paths))
        parent, key = parent_of(doc, path), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = data.draw(JSON)
        elif op == "special":
            parent[key] = data.draw(SPECIAL)
        elif op == "deep":
            parent[key] = data.draw(DEEP)
        else:  # change the type but keep the content recognisable
            old = parent[key]
            parent[key] = data.draw(
                st.sampled_from(
                    [
                        str(old),
                        [old],
                        {"v": old},
                        bool(old) if not isinstance(old, dict) else None,
                    ]
                )
            )
    elif op == "rename_id" and nodes:
        old = data.draw(st.sampled_from(sorted(nodes)))
        new = data.draw(NODE_ID)
        nodes[new] = nodes.pop(old)
    elif op == "swap_ids" and nodes and len(nodes) > 1:
        a, b = data.draw(
            st.lists(st.sampled_from(sorted(nodes)), min_size=2, max_size=2, unique=True)
        )
        nodes[a], nodes[b] = nodes[b], nodes[a]
    elif op == "port" and edges:
        edge = data.draw(st.sampled_from(edges))
        if isinstance(edge, dict):
            end = data.draw(st.sampled_from(["from", "to"]))
            if isinstance(edge.get(end), list) and len(edge[end]) == 2:
                edge[end][1] = data.draw(PORT)
    elif op == "dup_edge" and edges:
        edges.insert(
            data.draw(st.integers(0, len(edges))), copy.deepcopy(data.draw(st.sampled_from(edges)))
        )
    elif op == "back_edge" and edges:
        edge = data.draw(st.sampled_from(edges))
        if isinstance(edge, dict) and "from" in edge and "to" in edge:
            edges.append(
                {"from": [edge["to"][0], data.draw(PORT)], "to": [edge["from"][0], data.draw(PORT)]}
            )
    elif op == "node_type" and nodes:
        node = nodes[data.draw(st.sampled_from(sorted(nodes)))]
        if isinstance(node, dict):
            node["type"] = data.draw(st.sampled_from([*TYPE_IDS, "x.Future"]))
    elif op == "unicode_label" and nodes:
        node = nodes[data.draw(st.sampled_from(sorted(nodes)))]
        if isinstance(node, dict):
            node["label"] = data.draw(st.text(min_size=0, max_size=90))
    elif op == "param" and nodes:
        node = nodes[data.draw(st.sampled_from(sorted(nodes)))]
        if isinstance(node, dict) and isinstance(node.get("params"), dict):
            names = sorted(node["params"]) or PARAM_NAMES
            name = data.draw(st.sampled_from(names) | st.sampled_from(PARAM_NAMES))
            node["params"][name] = data.draw(SPECIAL | VALUE | HUGE)
    elif op == "pos" and nodes:
        node = nodes[data.draw(st.sampled_from(sorted(nodes)))]
        if isinstance(node, dict) and isinstance(node.get("pos"), list) and node["pos"]:
            i = data.draw(st.integers(0, len(node["pos"]) - 1))
            node["pos"][i] = data.draw(SPECIAL | HUGE)
    elif op == "label" and nodes:
        node = nodes[data.draw(st.sampled_from(sorted(nodes)))]
        if isinstance(node, dict):
            node["label"] = data.draw(SPECIAL | st.text(max_size=3).map(lambda t: t + "\ud800"))
    elif op == "huge_number" and all_paths:
        path = data.draw(st.sampled_from(all_paths))
        parent_of(doc, path)[path[-1]] = data.draw(HUGE)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_mutated_projects(data):
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        mutate(doc, data)
    check(lambda: from_dict(copy.deepcopy(doc)))
    text = json.dumps(doc)  # escapes surrogates; writes NaN/Infinity literals
    check(lambda: loads(text))


@FUZZ
@given(st.data())
def test_mutated_text(data):
    text = dumps(from_dict(copy.deepcopy(BASE)))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 20)))
        insert = data.draw(
            st.text(max_size=5)
            | st.sampled_from(
                ["{", "}", "[", "]", ",", '"', ":", "NaN", "1e999", "-", "\\u", "\\ud800", "null"]
            )
        )
        text = text[:i] + insert + text[j:]
    check(lambda: loads(text))


# --------------------------------------------------------------------------- built graphs

SOME_TYPES = [
    "nn.Linear",
    "nn.Conv2d",
    "nn.ReLU",
    "nn.Flatten",
    "nn.MaxPool2d",
    "nn.LSTM",
    "op.add",
    "op.concat",
    "loss.MSE",
    "loss.CrossEntropy",
    "optim.SGD",
    "optim.Adam",
    "sched.StepLR",
    "clip.GradNorm",
]


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_graphs_built_through_the_api_round_trip(data):
    g = Graph()
    for _ in range(data.draw(st.integers(1, 25))):
        op = data.draw(
            st.sampled_from(
                ["add", "add", "connect", "connect", "param", "label", "move", "remove", "setting"]
            )
        )
        ids = g.node_ids()
        try:
            if op == "add" or not ids:
                g.add_node(
                    data.draw(st.sampled_from(SOME_TYPES)), pos=(data.draw(st.floats(-1e6, 1e6)), 0)
                )
            elif op == "connect":
                src, dst = data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(ids))
                outs = [p.name for p in g.output_ports(src)]
                ins = [p.name for p in g.input_ports(dst)]
                if outs and ins:
                    sp, dp = data.draw(st.sampled_from(outs)), data.draw(st.sampled_from(ins))
                    allowed = g.can_connect(src, sp, dst, dp)
                    try:
                        g.connect(src, sp, dst, dp)
                        assert allowed
                    except (PortError, CycleError):
                        assert not allowed
            elif op == "param":
                node = g.node(data.draw(st.sampled_from(ids)))
                if node.spec and node.spec.params:
                    name = data.draw(st.sampled_from([p.name for p in node.spec.params]))
                    g.set_param(node.id, name, data.draw(VALUE))
            elif op == "label":
                g.set_label(data.draw(st.sampled_from(ids)), data.draw(st.text(max_size=90)))
            elif op == "move":
                g.set_position(
                    data.draw(st.sampled_from(ids)),
                    (data.draw(st.floats()), data.draw(st.floats())),
                )
            elif op == "remove":
                g.remove_node(data.draw(st.sampled_from(ids)))
            else:
                g.set_setting(data.draw(st.sampled_from(sorted(SETTINGS))), data.draw(VALUE))
        except ParamError:
            pass
    text = dumps(g)
    g2 = check(lambda: loads(text))
    assert g2 is not None
    assert to_dict(g2) == json.loads(text)
    assert g2.edges() == g.edges()
    assert [(n.id, n.type_id, n.label, n.params) for n in g2.nodes()] == [
        (n.id, n.type_id, n.label, n.params) for n in g.nodes()
    ]
