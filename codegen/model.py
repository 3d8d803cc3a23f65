"""Graph → model IR → model.py source.

The model is every layer and op node. Its inputs are the data ports wired into it (``x``), its
outputs the values wired out of it (into losses), or its sinks when nothing consumes them. The
forward is written in a deterministic topological order (ties broken by node id), reusing a
variable name along a chain the way a person would (``x = self.conv1(x)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchcanvas.codegen.emit import CodegenError, doc_text, forward_expr, module_ctor
from torchcanvas.codegen.names import Namespace, camel
from torchcanvas.graph.document import Graph, Node

MODEL_KINDS = ("layer", "op")
Value = tuple[str, str]  # (node id, output port)


@dataclass(frozen=True)
class LayerDef:
    attr: str
    node_id: str
    ctor: str


@dataclass(frozen=True)
class Step:
    target: str
    expr: str
    node_id: str


@dataclass
class ModelIR:
    class_name: str
    inputs: list[tuple[str, Value]]  # forward argument name, and the data port it comes from
    layers: list[LayerDef]
    steps: list[Step]
    outputs: list[tuple[str, Value]]  # returned variable, and the value it holds
    names: dict[Value, str] = field(default_factory=dict)  # every value's variable name
    attrs: dict[str, str] = field(default_factory=dict)  # node id → attribute name

    @property
    def output_values(self) -> list[Value]:
        return [v for _, v in self.outputs]


@dataclass
class GeneratedModel:
    source: str
    ir: ModelIR
    line_map: dict[int, str]  # 1-based line → node id

    def lines_of(self, node_id: str) -> list[int]:
        return sorted(line for line, nid in self.line_map.items() if nid == node_id)


def model_nodes(graph: Graph) -> list[Node]:
    """The nodes that make up the network, in forward order."""
    ids = {n.id for n in graph.nodes() if n.kind in MODEL_KINDS or n.is_placeholder}
    return [graph.node(i) for i in graph.topological_order(ids)]


def build_ir(graph: Graph, resolved: dict[str, dict[str, Any]] | None = None) -> ModelIR:
    """Lower the graph to the model IR. ``resolved`` holds params with ``auto`` filled in."""
    resolved = resolved or {}
    nodes = model_nodes(graph)
    in_model = {n.id for n in nodes}
    for n in nodes:
        if n.is_placeholder:
            raise CodegenError(f"{n.label}: unknown node type {n.type_id!r}; replace or remove "
                               "it", n.id)
    if not nodes:
        raise CodegenError("the graph has no layers yet: add a layer between data and loss")

    attrs = Namespace()
    local = Namespace()
    ir = ModelIR(camel(graph.settings["model_name"]), [], [], [], [])

    # forward arguments: data ports feeding the model, in node/port order
    for n in nodes:
        for e in graph.in_edges(n.id):
            value = (e.src, e.src_port)
            if e.src not in in_model and value not in ir.names:
                ir.names[value] = local.name(e.src_port, key=value, fallback="x")
                ir.inputs.append((ir.names[value], value))
    if not ir.inputs:
        raise CodegenError("the model has no input: wire a data node's x into the first layer",
                           nodes[0].id)

    # uses of every value: model consumers, plus one for being returned
    uses: dict[Value, int] = {}
    outputs: list[Value] = []
    for n in nodes:
        for e in graph.in_edges(n.id):
            uses[(e.src, e.src_port)] = uses.get((e.src, e.src_port), 0) + 1
        consumed_outside = False
        for e in graph.out_edges(n.id):
            if e.dst not in in_model and (n.id, e.src_port) not in outputs:
                outputs.append((n.id, e.src_port))
                consumed_outside = True
        if not consumed_outside and not graph.out_edges(n.id):
            outputs.extend((n.id, p.name) for p in graph.output_ports(n.id))
    for v in outputs:
        uses[v] = uses.get(v, 0) + 1

    for n in nodes:
        spec = n.spec
        assert spec is not None
        params = {**n.params, **resolved.get(n.id, {})}
        inputs: dict[str, str] = {}
        for port in spec.inputs:
            e = graph.input_edge(n.id, port.name)
            if e is None:
                if not port.optional:
                    raise CodegenError(f"{n.label}: input {port.name!r} is not connected", n.id)
                continue
            inputs[port.name] = ir.names[(e.src, e.src_port)]
        attr = None
        if spec.kind == "layer":
            attr_name = attrs.name(n.label, key=n.id, fallback=spec.label_base)
            ir.attrs[n.id] = attr_name
            ir.layers.append(LayerDef(attr_name, n.id, module_ctor(spec, params, n.id)))
            attr = f"self.{attr_name}"
        expr = forward_expr(spec, params, inputs, attr, n.id)
        # reuse the input's name when this node is its last use and takes only that input
        target = None
        in_edges = graph.in_edges(n.id)
        if len(in_edges) == 1:
            src = (in_edges[0].src, in_edges[0].src_port)
            uses[src] -= 1
            if uses[src] == 0:
                target = ir.names[src]
        else:
            for e in in_edges:
                uses[(e.src, e.src_port)] -= 1
        if target is None:
            target = local.name(n.label, key=("node", n.id), fallback=spec.label_base)
        for port in spec.outputs:
            ir.names[(n.id, port.name)] = target
        ir.steps.append(Step(target, expr, n.id))

    ir.outputs = [(ir.names[v], v) for v in outputs]
    return ir


# ---------------------------------------------------------------------------- printing
MAX_LINE = 99


def wrap(prefix: str, expr: str, indent: str) -> list[str]:
    """``prefix + expr`` on one line, or the call's arguments one per line when too long."""
    line = f"{indent}{prefix}{expr}"
    if len(line) <= MAX_LINE:
        return [line]
    head, args = _split_call(expr)
    if head is None:
        return [line]
    inner = indent + "    "
    return [f"{indent}{prefix}{head}("] + [f"{inner}{a}," for a in args] + [f"{indent})"]


def _split_call(expr: str) -> tuple[str | None, list[str]]:
    """Split ``f(a, b=(1, 2))`` into ``f`` and its top-level arguments."""
    if not expr.endswith(")") or "(" not in expr:
        return None, []
    start = expr.index("(")
    depth, args, cur, quote = 0, [], [], None
    for ch in expr[start + 1 : -1]:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        args.append("".join(cur).strip())
    return expr[:start], args


def print_model(ir: ModelIR, title: str = "") -> GeneratedModel:
    lines: list[str] = []
    line_map: dict[int, str] = {}

    def emit(text: str, node_id: str | None = None) -> None:
        lines.append(text)
        if node_id:
            line_map[len(lines)] = node_id

    def emit_all(texts: list[str], node_id: str) -> None:
        for t in texts:
            emit(t, node_id)

    uses_torch = any("torch." in s.expr for s in ir.steps)
    doc = f"{ir.class_name}: {title}" if title else ir.class_name
    emit(f'"""{doc_text(doc)} (model generated by torchcanvas)."""')
    emit("")
    if uses_torch:
        emit("import torch")
    emit("from torch import nn")
    emit("")
    emit("")
    emit(f"class {ir.class_name}(nn.Module):")
    emit("    def __init__(self) -> None:")
    emit("        super().__init__()")
    for layer in ir.layers:
        emit_all(wrap(f"self.{layer.attr} = ", layer.ctor, "        "), layer.node_id)
    emit("")
    args = ", ".join(name for name, _ in ir.inputs)
    emit(f"    def forward(self, {args}):")
    for step in ir.steps:
        emit_all(wrap(f"{step.target} = ", step.expr, "        "), step.node_id)
    returned = [name for name, _ in ir.outputs]
    emit(f"        return {', '.join(returned)}")
    return GeneratedModel("\n".join(lines) + "\n", ir, line_map)




def generate_model(graph: Graph, resolved: dict[str, dict[str, Any]] | None = None,
                   title: str = "") -> GeneratedModel:
    return print_model(build_ir(graph, resolved), title)
