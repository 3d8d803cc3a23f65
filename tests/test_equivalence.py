"""The exported code is the in-app model: same outputs from model.py + weights.pt, and the same
losses from `python train.py` as from the app's trainer, for the same seed."""

from __future__ import annotations

import hashlib
import json
import os
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


@pytest.mark.slow
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
    done = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = torch.load(tmp_path / "y.pt", weights_only=True)
    assert torch.equal(got, expected)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_cnn", "iris_mlp", "linear_regression"])
def test_train_py_gives_the_apps_losses(name, tmp_path):
    project = _project(name, epochs=2)
    history = [
        (e.train_loss, e.val_loss) for e in Trainer(project).run() if isinstance(e, EpochEvent)
    ]
    export_code(project, tmp_path)
    done = subprocess.run(
        [sys.executable, "train.py", "--out", "ck"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    script = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(r["train_loss"], r["val_loss"]) for r in script] == history
    assert (tmp_path / "ck" / "checkpoint.pt").exists()


# Run first in each torchrun worker: importing torchcanvas fails, then train.py runs as a script.
ISOLATED_TRAIN = """
import runpy
import sys


class _NoTorchcanvas:
    def find_spec(self, name, path=None, target=None):
        if name == "torchcanvas" or name.startswith("torchcanvas."):
            raise ImportError(f"train.py imports {name}")
        return None


sys.meta_path.insert(0, _NoTorchcanvas())
sys.path.insert(0, ".")
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _weights_digest(state: dict) -> str:
    """What the generated weights_digest computes, from a saved state_dict."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _torchrun(folder, wrapper, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(wrapper),
            "train.py",
            *args,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu_agree_and_resume(tmp_path):
    """torchrun --nproc_per_node 2 (gloo on the CPU): the ranks end with the same weights, rank
    0 writes the checkpoint, and --resume continues from it."""
    graph = load(assets_dir() / "examples" / "linear_regression.json")
    graph.set_setting("device", "cpu")
    sgd = next(n for n in graph.nodes() if n.type_id == "optim.SGD")
    loss = next(e for e in graph.edges() if e.dst == sgd.id)
    graph.remove_node(sgd.id)
    adam = graph.add_node("optim.Adam", {"lr": 0.05})  # Adam counts its steps
    graph.connect(loss.src, loss.src_port, adam, "loss")
    project = compile_project(graph, title="line")
    out = tmp_path / "export"
    export_code(project, out)
    wrapper = tmp_path / "isolated_train.py"
    wrapper.write_text(ISOLATED_TRAIN)

    lines = _torchrun(out, wrapper, "--epochs", "1", "--out", "ck")
    records = [r for r in lines if "epoch" in r]
    assert [r["epoch"] for r in records] == [1]  # printed by rank 0 only
    final = next(r for r in lines if "world_size" in r)
    assert final["world_size"] == 2
    state = torch.load(out / "ck" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["batch"] == 0
    # both ranks computed this digest (train.py fails if they differ); rank 0 saved these weights
    assert final["weights_sha256"] == _weights_digest(state["model"])
    assert final["weights_sha256"] == _weights_digest(
        torch.load(out / "ck" / "weights.pt", weights_only=True)
    )
    # each rank took half of every epoch: 160 samples, 8 a batch, 2 ranks -> 10 steps each
    assert state["optimizer"]["state"][0]["step"].item() == 10

    lines = _torchrun(out, wrapper, "--epochs", "2", "--out", "ck", "--resume", "ck/checkpoint.pt")
    records = [r for r in lines if "epoch" in r]
    assert [r["epoch"] for r in records] == [2]
    resumed = torch.load(out / "ck" / "checkpoint.pt", weights_only=True)
    assert resumed["epoch"] == 2 and len(resumed["history"]) == 2
    assert resumed["history"][0] == state["history"][0]
    assert next(r for r in lines if "world_size" in r)["weights_sha256"] == _weights_digest(
        resumed["model"]
    )
    assert resumed["optimizer"]["state"][0]["step"].item() == 20
    assert records[0]["train_loss"] < state["history"][0]["train_loss"]
