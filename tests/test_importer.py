"""Importing PyTorch models: torchvision round trips, the user's own files, code nodes, errors and
the ``torchcanvas import`` command. Inputs are small (2 × 3 × 64 × 64) to keep CPU time low."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from torchcanvas.codegen import CodegenError
from torchcanvas.codegen.code import check_imports, function_expr, import_block
from torchcanvas.graph import Graph, dumps, load, loads
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_model
from torchcanvas.runtime.importer import (
    ModelImportError,
    import_model,
    load_spec,
    roundtrip,
)
from torchcanvas.runtime.shapes import infer_shapes

USER_FILE = """
import math

import torch
from torch import nn

SCALE = 0.5


def helper(x):
    return x * SCALE


class LayerScale(nn.Module):
    def __init__(self, dim, init=1e-2):
        super().__init__()
        self.dim = dim
        self.gamma = nn.Parameter(torch.full((dim, 1, 1), init))

    def forward(self, x):
        return helper(x) * self.gamma + math.pi


class MyNet(nn.Module):
    def __init__(self, width=8, classes=5):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.scale = LayerScale(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = torch.nn.functional.gelu(self.conv(x))
        x = self.scale(x)
        x = torch.cat([x, x.flip(1)], 1)[:, :8]
        x = x.mean(dim=(2, 3))
        x = x.view(x.size(0), -1)
        return self.head(x)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.blocks = nn.ModuleList([LayerScale(8), LayerScale(8)])
        self.extra = nn.Module()
        self.extra.shift = nn.Parameter(torch.randn(1, 8, 1, 1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 3))

    def forward(self, x):
        x = self.stem(x) + self.extra.shift
        for block in self.blocks:
            x = block(x)
        return self.head(nn.functional.adaptive_avg_pool2d(x, 4))


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x
"""


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(USER_FILE)
    return path


# ---------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize(
    "name", ["resnet18", "squeezenet1_0", "mobilenet_v2", "efficientnet_b0", "alexnet"]
)
def test_torchvision_round_trip(name):
    result = roundtrip(name)
    assert result.error is None, result.error
    assert result.original_params == result.imported_params > 0
    assert result.max_abs_diff < 1e-5
    assert result.ok


def test_resnet18_graph_state_dict_and_file(tmp_path):
    torch.manual_seed(0)
    original = load_spec("resnet18")
    result = import_model(original)
    assert result.notes == ["outputs match the original model"]  # checked at import
    graph = result.graph
    types = [n.type_id for n in graph.nodes()]
    assert types.count("nn.Conv2d") == 20 and types.count("nn.BatchNorm2d") == 20
    assert types.count("op.add") == 8 and types.count("nn.Linear") == 1
    assert not result.code_nodes
    labels = {n.label for n in graph.nodes()}
    assert {"layer1.0.conv1", "layer2.0.downsample.0", "fc"} <= labels  # original paths
    assert (
        graph.node(next(n.id for n in graph.nodes() if n.label == "fc")).params["out_features"]
        == 1000
    )
    kinds = {n.kind for n in graph.nodes()}
    assert {"data", "loss", "optimizer"} <= kinds  # trains as it is (random images)
    # laid out: no two nodes at the same place
    assert len({n.pos for n in graph.nodes()}) == len(graph)

    # the file keeps everything; the reloaded project compiles to the same network
    path = tmp_path / "resnet18.json"
    from torchcanvas.graph import save

    save(graph, path)
    compiled = compile_model(load(path))
    model = compiled.new()
    weights = original.state_dict()
    model.load_state_dict(weights)  # the original keys, strictly
    assert list(weights) == list(original.state_dict())  # the caller's dict is left as it was
    # inside another module too (the keys carry its prefix)
    nn.Sequential(model).load_state_dict({f"0.{k}": v for k, v in weights.items()})
    own = model.state_dict()  # saves its own keys, which load too
    assert "layer1_0_conv1.weight" in own and "layer1.0.conv1.weight" not in own
    assert len(own) == len(original.state_dict())
    model.load_state_dict(own)
    x = torch.randn(1, 3, 64, 64)
    original.eval()
    model.eval()
    with torch.no_grad():
        assert torch.equal(original(x), model(x))
    assert compiled.shapes.shapes[
        next((n.id, "out") for n in graph.nodes() if n.label == "fc")
    ] == ("B", 1000)


@pytest.mark.slow
def test_original_state_dict_loads_after_renaming_and_into_exported_code(user_file, tmp_path):
    """resnet18 and a model with code nodes at nested paths: the compiled model and model.py,
    run where torchcanvas cannot be imported, load the original state_dict strictly (and their
    own saved weights) and give the original's outputs."""
    from test_export import run_standalone

    from torchcanvas.graph import save

    torch.manual_seed(0)
    cases = [
        ("resnet18", load_spec("resnet18"), (3, 32, 32)),
        ("nested", load_spec(f"{user_file}:Nested"), (3, 8, 8)),
    ]
    script = ["import torch", ""]
    for name, original, shape in cases:
        original.eval()
        graph = import_model(original, shape, verify=False).graph
        origins = {n.origin for n in graph.nodes() if n.origin is not None}
        owners = {k.rpartition(".")[0] for k in original.state_dict()} - {"extra"}
        assert origins == owners | ({"extra.shift"} if name == "nested" else set())
        if name == "nested":  # code nodes keep where they came from too
            assert {n.origin for n in graph.nodes() if n.kind == "code"} == {
                "blocks.0",
                "blocks.1",
                "extra.shift",
            }
        # the user renames a node: its weights still load from the original key
        conv = next(n for n in graph.nodes() if n.origin in ("layer1.0.conv1", "stem.0"))
        graph.set_label(conv.id, "first conv")
        save(graph, tmp_path / f"{name}.json")
        assert f'"origin": "{conv.origin}"' in (tmp_path / f"{name}.json").read_text()
        compiled = compile_model(load(tmp_path / f"{name}.json"))
        text = compiled.source.source
        assert f'"{conv.origin}": "first_conv",' in text
        model = compiled.new().eval()
        model.load_state_dict(original.state_dict())  # strict
        x = torch.randn(2, *shape)
        with torch.no_grad():
            want = original(x)
            assert torch.equal(model(x), want)
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.py").write_text(text)
        torch.save(original.state_dict(), folder / "original.pt")
        torch.save(model.state_dict(), folder / "weights.pt")  # generated keys, as Export saves
        torch.save((x, want), folder / "check.pt")
        cls = compiled.source.ir.class_name
        script += [
            f"sys.path.insert(0, {str(folder)!r})",
            f"from model import {cls}",
            "del sys.modules['model']",
            f"x, want = torch.load({str(folder / 'check.pt')!r})",
            "for weights in ('original.pt', 'weights.pt'):",
            f"    m = {cls}().eval()",
            f"    sd = torch.load({str(folder)!r} + '/' + weights)",
            "    m.load_state_dict(sd)",
            "    with torch.no_grad():",
            "        assert torch.equal(m(x), want), (weights, (m(x) - want).abs().max())",
        ]
        ruff = [sys.executable, "-m", "ruff"]
        common = ["--isolated", "--line-length", "100"]
        check = subprocess.run(
            [*ruff, "check", *common, "--select", "E,F,W,I,B,UP,SIM", "."],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        fmt = subprocess.run(
            [*ruff, "format", *common, "--diff", "."], cwd=folder, capture_output=True, text=True
        )
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    script.append("print('ok')")
    assert run_standalone(tmp_path, "\n".join(script)).stdout.strip() == "ok"


def test_efficientnet_keeps_stochastic_depth_as_code():
    result = import_model("efficientnet_b0")
    code = [n for n in result.graph.nodes() if n.kind == "code"]
    assert code and all(n.type_id == "code.Module" for n in code)
    assert code[0].params["title"] == "StochasticDepth"
    assert code[0].params["imports"] == [
        "from torchvision.ops.stochastic_depth import StochasticDepth"
    ]
    assert code[0].params["init"].startswith("StochasticDepth(p=")
    source = compile_model(result.graph).source.source
    assert "from torchvision.ops.stochastic_depth import StochasticDepth\n" in source


# ---------------------------------------------------------------------------- the user's file
def test_user_file_copies_source_and_round_trips(user_file, tmp_path):
    model = load_spec(f"{user_file}:MyNet", {"classes": 3})
    result = roundtrip(model)
    assert result.ok, result
    imported = import_model(model, verify=False)
    code = {n.label: n for n in imported.graph.nodes() if n.kind == "code"}
    # the module with its own parameter keeps its class, copied with what it uses
    assert code["scale"].params["init"] == "LayerScale(dim=8)"
    source = code["scale"].params["source"]
    assert "SCALE = 0.5" in source and "def helper(x):" in source
    assert "class LayerScale(nn.Module):" in source
    assert "import math" in code["scale"].params["imports"]
    # the catalogue covers gelu, mean and the batch-keeping view; flip/getitem stay code
    types = {n.label: n.type_id for n in imported.graph.nodes()}
    assert types["gelu"] == "nn.GELU" and types["view"] == "op.reshape"
    assert any(
        n.type_id == "code.Function" and "flip(1)" in n.params["expr"] for n in code.values()
    )

    # the generated file runs on its own and is ruff-clean and formatted
    compiled = compile_model(imported.graph)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.py").write_text(compiled.source.source)
    ruff = [sys.executable, "-m", "ruff"]
    common = ["--isolated", "--line-length", "100"]
    check = subprocess.run(
        [*ruff, "check", *common, "--select", "E,F,W,I,B,UP,SIM", "."],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr + compiled.source.source
    fmt = subprocess.run(
        [*ruff, "format", *common, "--diff", "."],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch, model; print(tuple(model.MyNet()(torch.randn(2, 3, 8, 8)).shape))",
        ],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.strip() == "(2, 3)", run.stderr


def test_data_dependent_control_flow_names_the_line(user_file):
    with pytest.raises(ModelImportError) as info:
        import_model(f"{user_file}:Branchy", (4,))
    message = str(info.value)
    line = USER_FILE.splitlines().index("        if x.sum() > 0:") + 1
    assert f"{user_file}:{line}" in message
    assert "if x.sum() > 0:" in message and "control flow" in message
    assert info.value.where == f"{user_file}:{line}"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("resnet1234", "not a torchvision model name"),
        ("/nonexistent/model.py:Net", "no such file"),
        ("torchvision.models:nothing_here", "has no 'nothing_here'"),
        ("no_such_package_xyz:Net", "cannot import no_such_package_xyz"),
        ("math:pi", "not a class or function"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, expected):
    with pytest.raises(ModelImportError, match=expected):
        load_spec(spec)


def test_module_callable_spec_with_args():
    model = load_spec("torchvision.models:squeezenet1_1", {"num_classes": 7})
    result = import_model(model)
    data = next(n for n in result.graph.nodes() if n.kind == "data")
    assert data.type_id == "data.RandomImages" and data.params["num_classes"] == 7


def test_wrong_input_shape_is_reported():
    with pytest.raises(ModelImportError, match=r"batch of shape \[2, 1, 64, 64\]"):
        import_model(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), (1, 64, 64))


def test_model_with_two_inputs_is_refused():
    class Two(nn.Module):
        def forward(self, a, b):
            return a + b

    with pytest.raises(ModelImportError, match="more than one input"):
        import_model(Two())


# ---------------------------------------------------------------------------- code nodes
def _code_graph(expr: str = "x * 2", source: str = "") -> tuple[Graph, str]:
    g = Graph()
    data = g.add_node("data.RandomImages", {"shape": [4], "num_classes": 2})
    fc = g.add_node("nn.Linear", {"out_features": 6})
    g.connect(data, "x", fc, "x")
    code = g.add_node(
        "code.Module",
        {"init": "Twice()", "source": source, "shape": [6], "title": "Twice"},
        label="twice",
    )
    g.connect(fc, "out", code, "x")
    fn = g.add_node("code.Function", {"expr": expr, "shape": [6]}, label="fn")
    g.connect(code, "out", fn, "x")
    return g, fn


TWICE = "class Twice(torch.nn.Module):\n    def forward(self, x):\n        return 2 * x\n"


def test_code_never_runs_when_shapes_are_inferred():
    # a source that would fail if executed: shape inference uses the recorded shapes
    g, fn = _code_graph(source="raise RuntimeError('ran')\n" + TWICE)
    result = infer_shapes(g)
    assert result.ok, result.problems
    assert result.shapes[(fn, "out")] == ("B", 6)
    with pytest.raises(RuntimeError, match="ran"):  # compiling is what runs it
        compile_model(g)


def test_code_nodes_compile_run_and_survive_the_file():
    g, fn = _code_graph(expr="torch.relu(x) + x2", source=TWICE)
    fc = next(n.id for n in g.nodes() if n.type_id == "nn.Linear")
    g.connect(fc, "out", fn, "x2")
    g2 = loads(dumps(g))
    compiled = compile_model(g2)
    text = compiled.source.source
    assert "class Twice(torch.nn.Module):" in text and "self.twice = Twice()" in text
    model = compiled.new()
    x = torch.randn(3, 4)
    h = getattr(model, compiled.source.ir.attrs[fc])(x)
    assert torch.allclose(model(x), torch.relu(2 * h) + h)


def test_code_expressions_are_checked():
    with pytest.raises(CodegenError, match="not a Python expression"):
        function_expr({"expr": "x +"}, {"x": "h"})
    with pytest.raises(CodegenError, match="one line"):
        function_expr({"expr": "x\n+ 1"}, {"x": "h"})
    with pytest.raises(CodegenError, match="'x2', which is not connected"):
        function_expr({"expr": "x + x2"}, {"x": "h"})
    # inputs are replaced as names only: not attributes, keywords or inside strings
    out = function_expr({"expr": 'f(x, x=x2.x, s="x") + x.x2'}, {"x": "h", "x2": "a + b"})
    assert out == 'f(h, x=(a + b).x, s="x") + h.x2'
    with pytest.raises(CodegenError, match="is not allowed"):
        check_imports(["import os; os.system('x')"])
    assert check_imports([" import math "]) == ["import math"]
    assert import_block(
        {"from torch import nn", "import math", "import torch", "from typing import Any"}
    ) == ["import math", "from typing import Any", "", "import torch", "from torch import nn"]


def test_random_images_source():
    from torchcanvas.runtime.data import make_datasets

    g = Graph()
    nid = g.add_node("data.RandomImages", {"shape": [1, 5, 5], "num_classes": 3, "n_samples": 10})
    train, val, classes = make_datasets(g.node(nid), g.settings)
    x, y = train[0]
    assert tuple(x.shape) == (1, 5, 5) and 0 <= int(y) < 3
    assert len(train) + len(val) == 10 and classes == ["0", "1", "2"]


# ---------------------------------------------------------------------------- command line
def test_cli_import_writes_a_project_that_checks(tmp_path, capsys):
    out = tmp_path / "sq.json"
    assert (
        cli_main(
            [
                "import",
                "squeezenet1_0",
                "--out",
                str(out),
                "--input-shape",
                "3,64,64",
                "--args",
                '{"num_classes": 4}',
            ]
        )
        == 0
    )
    graph = load(out)
    assert any(n.label == "features.0" and n.type_id == "nn.Conv2d" for n in graph.nodes())
    capsys.readouterr()
    assert cli_main(["check", str(out)]) == 0
    import torchvision

    total = sum(p.numel() for p in torchvision.models.squeezenet1_0(num_classes=4).parameters())
    assert f"Total params: {total:,}" in capsys.readouterr().out


def test_cli_import_errors(tmp_path, capsys, user_file):
    out = tmp_path / "x.json"
    assert (
        cli_main(["import", f"{user_file}:Branchy", "--out", str(out), "--input-shape", "4"]) == 1
    )
    err = capsys.readouterr().err
    assert "error: tracing failed at" in err and "mynet.py:" in err
    assert not out.exists()
    assert cli_main(["import", "resnet18", "--out", str(out), "--input-shape", "a,b"]) == 1
    assert "--input-shape" in capsys.readouterr().err
    assert cli_main(["import", "resnet18", "--out", str(out), "--args", "[1]"]) == 1
    assert "JSON object" in capsys.readouterr().err


def test_import_is_deterministic(user_file):
    # importing twice gives the same project text (deterministic ids, labels and layout)
    first = import_model(f"{user_file}:MyNet").graph
    assert first.settings["model_name"] == "MyNet"
    a = dumps(first)
    b = dumps(import_model(f"{user_file}:MyNet").graph)
    assert a == b


def test_shared_weights_and_unused_modules_are_explained():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    with pytest.raises(ModelImportError, match="fc is called more than once"):
        import_model(Shared(), (4,))

    class WithAux(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.aux = nn.Linear(4, 3)  # used only while training

        def forward(self, x):
            out = self.fc(x)
            if self.training:
                out = out + self.aux(x)
            return out

    model = WithAux()
    result = import_model(model, (4,))
    assert result.notes == [
        "not used by the traced forward, so not imported: aux",
        "outputs match the original model",
    ]
    assert result.max_abs_diff == 0.0
    assert model.training  # the import traced in evaluation mode and put the mode back


def test_import_reports_outputs_that_differ():
    class Noisy(nn.Module):  # rebuilt from its constructor, but its state is not all there
        def __init__(self, scale=1.0):
            super().__init__()
            self.scale = scale
            self.offset = 0.0

        def forward(self, x):
            return x * self.scale + self.offset

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.noisy = Noisy()
            self.noisy.offset = 0.5

        def forward(self, x):
            return self.noisy(self.fc(x))

    result = import_model(Net(), (4,))
    assert result.code_nodes == ["noisy"]
    assert result.notes[-1] == "outputs differ from the original model by up to 0.5"


def test_tensors_read_directly_become_tensor_nodes():
    class Tokens(nn.Module):  # like ViT's class token: the model's own parameter and buffer
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 6)
            self.token = nn.Parameter(torch.randn(1, 1, 6))
            self.register_buffer("shift", torch.randn(6))

        def forward(self, x):
            x = self.proj(x)
            x = torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)
            return (x + self.shift).mean(1)

    model = Tokens()
    result = roundtrip(model, (3, 4))
    assert result.ok, result
    imported = import_model(model, (3, 4))
    tensors = {n.label: n for n in imported.graph.nodes() if n.type_id == "code.Tensor"}
    assert tensors["token"].params["shape"] == [1, 1, 6]
    assert tensors["shift"].params["role"] == "buffer"
    source = compile_model(imported.graph).source.source
    assert "self.token = nn.Parameter(torch.zeros(1, 1, 6))" in source
    assert "self.shift = nn.Buffer(torch.zeros(6))" in source
    assert imported.notes[-1] == "outputs match the original model"


def test_convnext_layer_scale_round_trips():
    result = roundtrip("convnext_tiny")
    assert result.ok, result
