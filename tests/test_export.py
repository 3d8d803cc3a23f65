"""File → Export and `torchcanvas export`: every format, checked against the model in the app; a
format that cannot be produced says why and the rest still export; identical graphs give
identical files; the exported folder runs without torchcanvas."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import onnx
import pytest
import torch

from torchcanvas.graph import load
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import (
    FORMATS,
    ExportError,
    export_project,
    load_weights,
    parse_formats,
)
from torchcanvas.runtime.trainer import Trainer, TrainOptions

# Put first in every script run on the exported folder: importing torchcanvas fails there.
BLOCK_TORCHCANVAS = textwrap.dedent("""
    import sys

    class _NoTorchcanvas:
        def find_spec(self, name, path=None, target=None):
            if name == "torchcanvas" or name.startswith("torchcanvas."):
                raise ImportError(f"the exported code imports {name}")
            return None

    sys.meta_path.insert(0, _NoTorchcanvas())
    sys.path.insert(0, ".")
""")


def _graph(name: str, **settings):
    graph = load(assets_dir() / "examples" / f"{name}.json")
    for key, value in settings.items():
        graph.set_setting(key, value)
    return graph


def _project(name: str, **settings):
    return compile_project(_graph(name, **settings), title=name)


def run_standalone(folder: Path, code: str, *args: str, timeout: int = 300):
    """Run ``code`` with ``python -I`` in ``folder``, where importing torchcanvas fails."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", BLOCK_TORCHCANVAS + code, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _trained(name: str, run_dir: Path, steps: int = 30):
    project = _project(name, epochs=1)
    trainer = Trainer(
        project, TrainOptions(out_dir=run_dir, max_steps=steps, keep_predictions=False)
    )
    events = trainer.run()
    assert events[-1].__class__.__name__ == "RunFinished", events[-1]
    return project, trainer.model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_cnn", "mlp_regression", "linear_regression"])
def test_every_format_reproduces_the_app_model(name, tmp_path):
    project, model = _trained(name, tmp_path / "run")
    out = tmp_path / "export"
    report = export_project(project, out, weights=tmp_path / "run")
    assert report.ok, report.lines()
    assert list(report.results) == list(FORMATS)
    for f in (
        "model.py",
        "train.py",
        "weights.pt",
        "weights.safetensors",
        "model.torchscript.pt",
        "model.onnx",
        "README.md",
        "requirements.txt",
    ):
        assert (out / f).is_file(), f
    assert report.weights.startswith("Run run: ")  # best.pt, or checkpoint.pt when stopped

    # the ONNX file is valid and its batch axis is dynamic
    proto = onnx.load(out / "model.onnx")
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"

    # the exported folder, copied away from the project, without torchcanvas
    away = tmp_path / "away"
    shutil.copytree(out, away)
    x = torch.randn(
        5,
        *project.shapes.shapes[project.model.source.ir.inputs[0][1]][1:],
        generator=torch.Generator().manual_seed(3),
    )
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        expected = model(x)
    cls = project.model.source.ir.class_name
    code = f"""
import numpy as np
import onnxruntime
import torch
from onnx.reference import ReferenceEvaluator
from safetensors.torch import load_file

from model import {cls}

x = torch.load({str(tmp_path / "x.pt")!r}, weights_only=True)
m = {cls}()
m.load_state_dict(torch.load("weights.pt", weights_only=True))
m.eval()
s = {cls}()
s.load_state_dict(load_file("weights.safetensors"))
s.eval()
ts = torch.jit.load("model.torchscript.pt")
session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
with torch.no_grad():
    out = {{
        "model": m(x),
        "safetensors": s(x),
        "torchscript": ts(x),
        "onnxruntime": torch.from_numpy(session.run(None, {{"x": x.numpy()}})[0]),
        "reference": torch.from_numpy(np.asarray(
            ReferenceEvaluator("model.onnx").run(None, {{"x": x.numpy()}})[0])),
    }}
torch.save(out, {str(tmp_path / "y.pt")!r})
assert not any(k.startswith("torchcanvas") for k in sys.modules)
"""
    run_standalone(away, code)
    got = torch.load(tmp_path / "y.pt", weights_only=True)
    assert torch.equal(got["model"], expected)  # exactly, on the CPU
    assert torch.equal(got["safetensors"], expected)
    for key in ("torchscript", "onnxruntime", "reference"):
        assert got[key].shape == expected.shape
        assert (got[key] - expected).abs().max().item() < 1e-5, key
    assert report.results["onnx"].max_abs_diff < 1e-5
    assert report.results["torchscript"].max_abs_diff < 1e-5


def test_fresh_weights_are_the_seeded_initialisation(tmp_path):
    project = _project("mlp_regression", seed=7)
    report = export_project(project, tmp_path, formats="code,weights")
    assert set(report.results) == {"code", "weights"}
    assert not (tmp_path / "model.onnx").exists()
    torch.manual_seed(7)
    fresh = project.model.new()
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert saved.keys() == fresh.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in fresh.state_dict().items())
    readme = (tmp_path / "README.md").read_text()
    assert "Freshly initialised" in readme and "seed 7" in readme
    assert "## Train" in readme and "torchrun --nproc_per_node 2 train.py" in readme
    assert "--resume checkpoints/checkpoint.pt" in readme
    assert "## ONNX" not in readme  # only what was exported is explained


def _with_adaptive_max_pool(graph):
    """digits_cnn with its 2x2 max pool replaced by an adaptive one to 3x3 (8 is no multiple
    of 3): fine in PyTorch and TorchScript, but no ONNX exporter can write it."""
    pool = next(n for n in graph.nodes() if n.label == "pool")
    before = next(e for e in graph.edges() if e.dst == pool.id)
    after = next(e for e in graph.edges() if e.src == pool.id)
    graph.remove_node(pool.id)
    new = graph.add_node("nn.AdaptiveMaxPool2d", {"output_size": 3}, label="adaptive_pool")
    graph.connect(before.src, before.src_port, new, "x")
    graph.connect(new, "out", after.dst, after.dst_port)
    return graph, new


@pytest.mark.slow
def test_a_format_that_fails_says_why_and_the_rest_export(tmp_path):
    graph, pool = _with_adaptive_max_pool(_graph("digits_cnn"))
    project = compile_project(graph, title="adaptive")
    report = export_project(project, tmp_path)
    onnx_result = report.results["onnx"]
    assert not onnx_result.ok and not report.ok
    assert "adaptive_max_pool2d" in onnx_result.error and "not supported" in onnx_result.error
    assert onnx_result.node_id == pool
    assert not (tmp_path / "model.onnx").exists()
    for name in ("code", "weights", "safetensors", "torchscript"):
        assert report.results[name].ok, report.results[name].error
    assert (tmp_path / "model.torchscript.pt").is_file()
    readme = (tmp_path / "README.md").read_text()
    assert "## Not exported" in readme and "adaptive_max_pool2d" in readme
    assert "onnxruntime" not in (tmp_path / "requirements.txt").read_text().split("optional")[0]


def test_torchscript_falls_back_to_tracing_then_reports(tmp_path, monkeypatch):
    project = _project("mlp_regression")

    def no_script(*_args, **_kwargs):
        raise RuntimeError("Python builtin <built-in function id> is currently not supported")

    monkeypatch.setattr(torch.jit, "script", no_script)
    report = export_project(project, tmp_path / "a", formats="torchscript")
    result = report.results["torchscript"]
    assert result.ok and result.note.startswith("traced; scripting failed: Python builtin")
    assert result.max_abs_diff < 1e-5

    def no_trace(*_args, **_kwargs):
        raise RuntimeError("Tracer cannot infer type of output")

    monkeypatch.setattr(torch.jit, "trace", no_trace)
    report = export_project(project, tmp_path / "b", formats="weights,torchscript")
    assert report.results["weights"].ok
    error = report.results["torchscript"].error
    assert "cannot script the model" in error and "Tracer cannot infer" in error


@pytest.mark.slow
def test_identical_graphs_give_identical_files(tmp_path):
    for folder in ("a", "b"):
        report = export_project(_project("digits_cnn"), tmp_path / folder)
        assert report.ok
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert a == b and len(a) == 9
    for rel in a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_exported_readme_and_requirements_are_plain(tmp_path):
    export_project(_project("digits_cnn"), tmp_path)
    requirements = (tmp_path / "requirements.txt").read_text().splitlines()
    needed = [line for line in requirements if line and not line.startswith("#")]
    assert needed == [f"torch>={'.'.join(torch.__version__.split('.')[:2])}"]
    readme = (tmp_path / "README.md").read_text()
    assert "from model import DigitsCNN" in readme
    assert 'torch.jit.load("model.torchscript.pt")' in readme
    assert 'onnxruntime.InferenceSession("model.onnx")' in readme
    assert "torchcanvas" not in readme
    # the README's loading example runs as written
    snippet = readme.split("## Load the weights")[1].split("```python")[1].split("```")[0]
    run_standalone(tmp_path, snippet + "\nassert output.shape == (1, 10)\n")


# ----------------------------------------------------------------------------- weights
def test_weights_from_run_folders_and_files(tmp_path):
    project, _ = _trained("linear_regression", tmp_path / "run", steps=None)  # one epoch
    run = tmp_path / "run"
    assert (run / "best.pt").is_file()
    w = load_weights(run)
    assert "best.pt" in w.description and "lowest validation loss" in w.description
    state = torch.load(run / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(w.state_dict[k], v) for k, v in state.items())
    (run / "best.pt").unlink()
    assert (
        "checkpoint.pt (a checkpoint after epoch 1, validation loss"
        in load_weights(run).description
    )
    plain = load_weights(run / "weights.pt")
    assert plain.description == "weights.pt (a state_dict)"
    export_project(project, tmp_path / "st", formats="safetensors")
    again = load_weights(tmp_path / "st" / "weights.safetensors")
    assert again.state_dict.keys() == plain.state_dict.keys()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a checkpoint", "cannot read weights"),
        (None, "no such file"),
    ],
)
def test_bad_weights_are_refused_before_writing(tmp_path, content, message):
    path = tmp_path / "w.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ExportError, match=message) as info:
        export_project(_project("linear_regression"), tmp_path / "out", weights=path)
    assert info.value.field == "weights"
    assert not (tmp_path / "out").exists()


def test_weights_of_another_model_are_refused(tmp_path):
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "w.pt")
    with pytest.raises(ExportError, match=r"does not fit this model: missing linear\.weight"):
        export_project(_project("linear_regression"), tmp_path / "out", weights=tmp_path / "w.pt")
    with pytest.raises(ExportError, match=r"no best\.pt, checkpoint\.pt or weights\.pt"):
        export_project(_project("linear_regression"), tmp_path / "out", weights=tmp_path)


def test_parse_formats():
    assert parse_formats("onnx, code") == ("code", "onnx")
    with pytest.raises(ExportError, match="unknown format 'pdf'") as info:
        parse_formats("code,pdf")
    assert info.value.field == "formats"
    with pytest.raises(ExportError, match="no format"):
        parse_formats(" , ")


# ----------------------------------------------------------------------------- CLI
def test_cli_export_with_weights(tmp_path, capsys):
    _trained("linear_regression", tmp_path / "run", steps=None)
    project_file = assets_dir() / "examples" / "linear_regression.json"
    rc = cli_main(
        [
            "export",
            str(project_file),
            "--out",
            str(tmp_path / "out"),
            "--weights",
            str(tmp_path / "run"),
            "--formats",
            "code,weights,onnx",
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["formats"]) == {"code", "weights", "onnx"}
    assert all(f["ok"] for f in report["formats"].values())
    assert "best.pt" in report["weights"]
    assert (tmp_path / "out" / "model.onnx").is_file()
    assert not (tmp_path / "out" / "model.torchscript.pt").exists()


def test_cli_export_errors_name_the_option(tmp_path, capsys):
    project_file = str(assets_dir() / "examples" / "linear_regression.json")
    assert cli_main(["export", project_file, "--out", str(tmp_path), "--formats", "zip"]) == 1
    assert "--formats: unknown format 'zip'" in capsys.readouterr().err
    assert (
        cli_main(
            ["export", project_file, "--out", str(tmp_path), "--weights", str(tmp_path / "none.pt")]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "--weights:" in err and "none.pt: no such file" in err


@pytest.mark.slow
def test_cli_export_reports_a_failed_format(tmp_path, capsys):
    graph, _ = _with_adaptive_max_pool(_graph("digits_cnn"))
    from torchcanvas.graph import save

    save(graph, tmp_path / "adaptive.json")
    rc = cli_main(["export", str(tmp_path / "adaptive.json"), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert rc == 1
    assert "TorchScript: model.torchscript.pt" in captured.out
    assert "ONNX: not exported: op aten.adaptive_max_pool2d not supported" in captured.out
    assert "node 'adaptive_pool' (nn.AdaptiveMaxPool2d" in captured.err


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in (assets_dir() / "examples").glob("*.json")))
def test_every_bundled_example_exports_every_format(name, tmp_path, capsys):
    """Each example in assets/examples exports in every format: TorchScript scripted (not
    traced), ONNX checked and run, none failing, and the exporters print nothing (torch.export
    prints the whole graph of a model it gives up on, style_transfer's)."""
    path = assets_dir() / "examples" / f"{name}.json"
    project = compile_project(load(path), path.parent, title=name)
    report = export_project(project, tmp_path, FORMATS)
    printed = capsys.readouterr()
    assert printed.out == printed.err == ""
    failed = {r.format: r.error for r in report.failed()}
    assert not failed, failed
    assert report.results["torchscript"].note.startswith("scripted"), report.results[
        "torchscript"
    ].note
    assert "outputs match the model" in report.results["onnx"].note
