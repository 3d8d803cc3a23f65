"""Using a trained text model: continue a prompt (language model) or label a text (classifier)
with a run's weights and vocabulary.

The work is done by the generated train.py functions ``generate`` and ``predict`` (the same text
the exported script carries), on the model of the run's own project snapshot, so what the app or
``torchcanvas generate`` shows is what the exported code gives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchcanvas.codegen.data import text_task
from torchcanvas.graph import GraphError, load
from torchcanvas.graph.document import Graph

if TYPE_CHECKING:  # torch loads with load_trained: finding runs stays light for the window
    from torch import nn

    from torchcanvas.runtime.compile import CompiledProject

VOCAB_FILE = "vocab.json"
WEIGHT_FILES = ("checkpoint.pt", "weights.pt")  # the newest state first: checkpoint.pt is
# rewritten after every epoch, weights.pt when a run ends


class TextModelError(Exception):
    """A run cannot be used for generation or prediction; says why in the user's terms."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


def project_text_task(graph: Graph) -> str | None:
    """ "generate" when the project's data source is a text corpus, "classify" for labelled
    text, else None."""
    sources = graph.nodes_of_kind("data")
    return text_task(sources[0]) if len(sources) == 1 else None


def runs_root(project_file: Path) -> Path:
    """Where the app keeps the runs of ``project_file`` (as the window does)."""
    override = os.environ.get("TORCHCANVAS_RUNS_DIR")
    if override:
        return Path(override)
    return Path(project_file).parent / "runs" / Path(project_file).stem


def has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def latest_run(root: Path) -> Path | None:
    """The run folder under ``root`` whose weights were saved last (None when there is none)."""
    if not root.is_dir():
        return None
    runs = [f for f in root.iterdir() if f.is_dir() and has_weights(f)]

    def saved(folder: Path) -> float:
        return max((folder / n).stat().st_mtime for n in WEIGHT_FILES if (folder / n).is_file())

    return max(runs, key=saved, default=None)


@dataclass
class TrainedText:
    """A run's text model, ready to generate or predict."""

    project: CompiledProject
    model: nn.Module
    vocab: Any  # the generated Vocab
    task: str  # "generate" or "classify"
    run_dir: Path
    epochs: int | None  # epochs trained, when the checkpoint says

    def generate(
        self,
        prompt: str,
        length: int = 200,
        temperature: float = 0.8,
        top_k: int = 0,
        seed: int | None = None,
    ) -> str:
        """``length`` new tokens after ``prompt`` (the prompt itself is not repeated)."""
        if self.task != "generate":
            raise TextModelError("this project classifies text; it does not generate it")
        if length < 1:
            raise TextModelError("length must be at least 1")
        if not temperature > 0:
            raise TextModelError("temperature must be above 0")
        if top_k < 0:
            raise TextModelError("top-k must be 0 (all tokens) or more")
        try:
            return self.project.fn("generate")(
                self.model, self.vocab, prompt, length, temperature, top_k, seed
            )
        except ValueError as exc:
            raise TextModelError(str(exc)) from None

    def predict(self, text: str) -> tuple[str, float]:
        """The label the model gives ``text`` and its probability."""
        if self.task != "classify":
            raise TextModelError("this project generates text; it does not classify it")
        if not text.strip():
            raise TextModelError("type a text to classify")
        return self.project.fn("predict")(self.model, self.vocab, text)


def load_trained(
    run_dir: Path, graph: Graph | None = None, project_dir: Path | None = None, device: str = "cpu"
) -> TrainedText:
    """The text model of ``run_dir``: its project snapshot (project.json; else ``graph``), its
    latest weights and its vocab.json."""
    import torch

    from torchcanvas.runtime.compile import CompileError, compile_project

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TextModelError(f"{run_dir}: no such run folder")
    snapshot = run_dir / "project.json"
    if snapshot.is_file():
        try:
            graph = load(snapshot)
        except GraphError as exc:
            raise TextModelError(f"{snapshot}: {exc}") from None
    if graph is None:
        raise TextModelError(f"{run_dir}: no project.json; name the project file too")
    task = project_text_task(graph)
    if task is None:
        raise TextModelError(
            "this project is not a text task: its data source is neither a "
            "text corpus nor labelled text"
        )
    weights = next((run_dir / n for n in WEIGHT_FILES if (run_dir / n).is_file()), None)
    if weights is None or not (run_dir / VOCAB_FILE).is_file():
        raise TextModelError(f"{run_dir.name}: no trained weights yet; train at least one epoch")
    try:
        project = compile_project(graph, project_dir)
    except CompileError as exc:
        raise TextModelError(str(exc), exc.node_id) from None
    state = torch.load(weights, map_location="cpu", weights_only=True)
    epochs = state.get("epoch") if "model" in state else None
    model = project.model.new()
    try:
        model.load_state_dict(state.get("model", state))
    except RuntimeError as exc:
        raise TextModelError(f"{weights}: the weights do not fit the run's model ({exc})") from None
    model.to(device).eval()
    vocab = project.fn("Vocab").load(run_dir / VOCAB_FILE)
    return TrainedText(project, model, vocab, task, run_dir, epochs)
