"""Style transfer: the bundled example optimises an image (not weights) with a frozen VGG-16.

No pretrained weights exist here (TORCH_HOME points at an empty folder), so the network runs
with its fixed random weights and says so. Pictures are 64×64 and runs a few steps, on one
thread (several threads on a busy CPU are far slower for these small convolutions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchcanvas.codegen import CodegenError
from torchcanvas.codegen.plan import training_plan
from torchcanvas.codegen.style import NO_VGG_WEIGHTS
from torchcanvas.graph import load
from torchcanvas.runtime.compile import CompileError, compile_project
from torchcanvas.runtime.data import assets_dir, make_images
from torchcanvas.runtime.export import export_code
from torchcanvas.runtime.trainer import (
    EpochEvent,
    RunFinished,
    RunStarted,
    StepEvent,
    Trainer,
    TrainOptions,
)

EXAMPLE = assets_dir() / "examples" / "style_transfer.json"


@pytest.fixture(autouse=True)
def _small_and_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached weights
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def by_label(graph, label: str) -> str:
    return next(n.id for n in graph.nodes() if n.label == label)


def example(epochs: int = 2, steps: int = 3, **params):
    graph = load(EXAMPLE)
    graph.set_setting("epochs", epochs)
    images = by_label(graph, "images")
    graph.set_param(images, "steps_per_epoch", steps)
    for name, value in params.items():
        graph.set_param(images, name, value)
    return graph


def run(graph, out: Path | None = None, project_dir: Path | None = EXAMPLE.parent):
    project = compile_project(graph, project_dir, title="style_transfer")
    trainer = Trainer(project, TrainOptions(out_dir=out))
    return project, trainer, trainer.run()


def test_example_changes_the_image_and_lowers_the_loss(tmp_path):
    project, trainer, events = run(example(epochs=2, steps=3), tmp_path / "run")
    started = events[0]
    assert isinstance(started, RunStarted)
    assert started.notices == (NO_VGG_WEIGHTS,)  # said once, for the three VGG nodes
    assert started.steps_per_epoch == 3 and started.task == "style"
    assert started.params == 3 * 64 * 64  # only the image trains
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert [e.global_step for e in steps] == list(range(1, 7))
    assert len(epochs) == 2 and isinstance(events[-1], RunFinished)
    assert events[-1].status == "completed"
    assert steps[-1].loss < steps[0].loss
    assert epochs[1].train_loss < epochs[0].train_loss
    for e in epochs:  # the picture as it changes, small and ready to show
        assert e.image.shape == (64, 64, 3) and e.image.dtype.name == "uint8"
        assert e.metrics == {}
    # the image moved away from the content picture it started from
    content, _ = make_images(project.plan.data)
    image = next(p for p in trainer.model.parameters() if p.requires_grad).detach()
    assert (image - content).abs().mean() > 0.01
    assert not (epochs[0].image == epochs[1].image).all()
    # the run folder holds the result
    out = tmp_path / "run"
    from PIL import Image

    with Image.open(out / "result.png") as picture:
        assert picture.size == (64, 64) and picture.mode == "RGB"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and len(metrics["history"]) == 2
    assert (out / "checkpoint.pt").exists() and (out / "weights.pt").exists()


def test_shapes_are_whole_pictures_and_vgg_stages():
    project = compile_project(example(), EXAMPLE.parent)
    shapes, graph = project.shapes.shapes, project.graph
    images, vgg = by_label(graph, "images"), by_label(graph, "vgg_image")
    assert shapes[(images, "content")] == (1, 3, 64, 64)  # no batch dim: one picture
    assert shapes[(by_label(graph, "image"), "out")] == (1, 3, 64, 64)
    assert shapes[(vgg, "relu1_2")] == (1, 64, 64, 64)
    assert shapes[(vgg, "relu3_3")] == (1, 256, 16, 16)
    assert (vgg, "relu4_3") not in shapes  # past last_layer: not computed
    assert shapes[(by_label(graph, "gram3"), "out")] == (1, 256, 256)
    warnings = [p for p in project.shapes.problems if p.severity == "warning"]
    assert {p.message for p in warnings} == {NO_VGG_WEIGHTS}
    assert project.shapes.trainable_counts[by_label(graph, "image")] == 3 * 64 * 64
    assert project.shapes.trainable_counts[vgg] == 0


@pytest.mark.slow
def test_exported_train_py_runs_standalone_with_the_apps_losses(tmp_path):
    graph = example(epochs=1, steps=2)
    project, _, events = run(graph)
    app = [e.train_loss for e in events if isinstance(e, EpochEvent)]
    out = tmp_path / "export"
    written = export_code(project, out)
    assert {p.name for p in written} >= {
        "model.py",
        "train.py",
        "style_content.png",
        "style_style.png",
    }
    script = (
        "import sys, runpy\n"
        "sys.argv = ['train.py', '--device', 'cpu']\n"
        "runpy.run_path('train.py', run_name='__main__')\n"
        "assert not any(k.startswith('torchcanvas') for k in sys.modules)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch_home")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=out,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == NO_VGG_WEIGHTS
    records = [json.loads(line) for line in lines[1:]]
    assert [r["epoch"] for r in records] == [1]
    assert records[0]["train_loss"] == pytest.approx(app[0], rel=1e-4)
    from PIL import Image

    with Image.open(out / "output" / "result.png") as picture:
        assert picture.size == (64, 64)


def test_lbfgs_takes_a_closure_and_lowers_the_loss(tmp_path):
    graph = example(epochs=1, steps=2)
    adam = by_label(graph, "optimizer")
    losses = [e.src for e in graph.in_edges(adam)]
    graph.remove_node(adam)
    lbfgs = graph.add_node("optim.LBFGS", {"max_iter": 3}, label="lbfgs")
    for loss in losses:
        graph.connect(loss, "loss", lbfgs, "loss")
    project, _, events = run(graph)
    assert "optimizer.step(closure)" in project.train.source
    assert "torch.optim.LBFGS(params, lr=1.0, max_iter=3)" in project.train.source
    steps = [e.loss for e in events if isinstance(e, StepEvent)]
    assert len(steps) == 2 and steps[1] < steps[0]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"


def test_lbfgs_in_an_ordinary_project_keeps_its_loop():
    graph = load(assets_dir() / "examples" / "linear_regression.json")
    sgd = graph.nodes_of_kind("optimizer")[0]
    loss = graph.nodes_of_kind("loss")[0]
    graph.remove_node(sgd.id)
    lbfgs = graph.add_node("optim.LBFGS", {"lr": 0.5})
    graph.connect(loss.id, "loss", lbfgs, "loss")
    graph.set_setting("epochs", 2)
    project = compile_project(graph)
    assert "optimizer.step(closure)" in project.train.source
    assert "def evaluate(" in project.train.source  # the usual train.py around it
    epochs = [e for e in Trainer(project).run() if isinstance(e, EpochEvent)]
    assert len(epochs) == 2 and epochs[1].val_loss < epochs[0].val_loss


def test_noise_init_starts_from_noise():
    graph = example(epochs=1, steps=1)
    graph.set_param(by_label(graph, "image"), "init", "noise")
    project = compile_project(graph, EXAMPLE.parent)
    model = project.model.new()
    content, style = make_images(project.plan.data)
    model(content, style)
    image = model.image.image.detach()
    assert image.shape == content.shape
    assert (image - content).abs().mean() > 0.3
    assert bool(model.image.started)  # kept in the state dict: a resumed run does not restart


def test_local_vgg_weights_are_used_without_notice(tmp_path, monkeypatch):
    """Weights in torch hub's cache (a file named vgg16-*.pth) load; nothing is downloaded."""
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    state = {
        "features.0.weight": torch.full((64, 3, 3, 3), 0.01),
        "features.0.bias": torch.zeros(64),
        "features.2.weight": torch.full((64, 64, 3, 3), -0.02),
        "features.2.bias": torch.ones(64),
        "classifier.0.weight": torch.zeros(2, 2),
    }  # other keys are left alone
    torch.save(state, hub / "vgg16-397923af.pth")
    graph = example()
    for label in ("vgg_image", "vgg_content", "vgg_style"):
        graph.remove_node(by_label(graph, label))
    vgg = graph.add_node("nn.VGG16Features", {"last_layer": "relu1_2"}, label="vgg")
    graph.connect(by_label(graph, "image"), "out", vgg, "x")
    for label in (
        "style_loss1",
        "style_loss2",
        "style_loss3",
        "gram2",
        "gram3",
        "style_gram1",
        "style_gram2",
        "style_gram3",
    ):
        graph.remove_node(by_label(graph, label))
    gram = by_label(graph, "gram1")
    graph.connect(vgg, "relu1_2", gram, "x")
    content_loss = by_label(graph, "content_loss")
    graph.connect(gram, "out", content_loss, "input")
    graph.connect(gram, "out", content_loss, "target")
    project = compile_project(graph, EXAMPLE.parent)
    assert not [p for p in project.shapes.problems if p.severity == "warning"]
    model = project.model.new()
    assert model.vgg.notice is None
    assert torch.equal(model.vgg.features[2].weight, state["features.2.weight"])
    assert not any(p.requires_grad for p in model.vgg.parameters())
    model.train()
    assert not model.vgg.training  # frozen: stays in evaluation mode
    # an explicit file that is missing is an error on the node, not a silent fallback
    graph.set_param(vgg, "weights", str(tmp_path / "missing.pth"))
    with pytest.raises(CompileError, match="VGG-16 weights file not found") as info:
        compile_project(graph, EXAMPLE.parent)
    assert info.value.node_id == vgg


def test_wiring_mistakes_name_the_node():
    graph = example()
    vgg = by_label(graph, "vgg_content")
    graph.set_param(vgg, "last_layer", "relu1_2")  # its relu2_2 feeds the content loss
    with pytest.raises(CompileError, match="set last_layer to relu2_2") as info:
        compile_project(graph, EXAMPLE.parent)
    assert info.value.node_id == vgg

    graph = example()
    image = by_label(graph, "image")
    for edge in graph.out_edges(image):
        graph.disconnect(edge)
    graph.connect(by_label(graph, "images"), "content", by_label(graph, "vgg_image"), "x")
    graph.remove_node(image)
    with pytest.raises(CodegenError, match="Learnable image"):
        training_plan(graph)


def test_user_pictures_relative_to_the_project(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "mine.png")
    graph = example(content_path="mine.png", image_size=[32, 48])
    project = compile_project(graph, tmp_path)
    content, style = make_images(project.plan.data, tmp_path)
    assert content.shape == style.shape == (1, 3, 32, 48)
    assert str(tmp_path / "mine.png") in project.train.source
    assert "STYLE_FILE = None" in project.train.source
    graph.set_param(by_label(graph, "images"), "content_path", "absent.png")
    with pytest.raises(CompileError, match="content_path") as info:
        compile_project(graph, tmp_path)
    assert info.value.node_id == by_label(graph, "images")


def test_cli_trains_the_example_and_says_what_it_does(tmp_path, capsys):
    from torchcanvas.runtime.cli import main

    out = tmp_path / "run"
    assert main(["train", str(EXAMPLE), "--epochs", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "optimising the image of style_transfer.json" in err
    assert NO_VGG_WEIGHTS in err
    assert "val_loss" not in err  # there is no validation here
    assert "result.png" in err and (out / "result.png").exists()
    assert (out / "data" / "style_content.png").exists()  # the exported script's pictures


def test_a_resumed_run_continues_the_image(tmp_path):
    _, _, whole = run(example(epochs=2, steps=2))
    first = tmp_path / "first"
    run(example(epochs=1, steps=2), first)
    project = compile_project(example(epochs=2, steps=2), EXAMPLE.parent)
    options = TrainOptions(out_dir=tmp_path / "second", resume=first / "checkpoint.pt")
    events = Trainer(project, options).run()
    assert events[0].start_epoch == 1
    resumed = [e.train_loss for e in events if isinstance(e, EpochEvent)]
    expected = [e.train_loss for e in whole if isinstance(e, EpochEvent)]
    assert resumed == pytest.approx(expected[1:], rel=1e-5)  # not restarted from the content


@pytest.mark.parametrize("type_id", ["nn.LearnableImage", "nn.VGG16Features"])
def test_model_py_classes_take_the_catalogue_params(type_id):
    """Like tests/test_catalogue_torch.py for torch classes: names and defaults agree."""
    import inspect

    from torchcanvas.graph.catalogue import get_spec
    from torchcanvas.runtime.shapes import _support_class

    spec = get_spec(type_id)
    signature = inspect.signature(_support_class(spec.extra["module"]))
    theirs = {name: p.default for name, p in signature.parameters.items()}
    assert list(theirs) == [p.name for p in spec.params if p.ctor]
    for p in spec.params:
        if p.auto is None:
            assert theirs[p.name] == p.default, p.name
        else:
            assert theirs[p.name] is inspect.Parameter.empty, p.name


def _vgg_file(path: Path) -> dict[str, torch.Tensor]:
    import torchvision

    layers = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    state = {f"features.{k}": v for k, v in layers.state_dict().items()}
    state["features.2.weight"] = torch.full((64, 64, 3, 3), -0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_vgg_weights_relative_to_the_project_and_carried_by_the_export(tmp_path, monkeypatch):
    """A relative VGG weights path means the project's folder, not the working directory; the
    exported folder carries a copy that model.py names relative to itself."""
    project_dir = tmp_path / "project"
    state = _vgg_file(project_dir / "nets" / "vgg.pth")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    graph = example()
    for label in ("vgg_image", "vgg_content", "vgg_style"):
        graph.set_param(by_label(graph, label), "weights", "nets/vgg.pth")
    project = compile_project(graph, project_dir)
    model = project.model.new()
    assert model.vgg_image.notice is None
    assert torch.equal(model.vgg_image.features[2].weight, state["features.2.weight"])
    out = tmp_path / "exported"
    written = export_code(project, out)
    assert out / "pretrained" / "vgg.pth" in written  # one copy for the three nodes
    assert len(list((out / "pretrained").iterdir())) == 1
    source = (out / "model.py").read_text()
    assert str(tmp_path) not in source and 'weights="pretrained/vgg.pth"' in source
    moved = tmp_path / "moved"
    out.rename(moved)
    (project_dir / "nets" / "vgg.pth").unlink()
    code = (
        "import torch, model\n"
        f"m = model.{project.model.source.ir.class_name}()\n"
        "assert m.vgg_image.notice is None\n"
        "assert abs(float(m.vgg_image.features[2].weight.flatten()[0]) + 0.02) < 1e-6\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(moved)},
    )
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
