"""Every data source, as a user meets it: bundled sets, CSV tables, image folders and
MNIST / Fashion-MNIST / CIFAR-10 files in a local folder. Shapes, values, splits, errors that
name the node, weighted sampling, the epoch sampler, describe()'s cache, and a short real training
run per source. All files are made in the test's own folder; nothing is downloaded.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import (
    CIFAR10_CLASSES,
    cifar10_checksums,
    cnn_project,
    table_project,
    write_cifar10,
    write_csv,
    write_idx,
    write_image_folder,
    write_mnist,
)
from torch.utils.data import Subset, TensorDataset
from torchvision import datasets as tv_datasets
from torchvision.transforms import v2

from torchcanvas.graph import Graph
from torchcanvas.runtime import data as rd
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import DataError, describe, make_datasets, resolve_path
from torchcanvas.runtime.trainer import (
    RunFailed,
    RunFinished,
    RunStarted,
    StepEvent,
    Trainer,
    TrainOptions,
)

MNIST_LIKE = ("MNIST", "FashionMNIST")


@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    """An isolated bundled-data cache for every test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TORCHCANVAS_DATA_DIR", str(folder))
    return folder


def node_of(
    type_id: str, params: dict | None = None, label: str = "my data", settings: dict | None = None
):
    """A data node in a fresh graph, and that graph's settings."""
    g = Graph(settings)
    node = g.node(g.add_node(type_id, params or {}, label=label))
    return node, g.settings


def datasets_of(type_id: str, params: dict | None = None, **settings):
    node, s = node_of(type_id, params, settings=settings or None)
    return make_datasets(node, s)


def stack(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sample of a dataset, read one by one (through its transforms)."""
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys)


def transforms_of(transform) -> list:
    """A Compose, flattened to its steps."""
    if isinstance(transform, v2.Compose):
        return [t for step in transform.transforms for t in transforms_of(step)]
    return [transform]


# ============================================================================ bundled sets
def test_digits_are_1x8x8_images_in_0_1_with_10_classes():
    train, val, classes = datasets_of("data.Digits")
    assert classes == [str(i) for i in range(10)]
    assert (len(train), len(val)) == (1797 - 359, 359)
    x, y = train.tensors
    assert x.shape == (1438, 1, 8, 8) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert x.min().item() == 0.0 and x.max().item() == 1.0  # 0..16 scaled by 1/16

    raw, _, _ = datasets_of("data.Digits", {"normalize": False})
    assert raw.tensors[0].max().item() == 16.0
    torch.testing.assert_close(raw.tensors[0] / 16.0, x)


def test_digits_rotation_augments_the_training_split_only():
    train, val, _ = datasets_of("data.Digits", {"rotation_degrees": 30.0})
    plain, plain_val, _ = datasets_of("data.Digits")
    assert isinstance(val, TensorDataset)
    torch.testing.assert_close(val.tensors[0], plain_val.tensors[0])  # validation untouched
    assert len(train) == len(plain)
    torch.manual_seed(0)
    x, y = train[5]
    assert x.shape == (1, 8, 8) and int(y) == int(plain[5][1])
    draws = [train[5][0] for _ in range(6)]
    assert any(not torch.equal(d, plain[5][0]) for d in draws)  # rotated at random


@pytest.mark.parametrize(
    ("type_id", "n", "features", "n_classes"),
    [
        ("data.Iris", 150, 4, 3),
        ("data.Wine", 178, 13, 3),
        ("data.BreastCancer", 569, 30, 2),
        ("data.Diabetes", 442, 10, None),
    ],
)
def test_sklearn_tables(type_id, n, features, n_classes):
    node, settings = node_of(type_id)
    info = describe(node, settings)
    assert info.x_shape == (features,) and info.x_dtype == torch.float32
    assert info.n_train + info.n_val == n
    assert info.n_val == round(n * 0.2)
    if n_classes is None:
        assert node.spec.extra["task"] == "regression"
        assert info.classes is None
        assert (info.y_shape, info.y_dtype) == ((1,), torch.float32)
    else:
        assert node.spec.extra["task"] == "classification"
        assert info.num_classes == n_classes
        assert (info.y_shape, info.y_dtype) == ((), torch.int64)


def test_standardize_uses_training_statistics_only():
    from sklearn.datasets import load_wine

    node, settings = node_of("data.Wine")
    train, val, _ = make_datasets(node, settings)
    raw = torch.tensor(load_wine().data, dtype=torch.float32)
    split = rd.load_module(node, settings)["split_indices"]
    train_idx, val_idx = split(len(raw), settings["val_split"], settings["seed"])
    x_train, x_val = train.tensors[0], val.tensors[0]

    assert x_train.mean(0).abs().max().item() < 1e-4
    torch.testing.assert_close(x_train.std(0), torch.ones(13), atol=1e-4, rtol=0)
    mean, std = raw[train_idx].mean(0), raw[train_idx].std(0)
    torch.testing.assert_close(x_val, (raw[val_idx] - mean) / std, atol=1e-4, rtol=1e-4)
    assert x_val.mean(0).abs().max().item() > 0.05  # validation rows did not shape the stats

    plain, _, _ = datasets_of("data.Wine", {"standardize": False})
    torch.testing.assert_close(plain.tensors[0], raw[train_idx])


def test_split_depends_on_the_seed():
    a, _, _ = datasets_of("data.Iris", {"standardize": False}, seed=0)
    b, _, _ = datasets_of("data.Iris", {"standardize": False}, seed=0)
    c, _, _ = datasets_of("data.Iris", {"standardize": False}, seed=1)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert not torch.equal(a.tensors[0], c.tensors[0])


@pytest.mark.parametrize(("val_split", "n_val"), [(0.0, 0), (0.1, 180), (0.2, 359), (0.5, 898)])
def test_val_split_sizes(val_split, n_val):
    train, val, _ = datasets_of("data.Digits", val_split=val_split)
    assert (len(train), len(val)) == (1797 - n_val, n_val)


def test_linear_synthetic_is_seeded_and_follows_its_params():
    params = {"n_samples": 300, "weight": 3.0, "bias": -1.0, "noise": 0.05}
    a_train, a_val, classes = datasets_of("data.LinearSynthetic", params, seed=4)
    b_train, _, _ = datasets_of("data.LinearSynthetic", params, seed=4)
    c_train, _, _ = datasets_of("data.LinearSynthetic", params, seed=5)
    assert classes is None
    assert torch.equal(a_train.tensors[0], b_train.tensors[0])
    assert torch.equal(a_train.tensors[1], b_train.tensors[1])
    assert not torch.equal(a_train.tensors[0], c_train.tensors[0])

    x = torch.cat([a_train.tensors[0], a_val.tensors[0]])
    y = torch.cat([a_train.tensors[1], a_val.tensors[1]])
    assert x.shape == (300, 1) and y.shape == (300, 1)
    assert x.min().item() >= 0.0 and x.max().item() < 1.0
    design = torch.cat([x, torch.ones_like(x)], 1)
    slope, intercept = torch.linalg.lstsq(design, y).solution.flatten().tolist()
    assert slope == pytest.approx(3.0, abs=0.05)
    assert intercept == pytest.approx(-1.0, abs=0.05)


def test_random_regression_is_seeded():
    params = {"n_samples": 50, "in_features": 5, "out_features": 2, "noise": 0.0}
    a, _, _ = datasets_of("data.RandomRegression", params, seed=0)
    b, _, _ = datasets_of("data.RandomRegression", params, seed=0)
    c, _, _ = datasets_of("data.RandomRegression", params, seed=1)
    assert a.tensors[0].shape == (40, 5) and a.tensors[1].shape == (40, 2)
    assert torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[1], c.tensors[1])
    # noise 0: y is an exact linear map of x
    solution = torch.linalg.lstsq(a.tensors[0], a.tensors[1]).solution
    torch.testing.assert_close(a.tensors[0] @ solution, a.tensors[1], atol=1e-4, rtol=1e-4)


def test_house_prices_reads_the_bundled_csv(data_cache):
    with open(rd.assets_dir() / "data" / "house_prices.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = sorted((float(r["living_area"]), float(r["price"])) for r in rows)
    assert len(expected) == 200

    train, val, classes = datasets_of("data.HousePrices")
    assert classes is None
    assert (data_cache / "house_prices.csv").read_bytes() == (
        rd.assets_dir() / "data" / "house_prices.csv"
    ).read_bytes()
    x = torch.cat([train.tensors[0], val.tensors[0]])
    y = torch.cat([train.tensors[1], val.tensors[1]])
    assert x.shape == (200, 1) and y.shape == (200, 1)
    assert sorted(zip(x.flatten().tolist(), y.flatten().tolist(), strict=True)) == expected


# ============================================================================ CSV tables
def test_csv_regression(tmp_path):
    rows = [(i, 10 - i, 3 * i - 2 * (10 - i) + 0.5) for i in range(20)]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "y"], rows)
    train, val, classes = datasets_of(
        "data.CSV", {"path": str(path), "target_column": "y", "standardize": False}
    )
    assert classes is None
    assert train.tensors[0].shape == (16, 2) and train.tensors[1].shape == (16, 1)
    assert train.tensors[1].dtype == torch.float32
    got = sorted(
        tuple(x.tolist() + y.tolist())
        for ds in (train, val)
        for x, y in zip(*ds.tensors, strict=True)
    )
    assert got == sorted(tuple(map(float, r)) for r in rows)


def test_csv_regression_standardizes_x_and_y_with_training_rows(tmp_path):
    rows = [(i * 100.0, i * 7.0 + 3) for i in range(30)]
    path = write_csv(tmp_path / "t.csv", ["area", "price"], rows)
    train, _, _ = datasets_of("data.CSV", {"path": str(path), "target_column": "price"})
    for t in train.tensors:
        assert t.mean().abs().item() < 1e-5
        assert t.std().item() == pytest.approx(1.0, abs=1e-5)


def test_csv_classification_string_labels(tmp_path):
    names = ["virginica", "setosa", "versicolor"]
    rows = [(i, i % 4, names[i % 3]) for i in range(30)]
    path = write_csv(tmp_path / "t.csv", ["f1", "f2", "species"], rows)
    node, settings = node_of(
        "data.CSV",
        {
            "path": str(path),
            "target_column": "species",
            "task": "classification",
            "standardize": False,
        },
    )
    train, val, classes = make_datasets(node, settings)
    assert classes == sorted(names)
    assert train.tensors[1].dtype == torch.int64
    got = sorted(
        (*x.tolist(), classes[int(y)])
        for ds in (train, val)
        for x, y in zip(*ds.tensors, strict=True)
    )
    assert got == sorted((float(a), float(b), c) for a, b, c in rows)
    assert describe(node, settings).num_classes == 3


def test_csv_numeric_class_labels_sort_as_numbers(tmp_path):
    rows = [(i, [2, 10, 1][i % 3]) for i in range(12)]
    path = write_csv(tmp_path / "t.csv", ["x", "digit"], rows)
    train, _, classes = datasets_of(
        "data.CSV",
        {
            "path": str(path),
            "target_column": "digit",
            "task": "classification",
            "standardize": False,
        },
    )
    assert classes == ["1", "2", "10"]
    for x, y in zip(*train.tensors, strict=True):
        assert classes[int(y)] == str([2, 10, 1][int(x.item()) % 3])


def test_csv_feature_columns_subset_and_default(tmp_path):
    rows = [(i, 100 + i, i % 2, 1000 + i) for i in range(10)]
    path = write_csv(tmp_path / "t.csv", ["a", "target", "b", "c"], rows)
    base = {"path": str(path), "standardize": False}
    every, _, _ = datasets_of("data.CSV", base)  # empty = all but the target, in file order
    assert every.tensors[0].shape == (8, 3)
    for x, y in zip(*every.tensors, strict=True):
        i = int(x[0])
        assert x.tolist() == [i, i % 2, 1000 + i] and y.tolist() == [100 + i]
    subset, _, _ = datasets_of("data.CSV", {**base, "feature_columns": ["c", "a"]})
    assert subset.tensors[0].shape == (8, 2)
    for x in subset.tensors[0]:
        assert x[0].item() == x[1].item() + 1000  # the chosen order


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_delimiters(tmp_path, delimiter):
    rows = [(f"{i}.5", i * 2, i) for i in range(10)]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "target"], rows, delimiter=delimiter)
    node, settings = node_of(
        "data.CSV", {"path": str(path), "delimiter": delimiter, "standardize": False}
    )
    info = describe(node, settings)
    assert info.x_shape == (2,) and info.n_train + info.n_val == 10
    train, _, _ = make_datasets(node, settings)
    for x, y in zip(*train.tensors, strict=True):
        assert x.tolist() == [y.item() + 0.5, 2 * y.item()]


def test_csv_with_byte_order_mark_and_blank_lines(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("\ufefftarget,x\r\n1,2\r\n\r\n3,4\r\n5,6\r\n7,8\r\n,\r\n", encoding="utf-8")
    train, val, _ = datasets_of(
        "data.CSV", {"path": str(path), "standardize": False}, val_split=0.0
    )
    assert len(val) == 0
    assert sorted(train.tensors[0].flatten().tolist()) == [2, 4, 6, 8]


def csv_error(tmp_path, text: str | None, **params) -> DataError:
    path = tmp_path / "bad.csv"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    node, settings = node_of("data.CSV", {"path": str(path), **params}, label="sales table")
    with pytest.raises(DataError) as info:
        describe(node, settings)
    assert info.value.node_id == node.id
    assert str(info.value).startswith("sales table: ")
    return info.value


def test_csv_missing_file_names_the_param(tmp_path):
    error = csv_error(tmp_path, None)
    assert "bad.csv does not exist (param 'path')" in str(error)


def test_csv_without_a_path():
    node, settings = node_of("data.CSV", label="sales table")
    with pytest.raises(DataError, match=r"sales table: choose a file.*\(param 'path'\)") as info:
        describe(node, settings)
    assert info.value.node_id == node.id


def test_csv_missing_target_column_lists_the_columns(tmp_path):
    error = csv_error(tmp_path, "area,rooms,price\n1,2,3\n4,5,6\n", target_column="cost")
    assert "no column 'cost' (columns: area, rooms, price)" in str(error)


def test_csv_missing_feature_column(tmp_path):
    error = csv_error(
        tmp_path, "area,price\n1,2\n", target_column="price", feature_columns=["area", "rooms"]
    )
    assert "no column 'rooms' (columns: area, price)" in str(error)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a,b,target\n1,2,3\n4,five,6\n", "line 3: column 'b' is 'five', not a number"),
        ("a,b,target\n1,2,3\n\n\n4,x,6\n", "line 5: column 'b' is 'x'"),  # physical line number
        ("a,b,target\n1,2,3\n4,,6\n", "line 3: column 'b' is empty"),
        ("a,b,target\n1,2,3\n4\n", "line 3: column 'b' is empty"),
        ("a,b,target\n1,2,3\n4,5\n", "line 3: column 'target' is empty"),
        ("a,b,target\n1,2,3\n4,5,high\n", "line 3: column 'target' is 'high', not a number"),
        ("a,b,target\n1,nan,3\n", "line 2: column 'b' is 'nan', not a number"),
    ],
)
def test_csv_bad_values_name_file_line_and_column(tmp_path, text, where):
    error = csv_error(tmp_path, text)
    assert f"bad.csv, {where}" in str(error)


def test_csv_without_rows(tmp_path):
    assert "the file is empty" in str(csv_error(tmp_path, ""))
    assert "no data rows" in str(csv_error(tmp_path, "a,target\n\n"))


def test_csv_relative_path_starts_at_the_project_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    write_csv(project / "data" / "t.csv", ["x", "target"], [(i, 2 * i) for i in range(10)])
    node, settings = node_of("data.CSV", {"path": "data/t.csv"})
    assert resolve_path(node, project) == str(project / "data" / "t.csv")
    assert describe(node, settings, project_dir=project).n_train == 8
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(DataError, match="does not exist"):
        describe(node, settings)  # no project folder: the path is relative to nothing useful


# ============================================================================ image folders
@pytest.fixture
def image_root(tmp_path):
    return write_image_folder(tmp_path / "pets")


def test_image_folder_classes_sizes_and_labels(image_root):
    node, settings = node_of("data.ImageFolder", {"path": str(image_root), "image_size": [16, 12]})
    info = describe(node, settings)
    assert info.classes == ("bird", "cat", "dog")  # folder names, sorted
    assert (info.n_train, info.n_val) == (14, 4)
    assert info.x_shape == (3, 16, 12) and info.x_dtype == torch.float32
    assert (info.y_shape, info.y_dtype) == ((), torch.int64)

    train, val, classes = make_datasets(node, settings)
    assert isinstance(train, Subset) and isinstance(val, Subset)
    assert not set(train.indices) & set(val.indices)
    assert len(set(train.indices) | set(val.indices)) == 18
    for ds in (train, val):
        for k, i in enumerate(ds.indices):
            path, _ = ds.dataset.samples[i]
            assert classes[ds[k][1]] == Path(path).parent.name


def test_image_folder_grayscale(image_root):
    node, settings = node_of(
        "data.ImageFolder",
        {"path": str(image_root), "grayscale": True, "image_size": [10, 10], "normalize": False},
    )
    assert describe(node, settings).x_shape == (1, 10, 10)
    train, _, _ = make_datasets(node, settings)
    x, _ = stack(train)
    assert x.shape == (14, 1, 10, 10)
    assert x.min().item() >= 0.0 and x.max().item() <= 1.0


def test_image_folder_normalizes_with_training_statistics(image_root):
    base = {"path": str(image_root), "image_size": [8, 8]}
    plain_train, plain_val, _ = datasets_of("data.ImageFolder", {**base, "normalize": False})
    raw_train, _ = stack(plain_train)
    assert raw_train.min().item() >= 0.0 and raw_train.max().item() <= 1.0
    mean, std = raw_train.mean((0, 2, 3)), raw_train.std((0, 2, 3))

    train, val, _ = datasets_of("data.ImageFolder", base)
    norm = next(t for t in transforms_of(val.dataset.transform) if isinstance(t, v2.Normalize))
    torch.testing.assert_close(torch.tensor(norm.mean), mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(norm.std), std, atol=1e-5, rtol=0)
    everything = torch.cat([raw_train, stack(plain_val)[0]])
    assert (everything.mean((0, 2, 3)) - mean).abs().max() > 1e-4  # not all the images

    x, _ = stack(train)
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std((0, 2, 3)), torch.ones(3), atol=1e-4, rtol=0)


def test_image_folder_augmentation_on_the_training_split_only(image_root):
    params = {
        "path": str(image_root),
        "image_size": [12, 12],
        "random_crop_padding": 2,
        "horizontal_flip": True,
        "rotation_degrees": 10.0,
    }
    train, val, _ = datasets_of("data.ImageFolder", params)
    steps = transforms_of(train.dataset.transform)
    crop = next(t for t in steps if isinstance(t, v2.RandomCrop))
    assert list(crop.padding) == [2, 2, 2, 2] and tuple(crop.size) == (12, 12)
    assert any(isinstance(t, v2.RandomHorizontalFlip) for t in steps)
    rotation = next(t for t in steps if isinstance(t, v2.RandomRotation))
    assert list(rotation.degrees) == [-10.0, 10.0]
    random_kinds = (v2.RandomCrop, v2.RandomHorizontalFlip, v2.RandomRotation)
    assert not any(isinstance(t, random_kinds) for t in transforms_of(val.dataset.transform))

    torch.manual_seed(0)
    assert any(not torch.equal(train[0][0], train[0][0]) for _ in range(5))
    assert torch.equal(val[0][0], val[0][0])
    assert train[0][0].shape == (3, 12, 12)

    plain, _, _ = datasets_of("data.ImageFolder", {"path": str(image_root)})
    assert not any(isinstance(t, random_kinds) for t in transforms_of(plain.dataset.transform))


def test_image_folder_errors_name_the_node(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    node, settings = node_of("data.ImageFolder", {"path": str(empty)}, label="photos")
    with pytest.raises(DataError, match=r"^photos: .*class folder") as info:
        describe(node, settings)
    assert info.value.node_id == node.id

    root = write_image_folder(tmp_path / "broken", per_class=2)
    for png in root.rglob("*.png"):
        png.write_bytes(b"not a png")
    node, settings = node_of(
        "data.ImageFolder", {"path": str(root), "normalize": False}, label="photos"
    )
    with pytest.raises(DataError, match=r"^photos: .*img") as info:
        describe(node, settings)  # the first image is only opened when a sample is read
    assert info.value.node_id == node.id


# ============================================================================ MNIST / CIFAR-10
@pytest.mark.parametrize("name", MNIST_LIKE)
def test_mnist_like_files(tmp_path, name):
    arrays = write_mnist(tmp_path / "files", name)
    node, settings = node_of(f"data.{name}", {"path": str(tmp_path / "files"), "normalize": False})
    info = describe(node, settings)
    assert info.x_shape == (1, 28, 28) and info.x_dtype == torch.float32
    assert (info.n_train, info.n_val) == (40, 12)  # the test split validates
    assert info.classes == tuple(getattr(tv_datasets, name).classes)
    assert info.num_classes == 10

    train, val, _ = make_datasets(node, settings)
    for ds, split in ((train, "train"), (val, "t10k")):
        images, labels = arrays[split]
        x, y = stack(ds)
        torch.testing.assert_close(x[:, 0], torch.tensor(images, dtype=torch.float32) / 255)
        assert y.tolist() == labels.tolist()


def test_mnist_normalize_and_augment(tmp_path):
    arrays = write_mnist(tmp_path / "files")
    train, val, _ = datasets_of(
        "data.MNIST", {"path": str(tmp_path / "files"), "random_crop_padding": 4}
    )
    crop = [t for t in transforms_of(train.transform) if isinstance(t, v2.RandomCrop)]
    assert len(crop) == 1 and tuple(crop[0].size) == (28, 28) and list(crop[0].padding) == [4] * 4
    assert not any(isinstance(t, v2.RandomCrop) for t in transforms_of(val.transform))

    pixels = torch.tensor(arrays["train"][0], dtype=torch.float32) / 255  # training files only
    for ds in (train, val):
        norm = next(t for t in transforms_of(ds.transform) if isinstance(t, v2.Normalize))
        assert norm.mean == pytest.approx([pixels.mean().item()], abs=1e-5)
        assert norm.std == pytest.approx([pixels.std().item()], abs=1e-5)
    x, _ = stack(val)
    expected = (
        torch.tensor(arrays["t10k"][0], dtype=torch.float32) / 255 - pixels.mean()
    ) / pixels.std()
    torch.testing.assert_close(x[:, 0], expected, atol=1e-4, rtol=1e-4)


def check_against_own_sums(monkeypatch, root: Path) -> None:
    """torchvision checks every CIFAR-10 file against the MD5 sum of the published file, which
    tiny files cannot match. Point that check at the tiny files' own sums: the check still runs
    (one changed byte still fails it)."""
    sums = cifar10_checksums(root)
    cls = tv_datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[n, sums[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, sums[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": sums["batches.meta"]})


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    root = tmp_path / "cifar"
    arrays = write_cifar10(root)
    check_against_own_sums(monkeypatch, root)
    return root, arrays


def test_cifar10_files(cifar_root):
    root, arrays = cifar_root
    node, settings = node_of("data.CIFAR10", {"path": str(root), "normalize": False})
    info = describe(node, settings)
    assert info.x_shape == (3, 32, 32) and info.x_dtype == torch.float32
    assert (info.n_train, info.n_val) == (30, 8)
    assert info.classes == tuple(CIFAR10_CLASSES)
    train, val, _ = make_datasets(node, settings)
    for ds, split in ((train, "train"), (val, "test")):
        rows, labels = arrays[split]
        x, y = stack(ds)
        expected = torch.tensor(rows.reshape(-1, 3, 32, 32), dtype=torch.float32) / 255
        torch.testing.assert_close(x, expected)
        assert y.tolist() == labels

    normalized, _, _ = datasets_of("data.CIFAR10", {"path": str(root)})
    x, _ = stack(normalized)
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)


def test_cifar10_checksums_still_guard_the_files(cifar_root):
    root, _ = cifar_root
    with open(root / "cifar-10-batches-py" / "data_batch_3", "ab") as f:
        f.write(b"\0")
    node, settings = node_of("data.CIFAR10", {"path": str(root)}, label="cifar")
    with pytest.raises(DataError, match=r"^cifar: .*MD5 sums do not match") as info:
        describe(node, settings)
    assert info.value.node_id == node.id


def test_cifar10_files_that_are_not_the_published_ones(tmp_path):
    """Without the test's checksum patch: torchvision refuses files that differ from the
    published CIFAR-10 python version, and the error says so instead of suggesting a download."""
    write_cifar10(tmp_path / "cifar")
    node, settings = node_of("data.CIFAR10", {"path": str(tmp_path / "cifar")}, label="cifar")
    with pytest.raises(DataError) as info:
        describe(node, settings)
    message = str(info.value)
    assert message.startswith("cifar: ") and "MD5" in message
    assert "cifar-10-python.tar.gz" in message and "download=True" not in message


@pytest.mark.parametrize("type_id", ["data.MNIST", "data.FashionMNIST", "data.CIFAR10"])
def test_torchvision_missing_folder_or_files(tmp_path, type_id):
    node, settings = node_of(type_id, {"path": str(tmp_path / "nowhere")}, label="files")
    with pytest.raises(DataError, match=r"^files: .*nowhere does not exist \(param 'path'\)"):
        describe(node, settings)

    (tmp_path / "empty").mkdir()
    node, settings = node_of(type_id, {"path": str(tmp_path / "empty")}, label="files")
    with pytest.raises(DataError) as info:
        describe(node, settings)
    assert info.value.node_id == node.id
    expected = (
        "cifar-10-batches-py/data_batch_1"
        if type_id == "data.CIFAR10"
        else f"{type_id.removeprefix('data.')}/raw/train-images-idx3-ubyte"
    )
    assert f"no file {expected}" in str(info.value)
    assert "download=True" not in str(info.value)


def test_mnist_gzipped_files_ask_to_be_unpacked(tmp_path):
    write_mnist(tmp_path / "files")
    raw = tmp_path / "files" / "MNIST" / "raw"
    for f in raw.iterdir():
        f.rename(f.with_name(f.name + ".gz"))
    node, settings = node_of("data.MNIST", {"path": str(tmp_path / "files")})
    with pytest.raises(DataError, match=r"unpack the \.gz file"):
        describe(node, settings)


def test_mnist_file_of_the_wrong_type_is_a_data_error(tmp_path):
    """torchvision raises TypeError for an idx file of int32 labels: still a DataError, so shape
    inference can show it on the node instead of crashing."""
    write_mnist(tmp_path / "files")
    labels = (np.arange(40) % 10).astype(">i4")
    write_idx(tmp_path / "files" / "MNIST" / "raw" / "train-labels-idx1-ubyte", labels)
    node, settings = node_of("data.MNIST", {"path": str(tmp_path / "files")}, label="digits")
    with pytest.raises(DataError, match=r"^digits: TypeError: .*uint8") as info:
        describe(node, settings)
    assert info.value.node_id == node.id


# ============================================================================ sampling
@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """The generated train.py functions (EpochSampler, sample_weights, make_loader…)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHCANVAS_DATA_DIR", str(tmp_path_factory.mktemp("cache")))
        g = table_project("data.LinearSynthetic", out_features=1, classification=False)
        return compile_project(g).functions


def order(loop, n, **kw) -> list[int]:
    return list(loop["EpochSampler"](n, **kw))


def test_epoch_sampler_is_fixed_by_seed_and_epoch(loop):
    a = order(loop, 50, seed=3, epoch=2)
    assert a == order(loop, 50, seed=3, epoch=2)
    assert sorted(a) == list(range(50))  # a permutation
    assert a != order(loop, 50, seed=3, epoch=3)
    assert a != order(loop, 50, seed=4, epoch=2)
    assert order(loop, 7, seed=3, epoch=2, shuffle=False) == list(range(7))


def test_epoch_sampler_start_skips_exactly(loop):
    full = order(loop, 30, seed=1, epoch=1)
    for start in (0, 1, 17, 30, 31):
        sampler = loop["EpochSampler"](30, seed=1, epoch=1, start=start)
        assert list(sampler) == full[start:]
        assert len(sampler) == max(30 - start, 0)


@pytest.mark.parametrize(("n", "world"), [(12, 3), (10, 3), (5, 4), (9, 1)])
def test_epoch_sampler_shards_cover_the_padded_epoch(loop, n, world):
    full = order(loop, n, seed=2, epoch=5)
    per_rank = -(-n // world)
    padded = full + full[: per_rank * world - n]
    shards = [order(loop, n, seed=2, epoch=5, rank=r, world=world) for r in range(world)]
    assert all(len(s) == per_rank for s in shards)
    assert [
        len(loop["EpochSampler"](n, seed=2, epoch=5, rank=r, world=world)) for r in range(world)
    ] == [per_rank] * world
    # rank r takes positions r, r + world, …: disjoint, and together the whole padded epoch
    interleaved = [shards[p % world][p // world] for p in range(per_rank * world)]
    assert interleaved == padded
    assert set().union(*map(set, shards)) == set(range(n))
    if n % world == 0:
        assert sum(len(set(s)) for s in shards) == n  # no index on two ranks
    starts = [order(loop, n, seed=2, epoch=5, rank=r, world=world, start=1) for r in range(world)]
    assert starts == [s[1:] for s in shards]


@pytest.fixture
def imbalanced(tmp_path, data_cache):
    """A CSV table with 90 % 'common' and 10 % 'rare' rows, compiled with weighted sampling."""
    rows = [(i, "rare" if i % 10 == 0 else "common") for i in range(400)]
    path = write_csv(tmp_path / "imbalanced.csv", ["x", "label"], rows)

    def build(weighted: bool):
        g = table_project(
            "data.CSV",
            {
                "path": str(path),
                "target_column": "label",
                "task": "classification",
                "weighted_sampling": weighted,
            },
            out_features=2,
            classification=True,
            batch_size=40,
        )
        project = compile_project(g, tmp_path)
        fn = project.functions
        train, val, classes = fn["make_datasets"](data_cache)
        return fn, train, val, classes

    return build


def test_weighted_sampling_draws_classes_evenly(imbalanced):
    fn, train, _, classes = imbalanced(True)
    assert fn["WEIGHTED_SAMPLING"] is True
    rare = classes.index("rare")
    targets = fn["targets_of"](train)
    assert torch.equal(targets, train.tensors[1])
    assert 0.05 < (targets == rare).float().mean().item() < 0.15

    weights = fn["sample_weights"](train)
    assert weights.shape == (len(train),)
    per_class = [weights[targets == c].sum().item() for c in (0, 1)]
    assert per_class[0] == pytest.approx(per_class[1])

    drawn = torch.cat(
        [
            torch.tensor(list(fn["EpochSampler"](len(train), seed=0, epoch=e, weights=weights)))
            for e in range(10)
        ]
    )
    share = (targets[drawn] == rare).float().mean().item()
    assert 0.44 < share < 0.56

    batches = list(fn["make_loader"](train, train=True, epoch=0, weights=weights))
    ys = torch.cat([y for _, y in batches])
    assert len(ys) == len(train)
    assert 0.35 < (ys == rare).float().mean().item() < 0.65


def test_without_weights_proportions_follow_the_data(imbalanced):
    fn, train, val, classes = imbalanced(False)
    assert fn["WEIGHTED_SAMPLING"] is False
    targets = train.tensors[1]
    for epoch in range(3):
        ys = torch.cat([y for _, y in fn["make_loader"](train, train=True, epoch=epoch)])
        assert torch.equal(torch.bincount(ys, minlength=2), torch.bincount(targets, minlength=2))
    # validation is never reweighted or shuffled
    weights = fn["sample_weights"](train)
    ys = torch.cat([y for _, y in fn["make_loader"](val, train=False, weights=weights)])
    assert torch.equal(ys, val.tensors[1])


def test_targets_of_every_kind_of_dataset(tmp_path, loop):
    """The labels that weighted sampling reads match the labels the samples carry."""
    images = write_image_folder(tmp_path / "imgs", per_class=3)
    write_mnist(tmp_path / "mnist", n_train=20, n_test=5)
    cases = [
        ("data.ImageFolder", {"path": str(images), "image_size": [4, 4], "normalize": False}),
        ("data.MNIST", {"path": str(tmp_path / "mnist"), "normalize": False}),
        ("data.Digits", {"rotation_degrees": 5.0}),
    ]
    for type_id, params in cases:
        train, _, _ = datasets_of(type_id, params)
        targets = loop["targets_of"](train)
        if type_id == "data.Digits":
            train = Subset(train, range(50))
            targets = targets[:50]
        assert targets.tolist() == [int(train[i][1]) for i in range(len(train))], type_id


# ============================================================================ training runs
PROJECTS = {
    "digits": lambda: cnn_project(
        "data.Digits", {"rotation_degrees": 10.0, "weighted_sampling": True}, classes=10
    ),
    "iris": lambda: table_project("data.Iris", out_features=3, classification=True),
    "wine": lambda: table_project("data.Wine", out_features=3, classification=True),
    "breast_cancer": lambda: table_project(
        "data.BreastCancer", out_features=2, classification=True
    ),
    "diabetes": lambda: table_project("data.Diabetes", out_features=1, classification=False),
    "linear": lambda: table_project("data.LinearSynthetic", out_features=1, classification=False),
    "random_regression": lambda: table_project(
        "data.RandomRegression",
        {"in_features": 6, "out_features": 2},
        out_features=2,
        classification=False,
    ),
    "house_prices": lambda: table_project(
        "data.HousePrices", {"standardize": True}, out_features=1, classification=False
    ),
    "csv_regression": lambda: table_project(
        "data.CSV",
        {"path": "t.csv", "target_column": "y", "feature_columns": ["a", "b"]},
        out_features=1,
        classification=False,
    ),
    "csv_classification": lambda: table_project(
        "data.CSV",
        {
            "path": "t.csv",
            "target_column": "label",
            "task": "classification",
            "weighted_sampling": True,
            "feature_columns": ["a", "b"],
        },
        out_features=2,
        classification=True,
    ),
    "image_folder": lambda: cnn_project(
        "data.ImageFolder",
        {
            "path": "pets",
            "image_size": [12, 12],
            "random_crop_padding": 2,
            "horizontal_flip": True,
            "weighted_sampling": True,
        },
        classes=3,
        batch_size=4,
    ),
    "shapes": lambda: cnn_project(
        "data.Shapes", {"image_size": [12, 12], "horizontal_flip": True}, classes=3, batch_size=4
    ),
    "mnist": lambda: cnn_project("data.MNIST", {"path": "files"}, classes=10),
    "fashion_mnist": lambda: cnn_project("data.FashionMNIST", {"path": "files"}, classes=10),
    "cifar10": lambda: cnn_project(
        "data.CIFAR10", {"path": "cifar", "horizontal_flip": True}, classes=10
    ),
}


@pytest.mark.parametrize("source", PROJECTS)
def test_short_training_run(source, tmp_path, monkeypatch, torch_deterministic):
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    write_csv(
        project_dir / "t.csv",
        ["a", "b", "y", "label"],
        [(i, i % 7, 2 * i + 1, "yes" if i % 5 == 0 else "no") for i in range(40)],
    )
    write_image_folder(project_dir / "pets", per_class=4)
    write_mnist(project_dir / "files", "MNIST", n_train=24, n_test=8)
    write_mnist(project_dir / "files", "FashionMNIST", n_train=24, n_test=8)
    write_cifar10(project_dir / "cifar")
    check_against_own_sums(monkeypatch, project_dir / "cifar")

    graph = PROJECTS[source]()
    project = compile_project(graph, project_dir)
    info = project.shapes.data_info
    events = Trainer(
        project, TrainOptions(max_steps=3, device="cpu", data_dir=tmp_path / "data")
    ).run()

    failed = [e for e in events if isinstance(e, RunFailed)]
    assert not failed, failed[0].message + "\n" + failed[0].traceback
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    started = events[0]
    assert (started.n_train, started.n_val) == (info.n_train, info.n_val)
    assert started.classes == info.classes
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [s.global_step for s in steps] == [1, 2, 3]
    assert all(math.isfinite(s.loss) for s in steps)
    assert events[-1].global_step == 3


def test_a_bad_row_found_while_training_fails_the_run_at_the_data_node(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["x", "target"], [(i, i) for i in range(20)])
    g = table_project("data.CSV", {"path": str(path)}, out_features=1, classification=False)
    project = compile_project(g, tmp_path)
    path.write_text(path.read_text() + "21,twenty-one\n")  # edited after compiling
    events = Trainer(project, TrainOptions(max_steps=3, device="cpu")).run()
    assert isinstance(events[-1], RunFailed)
    assert events[-1].node_id == project.plan.data.id
    assert "t.csv, line 22: column 'target' is 'twenty-one'" in events[-1].message
    assert not any(isinstance(e, RunStarted) for e in events)


# ============================================================================ describe() cache
def test_describe_notices_an_edited_csv(tmp_path):
    path = write_csv(
        tmp_path / "t.csv", ["a", "b", "c", "target"], [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12)]
    )
    node, settings = node_of("data.CSV", {"path": str(path)})
    first = describe(node, settings)
    assert first.x_shape == (3,)
    assert describe(node, settings) is first  # cached

    stat = path.stat()
    write_csv(path, ["a", "target"], [(1, 2), (3, 4), (5, 6), (7, 8)])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    second = describe(node, settings)
    assert second.x_shape == (1,) and second.n_train + second.n_val == 4

    # saved again within the same clock tick (coarse file-system timestamps): the size differs
    stat = path.stat()
    write_csv(path, ["a", "b", "target"], [(1, 2, 3)] * 5)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert describe(node, settings).x_shape == (2,)


def test_describe_notices_images_added_to_a_class(image_root):
    node, settings = node_of("data.ImageFolder", {"path": str(image_root), "image_size": [8, 8]})
    before = describe(node, settings)
    assert before.n_train + before.n_val == 18
    cat = image_root / "cat"
    (cat / "extra.png").write_bytes((cat / "img0.png").read_bytes())
    stat = cat.stat()
    os.utime(cat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    after = describe(node, settings)
    assert after.n_train + after.n_val == 19
