"""Undo commands. Each one changes the graph only; the scene follows the graph's events.

A command that fails on its first ``redo`` raises before anything changed (the graph validates
first), so ``Document.push`` can refuse it without touching the undo stack.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from torchcanvas.graph import CATALOGUE, Edge, Graph


class GraphCommand(QUndoCommand):
    def __init__(self, graph: Graph, text: str):
        super().__init__(text)
        self.graph = graph


class AddNode(GraphCommand):
    def __init__(
        self,
        graph: Graph,
        type_id: str,
        pos: tuple[float, float],
        params: dict[str, Any] | None = None,
        label: str | None = None,
    ):
        super().__init__(graph, f"Add {type_id}")
        self.type_id, self.pos, self.params, self.label = type_id, pos, params, label
        self.node_id: str | None = None

    def redo(self) -> None:
        self.node_id = self.graph.add_node(
            self.type_id, self.params, label=self.label, pos=self.pos, node_id=self.node_id
        )
        self.label = self.graph.node(self.node_id).label

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


class Connect(GraphCommand):
    def __init__(self, graph: Graph, src: str, src_port: str, dst: str, dst_port: str):
        super().__init__(graph, "Connect")
        self.edge = Edge(src, src_port, dst, dst_port)

    def redo(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.src_port, e.dst, e.dst_port)

    def undo(self) -> None:
        self.graph.disconnect(self.edge)


class Disconnect(GraphCommand):
    def __init__(self, graph: Graph, edge: Edge):
        super().__init__(graph, "Disconnect")
        self.edge = edge

    def redo(self) -> None:
        self.graph.disconnect(self.edge)

    def undo(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.src_port, e.dst, e.dst_port)


class RemoveNode(GraphCommand):
    """Remove a node and its wires; undo puts both back exactly (same id, label, params)."""

    def __init__(self, graph: Graph, node_id: str):
        super().__init__(graph, "Delete")
        node = graph.node(node_id)
        self.node_id = node_id
        self.state = (node.type_id, dict(node.params), node.label, node.pos, node.origin)
        self.edges: list[Edge] = []

    def redo(self) -> None:
        self.edges = self.graph.remove_node(self.node_id)

    def undo(self) -> None:
        type_id, params, label, pos, origin = self.state
        self.graph.add_node(
            type_id, params, label=label, pos=pos, node_id=self.node_id, origin=origin
        )
        for e in self.edges:
            if not self.graph.has_edge(e):
                self.graph.connect(e.src, e.src_port, e.dst, e.dst_port)


class SetParam(GraphCommand):
    ID = 1001

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any):
        super().__init__(graph, f"Set {name}")
        self.node_id, self.name, self.new = node_id, name, value
        self.old = graph.node(node_id).params[name]

    def redo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new)

    def undo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.old)


class SetType(GraphCommand):
    """Change a node's type in place (``Graph.set_type``); undo brings back the old type with
    exactly its old params."""

    def __init__(self, graph: Graph, node_id: str, type_id: str):
        node = graph.node(node_id)
        spec = CATALOGUE.get(type_id)
        super().__init__(graph, f"Change {node.label} to {spec.title if spec else type_id}")
        self.node_id, self.new = node_id, type_id
        self.old = (node.type_id, dict(node.params))

    def redo(self) -> None:
        self.graph.set_type(self.node_id, self.new)

    def undo(self) -> None:
        self.graph.set_type(self.node_id, *self.old)


class SetLabel(GraphCommand):
    def __init__(self, graph: Graph, node_id: str, label: str):
        super().__init__(graph, "Rename")
        self.node_id, self.new = node_id, label
        self.old = graph.node(node_id).label

    def redo(self) -> None:
        self.graph.set_label(self.node_id, self.new)

    def undo(self) -> None:
        self.graph.set_label(self.node_id, self.old, allow_duplicate=True)  # as it was


class MoveNodes(GraphCommand):
    """One drag of one or more nodes is one undo step."""

    def __init__(
        self,
        graph: Graph,
        moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
        text: str = "Move",
    ):
        super().__init__(graph, text)
        self.moves = moves  # node id → (old, new)

    def redo(self) -> None:
        for nid, (_, new) in self.moves.items():
            self.graph.set_position(nid, new)

    def undo(self) -> None:
        for nid, (old, _) in self.moves.items():
            self.graph.set_position(nid, old)


class SetSetting(GraphCommand):
    def __init__(self, graph: Graph, name: str, value: Any):
        super().__init__(graph, f"Set {name}")
        self.name, self.new = name, value
        self.old = graph.settings[name]

    def redo(self) -> None:
        self.graph.set_setting(self.name, self.new)

    def undo(self) -> None:
        self.graph.set_setting(self.name, self.old)


class SetSweep(GraphCommand):
    """Replace the project's sweep (its space and strategy; None removes it) as one step."""

    def __init__(self, graph: Graph, space: dict | None, text: str = "Edit sweep"):
        super().__init__(graph, text)
        self.old, self.new = graph.sweep, space

    def redo(self) -> None:
        self.graph.set_sweep(self.new)

    def undo(self) -> None:
        self.graph.set_sweep(self.old)


class Snapshot(GraphCommand):
    """Any whole-graph change (paste with blocks, collapse, expand, restoring unsaved work) as
    before/after file states: simple and exact. ``Document.change`` makes and records it."""

    def __init__(self, graph: Graph, text: str, before: dict, after: dict):
        super().__init__(graph, text)
        self.before, self.after = before, after

    def redo(self) -> None:
        self.graph.restore(self.after)

    def undo(self) -> None:
        self.graph.restore(self.before)
