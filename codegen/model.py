"""Graph → model IR → model.py source.

The model is every layer and op node. Its inputs are the data ports wired into it (``x``), its
outputs the values wired out of it (into losses), or its sinks when nothing consumes them. The
forward is written in a deterministic topological order (ties broken by node id), reusing a
variable name along a chain the way a person would (``x = self.conv1(x)``).

Blocks: every block definition the model uses becomes its own ``nn.Module`` class, written
before the main class (nested blocks first, then by name), lowered by the same code: its
forward arguments are the io.Input names and it returns the values wired into its io.Output
nodes. An instance is an attribute (``self.block1 = ResidualBlock()``) called like a layer
(``a, b = self.block1(x)`` for several outputs). Params inside a block are resolved per
definition: ``resolved[block_key(name, inner_id)]``. Lines of a block's class map to the first
instance that uses it (``line_map``); ``block_lines`` keeps (block name, inner node id).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from torchcanvas.codegen.backbone import FROZEN_BN_TRAIN, backbone_code
from torchcanvas.codegen.code import (
    check_imports,
    import_block,
    module_init,
    source_chunks,
    tensor_init,
)
from torchcanvas.codegen.emit import (
    CodegenError,
    doc_text,
    first_output,
    forward_expr,
    module_ctor,
    returns_target,
    unpacked_call,
)
from torchcanvas.codegen.names import RESERVED, Namespace, camel
from torchcanvas.codegen.origins import HOOK, HOOK_LINES, MAPPING, REGISTER, mapping_lines, renames
from torchcanvas.codegen.style import module_support
from torchcanvas.graph.document import Graph, Node, block_key

MODEL_KINDS = ("layer", "op", "block", "code")
Value = tuple[str, str]  # (node id, output port)


@dataclass(frozen=True)
class LayerDef:
    attr: str
    node_id: str
    ctor: str
    kind: str = ""  # what the docstring counts it as, when not the constructor's name


@dataclass(frozen=True)
class Step:
    target: str
    expr: str
    node_id: str


@dataclass(frozen=True)
class Helper:
    """A module-level function written before the classes (a backbone's build function)."""

    node_id: str
    lines: list[str]
    loads_weights: bool = False
    freezes: bool = False


@dataclass
class ModelIR:
    class_name: str
    inputs: list[tuple[str, Value]]  # forward argument name, and the data port it comes from
    layers: list[LayerDef]
    steps: list[Step]
    outputs: list[tuple[str, Value]]  # returned variable, and the value it holds
    names: dict[Value, str] = field(default_factory=dict)  # every value's variable name
    attrs: dict[str, str] = field(default_factory=dict)  # node id → attribute name
    blocks: list[ModelIR] = field(default_factory=list)  # block classes, in print order
    block: str | None = None  # for a block class: its definition's name
    owner: str | None = None  # for a block class: the instance its lines map to
    helpers: list[Helper] = field(default_factory=list)  # functions its layers are built with
    imports: list[str] = field(default_factory=list)  # import lines code nodes need
    sources: list[tuple[str, str]] = field(default_factory=list)  # (code, code node id)
    origins: dict[str, str] = field(default_factory=dict)  # imported module path → attribute

    @property
    def output_values(self) -> list[Value]:
        return [v for _, v in self.outputs]


@dataclass
class GeneratedModel:
    source: str
    ir: ModelIR
    line_map: dict[int, str]  # 1-based line → node id (lines of a block class: its instance)
    block_lines: dict[int, tuple[str, str]] = field(default_factory=dict)
    # 1-based line of a block class → (block name, node id inside the definition)
    title: str = ""  # the project's name in the docstring

    def lines_of(self, node_id: str) -> list[int]:
        return sorted(line for line, nid in self.line_map.items() if nid == node_id)


def model_nodes(graph: Graph) -> list[Node]:
    """The nodes that make up the network, in forward order."""
    ids = {n.id for n in graph.nodes() if n.kind in MODEL_KINDS or n.is_placeholder}
    return [graph.node(i) for i in graph.topological_order(ids)]


def build_ir(graph: Graph, resolved: dict[str, dict[str, Any]] | None = None) -> ModelIR:
    """Lower the graph to the model IR. ``resolved`` holds params with ``auto`` filled in, by
    node id, and by ``block_key(name, node_id)`` for nodes inside block definitions."""
    resolved = resolved or {}
    functions = Namespace(RESERVED | {"models", MAPPING, HOOK})  # shared by all classes
    ir = _lower(graph, resolved, camel(graph.settings["model_name"]), None, functions)
    owners: dict[str, str] = {}  # block name → first top-level instance using it
    for step in ir.steps:
        n = graph.node(step.node_id)
        if n.kind == "block":
            used = n.params["block"]
            for name in [used, *sorted(graph.blocks_within(used))]:
                owners.setdefault(name, n.id)
    for name in graph.used_blocks():
        body = graph.block(name).graph
        owner = graph.node(owners[name])
        try:
            block_ir = _lower(body, resolved, name, name, functions)
        except CodegenError as exc:
            msg = str(exc)
            if exc.node_id in body:
                label = body.node(exc.node_id).label
                if not msg.startswith(f"{label}:"):
                    msg = f"{label}: {msg}"
            raise CodegenError(f"{owner.label} › {msg}", owner.id, exc.param) from None
        block_ir.owner = owner.id
        ir.blocks.append(block_ir)
    return ir


def _lower(
    graph: Graph,
    resolved: dict[str, dict[str, Any]],
    class_name: str,
    block: str | None,
    functions: Namespace,
) -> ModelIR:
    """One class: the document's model (``block`` None) or a block definition's body."""
    nodes = model_nodes(graph)
    in_model = {n.id for n in nodes}
    for n in nodes:
        if n.is_placeholder:
            raise CodegenError(
                f"{n.label}: unknown node type {n.type_id!r}; replace or remove it", n.id
            )
    if not nodes and block is None:
        raise CodegenError("the graph has no layers yet: add a layer between data and loss")

    attrs = Namespace()
    local = Namespace()
    ir = ModelIR(class_name, [], [], [], [], block=block)
    definition = graph.block(block) if block is not None else None

    if definition is not None:
        # forward arguments: the block's inputs, in port order
        for io in definition.io_nodes("input"):
            value = (io.id, "out")
            ir.names[value] = local.name(io.params["name"], key=value, fallback="x")
            ir.inputs.append((ir.names[value], value))
    else:
        # forward arguments: data ports feeding the model, in node/port order
        for n in nodes:
            for e in graph.in_edges(n.id):
                value = (e.src, e.src_port)
                if e.src not in in_model and value not in ir.names:
                    ir.names[value] = local.name(e.src_port, key=value, fallback="x")
                    ir.inputs.append((ir.names[value], value))
        if not ir.inputs:
            raise CodegenError(
                "the model has no input: wire a data node's x into the first layer", nodes[0].id
            )

    # uses of every value: model consumers, plus one for being returned
    uses: dict[Value, int] = {}
    outputs: list[Value] = []
    for n in nodes:
        for e in graph.in_edges(n.id):
            uses[(e.src, e.src_port)] = uses.get((e.src, e.src_port), 0) + 1
        if definition is not None:
            continue
        consumed_outside = False
        for e in graph.out_edges(n.id):
            if e.dst not in in_model and (n.id, e.src_port) not in outputs:
                outputs.append((n.id, e.src_port))
                consumed_outside = True
        if not consumed_outside and not graph.out_edges(n.id):
            ports = graph.output_ports(n.id)
            if n.spec is not None and n.spec.returns is not None:
                ports = ports[:1]  # a layer's extra values (LSTM's h and c): only when wired
            outputs.extend((n.id, p.name) for p in ports)
    if definition is not None:
        ios = definition.io_nodes("output")
        if not ios:
            raise CodegenError(f"block {block} has no output: add an io.Output node")
        for io in ios:
            e = graph.input_edge(io.id, "x")
            if e is None:
                raise CodegenError(
                    f"{io.label}: block output {io.params['name']!r} is not connected", io.id
                )
            outputs.append((e.src, e.src_port))
    for v in outputs:
        uses[v] = uses.get(v, 0) + 1

    unpacked: set[str] = set()
    for n in nodes:
        spec = n.spec
        assert spec is not None
        key = n.id if block is None else block_key(block, n.id)
        params = {**n.params, **resolved.get(key, {})}
        inputs: dict[str, str] = {}
        for port in graph.input_ports(n.id):
            e = graph.input_edge(n.id, port.name)
            if e is None:
                if not port.optional:
                    raise CodegenError(f"{n.label}: input {port.name!r} is not connected", n.id)
                continue
            inputs[port.name] = ir.names[(e.src, e.src_port)]
        out_ports = [p.name for p in graph.output_ports(n.id)]
        attr = None
        code_module = spec.kind == "code" and spec.extra["code"] in ("module", "tensor")
        if spec.kind == "code":
            ir.imports += [
                i for i in check_imports(params.get("imports"), n.id) if i not in ir.imports
            ]
            text = (params.get("source") or "").strip("\n")
            for chunk in source_chunks(text) if text else ():
                if all(chunk != t for t, _ in ir.sources):
                    ir.sources.append((chunk, n.id))
        if spec.kind in ("layer", "block") or code_module:
            attr_name = attrs.name(n.label, key=n.id, fallback=spec.label_base)
            ir.attrs[n.id] = attr_name
            attr = f"self.{attr_name}"
            if n.origin is not None and block is None:
                ir.origins.setdefault(n.origin, attr_name)
        if spec.kind == "layer" and spec.extra.get("backbone"):
            func = functions.name(f"build_{attr_name}", key=(block, n.id), fallback="build")
            code = backbone_code(func, params, n.id, n.label)
            ir.helpers.append(Helper(n.id, code.lines, code.loads_weights, code.frozen))
            if any("Path(__file__)" in line for line in code.lines):
                ir.imports += [i for i in ["from pathlib import Path"] if i not in ir.imports]
            ir.layers.append(LayerDef(attr_name, n.id, f"{func}()"))
        elif spec.kind == "layer":
            ir.layers.append(LayerDef(attr_name, n.id, module_ctor(spec, params, n.id)))
        if code_module:
            init = (
                module_init(params, n.id) if spec.extra["code"] == "module" else tensor_init(params)
            )
            # an imported module built by a helper function (``build_gate()``) is counted
            # under its class's name
            title = params.get("title") if spec.extra["code"] == "module" else None
            kind = title if isinstance(title, str) and title.isidentifier() else ""
            ir.layers.append(LayerDef(attr_name, n.id, init, kind))
        if spec.kind == "block":
            name = n.params["block"]
            ir.layers.append(LayerDef(attr_name, n.id, f"{name}()"))
            if not out_ports:
                raise CodegenError(f"{n.label}: block {name} has no output", n.id)
            expr = f"{attr}({', '.join(inputs[p.name] for p in graph.input_ports(n.id))})"
        else:
            expr = forward_expr(spec, params, inputs, attr, n.id)
        # a layer returning several values, of which more than the first is used: unpacked
        unpack = spec.returns is not None and any(uses.get((n.id, p), 0) for p in out_ports[1:])
        single = len(out_ports) == 1 or (spec.returns is not None and not unpack)
        # reuse the input's name when this node is its last use and takes only that input
        target = None
        in_edges = graph.in_edges(n.id)
        if len(in_edges) == 1:
            src = (in_edges[0].src, in_edges[0].src_port)
            uses[src] -= 1
            # (not a layer's named output such as vgg_relu1_2: that name says what it holds)
            if uses[src] == 0 and single and ir.names[src] not in unpacked:
                target = ir.names[src]
        else:
            for e in in_edges:
                uses[(e.src, e.src_port)] -= 1
        if unpack:
            _unpack(ir, local, unpacked, n, params, inputs, attr, uses)
            continue
        if len(out_ports) > 1 and not single:  # a block with several outputs: unpack them
            targets = []
            for port in out_ports:
                if uses.get((n.id, port), 0):
                    ir.names[(n.id, port)] = local.name(
                        f"{n.label}_{port}", key=(n.id, port), fallback=spec.label_base
                    )
                    if spec.kind == "layer":  # named after what it is (vgg_relu1_2)
                        unpacked.add(ir.names[(n.id, port)])
                    targets.append(ir.names[(n.id, port)])
                else:
                    targets.append("_")
            ir.steps.append(Step(", ".join(targets), expr, n.id))
            continue
        if target is None:
            target = local.name(n.label, key=("node", n.id), fallback=spec.label_base)
        for port in out_ports:
            ir.names[(n.id, port)] = target
        ir.steps.append(Step(target, expr, n.id))

    ir.outputs = [(ir.names[v], v) for v in outputs]
    return ir


def _unpack(
    ir: ModelIR,
    local: Namespace,
    unpacked: set[str],
    n: Node,
    params: dict[str, Any],
    inputs: dict[str, str],
    attr: str | None,
    uses: dict[Value, int],
) -> None:
    """``out, (h, c) = self.lstm(x)``: one call of a layer returning several values, each used
    value named after the node (the first like a one-output node, the rest ``label_port``), the
    rest ``_``; then the first port's value when it is picked from them (``out = out[:, -1]``)."""
    spec = n.spec
    assert spec is not None and spec.returns is not None and attr is not None
    ports = [p.name for p in spec.outputs]
    first = ports[0]
    used = {p for p in ports if uses.get((n.id, p), 0)}
    pick = first_output(spec, params, {p: p for p in ports}) if first in used else None
    in_tuple = used - {first}
    if pick is not None:  # the ports the first one is picked from
        in_tuple |= set(re.findall(r"[A-Za-z_]\w*", pick)) & set(ports)
    else:
        in_tuple |= used & {first}
    names: dict[str, str] = {}
    for port in ports:
        if port not in in_tuple:
            continue
        if port == first:
            names[port] = local.name(n.label, key=("node", n.id), fallback=spec.label_base)
        else:
            names[port] = local.name(f"{n.label}_{port}", key=(n.id, port), fallback=port)
            unpacked.add(names[port])
        ir.names[(n.id, port)] = names[port]
    call = unpacked_call(spec, params, inputs, attr)
    ir.steps.append(Step(returns_target(spec.returns, names), call, n.id))
    if pick is not None:
        chosen = first_output(spec, params, names)
        assert chosen is not None
        target = names.get(first) or local.name(
            n.label, key=("node", n.id), fallback=spec.label_base
        )
        ir.names[(n.id, first)] = target
        ir.steps.append(Step(target, chosen, n.id))


# ---------------------------------------------------------------------------- printing
MAX_LINE = 99


def wrap(prefix: str, expr: str, indent: str) -> list[str]:
    """``prefix + expr`` on one line, or the call's arguments one per line when too long."""
    line = f"{indent}{prefix}{expr}"
    if len(line) <= MAX_LINE:
        return [line]
    head, args = _split_call(expr)
    inner = indent + "    "
    if head is None:
        parts = _split_operator(expr)
        if parts is None:
            return [line]
        # ruff's layout for a long binary expression: parenthesised, one operand per line
        left, op, right = parts
        return [f"{indent}{prefix}(", f"{inner}{left}", f"{inner}{op} {right}", f"{indent})"]
    return [f"{indent}{prefix}{head}("] + [f"{inner}{a}," for a in args] + [f"{indent})"]


def _scan(expr: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, str, int]]:
    """``(index, char, bracket depth before it)`` for the characters of ``expr[start:end]``
    outside string literals."""
    depth, quote = 0, None
    for i in range(start, len(expr) if end is None else end):
        ch = expr[i]
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            continue
        yield i, ch, depth
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1


def _split_operator(expr: str) -> tuple[str, str, str] | None:
    """``a / b`` split at its last top-level ``*``, ``/``, ``+`` or ``-`` (outside brackets and
    strings), or None."""
    found = None
    for i, ch, depth in _scan(expr):
        if depth == 0 and ch in "*/+-" and expr[i - 1 : i] == " " and expr[i + 1 : i + 2] == " ":
            found = i
    if found is None:
        return None
    return expr[:found].strip(), expr[found], expr[found + 1 :].strip()


def _closing(expr: str, start: int) -> int:
    """Index of the bracket closing the one at ``start`` (-1 when unbalanced)."""
    for i, ch, depth in _scan(expr, start):
        if ch in ")]}" and depth == 1:
            return i
    return -1


def _split_call(expr: str) -> tuple[str | None, list[str]]:
    """Split ``f(a, b=(1, 2))`` into ``f`` and its top-level arguments."""
    if not expr.endswith(")") or "(" not in expr:
        return None, []
    start = expr.index("(")
    if _closing(expr, start) != len(expr) - 1:  # ``f(a) / g(b)`` is not one call
        return None, []
    cuts = [i for i, ch, depth in _scan(expr, start + 1, len(expr) - 1) if ch == "," and depth == 0]
    bounds = [start, *cuts, len(expr) - 1]
    args = [expr[lo + 1 : hi].strip() for lo, hi in pairwise(bounds)]
    if args and not args[-1]:
        args.pop()
    return expr[:start], args


def print_model(ir: ModelIR, title: str = "") -> GeneratedModel:
    lines: list[str] = []
    line_map: dict[int, str] = {}
    block_lines: dict[int, tuple[str, str]] = {}

    def emit(text: str, node_id: str | None = None, cls: ModelIR = ir) -> None:
        lines.append(text)
        if cls.block is not None:  # a block's class: every line points at its instance
            line_map[len(lines)] = cls.owner
            if node_id:
                block_lines[len(lines)] = (cls.block, node_id)
        elif node_id:
            line_map[len(lines)] = node_id

    classes = [*ir.blocks, ir]
    helpers = [(c, h) for c in classes for h in c.helpers]
    loads = any(h.loads_weights for _, h in helpers)
    uses_torch = (
        loads
        or any("torch." in s.expr for c in classes for s in c.steps)
        or any("torch." in layer.ctor for c in classes for layer in c.layers)
    )
    support_imports, support = module_support(
        [layer.ctor.split("(", 1)[0] for c in classes for layer in c.layers]
    )
    for text in model_docstring(ir, title):
        emit(text)
    emit("")
    imports = {"from torch import nn", *support_imports, *(["import torch"] if uses_torch else [])}
    if helpers:
        imports.add("from torchvision import models")
    sources: list[tuple[str, str, ModelIR]] = []
    for cls in classes:
        imports.update(cls.imports)
        sources += [
            (text, nid, cls) for text, nid in cls.sources if all(text != t for t, _, _ in sources)
        ]
    for line in import_block(imports):
        emit(line)
    imports_end = len(lines)
    for i, (text, nid, cls) in enumerate(sources):  # code copied from an imported file
        if i or text.startswith(("class ", "def ", "@", "async def ")):
            emit("")  # isort: one blank line after imports before a statement, else two
        emit("")
        for line in text.splitlines():
            emit(line.rstrip(), nid, cls)
    for text in support:  # classes written into model.py itself (codegen/style.py)
        emit("")
        emit("")
        for line in text.split("\n"):
            emit(line)
    for cls, helper in helpers:
        emit("")
        emit("")
        for text in helper.lines:
            emit(text, helper.node_id, cls)
    names = renames(ir.origins, set(ir.attrs.values()))
    if names:  # an imported model: the original state_dict's keys load too
        node_of = {attr: nid for nid, attr in ir.attrs.items()}
        emit("")
        if len(lines) - 1 != imports_end:  # isort: one blank line after imports, else two
            emit("")
        for text, attr in mapping_lines(names):
            emit(text, node_of.get(attr))
        for text in ["", "", *HOOK_LINES]:
            emit(text)
    freezes = any(h.freezes for _, h in helpers)
    for cls in classes:
        emit("")
        emit("")
        _print_class(
            cls,
            lambda text, node_id=None, cls=cls: emit(text, node_id, cls),
            freezes and cls is ir,
            bool(names) and cls is ir,
        )
    if freezes:  # the main class keeps frozen batch norm layers in eval mode
        emit("")
        for text in FROZEN_BN_TRAIN:
            emit(text)
    return GeneratedModel("\n".join(lines) + "\n", ir, line_map, block_lines, title)


def model_docstring(ir: ModelIR, title: str = "") -> list[str]:
    """model.py's docstring: which project the model is and what it is made of, e.g.
    ``MLP: the model of the torchcanvas project mlp_regression.`` and ``3 layers: 2 Linear,
    ReLU.`` (layer kinds counted in forward order)."""
    name = doc_text(title, 60)
    head = (
        f"{ir.class_name}: the model of the torchcanvas project {name}."
        if name
        else f"{ir.class_name}: a model built with torchcanvas."
    )
    built = {}  # layers made by a helper function (backbones): named by its docstring
    for helper in ir.helpers:
        said = helper.lines[1].strip().strip('"') if len(helper.lines) > 1 else ""
        said = said.split(" (", 1)[0].split(",", 1)[0].strip()
        built[helper.node_id] = f"{said} backbone" if said else "backbone"
    counts: dict[str, int] = {}
    for layer in ir.layers:
        kind = (
            built.get(layer.node_id) or layer.kind or layer.ctor.split("(", 1)[0].rsplit(".", 1)[-1]
        )
        counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return [f'"""{head}"""']
    n = len(ir.layers)
    summary = (
        f"{n} layer{'s' * (n != 1)}: "
        + ", ".join(f"{c} {kind}" if c > 1 else kind for kind, c in counts.items())
        + "."
    )
    return [f'"""{head}', "", *textwrap.wrap(summary, 88), '"""']


def _print_class(ir: ModelIR, emit, freezes: bool = False, hook: bool = False) -> None:
    emit(f"class {ir.class_name}(nn.Module):")
    emit("    def __init__(self) -> None:")
    emit("        super().__init__()")
    for layer in ir.layers:
        for text in wrap(f"self.{layer.attr} = ", layer.ctor, "        "):
            emit(text, layer.node_id)
    if hook:  # the original model's state_dict keys load too
        emit(f"        {REGISTER}")
    if freezes:
        emit("        self.train()  # frozen batch norm layers start in eval mode")
    emit("")
    args = "".join(f", {name}" for name, _ in ir.inputs)
    emit(f"    def forward(self{args}):")
    for step in ir.steps:
        for text in assign_lines(step.target, step.expr, "        "):
            emit(text, step.node_id)
    returned = [name for name, _ in ir.outputs]
    for text in tuple_lines("return ", returned, "", "        "):
        emit(text)


def tuple_lines(prefix: str, names: list[str], suffix: str, indent: str) -> list[str]:
    """``return a, b`` (prefix "return ") or ``a, b = f(x)`` (suffix " = f(x)"); when too long,
    one name per line in parentheses, as ruff formats it."""
    line = f"{indent}{prefix}{', '.join(names)}{suffix}"
    if len(line) <= MAX_LINE or len(names) < 2:
        return [line]
    return [f"{indent}{prefix}("] + [f"{indent}    {n}," for n in names] + [f"{indent}){suffix}"]


def assign_lines(target: str, expr: str, indent: str) -> list[str]:
    """``target = expr``, wrapped like ruff: the call's arguments first, else a tuple target
    one name per line."""
    names = [t.strip() for t in target.split(",")]
    lines = wrap(f"{target} = ", expr, indent)
    if len(names) < 2 or all(len(line) <= MAX_LINE for line in lines):
        return lines
    return tuple_lines("", names, f" = {expr}", indent)


def generate_model(
    graph: Graph, resolved: dict[str, dict[str, Any]] | None = None, title: str = ""
) -> GeneratedModel:
    return print_model(build_ir(graph, resolved), title)
