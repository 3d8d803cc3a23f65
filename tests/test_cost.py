"""Cost on every node: MACs against hand-computed values and FlopCounterMode, memory per sample,
the training-memory estimate against a measured training step, and `check`'s columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from torchcanvas.graph import Graph, load
from torchcanvas.runtime.cost import NO_MACS, add_memory_estimate, optimizer_state_factor
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.shapes import ShapeInferencer

EXAMPLES = sorted((assets_dir() / "examples").glob("*.json"))


def _chain(shape, *layers, batch_size=32, optimizer=None):
    """RandomImages with samples of ``shape`` → layers (type id, params) in a chain."""
    g = Graph({"batch_size": batch_size})
    d = g.add_node("data.RandomImages", {"shape": list(shape), "n_samples": 8})
    prev, port, ids = d, "x", []
    for type_id, params in layers:
        nid = g.add_node(type_id, params)
        g.connect(prev, port, nid, "x" if not type_id.endswith("Attention") else "query")
        prev, port = nid, "out"
        ids.append(nid)
    if optimizer:
        loss = g.add_node("loss.MSE")
        g.connect(prev, port, loss, "input")
        g.connect(prev, port, loss, "target")
        opt = g.add_node(optimizer[0], optimizer[1])
        g.connect(loss, "loss", opt, "loss")
    return g, d, ids


def _both(g):
    """The result as the editor infers it, and with every node under FlopCounterMode."""
    fast = ShapeInferencer().infer(g)
    exact = ShapeInferencer(cost="exact").infer(g)
    assert fast.ok and exact.ok, (fast.first_error(), exact.first_error())
    return fast, exact


# ---------------------------------------------------------------------------- MACs by hand
def test_linear_macs_per_sample_over_every_leading_dim():
    g, _, (fc,) = _chain([5, 20], ("nn.Linear", {"out_features": 30}))
    fast, exact = _both(g)
    assert fast.macs[fc] == exact.macs[fc] == 5 * 20 * 30  # 5 rows of 20 x 30 per sample
    assert fast.param_bytes[fc] == (20 * 30 + 30) * 4
    assert fast.activation_bytes[fc] == 5 * 30 * 4


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])  # shape rule, and meta run
def test_conv2d_macs_with_groups_stride_padding(padding_mode):
    conv = {
        "out_channels": 16,
        "kernel_size": 3,
        "stride": 2,
        "padding": 1,
        "groups": 4,
        "padding_mode": padding_mode,
    }
    g, _, (c,) = _chain([8, 32, 32], ("nn.Conv2d", conv))
    fast, exact = _both(g)
    # output 16 x 16 x 16; each value sums (8 / 4 groups) x 3 x 3 products
    assert fast.shapes[(c, "out")] == ("B", 16, 16, 16)
    assert fast.macs[c] == exact.macs[c] == 16 * 16 * 16 * 2 * 9
    assert fast.param_bytes[c] == (16 * 2 * 9 + 16) * 4
    assert fast.activation_bytes[c] == 16 * 16 * 16 * 4


def test_conv_family_formulas_match_flop_counter():
    for layers in (
        [("nn.Conv2d", {"out_channels": 6, "kernel_size": [3, 5], "dilation": 2})],
        [("nn.ConvTranspose2d", {"out_channels": 12, "kernel_size": 3, "stride": 2, "groups": 2})],
        [("op.reshape", {"shape": [4, 144]}), ("nn.Conv1d", {"out_channels": 8, "kernel_size": 5})],
    ):
        g, _, ids = _chain([4, 12, 12], *layers)
        fast, exact = _both(g)
        assert fast.macs[ids[-1]] == exact.macs[ids[-1]] > 0
    g, _, (t,) = _chain(
        [8, 5, 5], ("nn.ConvTranspose2d", {"out_channels": 12, "kernel_size": 3, "groups": 4})
    )
    fast, _ = _both(g)
    assert fast.macs[t] == 8 * 25 * 3 * 9  # per input position: Cin x Cout/groups x kernel


def test_lstm_macs():
    # [B, T=10, 32] → 2 layers, bidirectional, hidden 64: 4 gates of 64 per step, each
    # summing (input + hidden) products; layer 2 reads both directions (128)
    lstm = {"hidden_size": 64, "num_layers": 2, "bidirectional": True, "batch_first": True}
    g, _, (r,) = _chain([10, 32], ("nn.LSTM", lstm))
    fast, exact = _both(g)
    hand = 10 * 2 * (4 * 64 * (32 + 64) + 4 * 64 * (128 + 64))
    assert fast.macs[r] == exact.macs[r] == hand
    g, _, (r,) = _chain([10, 32], ("nn.GRU", {"hidden_size": 16, "batch_first": True}))
    fast, exact = _both(g)
    assert fast.macs[r] == exact.macs[r] == 10 * 3 * 16 * (32 + 16)


def test_multihead_attention_macs():
    # self-attention on [B, L=10, E=64], 4 heads: q, k, v and output projections (E x E per
    # position each) and, per head summed, L x L x E for the scores and again for the mix
    g, _, (a,) = _chain([10, 64], ("nn.MultiheadAttention", {"num_heads": 4, "batch_first": True}))
    fast, exact = _both(g)
    hand = 10 * 4 * 64 * 64 + 2 * 10 * 10 * 64
    assert fast.macs[a] == exact.macs[a] == hand


def test_matmul_and_gram_macs():
    g, d, (gram,) = _chain([4, 6, 5], ("op.gram", {}))
    mm = g.add_node("op.matmul")
    g.connect(d, "x", mm, "a")
    t = g.add_node("op.transpose", {"dim0": -1, "dim1": -2})
    g.connect(d, "x", t, "x")
    g.connect(t, "out", mm, "b")
    fast, exact = _both(g)
    assert fast.macs[gram] == exact.macs[gram] == 4 * 4 * 30
    assert fast.macs[mm] == exact.macs[mm] == 4 * 6 * 6 * 5
    assert fast.activation_bytes[t] == 0  # a transpose is a view of its input


@pytest.fixture(scope="module")
def resnet50():
    from torchcanvas.runtime.importer import import_model

    return import_model("resnet50", (3, 224, 224), verify=False).graph


def test_imported_resnet50_is_4_09_gmacs(resnet50):
    result = ShapeInferencer().infer(resnet50)
    assert result.ok, result.first_error()
    assert abs(result.total_macs - 4.09e9) / 4.09e9 < 0.02
    # every convolution and the classifier carry their share; nothing else does
    for node in resnet50.nodes():
        if node.type_id in ("nn.Conv2d", "nn.Linear"):
            assert result.macs[node.id] > 0
        elif node.id in result.macs:
            assert result.macs[node.id] == 0, node.type_id
    assert result.total_param_bytes == 25_557_032 * 4


# ---------------------------------------------------------------------------- the shortcuts
def test_no_macs_types_count_nothing_under_flop_counter():
    """Every type said to issue no counted op, run under FlopCounterMode, counts 0 (those
    that take a [B, 4, 8, 8] input with their default params)."""
    from torchcanvas.graph import get_spec

    checked = 0
    for type_id in sorted(NO_MACS):
        spec = get_spec(type_id)
        if spec.kind != "layer" or [p.name for p in spec.inputs] != ["x"]:
            continue
        if any(p.required and p.default is None for p in spec.params):
            continue
        g, _, (n,) = _chain([4, 8, 8], (type_id, {}))
        result = ShapeInferencer(cost="exact").infer(g)
        if not result.ok:  # needs other input ranks (1d/3d) or params
            continue
        assert result.macs[n] == 0, type_id
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_cost_the_same_with_every_node_counted(path):
    g = load(path)
    fast, exact = _both(g)
    assert fast.macs == exact.macs
    assert fast.activation_bytes == exact.activation_bytes
    assert fast.param_bytes == exact.param_bytes


def test_counted_macs_are_cached_per_type_params_and_inputs(monkeypatch):
    from torchcanvas.runtime import cost, shapes

    counted = []
    real = cost.MacCounter

    class Spy(real):
        def __exit__(self, *exc):
            super().__exit__(*exc)
            counted.append(self.macs)

    monkeypatch.setattr(shapes, "MacCounter", Spy)
    cost.MACS_CACHE.clear()
    lrn = ("nn.LocalResponseNorm", {"size": 2})  # no formula: counted
    g, _, ids = _chain([4, 8, 8], lrn, lrn, lrn)
    result = ShapeInferencer().infer(g)
    assert len(counted) == 2  # once per probe batch size, for the three alike
    assert [result.macs[n] for n in ids] == [0, 0, 0]


# ---------------------------------------------------------------------------- incremental
def test_an_edit_recounts_only_what_it_reaches(monkeypatch):
    g, _, ids = _chain(
        [16],
        ("nn.Linear", {"out_features": 32}),
        ("nn.ReLU", {}),
        ("nn.Linear", {"out_features": 8}),
        ("nn.Linear", {"out_features": 4}),
    )
    inferencer = ShapeInferencer()
    inferencer.attach(g)
    first = inferencer.infer(g)
    assert [first.macs[n] for n in ids] == [16 * 32, 0, 32 * 8, 8 * 4]
    ran = []
    real = ShapeInferencer._execute

    def spy(self, node, *a, **kw):
        ran.append(node.id)
        return real(self, node, *a, **kw)

    monkeypatch.setattr(ShapeInferencer, "_execute", spy)
    g.set_param(ids[2], "out_features", 10)
    after = inferencer.infer(g)
    assert ran == [ids[2], ids[3]]  # the edited node and the one reading its output
    assert after.changed == {ids[2], ids[3]}
    assert [after.macs[n] for n in ids] == [16 * 32, 0, 32 * 10, 10 * 4]
    assert after.total_macs == 16 * 32 + 32 * 10 + 10 * 4


def test_block_instances_sum_their_layers_costs():
    g, _, ids = _chain([16], ("nn.Linear", {"out_features": 8}), ("nn.Linear", {"out_features": 4}))
    inst = g.collapse(ids, "Head")
    result = ShapeInferencer().infer(g)
    assert result.ok, result.first_error()
    assert result.macs[inst] == 16 * 8 + 8 * 4
    assert result.param_bytes[inst] == (16 * 8 + 8 + 8 * 4 + 4) * 4
    assert result.activation_bytes[inst] == (8 + 4) * 4


# ---------------------------------------------------------------------------- memory
def test_optimizer_state_by_type():
    assert optimizer_state_factor("optim.SGD", {"momentum": 0.0})[0] == 0
    assert optimizer_state_factor("optim.SGD", {"momentum": 0.9})[0] == 1
    assert optimizer_state_factor("optim.Adam", {"amsgrad": False})[0] == 2
    assert optimizer_state_factor("optim.AdamW", {"amsgrad": True})[0] == 3
    assert optimizer_state_factor("optim.RMSprop", {"momentum": 0.9, "centered": True})[0] == 3
    assert optimizer_state_factor("optim.Adagrad", {})[0] == 1


def test_training_memory_adds_params_grads_state_and_activations():
    g, d, (fc, relu) = _chain(
        [100],
        ("nn.Linear", {"out_features": 50}),
        ("nn.ReLU", {}),
        batch_size=64,
        optimizer=("optim.Adam", {}),
    )
    result = ShapeInferencer().infer(g)
    add_memory_estimate(g, result, capacity=lambda device: None)
    m = result.memory
    params = (100 * 50 + 50) * 4
    assert (m.params, m.grads, m.optimizer_state) == (params, params, 2 * params)
    per_sample = 100 * 4 + 8 + 50 * 4 + 50 * 4 + 4  # batch x, y; linear, relu; the loss
    assert m.activations == 64 * per_sample
    assert m.total == 4 * params + 64 * per_sample
    assert m.fits is None and result.ok


def test_memory_warning_when_it_will_not_fit_the_device():
    g, _, _ = _chain(
        [3, 64, 64],
        ("nn.Conv2d", {"out_channels": 64, "kernel_size": 3, "padding": 1}),
        batch_size=512,
        optimizer=("optim.SGD", {"momentum": 0.9}),
    )
    g.set_setting("device", "cuda:0")
    result = ShapeInferencer().infer(g)
    warned = add_memory_estimate(g, result, capacity=lambda device: (2**28, "Tiny GPU (cuda:0)"))
    assert warned and result.ok  # a warning, not an error
    (p,) = [p for p in result.problems if p.severity == "warning"]
    assert p.node_id is None and "Tiny GPU (cuda:0)" in p.message and "batch of 512" in p.message
    assert result.memory.fits is False and result.memory.capacity == 2**28
    g.set_setting("batch_size", 8)
    result = ShapeInferencer().infer(g)
    assert not add_memory_estimate(g, result, capacity=lambda device: (2**28, "Tiny GPU"))
    assert result.memory.fits and not result.problems


def test_shape_process_engine_sends_the_estimate_and_the_warning(monkeypatch):
    from torchcanvas.graph.serialize import to_dict
    from torchcanvas.runtime import cost
    from torchcanvas.runtime.shape_service import ShapeEngine

    g, _, _ = _chain(
        [3, 64, 64],
        ("nn.Conv2d", {"out_channels": 64, "kernel_size": 3, "padding": 1}),
        batch_size=512,
        optimizer=("optim.SGD", {}),
    )
    monkeypatch.setattr(cost, "device_capacity", lambda device: (2**28, "Tiny GPU"))
    engine = ShapeEngine()
    engine.sync(1, "full", to_dict(g))
    result = engine.infer(None)
    assert result.memory is not None and result.memory.fits is False
    assert any("Tiny GPU" in p.message and p.node_id is None for p in result.problems)
    # an edit after it: the warning stays and the result still names only what changed
    g2 = engine.graph
    fc = next(n.id for n in g2.nodes() if n.type_id == "nn.Conv2d")
    g2.set_param(fc, "out_channels", 65)
    again = engine.infer(None)
    assert any("Tiny GPU" in p.message for p in again.problems)
    assert fc in again.changed and again.memory.activations > result.memory.activations


def test_cpu_capacity_is_the_machines_memory():
    from torchcanvas.runtime.cost import device_capacity

    size, name = device_capacity("cpu")
    assert size == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") and "RAM" in name


MEASURE = textwrap.dedent(
    """
    import gc, json, sys
    import torch
    torch.set_num_threads(1)
    from torchcanvas.graph import load
    from torchcanvas.runtime.compile import compile_model
    from torchcanvas.runtime.cost import training_memory
    from torchcanvas.runtime.shapes import ShapeInferencer

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    graph = load(sys.argv[1])
    batch = graph.settings["batch_size"]
    estimate = training_memory(graph, ShapeInferencer().infer(graph)).total
    compiled = compile_model(graph)
    x, y = torch.randn(batch, 3, 64, 64), torch.randint(0, 10, (batch,))
    gc.collect()
    base = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak (VmHWM) starts again from here
    model = compiled.new()
    opt = torch.optim.Adam(model.parameters())
    for _ in range(2):  # the second step has the optimizer's state
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    print(json.dumps({"measured": status("VmHWM") - base, "estimate": estimate}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_memory_estimate_within_20_percent_of_a_measured_cpu_training_step(tmp_path):
    """A mid-size CNN (3 conv stages to 128 channels, 2.2 M params) trains one step on a batch
    of 64 64x64 images in a fresh process; its peak RSS growth is measured. glibc's mmap
    threshold is fixed so freed blocks go back to the system and RSS follows live memory
    (with its dynamic threshold, freed blocks of up to 32 MB stay in the heap and RSS runs
    up to 1.5x the live memory)."""
    from torchcanvas.graph import save

    g, d, _ = _chain(
        [3, 64, 64],
        *[
            layer
            for ch in (32, 64, 128)
            for layer in (
                ("nn.Conv2d", {"out_channels": ch, "kernel_size": 3, "padding": 1}),
                ("nn.BatchNorm2d", {}),
                ("nn.ReLU", {}),
                ("nn.MaxPool2d", {"kernel_size": 2}),
            )
        ],
        ("nn.Flatten", {}),
        ("nn.Linear", {"out_features": 256}),
        ("nn.ReLU", {}),
        ("nn.Linear", {"out_features": 10}),
        batch_size=64,
    )
    last = [n for n in g.nodes() if n.kind == "layer"][-1].id
    loss = g.add_node("loss.CrossEntropy")
    g.connect(last, "out", loss, "input")
    g.connect(d, "y", loss, "target")
    opt = g.add_node("optim.Adam")
    g.connect(loss, "loss", opt, "loss")
    path = tmp_path / "cnn.json"
    save(g, path)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    ratio = figures["estimate"] / figures["measured"]
    assert 0.8 <= ratio <= 1.2, figures


# ---------------------------------------------------------------------------- check
def test_check_prints_cost_columns_and_json(capsys):
    from torchcanvas.runtime.cli import main

    path = assets_dir() / "examples" / "digits_cnn.json"
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[-5:] == ["MACs", "Act.", "mem", "Param", "mem"]
    conv1 = next(line for line in out.splitlines() if line.startswith("conv1 "))
    assert "9.22 K" in conv1 and "640 bytes" in conv1  # 8x8 x 16 x 9 MACs; 160 params
    assert "Per sample: 309 K MACs" in out and "Training memory (batch 32" in out

    assert main(["check", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["label"]: r for r in report["nodes"]}
    assert rows["conv1"]["macs"] == 8 * 8 * 16 * 9
    assert rows["conv1"]["param_bytes"] == 160 * 4
    assert rows["conv1"]["activation_bytes"] == 16 * 8 * 8 * 4
    assert rows["flatten"]["activation_bytes"] == 0  # a view
    assert report["total_macs"] == sum(r["macs"] for r in report["nodes"])
    memory = report["training_memory"]
    assert memory["batch_size"] == 32 and memory["total_bytes"] == (
        memory["params_bytes"]
        + memory["grads_bytes"]
        + memory["optimizer_state_bytes"]
        + memory["activations_bytes"]
    )


def test_code_nodes_macs_are_unknown_not_zero():
    from torchcanvas.runtime.importer import import_model

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return torch.sort(self.fc(x), dim=-1).values

    g = import_model(Net(), (8,), verify=False).graph
    result = ShapeInferencer().infer(g)
    assert result.ok, result.first_error()
    code = [n.id for n in g.nodes() if n.kind == "code"]
    assert code
    assert all(n not in result.macs and result.activation_bytes[n] == 4 * 4 for n in code)
