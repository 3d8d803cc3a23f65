"""The exported code is the in-app model: same outputs from model.py + weights.pt, and the same
losses from `python train.py` as from the app's trainer, for the same seed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from torchcanvas.graph import load
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import export_code
from torchcanvas.runtime.trainer import EpochEvent, Trainer, TrainOptions


def _project(name: str, **settings):
    graph = load(assets_dir() / "examples" / f"{name}.json")
    for key, value in settings.items():
        graph.set_setting(key, value)
    return compile_project(graph, title=name)


def test_model_py_and_weights_reproduce_in_app_outputs(tmp_path):
    project = _project("digits_cnn", epochs=1)
    out = tmp_path / "run"
    trainer = Trainer(project, TrainOptions(out_dir=out))
    events = trainer.run()
    assert isinstance(events[-1].__class__, type) and events[-1].status == "completed"
    export_code(project, out)
    x = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(x)
    script = (
        "import sys, torch\n"
        "from model import DigitsCNN\n"
        "m = DigitsCNN()\n"
        "m.load_state_dict(torch.load('weights.pt', weights_only=True))\n"
        "m.eval()\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True)\n"
        f"torch.save(m(x).detach(), {str(tmp_path / 'y.pt')!r})\n"
        "assert not any(k.startswith('torchcanvas') for k in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    got = torch.load(tmp_path / "y.pt", weights_only=True)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("name", ["digits_cnn", "iris_mlp", "linear_regression"])
def test_train_py_gives_the_apps_losses(name, tmp_path):
    project = _project(name, epochs=2)
    history = [(e.train_loss, e.val_loss) for e in Trainer(project).run()
               if isinstance(e, EpochEvent)]
    export_code(project, tmp_path)
    done = subprocess.run([sys.executable, "train.py", "--out", "ck"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    script = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(r["train_loss"], r["val_loss"]) for r in script] == history
    assert (tmp_path / "ck" / "checkpoint.pt").exists()
