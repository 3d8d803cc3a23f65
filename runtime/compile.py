"""Graph → a live ``nn.Module`` by executing the generated model.py, and the generated train.py
functions the trainer calls. What trains in the app is exactly what the user exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from torchcanvas.codegen import CodegenError
from torchcanvas.codegen.model import GeneratedModel, build_ir, print_model
from torchcanvas.codegen.plan import TrainPlan
from torchcanvas.codegen.train import MODEL_IMPORT, GeneratedTrain
from torchcanvas.graph.document import Graph
from torchcanvas.runtime.shapes import ShapeInferencer, ShapeResult
from torchcanvas.runtime.sizes import size_problems
from torchcanvas.runtime.source import run_source
from torchcanvas.runtime.validate import check_project


class CompileError(Exception):
    """The graph cannot become a model; ``node_id`` names the node to fix, when there is one."""

    def __init__(self, message: str, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


@dataclass
class CompiledModel:
    source: GeneratedModel
    shapes: ShapeResult
    cls: type[nn.Module]

    def new(self) -> nn.Module:
        return self.cls()


@dataclass
class CompiledProject:
    graph: Graph  # a snapshot: later edits do not change a running project
    model: CompiledModel
    plan: TrainPlan
    train: GeneratedTrain
    functions: dict[str, Any]  # the generated train.py's namespace
    project_dir: Path | None

    @property
    def shapes(self) -> ShapeResult:
        return self.model.shapes

    def fn(self, name: str):
        return self.functions[name]


def _shapes(
    graph: Graph, project_dir: Path | None, inferencer: ShapeInferencer | None
) -> ShapeResult:
    result = (inferencer or ShapeInferencer()).infer(graph, project_dir)
    error = result.first_error() or next(iter(size_problems(graph, result)), None)
    if error is not None:
        raise CompileError(error.message, error.node_id)
    return result


def compile_model(
    graph: Graph,
    project_dir: Path | None = None,
    inferencer: ShapeInferencer | None = None,
    title: str = "",
) -> CompiledModel:
    shapes = _shapes(graph, project_dir, inferencer)
    try:
        source = print_model(build_ir(graph, shapes.resolved), title)
    except CodegenError as exc:
        raise CompileError(str(exc), exc.node_id) from None
    ns = run_source(source.source, "model.py")
    return CompiledModel(source, shapes, ns[source.ir.class_name])


def compile(graph: Graph, project_dir: Path | None = None) -> nn.Module:
    """The model of ``graph`` as a fresh ``nn.Module`` (its generated model.py, executed)."""
    return compile_model(graph, project_dir).new()


def compile_project(
    graph: Graph,
    project_dir: Path | None = None,
    inferencer: ShapeInferencer | None = None,
    title: str = "",
    max_params: int | None = None,
) -> CompiledProject:
    """Everything a training run needs, from a snapshot of ``graph``. It passes the checks of
    ``torchcanvas check`` first (``runtime.validate.check_project``: the same function), and
    raises ``CompileError`` with the first problem they find. ``max_params`` overrides the
    project's size limit."""
    graph = graph.copy()
    checked = check_project(
        graph, project_dir, inferencer=inferencer, title=title, max_params=max_params
    )
    error = checked.first_error()
    if error is not None:
        raise CompileError(error.message, error.node_id)
    source, plan, train = checked.model, checked.plan, checked.train
    assert source is not None and plan is not None and train is not None
    model = CompiledModel(
        source, checked.shapes, run_source(source.source, "model.py")[source.ir.class_name]
    )
    import_line = MODEL_IMPORT.format(name=model.source.ir.class_name)
    # the exported file imports the model class; here it is handed in (same line count)
    body = train.source.replace(import_line, "\n", 1)
    ns = run_source(body, "train.py", {model.source.ir.class_name: model.cls})
    return CompiledProject(graph, model, plan, train, ns, project_dir)
