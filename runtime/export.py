"""Writing a project out as standalone PyTorch code: model.py, train.py and the data they read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torchcanvas.codegen.data import data_file_name, text_task
from torchcanvas.codegen.style import SAMPLE_FILES
from torchcanvas.runtime.compile import CompiledProject
from torchcanvas.runtime.data import materialize


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export_code(project: CompiledProject, out_dir: Path) -> list[Path]:
    """Write model.py, train.py, data/ (for bundled data sets) and vocab.json (for text) into
    ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "model.py", out_dir / "train.py"]
    _write(written[0], project.model.source.source)
    _write(written[1], project.train.source)
    data = project.plan.data
    if data.spec.extra["source"] == "style_images":  # the bundled pictures it falls back to
        folder = materialize(data)
        for sample, param in zip(SAMPLE_FILES, ("content_path", "style_path"), strict=True):
            if not data.params[param]:
                target = out_dir / "data" / sample
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(folder / sample, target)
                written.append(target)
        return written
    name = data_file_name(data)
    if name is not None:
        source = materialize(project.plan.data) / name
        target = out_dir / "data" / name
        target.parent.mkdir(exist_ok=True)
        if source.is_dir():  # a bundled image folder
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        written.append(target)
    if text_task(project.plan.data) is not None:  # the vocabulary train.py builds, ready to use
        train_set = project.fn("make_datasets")(materialize(project.plan.data))[0]
        train_set.vocab.save(out_dir / "vocab.json")
        written.append(out_dir / "vocab.json")
    return written
