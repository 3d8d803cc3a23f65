"""How each node becomes code: a constructor call for layers, an expression for the forward.

Shared by the model printer and by the runtime's shape inference, so the meaning of every node
is written once. Values are rendered with ``literal``: a param can never become code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torchcanvas.graph.spec import AUTO, NodeSpec


class CodegenError(Exception):
    """The graph cannot become code; names the node and, where it applies, the param."""

    def __init__(self, message: str, node_id: str | None = None, param: str | None = None):
        super().__init__(message)
        self.node_id = node_id
        self.param = param

    def __reduce__(self):  # crosses to the window from the shape process whole
        return type(self), (str(self), self.node_id, self.param)


def literal(value: Any, as_tuple: bool = True) -> str:
    """Python source for a plain JSON value. Lists become tuples unless ``as_tuple`` is off."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodegenError(f"non-finite number {value!r}")
        return repr(float(value))
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, tuple)):
        items = ", ".join(literal(v, as_tuple) for v in value)
        if as_tuple:
            return f"({items},)" if len(value) == 1 else f"({items})"
        return f"[{items}]"
    raise CodegenError(f"cannot write {type(value).__name__} {value!r} as code")


def quote(text: str) -> str:
    """A string literal, in double quotes where that needs no escapes (as ruff format writes)."""
    r = repr(text)
    if r.startswith("'") and '"' not in text:
        return '"' + r[1:-1] + '"'
    return r


def doc_text(text: str, limit: int = 80) -> str:
    """User text made safe inside a triple-quoted docstring: printable, no quotes or escapes."""
    return "".join(ch for ch in str(text) if ch.isprintable() and ch not in '"\\')[:limit].strip()


def ctor_args(
    spec: NodeSpec, params: dict[str, Any], node_id: str | None = None, keywords: bool = False
) -> tuple[list[Any], dict[str, Any]]:
    """Constructor arguments: required params in order, then those that differ from torch's
    defaults, as keywords (all as keywords with ``keywords``). Raises when an ``auto`` param
    was not filled by shape inference."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in spec.params:
        if not p.ctor:
            continue
        value = params[p.name]
        if value == AUTO and p.auto is not None:
            raise CodegenError(
                f"{p.name} is auto and shape inference has not filled it", node_id, p.name
            )
        if p.required and not kwargs and not keywords:
            args.append(value)
        elif p.required or not _same(value, p.upstream_default):
            kwargs[p.name] = value
    return args, kwargs


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return (a == b and type(a) is type(b)) or (
        isinstance(a, (int, float))
        and not isinstance(a, bool)
        and isinstance(b, (int, float))
        and not isinstance(b, bool)
        and a == b
    )


def call(func: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    parts = [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kwargs.items()]
    return f"{func}({', '.join(parts)})"


def module_ctor(spec: NodeSpec, params: dict[str, Any], node_id: str | None = None) -> str:
    """``nn.Conv2d(1, 16, kernel_size=3)`` for a layer node; a class written into model.py
    itself (``extra["module"]``, see codegen/style.py) is called by its plain name."""
    args, kwargs = ctor_args(spec, params, node_id)
    if spec.extra.get("module"):
        return call(spec.extra["module"], args, kwargs)
    assert spec.torch_name and spec.torch_name.startswith("torch.nn.")
    return call("nn." + spec.torch_name.removeprefix("torch.nn."), args, kwargs)


# ---------------------------------------------------------------------------- forward expressions
# A layer call wrapper takes the plain call ("self.lstm(x)") and params; an op emitter takes the
# input expressions by port name and the params. Both return a Python expression.
LayerCall = Callable[[str, NodeSpec, dict[str, Any], dict[str, str]], str]
OpEmitter = Callable[[dict[str, str], dict[str, Any]], str]

LAYER_CALLS: dict[str, LayerCall] = {}
OP_EMITTERS: dict[str, OpEmitter] = {}


def layer_call(*type_ids: str):
    def deco(fn: LayerCall) -> LayerCall:
        for t in type_ids:
            LAYER_CALLS[t] = fn
        return fn

    return deco


def op_emitter(*type_ids: str):
    def deco(fn: OpEmitter) -> OpEmitter:
        for t in type_ids:
            OP_EMITTERS[t] = fn
        return fn

    return deco


def forward_expr(
    spec: NodeSpec,
    params: dict[str, Any],
    inputs: dict[str, str],
    attr: str | None,
    node_id: str | None = None,
) -> str:
    """The expression computing a node's output from its inputs.

    ``inputs`` maps connected input port names to expressions; ``attr`` is the module reference
    for layers (``self.conv1`` in model.py, a local name in the runtime).
    """
    if spec.kind == "layer":
        ordered = [inputs[p.name] for p in spec.inputs if p.name in inputs]
        plain = f"{attr}({', '.join(ordered)})"
        wrap = LAYER_CALLS.get(spec.type_id)
        return wrap(plain, spec, params, inputs) if wrap else plain
    if spec.kind == "op":
        emitter = OP_EMITTERS.get(spec.type_id)
        if emitter is None:
            raise CodegenError(f"no code template for {spec.type_id}", node_id)
        return emitter(inputs, params)
    if spec.kind == "code":
        from torchcanvas.codegen.code import function_expr

        if spec.extra["code"] == "module":
            return f"{attr}({', '.join(inputs[p.name] for p in spec.inputs if p.name in inputs)})"
        if spec.extra["code"] == "tensor":
            return str(attr)
        return function_expr(params, inputs, node_id)
    raise CodegenError(f"{spec.type_id} is not part of the model", node_id)


# ---------------------------------------------------------------------------- several outputs
# A layer whose module returns several values (``NodeSpec.returns``) is called once and its
# result unpacked when more than its first output is used: ``out, (h, c) = self.lstm(x)``.
# Otherwise its layer call wrapper picks the first output inline (``self.lstm(x)[0]``).
# ``UNPACKED_CALLS`` give the call for unpacking where it differs from the plain one;
# ``FIRST_OUTPUT`` computes the first port from the unpacked names where it is not the first
# value itself (a recurrent layer's ``output`` param), or returns None.
UnpackedCall = Callable[[str, NodeSpec, dict[str, Any], dict[str, str]], str]
FirstOutput = Callable[[dict[str, str], NodeSpec, dict[str, Any]], str | None]

UNPACKED_CALLS: dict[str, UnpackedCall] = {}
FIRST_OUTPUT: dict[str, FirstOutput] = {}


def unpacked_call(spec: NodeSpec, params: dict[str, Any], inputs: dict[str, str], attr: str) -> str:
    """The call whose result unpacks into ``spec.returns`` (every value computed)."""
    ordered = [inputs[p.name] for p in spec.inputs if p.name in inputs]
    plain = f"{attr}({', '.join(ordered)})"
    make = UNPACKED_CALLS.get(spec.type_id)
    return make(plain, spec, params, inputs) if make else plain


def first_output(spec: NodeSpec, params: dict[str, Any], names: dict[str, str]) -> str | None:
    """The first output port's value from the unpacked ``names`` (by port), when it is not the
    first unpacked value itself; None when it is."""
    pick = FIRST_OUTPUT.get(spec.type_id)
    return pick(names, spec, params) if pick else None


def returns_target(returns: tuple[Any, ...], names: dict[str, str]) -> str:
    """The assignment target unpacking ``returns``: ``out, (h, c)``; ports without a name
    become ``_``."""
    parts = [
        f"({returns_target(item, names)})" if isinstance(item, tuple) else names.get(item, "_")
        for item in returns
    ]
    return ", ".join(parts)


def flatten_returns(returns: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A module's result as a port → value dict, following ``returns``; a value that is not
    there (``None`` where attention weights were not asked for) is left out."""
    out: dict[str, Any] = {}
    for item, v in zip(returns, value, strict=True):
        if isinstance(item, tuple):
            out.update(flatten_returns(item, v))
        elif v is not None:
            out[item] = v
    return out


# ---------------------------------------------------------------------------- recurrent layers
@layer_call("nn.RNN", "nn.LSTM", "nn.GRU")
def _recurrent(plain: str, spec: NodeSpec, params: dict[str, Any], inputs: dict[str, str]) -> str:
    """Pick what a recurrent layer passes on: every step, the last step, or the final hidden."""
    hidden = f"{plain}[1][0]" if spec.type_id == "nn.LSTM" else f"{plain}[1]"  # LSTM: (h, c)
    picked = _recurrent_out({"out": f"{plain}[0]", "h": hidden}, spec, params)
    return f"{plain}[0]" if picked is None else picked


def _recurrent_out(names: dict[str, str], spec: NodeSpec, params: dict[str, Any]) -> str | None:
    """The out port from the sequence output (``names["out"]``) and the final hidden state of
    every layer (``names["h"]``); None when out is the sequence itself."""
    out = params.get("output", "sequence")
    if out == "sequence":
        return None
    if out == "last_step":
        seq = names["out"]
        return f"{seq}[:, -1]" if params.get("batch_first", True) else f"{seq}[-1]"
    if params.get("bidirectional"):
        # last layer's forward and backward states, side by side: [B, 2 * hidden_size]
        return f"{names['h']}[-2:].transpose(0, 1).flatten(1)"
    return f"{names['h']}[-1]"


FIRST_OUTPUT.update(dict.fromkeys(("nn.RNN", "nn.LSTM", "nn.GRU"), _recurrent_out))
