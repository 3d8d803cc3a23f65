"""Edits as data: what a listener needs to replay a document's changes on a copy of it.

An ``EditRecorder`` follows a graph and turns its events into plain tuples (``ops``); a copy
made from the same starting point becomes equal again with ``apply_edits``. What cannot be
replayed step by step (block definition changes, a restore) asks for the
whole document instead, so a copy is never wrong, only sometimes rebuilt.
"""

from __future__ import annotations

import copy
from typing import Any

from torchcanvas.graph.document import Edge, Graph, GraphEvent

Op = tuple


class EditRecorder:
    """Collects the edits made to ``graph`` since the last ``take``."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._ops: list[Op] = []
        self._full = True  # the copy starts from the whole document
        graph.subscribe(self._on_event)

    def close(self) -> None:
        self.graph.unsubscribe(self._on_event)

    def reset(self) -> None:
        """Send the whole document next time (the copy is lost or out of step)."""
        self._ops.clear()
        self._full = True

    @property
    def pending(self) -> bool:
        return self._full or bool(self._ops)

    def take(self) -> tuple[str, Any]:
        """``("full", to_dict(graph))`` or ``("ops", [op, ...])``; starts a new batch."""
        if self._full:
            from torchcanvas.graph.serialize import to_dict

            self._full = False
            self._ops = []
            return "full", to_dict(self.graph)
        ops, self._ops = self._ops, []
        return "ops", ops

    def _on_event(self, event: GraphEvent) -> None:
        if self._full:
            return
        kind = event.kind
        ops = self._ops
        g = self.graph
        if kind == "node_added":
            n = g.node(event.node_id)
            if n.is_placeholder:
                ops.append(
                    (
                        "placeholder",
                        n.id,
                        n.type_id,
                        n.label,
                        copy.deepcopy(n.params),
                        n.pos,
                        {k: set(v) for k, v in n.placeholder_ports.items()},
                    )
                )
            else:
                ops.append(
                    ("add", n.id, n.type_id, copy.deepcopy(n.params), n.label, n.pos, n.origin)
                )
        elif kind == "node_removed":
            ops.append(("remove", event.node_id))
        elif kind == "edge_added":
            ops.append(("connect", event.edge))
        elif kind == "edge_removed":
            ops.append(("disconnect", event.edge))
        elif kind == "param_changed":
            ops.append(("param", event.node_id, event.name, copy.deepcopy(event.new)))
        elif kind == "type_changed":
            n = g.node(event.node_id)
            ops.append(("type", n.id, n.type_id, copy.deepcopy(n.params)))
        elif kind == "label_changed":
            ops.append(("label", event.node_id, event.new))
        elif kind == "node_moved":
            ops.append(("move", event.node_id, event.new))
        elif kind == "settings_changed":
            ops.append(("setting", event.name, copy.deepcopy(event.new)))
        else:  # reset, block definitions: the copy takes the whole document
            self.reset()


def apply_edits(graph: Graph, ops: list[Op]) -> None:
    """Replay ``ops`` from an ``EditRecorder`` on ``graph`` (through the usual API, so the
    graph's own listeners hear them). Raises on an op that does not fit: the copy is out of
    step and should be rebuilt from the whole document."""
    for op in ops:
        kind = op[0]
        if kind == "add":
            _, nid, type_id, params, label, pos, origin = op
            graph.add_node(type_id, params, label=label, pos=pos, node_id=nid, origin=origin)
        elif kind == "placeholder":
            _, nid, type_id, label, params, pos, ports = op
            graph.add_placeholder(nid, type_id, label, params, pos, ports)
        elif kind == "remove":
            graph.remove_node(op[1])
        elif kind == "connect":
            e: Edge = op[1]
            graph.connect(e.src, e.src_port, e.dst, e.dst_port)
        elif kind == "disconnect":
            graph.disconnect(op[1])
        elif kind == "param":
            graph.set_param(op[1], op[2], op[3])
        elif kind == "type":
            graph.set_type(op[1], op[2], op[3])
        elif kind == "label":
            graph.set_label(op[1], op[2], allow_duplicate=True)  # as the document has it
        elif kind == "move":
            graph.set_position(op[1], op[2])
        elif kind == "setting":
            graph.set_setting(op[1], op[2])
        else:
            raise ValueError(f"unknown edit {kind!r}")
