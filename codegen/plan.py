"""What a project trains: its data source, losses, optimizer, scheduler and clipping.

``training_plan`` checks the wiring and raises ``CodegenError`` naming the node to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from torchcanvas.codegen.emit import CodegenError
from torchcanvas.graph.document import Graph, Node

Value = tuple[str, str]


@dataclass(frozen=True)
class LossTerm:
    node: Node
    input: Value  # what the prediction port (the first) is wired to
    target: Value  # what the target port ("target", else the second) is wired to
    scale: float
    args: tuple[Value, ...] = ()  # every input port's value, in the loss's argument order

    @property
    def call_args(self) -> tuple[Value, ...]:
        return self.args or (self.input, self.target)


@dataclass(frozen=True)
class TrainPlan:
    data: Node
    losses: tuple[LossTerm, ...]
    optimizer: Node
    scheduler: Node | None
    clips: tuple[Node, ...]

    @property
    def optimises_image(self) -> bool:
        """Style transfer: the trainable parameter is an image, the data one pair of pictures."""
        return self.data.spec.extra.get("source") == "style_images"

    @property
    def task(self) -> str:
        """classification, binary, regression or other: what the first loss measures."""
        return self.losses[0].node.spec.extra["task"]


def _single(graph: Graph, kind: str, what: str, hint: str) -> Node:
    nodes = graph.nodes_of_kind(kind)
    if not nodes:
        raise CodegenError(f"no {what}: {hint}")
    if len(nodes) > 1:
        raise CodegenError(
            f"{nodes[1].label}: a project has one {what}; remove the extra one", nodes[1].id
        )
    return nodes[0]


def training_plan(graph: Graph) -> TrainPlan:
    data = _single(graph, "data", "data source", "drag one from the Data group of the palette")
    loss_nodes = graph.nodes_of_kind("loss")
    if not loss_nodes:
        raise CodegenError("no loss: add a loss and wire the model's output to its input")
    optimizer = _single(graph, "optimizer", "optimizer", "add one and wire the loss into it")
    terms = []
    for node in loss_nodes:
        ports = [p.name for p in node.spec.inputs]
        ends = []
        for port in ports:
            e = graph.input_edge(node.id, port)
            if e is None:
                raise CodegenError(f"{node.label}: input {port!r} is not connected", node.id)
            ends.append((e.src, e.src_port))
        if not any(e.dst == optimizer.id for e in graph.out_edges(node.id)):
            raise CodegenError(f"{node.label}: wire this loss into {optimizer.label}", node.id)
        target = ends[ports.index("target")] if "target" in ports else ends[1]
        terms.append(
            LossTerm(
                node,
                ends[0],
                target,
                node.params["scale"],
                tuple(ends) if ports != ["input", "target"] else (),
            )
        )
    task = terms[0].node.spec.extra["task"]
    if data.params.get("weighted_sampling") and task not in ("classification", "binary"):
        raise CodegenError(
            f"{data.label}: weighted_sampling balances classes, but "
            f"{terms[0].node.label} is a {task} loss; turn it off",
            data.id,
        )
    schedulers = graph.nodes_of_kind("scheduler")
    if len(schedulers) > 1:
        raise CodegenError(f"{schedulers[1].label}: one scheduler per optimizer", schedulers[1].id)
    for node in schedulers + graph.nodes_of_kind("clip"):
        if graph.input_edge(node.id, "optimizer") is None:
            raise CodegenError(f"{node.label}: wire the optimizer into it", node.id)
    plan = TrainPlan(
        data,
        tuple(terms),
        optimizer,
        schedulers[0] if schedulers else None,
        tuple(graph.nodes_of_kind("clip")),
    )
    if plan.optimises_image:
        from torchcanvas.codegen.style import check_style_plan

        check_style_plan(graph, plan)
    return plan
