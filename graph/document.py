"""The document: a typed node graph over a networkx MultiDiGraph, the single source of truth.

Every mutation validates first and changes nothing when it raises; then it notifies plain
Python listeners with a ``GraphEvent``. The GUI adapts those callbacks to Qt signals.

Blocks: ``Graph.blocks`` maps a class name to a ``BlockDef``, a named sub-graph whose body is a
``Graph`` of its own (model nodes plus ``io.Input``/``io.Output`` boundary nodes). A node of type
``block`` is an instance of a definition; its ports are the definition's io names. Bodies are
read-only once registered: ``collapse``/``expand`` and ``add_block_def``/``replace_block_def``/
``remove_block_def``/``rename_block_def`` change them as a whole, and ``scratch_body`` gives an
editable copy to commit with ``replace_block_def``.
"""

from __future__ import annotations

import bisect
import builtins
import contextlib
import copy
import keyword
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.catalogue.blocks import BLOCK_NAME, BLOCK_NAME_HINT
from torchcanvas.graph.errors import (
    BlockError,
    CycleError,
    GraphError,
    NodeNotFoundError,
    NodeTypeError,
    ParamError,
    PortError,
    PortTypeError,
    SelectionCycleError,
    UnknownNodeTypeError,
    quoted,
    shown,
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
    # an imported node's module path in the original model (``layer1.0.conv1``), when it holds
    # weights: the label may be edited, this stays, so the original state_dict still loads
    origin: str | None = None

    @property
    def is_placeholder(self) -> bool:
        return self.spec is None

    @property
    def kind(self) -> str:
        return self.spec.kind if self.spec else "unknown"


@dataclass(frozen=True)
class GraphEvent:
    """What changed. ``kind`` is one of node_added, node_removed, edge_added, edge_removed,
    param_changed, label_changed, node_moved, settings_changed, sweep_changed, type_changed
    (``old`` → ``new`` type id; the params may have changed with it); block_added,
    block_removed,
    block_changed (``name``), block_renamed (``old`` → ``new``); or reset (``restore``: the
    whole document was replaced, redraw everything)."""

    kind: str
    node_id: str | None = None
    edge: Edge | None = None
    name: str | None = None
    old: Any = None
    new: Any = None


Listener = Callable[[GraphEvent], None]

_LABEL_RE = re.compile(r"^(.*?)(\d+)$")
_NODE_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def block_key(block: str, node_id: str) -> str:
    """The key of a node inside block definition ``block`` where results are kept by node id
    (resolved params, shapes): ``"ResidualBlock/n2"``. Neither names nor ids hold a '/'."""
    return f"{block}/{node_id}"


def is_valid_node_id(node_id: object) -> bool:
    """1-64 ASCII letters, digits, '_', '-' or '.': what a project file accepts."""
    return isinstance(node_id, str) and _NODE_ID_RE.fullmatch(node_id) is not None


MODEL_NODE_KINDS = ("layer", "op", "block", "code")  # what a block body may hold, besides io nodes
Value = tuple[str, str]  # (node id, output port)


class BlockDef:
    """A block definition: a name (the generated class name) and a body graph.

    The body holds model nodes (layers, ops, other blocks' instances) and the boundary nodes
    ``io.Input`` / ``io.Output``. The instance's input ports are the io.Input names and its
    output ports the io.Output names, each in the order of their io nodes' ids (creation order).
    """

    def __init__(self, name: str, graph: Graph):
        self.name = name
        self.graph = graph

    def __repr__(self) -> str:
        return f"BlockDef({self.name!r}, inputs={self.inputs}, outputs={self.outputs})"

    def io_nodes(self, which: str) -> list[Node]:
        """The boundary nodes, ``which`` = "input" or "output", in port order."""
        return [n for n in self.graph.nodes() if n.kind == "io" and n.spec.extra.get("io") == which]

    @property
    def inputs(self) -> list[str]:
        return [n.params["name"] for n in self.io_nodes("input")]

    @property
    def outputs(self) -> list[str]:
        return [n.params["name"] for n in self.io_nodes("output")]

    def io_node(self, which: str, name: str) -> Node:
        for n in self.io_nodes(which):
            if n.params["name"] == name:
                return n
        raise BlockError(f"block {self.name} has no {which} {quoted(name)}", name=self.name)

    def uses(self) -> set[str]:
        """Names of the definitions instanced directly in this body."""
        return {n.params["block"] for n in self.graph.nodes() if n.kind == "block"}

    def to_dict(self) -> dict[str, Any]:
        """The body in the file's encoding: ``{"nodes": {...}, "edges": [...]}``."""
        from torchcanvas.graph.serialize import body_to_dict

        return body_to_dict(self.graph)


class Graph:
    def __init__(self, settings: dict[str, Any] | None = None):
        self._g = nx.MultiDiGraph()
        self._structure = 0  # bumped on every change of nodes or wires
        self._topo: tuple[int, list[str]] | None = None
        self._ids: tuple[int, list[str]] | None = None
        self._kinds: tuple[int, dict[str, list[Node]]] | None = None  # nodes_of_kind's index
        self._nodes: dict[str, Node] = {}
        # adjacency indexes kept beside the networkx graph, each list sorted: the hot loops
        # (shape inference, codegen) read these instead of building networkx views
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self._listeners: list[Listener] = []
        self._counter = 0
        self.settings: dict[str, Any] = validate_settings(settings or {})
        # shape results read with the project file (graph.serialize): shown by a window until
        # inference has run, never used to compute anything
        self.saved_results: dict[str, Any] | None = None
        # the project's sweep (graph.sweep: its space and strategy, plain JSON), or None
        self.sweep: dict[str, Any] | None = None
        # blocks: the root document owns the definitions; a body (or an editable copy of one)
        # shares them through ``_root`` and knows which definition it belongs to (``_owner``).
        self._root: Graph = self
        self._blocks: dict[str, BlockDef] = {}
        self._is_body = False
        self._owner: str | None = None
        self._frozen = False

    @classmethod
    def _new_body(cls, root: Graph, owner: str | None) -> Graph:
        body = cls()
        body._root = root
        body._is_body = True
        body._owner = owner
        return body

    @property
    def is_block_body(self) -> bool:
        """True for a block definition's body (or an editable copy of one)."""
        return self._is_body

    @property
    def blocks(self) -> Mapping[str, BlockDef]:
        """The document's block definitions by name (read-only; shared with every body)."""
        return MappingProxyType(self._root._blocks)

    def block(self, name: str) -> BlockDef:
        try:
            return self._root._blocks[name]
        except (KeyError, TypeError):
            raise BlockError(f"no block definition named {quoted(name)}", name=str(name)) from None

    def _check_mutable(self) -> None:
        if self._frozen:
            raise BlockError(
                f"block {self._owner}'s body is read-only: edit a copy from "
                "scratch_body() and commit it with replace_block_def()",
                name=self._owner,
            )

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
        nodes = self._nodes
        return [nodes[k] for k in self._sorted_ids()]

    def node_ids(self) -> list[str]:
        return list(self._sorted_ids())

    def _sorted_ids(self) -> list[str]:
        """The ids in natural order, kept until a node is added or removed."""
        if self._ids is None or self._ids[0] != self._structure:
            self._ids = (self._structure, sorted(self._nodes, key=_id_key))
        return self._ids[1]

    def edges(self) -> list[Edge]:
        """All edges in canonical order."""
        return sorted(d["edge"] for _, _, d in self._g.edges(data=True))

    @property
    def structure_version(self) -> int:
        """A number that changes whenever a node or wire is added or removed (or the whole
        document is replaced); param, label and position edits keep it."""
        return self._structure

    def in_edges(self, node_id: str) -> list[Edge]:
        try:
            return list(self._in[node_id])
        except KeyError:
            raise NodeNotFoundError(node_id) from None

    def out_edges(self, node_id: str) -> list[Edge]:
        try:
            return list(self._out[node_id])
        except KeyError:
            raise NodeNotFoundError(node_id) from None

    def input_edge(self, node_id: str, port: str) -> Edge | None:
        """The edge feeding a single-input port, if any."""
        try:
            edges = self._in[node_id]
        except KeyError:
            raise NodeNotFoundError(node_id) from None
        for e in edges:
            if e.dst_port == port:
                return e
        return None

    def has_edge(self, edge: Edge) -> bool:
        return self._g.has_edge(edge.src, edge.dst, edge.key)

    def topological_order(self, node_ids: set[str] | None = None) -> list[str]:
        """Nodes in dependency order; ties broken by id so the order is deterministic.

        The whole-graph order is cached until a node or wire changes (param edits keep it)."""
        if node_ids is None:
            if self._topo is None or self._topo[0] != self._structure:
                self._topo = (
                    self._structure,
                    list(nx.lexicographical_topological_sort(self._g, key=_id_key)),
                )
            return list(self._topo[1])
        order = self.topological_order()
        wanted = set(node_ids)
        if len(wanted) * 4 < len(order):  # small subsets: sort just them
            return list(nx.lexicographical_topological_sort(self._g.subgraph(wanted), key=_id_key))
        return [n for n in order if n in wanted]

    def ancestors(self, node_id: str) -> set[str]:
        return nx.ancestors(self._g, node_id)

    def descendants(self, node_id: str) -> set[str]:
        return nx.descendants(self._g, node_id)

    def input_ports(self, node_id: str) -> tuple[PortSpec, ...]:
        node = self.node(node_id)
        if node.spec and node.spec.kind == "block":
            d = self._root._blocks.get(node.params["block"])
            return tuple(PortSpec(n) for n in d.inputs) if d else ()
        if node.spec:
            return node.spec.inputs
        # Unknown ports accept several wires of any kind: the file is the only truth about them.
        return tuple(PortSpec(n, multi=True) for n in sorted(node.placeholder_ports.get("in", ())))

    def output_ports(self, node_id: str) -> tuple[PortSpec, ...]:
        node = self.node(node_id)
        if node.spec and node.spec.kind == "block":
            d = self._root._blocks.get(node.params["block"])
            return tuple(PortSpec(n) for n in d.outputs) if d else ()
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
        origin: str | None = None,
    ) -> str:
        """Add a node of a catalogue type; missing params take their defaults. ``origin``: the
        module path it was imported from (see ``Node.origin``)."""
        self._check_mutable()
        spec = CATALOGUE.get(type_id)
        if spec is None:
            raise UnknownNodeTypeError(type_id, node_id)
        if node_id is not None:
            _check_new_id(self, node_id)
        self._check_kind(spec, type_id, node_id)
        counter = self._counter
        nid = node_id or self.new_id()
        try:
            params = dict(params or {})
            if spec.kind == "io" and "name" not in params:
                params["name"] = self._free_io_name(spec.extra["io"], spec.param("name").default)
            values = spec.validate_params(params, nid)
            if spec.kind == "block":
                self._check_instance(values["block"], nid)
            elif spec.kind == "io":
                self._check_io_name(spec.extra["io"], values["name"], nid)
            label = validate_label(
                label if label is not None else self.unique_label(spec.label_base)
            )
            xy = _pos(pos)
            if origin is not None:
                origin = validate_origin(origin)
        except BaseException:
            self._counter = counter  # a refused add leaves no trace, not even a used-up id
            raise
        self._insert(Node(nid, type_id, label, values, xy, spec, origin=origin))
        return nid

    def add_placeholder(
        self,
        node_id: str,
        type_id: str,
        label: str,
        params: dict[str, Any],
        pos: tuple[float, float],
        ports: dict[str, set[str]],
    ) -> str:
        """Keep a node of an unknown type (from a newer file) so nothing the user made is lost."""
        self._check_mutable()
        _check_new_id(self, node_id)
        self._insert(
            Node(
                node_id,
                type_id,
                label,
                copy.deepcopy(params),
                _pos(pos),
                None,
                {k: set(v) for k, v in ports.items()},
            )
        )
        return node_id

    def _insert(self, node: Node) -> None:
        self._nodes[node.id] = node
        self._in[node.id] = []
        self._out[node.id] = []
        self._g.add_node(node.id)
        self._structure += 1
        m = re.fullmatch(r"n(\d+)", node.id)
        if m:
            self._counter = max(self._counter, int(m.group(1)))
        self._emit(GraphEvent("node_added", node.id))

    def remove_node(self, node_id: str) -> list[Edge]:
        """Remove a node and its edges; returns the removed edges (for undo).

        Removing a block instance keeps its definition (undo of a delete simply adds the node
        back); ``remove_block_def`` deletes an unused definition."""
        self._check_mutable()
        self.node(node_id)
        removed = self.in_edges(node_id) + self.out_edges(node_id)
        for e in removed:
            self.disconnect(e)
        del self._nodes[node_id]
        del self._in[node_id], self._out[node_id]
        self._g.remove_node(node_id)
        self._structure += 1
        self._emit(GraphEvent("node_removed", node_id))
        return removed

    def check_connect(
        self, src: str, src_port: str, dst: str, dst_port: str, *, check_cycle: bool = True
    ) -> Edge:
        """Raise the reason a wire is refused, or return the edge it would make.
        ``check_cycle=False`` is for a caller that has checked the whole graph stays acyclic."""
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
                f"({inp.kind})",
                dst,
                dst_port,
            )
        edge = Edge(src, src_port, dst, dst_port)
        if self.has_edge(edge):
            raise PortError(
                f"{a.label}.{src_port} is already wired to {b.label}.{dst_port}", dst, dst_port
            )
        if not inp.multi and self.input_edge(dst, dst_port) is not None:
            raise PortError(f"{b.label}.{dst_port} already has an input", dst, dst_port)
        if src == dst or (check_cycle and nx.has_path(self._g, dst, src)):
            raise CycleError(src, dst)
        return edge

    def can_connect(self, src: str, src_port: str, dst: str, dst_port: str) -> bool:
        try:
            self.check_connect(src, src_port, dst, dst_port)
        except (PortError, CycleError, NodeNotFoundError):
            return False
        return True

    def connect(
        self, src: str, src_port: str, dst: str, dst_port: str, *, check_cycle: bool = True
    ) -> Edge:
        self._check_mutable()
        edge = self.check_connect(src, src_port, dst, dst_port, check_cycle=check_cycle)
        self._g.add_edge(src, dst, key=edge.key, edge=edge)
        bisect.insort(self._out[src], edge)
        bisect.insort(self._in[dst], edge)
        self._structure += 1
        self._emit(GraphEvent("edge_added", dst, edge=edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        self._check_mutable()
        if not self.has_edge(edge):
            raise PortError(f"no such wire {edge}", edge.dst, edge.dst_port)
        self._g.remove_edge(edge.src, edge.dst, key=edge.key)
        self._out[edge.src].remove(edge)
        self._in[edge.dst].remove(edge)
        self._structure += 1
        self._emit(GraphEvent("edge_removed", edge.dst, edge=edge))

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self._check_mutable()
        node = self.node(node_id)
        if node.spec is None:
            raise ParamError(
                name, "the node's type is unknown; its params cannot be edited", node_id
            )
        new = node.spec.param(name).validate(value, node_id)
        old = node.params[name]
        if old == new and type(old) is type(new):
            return
        if node.kind == "block" and name == "block":
            self._check_instance(new, node_id)
            self._check_wires_fit(node_id, self.block(new))
        elif node.kind == "io" and name == "name":
            self._check_io_name(node.spec.extra["io"], new, node_id)
        node.params[name] = new
        self._emit(GraphEvent("param_changed", node_id, name=name, old=old, new=new))

    def check_type(self, node_id: str, type_id: str) -> NodeSpec:
        """Raise the reason node ``node_id`` cannot become a ``type_id``, or return that type's
        spec. The new type keeps the node's role (the same kind: a layer stays a layer, an
        optimizer an optimizer) and has every port the node's wires use, of the same kind."""
        node = self.node(node_id)
        spec = CATALOGUE.get(type_id) if isinstance(type_id, str) else None
        if spec is None:
            raise UnknownNodeTypeError(type_id, node_id)
        old = node.spec
        if old is None:
            raise NodeTypeError(
                f"{shown(node.label)}: its type ({shown(node.type_id)}) is unknown; it cannot "
                "change type",
                node_id,
                type_id,
            )
        if old.kind in ("block", "io", "code"):
            raise NodeTypeError(
                f"{shown(node.label)}: a {old.kind} node keeps its type", node_id, type_id
            )
        if spec.kind != old.kind:
            raise NodeTypeError(
                f"{shown(node.label)}: {type_id} is {_a(spec.kind)}, not {_a(old.kind)} "
                f"like {old.type_id}",
                node_id,
                type_id,
            )
        self._check_mutable()
        if self._is_body:
            self._check_kind(spec, type_id, node_id)
        ins: dict[str, list[Edge]] = {}
        for e in self._in[node_id]:
            ins.setdefault(e.dst_port, []).append(e)
        for port, edges in ins.items():
            new = spec.input(port)
            src = self.node(edges[0].src)
            if new is None:
                raise PortError(
                    f"{shown(node.label)}: {type_id} has no input {port!r} for the wire from "
                    f"{shown(src.label)}",
                    node_id,
                    port,
                )
            kind = _find_port(self.output_ports(src.id), edges[0].src_port)
            if kind is not None and kind.kind != new.kind:
                raise PortTypeError(
                    f"{shown(node.label)}: {type_id}'s input {port!r} takes a {new.kind}, "
                    f"not the {kind.kind} from {shown(src.label)}",
                    node_id,
                    port,
                )
            if len(edges) > 1 and not new.multi:
                raise PortError(
                    f"{shown(node.label)}: {type_id}'s input {port!r} takes one wire, "
                    f"not {len(edges)}",
                    node_id,
                    port,
                )
        for e in self._out[node_id]:
            new = spec.output(e.src_port)
            dst = self.node(e.dst)
            if new is None:
                raise PortError(
                    f"{shown(node.label)}: {type_id} has no output {e.src_port!r} for the wire "
                    f"to {shown(dst.label)}",
                    node_id,
                    e.src_port,
                )
            kind = _find_port(self.input_ports(dst.id), e.dst_port)
            if kind is not None and kind.kind != new.kind and not dst.is_placeholder:
                raise PortTypeError(
                    f"{shown(node.label)}: {type_id}'s output {e.src_port!r} gives a "
                    f"{new.kind}, not the {kind.kind} {shown(dst.label)} takes",
                    node_id,
                    e.src_port,
                )
        return spec

    def unwired_inputs(self, node_id: str, type_id: str) -> list[str]:
        """The inputs a ``type_id`` requires (not optional) that node ``node_id`` has no wire
        into: as that type it would not run."""
        wired = {e.dst_port for e in self._in[node_id]} if node_id in self._in else set()
        spec = CATALOGUE.get(type_id)
        if spec is None:
            return []
        return [p.name for p in spec.inputs if not p.optional and p.name not in wired]

    def type_alternatives(self, node_id: str) -> list[str]:
        """The types node ``node_id`` could become, its own first: those of its palette
        category (and sub-group) that ``set_type`` accepts and whose required inputs are all
        wired, by title. Empty for a node whose type cannot change."""
        node = self.node(node_id)
        spec = node.spec
        if spec is None or spec.kind in ("block", "io", "code") or spec.extra.get("internal"):
            return []
        out = []
        for other in CATALOGUE.values():
            if (
                other.category != spec.category
                or other.extra.get("group") != spec.extra.get("group")
                or other.extra.get("internal")
                or other.type_id == spec.type_id
            ):
                continue
            try:
                self.check_type(node_id, other.type_id)
            except GraphError:
                continue
            if not self.unwired_inputs(node_id, other.type_id):
                out.append(other)
        return [spec.type_id, *(s.type_id for s in sorted(out, key=lambda s: s.title.lower()))]

    def type_params(self, node_id: str, type_id: str) -> dict[str, Any]:
        """The params node ``node_id`` would have as a ``type_id``: each of its params the new
        type has, when its value is valid there (an ``auto`` one stays auto); the new type's
        defaults for the rest."""
        node = self.node(node_id)
        spec = self.check_type(node_id, type_id)
        out = {}
        for p in spec.params:
            value = p.default
            if p.name in node.params:
                with contextlib.suppress(ParamError):  # refused there: the default
                    value = p.validate(node.params[p.name], node_id)
            out[p.name] = p.validate(value, node_id)
        return out

    def set_type(self, node_id: str, type_id: str, params: dict[str, Any] | None = None) -> None:
        """Change a node's type in place: its id, label, position and wires stay. Raises
        (changing nothing) when the type is unknown, of another kind, or lacks a port the
        node's wires use (``check_type``). Without ``params`` the node keeps each param the new
        type has whose value is valid there, and takes the new type's defaults for the rest
        (``type_params``); with ``params`` (undo, replaying an edit) it takes exactly those,
        checked like ``add_node``'s."""
        node = self.node(node_id)
        spec = self.check_type(node_id, type_id)
        if params is None:
            values = self.type_params(node_id, type_id)
        else:
            values = spec.validate_params(dict(params), node_id)
        if type_id == node.type_id and values == node.params:
            return
        old = node.type_id
        node.type_id, node.spec, node.params = type_id, spec, values
        self._emit(GraphEvent("type_changed", node_id, old=old, new=type_id))

    def set_label(self, node_id: str, label: str, allow_duplicate: bool = False) -> None:
        """Rename a node. A label names one node (its layer in model.py, its row in every
        table), so one another node has is refused, as is one with tabs or line breaks.
        ``allow_duplicate`` is for restoring a label exactly as it was (undo, replaying a
        document's edits), which a project file made elsewhere may hold twice."""
        self._check_mutable()
        node = self.node(node_id)
        if isinstance(label, str) and has_control_chars(label):
            raise ParamError(
                "label",
                "a node label is one line of text: tabs, line breaks "
                "and other control characters are not allowed",
            )
        label = validate_label(label)
        if label == node.label:
            return
        if not allow_duplicate:
            other = next(
                (n for n in self._nodes.values() if n.label == label and n.id != node_id), None
            )
            if other is not None:
                kind = other.spec.title if other.spec is not None else other.type_id
                raise ParamError(
                    "label",
                    f"{label!r} is already the label of another node "
                    f"({kind}); each node needs its own label",
                )
        old, node.label = node.label, label
        self._emit(GraphEvent("label_changed", node_id, old=old, new=label))

    def set_position(self, node_id: str, pos: tuple[float, float]) -> None:
        self._check_mutable()
        node = self.node(node_id)
        new = _pos(pos)
        if new == node.pos:
            return
        old, node.pos = node.pos, new
        self._emit(GraphEvent("node_moved", node_id, old=old, new=new))

    def set_setting(self, name: str, value: Any) -> None:
        if name not in SETTINGS:
            raise ParamError(name, "no such training setting")
        self._check_mutable()
        new = validate_settings({**self.settings, name: value})[name]
        old = self.settings[name]
        if old == new:
            return
        if name == "model_name" and new in self._root._blocks:
            raise ParamError(name, f"{new} is the name of a block; choose another class name")
        self.settings[name] = new
        self._emit(GraphEvent("settings_changed", name=name, old=old, new=new))

    def set_sweep(self, space: dict[str, Any] | None) -> None:
        """Keep a sweep space with the project (``None`` removes it); its form is checked
        (``InvalidProjectError`` naming the field), its targets when it runs."""
        from torchcanvas.graph.sweep import validate_sweep

        self._check_mutable()
        if self._is_body:
            raise BlockError("a sweep belongs to the document, not to a block body")
        new = None if space is None else validate_sweep(space)
        old = self.sweep
        if old == new:
            return
        self.sweep = new
        self._emit(GraphEvent("sweep_changed", old=old, new=new))

    # ------------------------------------------------------------------ blocks: checks
    def _check_kind(self, spec: NodeSpec, type_id: str, node_id: str | None) -> None:
        if self._is_body and spec.kind not in (*MODEL_NODE_KINDS, "io"):
            raise BlockError(
                f"a block holds layers, ops, blocks and block inputs/outputs, not {type_id}",
                node_id,
                self._owner,
            )
        if not self._is_body and spec.kind == "io":
            raise BlockError(f"{type_id} belongs inside a block definition", node_id)

    def _free_io_name(self, which: str, base: str) -> str:
        used = {
            n.params["name"]
            for n in self._nodes.values()
            if n.kind == "io" and n.spec.extra["io"] == which
        }
        k, name = 1, base
        while name in used:
            k += 1
            name = f"{base}{k}"
        return name

    def _check_io_name(self, which: str, name: str, node_id: str) -> None:
        for n in self._nodes.values():
            if (
                n.id != node_id
                and n.kind == "io"
                and n.spec.extra["io"] == which
                and n.params["name"] == name
            ):
                raise ParamError(
                    "name", f"another block {which} ({n.label}) is named {name!r}", node_id
                )

    def _check_instance(self, name: str, node_id: str) -> None:
        """An instance of ``name`` may go here: the definition exists and holding it would not
        make a definition contain itself."""
        if name not in self._root._blocks:
            known = ", ".join(sorted(self._root._blocks)) or "none yet"
            raise ParamError(
                "block", f"no block definition named {quoted(name)} (defined: {known})", node_id
            )
        owner = self._owner
        if owner is not None and name == owner:
            raise ParamError("block", f"block {owner} cannot contain itself", node_id)
        if owner is not None and owner in self._root.blocks_within(name):
            raise ParamError(
                "block", f"block {owner} cannot contain {name}, which contains {owner}", node_id
            )

    def blocks_within(self, name: str) -> set[str]:
        """Every definition block ``name`` contains, directly or through other blocks."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            d = self._root._blocks.get(stack.pop())
            if d is None:
                continue
            for used in d.uses():
                if used not in seen:
                    seen.add(used)
                    stack.append(used)
        return seen

    def _check_wires_fit(self, node_id: str, d: BlockDef, graph: Graph | None = None) -> None:
        """The instance's wires all end on ports ``d`` has."""
        graph = graph or self
        node = graph.node(node_id)
        ins, outs = set(d.inputs), set(d.outputs)
        for e in graph.in_edges(node_id):
            if e.dst_port not in ins:
                raise BlockError(
                    f"{node.label}: block {d.name} has no input {e.dst_port!r} for its wire",
                    node_id,
                    d.name,
                )
        for e in graph.out_edges(node_id):
            if e.src_port not in outs:
                raise BlockError(
                    f"{node.label}: block {d.name} has no output {e.src_port!r} for its wire",
                    node_id,
                    d.name,
                )

    def check_block_name(self, name: Any, *, new: bool = True) -> str:
        """Raise ``BlockError`` unless ``name`` can name a (new) block definition: a Python
        class name that is not a keyword or builtin, not the model's class name, not taken."""
        if not isinstance(name, str) or re.fullmatch(BLOCK_NAME, name) is None:
            raise BlockError(f"block name {quoted(name)}: use {BLOCK_NAME_HINT}", name=str(name))
        if keyword.iskeyword(name) or hasattr(builtins, name) or name in ("Module", "Tensor"):
            raise BlockError(
                f"block name {quoted(name)} is a Python or torch name; choose another", name=name
            )
        if name == self._root.settings["model_name"]:
            raise BlockError(
                f"block name {quoted(name)} is the model's class name "
                "(settings.model_name); choose another",
                name=name,
            )
        if new and name in self._root._blocks:
            raise BlockError(f"there is already a block named {name}", name=name)
        return name

    def _body_graph(self, name: str | None, body: Graph | dict[str, Any]) -> Graph:
        """A fresh body for definition ``name``, validated like a project file's block."""
        from torchcanvas.graph.serialize import body_from_dict, body_to_dict

        if isinstance(body, Graph):
            body = body_to_dict(body)
        return body_from_dict(self._root, name, body, f"blocks.{name}")

    def _instances(self, name: str) -> list[tuple[Graph, str]]:
        """Every instance of ``name``: (the graph holding it, node id), the document first."""
        root = self._root
        out = [
            (root, n.id) for n in root.nodes() if n.kind == "block" and n.params["block"] == name
        ]
        for other in sorted(root._blocks):
            body = root._blocks[other].graph
            out += [
                (body, n.id)
                for n in body.nodes()
                if n.kind == "block" and n.params["block"] == name
            ]
        return out

    # ------------------------------------------------------------------ blocks: queries
    def block_users(self, name: str) -> list[str]:
        """Ids of the instances of ``name`` in this graph (bodies of other blocks excluded)."""
        return [n.id for n in self.nodes() if n.kind == "block" and n.params["block"] == name]

    def block_dependents(self, name: str) -> list[str]:
        """Definitions whose bodies hold an instance of ``name``, sorted."""
        return sorted(other for other, d in self._root._blocks.items() if name in d.uses())

    def used_blocks(self) -> list[str]:
        """Definitions this graph needs (nested ones included), nested first, then by name:
        the order their classes are written in model.py."""
        needed: set[str] = set()
        for n in self.nodes():
            if n.kind == "block":
                needed.add(n.params["block"])
                needed |= self._root.blocks_within(n.params["block"])
        return self._root._block_order(needed)

    def _block_order(self, names: Iterable[str]) -> list[str]:
        names = set(names)
        order: list[str] = []
        placed: set[str] = set()
        while len(placed) < len(names):
            ready = sorted(n for n in names - placed if self._blocks[n].uses() & names <= placed)
            if not ready:  # pragma: no cover - recursion is refused on every way in
                raise BlockError("block definitions contain each other")
            order.extend(ready)
            placed.update(ready)
        return order

    def scratch_body(self, name: str | None = None) -> Graph:
        """An editable copy of block ``name``'s body (or an empty body for a new block), which
        resolves nested blocks through this document. Commit it with ``replace_block_def`` (or
        ``add_block_def``)."""
        if name is None:
            return Graph._new_body(self._root, None)
        body = self._body_graph(name, self.block(name).graph)
        body._frozen = False
        return body

    # ------------------------------------------------------------------ blocks: mutations
    def _register(self, d: BlockDef) -> None:
        d.graph._frozen = True
        self._root._blocks[d.name] = d

    def add_block_def(self, name: str, body: Graph | dict[str, Any]) -> BlockDef:
        """Add a definition from a body (a ``Graph`` from ``scratch_body``, or the file's
        ``{"nodes": ..., "edges": ...}``); raises ``InvalidProjectError`` naming the bad field
        (``blocks.Name.nodes.n2.params.out_features``) or ``BlockError`` for the name."""
        name = self.check_block_name(name)
        d = BlockDef(name, self._body_graph(name, body))
        self._register(d)
        self._root._emit(GraphEvent("block_added", name=name))
        return d

    def replace_block_def(self, name: str, body: Graph | dict[str, Any]) -> BlockDef:
        """Give definition ``name`` a new body. Every instance keeps its wires, so each wired
        port must still exist (else ``BlockError`` naming the instance)."""
        old = self.block(name)
        d = BlockDef(name, self._body_graph(name, body))
        for graph, nid in self._instances(name):
            self._check_wires_fit(nid, d, graph)
        old.graph._frozen = False
        self._register(d)
        self._root._emit(GraphEvent("block_changed", name=name))
        return d

    def remove_block_def(self, name: str) -> None:
        """Delete an unused definition (``BlockError`` naming an instance while one is left)."""
        self.block(name)
        users = self._instances(name)
        if users:
            graph, nid = users[0]
            where = "" if graph is self._root else f" in block {graph._owner}"
            raise BlockError(
                f"block {name} is still used by {graph.node(nid).label}{where}; "
                "delete or expand its instances first",
                nid,
                name,
            )
        del self._root._blocks[name]
        self._root._emit(GraphEvent("block_removed", name=name))

    def rename_block_def(self, old: str, new: str) -> None:
        """Rename a definition and point every instance at the new name."""
        d = self.block(old)
        if new == old:
            return
        self.check_block_name(new)
        root = self._root
        users = self._instances(old)
        items = [((new if k == old else k), v) for k, v in root._blocks.items()]
        root._blocks.clear()  # in place: views from ``blocks`` stay live
        root._blocks.update(items)
        d.name = new
        d.graph._owner = new
        for graph, nid in users:
            graph._nodes[nid].params["block"] = new
        root._emit(GraphEvent("block_renamed", old=old, new=new))
        for graph, nid in users:
            if graph is root:
                root._emit(GraphEvent("param_changed", nid, name="block", old=old, new=new))

    def collapse(self, node_ids: Iterable[str], name: str) -> str:
        """Replace the selected model nodes by one instance of a new block ``name``.

        Each distinct outside value wired into the selection becomes an ``io.Input`` (x, or
        x1, x2, ...), each selected value used outside (or a selected node's output that
        nothing uses, which the model returned) an ``io.Output`` (out, or out1, ...). The
        instance sits at the selection's centre, wired to the same outside nodes. Returns its
        id. Refused, changing nothing, when a path leaves the selection and comes back
        (``SelectionCycleError``), or a node is not a layer, op or block (``BlockError``).
        """
        self._check_mutable()
        ids = sorted(dict.fromkeys(node_ids), key=_id_key)
        if not ids:
            raise BlockError("select the nodes to put in the block")
        for nid in ids:
            node = self.node(nid)
            if node.kind not in MODEL_NODE_KINDS:
                what = "unknown node type" if node.is_placeholder else f"a {node.kind} node"
                raise BlockError(
                    f"{node.label} is {what}; only layers, ops and blocks go into a block", nid
                )
        name = self.check_block_name(name)
        sel = set(ids)
        after = set().union(*(nx.descendants(self._g, s) for s in sel)) - sel
        via = sorted((o for o in after if nx.descendants(self._g, o) & sel), key=_id_key)
        if via:
            labels = ", ".join(self.node(o).label for o in via)
            raise SelectionCycleError(
                f"cannot collapse: {labels} lies on a path that leaves the selection and comes "
                "back into it; add it to the selection or leave out the nodes after it",
                via,
            )

        order = self.topological_order(sel)
        inputs: dict[Value, list[tuple[str, str]]] = {}  # outside value → selected consumers
        outputs: dict[Value, list[Edge]] = {}  # selected value → wires leaving the selection
        for nid in order:
            for port in self.input_ports(nid):
                for e in self.in_edges(nid):
                    if e.dst_port == port.name and e.src not in sel:
                        inputs.setdefault((e.src, e.src_port), []).append((nid, e.dst_port))
            out_edges = self.out_edges(nid)
            for port in self.output_ports(nid):
                leaving = [e for e in out_edges if e.src_port == port.name and e.dst not in sel]
                if leaving or not out_edges:
                    outputs[(nid, port.name)] = leaving
        in_names = _io_names("x", len(inputs))
        out_names = _io_names("out", len(outputs))

        body = Graph._new_body(self._root, name)
        for nid in ids:
            n = self.node(nid)
            body.add_node(n.type_id, n.params, label=n.label, pos=n.pos, node_id=nid)
        for e in self.edges():
            if e.src in sel and e.dst in sel:
                body.connect(e.src, e.src_port, e.dst, e.dst_port)
        # the block's inputs before their consumers along the flow, its outputs after
        down = self._root.settings.get("flow") == "TB"
        for i, (io_name, consumers) in enumerate(zip(in_names, inputs.values(), strict=True)):
            xs = [body.node(c).pos for c, _ in consumers]
            if down:
                pos = (sum(p[0] for p in xs) / len(xs) + 180.0 * i, min(p[1] for p in xs) - 110.0)
            else:
                pos = (min(p[0] for p in xs) - 240.0, sum(p[1] for p in xs) / len(xs))
            io = body.add_node("io.Input", {"name": io_name}, label=io_name, pos=pos)
            for c, port in consumers:
                body.connect(io, "out", c, port)
        for i, (io_name, (src, port)) in enumerate(zip(out_names, outputs, strict=True)):
            x, y = body.node(src).pos
            pos = (x + 180.0 * i, y + 110.0) if down else (x + 240.0, y)
            io = body.add_node("io.Output", {"name": io_name}, label=io_name, pos=pos)
            body.connect(src, port, io, "x")

        centre = _centre(self.node(n).pos for n in ids)
        with self._transaction():
            self._register(BlockDef(name, body))
            self._root._emit(GraphEvent("block_added", name=name))
            for nid in ids:
                self.remove_node(nid)
            inst = self.add_node("block", {"block": name}, pos=centre)
            for io_name, (src, port) in zip(in_names, inputs, strict=True):
                self.connect(src, port, inst, io_name)
            for io_name, leaving in zip(out_names, outputs.values(), strict=True):
                for e in leaving:
                    self.connect(inst, io_name, e.dst, e.dst_port)
        return inst

    def expand(self, instance_id: str) -> list[str]:
        """Replace a block instance by a copy of its definition's nodes, wired to the outside
        as the instance was; returns the new node ids (inner ids are kept where free). The
        definition is removed when no instance of it is left."""
        self._check_mutable()
        node = self.node(instance_id)
        if node.kind != "block":
            raise BlockError(f"{node.label} is not a block", instance_id)
        d = self.block(node.params["block"])
        body = d.graph
        wired_in = {e.dst_port: (e.src, e.src_port) for e in self.in_edges(instance_id)}
        wired_out: dict[str, list[tuple[str, str]]] = {}
        for e in self.out_edges(instance_id):
            wired_out.setdefault(e.src_port, []).append((e.dst, e.dst_port))
        inner = [n for n in body.nodes() if n.kind != "io"]
        io_name = {n.id: n.params["name"] for n in body.nodes() if n.kind == "io"}
        shift = (0.0, 0.0)
        if inner:
            cx, cy = _centre(n.pos for n in inner)
            shift = (node.pos[0] - cx, node.pos[1] - cy)

        with self._transaction():
            self.remove_node(instance_id)
            taken = {n.label for n in self._nodes.values()}
            new_ids: dict[str, str] = {}
            for n in inner:
                nid = n.id if n.id not in self._nodes else self.new_id()
                label = _free_label(n.label, taken)
                taken.add(label)
                pos = (n.pos[0] + shift[0], n.pos[1] + shift[1])
                if n.is_placeholder:
                    self.add_placeholder(nid, n.type_id, label, n.params, pos, n.placeholder_ports)
                else:
                    self.add_node(n.type_id, n.params, label=label, pos=pos, node_id=nid)
                new_ids[n.id] = nid

            def outer(value: Value) -> Value | None:
                src, port = value
                if src in io_name:  # an input passed straight through
                    return wired_in.get(io_name[src])
                return new_ids[src], port

            for e in body.edges():
                dst_io = body.node(e.dst).kind == "io"
                src = outer((e.src, e.src_port))
                if src is None:
                    continue
                targets = (
                    wired_out.get(io_name[e.dst], []) if dst_io else [(new_ids[e.dst], e.dst_port)]
                )
                for dst, dst_port in targets:
                    self.connect(src[0], src[1], dst, dst_port)
            if not self._is_body and not self._instances(d.name):
                self.remove_block_def(d.name)
        return list(new_ids.values())

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> dict[str, Any]:
        """The whole document as the file's JSON-able dict (for undo of macro edits)."""
        from torchcanvas.graph.serialize import to_dict

        if self._is_body:
            raise BlockError("snapshot() is for the document, not a block body")
        return copy.deepcopy(to_dict(self))

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the whole document by ``data`` (a ``snapshot``, or a parsed project file),
        validated first; listeners keep listening and get one ``GraphEvent("reset")``."""
        from torchcanvas.graph.serialize import from_dict

        self._check_mutable()
        if self._is_body:
            raise BlockError("restore() is for the document, not a block body")
        new = from_dict(copy.deepcopy(data))
        self._adopt(new)
        self._emit(GraphEvent("reset"))

    def _adopt(self, new: Graph) -> None:
        self._g, self._nodes, self._counter = new._g, new._nodes, new._counter
        self._in, self._out = new._in, new._out
        self._structure += 1  # a new structure: cached orders and indexes are stale
        self._topo = None
        self.settings, self._blocks = new.settings, new._blocks
        self.sweep = new.sweep
        for d in self._blocks.values():
            d.graph._root = self

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Run a composite edit: when a step fails (which validation should have ruled out),
        put the document back as it was and re-raise."""
        before = self.snapshot() if not self._is_body else None
        try:
            yield
        except BaseException:
            if before is not None:
                from torchcanvas.graph.serialize import from_dict

                self._adopt(from_dict(before))
                self._emit(GraphEvent("reset"))
            raise

    # ------------------------------------------------------------------ helpers
    def nodes_of_kind(self, *kinds: str) -> list[Node]:
        """The nodes of these kinds, sorted by id. This runs several times per edit (the
        training plan, the problems list), so the nodes are indexed by kind, kept until a node
        is added or removed (a node's type never changes in place)."""
        if self._kinds is None or self._kinds[0] != self._structure:
            index: dict[str, list[Node]] = {}
            for nid in self._sorted_ids():
                node = self._nodes[nid]
                index.setdefault(node.kind, []).append(node)
            self._kinds = (self._structure, index)
        index = self._kinds[1]
        if len(kinds) == 1:
            return list(index.get(kinds[0], ()))
        return sorted(
            (n for k in set(kinds) for n in index.get(k, ())), key=lambda n: _id_key(n.id)
        )

    def iter_params(self) -> Iterator[tuple[Node, str, Any]]:
        for n in self.nodes():
            for k, v in n.params.items():
                yield n, k, v

    def copy(self) -> Graph:
        """A deep copy with no listeners (e.g. the snapshot a training run uses)."""
        from torchcanvas.graph.serialize import from_dict, to_dict

        return from_dict(to_dict(self))


_ORIGIN_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def validate_origin(origin: Any) -> str:
    """A module path such as ``layer1.0.conv1`` (names and indices joined by dots)."""
    if not isinstance(origin, str) or len(origin) > 1000 or not _ORIGIN_RE.fullmatch(origin):
        raise ParamError("origin", "must be a module path such as 'layer1.0.conv1'")
    return origin


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control_chars(text: str) -> bool:
    """Tabs, line breaks or other control characters: what a one-line label cannot hold."""
    return _CONTROL.search(text) is not None


def duplicate_labels(graph: Graph) -> dict[str, list[str]]:
    """The labels more than one node holds (a project file made elsewhere may), each with its
    nodes' ids in id order. The editor never makes one: new, pasted and renamed nodes get a
    free label."""
    by_label: dict[str, list[str]] = {}
    for node in graph.nodes():
        by_label.setdefault(node.label, []).append(node.id)
    return {label: ids for label, ids in by_label.items() if len(ids) > 1}


def validate_label(label: Any) -> str:
    """The label as stored: trimmed, on one line (a tab or line break, e.g. in a file made
    by hand, reads as a space). Raises ``ParamError`` for an empty, too long or non-text
    label."""
    if not isinstance(label, str) or not label.strip():
        raise ParamError("label", "a node label cannot be empty")
    if not is_utf8(label):
        raise ParamError("label", "a node label must be valid Unicode text (no lone surrogates)")
    if len(label) > 80:
        raise ParamError("label", "a node label is at most 80 characters")
    if has_control_chars(label):
        label = re.sub(r"\s+", " ", _CONTROL.sub(" ", label))
        if not label.strip():
            raise ParamError("label", "a node label cannot be empty")
    return label.strip()


def _a(kind: str) -> str:
    """A node kind with its article: "a layer", "an optimizer"."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _find_port(ports: tuple[PortSpec, ...], name: str) -> PortSpec | None:
    return next((p for p in ports if p.name == name), None)


def _check_new_id(graph: Graph, node_id: Any) -> None:
    if not is_valid_node_id(node_id):
        raise ValueError(f"node id {quoted(node_id)}: use 1-64 letters, digits, '_', '-' or '.'")
    if node_id in graph:
        raise ValueError(f"node id {quoted(node_id)} is already used")


def is_utf8(text: str) -> bool:
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


def _io_names(base: str, count: int) -> list[str]:
    """``x`` for one, ``x1, x2, ...`` for several."""
    return [base] if count == 1 else [f"{base}{i}" for i in range(1, count + 1)]


def _centre(points: Iterable[tuple[float, float]]) -> tuple[float, float]:
    pts = list(points)
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


def _free_label(label: str, taken: set[str]) -> str:
    """``label``, or when taken the same base with the smallest free number (conv1 → conv2)."""
    if label not in taken:
        return label
    base = re.sub(r"_?\d+$", "", label) or "node"
    k = 1
    while f"{base}{k}" in taken:
        k += 1
    return f"{base}{k}"
