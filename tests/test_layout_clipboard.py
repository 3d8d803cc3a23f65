"""Auto-layout and copy/paste planning (no Qt)."""

from __future__ import annotations

import pytest

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load
from torchcanvas.graph.clipboard import (
    copy_fragment,
    fragment_from_text,
    fragment_to_text,
    plan_paste,
)
from torchcanvas.graph.errors import InvalidProjectError
from torchcanvas.graph.layout import default_size, layered_layout


@pytest.fixture
def digits():
    return load(assets_dir() / "examples" / "digits_cnn.json")


def _by_label(g, positions):
    return {g.node(n).label: p for n, p in positions.items()}


TRAINING = ("loss", "optimizer", "scheduler", "clip")


def test_layout_left_to_right_follows_the_wires(digits):
    pos = layered_layout(digits)
    for e in digits.edges():
        if digits.node(e.dst).kind in TRAINING and digits.node(e.src).kind not in TRAINING:
            assert pos[e.src][1] < pos[e.dst][1], e  # into the training band below
        else:
            assert pos[e.src][0] < pos[e.dst][0], e  # every other wire points right
    by = _by_label(digits, pos)
    assert by["digits"][0] == 0.0
    assert by["conv1"][0] < by["relu1"][0] < by["classifier"][0]
    # the loss sits under the layer that feeds it; the optimizer follows it in the band
    assert by["loss1"][0] == by["classifier"][0] < by["optimizer1"][0]
    model_bottom = max(
        y + default_size(digits, n)[1]
        for n, (x, y) in pos.items()
        if digits.node(n).kind not in TRAINING
    )
    assert all(pos[n][1] > model_bottom for n in pos if digits.node(n).kind in TRAINING)


def test_layout_without_band_is_one_layered_line(digits):
    pos = layered_layout(digits, training_band=False)
    for e in digits.edges():
        assert pos[e.src][0] < pos[e.dst][0], e


def test_layout_top_down_and_no_overlaps(digits):
    pos = layered_layout(digits, direction="TB")
    for e in digits.edges():
        assert pos[e.src][1] <= pos[e.dst][1]
    boxes = [(x, y, *default_size(digits, n)) for n, (x, y) in pos.items()]
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


def test_layout_of_a_selection_keeps_its_corner_and_others(digits):
    ids = [n.id for n in digits.nodes() if n.label in ("relu1", "conv2", "relu2")]
    corner = (min(digits.node(n).pos[0] for n in ids), min(digits.node(n).pos[1] for n in ids))
    pos = layered_layout(digits, ids)
    assert set(pos) == set(ids)
    assert min(p[0] for p in pos.values()) == corner[0]
    assert min(p[1] for p in pos.values()) == corner[1]


def test_layout_orders_branches_to_avoid_crossings():
    from torchcanvas.graph import Graph

    g = Graph()
    d = g.add_node("data.Digits", pos=(0, 0))
    a = g.add_node("nn.Conv2d", pos=(200, 300))  # placed low, feeds the low branch
    b = g.add_node("nn.Conv2d", pos=(200, 0))
    add = g.add_node("op.add", pos=(400, 0))
    g.connect(d, "x", a, "x")
    g.connect(d, "x", b, "x")
    g.connect(a, "out", add, "b")
    g.connect(b, "out", add, "a")
    pos = layered_layout(g)
    assert pos[a][0] == pos[b][0]  # same layer
    assert pos[b][1] < pos[a][1]  # keeps the user's vertical order


def test_copy_paste_keeps_internal_wires_and_makes_fresh_labels(digits):
    ids = [n.id for n in digits.nodes() if n.label in ("conv1", "relu1", "conv2")]
    fragment = fragment_from_text(fragment_to_text(copy_fragment(digits, ids)))
    assert len(fragment["nodes"]) == 3 and len(fragment["edges"]) == 2
    plan = plan_paste(digits, fragment, (40, 40))
    labels = [label for _, _, _, label, _ in plan.nodes]
    assert labels == ["conv3", "relu3", "conv4"]
    new_ids = {nid for nid, *_ in plan.nodes}
    assert not new_ids & set(digits.node_ids())
    assert all(e.src in new_ids and e.dst in new_ids for e in plan.edges)
    for nid, type_id, params, label, pos in plan.nodes:
        digits.add_node(type_id, params, label=label, pos=pos, node_id=nid)
    for e in plan.edges:
        digits.connect(e.src, e.src_port, e.dst, e.dst_port)
    orig = digits.node(ids[0])
    copy = next(digits.node(n) for n, *_ in plan.nodes if digits.node(n).label == "conv3")
    assert copy.params == orig.params
    assert copy.pos == (orig.pos[0] + 40, orig.pos[1] + 40)


def test_paste_refuses_foreign_text_and_skips_unknown_types(digits):
    for text in ("hello", "{}", '{"format": "x"}', "[" * 5000):
        with pytest.raises(InvalidProjectError):
            fragment_from_text(text)
    fragment = {
        "format": "torchcanvas-fragment",
        "nodes": {
            "a": {"type": "nn.Evil", "params": {}},
            "b": {"type": "nn.ReLU", "params": {"inplace": "yes"}},
            "c": {"type": "nn.ReLU", "params": {}, "pos": [1, 2]},
        },
        "edges": [{"from": ["a", "out"], "to": ["c", "x"]}, {"bad": 1}],
    }
    plan = plan_paste(digits, fragment, (0, 0))
    assert [t for _, t, *_ in plan.nodes] == ["nn.ReLU"] and plan.edges == []


def test_default_width_grows_on_the_grid_for_long_port_names():
    from torchcanvas.graph.layout import NODE_WIDTH, default_width

    def width(text: str) -> float:
        return 6.0 * len(text)

    assert default_width(["x"], ["out"], "LR", width) == NODE_WIDTH
    assert default_width(["x"], ["out"], "TB", width) == NODE_WIDTH
    outs = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
    tb = default_width(["x"], outs, "TB", width)
    # five names spread along the bottom edge: one every width / 6, each 42 wide + clearances
    assert tb % 10 == 0 and tb / 6 >= 42 + 22 and tb - 10 < 6 * (42 + 23)
    assert default_width(["x"], outs, "LR", width) == NODE_WIDTH  # a row per name: room enough
    long = default_width(["a_very_long_input_name"], ["a_long_output_name"], "LR", width)
    assert long % 10 == 0 and long >= 6 * (22 + 18) + 22 + 6
