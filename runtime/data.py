"""Data on the torch side: bundled data sets made ready on disk, and what a data node yields.

Bundled sets (scikit-learn's tables, the house-price table) are written once to a cache folder as
small files that the generated ``make_datasets`` reads; export copies the same files next to
train.py. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchcanvas.assets import assets_dir
from torchcanvas.codegen.data import data_code, data_file_name, resolve_path
from torchcanvas.codegen.style import SAMPLE_FILES, resolve_image_paths, style_data_code
from torchcanvas.graph.document import Node
from torchcanvas.runtime.source import run_source


class DataError(Exception):
    """A data source cannot be read; names the data node."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


def cache_dir() -> Path:
    root = os.environ.get("TORCHCANVAS_DATA_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "torchcanvas" / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _sklearn_tensors(loader: str, task: str) -> dict[str, Any]:
    from sklearn import datasets  # bundled with scikit-learn: no download

    bunch = getattr(datasets, loader)()
    x = torch.tensor(bunch.data, dtype=torch.float32)
    if task == "classification":
        y = torch.tensor(bunch.target, dtype=torch.long)
        classes = [str(c) for c in getattr(bunch, "target_names", sorted(set(bunch.target)))]
    else:
        y = torch.tensor(bunch.target, dtype=torch.float32).reshape(-1, 1)
        classes = []
    return {"x": x, "y": y, "classes": classes}


def materialize(node: Node, folder: Path | None = None) -> Path:
    """Make sure the file a bundled source reads exists in ``folder``; returns ``folder``."""
    folder = folder or cache_dir()
    if node.spec.extra["source"] == "style_images":  # the two bundled sample pictures
        folder.mkdir(parents=True, exist_ok=True)
        for sample in SAMPLE_FILES:
            if not (folder / sample).exists():
                shutil.copyfile(assets_dir() / "data" / sample, folder / sample)
        return folder
    name = data_file_name(node)
    if name is None:
        return folder
    target = folder / name
    if target.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    extra = node.spec.extra
    if extra["source"] == "sklearn":
        _atomic_save(_sklearn_tensors(extra["loader"], extra["task"]), target)
    elif (assets_dir() / "data" / name).is_dir():  # a bundled image folder
        tmp = Path(tempfile.mkdtemp(dir=folder, suffix=".tmp"))
        shutil.copytree(assets_dir() / "data" / name, tmp, dirs_exist_ok=True)
        os.replace(tmp, target)
    else:
        shutil.copyfile(assets_dir() / "data" / name, target)
    return folder


@dataclass(frozen=True)
class DataInfo:
    """What one sample of a data source looks like, and the classes when it classifies."""

    x_shape: tuple[int, ...]
    x_dtype: torch.dtype
    y_shape: tuple[int, ...]
    y_dtype: torch.dtype
    classes: tuple[str, ...] | None
    n_train: int
    n_val: int
    vocab_size: int | None = None  # text sources: tokens in the vocabulary built from the data
    ports: tuple[str, str] = ("x", "y")  # the data node's outputs for x and y
    batched: bool = True  # False: x_shape and y_shape are whole tensors (style images)

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.classes else None

    def fact(self, name: str) -> Any:
        facts = {"num_classes": self.num_classes, "vocab_size": self.vocab_size}
        facts["target_classes"] = self.num_classes or self.vocab_size  # scores a classifier gives
        return facts.get(name)


def load_module(
    node: Node, settings: dict[str, Any], project_dir: Path | None = None
) -> dict[str, Any]:
    """Execute the node's generated data code; returns its namespace (with make_datasets)."""
    imports, code = data_code(node, resolve_path(node, project_dir))
    return run_source(
        f"import torch\nfrom pathlib import Path\n{imports}\n\n{code}",
        "data",
        {"SETTINGS": dict(settings)},
    )


def make_datasets(
    node: Node,
    settings: dict[str, Any],
    project_dir: Path | None = None,
    data_dir: Path | None = None,
):
    """(train_set, val_set, classes) for a data node, as the generated code builds them."""
    path = resolve_path(node, project_dir)
    if path is not None and not Path(path).exists():
        raise DataError(f"{node.label}: {path} does not exist (param 'path')", node.id)
    if node.spec.extra["source"] in ("csv", "imagefolder", "torchvision") and path is None:
        raise DataError(f"{node.label}: choose a file or folder (param 'path')", node.id)
    folder = materialize(node, data_dir)
    ns = load_module(node, settings, project_dir)
    try:
        return ns["make_datasets"](folder)
    except Exception as exc:  # a user's files can raise anything (pickle, PIL, torchvision)
        raise _data_error(node, exc) from exc


def _data_error(node: Node, exc: Exception) -> DataError:
    plain = isinstance(exc, OSError | ValueError | RuntimeError)
    text = exc if plain else f"{type(exc).__name__}: {exc}"
    path = node.params.get("path")
    if path and isinstance(exc, UnicodeError | EOFError | OSError | pickle.UnpicklingError):
        # the file itself cannot be read (not text, not an image, cut short): say which one
        return DataError(f"{node.label}: cannot read {path} (param 'path'): {text}", node.id)
    return DataError(f"{node.label}: {text}", node.id)


_INFO_CACHE: dict[str, DataInfo] = {}


def _stamp(path: Path) -> list[int]:
    """Changes when a file is rewritten, or when a folder or one of its sub-folders (an image
    class) gains or loses entries."""
    stat = path.stat()
    if not path.is_dir():
        return [stat.st_mtime_ns, stat.st_size]
    with os.scandir(path) as entries:
        subdirs = sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.is_dir())
    return [stat.st_mtime_ns, *(t for _, t in subdirs)]


def _info_key(node: Node, settings: dict[str, Any], project_dir: Path | None) -> str:
    paths = [resolve_path(node, project_dir)]
    if node.spec.extra["source"] == "style_images":
        paths = list(resolve_image_paths(node, project_dir).values())
    stamps = [_stamp(Path(p)) if p and Path(p).exists() else None for p in paths]
    return json.dumps(
        [node.type_id, node.params, settings["seed"], settings["val_split"], paths, stamps],
        sort_keys=True,
        default=str,
    )


def make_images(
    node: Node, project_dir: Path | None = None, data_dir: Path | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The content and style pictures of a ``data.StyleImages`` node, as the generated code
    loads them."""
    paths = resolve_image_paths(node, project_dir)
    for name, path in paths.items():
        if path is not None and not Path(path).is_file():
            raise DataError(f"{node.label}: {path} does not exist (param {name!r})", node.id)
    folder = materialize(node, data_dir)
    imports, code = style_data_code(node, paths)
    ns = run_source(f"import torch\nfrom pathlib import Path\n{imports}\n\n{code}", "data")
    try:
        return ns["make_images"](folder)
    except Exception as exc:  # a user's picture can raise anything (decoding)
        raise _data_error(node, exc) from exc


def _describe_images(node: Node, project_dir: Path | None) -> DataInfo:
    content, style = make_images(node, project_dir)
    return DataInfo(
        tuple(content.shape),
        content.dtype,
        tuple(style.shape),
        style.dtype,
        None,
        1,
        0,
        ports=("content", "style"),
        batched=False,
    )


def describe(node: Node, settings: dict[str, Any], project_dir: Path | None = None) -> DataInfo:
    """Shapes and classes of a data node's samples (cached until its params or file change)."""
    key = _info_key(node, settings, project_dir)
    if key in _INFO_CACHE:
        return _INFO_CACHE[key]
    if node.spec.extra["source"] == "style_images":
        _INFO_CACHE[key] = _describe_images(node, project_dir)
        return _INFO_CACHE[key]
    train_set, val_set, classes = make_datasets(node, settings, project_dir)
    if len(train_set) == 0:
        raise DataError(f"{node.label}: the training split is empty", node.id)
    try:  # image files are opened only now, when a sample is read
        x, y = train_set[0][:2]
    except Exception as exc:
        raise _data_error(node, exc) from exc
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    vocab = getattr(train_set, "vocab", None)
    info = DataInfo(
        tuple(x.shape),
        x.dtype,
        tuple(y.shape),
        y.dtype,
        tuple(classes) if classes else None,
        len(train_set),
        len(val_set),
        len(vocab) if vocab is not None else None,
    )
    _INFO_CACHE[key] = info
    return info
