"""Tiny data files in the exact formats the data nodes read, and small projects that train on them.

Everything is written into a test's own folder: nothing is downloaded. The writers follow the
formats torchvision reads (MNIST's idx files, CIFAR-10's pickled batches) byte for byte, so a
loader that accepts these accepts a user's real files too.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from torchcanvas.graph import Graph

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


# ---------------------------------------------------------------------------- files
def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence], delimiter: str = ","
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_image_folder(
    root: Path, classes: Sequence[str] = ("dog", "cat", "bird"), per_class: int = 6, seed: int = 0
) -> Path:
    """One sub-folder of RGB PNGs per class; every image has a different size, and each class
    has a dominant colour channel."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = 9 + 3 * i + ci, 13 + 2 * i
            pixels = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
            pixels[..., ci % 3] += 120
            Image.fromarray(pixels, "RGB").save(folder / f"img{i}.png")
    return root


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file (Yann LeCun's MNIST format): magic 0x00000800 | ndim for unsigned bytes
    (0x00000C00 | ndim for big-endian int32), one big-endian uint32 per dim, then the data."""
    type_code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    with open(path, "wb") as f:
        f.write(struct.pack(">I", (type_code << 8) | array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def write_mnist(
    root: Path, name: str = "MNIST", n_train: int = 40, n_test: int = 12, seed: int = 1
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``root/<name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``; returns the arrays."""
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = ((np.arange(n) * 7 + 3) % 10).astype(np.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
        out[split] = (images, labels)
    return out


def write_cifar10(
    root: Path, per_batch: int = 6, n_test: int = 8, seed: int = 2
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` as the python
    version of CIFAR-10 stores them (pickled dicts; rows of 3072 bytes, channel-major).
    Returns the train and test arrays."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_rows, train_labels = [], []

    def batch(name: str, n: int, offset: int) -> tuple[np.ndarray, list[int]]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(offset + i) % 10 for i in range(n)]
        with open(base / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, f)
        return data, labels

    for i in range(1, 6):
        data, labels = batch(f"data_batch_{i}", per_batch, i)
        train_rows.append(data)
        train_labels += labels
    test = batch("test_batch", n_test, 0)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump(
            {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f
        )
    return {"train": (np.concatenate(train_rows), train_labels), "test": test}


def cifar10_checksums(root: Path) -> dict[str, str]:
    """MD5 of each file in ``root/cifar-10-batches-py``, by file name."""
    base = root / "cifar-10-batches-py"
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in base.iterdir()}


# ---------------------------------------------------------------------------- projects
def _train_nodes(g: Graph, data: str, last: str, classification: bool, lr: float) -> None:
    loss = g.add_node("loss.CrossEntropy" if classification else "loss.MSE", label="loss")
    g.connect(last, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    opt = g.add_node("optim.Adam" if classification else "optim.SGD", {"lr": lr}, label="optimizer")
    g.connect(loss, "loss", opt, "loss")


def table_project(
    data_type: str,
    params: dict | None = None,
    *,
    out_features: int,
    classification: bool,
    lr: float = 0.01,
    batch_size: int = 8,
) -> Graph:
    """data → Linear → CrossEntropy + Adam (classification) or MSE + SGD (regression)."""
    g = Graph({"batch_size": batch_size, "epochs": 1})
    data = g.add_node(data_type, params or {}, label="table")
    fc = g.add_node("nn.Linear", {"out_features": out_features}, label="linear")
    g.connect(data, "x", fc, "x")
    _train_nodes(g, data, fc, classification, lr)
    return g


def cnn_project(
    data_type: str, params: dict | None = None, *, classes: int, batch_size: int = 8
) -> Graph:
    """data → Conv2d → ReLU → AdaptiveAvgPool2d(1) → Flatten → Linear, CrossEntropy + Adam."""
    g = Graph({"batch_size": batch_size, "epochs": 1})
    data = g.add_node(data_type, params or {}, label="images")
    chain = [
        data,
        g.add_node("nn.Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}, label="conv"),
        g.add_node("nn.ReLU", label="relu"),
        g.add_node("nn.AdaptiveAvgPool2d", {"output_size": 1}, label="pool"),
        g.add_node("nn.Flatten", label="flatten"),
        g.add_node("nn.Linear", {"out_features": classes}, label="classifier"),
    ]
    for a, b in itertools.pairwise(chain):
        g.connect(a, "x" if a == data else "out", b, "x")
    _train_nodes(g, data, chain[-1], True, 0.01)
    return g
