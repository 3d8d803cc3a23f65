"""Pretrained backbones: weights from a local file, dropped head, frozen stages, the hub cache,
the transfer-learning example, and the exported code.

Weights files are made here by saving a randomly initialised torchvision model's state_dict;
nothing is downloaded.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from data_fixtures import write_image_folder
from torch import nn

from torchcanvas.graph import Graph, load
from torchcanvas.runtime.backbones import hub_weights, on_meta
from torchcanvas.runtime.compile import CompileError, compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import export_code
from torchcanvas.runtime.shapes import infer_shapes
from torchcanvas.runtime.trainer import RunFailed, StepEvent, Trainer, TrainOptions

EXAMPLE = assets_dir() / "examples" / "transfer_learning.json"


@pytest.fixture
def project_dir(tmp_path) -> Path:
    """A project folder with a tiny image folder and a ResNet-18 weights file."""
    folder = tmp_path / "project"
    write_image_folder(folder / "pets", per_class=4)
    (folder / "weights").mkdir()
    torch.manual_seed(123)
    torch.save(
        torchvision.models.resnet18(weights=None).state_dict(), folder / "weights" / "r18.pth"
    )
    return folder


def transfer_graph(**backbone) -> Graph:
    """pets → backbone → Linear head → cross-entropy, Adam."""
    g = Graph({"batch_size": 4, "epochs": 1, "device": "cpu", "val_split": 0.25})
    data = g.add_node("data.ImageFolder", {"path": "pets", "image_size": [64, 64]}, label="pets")
    params = {"weights": "weights/r18.pth", "freeze": "all", **backbone}
    b = g.add_node("tv.Backbone", params, label="backbone")
    head = g.add_node("nn.Linear", {"out_features": 3}, label="head")
    loss = g.add_node("loss.CrossEntropy", label="loss")
    opt = g.add_node("optim.Adam", {"lr": 0.01}, label="optimizer")
    g.connect(data, "x", b, "x")
    g.connect(b, "out", head, "x")
    g.connect(head, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    g.connect(loss, "loss", opt, "loss")
    return g


def train(project, steps: int = 3):
    trainer = Trainer(project, TrainOptions(max_steps=steps, device="cpu"))
    events = trainer.run()
    failed = [e for e in events if isinstance(e, RunFailed)]
    assert not failed, failed[0].message + "\n" + failed[0].traceback
    assert len([e for e in events if isinstance(e, StepEvent)]) == steps
    return trainer.model


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------- weights
def test_weights_load_from_a_local_file_relative_to_the_project(project_dir):
    project = compile_project(transfer_graph(), project_dir)
    model = project.model.new()
    saved = torch.load(project_dir / "weights" / "r18.pth", weights_only=True)
    got = model.backbone.state_dict()
    assert set(got) == set(saved) - {"fc.weight", "fc.bias"}  # the head is dropped
    for key, value in got.items():
        assert torch.equal(value, saved[key]), key
    assert isinstance(model.backbone.fc, nn.Identity)
    path = str(project_dir / "weights" / "r18.pth")
    assert f'state = torch.load(\n        "{path}",' in project.model.source.source


def test_missing_weights_file_names_the_node_and_field(project_dir):
    graph = transfer_graph(weights="weights/nope.pth")
    with pytest.raises(CompileError) as err:
        compile_project(graph, project_dir)
    assert err.value.node_id == graph.nodes_of_kind("layer")[0].id
    assert "backbone: weights: file not found" in str(err.value)
    assert "nope.pth" in str(err.value)


def test_weights_of_another_architecture_fail_the_run_at_the_backbone(project_dir):
    graph = transfer_graph(arch="resnet34")
    project = compile_project(graph, project_dir)
    events = Trainer(project, TrainOptions(max_steps=1, device="cpu")).run()
    assert isinstance(events[-1], RunFailed)
    assert "load_state_dict" in events[-1].message or "state_dict" in events[-1].message
    backbone = next(n for n in graph.nodes() if n.label == "backbone")
    assert events[-1].node_id == backbone.id


def test_empty_weights_means_random_weights_with_a_note(project_dir):
    graph = transfer_graph(weights="")
    result = infer_shapes(graph, project_dir)
    notes = [p for p in result.problems if p.severity == "warning"]
    assert result.ok and len(notes) == 1 and "random weights" in notes[0].message


# ---------------------------------------------------------------------------- freezing
def test_frozen_backbone_trains_only_the_head(project_dir):
    project = compile_project(transfer_graph(), project_dir)
    model = project.model.new()
    optimizer = project.fn("build_optimizer")(model)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert in_optimizer == {id(p) for p in model.head.parameters()}
    assert not any(p.requires_grad for p in model.backbone.parameters())

    trained = train(project)
    before = torch.load(project_dir / "weights" / "r18.pth", weights_only=True)
    for key, value in trained.backbone.state_dict().items():  # params and BN statistics
        assert torch.equal(value, before[key]), key
    fresh = project.model.new()
    assert not torch.equal(trained.head.weight, fresh.head.weight)

    shapes = project.shapes
    backbone = next(n.id for n in project.graph.nodes() if n.label == "backbone")
    assert shapes.param_counts[backbone] == 11_176_512  # ResNet-18 without fc
    assert shapes.trainable_counts[backbone] == 0
    assert shapes.shapes[(backbone, "out")] == ("B", 512)


def test_freeze_up_to_a_stage(project_dir):
    project = compile_project(transfer_graph(freeze="layer2"), project_dir)
    model = project.model.new()
    frozen = {n.split(".")[0] for n, p in model.backbone.named_parameters() if not p.requires_grad}
    trainable = {n.split(".")[0] for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert frozen == {"conv1", "bn1", "layer1", "layer2"}
    assert trainable == {"layer3", "layer4"}
    model.train()
    assert not model.backbone.bn1.training and not model.backbone.layer2[1].bn2.training
    assert model.backbone.layer3[0].bn1.training and model.head.training
    model.eval()
    assert not model.backbone.layer3[0].bn1.training

    trained = train(project)
    before = torch.load(project_dir / "weights" / "r18.pth", weights_only=True)
    after = trained.backbone.state_dict()
    for key in before:
        if key.startswith(("conv1.", "bn1.", "layer1.", "layer2.")):
            assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after["layer4.1.conv2.weight"], before["layer4.1.conv2.weight"])
    backbone = next(n.id for n in project.graph.nodes() if n.label == "backbone")
    counts = project.shapes
    frozen_count = sum(p.numel() for p in model.backbone.parameters() if not p.requires_grad)
    assert counts.param_counts[backbone] - counts.trainable_counts[backbone] == frozen_count


def test_unknown_stage_is_refused_with_the_choices(project_dir):
    graph = transfer_graph(freeze="layer9")
    with pytest.raises(CompileError) as err:
        compile_project(graph, project_dir)
    assert "freeze 'layer9' is not a stage of resnet18" in str(err.value)
    assert "stem, layer1, layer2, layer3, layer4" in str(err.value)


def test_head_kept_gives_logits_and_a_vgg_freezes_by_blocks(project_dir):
    graph = transfer_graph(weights="", arch="vgg11", drop_head=False, freeze="block3")
    result = infer_shapes(graph, project_dir)
    backbone = next(n.id for n in graph.nodes() if n.label == "backbone")
    assert result.shapes[(backbone, "out")] == ("B", 1000)
    source = compile_project(graph, project_dir).model.source.source
    assert "model.features[0:11].requires_grad_(False)  # frozen: not trained" in source


# ---------------------------------------------------------------------------- hub cache
def test_hub_cache_weights_are_found_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert hub_weights("resnet18") == []
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    for name in (
        "resnet18-f37072fd.pth",
        "resnet50-0676ba61.pth",
        "mine.pth",
        "resnet18-f37072fd.pth.partial",
    ):
        (folder / name).write_bytes(b"x")
    assert hub_weights("resnet18") == [folder / "resnet18-f37072fd.pth"]
    assert hub_weights("resnet50") == [folder / "resnet50-0676ba61.pth"]
    assert hub_weights("vgg16") == []


# ---------------------------------------------------------------------------- example, export
def test_example_trains_only_its_head(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_DATA_DIR", str(tmp_path / "cache"))
    graph = load(EXAMPLE)
    graph.set_setting("device", "cpu")
    kinds = sorted(n.type_id for n in graph.nodes())
    assert kinds == ["data.Shapes", "loss.CrossEntropy", "nn.Linear", "optim.Adam", "tv.Backbone"]
    project = compile_project(graph, EXAMPLE.parent)
    torch.manual_seed(graph.settings["seed"])
    before = state(project.model.new().backbone)
    trained = train(project, steps=2)
    for key, value in trained.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_exported_transfer_project_runs_with_torch_and_torchvision_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_DATA_DIR", str(tmp_path / "cache"))
    graph = load(EXAMPLE)
    graph.set_setting("epochs", 1)
    out = tmp_path / "exported"
    written = export_code(compile_project(graph, EXAMPLE.parent), out)
    assert out / "data" / "shapes" in written
    assert len(list((out / "data" / "shapes").glob("*/*.png"))) == 90
    for file in ("model.py", "train.py"):
        tree = ast.parse((out / file).read_text())
        roots = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        roots |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module != "model"
        }
        allowed = {"argparse", "hashlib", "json", "os", "pathlib", "sys", "warnings"}
        allowed |= {"torch", "torchvision"}
        assert roots <= allowed, roots
    for args in (
        ["check", "--isolated", "--line-length", "100", "--select", "E,F,W,I,B,UP,SIM", "."],
        ["format", "--isolated", "--line-length", "100", "--diff", "."],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=out, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [sys.executable, "train.py", "--device", "cpu"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert '"epoch": 1' in done.stdout


def test_exported_model_with_weights_is_ruff_clean(project_dir, tmp_path):
    export_code(compile_project(transfer_graph(freeze="layer3"), project_dir), tmp_path / "o")
    for args in (
        ["check", "--isolated", "--line-length", "100", "--select", "E,F,W,I,B,UP,SIM", "model.py"],
        ["format", "--isolated", "--line-length", "100", "--diff", "model.py"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args],
            cwd=tmp_path / "o",
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_exported_folder_carries_the_weights_and_works_when_moved(project_dir, tmp_path):
    """The weights file is copied into the exported folder and model.py names it relative to
    itself: no path of this machine in the code, and the folder works from anywhere."""
    project = compile_project(transfer_graph(), project_dir)
    out = tmp_path / "o"
    written = export_code(project, out)
    assert out / "pretrained" / "r18.pth" in written
    source = (out / "model.py").read_text()
    assert str(tmp_path) not in source
    assert 'Path(__file__).parent / "pretrained/r18.pth"' in source
    moved = tmp_path / "elsewhere" / "copy"
    shutil.move(out, moved)
    os.rename(project_dir, tmp_path / "gone")  # the original weights file is no longer there
    code = (
        "import torch, model\n"
        "m = model.Net()\n"
        "saved = torch.load('pretrained/r18.pth', weights_only=True)\n"
        "assert torch.equal(m.backbone.conv1.weight, saved['conv1.weight'])\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=moved, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


def test_relative_weights_never_resolve_against_the_working_directory(
    project_dir, tmp_path, monkeypatch
):
    """Another r18.pth in the working directory is not the project's."""
    elsewhere = tmp_path / "cwd"
    (elsewhere / "weights").mkdir(parents=True)
    torch.save({"not": torch.zeros(1)}, elsewhere / "weights" / "r18.pth")
    monkeypatch.chdir(elsewhere)
    project = compile_project(transfer_graph(), project_dir)
    assert str(project_dir / "weights" / "r18.pth") in project.model.source.source
    project.model.new()  # the project's file loads; the one in the working directory would not


# ---------------------------------------------------------------- GoogLeNet, Inception, RegNet
@pytest.mark.parametrize(
    ("arch", "aux"), [("googlenet", ("aux1", "aux2")), ("inception_v3", ("AuxLogits",))]
)
def test_inception_weights_load_with_their_aux_heads_and_input_transform(tmp_path, arch, aux):
    """A file saved as torchvision saves its pretrained weights (auxiliary heads included,
    inputs rescaled by transform_input) loads; the auxiliary heads are dropped after loading,
    and the network computes what torchvision's pretrained build computes (eval mode)."""
    build = getattr(torchvision.models, arch)
    torch.manual_seed(0)
    original = build(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    weights = tmp_path / f"{arch}.pth"
    torch.save(original.state_dict(), weights)
    assert any(k.startswith(aux[0]) for k in original.state_dict())

    g = transfer_graph(weights=str(weights), arch=arch, freeze="stem")
    g.set_param(next(n.id for n in g.nodes() if n.label == "pets"), "image_size", [80, 80])
    write_image_folder(tmp_path / "pets", per_class=4)
    project = compile_project(g, tmp_path)
    source = project.model.source.source
    assert "transform_input=True" in source and "model.aux_logits = False" in source
    model = project.model.new().eval()
    backbone = model.backbone
    assert all(getattr(backbone, name) is None for name in aux) and not backbone.aux_logits
    assert backbone.transform_input
    original.aux_logits = False
    for name in aux:
        setattr(original, name, None)
    original.fc = nn.Identity()
    original.eval()
    x = torch.randn(2, 3, 80, 80)
    with torch.no_grad():
        assert torch.equal(backbone(x), original(x))
    # the training step gets one tensor (no auxiliary outputs) and trains only the head
    stem = {k: v.clone() for k, v in backbone.state_dict().items() if k.startswith("conv1")}
    trained = train(project, steps=2)
    for key, value in trained.backbone.state_dict().items():
        if key in stem:
            assert torch.equal(value, stem[key]), key


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3", "regnet_y_400mf"])
def test_new_backbones_without_weights_build_infer_and_train(tmp_path, arch):
    write_image_folder(tmp_path / "pets", per_class=4)
    g = transfer_graph(weights="", arch=arch, freeze="stem")
    g.set_param(next(n.id for n in g.nodes() if n.label == "pets"), "image_size", [80, 80])
    result = infer_shapes(g, tmp_path)
    assert result.ok, result.problems
    backbone = next(n.id for n in g.nodes() if n.label == "backbone")
    width = {"googlenet": 1024, "inception_v3": 2048, "regnet_y_400mf": 440}[arch]
    assert result.shapes[(backbone, "out")] == ("B", width)
    kwargs = {"init_weights": False} if arch != "regnet_y_400mf" else {}
    with on_meta():
        reference = getattr(torchvision.models, arch)(weights=None, **kwargs)
    assert reference.fc.in_features == width
    project = compile_project(g, tmp_path)
    source = project.model.source.source
    if arch != "regnet_y_400mf":
        assert f"models.{arch}(weights=None, aux_logits=False, init_weights=True)" in source
    model = train(project, steps=2)
    total = sum(p.numel() for p in model.backbone.parameters())
    assert result.param_counts[backbone] == total
