"""Import a PyTorch model onto the canvas: ``nn.Module`` → ``Graph``, by torch.fx symbolic tracing.

What becomes what:

* a submodule whose class the catalogue has (``nn.Conv2d``, ``nn.ReLU``…) → that layer node, its
  constructor params read from the module (concrete values, so nothing is left to guess);
* ``torch.cat``, ``+``, ``torch.flatten``, ``F.relu``, ``x.mean(…)``… → the matching op or layer
  node;
* anything else → a code node (``graph/catalogue/code.py``): a submodule with no submodules of its
  own (or one whose parameters its parent's forward reads directly) keeps its class, imported or
  copied from the user's file, and is rebuilt from its constructor arguments; any other call
  keeps its expression.

Module nodes are labelled with their original module paths (``layer1.0.conv1``) and keep them as
``Node.origin`` (which survives renaming the label): the generated model's attributes are Python
names (``layer1_0_conv1``), and its ``load_state_dict`` renames the original keys
(``layer1.0.conv1.weight``) to them (codegen/origins.py), so the original state_dict loads as
it is.

The graph starts with a ``data.RandomImages`` source of the traced input shape and, when the
model returns one score per class, a cross-entropy loss and an Adam optimizer, so it trains as it
is. Tracing runs the model's Python: importing a file executes it.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import math
import operator
import os
import re
import sys
import textwrap
import time
import traceback
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from torchcanvas.codegen.emit import literal, module_ctor, quote
from torchcanvas.codegen.names import camel
from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.catalogue.code import CODE_INPUTS, DTYPES
from torchcanvas.graph.document import Graph
from torchcanvas.graph.errors import GraphError
from torchcanvas.graph.layout import layered_layout

DEFAULT_INPUT = (3, 64, 64)
# catalogue layers import does not map onto their nodes (kept as code); layers returning several
# values map onto a node with one output port per value (``_Builder.several``), and layers whose
# params are not plain attributes are read by ``_special_params``
NOT_MAPPED: set[str] = set()
_USER_PREFIX = "torchcanvas_user_"


class ModelImportError(Exception):
    """The model cannot be imported; ``where`` is ``file:line`` of the user's code when known."""

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.where = where


@dataclass
class ImportResult:
    graph: Graph
    model: nn.Module  # the original model
    input_shape: tuple[int, ...]  # one sample, without the batch dim
    code_nodes: list[str] = field(default_factory=list)  # labels of nodes kept as code
    notes: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None  # generated vs original output, when verified
    opaque: dict[str, str] = field(default_factory=dict)  # module path → why it was kept whole


# ---------------------------------------------------------------------------- loading a SPEC
# torchvision models built with other arguments than their defaults: GoogLeNet's and Inception
# v3's auxiliary classifiers run only in training (an evaluation trace leaves them out, and the
# weights would not match), and their default initialisation warns that it will change
TORCHVISION_ARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


def torchvision_names() -> list[str]:
    """Names of torchvision's classification models (``resnet18``, ``vgg11``…)."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def load_spec(spec: str, args: dict[str, Any] | None = None) -> nn.Module:
    """An ``nn.Module`` from ``path/to/file.py:Name``, ``package.module:name`` or a torchvision
    model name (built with ``weights=None``: nothing is downloaded). ``Name`` is a class or a
    function, called with ``args`` as keyword arguments."""
    spec = spec.strip()
    args = dict(args or {})
    if ":" not in spec:
        names = torchvision_names()
        if spec not in names:
            raise ModelImportError(
                f"{spec!r} is not a torchvision model name; use "
                "file.py:ClassName or package.module:name for your own model"
            )
        import torchvision

        if "weights" in args:
            raise ModelImportError(
                "weights cannot be set: imported torchvision models start untrained (weights=None)"
            )
        args = {**TORCHVISION_ARGS.get(spec, {}), **args}
        return _checked(torchvision.models.get_model(spec, weights=None, **args), spec)
    where, _, name = spec.rpartition(":")
    if not name.isidentifier() and not all(p.isidentifier() for p in name.split(".")):
        raise ModelImportError(f"{name!r} is not a Python name (after the ':' in {spec!r})")
    if where.endswith(".py") or os.sep in where or "/" in where:
        module = _load_file(Path(where))
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise ModelImportError(
                f"cannot import {where}: {type(exc).__name__}: {exc}", _user_where(exc)
            ) from None
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ModelImportError(f"{where} has no {name!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ModelImportError(f"{spec}: {name} is not a class or function")
    try:
        made = obj(**args)
    except Exception as exc:
        raise ModelImportError(
            f"{spec}: building the model failed: {type(exc).__name__}: {exc}", _user_where(exc)
        ) from None
    return _checked(made, spec)


def _checked(obj: Any, spec: str) -> nn.Module:
    if not isinstance(obj, nn.Module):
        raise ModelImportError(f"{spec} gave a {type(obj).__name__}, not an nn.Module")
    return obj


def _load_file(path: Path):
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    path = path.resolve()
    name = _USER_PREFIX + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect.getsource finds classes through sys.modules
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ModelImportError(
            f"{path}: running the file failed: {type(exc).__name__}: {exc}", _user_where(exc)
        ) from None
    return module


# ---------------------------------------------------------------------------- errors in user code
_OWN_DIRS = (
    os.path.dirname(torch.__file__),
    os.path.dirname(__file__),
    os.path.dirname(importlib.__file__),
)


def _user_frame(tb) -> traceback.FrameSummary | None:
    """The innermost traceback frame outside torch, the standard library and this package."""
    found = None
    for frame in traceback.extract_tb(tb):
        name = frame.filename
        if name.startswith("<") or any(name.startswith(d + os.sep) for d in _OWN_DIRS):
            continue
        found = frame
    return found


def _user_where(exc: BaseException) -> str | None:
    frame = _user_frame(exc.__traceback__)
    return f"{frame.filename}:{frame.lineno}" if frame else None


def _trace_failure(exc: BaseException) -> ModelImportError:
    frame = _user_frame(exc.__traceback__)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, fx.proxy.TraceError) or "symbolically traced variables" in text:
        reason = (
            "the forward branches, loops or converts on tensor values (data-dependent "
            "control flow), which tracing cannot follow"
        )
    else:
        reason = f"{type(exc).__name__}: {text}"
    if frame is None:
        return ModelImportError(f"tracing the model failed: {reason}")
    where = f"{frame.filename}:{frame.lineno}"
    code = f" `{frame.line.strip()}`" if frame.line else ""
    return ModelImportError(
        f"tracing failed at {where} (in {frame.name}){code}: {reason}. "
        "Rewrite that line without the tensor-dependent branch, or move that part into a "
        "submodule: import keeps a submodule it cannot trace whole, as an opaque code module.",
        where,
    )


def _run_failure(exc: BaseException, shape: list[int]) -> ModelImportError:
    where = _user_where(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ModelImportError(
        f"running the model on a batch of shape {shape} failed"
        f"{f' at {where}' if where else ''}: {type(exc).__name__}: {text}; "
        "check the input shape",
        where,
    )


# ---------------------------------------------------------------------------- layers
def _layer_types() -> dict[type, str]:
    out = {}
    for spec in CATALOGUE.values():
        if spec.kind == "layer" and spec.type_id not in NOT_MAPPED and spec.torch_name:
            cls = getattr(nn, spec.torch_name.removeprefix("torch.nn."), None)
            if isinstance(cls, type):
                out[cls] = spec.type_id
    return out


LAYER_TYPES = _layer_types()


def _value(v: Any) -> Any:
    if isinstance(v, torch.Size | tuple):
        return [_value(x) for x in v]
    return v


def layer_params(type_id: str, module: nn.Module) -> dict[str, Any] | None:
    """The catalogue params that rebuild ``module`` exactly (same repr), or None."""
    spec = CATALOGUE[type_id]
    params: dict[str, Any] = {}
    special = _special_params(type_id, module)
    for p in spec.params:
        if not p.ctor:
            continue
        if special is not None and p.name in special:
            params[p.name] = special[p.name]
            continue
        if special == {} or not hasattr(module, p.name):
            return None
        v = getattr(module, p.name)
        if p.type == "bool" and (v is None or isinstance(v, torch.Tensor)):
            v = v is not None  # bias=True leaves a Parameter, bias=False None
        params[p.name] = _value(v)
    # (3, 3) → 3 where torch turns it back into (3, 3): what a person writes
    short = {
        k: v[0]
        if spec.param(k).type == "size" and isinstance(v, list) and v and all(x == v[0] for x in v)
        else v
        for k, v in params.items()
    }
    for candidate in (short, params):
        try:
            candidate = spec.validate_params(candidate)
            with torch.device("meta"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rebuilt = eval(module_ctor(spec, candidate), {"nn": nn})  # our own literals
        except Exception:  # a value the catalogue or torch refuses: kept as code
            continue
        if repr(rebuilt) == repr(module):
            return candidate
    return None


def _special_params(type_id: str, module: nn.Module) -> dict[str, Any] | None:
    """Constructor params of layers that keep them in their submodules rather than as
    attributes (attention, transformer blocks), None for other layers; ``{}`` (nothing read,
    so the rebuild check fails) when the module is built in a way the node cannot express
    (another activation, separate key/value sizes, blocks that differ)."""
    if type_id == "nn.MultiheadAttention":
        if not module._qkv_same_embed_dim:  # kdim/vdim: not a node param
            return {}
        return {
            "bias": module.in_proj_bias is not None,
            "add_bias_kv": module.bias_k is not None,
        }
    if type_id in ("nn.TransformerEncoderLayer", "nn.TransformerDecoderLayer"):
        return _block_params(module) or {}
    if type_id == "nn.Transformer":
        enc, dec = module.encoder.layers, module.decoder.layers
        first = _block_params(enc[0]) if len(enc) else None
        blocks = [*enc, *dec]
        if first is None or not len(dec) or any(_block_params(m) != first for m in blocks):
            return {}
        return {**first, "num_encoder_layers": len(enc), "num_decoder_layers": len(dec)}
    return None


def _block_params(layer: nn.Module) -> dict[str, Any] | None:
    """The params of one transformer encoder or decoder block, or None."""
    try:
        attn = layer.self_attn
        act = layer.activation
        activation = "relu" if act is F.relu else "gelu" if act is F.gelu else None
        if activation is None:
            return None
        return {
            "d_model": attn.embed_dim,
            "nhead": attn.num_heads,
            "dim_feedforward": layer.linear1.out_features,
            "dropout": layer.dropout.p,
            "activation": activation,
            "layer_norm_eps": layer.norm1.eps,
            "batch_first": attn.batch_first,
            "norm_first": layer.norm_first,
            "bias": layer.linear1.bias is not None,
        }
    except AttributeError:
        return None


# ---------------------------------------------------------------------------- code modules
@dataclass
class _Code:
    init: str
    imports: list[str]
    source: str
    title: str
    note: str = ""  # why the module is kept whole (an opaque module: it cannot be traced)


def _literal_ok(v: Any) -> bool:
    if v is None or isinstance(v, bool | int | str):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list | tuple):
        return all(_literal_ok(x) for x in v)
    return False


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def module_code(module: nn.Module) -> _Code | None:
    """How model.py rebuilds a module of a class the catalogue lacks: its constructor call from
    the attributes named like the constructor's arguments, checked by rebuilding it (same repr,
    same state_dict keys and shapes). None when that does not reproduce it."""
    cls = type(module)
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None
    kwargs: dict[str, Any] = {}
    for name, prm in list(sig.parameters.items())[1:]:
        if prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
            continue
        has_default = prm.default is not inspect.Parameter.empty
        if name in ("device", "dtype") and has_default:
            continue
        v = (
            getattr(module, name, inspect.Parameter.empty)
            if not name.startswith("_")
            else inspect.Parameter.empty
        )
        if isinstance(v, torch.Tensor | type(None)) and isinstance(prm.default, bool):
            v = v is not None
        if isinstance(v, torch.Size):
            v = tuple(v)
        if v is inspect.Parameter.empty or not _literal_ok(v):
            if has_default:
                continue
            return None
        if has_default and _same(v, prm.default):
            continue
        kwargs[name] = v
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rebuilt = cls(**kwargs)
    except Exception:
        return None
    if repr(rebuilt) != repr(module) or _state_shapes(rebuilt) != _state_shapes(module):
        return None
    imports: list[str] = []
    source = ""
    if getattr(nn, cls.__name__, None) is cls:
        head = f"nn.{cls.__name__}"
    else:
        head = cls.__name__
        copied = _copy_definitions(cls)
        if copied is None:
            return None
        imports, source = copied
    args = ", ".join(f"{k}={literal(v)}" for k, v in kwargs.items())
    return _Code(f"{head}({args})", imports, source, cls.__name__)


def _state_shapes(m: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def _importable(obj: Any) -> str | None:
    """``module`` such that ``from module import obj.__name__`` gives ``obj``, if any."""
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__name__", None)
    if not mod or not name or mod == "__main__" or mod.startswith(_USER_PREFIX):
        return None
    module = sys.modules.get(mod)
    return mod if module is not None and getattr(module, name, None) is obj else None


def _copy_definitions(obj: Any) -> tuple[list[str], str] | None:
    """(import lines, source) that define ``obj`` in model.py: an import when its module can be
    imported, else its source copied from the user's file with whatever it uses."""
    mod = _importable(obj)
    if mod is not None:
        return [f"from {mod} import {obj.__name__}"], ""
    imports: list[str] = []
    sources: list[str] = []
    done: set[int] = set()
    if not _copy_into(obj, imports, sources, done):
        return None
    return imports, "\n\n\n".join(sources)


def _free_names(tree: Any) -> list[str]:
    import ast

    bound: set[str] = set()
    loaded: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return [n for n in dict.fromkeys(loaded) if n not in bound and not hasattr(builtins, n)]


def _copy_into(obj: Any, imports: list[str], sources: list[str], done: set[int]) -> bool:
    import ast

    if id(obj) in done:
        return True
    done.add(id(obj))
    try:
        text = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return False
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    namespace = vars(module) if module is not None else {}
    for name in _free_names(ast.parse(text)):
        if name not in namespace:
            continue  # a name bound at run time (rare): left to the generated code to show
        value = namespace[name]
        line = _import_line(name, value)
        if line is not None:
            if line not in imports:
                imports.append(line)
        elif inspect.isclass(value) or inspect.isfunction(value):
            if not _copy_into(value, imports, sources, done):
                return False
        elif _literal_ok(value):
            sources.append(f"{name} = {literal(value)}")
        else:
            return False
    sources.append(text.rstrip())
    return True


def _import_line(name: str, value: Any) -> str | None:
    if inspect.ismodule(value):
        full = value.__name__
        if full.startswith(_USER_PREFIX):
            return None
        if full == name:
            return f"import {full}"
        parent, _, last = full.rpartition(".")
        if parent and last == name:
            return f"from {parent} import {name}"
        return f"import {full} as {name}"
    mod = _importable(value)
    if mod is None:
        return None
    return f"from {mod} import {value.__name__}" + (f" as {name}" if name != value.__name__ else "")


# ---------------------------------------------------------------------------- tracing
class _Tracer(fx.Tracer):
    """Stops at catalogue layers and at childless modules it can rebuild (kept as code); goes
    into everything else."""

    # a buffer the forward reads is a graph value (MaxViT indexes with a view of one), not a
    # constant tensor copied into the trace, which the original's state_dict would not fill
    proxy_buffer_attributes = True

    def __init__(self, codes: dict[str, _Code | None]):
        super().__init__()
        self.codes = codes  # childless modules → how to rebuild them, None when they cannot be

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if type(m) in LAYER_TYPES:
            return True
        if qualname in self.codes:
            return self.codes[qualname] is not None
        return super().is_leaf_module(m, qualname)


def _trace(model: nn.Module) -> tuple[fx.GraphModule, dict[str, _Code]]:
    # decided before tracing: while it runs, reading a parameter records a graph node
    codes = {
        name: module_code(m)
        for name, m in model.named_modules()
        if name and type(m) not in LAYER_TYPES and not any(True for _ in m.children())
    }
    tracer, graph = _trace_with_opaque(model, codes, _concrete_args(model))
    return fx.GraphModule(tracer.root, graph), {k: v for k, v in codes.items() if v}


def _concrete_args(model: nn.Module) -> dict[str, Any]:
    """Forward arguments after the first that have defaults are fixed to those defaults."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    out = {}
    for prm in params[1:]:
        if prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
            continue
        if prm.default is inspect.Parameter.empty:
            raise ModelImportError(
                f"the model's forward takes more than one input "
                f"({prm.name!r}); import supports one input tensor"
            )
        out[prm.name] = prm.default
    return out


# ---------------------------------------------------------------------------- opaque modules
# A submodule whose forward cannot be traced (it branches on a tensor's value, calls .item()…)
# is kept whole: a leaf of the trace and one code.Module node, its class written into model.py,
# its weights loaded under its own path. The smallest such module is the one whose forward was
# running when tracing failed; the trace starts again with it as a leaf until it succeeds.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_CONTAINER_CALLS = (
    "nn.Sequential",
    "nn.ModuleList",
    "nn.ModuleDict",
    "nn.ParameterList",
    "nn.ParameterDict",
    "OrderedDict",
)
_MAX_LINE = 100


class _OpaqueTracer(_Tracer):
    """A ``_Tracer`` that notes the innermost module whose forward raised (``failed_in``)."""

    def __init__(self, codes: dict[str, _Code | None]):
        super().__init__(codes)
        self.failure: BaseException | None = None
        self.failed_in = ""

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception as exc:
            if exc is not self.failure:  # seen first by the innermost module's call
                self.failure = exc
                try:
                    self.failed_in = self.path_of_module(m)
                except NameError:
                    self.failed_in = ""
            raise


def _trace_with_opaque(
    model: nn.Module, codes: dict[str, _Code | None], concrete: dict[str, Any]
) -> tuple[fx.Tracer, fx.Graph]:
    """Trace ``model``; each submodule found untraceable is added to ``codes`` as an opaque
    module (see ``_opaque_code``) and tracing starts again. A failure in the model's own
    forward cannot be kept opaque: it is raised as the trace error, naming the line."""
    opaque = _OpaqueNames()
    while True:
        tracer = _OpaqueTracer(codes)
        try:
            return tracer, tracer.trace(model, concrete_args=concrete or None)
        except Exception as exc:
            path = tracer.failed_in if tracer.failure is exc else ""
            if not path or codes.get(path) is not None:
                raise _trace_failure(exc) from None
            codes[path] = _opaque_code(model.get_submodule(path), path, exc, opaque)


def _opaque_reason(exc: BaseException) -> str:
    """Why tracing failed, in one short line: the kind of failure, where, and the line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, fx.proxy.TraceError) or "symbolically traced variables" in text:
        reason = "data-dependent control flow"
    else:
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        reason = reason if len(reason) <= 120 else reason[:119] + "…"
    frame = _user_frame(exc.__traceback__)
    if frame is not None:
        line = (frame.line or "").strip()
        line = line if len(line) <= 60 else line[:59] + "…"
        reason += f" at {Path(frame.filename).name}:{frame.lineno}" + (f" `{line}`" if line else "")
    return reason


class _OpaqueNames:
    """Names of the functions that build opaque modules, shared by one import: one function
    per distinct body."""

    def __init__(self) -> None:
        from torchcanvas.codegen.names import Namespace

        self.names = Namespace()
        self.by_body: dict[str, tuple[str, str]] = {}

    def reserve_defined(self, sources: list[str]) -> None:
        """Keep the names the copied sources define (a user's own ``build_gate``) free."""
        import ast

        for text in sources:
            for stmt in ast.parse(text).body:
                if isinstance(stmt, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                    self.names.reserve(stmt.name)
                elif isinstance(stmt, ast.Assign):
                    for target in stmt.targets:
                        if isinstance(target, ast.Name):
                            self.names.reserve(target.id)

    def function(self, cls_name: str, body: list[str]) -> tuple[str, str]:
        """(the function's name, its source) for a builder of ``body``."""
        key = "\n".join(body)
        if key not in self.by_body:
            name = self.names.name(f"build_{camel(cls_name, 'Module')}", fallback="build")
            doc = f"{cls_name} as imported (its constructor's arguments are not known)"
            doc = (
                doc if len(doc) <= 80 else "As imported (the constructor's arguments are not known)"
            )
            text = "\n".join([f"def {name}():", f'    """{doc}."""', *(f"    {x}" for x in body)])
            self.by_body[key] = (name, text)
        return self.by_body[key]


def _library(cls: type) -> bool:
    """The class comes from an installed package (site-packages) or the standard library:
    model.py imports it rather than copying it."""
    try:
        file = inspect.getfile(cls)
    except (TypeError, OSError):
        return True  # built in
    parts = Path(file).parts
    stdlib = os.path.dirname(os.__file__)
    return "site-packages" in parts or "dist-packages" in parts or file.startswith(stdlib)


def _opaque_code(module: nn.Module, path: str, exc: BaseException, names: _OpaqueNames) -> _Code:
    """How model.py keeps an untraceable submodule whole: its class (copied from the user's
    file, or imported from an installed package) built by its constructor when the constructor's
    arguments can be read back (``module_code``), else by a function that sets its parts one by
    one. Its weights come from the original state_dict. Raises ``ModelImportError`` when its
    source cannot be read or a part cannot be written."""
    cls = type(module)
    reason = _opaque_reason(exc)

    def refuse(why: str) -> ModelImportError:
        return ModelImportError(
            f"{path} ({cls.__name__}) cannot be traced ({reason}) and cannot be kept as an "
            f"opaque module: {why}"
        )

    imports: list[str] = []
    sources: list[str] = []
    _class_definitions(cls, imports, sources, refuse)
    names.reserve_defined(sources)
    code = module_code(module)
    if code is not None:
        init = code.init
    else:
        init = _opaque_builder(module, imports, sources, names, refuse)
    return _Code(init, imports, "\n\n\n".join(sources), cls.__name__, f"opaque: {reason}")


def _class_definitions(cls: type, imports: list[str], sources: list[str], refuse: Any) -> None:
    if getattr(nn, cls.__name__, None) is cls:
        return
    mod = _importable(cls) if _library(cls) else None
    if mod is not None:
        line = f"from {mod} import {cls.__name__}"
        if line not in imports:
            imports.append(line)
        return
    try:
        inspect.getsource(cls)
    except (OSError, TypeError):
        raise refuse(
            "its source cannot be read (a class defined in an interactive session, with "
            "exec, or built in); define it in a .py file"
        ) from None
    found: list[str] = []
    if not _copy_into(cls, imports, found, set()):
        raise refuse(
            "its source uses a name whose value cannot be written as code (only classes, "
            "functions, modules and plain constants can)"
        )
    sources += [s for s in found if s not in sources]


def _opaque_builder(
    module: nn.Module,
    imports: list[str],
    sources: list[str],
    names: _OpaqueNames,
    refuse: Any,
) -> str:
    """``build_gate()``: a function added to ``sources`` that makes the module without calling
    its constructor (whose arguments are unknown) and sets its plain attributes, tensors and
    submodules as they are. A submodule that cannot be rebuilt either gets its own function."""
    from torchcanvas.codegen.names import snake

    cls = type(module)
    var = snake(cls.__name__, "module")
    if var in ("nn", "torch", "OrderedDict") or var.startswith("build"):
        var = "module"
    ref = f"nn.{cls.__name__}" if getattr(nn, cls.__name__, None) is cls else cls.__name__
    body = [f"{var} = {ref}.__new__({ref})", f"nn.Module.__init__({var})"]
    for name, value in vars(module).items():
        if name in _MODULE_INTERNALS:
            continue
        if not name.isidentifier():
            raise refuse(f"its attribute {name!r} is not a Python name")
        body.append(f"{var}.{name} = {_attr_code(value, name, imports, refuse)}")
    tensors = [(n, t, "parameter") for n, t in module._parameters.items()] + [
        (n, t, "buffer") for n, t in module._buffers.items()
    ]
    for name, t, role in tensors:
        if not name.isidentifier():
            raise refuse(f"its {role} {name!r} is not a Python name")
        if role == "buffer" and t is not None and name in module._non_persistent_buffers_set:
            raise refuse(
                f"its buffer {name!r} is not in the state_dict (persistent=False), so its "
                "values cannot be kept"
            )
        body.append(f"{var}.{name} = {_zeros(t, role, refuse) if t is not None else 'None'}")
        if t is not None and "import torch" not in imports:
            imports.append("import torch")
    for name, child in module._modules.items():
        if child is None:
            tree: Any = "None"
        else:
            tree = _child_code(child, imports, sources, names, refuse)
        if name.isidentifier():
            body += _code_lines(tree, "", f"{var}.{name} = ", "")
        else:
            body += _code_lines(tree, "", f"{var}.add_module({quote(name)}, ", ")")
    body.append(f"return {var}")
    fn, text = names.function(cls.__name__, body)
    if text not in sources:
        sources.append(text)
    return f"{fn}()"


def _zeros(t: torch.Tensor, role: str, refuse: Any) -> str:
    from torchcanvas.codegen.code import tensor_init

    dtype = str(t.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        raise refuse(f"its tensor type {dtype} is not supported")
    return tensor_init(
        {
            "shape": list(t.shape),
            "dtype": dtype,
            "role": role,
            "requires_grad": bool(t.requires_grad),
        }
    )


def _py(value: Any) -> str:
    """A plain value as Python source, lists and tuples kept apart."""
    if isinstance(value, list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [_py(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    return literal(value)


def _attr_code(value: Any, name: str, imports: list[str], refuse: Any) -> str:
    if _literal_ok(value):
        return _py(value)
    if isinstance(value, torch.dtype):
        if "import torch" not in imports:
            imports.append("import torch")
        return str(value)
    if callable(value) and not isinstance(value, nn.Module | torch.Tensor | type):
        try:
            qualified, line = _qualified(value)
        except ModelImportError:
            qualified, line = "", None
        if qualified:
            line = line or ("import torch" if qualified.startswith("torch.") else None)
            if line and line not in imports:
                imports.append(line)
            return qualified
    raise refuse(f"its attribute {name!r} (a {type(value).__name__}) cannot be written as code")


def _child_code(
    child: nn.Module,
    imports: list[str],
    sources: list[str],
    names: _OpaqueNames,
    refuse: Any,
) -> Any:
    """A submodule of an opaque module as code: a constructor call (text), or a container as
    ``("call", head, items)`` / ``("dict", pairs)`` for ``_code_lines`` to lay out."""
    cls = type(child)
    type_id = LAYER_TYPES.get(cls)
    params = layer_params(type_id, child) if type_id else None
    if params is not None:
        return module_ctor(CATALOGUE[type_id], params)
    if cls in (nn.ParameterList, nn.ParameterDict):
        if "import torch" not in imports:
            imports.append("import torch")
        tensors = [(k, _zeros(p, "parameter", refuse)) for k, p in child._parameters.items()]
        if cls is nn.ParameterDict:
            return ("call", "nn.ParameterDict", [("dict", tensors)])
        return ("call", "nn.ParameterList", [("list", [t for _, t in tensors])])
    if cls in _CONTAINERS:
        items = [
            (k, _child_code(m, imports, sources, names, refuse))
            for k, m in child._modules.items()
            if m is not None
        ]
        if len(items) != len(child._modules):
            raise refuse("one of its containers holds None")
        if cls is nn.ModuleDict:
            return ("call", "nn.ModuleDict", [("dict", items)])
        if [k for k, _ in items] == [str(i) for i in range(len(items))]:
            return ("call", f"nn.{cls.__name__}", [tree for _, tree in items])
        if "from collections import OrderedDict" not in imports:
            imports.append("from collections import OrderedDict")
        return ("call", "nn.Sequential", [("call", "OrderedDict", [("dict", items)])])
    _class_definitions(cls, imports, sources, refuse)
    code = module_code(child)
    if code is not None:
        return code.init
    return _opaque_builder(child, imports, sources, names, refuse)


def _flat(tree: Any) -> str:
    if isinstance(tree, str):
        return tree
    if tree[0] == "dict":
        return "{" + ", ".join(f"{quote(k)}: {_flat(v)}" for k, v in tree[1]) + "}"
    if tree[0] == "list":
        return "[" + ", ".join(_flat(t) for t in tree[1]) + "]"
    return f"{tree[1]}(" + ", ".join(_flat(t) for t in tree[2]) + ")"


def _split_call(text: str) -> Any:
    """``("call", head, args)`` for a call expression's text, or the text when not a call."""
    import ast

    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return text
    if not isinstance(node, ast.Call) or not (node.args or node.keywords):
        return text
    seg = ast.get_source_segment
    args = [seg(text, a) or "" for a in node.args]
    args += [
        f"{k.arg}={seg(text, k.value)}" if k.arg else f"**{seg(text, k.value)}"
        for k in node.keywords
    ]
    return ("call", seg(text, node.func) or "", args)


def _code_lines(tree: Any, indent: str, prefix: str, suffix: str) -> list[str]:
    """``tree`` laid out as ruff formats it (lines of at most 100 columns inside a function):
    on one line when it fits, else one item per line with a trailing comma. A container with
    items is always one item per line."""
    line = indent + prefix + _flat(tree) + suffix
    container = not isinstance(tree, str) and (
        (tree[0] in ("dict", "list") and bool(tree[1]))
        or (tree[1] in _CONTAINER_CALLS and bool(tree[2]))
    )
    if len(line) + 4 <= _MAX_LINE and not container:
        return [line]
    if isinstance(tree, str):
        tree = _split_call(tree)
        if isinstance(tree, str):
            return [line]
    inner = indent + "    "
    out: list[str] = []
    if tree[0] == "dict":
        out.append(indent + prefix + "{")
        for k, v in tree[1]:
            out += _code_lines(v, inner, f"{quote(k)}: ", ",")
        return [*out, indent + "}" + suffix]
    if tree[0] == "list":
        out.append(indent + prefix + "[")
        for item in tree[1]:
            out += _code_lines(item, inner, "", ",")
        return [*out, indent + "]" + suffix]
    out.append(indent + prefix + tree[1] + "(")
    for item in tree[2]:
        out += _code_lines(item, inner, "", ",")
    return [*out, indent + ")" + suffix]


# ---------------------------------------------------------------------------- graph building
class _Builder:
    def __init__(
        self, gm: fx.GraphModule, codes: dict[str, _Code], graph: Graph, data_id: str, batch: int
    ):
        self.gm = gm
        self.codes = codes
        self.g = graph
        self.data_id = data_id
        self.batch = batch
        self.values: dict[fx.Node, tuple[str, str]] = {}
        self.parts: dict[fx.Node, tuple[str, tuple]] = {}  # see ``several``
        self.code_nodes: list[str] = []
        self.called: set[str] = set()
        self.tensors: dict[str, tuple[str, str]] = {}
        self.state_keys = set(gm.state_dict())

    # -------------------------------------------------------------- helpers
    @staticmethod
    def is_tensor(node: Any) -> bool:
        return isinstance(node, fx.Node) and isinstance(
            node.meta.get("tensor_meta"), TensorMetadata
        )

    def add(
        self,
        type_id: str,
        params: dict[str, Any],
        label: str,
        inputs: list[tuple[str, fx.Node | tuple[str, str]]],
        node: fx.Node | None,
        origin: str | None = None,
    ) -> str:
        if len(label) > 80:  # a deep module path: its end says most (origin keeps it all)
            label = "…" + label[-79:]
        nid = self.g.add_node(type_id, params, label=label, origin=origin)
        for port, src in inputs:
            value = self.values[src] if isinstance(src, fx.Node) else src
            self.g.connect(value[0], value[1], nid, port)
        if node is not None:
            self.values[node] = (nid, "out")
        return nid

    def recorded(self, node: fx.Node) -> dict[str, Any]:
        meta = node.meta["tensor_meta"]
        shape = list(meta.shape)
        batched = bool(shape) and shape[0] == self.batch and self.from_input(node)
        dtype = str(meta.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise ModelImportError(f"{node.name}: output type {dtype} is not supported")
        return {"shape": shape[1:] if batched else shape, "batched": batched, "dtype": dtype}

    # -------------------------------------------------------------- walk
    def run(self) -> fx.Node:
        output = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if node.meta.get("tensor_meta") is None:
                    continue  # a fixed (concrete) argument
                self.values[node] = (self.data_id, "x")
            elif node.op == "output":
                output = node.args[0]
            elif self.several(node) or self.with_constants(node):
                pass  # a layer returning several values, or one of its values; see below
            elif not self.is_tensor(node):
                if node.op == "call_module":
                    raise ModelImportError(
                        f"{node.target}: returns a "
                        f"{_kind_of(node)}, not one tensor; import supports "
                        "modules that return a tensor"
                    )
                continue  # sizes, tuples…: written inline where a tensor op uses them
            elif node.op == "call_module":
                self.module(node)
            elif node.op == "get_attr":
                if node.users:
                    self.tensor(node)
            else:
                self.function(node)
        if not self.is_tensor(output) or output not in self.values:
            raise ModelImportError(
                f"the model must return one tensor (it returns {_kind_of(output)})"
            )
        return output

    def module(self, node: fx.Node) -> None:
        path = node.target
        m = self.gm.get_submodule(path)
        if path in self.called and any(True for _ in m.parameters()):
            raise ModelImportError(
                f"{path} is called more than once and has parameters "
                "(shared weights); import gives every node its own weights, "
                "so it supports each such module being called once"
            )
        if any(t.startswith(path + ".") for t in self.tensors):
            raise ModelImportError(
                f"{path} is called and its tensors are also read directly "
                "(shared weights); import gives every node its own weights"
            )
        self.called.add(path)
        tensors = [a for a in node.args if isinstance(a, fx.Node)]
        type_id = LAYER_TYPES.get(type(m))
        params = layer_params(type_id, m) if type_id else None
        spec = CATALOGUE[type_id] if type_id else None
        if (
            params is not None
            and not node.kwargs
            and len(node.args) == len(spec.inputs)
            and all(self.is_tensor(a) for a in node.args)
        ):
            ports = [p.name for p in spec.inputs]
            self.add(
                type_id,
                params,
                path,
                list(zip(ports, node.args, strict=True)),
                node,
                origin=_origin(path, m),
            )
            return
        code = self.codes.get(path) or module_code(m)
        if code is None:
            raise ModelImportError(
                f"{path}: cannot rebuild this {type(m).__name__} from its constructor arguments"
            )
        if (
            node.kwargs
            or not all(self.is_tensor(a) for a in node.args)
            or len(node.args) > len(CODE_INPUTS)
        ):
            raise ModelImportError(
                f"{path}: import supports modules called with up to {len(CODE_INPUTS)} tensors"
            )
        params = {
            "title": code.title,
            "init": code.init,
            "imports": code.imports,
            "source": code.source,
            **self.recorded(node),
            "param_count": sum(p.numel() for p in m.parameters()),
            **({"note": code.note} if code.note else {}),
        }
        self.add(
            "code.Module",
            params,
            path,
            list(zip(CODE_INPUTS, tensors, strict=False)),
            node,
            origin=_origin(path, m),
        )
        self.code_nodes.append(path)

    def several(self, node: fx.Node) -> bool:
        """A catalogue layer returning several values (LSTM's ``out, (h, c)``, attention's
        ``out, weights``) becomes its node, and ``operator.getitem`` on its result (what
        ``out, (h, c) = self.lstm(x)`` traces to) reads the matching output port. ``parts``
        maps the layer's call and every tuple inside its result to (node id, the ports that
        value holds, nested as ``NodeSpec.returns``). False for any other fx node."""
        if node.op == "call_function" and node.target is operator.getitem:
            src, index = node.args
            if src not in self.parts or not isinstance(index, int):
                return False
            nid, held = self.parts[src]
            item = held[index]
            if isinstance(item, tuple):
                self.parts[node] = (nid, item)
            elif self.is_tensor(node):  # (attention weights not asked for are None)
                self.values[node] = (nid, item)
            return True
        if node.op != "call_module":
            return False
        m = self.gm.get_submodule(node.target)
        type_id = LAYER_TYPES.get(type(m))
        spec = CATALOGUE[type_id] if type_id else None
        if spec is None or spec.returns is None:
            return False
        if type_id in _MAX_POOLS and not m.return_indices:  # a max pool giving one tensor
            return False
        path = node.target
        params = layer_params(type_id, m)
        inputs = [p.name for p in spec.inputs]
        args = list(node.args)
        if type_id == "nn.LSTMCell" and len(args) == 2 and isinstance(args[1], tuple | list):
            args = [args[0], *args[1]]  # cell(x, (h, c)): the states are ports hx and cx
        kwargs = dict(node.kwargs)
        # attention's call options that the node's code writes the same way
        allowed = {"need_weights", "key_padding_mask", "attn_mask", "average_attn_weights"}
        plain = type_id != "nn.MultiheadAttention" or (
            set(kwargs) <= allowed
            and kwargs.get("key_padding_mask") is None
            and kwargs.get("attn_mask") is None
            and kwargs.get("average_attn_weights", True) is True
            and isinstance(kwargs.get("need_weights", True), bool)
        )
        if (
            params is None
            or not plain
            or (type_id != "nn.MultiheadAttention" and kwargs)
            or not 1 <= len(args) <= len(inputs)
            or not all(self.is_tensor(a) and a in self.values for a in args)
        ):
            raise ModelImportError(
                f"{path}: this {type(m).__name__} call ({node.format_node()}) has arguments "
                f"the {spec.title} node does not take; import supports "
                f"{', '.join(inputs)} as tensors"
                + (" and need_weights" if type_id == "nn.MultiheadAttention" else "")
            )
        if path in self.called:
            raise ModelImportError(
                f"{path} is called more than once and has parameters "
                "(shared weights); import gives every node its own weights, "
                "so it supports each such module being called once"
            )
        self.called.add(path)
        nid = self.add(
            type_id,
            params,
            path,
            list(zip(inputs, args, strict=False)),
            None,
            origin=_origin(path, m),
        )
        self.parts[node] = (nid, spec.returns)
        return True

    def from_input(self, node: fx.Node) -> bool:
        """Whether ``node`` is computed from the model's input: a value made from weights
        alone (MaxViT's relative position bias, [heads, 49, 49]) has no batch dim, whatever
        its first size."""
        known = self.__dict__.setdefault("_from_input", {})
        stack = [node]
        while stack:
            n = stack[-1]
            if n in known:
                stack.pop()
                continue
            if n.op == "placeholder":
                known[n] = n.meta.get("tensor_meta") is not None
                stack.pop()
                continue
            pending = [a for a in n.all_input_nodes if a not in known]
            if pending:
                stack.extend(pending)
                continue
            known[n] = any(known[a] for a in n.all_input_nodes)
            stack.pop()
        return known[node]

    def with_constants(self, node: fx.Node) -> bool:
        """A module without weights, kept as code, called with tensors and constants
        (MaxViT's ``self.partition_op(x, self.p)``): a code expression that builds and calls
        it, ``WindowPartition()(x, 7)``. False for any other fx node."""
        if node.op != "call_module" or node.kwargs or not self.is_tensor(node):
            return False
        code = self.codes.get(node.target)
        m = self.gm.get_submodule(node.target)
        tensors = [a for a in node.args if isinstance(a, fx.Node)]
        if (
            code is None
            or m.state_dict()
            or len(tensors) == len(node.args)
            or not tensors
            or not all(self.is_tensor(a) and a in self.values for a in tensors)
            or not all(isinstance(a, fx.Node) or _literal_ok(a) for a in node.args)
            or len(tensors) > len(CODE_INPUTS)
        ):
            return False
        ports: dict[fx.Node, str] = {}
        for a in tensors:
            ports.setdefault(a, CODE_INPUTS[len(ports)])
        args = ", ".join(ports[a] if isinstance(a, fx.Node) else literal(a) for a in node.args)
        params = {
            "title": code.title,
            "expr": f"{code.init}({args})",
            "imports": code.imports,
            "source": code.source,
            **self.recorded(node),
        }
        self.add("code.Function", params, node.target, [(p, n) for n, p in ports.items()], node)
        self.code_nodes.append(node.target)
        self.called.add(node.target)
        return True

    def tensor(self, node: fx.Node) -> None:
        """A parameter or buffer the forward reads directly: a ``code.Tensor`` node."""
        path = node.target
        if path in self.tensors:  # read twice: one node
            self.values[node] = self.tensors[path]
            return
        owner = path.rpartition(".")[0]
        if path not in self.state_keys:
            raise ModelImportError(
                f"{path}: the forward reads a tensor that is not in the "
                "state_dict (a constant or a non-persistent buffer); import "
                "cannot keep its values"
            )
        if any(owner == c or owner.startswith(c + ".") for c in self.called):
            raise ModelImportError(
                f"{path} is read directly and also used by its module "
                f"{owner} (shared weights); import gives every node its "
                "own weights"
            )
        t = (
            self.gm.get_parameter(path)
            if isinstance(_resolve(self.gm, path), nn.Parameter)
            else self.gm.get_buffer(path)
        )
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise ModelImportError(f"{path}: tensor type {dtype} is not supported")
        param = isinstance(t, nn.Parameter)
        params = {
            "title": "Parameter" if param else "Buffer",
            "role": "parameter" if param else "buffer",
            "requires_grad": bool(t.requires_grad) if param else True,
            "shape": list(t.shape),
            "dtype": dtype,
        }
        self.add("code.Tensor", params, path, [], node, origin=path)
        self.tensors[path] = self.values[node]
        self.code_nodes.append(path)

    def function(self, node: fx.Node) -> None:
        mapped = _map_op(self, node) or _map_pool(self, node)
        if mapped is not None:
            return
        ports: dict[fx.Node, str] = {}
        imports: list[str] = []
        try:
            expr = _Render(self, ports, imports).node(node, top=True)
        except _TooManyInputs:
            raise ModelImportError(
                f"{node.name} ({_title(node)}): a call with more than "
                f"{len(CODE_INPUTS)} tensor inputs cannot be kept as code; "
                "wrap it in an nn.Module"
            ) from None
        if not ports:
            raise ModelImportError(
                f"{node.name}: {node.format_node()} uses no input tensor; "
                "import supports values computed from the input"
            )
        params = {"title": _title(node), "expr": expr, "imports": imports, **self.recorded(node)}
        self.add("code.Function", params, node.name, [(p, n) for n, p in ports.items()], node)
        self.code_nodes.append(node.name)


def _origin(path: str, m: nn.Module) -> str | None:
    """``path`` when module ``m`` has state_dict entries (what the generated model's
    ``load_state_dict`` renames, ``Node.origin``), else None."""
    return path if m.state_dict() else None


def _resolve(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _kind_of(value: Any) -> str:
    if isinstance(value, fx.Node):
        meta = value.meta.get("tensor_meta")
        if meta is None:
            return "value that is not a tensor"
        return f"{type(meta).__name__}" if not isinstance(meta, TensorMetadata) else "tensor"
    return type(value).__name__


def _title(node: fx.Node) -> str:
    if node.op == "call_method":
        return f".{node.target}()"
    return _qualified(node.target)[0]


# ---------------------------------------------------------------------------- ops
def _arg(node: fx.Node, i: int, name: str, default: Any = None) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _is(node: fx.Node, functions: tuple = (), methods: tuple = ()) -> bool:
    if node.op == "call_function":
        return node.target in functions
    return node.op == "call_method" and node.target in methods


def _is_batch_size(a: Any, x: Any) -> bool:
    """``a`` is ``x.size(0)`` (or ``x.shape[0]``): a reshape that keeps the batch."""
    if not isinstance(a, fx.Node) or a.op not in ("call_method", "call_function"):
        return False
    if a.op == "call_method" and a.target == "size":
        return a.args[0] is x and (a.args[1:] == (0,) or a.kwargs == {"dim": 0})
    if a.target is operator.getitem and a.args[1] == 0:
        src = a.args[0]
        return (
            isinstance(src, fx.Node)
            and src.args[:1] == (x,)
            and (
                (src.op == "call_method" and src.target == "size" and len(src.args) == 1)
                or (src.target is builtins.getattr and src.args[1:] == ("shape",))
            )
        )
    return False


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_ACTIVATIONS = {
    "nn.ReLU": ((F.relu, torch.relu), ("relu",)),
    "nn.Sigmoid": ((torch.sigmoid, F.sigmoid), ("sigmoid",)),
    "nn.Tanh": ((torch.tanh, F.tanh), ("tanh",)),
    "nn.ReLU6": ((F.relu6,), ()),
    "nn.SiLU": ((F.silu,), ()),
    "nn.Hardswish": ((F.hardswish,), ()),
    "nn.Hardsigmoid": ((F.hardsigmoid,), ()),
}


def _map_op(b: _Builder, node: fx.Node) -> bool | None:
    """Add the catalogue node for a call when there is one; None when it must stay code."""
    args = node.args
    used: list[fx.Node] = []
    fx.node.map_arg((args, node.kwargs), used.append)
    used = [a for a in used if not _is_batch_size(a, args[0] if args else None)]
    if not used or not all(b.is_tensor(a) and a in b.values for a in used):
        return None  # sizes and other values are written inline in a code expression
    tensors = [a for a in args if isinstance(a, fx.Node)]
    label = node.name
    binary = {
        "op.add": ((operator.add, operator.iadd, torch.add), ("add", "__add__")),
        "op.sub": ((operator.sub, torch.sub), ("sub",)),
        "op.multiply": ((operator.mul, operator.imul, torch.mul), ("mul",)),
        "op.divide": ((operator.truediv, torch.div), ("div",)),
        "op.matmul": ((operator.matmul, torch.matmul), ("matmul",)),
    }
    for type_id, (fns, methods) in binary.items():
        if _is(node, fns, methods) and not node.kwargs and len(args) == 2:
            a, c = args
            if isinstance(a, fx.Node) and isinstance(c, fx.Node):
                b.add(type_id, {}, label, [("a", a), ("b", c)], node)
                return True
            if type_id == "op.multiply" and (_number(a) or _number(c)):
                x, k = (a, c) if isinstance(a, fx.Node) else (c, a)
                b.add("op.scale", {"factor": float(k)}, label, [("x", x)], node)
                return True
            return None
    if (
        _is(node, (torch.cat, torch.concat))
        and isinstance(args[0], list | tuple)
        and all(isinstance(t, fx.Node) and b.is_tensor(t) for t in args[0])
        and set(node.kwargs) <= {"dim"}
    ):
        dim = _arg(node, 1, "dim", 0)
        items: list[Any] = list(args[0])
        if not items or not isinstance(dim, int):
            return None
        if len(items) == 1:
            b.values[node] = b.values[items[0]]
            return True
        prev: Any = None
        while items:
            take = 4 if prev is None else 3
            chunk, items = items[:take], items[take:]
            ins = ([("a", prev)] if prev is not None else []) + list(
                zip("abcd"[1 if prev is not None else 0 :], chunk, strict=False)
            )
            nid = b.add("op.concat", {"dim": dim}, label, ins, node if not items else None)
            prev = (nid, "out")
        return True
    if _is(node, (torch.flatten,), ("flatten",)) and len(tensors) == 1:
        start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
        if isinstance(start, int) and isinstance(end, int):
            b.add("nn.Flatten", {"start_dim": start, "end_dim": end}, label, [("x", args[0])], node)
            return True
        return None
    if _is(node, (F.adaptive_avg_pool2d,)) and len(tensors) == 1:
        size = _value(_arg(node, 1, "output_size"))
        try:
            params = CATALOGUE["nn.AdaptiveAvgPool2d"].validate_params({"output_size": size})
        except GraphError:
            return None
        b.add("nn.AdaptiveAvgPool2d", params, label, [("x", args[0])], node)
        return True
    for type_id, (fns, methods) in _ACTIVATIONS.items():
        if _is(node, fns, methods) and len(tensors) == 1 and args[0] is tensors[0]:
            inplace = _arg(node, 1, "inplace", False)
            extra = set(node.kwargs) - {"inplace"}
            if extra or len(args) > 2 or not isinstance(inplace, bool):
                return None
            spec = CATALOGUE[type_id]
            params = {"inplace": inplace} if any(p.name == "inplace" for p in spec.params) else {}
            if inplace and not params:
                return None
            b.add(type_id, params, label, [("x", args[0])], node)
            return True
    if (
        _is(node, (F.gelu,), ("gelu",))
        and len(tensors) == 1
        and args[0] is tensors[0]
        and len(args) == 1
        and set(node.kwargs) <= {"approximate"}
    ):
        b.add(
            "nn.GELU",
            {"approximate": node.kwargs.get("approximate", "none")},
            label,
            [("x", args[0])],
            node,
        )
        return True
    if _is(node, (torch.reshape,), ("reshape", "view")) and len(used) == 1:
        shape = list(args[1:])
        if len(shape) == 1 and isinstance(shape[0], list | tuple):
            shape = list(shape[0])
        keep = bool(shape) and _is_batch_size(shape[0], args[0])
        if keep:
            shape = shape[1:]
        if (
            shape
            and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            and not node.kwargs
        ):
            b.add("op.reshape", {"shape": shape, "keep_batch": keep}, label, [("x", args[0])], node)
            return True
        return None
    if (
        _is(node, (torch.mean, torch.sum), ("mean", "sum"))
        and len(tensors) == 1
        and set(node.kwargs) <= {"dim", "keepdim"}
        and len(args) <= 3
    ):
        dim = _value(_arg(node, 1, "dim"))
        keep = _arg(node, 2, "keepdim", False)
        if isinstance(dim, int):
            dim = [dim]
        if not (
            isinstance(dim, list) and dim and all(isinstance(d, int) for d in dim)
        ) or not isinstance(keep, bool):
            return None
        kind = "op.mean" if node.target in (torch.mean, "mean") else "op.sum"
        b.add(kind, {"dim": dim, "keepdim": keep}, label, [("x", args[0])], node)
        return True
    simple = {
        "op.permute": ((torch.permute,), ("permute",)),
        "op.transpose": ((torch.transpose,), ("transpose",)),
        "op.unsqueeze": ((torch.unsqueeze,), ("unsqueeze",)),
    }
    for type_id, (fns, methods) in simple.items():
        if _is(node, fns, methods) and len(tensors) == 1 and not node.kwargs:
            rest = list(args[1:])
            if type_id == "op.permute":
                dims = _value(rest[0]) if len(rest) == 1 else rest
                if not (isinstance(dims, list) and all(isinstance(d, int) for d in dims)):
                    return None
                params = {"dims": dims}
            elif type_id == "op.transpose":
                if len(rest) != 2 or not all(isinstance(d, int) for d in rest):
                    return None
                params = {"dim0": rest[0], "dim1": rest[1]}
            else:
                if len(rest) != 1 or not isinstance(rest[0], int):
                    return None
                params = {"dim": rest[0]}
            b.add(type_id, params, label, [("x", args[0])], node)
            return True
    return None


# F.max_pool2d(x, 3, stride=2)… → the pooling layer node with the same settings
_POOLS: dict[Any, tuple[str, tuple[str, ...]]] = {
    F.max_pool1d: ("nn.MaxPool1d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    F.max_pool2d: ("nn.MaxPool2d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    F.avg_pool1d: (
        "nn.AvgPool1d",
        ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    ),
    F.avg_pool2d: (
        "nn.AvgPool2d",
        ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    ),
}


_MAX_POOLS = frozenset({"nn.MaxPool1d", "nn.MaxPool2d", "nn.MaxPool3d"})


def _map_pool(b: _Builder, node: fx.Node) -> bool | None:
    """A functional max or average pooling call as its layer node; None when it must stay code
    (indices returned, a size computed at run time, a value the catalogue refuses)."""
    if node.op != "call_function" or node.target not in _POOLS:
        return None
    type_id, names = _POOLS[node.target]
    x, *rest = node.args or (None,)
    if not (b.is_tensor(x) and x in b.values) or len(rest) > len(names):
        return None
    values = dict(zip(names, rest, strict=False))
    kwargs = dict(node.kwargs)
    if kwargs.pop("return_indices", False) or set(kwargs) - set(names) or set(kwargs) & set(values):
        return None
    values.update(kwargs)
    if any(isinstance(v, fx.Node) for v in values.values()):
        return None
    spec = CATALOGUE[type_id]
    values = {k: _value(v) for k, v in values.items() if k != "stride" or v not in (None, [], ())}
    try:
        params = spec.validate_params(values)
    except GraphError:
        return None
    b.add(type_id, params, node.name, [("x", x)], node)
    return True


# ---------------------------------------------------------------------------- code expressions
_BINARY = {
    operator.add: "+",
    operator.sub: "-",
    operator.mul: "*",
    operator.truediv: "/",
    operator.floordiv: "//",
    operator.mod: "%",
    operator.pow: "**",
    operator.matmul: "@",
    operator.iadd: "+",
    operator.imul: "*",
    operator.isub: "-",
    operator.itruediv: "/",
    operator.and_: "&",
    operator.or_: "|",
    operator.xor: "^",
    operator.lt: "<",
    operator.le: "<=",
    operator.gt: ">",
    operator.ge: ">=",
    operator.eq: "==",
    operator.ne: "!=",
}
_UNARY = {operator.neg: "-", operator.pos: "+", operator.invert: "~"}


def _qualified(fn: Any) -> tuple[str, str | None]:
    """(how model.py names ``fn``, the import it needs or None)."""
    name = getattr(fn, "__name__", None)
    if name is None:
        raise ModelImportError(f"cannot write {fn!r} as code")
    if getattr(torch, name, None) is fn:
        return f"torch.{name}", None
    if getattr(F, name, None) is fn:
        return f"torch.nn.functional.{name}", None
    if getattr(torch.Tensor, name, None) is fn:
        return f"torch.Tensor.{name}", None
    if getattr(builtins, name, None) is fn:
        return name, None
    mod = _importable(fn)
    if mod is None:
        raise ModelImportError(
            f"{name}: cannot write this function as code (it is not "
            "importable); wrap it in an nn.Module"
        )
    return f"{mod}.{name}", f"import {mod}"


class _TooManyInputs(Exception):
    pass


class _Render:
    """An fx node as one Python expression over the code node's inputs x, x2, x3, x4."""

    def __init__(self, b: _Builder, ports: dict[fx.Node, str], imports: list[str]):
        self.b = b
        self.ports = ports
        self.imports = imports

    def arg(self, a: Any) -> str:
        if isinstance(a, fx.Node):
            if a in self.b.values:
                if a not in self.ports:
                    if len(self.ports) == len(CODE_INPUTS):
                        raise _TooManyInputs
                    self.ports[a] = CODE_INPUTS[len(self.ports)]
                return self.ports[a]
            if a.op in ("call_function", "call_method"):
                return self.node(a)
            raise ModelImportError(f"{a.name}: {a.format_node()} cannot be written as code")
        if isinstance(a, list):
            return "[" + ", ".join(self.arg(x) for x in a) + "]"
        if isinstance(a, tuple):
            items = [self.arg(x) for x in a]
            return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
        if isinstance(a, torch.dtype):
            return str(a)
        if a is Ellipsis:
            return "..."
        if isinstance(a, slice):
            parts = ["" if v is None else self.arg(v) for v in (a.start, a.stop, a.step)]
            return ":".join(parts[:2]) + (f":{parts[2]}" if a.step is not None else "")
        if isinstance(a, float) and not math.isfinite(a):
            return f'float("{a}")'
        if isinstance(a, bool | int | float | str) or a is None:
            return literal(a)
        raise ModelImportError(f"cannot write the argument {a!r} ({type(a).__name__}) as code")

    def index(self, a: Any) -> str:
        if isinstance(a, tuple):
            return ", ".join(self.arg(x) for x in a) if a else "()"
        return self.arg(a)

    def call_args(self, args: tuple, kwargs: dict) -> str:
        return ", ".join(
            [self.arg(a) for a in args] + [f"{k}={self.arg(v)}" for k, v in kwargs.items()]
        )

    def node(self, n: fx.Node, top: bool = False) -> str:
        from torchcanvas.codegen.ops import _atom

        if not top and n in self.b.values:
            return self.arg(n)
        if n.op == "call_method":
            recv, *rest = n.args
            return f"{_atom(self.arg(recv))}.{n.target}({self.call_args(tuple(rest), n.kwargs)})"
        if n.op != "call_function":
            raise ModelImportError(f"{n.name}: {n.format_node()} cannot be written as code")
        fn = n.target
        if fn is operator.getitem:
            return f"{_atom(self.arg(n.args[0]))}[{self.index(n.args[1])}]"
        if fn is builtins.getattr and len(n.args) == 2 and isinstance(n.args[1], str):
            return f"{_atom(self.arg(n.args[0]))}.{n.args[1]}"
        if fn in _BINARY and len(n.args) == 2 and not n.kwargs:
            return f"{_atom(self.arg(n.args[0]))} {_BINARY[fn]} {_atom(self.arg(n.args[1]))}"
        if fn in _UNARY and len(n.args) == 1:
            return f"{_UNARY[fn]}{_atom(self.arg(n.args[0]))}"
        name, imp = _qualified(fn)
        if imp and imp not in self.imports:
            self.imports.append(imp)
        return f"{name}({self.call_args(n.args, n.kwargs)})"


# ---------------------------------------------------------------------------- import
def import_model(
    model: nn.Module | str,
    input_shape: tuple[int, ...] = DEFAULT_INPUT,
    *,
    args: dict[str, Any] | None = None,
    batch: int = 2,
    name: str | None = None,
    verify: bool = True,
) -> ImportResult:
    """Trace ``model`` (or load it from a SPEC, see ``load_spec``) and build its graph.

    ``input_shape`` is one sample's shape (no batch dim); the model runs once on a random batch
    of ``batch`` samples to record the shape of every value. With ``verify`` the graph is
    compiled, given the model's weights and run on that batch: ``max_abs_diff`` and a note say
    whether the outputs match. Raises ``ModelImportError``."""
    if isinstance(model, str):
        name = name or model.rpartition(":")[2]  # the class, function or torchvision name
        model = load_spec(model, args)
    input_shape = tuple(int(d) for d in input_shape)
    was_training = model.training
    model.eval()  # branches on self.training are traced as evaluation runs them
    try:
        example = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0))
        _concrete_args(model)  # one input tensor, else a clear refusal
        try:  # the model itself first: a wrong input shape is named at the user's line
            with torch.no_grad():
                model(example)
        except Exception as exc:
            raise _run_failure(exc, [batch, *input_shape]) from None
        gm, codes = _trace(model)
        try:
            with torch.no_grad():
                ShapeProp(gm).propagate(example)
        except Exception as exc:
            while exc.__cause__ is not None:  # ShapeProp wraps the real error
                exc = exc.__cause__
            raise _run_failure(exc, [batch, *input_shape]) from None
        model_name = camel(name or type(model).__name__, "Net")
        if not model_name.isidentifier() or model_name in {c.title for c in codes.values()}:
            model_name = "ImportedNet"
        graph = Graph({"model_name": model_name})
        data_id = graph.add_node("data.RandomImages", {"shape": list(input_shape)}, label="input")
        builder = _Builder(gm, codes, graph, data_id, batch)
        output = builder.run()
        out_meta = output.meta["tensor_meta"]
        if len(out_meta.shape) == 2 and out_meta.shape[1] >= 2 and out_meta.dtype.is_floating_point:
            classes = int(out_meta.shape[1])
            graph.set_param(data_id, "num_classes", classes)
            out_id, out_port = builder.values[output]
            loss = graph.add_node("loss.CrossEntropy", label="loss")
            graph.connect(out_id, out_port, loss, "input")
            graph.connect(data_id, "y", loss, "target")
            opt = graph.add_node("optim.Adam", label="optimizer")
            graph.connect(loss, "loss", opt, "loss")
        for nid, pos in layered_layout(graph, direction=graph.settings["flow"]).items():
            graph.set_position(nid, pos)
    finally:
        model.train(was_training)
    notes = []
    used = set(builder.called)
    unused = sorted(
        name
        for name, m in model.named_children()
        if any(True for _ in m.parameters())
        and not any(u == name or u.startswith(name + ".") for u in used)
    )
    if unused:
        notes.append("not used by the traced forward, so not imported: " + ", ".join(unused))
    if builder.code_nodes:
        notes.append(
            f"{len(builder.code_nodes)} part(s) kept as code: "
            + ", ".join(builder.code_nodes[:8])
            + (" …" if len(builder.code_nodes) > 8 else "")
        )
    opaque = {p: c.note.removeprefix("opaque: ") for p, c in codes.items() if c.note}
    if opaque:
        notes.append(_opaque_note(opaque))
    result = ImportResult(graph, model, input_shape, builder.code_nodes, notes, opaque=opaque)
    if verify:
        _verify(result, batch)
    return result


def _opaque_note(opaque: dict[str, str]) -> str:
    """Which modules were kept whole because they cannot be traced, and why."""
    shown = [f"{path} ({why})" for path, why in list(opaque.items())[:8]]
    return (
        f"{len(opaque)} module(s) cannot be traced and are kept whole as opaque code modules "
        "(class source and weights kept; edit around them): "
        + "; ".join(shown)
        + (" …" if len(opaque) > 8 else "")
    )


def _verify(result: ImportResult, batch: int) -> None:
    from torchcanvas.runtime.compile import CompileError

    try:
        _, _, diff, size = compare(result.model, result.graph, result.input_shape, batch=batch)
    except CompileError as exc:
        result.notes.append(f"the imported graph does not compile yet: {exc}")
        return
    except ModelImportError as exc:  # the weights do not fit
        result.notes.append(str(exc))
        return
    except Exception as exc:  # code nodes run the user's code
        result.notes.append(
            f"the generated model failed on a test batch: {type(exc).__name__}: {exc}"
        )
        return
    result.max_abs_diff = diff
    if diff <= 1e-5 * max(1.0, size):
        result.notes.append("outputs match the original model")
    else:
        result.notes.append(f"outputs differ from the original model by up to {diff:.3g}")


# ---------------------------------------------------------------------------- weights
def imported_keys(graph: Graph, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` without the keys that belong to no node imported into ``graph`` (a
    submodule the forward does not use, which import leaves out and notes)."""
    paths = {n.origin for n in graph.nodes() if n.origin is not None}

    def imported(key: str) -> bool:
        parts = key.split(".")
        return any(".".join(parts[:i]) in paths for i in range(1, len(parts) + 1))

    return OrderedDict((k, v) for k, v in state_dict.items() if imported(k))


# ---------------------------------------------------------------------------- round trip
@dataclass(frozen=True)
class RoundtripResult:
    name: str
    original_params: int
    imported_params: int
    max_abs_diff: float
    ok: bool
    nodes: int = 0
    code_nodes: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare(
    original: nn.Module,
    graph: Graph,
    input_shape: tuple[int, ...],
    *,
    batch: int = 2,
    seed: int = 0,
    title: str = "",
) -> tuple[int, int, float, float]:
    """Compile ``graph``, load ``original``'s state_dict into it as it is (strictly: every key
    of the imported modules) and run both on one random batch in evaluation mode: (original
    params, generated params, max |difference|, max |output|). Raises ``CompileError`` or
    ``ModelImportError``."""
    from torchcanvas.runtime.compile import compile_model

    compiled = compile_model(graph, title=title)
    rebuilt = compiled.new()
    try:
        rebuilt.load_state_dict(imported_keys(graph, original.state_dict()))
    except RuntimeError as exc:
        raise ModelImportError(
            f"the original weights do not load into the generated model: {exc}"
        ) from None
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    was = original.training
    original.eval()
    rebuilt.eval()
    try:
        with torch.no_grad():
            want, got = original(x), rebuilt(x)
    finally:
        original.train(was)
    diff = float((want - got).abs().max()) if want.shape == got.shape else math.inf
    n_orig = sum(p.numel() for p in original.parameters())
    n_new = sum(p.numel() for p in rebuilt.parameters())
    return n_orig, n_new, diff, float(want.abs().max())


def roundtrip(
    model: nn.Module | str,
    input_shape: tuple[int, ...] = DEFAULT_INPUT,
    *,
    batch: int = 2,
    seed: int = 0,
    tolerance: float = 1e-5,
) -> RoundtripResult:
    """Import ``model``, compile the graph, load the original state_dict into the generated
    model and compare parameter counts and outputs (evaluation mode, one random batch).
    ``ok`` when the counts match and outputs agree within ``tolerance`` × max(1, |output|)."""
    from torchcanvas.runtime.compile import CompileError

    start = time.perf_counter()
    name = model if isinstance(model, str) else type(model).__name__
    try:
        torch.manual_seed(seed)
        original = load_spec(model) if isinstance(model, str) else model
        result = import_model(original, input_shape, batch=batch, name=name, verify=False)
        n_orig, n_new, diff, size = compare(
            original, result.graph, input_shape, batch=batch, seed=seed, title=name
        )
        return RoundtripResult(
            name,
            n_orig,
            n_new,
            diff,
            n_orig == n_new and diff <= tolerance * max(1.0, size),
            len(result.graph),
            len(result.code_nodes),
            time.perf_counter() - start,
        )
    except (ModelImportError, CompileError) as exc:
        return RoundtripResult(
            name, 0, 0, math.inf, False, seconds=time.perf_counter() - start, error=str(exc)
        )


ROUNDTRIP_MODELS = (
    "resnet18",
    "vgg11",
    "alexnet",
    "mobilenet_v2",
    "squeezenet1_0",
    "densenet121",
    "efficientnet_b0",
    "vit_b_16",
    "swin_t",
    "maxvit_t",
    "inception_v3",
    "googlenet",
    "mnasnet0_5",
    "regnet_y_400mf",
)
"""torchvision architectures known to round-trip (tests check most of them on CPU)."""

ROUNDTRIP_SHAPES: dict[str, tuple[int, ...]] = {
    "vit_b_16": (3, 224, 224),
    "maxvit_t": (3, 224, 224),
    "inception_v3": (3, 75, 75),
}
"""Input shapes of the models above that need another than ``DEFAULT_INPUT`` (ViT checks its
image size, MaxViT's attention windows are sized for it, Inception v3 needs 75 × 75 at least)."""


def import_ok(names: tuple[str, ...] = ROUNDTRIP_MODELS, **kw: Any) -> list[str]:
    """The names in ``names`` whose ``roundtrip`` is ok: what bench/export_roundtrip.py reports
    as ``import_ok``."""
    shape = kw.pop("input_shape", None)
    return [
        name
        for name in names
        if roundtrip(name, shape or ROUNDTRIP_SHAPES.get(name, DEFAULT_INPUT), **kw).ok
    ]
