"""Importing models whose layers return several values: attention, recurrent layers, whole
transformers. Each goes import → check → export, and the exported model.py, run where
torchcanvas cannot be imported, loads the original state_dict strictly and gives its outputs
exactly (CPU, evaluation mode, seeded random input) with the same parameter count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from import_models import Helpers, RecurrentAttention, Seq2SeqTransformer
from test_export import run_standalone

from torchcanvas.graph import load
from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_model
from torchcanvas.runtime.importer import (
    ROUNDTRIP_MODELS,
    ROUNDTRIP_SHAPES,
    import_model,
    load_spec,
    roundtrip,
)

MODELS_FILE = Path(__file__).parent / "import_models.py"

STANDALONE = """
import json
import sys

import torch

sys.path.insert(0, ".")
from model import {cls}

x, want = torch.load("check.pt")
model = {cls}().eval()
model.load_state_dict(torch.load("original.pt"))  # strict: every key, no extra
with torch.no_grad():
    got = model(x)
print(json.dumps({{
    "max_abs_diff": float((got - want).abs().max()),
    "params": sum(p.numel() for p in model.parameters()),
    "same_shape": list(got.shape) == list(want.shape),
}}))
"""


def full_round_trip(tmp_path: Path, spec: str, original: torch.nn.Module, shape, capsys) -> dict:
    """``torchcanvas import`` → ``check`` → ``export`` (model.py), then the exported model
    with ``original``'s weights, run outside torchcanvas: its figures."""
    project = tmp_path / "imported.json"
    shape_text = ",".join(str(d) for d in shape)
    assert cli_main(["import", spec, "--out", str(project), "--input-shape", shape_text]) == 0
    assert "outputs match the original model" in capsys.readouterr().err
    assert cli_main(["check", str(project)]) == 0
    folder = tmp_path / "export"
    assert cli_main(["export", str(project), "--out", str(folder), "--formats", "code"]) == 0
    capsys.readouterr()
    original.eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = original(x)
    torch.save(original.state_dict(), folder / "original.pt")
    torch.save((x, want), folder / "check.pt")
    cls = compile_model(load(project)).source.ir.class_name
    out = run_standalone(folder, STANDALONE.format(cls=cls)).stdout.strip().splitlines()[-1]
    figures = json.loads(out)
    figures["original_params"] = sum(p.numel() for p in original.parameters())
    return figures


def assert_exact(figures: dict) -> None:
    assert figures["same_shape"], figures
    assert figures["max_abs_diff"] == 0.0, figures
    assert figures["params"] == figures["original_params"] > 0, figures


def test_tuple_results_import_onto_output_ports():
    torch.manual_seed(0)
    model = RecurrentAttention()
    result = import_model(model, (7, 6))
    assert result.max_abs_diff == 0.0 and "outputs match the original model" in result.notes
    g = result.graph
    by_label = {n.label: n for n in g.nodes()}
    assert (
        by_label["lstm"].type_id == "nn.LSTM"
        and by_label["attn"].type_id == "nn.MultiheadAttention"
    )
    assert by_label["lstm"].params["num_layers"] == 2
    wired = {(g.node(e.src).label, e.src_port) for e in g.edges()}
    assert {("lstm", "out"), ("lstm", "c"), ("attn", "out"), ("attn", "weights")} <= wired
    assert {("gru", "out"), ("gru", "h")} <= wired
    assert ("lstm", "h") not in wired  # traced but unused: no wire
    src = compile_model(g).source.source
    assert "lstm, (_, lstm_c) = self.lstm(x)" in src
    assert "attn, attn_weights = self.attn(lstm, lstm, lstm)" in src
    assert "gru, gru_h = self.gru(attn)" in src
    assert "code" not in {n.kind for n in g.nodes() if n.label in ("lstm", "attn", "gru")}


def test_attention_call_options_import_and_others_are_refused():
    class WeightsOff(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            out, _ = self.attn(x, x, x, need_weights=False)
            return out

    torch.manual_seed(0)
    result = import_model(WeightsOff(), (5, 8))
    assert result.max_abs_diff == 0.0
    src = compile_model(result.graph).source.source
    assert "self.attn(x, x, x, need_weights=False)[0]" in src

    class Masked(WeightsOff):
        def forward(self, x):
            return self.attn(x, x, x, attn_mask=torch.ones(5, 5, dtype=torch.bool))[0]

    from torchcanvas.runtime.importer import ModelImportError

    with pytest.raises(ModelImportError, match="attn: this MultiheadAttention call"):
        import_model(Masked(), (5, 8))


def test_transformer_layers_import_as_nodes():
    class Stack(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = torch.nn.TransformerEncoderLayer(
                16, 2, 32, activation="gelu", batch_first=True, norm_first=True
            )
            self.dec = torch.nn.TransformerDecoderLayer(16, 4, 24, dropout=0.2, batch_first=True)

        def forward(self, x):
            return self.dec(x, self.enc(x))

    torch.manual_seed(0)
    result = import_model(Stack(), (6, 16))
    assert result.max_abs_diff == 0.0 and not result.code_nodes
    enc = next(n for n in result.graph.nodes() if n.label == "enc")
    assert enc.type_id == "nn.TransformerEncoderLayer"
    assert enc.params["activation"] == "gelu" and enc.params["norm_first"] is True
    dec = next(n for n in result.graph.nodes() if n.label == "dec")
    assert dec.params["nhead"] == 4 and dec.params["dim_feedforward"] == 24

    class OtherActivation(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = torch.nn.TransformerEncoderLayer(16, 2, 32, activation=torch.tanh)

        def forward(self, x):
            return self.enc(x)

    from torchcanvas.runtime.importer import layer_params

    assert layer_params("nn.TransformerEncoderLayer", OtherActivation().enc) is None


def test_transformer_encoder_decoder_full_round_trip(tmp_path, capsys):
    torch.manual_seed(0)
    spec = f"{MODELS_FILE}:Seq2SeqTransformer"
    torch.manual_seed(3)
    original = Seq2SeqTransformer()
    figures = full_round_trip(tmp_path, spec, original, (12, 8), capsys)
    assert_exact(figures)
    graph = load(tmp_path / "imported.json")
    node = next(n for n in graph.nodes() if n.label == "transformer")
    assert node.type_id == "nn.Transformer"
    assert node.params["num_encoder_layers"] == node.params["num_decoder_layers"] == 2
    assert roundtrip(spec, (12, 8)).ok


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vit_b_16", "swin_t", "maxvit_t"])
def test_torchvision_transformers_full_round_trip(name, tmp_path, capsys):
    shape = ROUNDTRIP_SHAPES.get(name, (3, 64, 64))
    torch.manual_seed(0)
    original = load_spec(name)
    figures = full_round_trip(tmp_path, name, original, shape, capsys)
    assert_exact(figures)
    graph = load(tmp_path / "imported.json")
    attention = [n for n in graph.nodes() if n.type_id == "nn.MultiheadAttention"]
    if name == "vit_b_16":
        assert len(attention) == 12  # one per encoder block, on the canvas as attention nodes


def test_roundtrip_list_has_the_transformers_and_their_shapes():
    assert {"vit_b_16", "swin_t", "maxvit_t"} <= set(ROUNDTRIP_MODELS)
    assert ROUNDTRIP_SHAPES["vit_b_16"] == (3, 224, 224)  # the model checks its image size


def test_constants_buffers_and_weight_only_values():
    """What MaxViT needs: a weights-free module called with a constant becomes a code
    expression, a buffer read through a view stays the original's buffer (its state_dict
    loads), and a value made from weights alone is not taken for a batch."""
    torch.manual_seed(0)
    model = Helpers()
    result = import_model(model, (6,))
    assert result.max_abs_diff == 0.0, result.notes
    nodes = {n.label: n for n in result.graph.nodes()}
    assert nodes["split"].type_id == "code.Function"
    assert nodes["split"].params["expr"] == "Split()(x, 3)"
    assert nodes["order"].type_id == "code.Tensor" and nodes["order"].params["role"] == "buffer"
    made = next(n for n in result.graph.nodes() if n.params.get("expr") == "x.contiguous()")
    assert made.params["batched"] is False and made.params["shape"] == [2, 3]
    assert roundtrip(model, (6,)).ok


def test_deep_module_paths_make_short_labels():
    inner = torch.nn.Linear(4, 4)
    deep = inner
    for _ in range(30):
        deep = torch.nn.Sequential(torch.nn.Sequential(deep))
    result = import_model(deep, (4,))
    node = next(n for n in result.graph.nodes() if n.type_id == "nn.Linear")
    assert len(node.label) == 80 and node.label.startswith("…") and node.label.endswith(".0")
    assert node.origin == ".".join(["0"] * 60) and result.max_abs_diff == 0.0


@pytest.mark.parametrize(("arch", "width"), [("vit_b_16", 768), ("swin_t", 768), ("maxvit_t", 512)])
def test_transformers_are_offered_as_backbones(arch, width):
    from torchcanvas.graph import Graph
    from torchcanvas.graph.catalogue.backbones import ARCHS
    from torchcanvas.runtime.shapes import infer_shapes

    assert arch in CATALOGUE["tv.Backbone"].param("arch").choices and ARCHS[arch].features == width
    g = Graph()
    data = g.add_node("data.RandomImages", {"shape": [3, 224, 224]})
    backbone = g.add_node(
        "tv.Backbone", {"arch": arch, "freeze": "stem" if arch != "swin_t" else "features.1"}
    )
    g.connect(data, "x", backbone, "x")
    result = infer_shapes(g)
    assert not result.problems or all(p.severity != "error" for p in result.problems), (
        result.problems
    )
    assert result.shapes[(backbone, "out")] == ("B", width)
