"""Forward expressions for the functional ops in ``graph/catalogue/ops.py``.

Each emitter returns one Python expression built from ``torch.`` functions, tensor methods and
operators; params are written with ``literal``. Inputs arrive as expressions (normally plain
local names): an input that is not a plain name is parenthesised where precedence needs it, and
bound once with a lambda where the expression has to use it twice, so it is never evaluated twice.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from torchcanvas.codegen.emit import (
    UNPACKED_CALLS,
    CodegenError,
    layer_call,
    literal,
    op_emitter,
)
from torchcanvas.graph.spec import NodeSpec

Params = dict[str, Any]
Inputs = dict[str, str]


# ---------------------------------------------------------------------------- helpers
def _parse(expr: str) -> ast.expr | None:
    try:
        return ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None


def _simple(expr: str) -> bool:
    """A name or dotted name (``h``, ``self.w``): free to mention more than once."""
    node = _parse(expr)
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _atom(expr: str) -> str:
    """``expr`` safe as an operand or a method receiver: parenthesised unless it already binds
    tighter than any operator (a name, attribute, call or subscript)."""
    node = _parse(expr)
    if isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
        return expr
    return f"({expr})"


def _bind(expr: str, body: Callable[[str], str]) -> str:
    """``body`` uses its argument several times: pass a simple name through, else evaluate
    ``expr`` once as a lambda argument."""
    if _simple(expr):
        return body(expr)
    return f"(lambda _t: {body('_t')})({expr})"


def _present(inputs: Inputs, ports: str = "abcd") -> list[str]:
    return [inputs[p] for p in ports if p in inputs]


def _args(*items: str, **kwargs: Any) -> str:
    """Comma-joined call arguments; keyword values rendered with ``literal``."""
    parts = list(items) + [f"{k}={literal(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _index(x: str, dim: int, item: str) -> str:
    """``x`` indexed with ``item`` along ``dim``: ``x[:, item]``, ``x[..., item, :]``."""
    if dim >= 0:
        subscript = ", ".join([":"] * dim + [item])
    else:
        subscript = ", ".join(["...", item] + [":"] * (-dim - 1))
    return f"{_atom(x)}[{subscript}]"


# ---------------------------------------------------------------------------- arithmetic
@op_emitter("op.add")
def _add(inputs: Inputs, params: Params) -> str:
    return " + ".join(_atom(e) for e in _present(inputs))


@op_emitter("op.sub")
def _sub(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['a'])} - {_atom(inputs['b'])}"


@op_emitter("op.multiply")
def _multiply(inputs: Inputs, params: Params) -> str:
    return " * ".join(_atom(e) for e in _present(inputs))


@op_emitter("op.divide")
def _divide(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['a'])} / {_atom(inputs['b'])}"


@op_emitter("op.matmul")
def _matmul(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['a'])} @ {_atom(inputs['b'])}"


@op_emitter("op.scale")
def _scale(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['x'])} * {literal(params['factor'])}"


@op_emitter("op.pow")
def _pow(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['x'])} ** {literal(params['exponent'])}"


@op_emitter("op.clamp")
def _clamp(inputs: Inputs, params: Params) -> str:
    bounds = {k: params[k] for k in ("min", "max") if params.get(k) is not None}
    if not bounds:
        raise CodegenError("clamp needs a min or a max bound", param="min")
    return f"{_atom(inputs['x'])}.clamp({_args(**bounds)})"


@op_emitter("op.detach")
def _detach(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['x'])}.detach()"


# ---------------------------------------------------------------------------- joining
@op_emitter("op.concat")
def _concat(inputs: Inputs, params: Params) -> str:
    return f"torch.cat([{', '.join(_present(inputs))}], dim={literal(params['dim'])})"


@op_emitter("op.stack")
def _stack(inputs: Inputs, params: Params) -> str:
    return f"torch.stack([{', '.join(_present(inputs))}], dim={literal(params['dim'])})"


# ---------------------------------------------------------------------------- shape
@op_emitter("op.reshape")
def _reshape(inputs: Inputs, params: Params) -> str:
    shape = ", ".join(literal(s) for s in params["shape"])
    if not params.get("keep_batch", True):
        return f"{_atom(inputs['x'])}.reshape({shape})"
    return _bind(inputs["x"], lambda x: f"{_atom(x)}.reshape({x}.size(0), {shape})")


@op_emitter("op.permute")
def _permute(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['x'])}.permute({', '.join(literal(d) for d in params['dims'])})"


@op_emitter("op.transpose")
def _transpose(inputs: Inputs, params: Params) -> str:
    dims = _args(literal(params["dim0"]), literal(params["dim1"]))
    return f"{_atom(inputs['x'])}.transpose({dims})"


@op_emitter("op.squeeze")
def _squeeze(inputs: Inputs, params: Params) -> str:
    dim = params.get("dim")
    return f"{_atom(inputs['x'])}.squeeze({'' if dim is None else literal(dim)})"


@op_emitter("op.unsqueeze")
def _unsqueeze(inputs: Inputs, params: Params) -> str:
    return f"{_atom(inputs['x'])}.unsqueeze({literal(params['dim'])})"


# ---------------------------------------------------------------------------- reductions
def _reduce(method: str) -> Callable[[Inputs, Params], str]:
    def emit(inputs: Inputs, params: Params) -> str:
        dims = list(params["dim"] or ())  # None (or []) reduces over every dim
        keep = {"keepdim": True} if params.get("keepdim") else {}
        if not dims:
            args = _args("dim=None", **keep) if keep else ""
        else:
            args = _args(literal(dims[0] if len(dims) == 1 else dims), **keep)
        return f"{_atom(inputs['x'])}.{method}({args})"

    return emit


op_emitter("op.mean")(_reduce("mean"))
op_emitter("op.sum")(_reduce("sum"))


def _extreme(method: str) -> Callable[[Inputs, Params], str]:
    # amax/amin return the values only (max/min over a dim return values and indices)
    def emit(inputs: Inputs, params: Params) -> str:
        keep = {"keepdim": True} if params.get("keepdim") else {}
        return f"{_atom(inputs['x'])}.{method}({_args(literal(params['dim']), **keep)})"

    return emit


op_emitter("op.max")(_extreme("amax"))
op_emitter("op.min")(_extreme("amin"))


# ---------------------------------------------------------------------------- indexing
@op_emitter("op.select")
def _select(inputs: Inputs, params: Params) -> str:
    return _index(inputs["x"], params["dim"], literal(params["index"]))


@op_emitter("op.slice")
def _slice(inputs: Inputs, params: Params) -> str:
    start, end, step = params.get("start"), params.get("end"), params.get("step", 1)
    item = f"{literal(start) if start else ''}:{'' if end is None else literal(end)}"
    if step != 1:
        item += f":{literal(step)}"
    return _index(inputs["x"], params["dim"], item)


# ---------------------------------------------------------------------------- style
@op_emitter("op.gram")
def _gram(inputs: Inputs, params: Params) -> str:
    # [B, C, *] → [B, C, C]: products summed over the trailing dims, divided by C·H·W (one
    # sample's size). bmm rather than einsum: ONNX runtimes refuse einsum's "..." here, and
    # TorchScript cannot script torch.Size.numel()
    return _bind(
        inputs["x"],
        lambda x: (
            f"torch.bmm({_atom(x)}.flatten(2), {_atom(x)}.flatten(2).transpose(1, 2)) "
            f"/ {_atom(x)}[0].numel()"
        ),
    )


# ---------------------------------------------------------------------------- attention
@layer_call("nn.MultiheadAttention")
def _attention(plain: str, spec: NodeSpec, params: Params, inputs: Inputs) -> str:
    """Self-attention when key/value are unconnected; pass on the attended output only."""
    return _attention_call(plain, inputs, ", need_weights=False", "[0]")


def _attention_unpacked(plain: str, spec: NodeSpec, params: Params, inputs: Inputs) -> str:
    """Both outputs: ``out, weights = self.attn(q, k, v)``."""
    return _attention_call(plain, inputs, "", "")


UNPACKED_CALLS["nn.MultiheadAttention"] = _attention_unpacked


# ---------------------------------------------------------------------------- max pool indices
@layer_call("nn.MaxPool1d", "nn.MaxPool2d", "nn.MaxPool3d")
def _max_pool(plain: str, spec: NodeSpec, params: Params, inputs: Inputs) -> str:
    """With return_indices the module returns (out, indices): the pooled values only."""
    return f"{plain}[0]" if params.get("return_indices") else plain


def _max_pool_unpacked(plain: str, spec: NodeSpec, params: Params, inputs: Inputs) -> str:
    """``pool, pool_indices = self.pool(x)``; without return_indices there are no indices
    (None: shape inference names the missing switch)."""
    return plain if params.get("return_indices") else f"({plain}, None)"


for _n in (1, 2, 3):
    UNPACKED_CALLS[f"nn.MaxPool{_n}d"] = _max_pool_unpacked


# ---------------------------------------------------------------------------- LSTM cell
def _lstm_cell(plain: str, spec: NodeSpec, params: Params, inputs: Inputs) -> str:
    """``self.cell(x, (h, c))``: torch takes the two states as one tuple; an unconnected one
    starts as zeros (both unconnected: torch's own zeros)."""
    attr = plain.split("(", 1)[0]
    x, h, c = inputs["x"], inputs.get("hx"), inputs.get("cx")
    if h is None and c is None:
        return f"{attr}({x})"
    if h is not None and c is not None:
        return f"{attr}({x}, ({h}, {c}))"
    given = h if h is not None else c
    name = given if _simple(given) else "_s"  # (evaluated once)
    states = f"({name}, torch.zeros_like({name}))" if h else f"(torch.zeros_like({name}), {name})"
    if name == given:
        return f"{attr}({x}, {states})"
    return f"(lambda _s: {attr}({x}, {states}))({given})"


@layer_call("nn.LSTMCell")
def _lstm_cell_h(plain: str, spec: NodeSpec, params: Params, inputs: Inputs) -> str:
    """The next hidden state only."""
    return f"{_lstm_cell(plain, spec, params, inputs)}[0]"


UNPACKED_CALLS["nn.LSTMCell"] = _lstm_cell


def _attention_call(plain: str, inputs: Inputs, kwargs: str, pick: str) -> str:
    attr = plain.split("(", 1)[0]
    q = inputs["query"]
    k = inputs.get("key", q)
    v = inputs.get("value", k)
    repeated = next((e for e in (q, k) if (q, k, v).count(e) > 1 and not _simple(e)), None)
    if repeated is None:
        return f"{attr}({q}, {k}, {v}{kwargs}){pick}"
    q, k, v = ("_t" if e == repeated else e for e in (q, k, v))
    return f"(lambda _t: {attr}({q}, {k}, {v}{kwargs}){pick})({repeated})"
