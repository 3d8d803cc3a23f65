"""One validator for ``check``, ``train`` and ``export``.

``check_project`` runs every check a project must pass before anything of it is built: shape
inference (which reports the first failing node), the size limit (``max_params``: parameters,
and the values one tensor holds for a batch, so nothing too large for memory is ever
allocated), generating model.py (code-node expressions and import rules), and generating
train.py (a data source, a loss, an optimizer). ``torchcanvas check`` prints its problems;
``compile_project`` (what train and export build from) refuses the first error it finds. So a
project ``check`` passes is one ``train`` and ``export`` accept, and the other way round.

Nothing here runs a code node's code or allocates a tensor: the model is generated, not built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torchcanvas.codegen import CodegenError
from torchcanvas.codegen.model import GeneratedModel, build_ir, print_model
from torchcanvas.codegen.plan import TrainPlan
from torchcanvas.codegen.train import GeneratedTrain, generate_project_train
from torchcanvas.graph.document import Graph
from torchcanvas.runtime.cost import add_memory_estimate
from torchcanvas.runtime.shape_result import Problem, ShapeResult
from torchcanvas.runtime.shapes import ShapeInferencer
from torchcanvas.runtime.sizes import size_problems


@dataclass
class Checked:
    """What ``check_project`` found: the shapes, every problem (errors first) and, when the
    project passed, its generated model and training script."""

    graph: Graph
    shapes: ShapeResult
    problems: list[Problem] = field(default_factory=list)
    model: GeneratedModel | None = None
    plan: TrainPlan | None = None
    train: GeneratedTrain | None = None

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def first_error(self) -> Problem | None:
        return next((p for p in self.problems if p.severity == "error"), None)


def check_project(
    graph: Graph,
    project_dir: Path | None = None,
    *,
    inferencer: ShapeInferencer | None = None,
    title: str = "",
    max_params: int | None = None,
) -> Checked:
    """Every check of ``check``, ``train`` and ``export``, in the order they build: shapes,
    sizes, model.py, train.py. Later steps run only when the earlier ones found no error.
    ``max_params`` overrides the project's size limit."""
    shapes = (inferencer or ShapeInferencer()).infer(graph, project_dir)
    checked = Checked(graph, shapes, list(shapes.problems))
    if not shapes.ok:
        return checked
    sizes = size_problems(graph, shapes, max_params)
    if sizes:
        checked.problems[:0] = sizes
        return checked
    before = len(shapes.problems)
    add_memory_estimate(graph, shapes)  # a warning when training will not fit the device
    checked.problems += shapes.problems[before:]
    try:
        checked.model = print_model(build_ir(graph, shapes.resolved), title)
        checked.plan, checked.train = generate_project_train(
            graph, checked.model.ir, project_dir, title
        )
    except CodegenError as exc:
        node = exc.node_id if exc.node_id in graph else None
        checked.problems.insert(0, Problem(node, str(exc)))
    return checked
