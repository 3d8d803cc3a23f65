"""Where a project's runs live: ``<project folder>/runs/<project name>/``, a per-user folder
for unsaved projects, or ``$TORCHCANVAS_RUNS_DIR``. The window, ``torchcanvas generate`` and
``predict`` share this rule. Imports no torch."""

from __future__ import annotations

import os
from pathlib import Path


def runs_root(project_path: Path | None, create: bool = False) -> Path:
    """The runs folder of the project saved at ``project_path`` (None: unsaved). Only a run
    creates it (``create``); listing runs does not."""
    override = os.environ.get("TORCHCANVAS_RUNS_DIR")
    if override:
        root = Path(override)
    elif project_path is not None:
        root = Path(project_path).parent / "runs" / Path(project_path).stem
    else:
        root = Path.home() / ".local" / "share" / "torchcanvas" / "runs" / "untitled"
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root
