"""Explanations of trained runs with Captum (runtime.explain) and ``torchcanvas explain``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from torchcanvas.graph import load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.explain import (
    ExplainError,
    explain,
    heat_colors,
    load_run,
    write_explanations,
)

EXAMPLES = assets_dir() / "examples"

pytestmark = pytest.mark.slow


def trained(tmp_path_factory, name: str, epochs: int, **settings) -> Path:
    """A run folder made by ``torchcanvas train --out``."""
    folder = tmp_path_factory.mktemp(name)
    graph = load(EXAMPLES / f"{name}.json")
    for key, value in {"device": "cpu", **settings}.items():
        graph.set_setting(key, value)
    project = folder / f"{name}.json"
    save(graph, project)
    run = folder / "run"
    assert cli_main(["train", str(project), "--epochs", str(epochs), "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory, "digits_cnn", 3, batch_size=128)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory, "iris_mlp", 5)


def test_train_out_keeps_the_project_it_trained(digits_run):
    assert load(digits_run / "project.json").settings["batch_size"] == 128
    run = load_run(digits_run)
    weights = torch.load(digits_run / "weights.pt", weights_only=True)
    assert all(torch.equal(run.model.state_dict()[k], v) for k, v in weights.items())
    assert not run.model.training


def test_integrated_gradients_are_complete_on_the_digits_cnn(digits_run):
    run = load_run(digits_run)
    result = explain(run, samples=6, method="ig", ig_steps=64)
    assert result.kind == "image" and result.raw.shape == (6, 1, 8, 8)
    x = torch.from_numpy(result.inputs)
    with torch.no_grad():
        out = run.model(x)
        base = run.model(torch.zeros_like(x))
    rows = torch.arange(6)
    targets = torch.tensor(result.targets)
    assert torch.equal(targets, out.argmax(1))  # the predicted class is explained
    gap = (out[rows, targets] - base[rows, targets]).numpy()
    total = result.raw.reshape(6, -1).sum(1)
    # completeness: the attributions add up to output minus baseline output, within 1 %
    assert np.all(np.abs(total - gap) <= 0.01 * np.abs(gap)), (total, gap)
    assert np.allclose(result.deltas, total - gap, atol=1e-4)
    # the map shown is the magnitude summed over channels
    assert np.allclose(result.attributions, np.abs(result.raw).sum(1))


def test_saliency_is_the_absolute_input_gradient(digits_run):
    run = load_run(digits_run)
    result = explain(run, samples=3, method="saliency")
    x = torch.from_numpy(result.inputs).requires_grad_(True)
    out = run.model(x)
    out[torch.arange(3), torch.tensor(result.targets)].sum().backward()
    assert np.allclose(result.attributions, x.grad.abs().sum(1).numpy(), atol=1e-6)


def test_gradcam_map_has_the_layers_size_upsampled(digits_run):
    run = load_run(digits_run)
    graph = run.graph
    pool = next(n for n in graph.nodes() if n.label == "pool")
    result = explain(run, samples=4, method="gradcam", layer="pool")
    assert result.layer == pool.id
    layer_hw = tuple(run.project.shapes.shapes[(pool.id, "out")][-2:])
    assert layer_hw == (4, 4)
    assert result.layer_maps.shape == (4, *layer_hw)
    assert result.attributions.shape == (4, 8, 8)
    up = torch.nn.functional.interpolate(
        torch.from_numpy(result.layer_maps)[:, None], (8, 8), mode="bilinear"
    )[:, 0]
    assert np.allclose(result.attributions, up.numpy(), atol=1e-6)
    assert (result.layer_maps >= 0).all() and result.layer_maps.max() > 0
    # by default: the last convolution's activation (rectified maps), at the conv's own size
    default = explain(run, samples=2, method="gradcam")
    relu2 = next(n for n in graph.nodes() if n.label == "relu2")
    assert default.layer == relu2.id and default.layer_maps.shape == (2, 8, 8)
    with pytest.raises(ExplainError, match="layer: no node"):
        explain(run, samples=1, method="gradcam", layer="nothing")
    flatten = next(n for n in graph.nodes() if n.label == "flatten")
    with pytest.raises(ExplainError, match="image-shaped"):
        explain(run, samples=1, method="gradcam", layer=flatten.id)


def test_misclassified_samples_only(digits_run):
    run = load_run(digits_run)
    result = explain(run, samples=3, method="saliency", misclassified=True)
    assert result.indices == sorted(result.indices)
    assert all(a != b for a, b in zip(result.labels, result.predicted, strict=True))
    everything = explain(run, samples=max(result.indices) + 1, method="saliency")
    wrong = [
        i
        for i, a, b in zip(everything.indices, everything.labels, everything.predicted, strict=True)
        if a != b
    ]
    assert wrong[:3] == result.indices  # the first ones the model gets wrong, in order


def test_cli_writes_png_overlays_and_a_summary(digits_run, tmp_path, capsys):
    out = tmp_path / "ig"
    assert cli_main(["explain", str(digits_run), "--samples", "3", "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    with Image.open(pngs[0]) as image:
        assert image.mode == "RGB" and image.size == (3 * 128 + 8, 128)
        pixels = np.asarray(image)
    heat = pixels[:, 132:260]
    assert heat.std() > 10  # a real map, not a flat picture
    with open(out / "summary.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [p.name for p in pngs]
    assert all(r["method"] == "ig" and r["delta"] for r in rows)
    arrays = np.load(out / "attributions.npz")
    assert arrays["attributions"].shape == (3, 8, 8)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and printed[0].startswith("val[0]")
    gradcam = tmp_path / "cam"
    argv = ["explain", str(digits_run), "--method", "gradcam", "--layer", "pool"]
    assert cli_main([*argv, "--samples", "2", "--out", str(gradcam)]) == 0
    assert np.load(gradcam / "attributions.npz")["layer_maps"].shape == (2, 4, 4)


def test_tables_get_one_attribution_per_named_feature(iris_run, tmp_path):
    run = load_run(iris_run)
    result = explain(run, samples=5, method="ig")
    assert result.kind == "table" and result.attributions.shape == (5, 4)
    assert result.feature_names[0] == "sepal length (cm)"
    x = torch.from_numpy(result.inputs)
    with torch.no_grad():
        rows, t = torch.arange(5), torch.tensor(result.targets)
        gap = (run.model(x)[rows, t] - run.model(torch.zeros_like(x))[rows, t]).numpy()
    assert np.allclose(result.attributions.sum(1), gap, rtol=0.01, atol=1e-4)
    files = write_explanations(result, tmp_path)
    assert not any(f.suffix == ".png" for f in files)
    with open(tmp_path / "attributions.csv", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == ["sample", "index", "label", "predicted", *result.feature_names]
    assert len(table) == 6
    assert table[1][2] in ("setosa", "versicolor", "virginica")
    assert np.allclose([float(v) for v in table[1][4:]], result.attributions[0], rtol=1e-5)
    with pytest.raises(ExplainError, match="gradcam needs image"):
        explain(run, samples=1, method="gradcam")


def test_text_gets_one_attribution_per_token(tmp_path_factory, tmp_path):
    run = load_run(trained(tmp_path_factory, "sentiment_cnn", 1))
    result = explain(run, samples=3, method="ig")
    assert result.kind == "text" and result.attributions.shape == result.inputs.shape
    embedding = next(n for n in run.graph.nodes() if n.type_id == "nn.Embedding")
    assert result.layer == embedding.id
    assert len(result.tokens) == 3 and len(result.tokens[0]) == result.inputs.shape[1]
    # Layer IG on the embedding: attributions add up to output minus the all-padding output
    x = torch.from_numpy(result.inputs)
    with torch.no_grad():
        rows, t = torch.arange(3), torch.tensor(result.targets)
        gap = (run.model(x)[rows, t] - run.model(torch.zeros_like(x))[rows, t]).numpy()
    assert np.allclose(result.attributions.sum(1), gap, rtol=0.01, atol=1e-3)
    write_explanations(result, tmp_path)
    with open(tmp_path / "attributions.csv", encoding="utf-8") as f:
        rows_read = list(csv.DictReader(f))
    assert rows_read and all(r["token"] != "<pad>" for r in rows_read)
    words = [tok for tok in result.tokens[0] if tok != "<pad>"]
    assert [r["token"] for r in rows_read if r["sample"] == "0"] == words
    with pytest.raises(ExplainError, match="text is explained with ig"):
        explain(run, samples=1, method="saliency")


def test_what_cannot_be_explained_is_said(tmp_path, digits_run):
    with pytest.raises(ExplainError, match="no such run folder"):
        load_run(tmp_path / "missing")
    with pytest.raises(ExplainError, match=r"no project\.json"):
        load_run(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "project.json").write_text((digits_run / "project.json").read_text())
    with pytest.raises(ExplainError, match="no trained weights"):
        load_run(empty)
    with pytest.raises(ExplainError, match="method"):
        explain(load_run(digits_run), method="shap")
    assert cli_main(["explain", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1


def test_heat_colors_run_dark_to_bright():
    ramp = heat_colors(np.linspace(0, 1, 5)).astype(int)
    assert ramp[0].tolist() == [0, 0, 4] and ramp[-1].tolist() == [252, 255, 164]
    assert list(ramp.sum(1)) == sorted(ramp.sum(1))
    assert json.dumps(heat_colors(np.array([np.nan, 2.0])).tolist()) == json.dumps(
        [[0, 0, 4], [252, 255, 164]]
    )


def test_an_absent_device_is_refused_by_name(digits_run):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ExplainError, match=r"device: .*CUDA is not available"):
        load_run(digits_run, device="cuda")
