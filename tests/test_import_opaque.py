"""Importing models that torch.fx cannot trace whole: a submodule whose forward branches on a
tensor's value becomes an opaque code module (its class source and weights kept), the rest
stays nodes; and the torchvision architectures that need it or other care (Inception v3,
GoogLeNet, MNASNet, RegNet). Each goes import → project file → check → export → model.py run
alone, which loads the original state_dict strictly and computes the same outputs."""

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

from torchcanvas.graph import dumps, load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.importer import (
    ROUNDTRIP_SHAPES,
    ModelImportError,
    import_model,
    imported_keys,
    load_spec,
    roundtrip,
)
from torchcanvas.runtime.shapes import infer_shapes

FIXTURE = Path(__file__).parent / "fixtures" / "gated_net.py"

STANDALONE = textwrap.dedent("""
    import json, sys
    import torch
    import model

    original, x_file, out_file = sys.argv[1:4]
    net = getattr(model, sys.argv[4])()
    net.load_state_dict(torch.load(original, weights_only=True), strict=True)
    net.eval()
    exported = getattr(model, sys.argv[4])()
    exported.load_state_dict(torch.load("weights.pt", weights_only=True), strict=True)
    exported.eval()
    x = torch.load(x_file, weights_only=True)
    with torch.no_grad():
        torch.save({"original": net(x), "exported": exported(x)}, out_file)
    print(json.dumps({"params": sum(p.numel() for p in net.parameters())}))
""")


def files_round_trip(model: nn.Module, shape: tuple[int, ...], tmp_path: Path, name: str):
    """Import ``model``, save and reload the project, check and export it with the original
    weights, run the exported model.py alone: (the import result, original params, exported
    params, max |difference| of the outputs from the original weights and from weights.pt)."""
    model.eval()
    result = import_model(model, shape, name=name, verify=False)
    project = tmp_path / f"{name}.json"
    save(result.graph, project)
    assert dumps(load(project)) == dumps(result.graph)
    assert cli_main(["check", str(project)]) == 0
    original = tmp_path / "original.pt"
    torch.save(model.state_dict(), original)
    out = tmp_path / "export"
    argv = ["export", str(project), "--out", str(out), "--weights", str(original)]
    assert cli_main([*argv, "--formats", "code,weights"]) == 0
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        want = model(x)
    cls = load(project).settings["model_name"]
    run = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(original), str(tmp_path / "x.pt"), "y.pt", cls],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    got = torch.load(out / "y.pt", weights_only=True)
    params = json.loads(run.stdout.strip().splitlines()[-1])["params"]
    n_orig = sum(p.numel() for p in model.parameters())
    diffs = [float((got[k] - want).abs().max()) for k in ("original", "exported")]
    return result, n_orig, params, diffs


# ---------------------------------------------------------------------------- opaque modules
def test_gated_net_keeps_untraceable_blocks_opaque_and_round_trips(tmp_path, capsys):
    model = load_spec(f"{FIXTURE}:GatedNet")
    result, n_orig, n_new, diffs = files_round_trip(model, (3, 16, 16), tmp_path, "GatedNet")
    assert n_orig == n_new > 0
    assert diffs == [0.0, 0.0]

    # the smallest untraceable modules are opaque; the Sequential holding them is not
    lines = FIXTURE.read_text().splitlines()
    gate_line = lines.index("        if h.mean() > MARGIN:") + 1
    norm_line = lines.index("        if energy(x) > self.limit:") + 1
    assert set(result.opaque) == {"gates.0", "gates.1", "norm"}
    assert result.opaque["gates.0"] == (
        f"data-dependent control flow at gated_net.py:{gate_line} `if h.mean() > MARGIN:`"
    )
    assert f"gated_net.py:{norm_line}" in result.opaque["norm"]
    note = next(n for n in result.notes if "opaque" in n)
    assert note.startswith("3 module(s) cannot be traced")
    assert "gates.0 (data-dependent control flow" in note and "norm (" in note

    nodes = {n.label: n for n in result.graph.nodes()}
    # everything around them is editable nodes
    assert nodes["stem.0"].type_id == "nn.Conv2d" and nodes["head"].type_id == "nn.Linear"
    assert nodes["pool"].type_id == "nn.AdaptiveAvgPool2d"
    gate = nodes["gates.0"]
    assert gate.type_id == "code.Module" and gate.origin == "gates.0"
    assert gate.params["note"].startswith("opaque: data-dependent control flow")
    assert gate.params["title"] == "Gate"
    # Gate does not keep its constructor's arguments: a function sets its parts
    assert gate.params["init"] == "build_gate()"
    source = gate.params["source"]
    assert "class Gate(nn.Module):" in source and "if h.mean() > MARGIN:" in source
    assert "MARGIN = 0.0" in source and "def build_gate():" in source
    assert "from collections import OrderedDict" in gate.params["imports"]
    assert gate.params["param_count"] == sum(p.numel() for p in model.gates[0].parameters())
    assert gate.params["shape"] == [8, 16, 16]
    # Norm keeps them: its constructor is called, its helper function copied
    norm = nodes["norm"]
    assert norm.params["init"] == "Norm(dim=8)" and "def energy(x):" in norm.params["source"]
    assert imported_keys(result.graph, model.state_dict()).keys() == model.state_dict().keys()

    # model.py writes each definition once though two nodes share them, ruff-clean
    code = (tmp_path / "export" / "model.py").read_text()
    assert code.count("class Gate(nn.Module):") == 1 and code.count("def build_gate():") == 1
    ruff = [sys.executable, "-m", "ruff"]
    common = ["--isolated", "--line-length", "100"]
    for cmd in (["check", "--select", "E,F,W,I,B,UP,SIM"], ["format", "--diff"]):
        done = subprocess.run(
            [*ruff, *cmd, *common, "model.py"],
            cwd=tmp_path / "export",
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr + code


def test_opaque_node_shapes_come_from_the_import():
    # shape inference takes the opaque module's output shape recorded at import: its code
    # (which branches on values, so it cannot run on the meta device) does not run
    result = import_model(f"{FIXTURE}:GatedNet", (3, 16, 16), verify=False)
    shapes = infer_shapes(result.graph)
    assert shapes.ok, shapes.problems
    ids = {n.label: n.id for n in result.graph.nodes()}
    assert shapes.shapes[(ids["gates.1"], "out")] == ("B", 8, 16, 16)
    assert shapes.shapes[(ids["head"], "out")] == ("B", 5)


def test_import_cli_says_which_modules_became_opaque(tmp_path, capsys):
    out = tmp_path / "gated.json"
    argv = ["import", f"{FIXTURE}:GatedNet", "--out", str(out), "--input-shape", "3,16,16"]
    assert cli_main(argv) == 0
    err = capsys.readouterr().err
    assert "3 module(s) cannot be traced and are kept whole as opaque code modules" in err
    assert "outputs match the original model" in err
    assert cli_main(["check", str(out)]) == 0


def _defined_without_source() -> type[nn.Module]:
    namespace: dict = {"nn": nn, "__name__": "__main__"}
    exec(  # what a class typed into an interactive session looks like: no file to read
        textwrap.dedent("""
            class Typed(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 4)

                def forward(self, x):
                    return self.fc(x) if x.sum() > 0 else x
        """),
        namespace,
    )
    return namespace["Typed"]


def test_opaque_module_without_source_is_refused_clearly():
    typed = _defined_without_source()
    model = nn.Sequential(nn.Linear(4, 4), typed(), nn.ReLU())
    with pytest.raises(ModelImportError) as info:
        import_model(model, (4,))
    message = str(info.value)
    assert message.startswith("1 (Typed) cannot be traced (data-dependent control flow")
    assert "its source cannot be read" in message and "define it in a .py file" in message


def test_opaque_module_whose_state_is_not_saved_is_refused_clearly(tmp_path):
    path = tmp_path / "table.py"
    path.write_text(
        textwrap.dedent("""
            import torch
            from torch import nn


            class Table(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.register_buffer("table", torch.arange(n * 1.0), persistent=False)

                def forward(self, x):
                    return x + self.table if x.max() > 0 else x


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 4)
                    self.table = Table(4)

                def forward(self, x):
                    return self.table(self.fc(x))
        """)
    )
    with pytest.raises(ModelImportError) as info:
        import_model(f"{path}:Net", (4,))
    message = str(info.value)
    assert message.startswith("table (Table) cannot be traced (data-dependent control flow at")
    assert "its buffer 'table' is not in the state_dict (persistent=False)" in message


# ---------------------------------------------------------------------------- torchvision
@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v3", "googlenet", "mnasnet0_5", "regnet_y_400mf"])
def test_torchvision_model_round_trips_through_files(name, tmp_path):
    torch.manual_seed(0)
    model = load_spec(name)
    shape = ROUNDTRIP_SHAPES.get(name, (3, 64, 64))
    result, n_orig, n_new, diffs = files_round_trip(model, shape, tmp_path, name)
    assert n_orig == n_new > 0
    assert diffs == [0.0, 0.0]
    assert not result.opaque
    # every part is an editable node (Inception's F.avg_pool2d / F.max_pool2d calls included)
    assert not result.code_nodes
    if name == "inception_v3":
        types = [n.type_id for n in result.graph.nodes()]
        assert types.count("nn.AvgPool2d") == 9 and types.count("nn.MaxPool2d") == 4
    # RegNet's module paths hold '-' (trunk_output.block1.block1-0): kept as origins
    if name.startswith("regnet"):
        assert any("block1-0" in (n.origin or "") for n in result.graph.nodes())


@pytest.mark.slow
def test_inception_and_googlenet_transform_input_and_defaults():
    # built without their auxiliary heads (they run only in training), so every weight of
    # the model is on the canvas; transform_input's channel arithmetic round-trips too
    import torchvision

    assert not load_spec("googlenet").aux_logits
    model = torchvision.models.googlenet(
        weights=None, aux_logits=False, init_weights=True, transform_input=True
    )
    result = roundtrip(model)
    assert result.ok and result.max_abs_diff == 0.0, result
    assert result.original_params == result.imported_params


def test_functional_pooling_becomes_layer_nodes_unless_it_returns_indices():
    class Pools(nn.Module):
        def forward(self, x):
            x = nn.functional.max_pool2d(x, 3, stride=2, padding=1)
            x = nn.functional.avg_pool2d(x, kernel_size=2, ceil_mode=True)
            y, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
            return y + idx.float()

    result = import_model(Pools(), (3, 16, 16))
    assert result.max_abs_diff == 0.0
    nodes = {n.label: n for n in result.graph.nodes()}
    assert nodes["max_pool2d"].type_id == "nn.MaxPool2d"
    assert nodes["max_pool2d"].params["kernel_size"] == 3
    assert nodes["max_pool2d"].params["stride"] == 2
    assert nodes["avg_pool2d"].type_id == "nn.AvgPool2d"
    assert nodes["avg_pool2d"].params["ceil_mode"] is True
    # with indices it is another function (a tuple), kept as code
    assert nodes["getitem"].type_id == "code.Function"
    assert "max_pool2d_with_indices" in nodes["getitem"].params["expr"]


def test_builder_function_names_keep_clear_of_the_users_own(tmp_path):
    path = tmp_path / "clash.py"
    path.write_text(
        textwrap.dedent("""
            from torch import nn


            def build_gate(width):
                return nn.Linear(width, width)


            class Gate(nn.Module):
                def __init__(self, width):
                    super().__init__()
                    self.fc = build_gate(width)

                def forward(self, x):
                    return self.fc(x) if x.sum() > 0 else -x


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.gate = Gate(4)
                    self.out = nn.Linear(4, 2)

                def forward(self, x):
                    return self.out(self.gate(x))
        """)
    )
    result = import_model(f"{path}:Net", (4,))
    assert result.max_abs_diff == 0.0, result.notes
    gate = next(n for n in result.graph.nodes() if n.label == "gate")
    assert gate.params["init"] == "build_gate_2()"
    assert "def build_gate(width):" in gate.params["source"]


def test_a_branch_in_the_models_own_forward_is_refused_with_the_way_out(tmp_path):
    path = tmp_path / "top.py"
    path.write_text(
        textwrap.dedent("""
            from torch import nn


            class Top(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 4)

                def forward(self, x):
                    if x.sum() > 0:
                        return self.fc(x)
                    return x
        """)
    )
    with pytest.raises(ModelImportError) as info:
        import_model(f"{path}:Top", (4,))
    message = str(info.value)
    assert f"tracing failed at {path}:11 (in forward) `if x.sum() > 0:`" in message
    assert "move that part into a submodule" in message and "opaque code module" in message


def test_opaque_model_py_matches_its_golden_file():
    """model.py of an import with opaque modules, compared whole: the docstring counts a module
    built by a helper function (``build_gate()``) under its class's name (``2 Gate``)."""
    result = import_model(f"{FIXTURE}:GatedNet", (3, 16, 16), verify=False)
    got = compile_project(result.graph, title="gated_net").model.source.source
    golden = Path(__file__).parent / "golden" / "imported" / "gated_net_model.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(got, encoding="utf-8")
    assert "8 layers: Conv2d, ReLU, 2 Gate, AdaptiveAvgPool2d, Flatten, Norm, Linear." in got
    assert got == golden.read_text(encoding="utf-8"), (
        "imported/gated_net_model.py differs (UPDATE_GOLDEN=1 rewrites it; review the diff)"
    )
