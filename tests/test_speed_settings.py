"""Speed settings (mixed precision, torch.compile, channels-last, pinned memory, cuDNN benchmark):
checked with errors naming the setting, applied by the app's trainer and by the exported
train.py with the same flags, and refused clearly where the device cannot honour them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from torchcanvas.graph import Graph, InvalidProjectError, ParamError, load, loads
from torchcanvas.graph.settings import validate_settings
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import export_code
from torchcanvas.runtime.trainer import (
    AutogradSnapshot,
    EpochEvent,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    Trainer,
    TrainOptions,
)

ON_CUDA = torch.cuda.is_available()
cpu_only = pytest.mark.skipif(ON_CUDA, reason="checks what the CPU refuses")


def _graph(name: str, **settings) -> Graph:
    graph = load(assets_dir() / "examples" / f"{name}.json")
    graph.set_setting("device", "cpu")
    for key, value in settings.items():
        graph.set_setting(key, value)
    return graph


def _run(graph: Graph, control: RunControl | None = None, **options):
    options.setdefault("keep_predictions", False)
    return Trainer(compile_project(graph, title="t"), TrainOptions(**options), control).run()


def _accuracies(events) -> list[float]:
    assert isinstance(events[-1], RunFinished), events[-1]
    return [e.metrics["accuracy"] for e in events if isinstance(e, EpochEvent)]


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("precision", "fp8", "precision: 'fp8' is not allowed"),
        ("precision", "BF16", "precision: 'BF16' is not allowed"),
        ("compile", "yes", "compile: expected true or false"),
        ("compile_mode", "fast", "compile_mode: 'fast' is not allowed"),
        ("channels_last", 1, "channels_last: expected true or false"),
        ("pin_memory", None, "pin_memory: a value is required"),
        ("cudnn_benchmark", "on", "cudnn_benchmark: expected true or false"),
    ],
)
def test_bad_values_name_the_setting(name, value, message):
    with pytest.raises(ParamError) as err:
        validate_settings({name: value})
    assert str(err.value).startswith(message)
    with pytest.raises(ParamError) as err:
        Graph().set_setting(name, value)
    assert err.value.name == name


def test_defaults_and_a_bad_project_file():
    settings = validate_settings({})
    assert (settings["precision"], settings["compile"], settings["compile_mode"]) == (
        "off",
        False,
        "default",
    )
    assert not any(settings[k] for k in ("channels_last", "pin_memory", "cudnn_benchmark"))
    text = json.dumps(
        {
            "format": "torchcanvas",
            "version": 1,
            "nodes": {},
            "edges": [],
            "settings": {"precision": "half"},
        }
    )
    with pytest.raises(InvalidProjectError) as err:
        loads(text)
    assert "settings.precision" in str(err.value)


def test_settings_round_trip_through_the_project_file(tmp_path):
    from torchcanvas.graph import save

    graph = _graph(
        "digits_cnn",
        precision="bf16",
        compile=True,
        compile_mode="max-autotune",
        channels_last=True,
        cudnn_benchmark=True,
    )
    save(graph, tmp_path / "p.json")
    again = load(tmp_path / "p.json").settings
    assert (again["precision"], again["compile"], again["compile_mode"]) == (
        "bf16",
        True,
        "max-autotune",
    )
    assert again["channels_last"] and again["cudnn_benchmark"] and not again["pin_memory"]


# ---------------------------------------------------------------------------- the app's trainer
@pytest.fixture(scope="module")
def fp32_accuracy() -> list[float]:
    return _accuracies(_run(_graph("digits_cnn", epochs=3)))


@pytest.mark.slow
def test_bf16_reaches_the_fp32_accuracy_band(fp32_accuracy):
    events = _run(_graph("digits_cnn", epochs=3, precision="bf16", channels_last=True))
    bf16 = _accuracies(events)
    assert fp32_accuracy[-1] >= 0.9 and bf16[-1] >= 0.9
    assert abs(bf16[-1] - fp32_accuracy[-1]) <= 0.03
    # the train loss is accumulated in float32 and read back as such
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert all(isinstance(e.train_loss, float) for e in epochs)
    assert epochs[-1].train_loss < epochs[0].train_loss


@pytest.mark.slow
def test_torch_compile_reaches_the_fp32_accuracy_band(fp32_accuracy, tmp_path):
    from torch._dynamo.utils import counters

    counters.clear()
    graph = _graph("digits_cnn", epochs=3, compile=True)
    control = RunControl()
    control.request_graph()
    events = _run(graph, control, out_dir=tmp_path, keep_predictions=True)
    compiled = _accuracies(events)
    assert counters["frames"]["ok"] >= 1  # the model really went through torch.compile
    assert compiled[-1] >= 0.9 and abs(compiled[-1] - fp32_accuracy[-1]) <= 0.03
    # what the window shows still works: the autograd graph of a step (captured eagerly, so
    # every layer is a node) and the validation images with their predictions
    snapshot = next(e for e in events if isinstance(e, AutogradSnapshot))
    assert snapshot.graph is not None and len(snapshot.graph.nodes) >= 10
    last = [e for e in events if isinstance(e, EpochEvent)][-1]
    assert last.samples is not None and last.samples[1].shape == (16,)
    # compiled in place: the saved weights keep the model's own names
    names = set(torch.load(tmp_path / "weights.pt", weights_only=True))
    assert names == set(compile_project(graph).model.new().state_dict())
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["settings"]["compile"] is True and "scaler" in ckpt


def test_channels_last_reaches_the_weights_and_the_inputs():
    project = compile_project(_graph("digits_cnn", channels_last=True))
    model = project.fn("prepare_model")(project.model.new())
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert conv.in_channels > 1  # with one channel both layouts are the same
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    x = project.fn("to_device")(torch.zeros(2, 3, 8, 8), torch.device("cpu"))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    labels = project.fn("to_device")(torch.zeros(2), torch.device("cpu"))
    assert labels.is_contiguous()
    plain = compile_project(_graph("digits_cnn"))
    conv = [
        m
        for m in plain.fn("prepare_model")(plain.model.new()).modules()
        if isinstance(m, torch.nn.Conv2d)
    ][-1]
    assert conv.weight.is_contiguous()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentiment_lstm", "char_rnn"])
def test_recurrent_models_train_in_bf16_on_the_cpu(name):
    events = _run(_graph(name, epochs=1, precision="bf16"), max_steps=6)
    assert isinstance(events[-1], RunFinished), events[-1]
    assert events[-1].global_step == 6


def test_style_transfer_optimises_its_image_in_bf16_channels_last():
    events = _run(
        _graph("style_transfer", epochs=1, precision="bf16", channels_last=True), max_steps=3
    )
    assert isinstance(events[-1], RunFinished), events[-1]
    losses = [e.loss for e in events if type(e).__name__ == "StepEvent"]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_lbfgs_trains_in_bf16_and_refuses_channels_last():
    def lbfgs(**settings):
        graph = _graph("linear_regression", epochs=2, **settings)
        sgd = next(n for n in graph.nodes() if n.type_id == "optim.SGD")
        loss = next(e for e in graph.edges() if e.dst == sgd.id)
        graph.remove_node(sgd.id)
        opt = graph.add_node("optim.LBFGS", {"max_iter": 2})
        graph.connect(loss.src, loss.src_port, opt, "loss")
        return graph

    events = _run(lbfgs(precision="bf16"))
    assert isinstance(events[-1], RunFinished), events[-1]
    failed = _run(lbfgs(channels_last=True))[-1]
    assert isinstance(failed, RunFailed)
    assert failed.message.startswith("channels_last: L-BFGS needs contiguous parameters")


@cpu_only
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"precision": "fp16"}, "precision: fp16 needs a CUDA device; on cpu use bf16"),
        ({"pin_memory": True}, "pin_memory: pinned memory speeds up copies to a CUDA device"),
    ],
)
def test_cuda_only_settings_are_refused_on_the_cpu(settings, message, tmp_path):
    events = _run(_graph("iris_mlp", **settings), out_dir=tmp_path)
    assert len(events) == 1 and isinstance(events[0], RunFailed)
    assert events[0].message.startswith(message)
    assert "Traceback" not in events[0].message
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


@cpu_only
def test_cudnn_benchmark_on_the_cpu_is_a_notice():
    events = _run(_graph("iris_mlp", epochs=1, cudnn_benchmark=True))
    started = next(e for e in events if isinstance(e, RunStarted))
    assert any(n.startswith("cudnn_benchmark: cuDNN is CUDA only") for n in started.notices)
    assert isinstance(events[-1], RunFinished)


def test_compile_without_a_compiler_is_refused(monkeypatch):
    from torchcanvas.runtime import trainer

    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(trainer.shutil, "which", lambda name: None)
    failed = _run(_graph("iris_mlp", compile=True))[-1]
    assert isinstance(failed, RunFailed)
    assert failed.message.startswith("compile: torch.compile needs a C++ compiler")
    assert "turn compile off" in failed.message


def test_a_compile_failure_names_the_setting(monkeypatch):
    import torch._inductor.compile_fx as compile_fx

    def broken(*args, **kwargs):
        raise RuntimeError("no kernels today")

    monkeypatch.setattr(compile_fx, "compile_fx", broken)
    torch._dynamo.reset()
    failed = _run(_graph("iris_mlp", compile=True))[-1]
    torch._dynamo.reset()
    assert isinstance(failed, RunFailed)
    assert failed.message.startswith("compile: torch.compile failed")
    assert "no kernels today" in failed.message and "turn compile off" in failed.message


# ---------------------------------------------------------------------------- CLI and train.py
def test_cli_flags_set_what_runs(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli_main(
        [
            "train",
            str(assets_dir() / "examples" / "iris_mlp.json"),
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--precision",
            "bf16",
            "--channels-last",
            "--no-compile",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["precision"] == "bf16" and settings["channels_last"] is True
    source = (out / "train.py").read_text()
    assert '"precision": "bf16",' in source and '"channels_last": True,' in source


@cpu_only
def test_cli_refuses_fp16_on_the_cpu(tmp_path, capsys):
    code = cli_main(
        [
            "train",
            str(assets_dir() / "examples" / "iris_mlp.json"),
            "--device",
            "cpu",
            "--precision",
            "fp16",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "error: precision: fp16 needs a CUDA device" in err
    assert "Traceback" not in err


def test_cli_rejects_an_unknown_precision(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "x.json", "--precision", "fp8"])
    assert "--precision: invalid choice: 'fp8'" in capsys.readouterr().err


def _train_py(folder, *args: str):
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=folder, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_exported_train_py_runs_with_bf16_and_compile(tmp_path):
    project = compile_project(_graph("digits_cnn"), title="digits")
    export_code(project, tmp_path)
    done = _train_py(
        tmp_path,
        "--epochs",
        "2",
        "--precision",
        "bf16",
        "--compile",
        "--channels-last",
        "--out",
        "ck",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["accuracy"] >= 0.85
    state = torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=True)
    assert state["settings"]["precision"] == "bf16" and state["settings"]["compile"] is True
    assert not any(k.startswith("_orig_mod") for k in state["model"])


@pytest.mark.slow
@cpu_only
def test_exported_train_py_refuses_cuda_only_flags_on_the_cpu(tmp_path):
    export_code(compile_project(_graph("iris_mlp"), title="iris"), tmp_path)
    done = _train_py(tmp_path, "--precision", "fp16")
    assert done.returncode == 2 and "precision: fp16 needs a CUDA device" in done.stderr
    done = _train_py(tmp_path, "--pin-memory")
    assert done.returncode == 2 and "pin_memory: pinned memory" in done.stderr
    done = _train_py(tmp_path, "--epochs", "1", "--cudnn-benchmark", "--out", "ck")
    assert done.returncode == 0, done.stderr
    assert "cudnn_benchmark: cuDNN is CUDA only; it does nothing on cpu" in done.stderr


@pytest.mark.slow
def test_torchrun_with_one_process_still_forms_a_process_group(tmp_path):
    """One process under torchrun (one GPU) runs the distributed path: nccl on CUDA, gloo here."""
    import os

    export_code(compile_project(_graph("iris_mlp"), title="iris"), tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "1",
            "train.py",
            "--epochs",
            "1",
            "--precision",
            "bf16",
            "--out",
            "ck",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert next(r for r in lines if "world_size" in r)["world_size"] == 1
    assert (tmp_path / "ck" / "checkpoint.pt").is_file()
