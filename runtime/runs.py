"""Where a project's runs live: ``<project folder>/runs/<project name>/``; for an unsaved
project a folder of its own under the user's data folder
(``$XDG_DATA_HOME/torchcanvas/runs/<unsaved name>``, e.g. ``example-digits_cnn``), so the runs
of one example never show in another's list; or, for every project, ``$TORCHCANVAS_RUNS_DIR``
when set. The window, ``torchcanvas generate`` and ``predict`` share this rule. Imports no
torch."""

from __future__ import annotations

import os
import re
from pathlib import Path

UNTITLED = "untitled"


def unsaved_runs_base() -> Path:
    """The per-user folder that holds the runs of unsaved projects, one folder each."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "torchcanvas" / "runs"


def safe_folder_name(name: str) -> str:
    """``name`` as one folder name (letters, digits, ``._-``; never empty, never ``..``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or UNTITLED
    return cleaned[:80]


def runs_root(
    project_path: Path | None, create: bool = False, unsaved_name: str = UNTITLED
) -> Path:
    """The runs folder of the project saved at ``project_path``, or of the unsaved project
    called ``unsaved_name`` (``project_path`` None). Only a run creates it (``create``);
    listing runs does not."""
    override = os.environ.get("TORCHCANVAS_RUNS_DIR")
    if override:
        root = Path(override)
    elif project_path is not None:
        root = Path(project_path).parent / "runs" / Path(project_path).stem
    else:
        root = unsaved_runs_base() / safe_folder_name(unsaved_name)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root
