"""The project file: canonical JSON, round trips, atomic save, placeholders, precise errors."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest

from torchcanvas.graph import (
    Edge,
    Graph,
    InvalidProjectError,
    UnsupportedVersionError,
    dumps,
    load,
    loads,
    save,
)
from torchcanvas.graph.serialize import VERSION, from_dict, results_to_dict, to_dict


def sample_graph() -> Graph:
    """A small but complete training graph: data, layers, loss, optimizer, scheduler, clip."""
    g = Graph()
    data = g.add_node("data.Digits", pos=(-100, 0))
    conv = g.add_node(
        "nn.Conv2d", {"out_channels": 8, "kernel_size": [3, 3], "padding": 1}, pos=(0, 10.25)
    )
    relu = g.add_node("nn.ReLU")
    pool = g.add_node("nn.MaxPool2d")
    flat = g.add_node("nn.Flatten")
    fc = g.add_node("nn.Linear", {"out_features": 10}, label="head", pos=(400.5, -3.25))
    loss = g.add_node("loss.CrossEntropy", {"label_smoothing": 0.1})
    opt = g.add_node("optim.Adam", {"lr": 0.01, "betas": [0.8, 0.99]})
    sched = g.add_node("sched.StepLR", {"step_size": 3})
    clip = g.add_node("clip.GradNorm")
    for a, b in ((conv, relu), (relu, pool), (pool, flat), (flat, fc)):
        g.connect(a, "out", b, "x")
    g.connect(data, "x", conv, "x")
    g.connect(fc, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    g.connect(loss, "loss", opt, "loss")
    g.connect(opt, "optimizer", sched, "optimizer")
    g.connect(opt, "optimizer", clip, "optimizer")
    g.set_setting("epochs", 3)
    g.set_setting("model_name", "DigitsCNN")
    return g


def sample_dict() -> dict:
    """The sample as parsed JSON, safe to mutate."""
    return json.loads(dumps(sample_graph()))


def error_for(data) -> InvalidProjectError:
    with pytest.raises(InvalidProjectError) as info:
        loads(json.dumps(data))
    return info.value


# --------------------------------------------------------------------------- round trip


def test_round_trip_is_exact():
    g = sample_graph()
    text = dumps(g)
    g2 = loads(text)
    assert dumps(g2) == text
    assert to_dict(g2) == to_dict(g)
    assert g2.edges() == g.edges()
    assert g2.settings == g.settings
    for n in g.nodes():
        m = g2.node(n.id)
        assert (m.type_id, m.label, m.params, m.pos) == (n.type_id, n.label, n.params, n.pos)
        assert m.spec is n.spec


def test_loaded_graph_is_fully_usable():
    g = loads(dumps(sample_graph()))
    # the id counter continues after the loaded ids, labels stay unique
    nid = g.add_node("nn.Linear")
    assert nid == "n11"
    assert g.node(nid).label == "fc1"
    assert g.topological_order()[0] == "n1"


def test_empty_graph_round_trips():
    text = dumps(Graph())
    assert json.loads(text)["nodes"] == {} and json.loads(text)["edges"] == []
    assert dumps(loads(text)) == text


def test_header_and_layout():
    text = dumps(sample_graph())
    data = json.loads(text)
    assert data["format"] == "torchcanvas"
    assert data["version"] == 2  # version 3 only for a file with saved results
    assert set(data) == {"format", "version", "nodes", "edges", "settings"}
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "edges": [\n    {\n')  # two-space indent
    # short lists of scalars stay on one line, so diffs stay small
    assert '"pos": [400.5, -3.25]' in text
    assert '"betas": [0.8, 0.99]' in text
    assert '"from": ["n1", "x"]' in text
    assert "\t" not in text


def test_keys_are_sorted_at_every_level():
    text = dumps(sample_graph())

    def check(pairs):
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    json.loads(text, object_pairs_hook=check)


def test_numbers_and_text_survive():
    g = Graph()
    nid = g.add_node("optim.SGD", {"lr": 1e-7, "momentum": 0.1 + 0.2}, label="ünïcødé ☃ 优化")
    g.set_position(nid, (1 / 3, -2 / 3))
    text = dumps(g)
    assert "ünïcødé ☃ 优化" in text  # written as UTF-8, not \u escapes
    node = loads(text).node(nid)
    assert node.params["lr"] == 1e-7
    assert node.params["momentum"] == 0.1 + 0.2  # floats are exact, not rounded
    assert node.pos == (0.33, -0.67)  # positions are rounded to 2 decimals
    assert node.label == "ünïcødé ☃ 优化"


def test_output_is_stable_across_insertion_orders():
    def build(reverse: bool) -> Graph:
        g = Graph()
        specs = [("n1", "nn.Linear"), ("n2", "nn.ReLU"), ("n10", "nn.Linear"), ("n3", "op.add")]
        for nid, type_id in reversed(specs) if reverse else specs:
            g.add_node(type_id, node_id=nid, label=f"L{nid}")
        wires = [("n1", "n2", "x"), ("n2", "n3", "a"), ("n10", "n3", "b")]
        for src, dst, port in reversed(wires) if reverse else wires:
            g.connect(src, "out", dst, port)
        for name, value in (("seed", 7), ("epochs", 2))[:: -1 if reverse else 1]:
            g.set_setting(name, value)
        return g

    a, b = dumps(build(False)), dumps(build(True))
    assert a == b
    edges = json.loads(a)["edges"]
    pairs = [(e["from"], e["to"]) for e in edges]
    assert pairs == sorted(pairs)
    assert dumps(loads(a)) == a


def test_edges_are_written_in_canonical_order():
    g = sample_graph()
    edges = json.loads(dumps(g))["edges"]
    written = [Edge(e["from"][0], e["from"][1], e["to"][0], e["to"][1]) for e in edges]
    assert written == sorted(written) == g.edges()


def test_copy_matches_serialised_form():
    g = sample_graph()
    assert dumps(g.copy()) == dumps(g)


# --------------------------------------------------------------------------- save and load


def test_save_and_load(tmp_project):
    g = sample_graph()
    save(g, tmp_project)
    assert tmp_project.read_text(encoding="utf-8") == dumps(g)
    assert dumps(load(tmp_project)) == dumps(g)
    assert dumps(load(str(tmp_project))) == dumps(g)
    assert os.listdir(tmp_project.parent) == [tmp_project.name]


def test_save_overwrites(tmp_project):
    save(Graph(), tmp_project)
    g = sample_graph()
    save(g, tmp_project)
    assert load(tmp_project).edges() == g.edges()
    assert os.listdir(tmp_project.parent) == [tmp_project.name]


@pytest.mark.parametrize("victim", ["fsync", "replace"])
def test_failed_save_keeps_the_old_file_and_leaves_no_temp(tmp_project, monkeypatch, victim):
    old = Graph()
    old.add_node("nn.ReLU")
    save(old, tmp_project)
    before = tmp_project.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, victim, boom)
    with pytest.raises(OSError, match="No space left"):
        save(sample_graph(), tmp_project)
    monkeypatch.undo()
    assert tmp_project.read_bytes() == before
    assert os.listdir(tmp_project.parent) == [tmp_project.name]
    assert len(load(tmp_project)) == 1


def test_interrupted_save_cleans_up(tmp_project, monkeypatch):
    save(Graph(), tmp_project)
    before = tmp_project.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save(sample_graph(), tmp_project)
    monkeypatch.undo()
    assert tmp_project.read_bytes() == before
    assert os.listdir(tmp_project.parent) == [tmp_project.name]


def test_failed_save_of_a_new_file_leaves_nothing(tmp_project, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError, match="disk gone"):
        save(sample_graph(), tmp_project)
    monkeypatch.undo()
    assert os.listdir(tmp_project.parent) == []


def test_save_keeps_the_file_mode(tmp_project):
    save(Graph(), tmp_project)
    os.chmod(tmp_project, 0o640)
    save(sample_graph(), tmp_project)
    assert stat.S_IMODE(os.stat(tmp_project).st_mode) == 0o640


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_new_file_gets_the_usual_mode(tmp_project):
    umask = os.umask(0o022)
    os.umask(umask)
    save(Graph(), tmp_project)
    assert stat.S_IMODE(os.stat(tmp_project).st_mode) == 0o666 & ~umask


def test_load_refuses_non_utf8(tmp_project):
    text = dumps(sample_graph()).replace('"head"', '"tête"')
    tmp_project.write_bytes(text.encode("latin-1"))
    with pytest.raises(InvalidProjectError, match="UTF-8"):
        load(tmp_project)
    tmp_project.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InvalidProjectError, match="UTF-8"):
        load(tmp_project)


def test_load_refuses_invalid_json(tmp_project):
    tmp_project.write_text('{"format": "torchcanvas",\n "version": 1,,}', encoding="utf-8")
    with pytest.raises(InvalidProjectError, match=r"not valid JSON \(line 2, column 15\)"):
        load(tmp_project)


# --------------------------------------------------------------------------- placeholders


def placeholder_project() -> dict:
    """A file from a 'newer' torchcanvas: unknown node types wired to known ones."""
    data = sample_dict()
    data["nodes"]["n20"] = {
        "type": "nn.FancyAttention",
        "label": "attn",
        "pos": [1.5, 2.0],
        "params": {
            "heads": 4,
            "mode": "flash",
            "sizes": [1, [2, 3]],
            "opts": {"a": None, "b": True},
        },
    }
    data["nodes"]["n21"] = {"type": "loss.Future", "label": "aux", "pos": [0.0, 0.0], "params": {}}
    # n5 (flatten) -> n20 -> n21 (loss kind out) -> n8 (Adam's multi loss port)
    data["edges"] += [
        {"from": ["n5", "out"], "to": ["n20", "query"]},
        {"from": ["n5", "out"], "to": ["n20", "key"]},
        {"from": ["n1", "y"], "to": ["n20", "query"]},
        {"from": ["n20", "out"], "to": ["n21", "input"]},
        {"from": ["n21", "loss"], "to": ["n8", "loss"]},
    ]
    # canonical edge order, as a save would write it
    data["edges"].sort(key=lambda e: (*e["from"], *e["to"]))
    return data


def test_unknown_type_loads_as_placeholder_with_its_edges():
    data = placeholder_project()
    g = loads(json.dumps(data))
    node = g.node("n20")
    assert node.is_placeholder and node.type_id == "nn.FancyAttention"
    assert node.label == "attn" and node.pos == (1.5, 2.0)
    assert node.params == data["nodes"]["n20"]["params"]
    assert [p.name for p in g.input_ports("n20")] == ["key", "query"]
    assert [p.name for p in g.output_ports("n20")] == ["out"]
    assert len(g.in_edges("n20")) == 3
    assert Edge("n21", "loss", "n8", "loss") in g.edges()
    assert g.node("n21").is_placeholder


def test_placeholder_saves_back_unchanged():
    data = placeholder_project()
    text = dumps(loads(json.dumps(data)))
    assert json.loads(text) == data
    assert dumps(loads(text)) == text


def test_placeholder_params_are_not_shared_with_the_file_data():
    data = placeholder_project()
    g = from_dict(data)
    data["nodes"]["n20"]["params"]["sizes"][1].append(4)
    assert g.node("n20").params["sizes"] == [1, [2, 3]]


def test_placeholder_survives_a_copy():
    g = loads(json.dumps(placeholder_project()))
    assert dumps(g.copy()) == dumps(g)


# --------------------------------------------------------------------------- errors with paths


def _set(path):
    def apply(data, value):
        *head, last = path
        target = data
        for key in head:
            target = target[key]
        target[last] = value

    return apply


def _delete(path):
    def apply(data, _value):
        *head, last = path
        target = data
        for key in head:
            target = target[key]
        del target[last]

    return apply


def _add_edge(src, dst):
    def apply(data, _value):
        data["edges"].append({"from": src, "to": dst})

    return apply


CASES = [
    # (id, mutate, value, expected path, fragment of the message)
    ("top-list", None, [1], "", "JSON object"),
    ("format", _set(["format"]), "other", "format", "'torchcanvas'"),
    ("format-missing", _delete(["format"]), None, "format", "'torchcanvas'"),
    ("version-str", _set(["version"]), "1", "version", "positive whole number"),
    ("version-bool", _set(["version"]), True, "version", "positive whole number"),
    ("version-zero", _set(["version"]), 0, "version", "positive whole number"),
    ("version-float", _set(["version"]), 1.0, "version", "positive whole number"),
    ("version-missing", _delete(["version"]), None, "version", "positive whole number"),
    ("extra-top", _set(["colour"]), "red", "colour", "unknown top-level field"),
    ("nodes-list", _set(["nodes"]), [], "nodes", "object"),
    ("edges-dict", _set(["edges"]), {}, "edges", "list"),
    ("settings-list", _set(["settings"]), [], "settings", "object"),
    ("settings-epochs", _set(["settings", "epochs"]), 0, "settings.epochs", "≥ 1"),
    (
        "settings-epochs-type",
        _set(["settings", "epochs"]),
        "ten",
        "settings.epochs",
        "whole number",
    ),
    ("settings-device", _set(["settings", "device"]), "gpu", "settings.device", "not a device"),
    (
        "settings-model-name",
        _set(["settings", "model_name"]),
        "class",
        "settings.model_name",
        "class name",
    ),
    ("settings-unknown", _set(["settings", "lr"]), 0.1, "settings.lr", "no such"),
    ("settings-overflow", _set(["settings", "val_split"]), 10**400, "settings.val_split", "finite"),
    (
        "param-range",
        _set(["nodes", "n6", "params", "out_features"]),
        0,
        "nodes.n6.params.out_features",
        "≥ 1",
    ),
    (
        "param-type",
        _set(["nodes", "n3", "params", "inplace"]),
        "yes",
        "nodes.n3.params.inplace",
        "true or false",
    ),
    (
        "param-unknown",
        _set(["nodes", "n6", "params", "units"]),
        3,
        "nodes.n6.params.units",
        "no parameter",
    ),
    (
        "param-length",
        _set(["nodes", "n2", "params", "kernel_size"]),
        [3],
        "nodes.n2.params.kernel_size",
        "2 values",
    ),
    (
        "param-choice",
        _set(["nodes", "n7", "params", "reduction"]),
        "avg",
        "nodes.n7.params.reduction",
        "'mean'",
    ),
    (
        "param-huge-float",
        _set(["nodes", "n8", "params", "lr"]),
        10**400,
        "nodes.n8.params.lr",
        "finite",
    ),
    (
        "param-huge-int",
        _set(["nodes", "n6", "params", "out_features"]),
        10**30,
        "nodes.n6.params.out_features",
        "too large",
    ),
    ("params-list", _set(["nodes", "n6", "params"]), [], "nodes.n6.params", "object"),
    ("node-not-object", _set(["nodes", "n6"]), "fc", "nodes.n6", "object"),
    ("node-type-missing", _delete(["nodes", "n6", "type"]), None, "nodes.n6.type", "type id"),
    ("node-type-number", _set(["nodes", "n6", "type"]), 5, "nodes.n6.type", "type id"),
    ("node-extra", _set(["nodes", "n6", "colour"]), "red", "nodes.n6.colour", "unknown field"),
    ("label-empty", _set(["nodes", "n6", "label"]), " ", "nodes.n6.label", "empty"),
    ("label-long", _set(["nodes", "n6", "label"]), "x" * 81, "nodes.n6.label", "80"),
    ("label-surrogate", _set(["nodes", "n6", "label"]), "fc\ud800", "nodes.n6.label", "Unicode"),
    ("pos-short", _set(["nodes", "n6", "pos"]), [1], "nodes.n6.pos", "[x, y]"),
    ("pos-bool", _set(["nodes", "n6", "pos"]), [True, 0], "nodes.n6.pos", "[x, y]"),
    ("pos-huge", _set(["nodes", "n6", "pos"]), [10**400, 0], "nodes.n6.pos", "finite"),
    ("node-id", _set(["nodes", "bad id"]), {"type": "nn.ReLU"}, "nodes.bad id", "node id"),
    (
        "placeholder-deep",
        _set(["nodes", "n9"]),
        {"type": "x.Y", "params": {"a": [[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]}},
        "nodes.n9.params.a" + "[0]" * 20,
        "nested too deeply",
    ),
    ("edges-not-object", _set(["edges", 0]), ["n1", "n2"], "edges[0]", "'from' and 'to'"),
    ("edges-extra", _set(["edges", 0, "via"]), 1, "edges[0]", "exactly the fields"),
    (
        "edges-to-missing-node",
        _set(["edges", 0, "to"]),
        ["n99", "x"],
        "edges[0].to",
        "no node with id 'n99'",
    ),
    (
        "edges-from-missing-node",
        _set(["edges", 0, "from"]),
        ["n99", "x"],
        "edges[0].from",
        "no node",
    ),
    ("edges-to-short", _set(["edges", 0, "to"]), ["n2"], "edges[0].to", "[node_id, port]"),
    ("edges-to-empty-port", _set(["edges", 0, "to"]), ["n2", ""], "edges[0].to", "[node_id, port]"),
    (
        "edges-bad-in-port",
        _set(["edges", 0, "to"]),
        ["n2", "input"],
        "edges[0].to",
        "no input 'input'",
    ),
    (
        "edges-bad-out-port",
        _set(["edges", 0, "from"]),
        ["n1", "out"],
        "edges[0].from",
        "no output 'out'",
    ),
    ("edges-kind", _add_edge(["n7", "loss"], ["n6", "x"]), None, "edges[10].to", "cannot wire"),
    (
        "edges-second-input",
        _add_edge(["n1", "x"], ["n3", "x"]),
        None,
        "edges[10].to",
        "already has an input",
    ),
    (
        "edges-duplicate",
        _add_edge(["n7", "loss"], ["n8", "loss"]),
        None,
        "edges[10]",
        "the same wire as edges[7]",
    ),
    # n6 -> n2 closes n2 -> n3 -> n4 -> n5 -> n6; found when edges[5] (n5 -> n6) is wired
    ("edges-cycle", _set(["edges", 0, "from"]), ["n6", "out"], "edges[5]", "cycle"),
]


@pytest.mark.parametrize(
    ("mutate", "value", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_errors_name_the_bad_field(mutate, value, path, fragment):
    if mutate is None:
        data = value
    else:
        data = sample_dict()
        assert len(data["edges"]) == 10  # the edge cases above append edges[10]
        mutate(data, value)
    err = error_for(data)
    assert err.path == path
    assert fragment in err.reason
    assert str(err).startswith(f"{path}: ") if path else True


def test_sample_wiring_matches_the_error_cases():
    # the cases above rely on these ids; fail loudly if sample_graph changes
    types = {nid: n["type"] for nid, n in sample_dict()["nodes"].items()}
    assert types == {
        "n1": "data.Digits",
        "n2": "nn.Conv2d",
        "n3": "nn.ReLU",
        "n4": "nn.MaxPool2d",
        "n5": "nn.Flatten",
        "n6": "nn.Linear",
        "n7": "loss.CrossEntropy",
        "n8": "optim.Adam",
        "n9": "sched.StepLR",
        "n10": "clip.GradNorm",
    }
    edges = [(*e["from"], *e["to"]) for e in sample_dict()["edges"]]
    assert edges[0] == ("n1", "x", "n2", "x")
    assert edges[5] == ("n5", "out", "n6", "x")
    assert edges[7] == ("n7", "loss", "n8", "loss")


def test_newer_version_is_unsupported():
    data = sample_dict()
    data["version"] = VERSION + 1
    data["nodes"]["n1"]["hologram"] = True  # newer files may hold anything
    err = error_for(data)
    assert isinstance(err, UnsupportedVersionError)
    assert err.path == "version" and err.version == VERSION + 1
    assert "update torchcanvas" in str(err)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant):
    text = dumps(sample_graph()).replace('"lr": 0.01', f'"lr": {constant}')
    assert constant in text
    with pytest.raises(InvalidProjectError, match=f"{constant} is not allowed") as info:
        loads(text)
    assert info.value.path == "nodes.n8.params.lr"  # where it is, not only what


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('"lr": 0.01', '"lr": 1e400', "nodes.n8.params.lr"),
        ('"pos": [400.5, -3.25]', '"pos": [1e999, 0]', "nodes.n6.pos"),
    ],
)
def test_overflowing_literals_are_refused(old, new, path):
    text = dumps(sample_graph()).replace(old, new)
    assert new in text
    with pytest.raises(InvalidProjectError) as info:
        loads(text)
    assert info.value.path == path


def test_placeholder_params_must_be_finite_and_saveable():
    for value in ("1e400", "-1e400"):
        data = json.loads(json.dumps(placeholder_project()))
        text = json.dumps(data).replace('"heads": 4', f'"heads": {value}')
        with pytest.raises(InvalidProjectError) as info:
            loads(text)
        assert info.value.path == "nodes.n20.params.heads"


def test_lone_surrogates_are_refused_anywhere():
    data = placeholder_project()
    data["nodes"]["n20"]["params"]["mode"] = "fl\udc80sh"
    err = error_for(data)
    assert err.path == "nodes.n20.params.mode"
    data = placeholder_project()
    data["edges"][0]["to"][1] = "\ud83d"
    assert error_for(data).path == "edges[0].to[1]"
    data = placeholder_project()
    data["nodes"]["n20"]["params"]["\ud800"] = 1
    err = error_for(data)
    assert err.path == "nodes.n20.params.\\ud800"
    err_text = str(err)
    err_text.encode("utf-8")  # the message itself can be shown


def test_json_nesting_limit_is_an_invalid_project():
    with pytest.raises(InvalidProjectError):
        loads("[" * 100_000 + "]" * 100_000)


def test_from_dict_refuses_non_text_keys_and_huge_values():
    data = sample_dict()
    data["nodes"]["n6"]["params"][5] = 1
    with pytest.raises(InvalidProjectError, match="keys must be text"):
        from_dict(data)
    deep = 1
    for _ in range(5000):
        deep = [deep]
    for field, value in (("out_features", deep), ("bias", deep), ("out_features", 10**5000)):
        data = sample_dict()
        data["nodes"]["n6"]["params"][field] = value
        with pytest.raises(InvalidProjectError) as info:
            from_dict(data)
        assert info.value.path == f"nodes.n6.params.{field}"
        assert len(str(info.value)) < 300
    data = sample_dict()
    data["version"] = 10**5000
    with pytest.raises(UnsupportedVersionError):
        from_dict(data)


def test_load_does_not_mutate_its_input():
    data = placeholder_project()
    frozen = copy.deepcopy(data)
    from_dict(data)
    assert data == frozen


def test_strings_are_data_never_code(tmp_project):
    g = Graph()
    payload = "__import__('os').system('echo pwned')"
    g.add_node("nn.Linear", label=payload)
    g.add_placeholder("p1", payload, payload, {payload: payload}, (0, 0), {})
    save(g, tmp_project)
    loaded = load(tmp_project)
    assert loaded.node("n1").label == payload
    assert loaded.node("p1").params == {payload: payload}


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "assets" / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_bundled_examples_load_and_are_canonical(path):
    g = load(path)
    assert len(g) > 0
    assert not [n.id for n in g.nodes() if n.is_placeholder], "unknown node types"
    # saved by dumps (with the shape results it opens with), so a re-save gives no diff
    saved = g.saved_results
    assert saved is not None, "refresh with assets/examples/refresh_results.py"
    results = results_to_dict(
        to_dict(g),
        saved["shapes"],
        saved["param_counts"],
        saved["trainable_counts"],
        saved["resolved"],
    )
    assert dumps(g, results) == path.read_text(encoding="utf-8")


def test_origin_of_an_imported_node_survives_the_file_and_is_checked():
    g = sample_graph()
    head = next(n.id for n in g.nodes() if n.label == "head")
    g2 = Graph()
    g2.restore(to_dict(g))
    assert all(n.origin is None for n in g2.nodes())
    assert "origin" not in dumps(g)  # written only for imported nodes
    data = sample_dict()
    data["nodes"][head]["origin"] = "classifier.1"
    g3 = from_dict(data)
    assert g3.node(head).origin == "classifier.1"
    g3.set_label(head, "renamed")  # the label may change; the origin stays
    assert loads(dumps(g3)).node(head).origin == "classifier.1"
    assert g3.copy().node(head).origin == "classifier.1"
    for bad in ("", "a..b", "x; import os", 3):
        data["nodes"][head]["origin"] = bad
        err = error_for(data)
        assert err.path == f"nodes.{head}.origin" and "module path" in err.reason


# ---------------------------------------------------------------------------- saved results
SAMPLE_RESULTS = {
    "shapes": {
        ("n1", "x"): ("B", 1, 8, 8),
        ("n1", "y"): ("B",),
        ("n2", "out"): ("B", 8, 8, 8),
        ("n7", "loss"): (),
    },
    "param_counts": {"n2": 80, "n6": 1290},
    "trainable_counts": {"n2": 80, "n6": 0},
    "resolved": {
        "n2": {"in_channels": 1},
        "n6": {"in_features": 128},
        "Res/n3": {"num_features": 4},
    },
}


def sample_results(g: Graph) -> dict:
    r = SAMPLE_RESULTS
    return results_to_dict(
        to_dict(g), r["shapes"], r["param_counts"], r["trainable_counts"], r["resolved"]
    )


def test_saved_results_round_trip_in_a_version_3_file(tmp_path):
    g = sample_graph()
    path = tmp_path / "p.json"
    save(g, path, sample_results(g))
    data = json.loads(path.read_text())
    assert data["version"] == 3 and data["results"]["version"] == 1
    assert data["results"]["shapes"]["n2"] == {"out": ["B", 8, 8, 8]}
    assert data["results"]["params"]["n6"] == [1290, 0]
    loaded = load(path)
    assert loaded.saved_results == SAMPLE_RESULTS
    assert to_dict(loaded) == to_dict(g)  # the results are no part of the document
    assert dumps(loaded, sample_results(loaded)) == path.read_text()
    assert json.loads(dumps(g))["version"] == 2 and g.saved_results is None


def test_saved_results_that_do_not_fit_are_ignored_not_an_error():
    g = sample_graph()
    good = json.loads(dumps(g, sample_results(g)))
    assert from_dict(good).saved_results == SAMPLE_RESULTS

    def variant(change) -> dict:
        data = copy.deepcopy(good)
        change(data)
        return data

    broken = [
        lambda d: d["nodes"]["n6"]["params"].update(out_features=11),  # edited by hand
        lambda d: d["results"].update(version=2),
        lambda d: d["results"]["shapes"]["n2"].update(out=["B", "x"]),
        lambda d: d["results"]["shapes"]["n2"].update(out=["B", -1]),
        lambda d: d["results"]["shapes"]["n2"].update(out=["B", True]),
        lambda d: d["results"]["shapes"].update(n99={"out": [1]}),
        lambda d: d["results"]["params"].update(n2=[80]),
        lambda d: d["results"]["params"].update(n2=[80, -1]),
        lambda d: d["results"].update(resolved=[]),
        lambda d: d.update(results="shapes"),
    ]
    for change in broken:
        loaded = from_dict(variant(change))
        assert loaded.saved_results is None
        assert len(loaded) == len(g)
    old = variant(lambda d: d.update(version=2))
    with pytest.raises(InvalidProjectError) as info:
        from_dict(old)
    assert info.value.path == "results"


def test_an_acyclic_file_is_checked_for_cycles_once_not_per_wire(monkeypatch):
    import networkx as nx

    from torchcanvas.graph import document

    data, cyclic = sample_dict(), sample_dict()
    cyclic["edges"][0]["from"] = ["n6", "out"]  # the file with a cycle takes the per-wire way
    searches = []
    real = nx.has_path
    monkeypatch.setattr(document.nx, "has_path", lambda *a: searches.append(a) or real(*a))
    graph = from_dict(data)
    assert not searches and len(graph.edges()) == len(data["edges"])
    assert to_dict(graph) == to_dict(from_dict(copy.deepcopy(data)))
    with pytest.raises(InvalidProjectError) as err:
        from_dict(cyclic)
    assert err.value.path == "edges[5]" and searches
