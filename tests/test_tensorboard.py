"""TensorBoard event files: written by the trainer (app and CLI runs, sweep trials) and by the
exported train.py with --tensorboard, read back with tensorboard's own event reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from torchcanvas.graph import load, save
from torchcanvas.graph.serialize import from_dict, to_dict
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.events import EpochEvent, RunFinished, RunStarted, StepEvent
from torchcanvas.runtime.export import export_code
from torchcanvas.runtime.trainer import Trainer, TrainOptions

EXAMPLES = assets_dir() / "examples"


def read_events(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def hparams_of(acc: EventAccumulator) -> dict:
    """The hyperparameters of the HParams tab's session, as plain values."""
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = HParamsPluginData.FromString(content).session_start_info
    out = {}
    for name, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        out[name] = getattr(value, kind)
    return out


def iris(epochs: int = 3, tensorboard: bool = True):
    graph = load(EXAMPLES / "iris_mlp.json")
    graph.set_setting("epochs", epochs)
    graph.set_setting("tensorboard", tensorboard)
    return graph


def test_a_run_writes_steps_epochs_hparams_and_the_graph(tmp_path):
    project = compile_project(iris())
    events = Trainer(project, TrainOptions(out_dir=tmp_path, keep_predictions=False)).run()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    acc = read_events(tmp_path / "tensorboard")

    logged = scalars(acc, "step/train_loss")
    assert [s for s, _ in logged] == [e.global_step for e in steps]
    assert [v for _, v in logged] == pytest.approx([e.loss for e in steps], rel=1e-6)
    assert [v for _, v in scalars(acc, "step/lr")] == pytest.approx([e.lr for e in steps])
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    for key in ("train_loss", "val_loss", "accuracy", "lr"):
        assert scalars(acc, f"epoch/{key}") == [
            (h["epoch"], pytest.approx(h[key], rel=1e-6)) for h in history
        ], key
    assert len(epochs) == 3

    final = history[-1]
    assert scalars(acc, "hparam/val_loss") == [(3, pytest.approx(final["val_loss"], rel=1e-6))]
    assert scalars(acc, "hparam/accuracy") == [(3, pytest.approx(final["accuracy"], rel=1e-6))]
    hp = hparams_of(acc)
    optimizer = next(n for n in project.graph.nodes() if n.type_id.startswith("optim."))
    assert hp["lr"] == pytest.approx(optimizer.params["lr"])
    assert hp["optimizer"] == optimizer.type_id.removeprefix("optim.")
    assert hp["batch_size"] == project.graph.settings["batch_size"]
    assert hp["epochs"] == 3 and hp["status"] == "completed"
    assert acc.Tags()["graph"], "the model graph is in the event files"


def test_logging_changes_nothing_in_training(tmp_path):
    """The graph trace and the writer leave the losses exactly as a run without them."""
    runs = {}
    for on in (False, True):
        out = tmp_path / str(on)
        project = compile_project(iris(epochs=2, tensorboard=on))
        events = Trainer(project, TrainOptions(out_dir=out, keep_predictions=False)).run()
        runs[on] = [e.loss for e in events if isinstance(e, StepEvent)]
        assert (out / "tensorboard").is_dir() == on
    assert runs[True] == runs[False]


def test_options_override_the_setting_and_hparams_add_to_it(tmp_path):
    project = compile_project(iris(epochs=1, tensorboard=False))
    options = TrainOptions(
        out_dir=tmp_path, keep_predictions=False, tensorboard=True, hparams={"trial": 7}
    )
    Trainer(project, options).run()
    assert hparams_of(read_events(tmp_path / "tensorboard"))["trial"] == 7


def test_a_model_that_cannot_be_traced_still_logs_with_a_note(tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    def refuse(self, model, inputs, *args, **kwargs):
        raise RuntimeError("cannot trace this model")

    monkeypatch.setattr(SummaryWriter, "add_graph", refuse)
    events = Trainer(compile_project(iris(epochs=1)), TrainOptions(out_dir=tmp_path)).run()
    started = next(e for e in events if isinstance(e, RunStarted))
    assert any("model graph was left out" in n and "cannot trace" in n for n in started.notices)
    acc = read_events(tmp_path / "tensorboard")
    assert not acc.Tags()["graph"]
    assert len(scalars(acc, "epoch/val_loss")) == 1


def test_the_setting_is_saved_only_when_on(tmp_path):
    graph = load(EXAMPLES / "iris_mlp.json")
    assert graph.settings["tensorboard"] is False
    assert "tensorboard" not in to_dict(graph)["settings"]  # old files stay as they were
    graph.set_setting("tensorboard", True)
    save(graph, tmp_path / "p.json")
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["settings"]["tensorboard"] is True
    assert load(tmp_path / "p.json").settings["tensorboard"] is True
    bad = to_dict(graph)
    bad["settings"]["tensorboard"] = "yes"
    with pytest.raises(Exception, match="tensorboard"):
        from_dict(bad)


def test_cli_train_tensorboard(tmp_path, capsys):
    path = tmp_path / "iris.json"
    save(iris(epochs=2, tensorboard=False), path)
    assert cli_main(["train", str(path), "--tensorboard"]) == 1
    assert "--tensorboard" in capsys.readouterr().err
    out = tmp_path / "run"
    assert cli_main(["train", str(path), "--tensorboard", "--out", str(out)]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().err
    acc = read_events(out / "tensorboard")
    assert len(scalars(acc, "epoch/val_loss")) == 2
    assert "hparam/val_loss" in acc.Tags()["scalars"]
    plain = tmp_path / "plain"
    assert cli_main(["train", str(path), "--out", str(plain)]) == 0
    assert not (plain / "tensorboard").exists()


def _run_train_py(folder: Path, *args: str) -> subprocess.CompletedProcess:
    # main() in-process, then say whether the tensorboard writer was imported
    script = (
        "import sys, train\n"
        f"train.main({list(args)!r})\n"
        "print('TB-IMPORTED' if 'torch.utils.tensorboard' in sys.modules else 'TB-NOT-IMPORTED')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_exported_train_py_writes_event_files_only_with_the_flag(tmp_path):
    project = compile_project(iris(epochs=2, tensorboard=False))
    export_code(project, tmp_path)
    plain = _run_train_py(tmp_path, "--out", "plain")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().endswith("TB-NOT-IMPORTED")
    assert not (tmp_path / "plain" / "tensorboard").exists()

    done = _run_train_py(tmp_path, "--out", "ck", "--tensorboard")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("TB-IMPORTED")
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    acc = read_events(tmp_path / "ck" / "tensorboard")
    assert [v for _, v in scalars(acc, "epoch/val_loss")] == pytest.approx(
        [r["val_loss"] for r in printed], rel=1e-6
    )
    steps = scalars(acc, "step/train_loss")
    assert [s for s, _ in steps] == list(range(1, len(steps) + 1)) and len(steps) > 2
    assert scalars(acc, "hparam/accuracy")[0][1] == pytest.approx(printed[-1]["accuracy"])
    hp = hparams_of(acc)
    assert hp["optimizer"] == "Adam" and hp["epochs"] == 2
    assert acc.Tags()["graph"]
    # the same losses as without the flag
    assert printed == [json.loads(x) for x in plain.stdout.splitlines() if x.startswith("{")]


def test_sweep_trials_fill_the_hparams_tab(tmp_path):
    """Each trial writes its own event files with its swept values and final metrics."""
    path = tmp_path / "iris.json"
    save(iris(epochs=2, tensorboard=False), path)
    space = {
        "dimensions": [{"target": "settings.batch_size", "kind": "choice", "choices": [16, 32]}],
        "objective": {"metric": "accuracy", "direction": "maximize"},
        "strategy": "grid",
        "trials": 2,
        "pruner": "none",
    }
    (tmp_path / "space.json").write_text(json.dumps(space))
    out = tmp_path / "sweep"
    args = ["sweep", str(path), "--space", str(tmp_path / "space.json"), "--out", str(out)]
    assert cli_main([*args, "--tensorboard"]) == 0
    results = json.loads((out / "results.json").read_text())
    seen = set()
    for trial in results["trials"]:
        acc = read_events(Path(trial["run_dir"]) / "tensorboard")
        hp = hparams_of(acc)
        assert hp["trial"] == trial["number"]
        assert hp["settings.batch_size"] == trial["params"]["settings.batch_size"]
        assert hp["batch_size"] == trial["params"]["settings.batch_size"]
        assert scalars(acc, "hparam/accuracy")[0][1] == pytest.approx(trial["objective"])
        seen.add(hp["batch_size"])
    assert seen == {16, 32}


@pytest.mark.slow
def test_a_run_in_the_apps_worker_process_writes_event_files(tmp_path):
    """The app trains in a spawned worker that leaves with os._exit: the files are complete."""
    from torchcanvas.runtime.worker import Job, WorkerProcess

    worker = WorkerProcess()
    data = json.loads(json.dumps(to_dict(iris(epochs=2))))
    assert worker.run(Job(data, TrainOptions(out_dir=tmp_path), fault_log=tmp_path / "f.log"))
    finished = None
    while worker.wait_message(120):
        try:
            message = worker.recv()
        except EOFError:
            break
        if message[0] == "event" and isinstance(message[1], RunFinished):
            finished = message[1]
    assert worker.close(10.0) == 0
    assert finished is not None and finished.status == "completed"
    acc = read_events(tmp_path / "tensorboard")
    assert [s for s, _ in scalars(acc, "epoch/val_loss")] == [1, 2]
    assert hparams_of(acc)["status"] == "completed"
    assert acc.Tags()["graph"]
