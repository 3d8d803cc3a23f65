"""Blocks: collapse a selection into a named sub-graph and expand it again; instances share a
definition, the file keeps definitions, and each becomes a nested nn.Module in model.py that
computes exactly what the flat graph computes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchcanvas.codegen import CodegenError
from torchcanvas.codegen.model import build_ir, print_model
from torchcanvas.graph import (
    BlockError,
    CycleError,
    Graph,
    GraphEvent,
    InvalidProjectError,
    ParamError,
    SelectionCycleError,
    dumps,
    load,
    loads,
)
from torchcanvas.graph.clipboard import (
    copy_fragment,
    fragment_from_text,
    fragment_to_text,
    plan_paste,
)
from torchcanvas.graph.serialize import from_dict, to_dict
from torchcanvas.runtime.data import assets_dir

DIGITS = assets_dir() / "examples" / "digits_cnn.json"


class Recorder:
    def __init__(self, graph: Graph):
        self.events: list[GraphEvent] = []
        graph.subscribe(self.events.append)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def by_label(graph: Graph, label: str) -> str:
    return next(n.id for n in graph.nodes() if n.label == label)


def residual_graph() -> Graph:
    """digits → stem → [conv_a → relu_a → conv_b] + stem → relu → flatten → head → loss."""
    g = Graph({"model_name": "ResNetish", "epochs": 1})
    nodes = {}

    def add(label, type_id, pos, **params):
        nodes[label] = g.add_node(type_id, params, label=label, pos=pos)

    add("digits", "data.Digits", (0, 0))
    add("stem", "nn.Conv2d", (200, 0), out_channels=8, padding=1)
    add("conv_a", "nn.Conv2d", (400, -100), out_channels=8, padding=1)
    add("relu_a", "nn.ReLU", (600, -100))
    add("conv_b", "nn.Conv2d", (800, -100), out_channels=8, padding=1)
    add("add", "op.add", (1000, 0))
    add("relu", "nn.ReLU", (1200, 0))
    add("flatten", "nn.Flatten", (1400, 0))
    add("head", "nn.Linear", (1600, 0), out_features=10)
    add("loss", "loss.CrossEntropy", (1800, 100))
    add("opt", "optim.Adam", (2000, 100))
    for a, b in (
        ("stem", "conv_a"),
        ("conv_a", "relu_a"),
        ("relu_a", "conv_b"),
        ("add", "relu"),
        ("relu", "flatten"),
        ("flatten", "head"),
    ):
        g.connect(nodes[a], "out", nodes[b], "x")
    g.connect(nodes["digits"], "x", nodes["stem"], "x")
    g.connect(nodes["conv_b"], "out", nodes["add"], "a")
    g.connect(nodes["stem"], "out", nodes["add"], "b")
    g.connect(nodes["head"], "out", nodes["loss"], "input")
    g.connect(nodes["digits"], "y", nodes["loss"], "target")
    g.connect(nodes["loss"], "loss", nodes["opt"], "loss")
    return g


RESIDUAL = ("conv_a", "relu_a", "conv_b", "add")


def structure(graph: Graph) -> tuple[Counter, Counter]:
    """Nodes by (type, params, label) and wires by labels: equal for equivalent graphs."""
    nodes = Counter(
        (n.type_id, json.dumps(n.params, sort_keys=True), n.label) for n in graph.nodes()
    )
    label = {n.id: n.label for n in graph.nodes()}
    edges = Counter((label[e.src], e.src_port, label[e.dst], e.dst_port) for e in graph.edges())
    return nodes, edges


# ---------------------------------------------------------------------------- collapse


def test_collapse_conv_relu_in_digits():
    g = load(DIGITS)
    conv1, relu1, conv2 = (by_label(g, x) for x in ("conv1", "relu1", "conv2"))
    data = by_label(g, "digits")
    centre = tuple((a + b) / 2 for a, b in zip(g.node(conv1).pos, g.node(relu1).pos, strict=True))
    rec = Recorder(g)
    inst = g.collapse([relu1, conv1], "ConvBlock")

    node = g.node(inst)
    assert (node.type_id, node.kind, node.label, node.params) == (
        "block",
        "block",
        "block1",
        {"block": "ConvBlock"},
    )
    assert node.pos == centre
    assert conv1 not in g and relu1 not in g
    assert [p.name for p in g.input_ports(inst)] == ["x"]
    assert [p.name for p in g.output_ports(inst)] == ["out"]
    assert [(e.src, e.src_port) for e in g.in_edges(inst)] == [(data, "x")]
    assert [(e.dst, e.dst_port) for e in g.out_edges(inst)] == [(conv2, "x")]

    d = g.blocks["ConvBlock"]
    assert (d.inputs, d.outputs) == (["x"], ["out"])
    body = d.graph
    assert sorted(n.label for n in body.nodes()) == ["conv1", "out", "relu1", "x"]
    assert body.node(conv1).pos == load(DIGITS).node(conv1).pos  # inner nodes keep ids and places
    x_in, out = d.io_node("input", "x"), d.io_node("output", "out")
    # top → down (the example's flow): the input above its consumer, the output below
    assert x_in.pos[1] < body.node(conv1).pos[1] and out.pos[1] > body.node(relu1).pos[1]
    assert x_in.pos[0] == body.node(conv1).pos[0] and out.pos[0] == body.node(relu1).pos[0]
    assert {(e.src, e.dst) for e in body.edges()} == {
        (x_in.id, conv1),
        (conv1, relu1),
        (relu1, out.id),
    }
    # events: the definition first, then the plain node and wire events the scene follows
    assert rec.kinds[0] == "block_added"
    assert rec.kinds.count("node_removed") == 2 and rec.kinds.count("node_added") == 1
    assert rec.kinds[-2:] == ["edge_added", "edge_added"]


@pytest.mark.parametrize("flow", ["TB", "LR"])
def test_a_blocks_inputs_and_outputs_sit_before_and_after_along_the_flow(flow):
    g = load(DIGITS)
    g.set_setting("flow", flow)
    conv1, relu1 = by_label(g, "conv1"), by_label(g, "relu1")
    g.collapse([conv1, relu1], "ConvBlock")
    d = g.blocks["ConvBlock"]
    body = d.graph
    x_in, out = d.io_node("input", "x").pos, d.io_node("output", "out").pos
    first, last = body.node(conv1).pos, body.node(relu1).pos
    along = 1 if flow == "TB" else 0
    assert x_in[along] < first[along] and out[along] > last[along]
    assert x_in[1 - along] == first[1 - along] and out[1 - along] == last[1 - along]


def test_collapse_residual_pattern():
    g = residual_graph()
    stem, relu = by_label(g, "stem"), by_label(g, "relu")
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    d = g.blocks["ResidualBlock"]
    # one input for the one outside value, although two inner ports read it
    assert (d.inputs, d.outputs) == (["x"], ["out"])
    body = d.graph
    x_in = d.io_node("input", "x").id
    fed = sorted((body.node(e.dst).label, e.dst_port) for e in body.out_edges(x_in))
    assert fed == [("add", "b"), ("conv_a", "x")]
    assert [(e.src, e.src_port) for e in g.in_edges(inst)] == [(stem, "out")]
    assert [(e.dst, e.dst_port) for e in g.out_edges(inst)] == [(relu, "x")]
    assert g.node(inst).pos == (700.0, -75.0)


def test_collapse_with_several_inputs_and_outputs():
    g = residual_graph()
    # conv_b and add: conv_b reads relu_a, add reads stem; conv_b's output also leaves
    loss2 = g.add_node("loss.MSE", label="aux")
    g.connect(by_label(g, "conv_b"), "out", loss2, "input")
    g.connect(by_label(g, "conv_b"), "out", loss2, "target")
    inst = g.collapse([by_label(g, "conv_b"), by_label(g, "add")], "Tail")
    d = g.blocks["Tail"]
    assert d.inputs == ["x1", "x2"] and d.outputs == ["out1", "out2"]
    assert {(g.node(e.src).label, e.dst_port) for e in g.in_edges(inst)} == {
        ("relu_a", "x1"),
        ("stem", "x2"),
    }
    assert {(e.src_port, g.node(e.dst).label, e.dst_port) for e in g.out_edges(inst)} == {
        ("out1", "aux", "input"),
        ("out1", "aux", "target"),
        ("out2", "relu", "x"),
    }


def test_collapse_refuses_a_path_through_the_outside():
    g = residual_graph()
    before = dumps(g)
    rec = Recorder(g)
    with pytest.raises(SelectionCycleError) as err:
        g.collapse([by_label(g, "conv_a"), by_label(g, "conv_b")], "Broken")
    assert isinstance(err.value, CycleError) and isinstance(err.value, BlockError)
    assert err.value.via == [by_label(g, "relu_a")]
    assert "relu_a" in str(err.value)
    assert dumps(g) == before and rec.events == [] and not g.blocks


@pytest.mark.parametrize(
    "labels, name, error, match",
    [
        (("digits",), "B", BlockError, "data node"),
        (("loss",), "B", BlockError, "loss node"),
        ((), "B", BlockError, "select"),
        (("stem",), "lowercase", BlockError, "class name"),
        (("stem",), "ResNetish", BlockError, "model's class name"),
        (("stem",), "None", BlockError, "class name|Python"),
        (("stem",), "Exception", BlockError, "Python"),
    ],
)
def test_collapse_refusals_change_nothing(labels, name, error, match):
    g = residual_graph()
    before = dumps(g)
    with pytest.raises(error, match=match):
        g.collapse([by_label(g, x) for x in labels], name)
    assert dumps(g) == before


def test_the_same_name_twice_is_refused():
    g = residual_graph()
    g.collapse([by_label(g, "relu")], "Act")
    with pytest.raises(BlockError, match="already"):
        g.collapse([by_label(g, "flatten")], "Act")
    with pytest.raises(ParamError, match="block"):
        g.set_setting("model_name", "Act")


# ---------------------------------------------------------------------------- expand


@pytest.mark.parametrize("labels", [("conv1", "relu1"), ("conv2", "relu2", "pool", "flatten")])
def test_expand_restores_the_digits_graph(labels):
    g = load(DIGITS)
    original = dumps(g)
    inst = g.collapse([by_label(g, x) for x in labels], "Part")
    new = g.expand(inst)
    assert sorted(new) == sorted(by_label(g, x) for x in labels)
    assert not g.blocks  # the last instance went: so did the definition
    assert json.loads(dumps(g)) == json.loads(original)  # ids, places, wires: all back


def test_expand_residual_gives_an_equivalent_graph():
    g = residual_graph()
    want = structure(g)
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    g.add_node("nn.ReLU", label="conv_a")  # the label is taken meanwhile: expand renames
    g.remove_node(by_label(g, "conv_a"))
    rec = Recorder(g)
    g.expand(inst)
    assert structure(g) == want
    assert rec.kinds[-1] == "block_removed"


def test_expand_keeps_a_shared_definition_and_renames_labels():
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    second = _add_second_instance(g, inst)
    g.expand(second)
    assert "ResidualBlock" in g.blocks  # block1 still uses it
    labels = sorted(n.label for n in g.nodes())
    assert {"conv_a", "relu_a", "conv_b", "add"} <= set(labels)  # no clash with block1's inside
    g.expand(inst)
    assert not g.blocks
    assert Counter(n.type_id for n in g.nodes())["nn.Conv2d"] == 5
    with pytest.raises(BlockError, match="not a block"):
        g.expand(by_label(g, "stem"))


def _add_second_instance(g: Graph, first: str) -> str:
    """Reuse: a second instance of the same definition, after the first."""
    relu = by_label(g, "relu")
    second = g.add_node("block", {"block": g.node(first).params["block"]}, pos=(900, 0))
    g.disconnect(g.input_edge(relu, "x"))
    g.connect(first, "out", second, "x")
    g.connect(second, "out", relu, "x")
    return second


# ---------------------------------------------------------------------------- definitions


def test_definitions_are_read_only_and_managed_as_a_whole():
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    body = g.blocks["ResidualBlock"].graph
    with pytest.raises(BlockError, match="read-only"):
        body.add_node("nn.ReLU")
    with pytest.raises(BlockError, match="still used by block1"):
        g.remove_block_def("ResidualBlock")
    rec = Recorder(g)
    g.rename_block_def("ResidualBlock", "Res")
    assert g.node(inst).params == {"block": "Res"} and list(g.blocks) == ["Res"]
    assert rec.kinds == ["block_renamed", "param_changed"]
    # deleting the instance keeps the definition, so an undo can add the node back
    edges = g.remove_node(inst)
    assert "Res" in g.blocks
    g.add_node("block", {"block": "Res"}, node_id=inst)
    for e in edges:
        g.connect(e.src, e.src_port, e.dst, e.dst_port)
    g.remove_node(inst)
    g.remove_block_def("Res")
    assert not g.blocks
    with pytest.raises(ParamError, match="no block definition named 'Res'"):
        g.add_node("block", {"block": "Res"})


def test_replace_block_def_through_a_scratch_copy():
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    scratch = g.scratch_body("ResidualBlock")
    relu_a = by_label(scratch, "relu_a")
    scratch.set_param(relu_a, "inplace", True)
    g.replace_block_def("ResidualBlock", scratch)
    assert g.blocks["ResidualBlock"].graph.node(relu_a).params["inplace"] is True
    # a body whose ports no longer fit the instance's wires is refused
    scratch.set_param(by_label(scratch, "x"), "name", "y")
    with pytest.raises(BlockError, match="no input 'x'"):
        g.replace_block_def("ResidualBlock", scratch)
    assert g.blocks["ResidualBlock"].inputs == ["x"] and g.in_edges(inst)


def test_blocks_cannot_contain_themselves():
    g = residual_graph()
    inner = g.collapse([by_label(g, "relu_a")], "Inner")
    outer = g.collapse([by_label(g, "conv_a"), inner, by_label(g, "conv_b")], "Outer")
    assert g.used_blocks() == ["Inner", "Outer"]  # nested first
    scratch = g.scratch_body("Inner")
    with pytest.raises(ParamError, match="cannot contain Outer, which contains Inner"):
        scratch.add_node("block", {"block": "Outer"})
    with pytest.raises(ParamError, match="cannot contain itself"):
        scratch.add_node("block", {"block": "Inner"})
    body = g.blocks["Inner"].to_dict()
    body["nodes"]["z9"] = {"type": "block", "params": {"block": "Outer"}}
    with pytest.raises(InvalidProjectError, match="which contains Inner") as err:
        g.replace_block_def("Inner", body)
    assert err.value.path == "blocks.Inner.nodes.z9.params.block"
    assert g.node(outer).params["block"] == "Outer" and "z9" not in g.blocks["Inner"].graph


def test_io_nodes_live_only_inside_blocks():
    g = Graph()
    with pytest.raises(BlockError, match="inside a block"):
        g.add_node("io.Input")
    body = g.scratch_body()
    a, b = body.add_node("io.Input"), body.add_node("io.Input")
    assert [body.node(n).params["name"] for n in (a, b)] == ["x", "x2"]
    with pytest.raises(ParamError, match="another block input"):
        body.set_param(b, "name", "x")
    with pytest.raises(ParamError, match="Python name"):
        body.set_param(b, "name", "two words")
    with pytest.raises(BlockError, match=r"not data\.Digits"):
        body.add_node("data.Digits")


# ---------------------------------------------------------------------------- undo


def test_snapshot_and_restore_undo_a_collapse():
    g = residual_graph()
    before = g.snapshot()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    after = g.snapshot()
    rec = Recorder(g)
    g.restore(before)
    assert to_dict(g) == before and not g.blocks
    g.restore(after)
    assert to_dict(g) == after and g.node(inst).kind == "block"
    assert rec.events == [GraphEvent("reset"), GraphEvent("reset")]
    # the restored definitions resolve through the restored document
    assert [p.name for p in g.input_ports(inst)] == ["x"]
    g.expand(inst)
    assert not g.blocks
    with pytest.raises(InvalidProjectError):
        g.restore({"format": "torchcanvas", "version": 2, "nodes": []})
    assert len(rec.events) > 2 and rec.events[-1].kind != "reset"


# ---------------------------------------------------------------------------- file format


def test_blocks_round_trip_through_the_file(tmp_project):
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    _add_second_instance(g, inst)
    text = dumps(g)
    data = json.loads(text)
    assert data["version"] == 2  # version 3 only for a file with saved results
    assert list(data["blocks"]) == ["ResidualBlock"]
    assert set(data["blocks"]["ResidualBlock"]) == {"nodes", "edges"}
    from torchcanvas.graph import save

    save(g, tmp_project)
    again = load(tmp_project)
    assert dumps(again) == text
    assert structure(again) == structure(g)
    assert structure(again.blocks["ResidualBlock"].graph) == structure(
        g.blocks["ResidualBlock"].graph
    )
    assert "blocks" not in json.loads(dumps(residual_graph()))  # none: no field


def test_version_1_files_still_load():
    data = to_dict(load(DIGITS))
    data["version"] = 1
    g = from_dict(data)
    assert len(g) == 11 and json.loads(dumps(g))["version"] == 2
    data["blocks"] = {}
    with pytest.raises(InvalidProjectError) as err:
        from_dict(data)
    assert err.value.path == "blocks"


def _blocked_file() -> dict:
    g = residual_graph()
    g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    return json.loads(dumps(g))


def _first(data: dict, type_id: str, where=None) -> str:
    nodes = where if where is not None else data["nodes"]
    return next(k for k, v in sorted(nodes.items()) if v["type"] == type_id)


def _mutations():
    def missing_definition(d):
        d["nodes"][_first(d, "block")]["params"]["block"] = "Gone"
        return f"nodes.{_first(d, 'block')}.params.block", "no block definition named 'Gone'"

    def bad_inner_param(d):
        body = d["blocks"]["ResidualBlock"]["nodes"]
        conv = _first(d, "nn.Conv2d", body)
        body[conv]["params"]["out_channels"] = 0
        return f"blocks.ResidualBlock.nodes.{conv}.params.out_channels", "out of range"

    def self_containing(d):
        body = d["blocks"]["ResidualBlock"]["nodes"]
        body["z9"] = {"type": "block", "params": {"block": "ResidualBlock"}}
        return (
            "blocks.ResidualBlock.nodes.z9.params.block",
            "ResidualBlock contains itself (ResidualBlock → ResidualBlock)",
        )

    def mutual(d):
        d["blocks"]["Other"] = {
            "nodes": {"a": {"type": "block", "params": {"block": "ResidualBlock"}}}
        }
        d["blocks"]["ResidualBlock"]["nodes"]["z9"] = {
            "type": "block",
            "params": {"block": "Other"},
        }
        return "blocks.ResidualBlock.nodes.z9.params.block", "Other → ResidualBlock → Other"

    def bad_name(d):
        d["blocks"]["lower"] = {"nodes": {}, "edges": []}
        return "blocks.lower", "class name"

    def model_name(d):
        d["settings"]["model_name"] = "ResidualBlock"
        return "blocks.ResidualBlock", "model's class name"

    def io_at_top(d):
        d["nodes"]["z9"] = {"type": "io.Input", "params": {"name": "x"}}
        return "nodes.z9.type", "inside a block"

    def data_in_block(d):
        d["blocks"]["ResidualBlock"]["nodes"]["z9"] = {"type": "data.Digits"}
        return "blocks.ResidualBlock.nodes.z9.type", "not data.Digits"

    def duplicate_io(d):
        body = d["blocks"]["ResidualBlock"]["nodes"]
        body["z9"] = {"type": "io.Output", "params": {"name": "out"}}
        return "blocks.ResidualBlock.nodes.z9.params.name", "another block output"

    def bad_port(d):
        inst = _first(d, "block")
        i = next(i for i, e in enumerate(d["edges"]) if e["to"][0] == inst)
        d["edges"][i]["to"][1] = "nope"
        return f"edges[{i}].to", "no input 'nope'"

    def inner_edge(d):
        d["blocks"]["ResidualBlock"]["edges"][0]["from"][0] = "ghost"
        return "blocks.ResidualBlock.edges[0].from", "no node with id 'ghost'"

    def unknown_field(d):
        d["blocks"]["ResidualBlock"]["colour"] = "red"
        return "blocks.ResidualBlock.colour", "unknown field"

    def not_object(d):
        d["blocks"] = []
        return "blocks", "must be an object"

    return [
        missing_definition,
        bad_inner_param,
        self_containing,
        mutual,
        bad_name,
        model_name,
        io_at_top,
        data_in_block,
        duplicate_io,
        bad_port,
        inner_edge,
        unknown_field,
        not_object,
    ]


@pytest.mark.parametrize("mutate", _mutations(), ids=lambda f: f.__name__)
def test_load_errors_name_the_field(mutate):
    data = _blocked_file()
    path, message = mutate(data)
    with pytest.raises(InvalidProjectError) as err:
        loads(json.dumps(data))
    assert err.value.path == path
    assert message in str(err.value)


# ---------------------------------------------------------------------------- clipboard


def test_copying_an_instance_copies_a_reference():
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    fragment = fragment_from_text(fragment_to_text(copy_fragment(g, [inst])))
    assert list(fragment["blocks"]) == ["ResidualBlock"]
    plan = plan_paste(g, fragment, (40, 40))
    assert plan.blocks == []  # the same document: the definition is shared
    assert [(t, p) for _, t, p, _, _ in plan.nodes] == [("block", {"block": "ResidualBlock"})]

    other = residual_graph()  # another document with a different ResidualBlock
    other.collapse([by_label(other, "relu")], "ResidualBlock")
    plan = plan_paste(other, fragment, (0, 0))
    assert [name for name, _ in plan.blocks] == ["ResidualBlock2"]
    for name, body in plan.blocks:
        other.add_block_def(name, body)
    ((nid, type_id, params, label, pos),) = plan.nodes
    other.add_node(type_id, params, label=label, pos=pos, node_id=nid)
    assert other.node(nid).params == {"block": "ResidualBlock2"}
    assert other.blocks["ResidualBlock2"].to_dict() == g.blocks["ResidualBlock"].to_dict()


# ---------------------------------------------------------------------------- codegen


def _compile(graph: Graph):
    from torchcanvas.runtime.compile import compile_model

    return compile_model(graph)


def test_two_instances_generate_one_class_and_two_attributes():
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    _add_second_instance(g, inst)
    src = _compile(g).source
    text = src.source
    assert text.count("class ResidualBlock(nn.Module):") == 1
    assert text.index("class ResidualBlock") < text.index("class ResNetish")
    assert "        self.block1 = ResidualBlock()\n        self.block2 = ResidualBlock()\n" in text
    assert "        x = self.block1(x)\n        x = self.block2(x)\n" in text
    assert "self.conv_a = nn.Conv2d(8, 8, 3, padding=1)" in text  # auto resolved per block
    # ruff-clean like every generated file
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "-"],
        input=text,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # lines of the block's class point at its first instance; block_lines name the inner node
    lines = text.splitlines()
    conv_line = lines.index("        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)") + 1
    assert src.line_map[conv_line] == inst
    body = g.blocks["ResidualBlock"].graph
    assert src.block_lines[conv_line] == ("ResidualBlock", by_label(body, "conv_a"))
    head = lines.index("class ResidualBlock(nn.Module):") + 1
    assert src.line_map[head] == inst


def test_several_outputs_unpack():
    g = residual_graph()
    mse = g.add_node("loss.MSE", label="aux")
    g.connect(by_label(g, "conv_b"), "out", mse, "input")
    g.connect(by_label(g, "conv_b"), "out", mse, "target")
    g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    text = _compile(g).source.source
    assert (
        "        conv_a = self.conv_b(conv_a)\n        add = conv_a + x\n"
        "        return conv_a, add\n" in text
    )  # the block returns both values
    assert (
        "        x = self.stem(x)\n        block1_out1, block1_out2 = self.block1(x)\n"
        "        block1_out2 = self.relu(block1_out2)\n" in text
    )
    assert text.endswith("        return block1_out1, block1_out2\n")


def test_inner_problems_are_reported_on_the_instance():
    from torchcanvas.runtime.shapes import infer_shapes

    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    result = infer_shapes(g)
    assert result.ok
    resolved = result.resolved
    inner = g.blocks["ResidualBlock"].graph
    conv_a, conv_b = by_label(inner, "conv_a"), by_label(inner, "conv_b")
    assert result.param_counts[inst] == 2 * (8 * 8 * 9 + 8)
    assert result.resolved[f"ResidualBlock/{conv_a}"] == {"in_channels": 8}
    assert result.block_shapes[inst][(conv_b, "out")] == ("B", 8, 8, 8)
    assert result.shapes[(inst, "out")] == ("B", 8, 8, 8)

    scratch = g.scratch_body("ResidualBlock")
    scratch.set_param(conv_a, "in_channels", 3)
    g.replace_block_def("ResidualBlock", scratch)
    result = infer_shapes(g)
    error = result.first_error()
    assert error.node_id == inst
    assert error.message == (
        "block1 › conv_a: expects 3 input channels but gets 8 (input "
        "[B, 8, 8, 8]); set in_channels to auto or 8"
    )
    # codegen problems inside a block name the instance too
    scratch.disconnect(scratch.in_edges(conv_a)[0])
    g.replace_block_def("ResidualBlock", scratch)
    with pytest.raises(CodegenError, match=r"^block1 › conv_a: input 'x' is not connected") as err:
        build_ir(g, resolved)
    assert err.value.node_id == inst


def test_instances_must_agree_on_inner_sizes():
    from torchcanvas.runtime.shapes import infer_shapes

    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    _add_second_instance(g, inst)
    assert infer_shapes(g).ok  # the same input shape: the same sizes

    g = load(DIGITS)  # conv1 → relu1 as a block, used again on its own 16-channel output
    first = g.collapse([by_label(g, "conv1"), by_label(g, "relu1")], "ConvBlock")
    conv2 = by_label(g, "conv2")
    second = g.add_node("block", {"block": "ConvBlock"})
    g.disconnect(g.input_edge(conv2, "x"))
    g.connect(first, "out", second, "x")
    g.connect(second, "out", conv2, "x")
    error = infer_shapes(g).first_error()
    assert error.node_id == second
    assert error.message == (
        "block2: ConvBlock is used with inputs [B, 1, 8, 8] and [B, 16, 8, 8]; its layers "
        "would need different sizes: make a second block"
    )


# ---------------------------------------------------------------------------- runtime


def _flat_state(
    blocked, graph: Graph, flat_ir, blocked_ir, mapping: dict[str, dict[str, str]]
) -> dict:
    """The blocked model's weights under the flat model's keys (``block1.conv_a.weight`` →
    ``conv_a.weight``), through the node ids: ``mapping`` is instance id → inner node id →
    node id after expansion."""
    state = {}
    block_irs = {b.block: b for b in blocked_ir.blocks}
    for key, value in blocked.state_dict().items():
        attr, rest = key.split(".", 1)
        nid = next(i for i, a in blocked_ir.attrs.items() if a == attr)
        if graph.node(nid).kind != "block":  # a layer outside the blocks keeps its node id
            state[f"{flat_ir.attrs[nid]}.{rest}"] = value
            continue
        inst = nid
        inner_attr, rest = rest.split(".", 1)
        block_ir = block_irs[graph.node(inst).params["block"]]
        inner = next(i for i, a in block_ir.attrs.items() if a == inner_attr)
        state[f"{flat_ir.attrs[mapping[inst][inner]]}.{rest}"] = value
    return state


def test_blocked_model_computes_what_the_flat_model_computes(torch_deterministic):
    torch = torch_deterministic
    g = residual_graph()
    inst = g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    second = _add_second_instance(g, inst)
    blocked = _compile(g)

    flat_graph = copy.deepcopy(g.snapshot())
    flat = Graph()
    flat.restore(flat_graph)
    mapping = {}
    inner_ids = [n.id for n in g.blocks["ResidualBlock"].graph.nodes() if n.kind != "io"]
    for i in (inst, second):
        mapping[i] = dict(zip(inner_ids, flat.expand(i), strict=True))
    assert not flat.blocks
    flat_model = _compile(flat)
    assert "class ResidualBlock" not in flat_model.source.source

    m_blocked, m_flat = blocked.new(), flat_model.new()
    n_blocked = sum(p.numel() for p in m_blocked.parameters())
    assert n_blocked == sum(p.numel() for p in m_flat.parameters())
    assert n_blocked == blocked.shapes.total_params == flat_model.shapes.total_params
    # every flat weight receives exactly one blocked weight (strict load), then same outputs
    m_flat.load_state_dict(
        _flat_state(m_blocked, g, flat_model.source.ir, blocked.source.ir, mapping), strict=True
    )
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(m_blocked(x), m_flat(x))


def test_a_block_in_the_digits_cnn_trains_and_exports(tmp_path, torch_deterministic):
    torch = torch_deterministic
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.export import export_code
    from torchcanvas.runtime.trainer import RunFinished, Trainer, TrainOptions

    g = load(DIGITS)
    g.set_setting("epochs", 2)
    g.collapse([by_label(g, x) for x in ("conv1", "relu1", "conv2", "relu2")], "Features")
    project = compile_project(g, title="digits_blocks")
    out = tmp_path / "run"
    trainer = Trainer(project, TrainOptions(out_dir=out))
    events = trainer.run()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    history = events[-1].history
    assert history[-1]["accuracy"] > 0.8
    export_code(project, out)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(x)
    script = (
        "import sys, torch\n"
        "from model import DigitsCNN, Features\n"
        "m = DigitsCNN()\n"
        "assert isinstance(m.block1, Features)\n"
        "m.load_state_dict(torch.load('weights.pt', weights_only=True))\n"
        "m.eval()\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True)\n"
        f"torch.save(m(x).detach(), {str(tmp_path / 'y.pt')!r})\n"
        "assert not any(k.startswith('torchcanvas') for k in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert torch.equal(torch.load(tmp_path / "y.pt", weights_only=True), expected)


def test_print_model_without_blocks_is_unchanged():
    g = load(DIGITS)
    from torchcanvas.runtime.shapes import infer_shapes

    ir = build_ir(g, infer_shapes(g).resolved)
    assert ir.blocks == []
    assert print_model(ir).block_lines == {}


# ---------------------------------------------------------------------------- loader fuzzing

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["block", "io.Input", "io.Output", "ResidualBlock", "Nested", "x", "out"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


def _paths(value, prefix=()):
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for k, v in items:
        yield (*prefix, k)
        yield from _paths(v, (*prefix, k))


def _nested_file() -> dict:
    g = residual_graph()
    inner = g.collapse([by_label(g, "relu_a")], "Nested")
    g.collapse(
        [by_label(g, "conv_a"), inner, by_label(g, "conv_b"), by_label(g, "add")], "ResidualBlock"
    )
    return json.loads(dumps(g))


NESTED = _nested_file()


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.data())
def test_mutated_block_files_load_or_are_refused(data):
    """Whatever a file's blocks hold, loading refuses it with InvalidProjectError or gives a
    graph that saves and reloads to the same text."""
    doc = copy.deepcopy(NESTED)
    for _ in range(data.draw(st.integers(1, 3))):
        block_paths = [p for p in _paths(doc) if p[0] in ("blocks", "nodes")]
        if not block_paths:
            break
        path = data.draw(st.sampled_from(block_paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        op = data.draw(st.sampled_from(["delete", "replace", "rename"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace" or not isinstance(parent, dict):
            parent[path[-1]] = data.draw(_VALUES)
        else:
            parent[data.draw(_VALUES.filter(lambda v: isinstance(v, str)))] = parent.pop(path[-1])
    try:
        graph = from_dict(copy.deepcopy(doc))
    except InvalidProjectError as exc:
        assert exc.path is not None
        return
    text = dumps(graph)
    assert dumps(loads(text)) == text


def test_nested_blocks_compute_what_the_flat_model_computes(torch_deterministic):
    """Seeded init: the blocked and the flat model create their layers in the same order, so
    equal parameters (checked one by one) must give equal outputs."""
    torch = torch_deterministic
    g = residual_graph()
    flat = _compile(g)
    inner = g.collapse([by_label(g, "relu_a"), by_label(g, "conv_b")], "Nested")
    g.collapse([by_label(g, "conv_a"), inner, by_label(g, "add")], "ResidualBlock")
    blocked = _compile(g)
    text = blocked.source.source
    assert (
        text.index("class Nested(")
        < text.index("class ResidualBlock(")
        < text.index("class ResNetish(")
    )
    assert "self.block1 = Nested()" in text and "self.block1 = ResidualBlock()" in text
    torch.manual_seed(7)
    m_flat = flat.new()
    torch.manual_seed(7)
    m_blocked = blocked.new()
    pairs = list(zip(m_flat.parameters(), m_blocked.parameters(), strict=True))
    assert len(pairs) == 8 and all(torch.equal(a, b) for a, b in pairs)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(m_flat(x), m_blocked(x))


def test_a_failing_step_rolls_the_collapse_back(monkeypatch):
    g = residual_graph()
    before = dumps(g)
    rec = Recorder(g)
    calls = []
    real = Graph.connect

    def flaky(self, *args, **kwargs):  # the second wire to the new instance fails
        if self is g:
            calls.append(args)
            if len(calls) == 2:
                raise RuntimeError("disk on fire")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Graph, "connect", flaky)
    with pytest.raises(RuntimeError):
        g.collapse([by_label(g, x) for x in RESIDUAL], "ResidualBlock")
    monkeypatch.undo()
    assert dumps(g) == before and not g.blocks
    assert rec.kinds[-1] == "reset"
