"""The document: a typed node graph over a networkx MultiDiGraph, the single source of truth.

Every mutation validates first and changes nothing when it raises; then it notifies plain
Python listeners with a ``GraphEvent``. The GUI adapts those callbacks to Qt signals.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.errors import (
    CycleError,
    NodeNotFoundError,
    ParamError,
    PortError,
    PortTypeError,
    UnknownNodeTypeError,
)
from torchcanvas.graph.settings import SETTINGS, validate_settings
from torchcanvas.graph.spec import NodeSpec, PortSpec


@dataclass(frozen=True, order=True)
class Edge:
    """A wire from ``(src, src_port)`` to ``(dst, dst_port)``."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    @property
    def key(self) -> tuple[str, str]:
        # A tuple, not "a->b": placeholder port names are free text, and "a->b" + "c" must not
        # collide with "a" + "b->c" between the same two nodes.
        return (self.src_port, self.dst_port)


@dataclass
class Node:
    id: str
    type_id: str
    label: str
    params: dict[str, Any]
    pos: tuple[float, float] = (0.0, 0.0)
    spec: NodeSpec | None = None  # None for a placeholder of an unknown type
    placeholder_ports: dict[str, set[str]] = field(default_factory=dict)

    @property
    def is_placeholder(self) -> bool:
        return self.spec is None

    @property
    def kind(self) -> str:
        return self.spec.kind if self.spec else "unknown"


@dataclass(frozen=True)
class GraphEvent:
    """What changed. ``kind`` is one of node_added, node_removed, edge_added, edge_removed,
    param_changed, label_changed, node_moved, settings_changed."""

    kind: str
    node_id: str | None = None
    edge: Edge | None = None
    name: str | None = None
    old: Any = None
    new: Any = None


Listener = Callable[[GraphEvent], None]

_LABEL_RE = re.compile(r"^(.*?)(\d+)$")
_NODE_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def is_valid_node_id(node_id: object) -> bool:
    """1-64 ASCII letters, digits, '_', '-' or '.': what a project file accepts."""
    return isinstance(node_id, str) and _NODE_ID_RE.fullmatch(node_id) is not None


class Graph:
    def __init__(self, settings: dict[str, Any] | None = None):
        self._g = nx.MultiDiGraph()
        self._nodes: dict[str, Node] = {}
        self._listeners: list[Listener] = []
        self._counter = 0
        self.settings: dict[str, Any] = validate_settings(settings or {})

    # ------------------------------------------------------------------ listeners
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: GraphEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ------------------------------------------------------------------ queries
    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise NodeNotFoundError(node_id) from None

    def nodes(self) -> list[Node]:
        """All nodes, sorted by id."""
        return [self._nodes[k] for k in sorted(self._nodes, key=_id_key)]

    def node_ids(self) -> list[str]:
        return sorted(self._nodes, key=_id_key)

    def edges(self) -> list[Edge]:
        """All edges in canonical order."""
        return sorted(d["edge"] for _, _, d in self._g.edges(data=True))

    def in_edges(self, node_id: str) -> list[Edge]:
        self.node(node_id)
        return sorted(d["edge"] for _, _, d in self._g.in_edges(node_id, data=True))

    def out_edges(self, node_id: str) -> list[Edge]:
        self.node(node_id)
        return sorted(d["edge"] for _, _, d in self._g.out_edges(node_id, data=True))

    def input_edge(self, node_id: str, port: str) -> Edge | None:
        """The edge feeding a single-input port, if any."""
        for e in self.in_edges(node_id):
            if e.dst_port == port:
                return e
        return None

    def has_edge(self, edge: Edge) -> bool:
        return self._g.has_edge(edge.src, edge.dst, edge.key)

    def topological_order(self, node_ids: set[str] | None = None) -> list[str]:
        """Nodes in dependency order; ties broken by id so the order is deterministic."""
        g = self._g if node_ids is None else self._g.subgraph(node_ids)
        return list(nx.lexicographical_topological_sort(g, key=_id_key))

    def ancestors(self, node_id: str) -> set[str]:
        return nx.ancestors(self._g, node_id)

    def descendants(self, node_id: str) -> set[str]:
        return nx.descendants(self._g, node_id)

    def input_ports(self, node_id: str) -> tuple[PortSpec, ...]:
        node = self.node(node_id)
        if node.spec:
            return node.spec.inputs
        # Unknown ports accept several wires of any kind: the file is the only truth about them.
        return tuple(PortSpec(n, multi=True)
                     for n in sorted(node.placeholder_ports.get("in", ())))

    def output_ports(self, node_id: str) -> tuple[PortSpec, ...]:
        node = self.node(node_id)
        if node.spec:
            return node.spec.outputs
        return tuple(PortSpec(n) for n in sorted(node.placeholder_ports.get("out", ())))

    # ------------------------------------------------------------------ mutations
    def new_id(self) -> str:
        while True:
            self._counter += 1
            candidate = f"n{self._counter}"
            if candidate not in self._nodes:
                return candidate

    def unique_label(self, base: str) -> str:
        """``base`` + the smallest number not used by another label (conv1, conv2, ...)."""
        used = {n.label for n in self._nodes.values()}
        k = 1
        while f"{base}{k}" in used:
            k += 1
        return f"{base}{k}"

    def add_node(
        self,
        type_id: str,
        params: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        pos: tuple[float, float] = (0.0, 0.0),
        node_id: str | None = None,
    ) -> str:
        """Add a node of a catalogue type; missing params take their defaults."""
        spec = CATALOGUE.get(type_id)
        if spec is None:
            raise UnknownNodeTypeError(type_id, node_id)
        if node_id is not None:
            _check_new_id(self, node_id)
        counter = self._counter
        nid = node_id or self.new_id()
        try:
            values = spec.validate_params(dict(params or {}), nid)
            label = validate_label(label if label is not None
                                   else self.unique_label(spec.label_base))
            xy = _pos(pos)
        except BaseException:
            self._counter = counter  # a refused add leaves no trace, not even a used-up id
            raise
        self._insert(Node(nid, type_id, label, values, xy, spec))
        return nid

    def add_placeholder(self, node_id: str, type_id: str, label: str, params: dict[str, Any],
                        pos: tuple[float, float], ports: dict[str, set[str]]) -> str:
        """Keep a node of an unknown type (from a newer file) so nothing the user made is lost."""
        _check_new_id(self, node_id)
        self._insert(Node(node_id, type_id, label, copy.deepcopy(params), _pos(pos), None,
                          {k: set(v) for k, v in ports.items()}))
        return node_id

    def _insert(self, node: Node) -> None:
        self._nodes[node.id] = node
        self._g.add_node(node.id)
        m = re.fullmatch(r"n(\d+)", node.id)
        if m:
            self._counter = max(self._counter, int(m.group(1)))
        self._emit(GraphEvent("node_added", node.id))

    def remove_node(self, node_id: str) -> list[Edge]:
        """Remove a node and its edges; returns the removed edges (for undo)."""
        self.node(node_id)
        removed = self.in_edges(node_id) + self.out_edges(node_id)
        for e in removed:
            self.disconnect(e)
        del self._nodes[node_id]
        self._g.remove_node(node_id)
        self._emit(GraphEvent("node_removed", node_id))
        return removed

    def check_connect(self, src: str, src_port: str, dst: str, dst_port: str) -> Edge:
        """Raise the reason a wire is refused, or return the edge it would make."""
        a, b = self.node(src), self.node(dst)
        out = _find_port(self.output_ports(src), src_port)
        inp = _find_port(self.input_ports(dst), dst_port)
        if out is None:
            raise PortError(f"{a.label} has no output {src_port!r}", src, src_port)
        if inp is None:
            raise PortError(f"{b.label} has no input {dst_port!r}", dst, dst_port)
        if out.kind != inp.kind and not (a.is_placeholder or b.is_placeholder):
            raise PortTypeError(
                f"cannot wire {a.label}.{src_port} ({out.kind}) to {b.label}.{dst_port} "
                f"({inp.kind})", dst, dst_port)
        edge = Edge(src, src_port, dst, dst_port)
        if self.has_edge(edge):
            raise PortError(f"{a.label}.{src_port} is already wired to {b.label}.{dst_port}",
                            dst, dst_port)
        if not inp.multi and self.input_edge(dst, dst_port) is not None:
            raise PortError(f"{b.label}.{dst_port} already has an input", dst, dst_port)
        if src == dst or nx.has_path(self._g, dst, src):
            raise CycleError(src, dst)
        return edge

    def can_connect(self, src: str, src_port: str, dst: str, dst_port: str) -> bool:
        try:
            self.check_connect(src, src_port, dst, dst_port)
        except (PortError, CycleError, NodeNotFoundError):
            return False
        return True

    def connect(self, src: str, src_port: str, dst: str, dst_port: str) -> Edge:
        edge = self.check_connect(src, src_port, dst, dst_port)
        self._g.add_edge(src, dst, key=edge.key, edge=edge)
        self._emit(GraphEvent("edge_added", dst, edge=edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        if not self.has_edge(edge):
            raise PortError(f"no such wire {edge}", edge.dst, edge.dst_port)
        self._g.remove_edge(edge.src, edge.dst, key=edge.key)
        self._emit(GraphEvent("edge_removed", edge.dst, edge=edge))

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        if node.spec is None:
            raise ParamError(name, "the node's type is unknown; its params cannot be edited",
                             node_id)
        new = node.spec.param(name).validate(value, node_id)
        old = node.params[name]
        if old == new and type(old) is type(new):
            return
        node.params[name] = new
        self._emit(GraphEvent("param_changed", node_id, name=name, old=old, new=new))

    def set_label(self, node_id: str, label: str) -> None:
        node = self.node(node_id)
        label = validate_label(label)
        if label == node.label:
            return
        old, node.label = node.label, label
        self._emit(GraphEvent("label_changed", node_id, old=old, new=label))

    def set_position(self, node_id: str, pos: tuple[float, float]) -> None:
        node = self.node(node_id)
        new = _pos(pos)
        if new == node.pos:
            return
        old, node.pos = node.pos, new
        self._emit(GraphEvent("node_moved", node_id, old=old, new=new))

    def set_setting(self, name: str, value: Any) -> None:
        if name not in SETTINGS:
            raise ParamError(name, "no such training setting")
        new = validate_settings({**self.settings, name: value})[name]
        old = self.settings[name]
        if old == new:
            return
        self.settings[name] = new
        self._emit(GraphEvent("settings_changed", name=name, old=old, new=new))

    # ------------------------------------------------------------------ helpers
    def nodes_of_kind(self, *kinds: str) -> list[Node]:
        return [n for n in self.nodes() if n.kind in kinds]

    def iter_params(self) -> Iterator[tuple[Node, str, Any]]:
        for n in self.nodes():
            for k, v in n.params.items():
                yield n, k, v

    def copy(self) -> Graph:
        """A deep copy with no listeners (e.g. the snapshot a training run uses)."""
        from torchcanvas.graph.serialize import from_dict, to_dict

        return from_dict(to_dict(self))


def validate_label(label: Any) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ParamError("label", "a node label cannot be empty")
    if not _is_utf8(label):
        raise ParamError("label", "a node label must be valid Unicode text (no lone surrogates)")
    if len(label) > 80:
        raise ParamError("label", "a node label is at most 80 characters")
    return label.strip()


def _find_port(ports: tuple[PortSpec, ...], name: str) -> PortSpec | None:
    return next((p for p in ports if p.name == name), None)


def _check_new_id(graph: Graph, node_id: Any) -> None:
    if not is_valid_node_id(node_id):
        raise ValueError(f"node id {node_id!r}: use 1-64 letters, digits, '_', '-' or '.'")
    if node_id in graph:
        raise ValueError(f"node id {node_id!r} is already used")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _pos(pos: Any) -> tuple[float, float]:
    x, y = pos
    try:
        xy = (float(x), float(y))
    except (TypeError, ValueError, OverflowError):
        raise ParamError("pos", f"expected two numbers, got {pos!r}") from None
    if not all(math.isfinite(v) for v in xy):  # NaN cannot be saved in JSON
        raise ParamError("pos", f"expected finite numbers, got {pos!r}")
    return xy


def _id_key(node_id: str) -> tuple:
    """Sort ids naturally: n2 before n10."""
    m = _LABEL_RE.match(node_id)
    return (m.group(1), int(m.group(2)), node_id) if m else (node_id, -1, node_id)
