"""Data seen through the graph (runtime.preview): per-node statistics of one real batch, and
what data nodes yield after their transforms and augmentation."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.transforms import v2 as transforms

from torchcanvas.graph import load
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir, materialize
from torchcanvas.runtime.preview import (
    BINS,
    DEAD_FRACTION,
    PreviewError,
    data_samples,
    preview_batch,
)

EXAMPLES = assets_dir() / "examples"


def example(name: str, **settings):
    graph = load(EXAMPLES / f"{name}.json")
    for key, value in {"device": "cpu", **settings}.items():
        graph.set_setting(key, value)
    return graph


def by_label(graph, label: str) -> str:
    return next(n.id for n in graph.nodes() if n.label == label)


def check(stats, t: torch.Tensor) -> None:
    t = t.detach().float()
    assert stats.shape == tuple(t.shape)
    assert stats.mean == pytest.approx(float(t.mean()), rel=1e-5, abs=1e-7)
    assert stats.std == pytest.approx(float(t.std(correction=0)), rel=1e-5)
    assert stats.min == float(t.min()) and stats.max == float(t.max())
    assert stats.zeros == pytest.approx(float((t == 0).float().mean()))
    hist = torch.histc(t, bins=BINS, min=float(t.min()), max=float(t.max()))
    assert stats.hist == [int(c) for c in hist]
    assert sum(stats.hist) == t.numel()


def test_digits_batch_statistics_match_a_hand_run_forward():
    graph = example("digits_cnn", batch_size=24)
    project = compile_project(graph)
    before = torch.get_rng_state()
    result = preview_batch(project)
    assert torch.equal(torch.get_rng_state(), before)
    assert result.batch_size == 24 and result.mode == "train"

    # by hand: the same seed, the same first batch of epoch 0, each layer called in turn
    torch.manual_seed(graph.settings["seed"])
    model = project.model.new()
    train_set, _, _ = project.fn("make_datasets")(materialize(project.plan.data))
    x, y = next(iter(project.fn("make_loader")(train_set, train=True, epoch=0)))
    expected = {"digits": x}
    with torch.no_grad():
        h = x
        for label in ("conv1", "relu1", "conv2", "relu2", "pool", "flatten", "classifier"):
            h = getattr(model, label)(h)
            expected[label] = h
        loss = torch.nn.functional.cross_entropy(h, y)
    assert list(result.nodes) == [by_label(graph, k) for k in expected]
    for label, tensor in expected.items():
        check(result.nodes[by_label(graph, label)], tensor)
    assert result.loss == pytest.approx(float(loss), rel=1e-6)
    conv1 = result.nodes[by_label(graph, "conv1")]
    assert conv1.feature_maps.shape == (8, 8, 8)
    assert torch.allclose(torch.from_numpy(conv1.feature_maps), expected["conv1"][0, :8])
    relu1 = result.nodes[by_label(graph, "relu1")]
    dead = (expected["relu1"] == 0).all(0).all(-1).all(-1).float().mean()
    assert relu1.dead == pytest.approx(float(dead))
    assert conv1.dead is None  # only the ReLU family is judged dead or alive
    assert not result.flagged("dead") and not result.flagged("exploding")


def iris_weights(project, scale_hidden: float = 1.0, dead_units: int = 0):
    torch.manual_seed(0)
    state = project.model.new().state_dict()
    state["hidden.weight"] = state["hidden.weight"] * scale_hidden
    if dead_units:  # these units never fire: zero weights and a negative bias
        state["hidden.weight"][:dead_units] = 0.0
        state["hidden.bias"][:dead_units] = -1.0
    return state


def test_dead_relus_are_flagged():
    graph = example("iris_mlp")
    project = compile_project(graph)
    relu = by_label(graph, "relu")
    units = 16
    dead_units = round(units * DEAD_FRACTION)
    below = preview_batch(project, state_dict=iris_weights(project, dead_units=dead_units - 1))
    assert "dead" not in below.nodes[relu].flags
    assert below.nodes[relu].dead >= (dead_units - 1) / units
    above = preview_batch(project, state_dict=iris_weights(project, dead_units=dead_units))
    assert "dead" in above.nodes[relu].flags and above.flagged("dead") == [relu]
    assert above.nodes[relu].dead >= dead_units / units


def test_exploding_activations_are_flagged():
    graph = example("iris_mlp")
    project = compile_project(graph)
    hidden = by_label(graph, "hidden")
    calm = preview_batch(project, state_dict=iris_weights(project))
    assert calm.flagged("exploding") == []
    wild = preview_batch(project, state_dict=iris_weights(project, scale_hidden=1e5))
    assert hidden in wild.flagged("exploding")
    assert by_label(graph, "iris") not in wild.flagged("exploding")  # the data is the data
    broken = preview_batch(project, state_dict=iris_weights(project, scale_hidden=float("nan")))
    assert "nonfinite" in broken.nodes[hidden].flags and broken.nodes[hidden].nonfinite == 16 * 16


def test_in_place_activations_are_measured_before_they_change_anything():
    graph = example("iris_mlp")
    graph.set_param(by_label(graph, "relu"), "inplace", True)
    result = preview_batch(compile_project(graph))
    hidden = result.nodes[by_label(graph, "hidden")]
    assert hidden.min < 0  # read before the in-place ReLU overwrote it
    assert result.nodes[by_label(graph, "relu")].min == 0


def test_digits_preview_shows_the_augmented_samples():
    graph = example("digits_cnn")
    node = graph.node(by_label(graph, "digits"))
    graph.set_param(node.id, "rotation_degrees", 30.0)
    node = graph.node(node.id)
    samples = data_samples(node, graph.settings, n=6)
    assert samples.kind == "image" and len(samples.inputs) == 6

    # by hand: the training rows in split order, then the rotation, drawn from the same seed
    data = torch.load(materialize(node) / "digits.pt", weights_only=True)
    seed = graph.settings["seed"]
    order = torch.randperm(len(data["x"]), generator=torch.Generator().manual_seed(seed))
    train_idx = order[round(len(order) * graph.settings["val_split"]) :]
    plain = data["x"].reshape(-1, 1, 8, 8)[train_idx[:6]] / 16.0
    torch.manual_seed(seed)
    rotate = transforms.RandomRotation(30.0)
    rotated = [rotate(img) for img in plain]
    for shown, expected in zip(samples.inputs, rotated, strict=True):
        assert torch.equal(torch.from_numpy(shown), expected)
    assert any(not torch.equal(r, p) for r, p in zip(rotated, plain, strict=True))
    names = [data["classes"][int(c)] for c in data["y"][train_idx[:6]]]
    assert samples.labels == names
    # the validation split is never augmented
    val = data_samples(node, graph.settings, n=2, split="val")
    val_idx = order[: round(len(order) * graph.settings["val_split"])]
    expected_val = data["x"].reshape(-1, 1, 8, 8)[val_idx[:2]] / 16.0
    assert all(
        torch.equal(torch.from_numpy(a), b) for a, b in zip(val.inputs, expected_val, strict=True)
    )


def test_tables_and_text_samples():
    graph = example("iris_mlp")
    iris = data_samples(graph.node(by_label(graph, "iris")), graph.settings, n=3)
    assert iris.kind == "table" and iris.feature_names[0] == "sepal length (cm)"
    assert iris.inputs[0].shape == (4,) and set(iris.labels) <= {
        "setosa",
        "versicolor",
        "virginica",
    }
    graph = example("sentiment_cnn")
    reviews = data_samples(graph.node(by_label(graph, "reviews")), graph.settings, n=3)
    assert reviews.kind == "text" and len(reviews.tokens[0]) == len(reviews.inputs[0])
    assert reviews.texts[0] and "<pad>" not in reviews.texts[0]
    assert reviews.texts[0].split() == [t for t in reviews.tokens[0] if t != "<pad>"]
    assert all(label in ("negative", "positive") for label in reviews.labels)


def test_errors_name_the_field():
    project = compile_project(example("iris_mlp"))
    with pytest.raises(PreviewError, match="batch size"):
        preview_batch(project, batch_size=0)
    graph = example("iris_mlp")
    with pytest.raises(PreviewError, match="split"):
        data_samples(graph.node(by_label(graph, "iris")), graph.settings, split="test")


def test_cli_preview(capsys):
    assert cli_main(["preview", str(EXAMPLES / "iris_mlp.json"), "--batch-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "hidden" in out and "5x16" in out and "loss on this batch" in out
    assert cli_main(["preview", str(EXAMPLES / "digits_cnn.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["batch_size"] == 32
    assert report["nodes"]["n2"]["feature_maps"] == [8, 8, 8]


def test_an_absent_device_is_refused_by_name():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(PreviewError, match=r"device: .*CUDA is not available"):
        preview_batch(compile_project(example("iris_mlp")), device="cuda")
