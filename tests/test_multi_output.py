"""Layers that return several values: typed output ports, shapes on each, unpacking codegen."""

from __future__ import annotations

import pytest
import torch

from torchcanvas.codegen.emit import flatten_returns, returns_target
from torchcanvas.graph import Graph
from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.spec import NodeSpec, PortSpec, flat_returns
from torchcanvas.runtime.compile import compile_model
from torchcanvas.runtime.shapes import infer_shapes


def test_recurrent_and_attention_declare_what_they_return():
    lstm, gru, rnn = CATALOGUE["nn.LSTM"], CATALOGUE["nn.GRU"], CATALOGUE["nn.RNN"]
    assert [p.name for p in lstm.outputs] == ["out", "h", "c"]
    assert lstm.returns == ("out", ("h", "c"))
    for spec in (gru, rnn):
        assert [p.name for p in spec.outputs] == ["out", "h"] and spec.returns == ("out", "h")
    mha = CATALOGUE["nn.MultiheadAttention"]
    assert [p.name for p in mha.outputs] == ["out", "weights"]
    assert mha.returns == ("out", "weights")
    for spec in CATALOGUE.values():
        if spec.returns is not None:
            assert flat_returns(spec.returns) == [p.name for p in spec.outputs], spec.type_id


def test_a_returns_structure_must_name_the_outputs():
    with pytest.raises(ValueError, match="does not name its outputs"):
        NodeSpec("nn.X", "X", "Layers", "layer", outputs=(PortSpec("out"),), returns=("out", "h"))


def test_unpacking_helpers():
    assert returns_target(("out", ("h", "c")), {"out": "y", "c": "cell"}) == "y, (_, cell)"
    assert flatten_returns(("out", ("h", "c")), (1, (2, 3))) == {"out": 1, "h": 2, "c": 3}
    assert flatten_returns(("out", "weights"), (1, None)) == {"out": 1}


def _graph(**lstm):
    g = Graph()
    d = g.add_node("data.RandomImages", {"shape": [5, 8]})
    rnn = g.add_node("nn.LSTM", {"hidden_size": 6, **lstm})
    g.connect(d, "x", rnn, "x")
    return g, d, rnn


def test_shapes_on_every_output_port():
    g, d, rnn = _graph(num_layers=2, output="last_step")
    attn = g.add_node("nn.MultiheadAttention", {"num_heads": 2})
    g.connect(d, "x", attn, "query")
    shapes = infer_shapes(g).shapes
    assert shapes[(rnn, "out")] == ("B", 6)
    assert shapes[(rnn, "h")] == shapes[(rnn, "c")] == (2, "B", 6)
    assert shapes[(attn, "out")] == ("B", 5, 8)
    assert shapes[(attn, "weights")] == ("B", 5, 5)  # averaged over the heads


def _run(g: Graph, x: torch.Tensor):
    compiled = compile_model(g)
    torch.manual_seed(0)
    model = compiled.new().eval()
    with torch.no_grad():
        return compiled.source.source, model, model(x)


def test_lstm_unpacks_when_its_states_are_wired():
    g, d, rnn = _graph(num_layers=2, output="last_step")
    fc = g.add_node("nn.Linear", {"out_features": 3}, label="head")
    g.connect(rnn, "out", fc, "x")
    cell = g.add_node("nn.Linear", {"out_features": 3}, label="from_cell")
    g.connect(rnn, "c", cell, "x")
    x = torch.randn(4, 5, 8)
    src, model, (out, from_c) = _run(g, x)
    assert "        lstm1, (_, lstm1_c) = self.lstm1(x)\n        lstm1 = lstm1[:, -1]\n" in src
    with torch.no_grad():
        seq, (h, c) = model.lstm1(x)
        assert torch.equal(out, model.head(seq[:, -1]))
        assert torch.equal(from_c, model.from_cell(c))


def test_hidden_output_picked_from_the_unpacked_state():
    g, d, rnn = _graph(output="hidden", bidirectional=True)
    fc = g.add_node("nn.Linear", {"out_features": 3}, label="head")
    g.connect(rnn, "out", fc, "x")
    state = g.add_node("nn.Linear", {"out_features": 2}, label="from_h")
    g.connect(rnn, "h", state, "x")
    src, model, (out, from_h) = _run(g, x := torch.randn(4, 5, 8))
    assert (
        "        _, (lstm1_h, _) = self.lstm1(x)\n"
        "        lstm1 = lstm1_h[-2:].transpose(0, 1).flatten(1)\n"
    ) in src
    with torch.no_grad():
        _, (h, _) = model.lstm1(x)
        assert torch.equal(out, model.head(h[-2:].transpose(0, 1).flatten(1)))
        assert torch.equal(from_h, model.from_h(h))


def test_only_the_first_output_used_stays_one_expression():
    g, d, rnn = _graph(output="hidden")
    fc = g.add_node("nn.Linear", {"out_features": 3}, label="head")
    g.connect(rnn, "out", fc, "x")
    src, _, _ = _run(g, torch.randn(2, 5, 8))
    assert "x = self.lstm1(x)[1][0][-1]" in src  # as before several outputs existed
    # a sink returns its first output only, not the states
    g2, _, _ = _graph()
    src2, _, y = _run(g2, torch.randn(2, 5, 8))
    assert isinstance(y, torch.Tensor) and y.shape == (2, 5, 6)
    assert "return x" in src2


def test_gru_state_and_attention_weights():
    g = Graph()
    d = g.add_node("data.RandomImages", {"shape": [5, 8]})
    gru = g.add_node("nn.GRU", {"hidden_size": 8})
    g.connect(d, "x", gru, "x")
    attn = g.add_node("nn.MultiheadAttention", {"num_heads": 2})
    g.connect(gru, "out", attn, "query")
    head = g.add_node("nn.Linear", {"out_features": 3}, label="head")
    g.connect(attn, "out", head, "x")
    w = g.add_node("nn.Linear", {"out_features": 2}, label="on_weights")
    g.connect(attn, "weights", w, "x")
    hh = g.add_node("nn.Linear", {"out_features": 2}, label="on_h")
    g.connect(gru, "h", hh, "x")
    x = torch.randn(3, 5, 8)
    src, model, outs = _run(g, x)
    assert "gru1, gru1_h = self.gru1(x)" in src
    assert "attn1, attn1_weights = self.attn1(gru1, gru1, gru1)" in src
    with torch.no_grad():
        seq, h = model.gru1(x)
        a, weights = model.attn1(seq, seq, seq)
        want = (model.head(a), model.on_weights(weights), model.on_h(h))
    assert len(outs) == 3
    for got, exp in zip(outs, want, strict=True):
        assert torch.equal(got, exp)


def test_lstm_cell_takes_and_gives_both_states():
    g = Graph()
    d = g.add_node("data.RandomImages", {"shape": [8]})
    h0 = g.add_node("nn.Linear", {"out_features": 16}, label="h0")
    g.connect(d, "x", h0, "x")
    cell = g.add_node("nn.LSTMCell", {"hidden_size": 16})
    g.connect(d, "x", cell, "x")
    g.connect(h0, "out", cell, "hx")  # cx unconnected: zeros
    head = g.add_node("nn.Linear", {"out_features": 3}, label="head")
    g.connect(cell, "h", head, "x")
    on_c = g.add_node("nn.Linear", {"out_features": 3}, label="on_c")
    g.connect(cell, "c", on_c, "x")
    shapes = infer_shapes(g).shapes
    assert shapes[(cell, "h")] == shapes[(cell, "c")] == ("B", 16)
    x = torch.randn(4, 8)
    src, model, (a, b) = _run(g, x)
    assert "cell1, cell1_c = self.cell1(x, (h0, torch.zeros_like(h0)))" in src
    with torch.no_grad():
        start = model.h0(x)
        h, c = model.cell1(x, (start, torch.zeros_like(start)))
        assert torch.equal(a, model.head(h)) and torch.equal(b, model.on_c(c))


def test_lstm_cell_states_import_onto_its_ports():
    from torchcanvas.runtime.importer import import_model

    class TwoSteps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = torch.nn.LSTMCell(8, 16)
            self.second = torch.nn.LSTMCell(8, 16)

        def forward(self, x):
            h, c = self.first(x)
            h2, c2 = self.second(x, (h, c))
            return h2 + c2

    torch.manual_seed(0)
    result = import_model(TwoSteps(), (8,))
    assert result.max_abs_diff == 0.0 and not result.code_nodes
    g = result.graph
    wires = {(g.node(e.src).label, e.src_port, g.node(e.dst).label, e.dst_port) for e in g.edges()}
    assert {("first", "h", "second", "hx"), ("first", "c", "second", "cx")} <= wires
    src = compile_model(g).source.source
    assert "first, first_c = self.first(x)" in src


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_pool_indices_feed_max_unpool(n):
    """A max pool with return_indices gives its indices on a second port; MaxUnpool puts each
    maximum back where it came from: shapes, model.py and values as torch computes them."""
    size = [4, 6, 8][:n]
    g = Graph()
    d = g.add_node("data.RandomImages", {"shape": [3, *size]})
    pool = g.add_node(f"nn.MaxPool{n}d", {"kernel_size": [2] * n, "return_indices": True})
    unpool = g.add_node(f"nn.MaxUnpool{n}d", {"kernel_size": [2] * n})
    g.connect(d, "x", pool, "x")
    g.connect(pool, "out", unpool, "x")
    g.connect(pool, "indices", unpool, "indices")
    result = infer_shapes(g)
    assert result.ok, result.problems
    half = tuple(s // 2 for s in size)
    assert result.shapes[(pool, "out")] == result.shapes[(pool, "indices")] == ("B", 3, *half)
    assert result.dtypes[(pool, "indices")] == "int64"
    assert result.shapes[(unpool, "out")] == ("B", 3, *size)

    x = torch.randn(2, 3, *size)
    src, model, out = _run(g, x)
    assert f"self.pool1 = nn.MaxPool{n}d(" in src and "return_indices=True)" in src
    assert "        pool1, pool1_indices = self.pool1(x)\n" in src
    assert "self.unpool1(pool1, pool1_indices)" in src
    functional = torch.nn.functional
    pooled, indices = getattr(functional, f"max_pool{n}d")(x, 2, return_indices=True)
    assert torch.equal(out, getattr(functional, f"max_unpool{n}d")(pooled, indices, 2))
    assert torch.equal(out.ne(0), out.eq(x) & out.ne(0))  # each kept value where it was


def test_max_pool_indices_need_return_indices():
    g = Graph()
    d = g.add_node("data.RandomImages", {"shape": [3, 8, 8]})
    pool = g.add_node("nn.MaxPool2d", {"kernel_size": [2, 2]}, label="down")
    unpool = g.add_node("nn.MaxUnpool2d", {"kernel_size": [2, 2]}, label="up")
    g.connect(d, "x", pool, "x")
    g.connect(pool, "out", unpool, "x")
    g.connect(pool, "indices", unpool, "indices")
    problems = infer_shapes(g).problems
    assert [(p.node_id, p.message) for p in problems] == [
        (pool, "down: its indices output is wired (to up): turn on return_indices")
    ]
    # on, with only the pooled values used: the call picks them
    g.set_param(pool, "return_indices", True)
    g.remove_node(unpool)
    fc = g.add_node("nn.Flatten", {})
    g.connect(pool, "out", fc, "x")
    x = torch.randn(2, 3, 8, 8)
    src, _, out = _run(g, x)
    assert "self.down(x)[0]" in src
    assert torch.equal(out, torch.nn.functional.max_pool2d(x, 2).flatten(1))
