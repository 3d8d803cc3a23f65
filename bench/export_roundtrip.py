"""Does the exported folder compute what the app computes?

Trains the digits example for a few steps in the app's trainer, exports every format with the
run's weights, then loads model.py + weights.pt, the TorchScript file and the ONNX file in a
separate ``python -I`` process where importing torchcanvas fails, and runs them on validation
images. Last line: JSON with ``max_abs_diff`` per format against the in-app model (goals:
model.py 0 exactly, TorchScript and ONNX below 1e-5).

Then imports torchvision architectures (random weights) onto the canvas, compiles the graph,
loads the original state_dict and compares parameter counts and outputs: ``import_ok`` lists
the ones that round-trip, ``import`` gives each one's figures.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

from torchcanvas.graph import load
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir, materialize
from torchcanvas.runtime.export import export_project
from torchcanvas.runtime.trainer import Trainer, TrainOptions

EXAMPLE = "digits_cnn"
TRAIN_STEPS = 40
SAMPLES = 256

STANDALONE = textwrap.dedent("""
    import sys

    class _NoTorchcanvas:
        def find_spec(self, name, path=None, target=None):
            if name == "torchcanvas" or name.startswith("torchcanvas."):
                raise ImportError(f"the exported code imports {{name}}")
            return None

    sys.meta_path.insert(0, _NoTorchcanvas())
    sys.path.insert(0, ".")

    import numpy as np
    import torch

    from model import {cls}

    x = torch.load(sys.argv[1], weights_only=True)
    model = {cls}()
    model.load_state_dict(torch.load("weights.pt", weights_only=True))
    model.eval()
    scripted = torch.jit.load("model.torchscript.pt")
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
        onnx_out, runner = session.run(None, {{"x": x.numpy()}})[0], "onnxruntime"
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        onnx_out = ReferenceEvaluator("model.onnx").run(None, {{"x": x.numpy()}})[0]
        runner = "onnx reference evaluator"
    with torch.no_grad():
        out = {{"model_py": model(x), "torchscript": scripted(x),
                "onnx": torch.from_numpy(np.asarray(onnx_out))}}
    torch.save(out, sys.argv[2])
    print(runner)
""")


def export_roundtrip(work: Path) -> dict:
    """Train, export, reload outside torchcanvas; the differences per format."""
    graph = load(assets_dir() / "examples" / f"{EXAMPLE}.json")
    graph.set_setting("device", "cpu")
    project = compile_project(graph, title=EXAMPLE)
    trainer = Trainer(
        project, TrainOptions(out_dir=work / "run", max_steps=TRAIN_STEPS, keep_predictions=False)
    )
    trainer.run()
    model = trainer.model.eval()

    report = export_project(project, work / "export", weights=work / "run")
    failed = {r.format: r.error for r in report.failed()}
    if failed:
        raise SystemExit(f"export failed: {failed}")

    _, val_set, _ = project.fn("make_datasets")(materialize(project.plan.data))
    x = torch.stack([val_set[i][0] for i in range(min(SAMPLES, len(val_set)))])
    torch.save(x, work / "x.pt")
    with torch.no_grad():
        expected = model(x)
    cls = project.model.source.ir.class_name
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            STANDALONE.format(cls=cls),
            str(work / "x.pt"),
            str(work / "y.pt"),
        ],
        cwd=work / "export",
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise SystemExit(f"the exported folder failed:\n{done.stderr}")
    got = torch.load(work / "y.pt", weights_only=True)
    diffs = {name: (value - expected).abs().max().item() for name, value in got.items()}
    return {
        "example": EXAMPLE,
        "samples": len(x),
        "max_abs_diff": diffs,
        "model_py_exact": torch.equal(got["model_py"], expected),
        "onnx_runner": done.stdout.strip().splitlines()[-1],
        "files": sorted(p.name for p in report.files),
    }


# user-written models, imported by file path like a user's own: an nn.Transformer
# encoder-decoder (tests/import_models.py) and a model whose blocks branch on tensor values,
# imported with those blocks kept opaque (tests/fixtures/gated_net.py)
TESTS = Path(__file__).resolve().parents[1] / "tests"
USER_MODELS = {
    f"{TESTS / 'import_models.py'}:Seq2SeqTransformer": (12, 8),
    f"{TESTS / 'fixtures' / 'gated_net.py'}:GatedNet": None,
}


def import_roundtrips() -> dict:
    from torchcanvas.runtime.importer import (
        DEFAULT_INPUT,
        ROUNDTRIP_MODELS,
        ROUNDTRIP_SHAPES,
        roundtrip,
    )

    models = {name: ROUNDTRIP_SHAPES.get(name, DEFAULT_INPUT) for name in ROUNDTRIP_MODELS}
    models.update({spec: shape or DEFAULT_INPUT for spec, shape in USER_MODELS.items()})
    results = []
    for spec, shape in models.items():
        cpu = time.process_time()
        r = dataclasses.replace(roundtrip(spec, shape), name=spec.rpartition(":")[2])
        cpu = time.process_time() - cpu
        results.append(r)
        print(
            f"import {r.name:18s} params {r.original_params:>11,} -> {r.imported_params:>11,}"
            f"  max |diff| {r.max_abs_diff:.3g}  {'ok' if r.ok else f'FAILED {r.error}'}"
            f"  ({r.seconds:.1f} s wall, {cpu:.1f} s CPU)",
            file=sys.stderr,
        )
    return {
        "import_ok": [r.name for r in results if r.ok],
        "import": {
            r.name: {
                "params": r.original_params,
                "imported_params": r.imported_params,
                "max_abs_diff": r.max_abs_diff,
                "ok": r.ok,
            }
            for r in results
        },
    }


def main() -> None:
    summary: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        summary.update(export_roundtrip(Path(tmp)))
    for name, diff in summary["max_abs_diff"].items():
        print(f"{name:12s} max |diff| {diff:.3g}", file=sys.stderr)
    summary.update(import_roundtrips())
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
