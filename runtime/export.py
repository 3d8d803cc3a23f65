"""Writing a project out as a folder a PyTorch user can take away: model.py, train.py and their
data, the weights (state_dict as weights.pt and weights.safetensors), TorchScript, ONNX, a README
and a requirements file.

``export_project`` writes every chosen format; a format that cannot be produced for the graph
is reported with the reason and the others are still written. Code, README and requirements
are byte-identical for identical graphs, and so are the weight, TorchScript and ONNX files for
identical weights.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchcanvas.codegen.data import data_file_name, text_task
from torchcanvas.codegen.model import build_ir, print_model
from torchcanvas.codegen.style import SAMPLE_FILES
from torchcanvas.runtime.compile import CompiledProject
from torchcanvas.runtime.data import materialize
from torchcanvas.runtime.source import generated_line, run_source

FORMATS = ("code", "weights", "safetensors", "torchscript", "onnx")
FORMAT_LABELS = {
    "code": "Code (model.py, train.py, data/)",
    "weights": "Weights (weights.pt, a state_dict)",
    "safetensors": "Weights (weights.safetensors)",
    "torchscript": "TorchScript (model.torchscript.pt)",
    "onnx": "ONNX (model.onnx)",
}
FORMAT_TITLES = {
    "code": "Code",
    "weights": "Weights",
    "safetensors": "safetensors",
    "torchscript": "TorchScript",
    "onnx": "ONNX",
}
EXPORT_BATCH = 2  # batch size of the example inputs that TorchScript tracing and ONNX see
CHECK_BATCH = 3  # a different batch size for checking the files: the batch axis is dynamic
ONNX_OPSET = 18


class ExportError(Exception):
    """The export cannot start (bad format name, unreadable or unfitting weights); ``field``
    names the option that is wrong."""

    def __init__(self, message: str, field: str = "", node_id: str | None = None):
        super().__init__(message)
        self.field = field
        self.node_id = node_id  # the canvas node it concerns, when known


@dataclass
class FormatResult:
    """What one format produced: its files, or why it could not be produced."""

    format: str
    files: list[Path] = field(default_factory=list)
    error: str | None = None
    note: str = ""  # how it was made or checked
    max_abs_diff: float | None = None  # against the model in the app, where checked
    node_id: str | None = None  # the canvas node a failure concerns, when known

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ExportReport:
    out_dir: Path
    weights: str  # where the weights came from, in words
    results: dict[str, FormatResult]
    files: list[Path]  # everything written, README and requirements included

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())

    def failed(self) -> list[FormatResult]:
        return [r for r in self.results.values() if not r.ok]

    def lines(self) -> list[str]:
        """One line per format, for a terminal."""
        out = []
        for name, r in self.results.items():
            title = FORMAT_TITLES[name]
            if r.ok:
                files = ", ".join(_rel(p, self.out_dir) for p in r.files)
                out.append(f"{title}: {files}" + (f" ({r.note})" if r.note else ""))
            else:
                out.append(f"{title}: not exported: {r.error}")
        return out


@dataclass
class Weights:
    state_dict: dict[str, torch.Tensor] | None  # None: fresh weights from the project seed
    description: str


# ----------------------------------------------------------------------------- helpers
def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _saved(obj: Any, save: Callable[[Any, io.BytesIO], None] = torch.save) -> bytes:
    """``torch.save`` (or ``torch.jit.save``) into memory: the zip's inner folder is then named
    after no file, so identical tensors give identical bytes whatever the file is called."""
    buffer = io.BytesIO()
    save(obj, buffer)
    return buffer.getvalue()


@contextlib.contextmanager
def _quiet():
    """The exporters' deprecation warnings, progress lines, log records and printouts
    (torch.export prints whole FX graphs when it gives up on a model, before the other
    exporter takes it) are not the user's business: a failure comes back as an exception."""
    disabled = logging.root.manager.disable
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):  # torch.export prints failed graphs
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # torch's loggers set their own levels: all of them
        try:
            yield
        finally:
            logging.disable(disabled)


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _node_for_op(project: CompiledProject, op: str) -> str | None:
    """The canvas node whose layer is the torch op ``op`` (``adaptive_max_pool2d``), if one."""
    for node in project.graph.nodes():
        spec = node.spec
        torch_name = getattr(spec, "torch_name", "") or ""
        if torch_name and _snake(torch_name.rsplit(".", 1)[-1]) == op:
            return node.id
    return None


def _node_of(project: CompiledProject, exc: BaseException) -> str | None:
    """The canvas node whose line of the generated model.py raised ``exc``, if one did."""
    hit = generated_line(exc)
    source = project.model.source
    if hit is None or not hit[0].startswith("<torchcanvas model.py"):
        return None
    return source.line_map.get(hit[1])


# ----------------------------------------------------------------------------- weights
def _from_checkpoint(obj: Any, where: str) -> tuple[dict[str, torch.Tensor], str]:
    """A state_dict from an app/train.py checkpoint (``{"model": ..., "epoch": ...}``) or a plain
    state_dict; a description saying which."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        epoch = obj.get("epoch")
        history = obj.get("history") or []
        text = f"{where} (a checkpoint"
        batch = obj.get("batch")
        if isinstance(epoch, int) and isinstance(batch, int) and batch > 0:
            text += f" from epoch {epoch + 1}, stopped after {batch} batches"
        elif isinstance(epoch, int):
            text += f" after epoch {epoch}"
            record = next(
                (h for h in history if isinstance(h, dict) and h.get("epoch") == epoch), None
            )
            val = record.get("val_loss") if record else None
            if isinstance(val, float) and math.isfinite(val):
                text += f", validation loss {val:.4g}"
        text += ")"
        obj = obj["model"]
    else:
        text = f"{where} (a state_dict)"
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ExportError(f"{where} holds neither a checkpoint nor a state_dict", "weights")
    return obj, text


def _run_name(folder: Path) -> str:
    """The name run.json gives the run, else the folder's."""
    try:
        name = json.loads((folder / "run.json").read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return repr(name) if isinstance(name, str) and name else folder.name


def load_weights(source: Path) -> Weights:
    """The weights in ``source``: a run folder (its best.pt, else its last checkpoint.pt or
    weights.pt), a checkpoint file, a state_dict file or a .safetensors file."""
    source = Path(source)
    if source.is_dir():
        for name, why in (
            ("best.pt", "the epoch with the lowest validation loss"),
            ("checkpoint.pt", "the last checkpoint"),
            ("weights.pt", "the final weights"),
        ):
            if (source / name).is_file():
                weights = load_weights(source / name)
                return Weights(
                    weights.state_dict, f"Run {_run_name(source)}: {weights.description}, {why}"
                )
        raise ExportError(
            f"{source}: no best.pt, checkpoint.pt or weights.pt in this folder "
            "(is it a run folder?)",
            "weights",
        )
    if not source.is_file():
        raise ExportError(f"{source}: no such file or folder", "weights")
    try:
        if source.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(source), device="cpu")
        else:
            state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say so, never crash
        raise ExportError(f"{source}: cannot read weights: {_first_line(exc)}", "weights") from exc
    state, text = _from_checkpoint(state, source.name)
    return Weights(state, text)


@functools.lru_cache(maxsize=16)
def _model_class(source: str, class_name: str) -> type[nn.Module]:
    """The class of model.py as the module ``model``, one per source text: TorchScript then
    names it ``model.<class>`` as the exported file would, and exporting the same graph again
    reuses the class, so TorchScript compiles it to the same type (a new class of the same name
    would get a mangled name, and different bytes)."""
    return run_source(source, "model.py", {"__name__": "model"})[class_name]


def build_model(project: CompiledProject, weights: Weights | None) -> nn.Module:
    """The model on the CPU in eval mode, with ``weights`` or freshly initialised exactly as
    train.py starts (``torch.manual_seed(seed)`` then the constructor)."""
    source = project.model.source
    with torch.random.fork_rng(devices=[]):  # the app's random state stays as it was
        torch.manual_seed(project.graph.settings["seed"])
        model = _model_class(source.source, source.ir.class_name)()
    if weights is not None and weights.state_dict is not None:
        own = model.state_dict()
        state = _original_names(weights.state_dict, project, own)
        problems = []
        missing = [k for k in own if k not in state]
        extra = [k for k in state if k not in own]
        if missing:
            problems.append("missing " + ", ".join(missing[:5]) + (" …" if missing[5:] else ""))
        if extra:
            problems.append("unexpected " + ", ".join(extra[:5]) + (" …" if extra[5:] else ""))
        problems += [
            f"{k} has shape {tuple(state[k].shape)}, the model {tuple(v.shape)}"
            for k, v in own.items()
            if k in state and state[k].shape != v.shape
        ][:5]
        if problems:
            raise ExportError(
                f"{weights.description} does not fit this model: " + "; ".join(problems), "weights"
            )
        model.load_state_dict(state)
    return model.eval()


def _original_names(
    state: dict[str, torch.Tensor], project: CompiledProject, own: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state`` with keys named after an imported model's module paths (``gates.0.conv.weight``)
    renamed to model.py's attributes (``gates_0.conv.weight``), as its load_state_dict pre-hook
    does (codegen/origins.py), so the original model's state_dict is weights for it too."""
    from torchcanvas.codegen.origins import renames

    ir = project.model.source.ir
    names = renames(ir.origins, set(ir.attrs.values()))
    if not names or all(k in own for k in state):
        return state
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        for i in range(len(parts), 0, -1):
            attr = names.get(".".join(parts[:i]))
            if attr is not None and key not in own:
                key = ".".join([attr, *parts[i:]])
                break
        out[key] = value
    return out


# ----------------------------------------------------------------------------- inputs
def example_inputs(project: CompiledProject, batch: int) -> tuple[torch.Tensor, ...]:
    """Inputs of the model's shapes and dtypes with ``batch`` samples, the same every time."""
    shapes, dtypes = project.shapes.shapes, project.shapes.dtypes
    g = torch.Generator().manual_seed(batch)
    out = []
    for name, value in project.model.source.ir.inputs:
        dims = []
        for d in shapes[value]:
            if d == "B":
                dims.append(batch)
            elif isinstance(d, int):
                dims.append(d)
            else:
                raise ValueError(f"input {name!r} has an unknown size {d!r}")
        dtype = getattr(torch, dtypes.get(value, "float32"))
        if dtype.is_floating_point:
            out.append(torch.randn(dims, generator=g, dtype=dtype))
        else:  # class indices or token ids: 0 is valid for any embedding
            out.append(torch.zeros(dims, dtype=dtype))
    return tuple(out)


def _batch_axes(project: CompiledProject) -> list[int | None]:
    shapes = project.shapes.shapes
    return [
        shapes[v].index("B") if "B" in shapes[v] else None
        for _, v in project.model.source.ir.inputs
    ]


def _outputs(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _outputs(v)]
    if isinstance(value, dict):
        return [t for k in sorted(value) for t in _outputs(value[k])]
    return []


def max_abs_diff(got: Sequence[Any], expected: Sequence[torch.Tensor]) -> float:
    if len(got) != len(expected):
        raise ValueError(f"{len(got)} outputs, expected {len(expected)}")
    worst = 0.0
    for a, b in zip(got, expected, strict=True):
        a = torch.as_tensor(a)
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"output of shape {tuple(a.shape)}, expected {tuple(b.shape)}")
        if a.numel():
            worst = max(worst, (a.double() - b.double()).abs().max().item())
    return worst


def _tolerance(expected: Sequence[torch.Tensor]) -> float:
    scale = max((t.abs().max().item() for t in expected if t.numel()), default=1.0)
    return 1e-4 * max(1.0, scale)


# ----------------------------------------------------------------------------- formats
def _export_torchscript(
    model: nn.Module, examples, check_inputs, expected
) -> tuple[bytes, str, float]:
    """Script the model; if scripting fails, trace it. Checked on another batch size."""
    how = "scripted"
    with _quiet():
        try:
            module = torch.jit.script(model)
        except Exception as script_exc:
            try:
                module = torch.jit.trace(model, examples, check_trace=False)
            except Exception as trace_exc:
                raise RuntimeError(
                    f"cannot script the model ({_first_line(script_exc)}) nor "
                    f"trace it ({_first_line(trace_exc)})"
                ) from trace_exc
            how = f"traced; scripting failed: {_first_line(script_exc, 160)}"
        data = _saved(module, torch.jit.save)
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
        with torch.no_grad():
            diff = max_abs_diff(_outputs(loaded(*check_inputs)), expected)
    if diff > _tolerance(expected):
        raise RuntimeError(
            f"the {how.split(';')[0]} model's outputs differ from the model's by up to {diff:.3g}"
        )
    return data, how, diff


def _onnx_reason(exc: BaseException, legacy: BaseException | None) -> tuple[str, str | None]:
    """A short reason and the aten op it concerns, from the exporters' long messages."""
    texts = [str(exc)] + ([str(legacy)] if legacy is not None else [])
    op = None
    for text in texts:
        found = (
            re.search(r"No ONNX function found for <OpOverload\(op='([\w.]+)'", text)
            or re.search(r"ONNX export of operator ([\w.]+)", text)
            or re.search(r"Exporting the operator '?([\w:.]+)'? to ONNX", text)
        )
        if found:
            op = found.group(1).replace("aten::", "aten.")
            break
    detail = ""
    if legacy is not None:
        found = re.search(r"Unsupported: (ONNX export of operator [^.\[]*)", str(legacy))
        detail = found.group(1).strip() if found else ""
    if not detail:
        detail = _first_line(exc)
    if op:
        name = op if op.startswith("aten.") else f"aten.{op}"
        return f"op {name} not supported: {detail}", name.removeprefix("aten.").split(".")[0]
    return detail, None


def _export_onnx(
    model: nn.Module,
    examples,
    input_names: list[str],
    output_names: list[str],
    batch_axes: list[int | None],
) -> tuple[Any, str]:
    """The model as an ONNX ModelProto with a dynamic batch axis (torch.export-based exporter,
    falling back to the TorchScript-based one)."""
    import onnx

    with _quiet():
        try:
            batch = torch.export.Dim("batch")
            dynamic = tuple({axis: batch} if axis is not None else None for axis in batch_axes)
            program = torch.onnx.export(
                model,
                examples,
                None,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=dynamic,
                opset_version=ONNX_OPSET,
                dynamo=True,
                verbose=False,
                report=False,
            )
            return program.model_proto, "torch.export-based exporter"
        except Exception as exc:
            first = exc
        axes = {
            name: {axis: "batch"}
            for name, axis in zip(input_names, batch_axes, strict=True)
            if axis is not None
        }
        axes.update({name: {0: "batch"} for name in output_names})
        buffer = io.BytesIO()
        try:
            torch.onnx.export(
                model,
                examples,
                buffer,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        except Exception as legacy:
            reason, op = _onnx_reason(first, legacy)
            raise OnnxExportError(reason, op) from first
        return onnx.load_from_string(buffer.getvalue()), "TorchScript-based exporter"


class OnnxExportError(RuntimeError):
    def __init__(self, message: str, op: str | None):
        super().__init__(message)
        self.op = op


def run_onnx(data: bytes, inputs: dict[str, Any]) -> tuple[list[Any], str]:
    """Run an ONNX model: onnxruntime when installed, else ONNX's reference evaluator."""
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return session.run(None, inputs), "onnxruntime"
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(data).run(None, inputs), "the ONNX reference evaluator"


# ----------------------------------------------------------------------------- README etc.
def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
    parts = re.match(r"(\d+)\.(\d+)", version)
    return f"{parts.group(1)}.{parts.group(2)}" if parts else None


def uses_torchvision(project: CompiledProject) -> bool:
    return "torchvision" in project.model.source.source or "torchvision" in project.train.source


def requirements_text(project: CompiledProject, formats: Iterable[str]) -> str:
    formats = set(formats)
    lines = ["# model.py and train.py need only these:", f"torch>={_version('torch') or '2.4'}"]
    if uses_torchvision(project):
        lines.append(f"torchvision>={_version('torchvision') or '0.19'}")
    optional = []
    if "safetensors" in formats:
        optional.append(("safetensors", "to load weights.safetensors"))
    if "onnx" in formats:
        optional.append(("onnxruntime", "to run model.onnx"))
    if optional:
        lines += ["", "# optional:"]
        lines += [f"# {name}>={_version(name) or '1.0'}  # {why}" for name, why in optional]
    return "\n".join(lines) + "\n"


def _shape_text(project: CompiledProject, batch: str = "1") -> list[str]:
    shapes, dtypes = project.shapes.shapes, project.shapes.dtypes
    out = []
    for name, value in project.model.source.ir.inputs:
        dims = ", ".join(batch if d == "B" else str(d) for d in shapes[value])
        dtype = dtypes.get(value, "float32")
        if dtype.startswith("float"):
            out.append(f"{name} = torch.randn({dims})")
        else:
            out.append(f"{name} = torch.zeros({dims}, dtype=torch.{dtype})")
    return out


def readme_text(project: CompiledProject, weights: str, results: dict[str, FormatResult]) -> str:
    ir = project.model.source.ir
    cls = ir.class_name
    settings = project.graph.settings
    args = ", ".join(name for name, _ in ir.inputs)
    ok = {name for name, r in results.items() if r.ok}
    title = project.model.source.source.splitlines()[0].strip('"').split(":")[0] or cls
    lines = [
        f"# {title}",
        "",
        f"The `{cls}` model, exported as plain PyTorch code that needs only the packages in "
        "`requirements.txt`.",
        "",
        "## Files",
        "",
    ]
    describe = {
        "code": "`model.py` (the model), `train.py` (its training) and `data/` (the data it reads)",
        "weights": "`weights.pt`: the weights as a `state_dict`",
        "safetensors": "`weights.safetensors`: the same weights in safetensors format",
        "torchscript": "`model.torchscript.pt`: TorchScript, runs without model.py",
        "onnx": "`model.onnx`: ONNX with a dynamic batch axis",
    }
    lines += [f"- {describe[name]}" for name in results if name in ok]
    lines += ["- `requirements.txt`: what to install (`pip install -r requirements.txt`)", ""]
    lines += ["## Weights", "", f"{weights}.", ""]
    failed = [r for r in results.values() if not r.ok]
    if failed:
        lines += ["## Not exported", ""]
        lines += [f"- {FORMAT_TITLES[r.format]}: {r.error}" for r in failed]
        lines.append("")
    if "code" in ok:
        lines += [
            "## Train",
            "",
            "```bash",
            "python train.py                  # "
            f"{settings['epochs']} epochs, checkpoints in checkpoints/",
            "python train.py --epochs 20 --device cpu",
            "python train.py --resume checkpoints/checkpoint.pt --epochs 20  # continue",
            "torchrun --nproc_per_node 2 train.py  # DistributedDataParallel, one process "
            "per GPU (or CPU)",
            "```",
            "",
            "Each epoch prints one JSON line of metrics and writes "
            "`checkpoints/checkpoint.pt` and `checkpoints/weights.pt`. Under torchrun, "
            "rank 0 writes the checkpoints and prints; the processes use NCCL on CUDA "
            "and Gloo on the CPU.",
            "",
        ]
    example = _shape_text(project)
    if "code" in ok and "weights" in ok:
        lines += [
            "## Load the weights",
            "",
            "```python",
            "import torch",
            "",
            f"from model import {cls}",
            "",
            f"model = {cls}()",
            'model.load_state_dict(torch.load("weights.pt", weights_only=True))',
            "model.eval()",
            *example,
            f"output = model({args})",
            "```",
            "",
        ]
        if "safetensors" in ok:
            lines += [
                "With safetensors: `from safetensors.torch import load_file` and "
                '`model.load_state_dict(load_file("weights.safetensors"))`.',
                "",
            ]
    if "torchscript" in ok:
        lines += [
            "## TorchScript",
            "",
            "```python",
            "import torch",
            "",
            'model = torch.jit.load("model.torchscript.pt")',
            *example,
            f"output = model({args})",
            "```",
            "",
        ]
    if "onnx" in ok:
        names = ", ".join(f'"{name}": {name}.numpy()' for name, _ in ir.inputs)
        lines += [
            "## ONNX",
            "",
            "```python",
            "import onnxruntime",
            "import torch",
            "",
            'session = onnxruntime.InferenceSession("model.onnx")',
            *example,
            f"(output,) = session.run(None, {{{names}}})"
            if len(ir.outputs) == 1
            else f"outputs = session.run(None, {{{names}}})",
            "```",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- export
PRETRAINED_DIR = "pretrained"  # the copies of weights files the model loads, beside model.py


def portable_model(project: CompiledProject, out_dir: Path) -> tuple[str, list[Path]]:
    """model.py for an exported folder that works wherever it is moved: each weights file the
    model loads (a backbone's, VGG-16's) is copied into ``pretrained/`` and named relative to
    model.py, never by a path of this machine. Returns the source and the copies written."""
    resolved = project.shapes.resolved
    copies: dict[str, str] = {}  # source file → its name in the folder
    portable: dict[str, dict[str, Any]] = {}
    written: list[Path] = []
    for key in sorted(resolved):
        value = resolved[key].get("weights")
        if not value or not Path(value).is_absolute() or not Path(value).is_file():
            continue
        if value not in copies:
            stem, suffix = Path(value).stem, Path(value).suffix
            name, n = Path(value).name, 1
            while name in copies.values():
                n += 1
                name = f"{stem}_{n}{suffix}"
            copies[value] = name
            target = Path(out_dir) / PRETRAINED_DIR / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(value, target)
            written.append(target)
        portable[key] = {**resolved[key], "weights": f"{PRETRAINED_DIR}/{copies[value]}"}
    if not portable:
        return project.model.source.source, written
    source = project.model.source
    ir = build_ir(project.graph, {**resolved, **portable})
    return print_model(ir, source.title).source, written


def export_code(project: CompiledProject, out_dir: Path) -> list[Path]:
    """Write model.py, train.py, data/ (for bundled data sets), vocab.json (for text) and
    pretrained/ (the weights files the model loads) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "model.py", out_dir / "train.py"]
    model_source, copies = portable_model(project, out_dir)
    _write(written[0], model_source)
    written += copies
    _write(written[1], project.train.source)
    data = project.plan.data
    if data.spec.extra["source"] == "style_images":  # the bundled pictures it falls back to
        folder = materialize(data)
        for sample, param in zip(SAMPLE_FILES, ("content_path", "style_path"), strict=True):
            if not data.params[param]:
                target = out_dir / "data" / sample
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(folder / sample, target)
                written.append(target)
        return written
    name = data_file_name(data)
    if name is not None:
        source = materialize(project.plan.data) / name
        target = out_dir / "data" / name
        target.parent.mkdir(exist_ok=True)
        if source.is_dir():  # a bundled image folder
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        written.append(target)
    if text_task(project.plan.data) is not None:  # the vocabulary train.py builds, ready to use
        train_set = project.fn("make_datasets")(materialize(project.plan.data))[0]
        train_set.vocab.save(out_dir / "vocab.json")
        written.append(out_dir / "vocab.json")
    return written


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"code,onnx"`` or a list → the formats in their standard order; ExportError for an
    unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    chosen = {item.strip().lower() for item in items if item.strip()}
    unknown = sorted(chosen - set(FORMATS))
    if unknown:
        raise ExportError(
            f"unknown format {', '.join(map(repr, unknown))}; choose from {', '.join(FORMATS)}",
            "formats",
        )
    if not chosen:
        raise ExportError("no format chosen", "formats")
    return tuple(f for f in FORMATS if f in chosen)


def export_project(
    project: CompiledProject,
    out_dir: Path,
    formats: str | Iterable[str] = FORMATS,
    weights: Path | Weights | None = None,
) -> ExportReport:
    """Write the chosen ``formats`` of ``project`` into ``out_dir``, with ``weights`` (a run
    folder, checkpoint or state_dict file) or, without, the model freshly initialised with the
    project's seed. Raises ExportError before writing anything when the formats or weights are
    wrong; a format that fails afterwards is reported in the result and the rest go on."""
    chosen = parse_formats(formats)
    if weights is None:
        source = Weights(
            None,
            "Freshly initialised (untrained) with the project's seed "
            f"{project.graph.settings['seed']}, as train.py starts",
        )
    elif isinstance(weights, Weights):
        source = weights
    else:
        source = load_weights(Path(weights))
    try:
        model = build_model(project, source)
    except ExportError:
        raise
    except Exception as exc:  # a code node's code, or memory: say which node, never a traceback
        raise ExportError(
            f"the model cannot be built: {type(exc).__name__}: {_first_line(exc)}",
            node_id=_node_of(project, exc),
        ) from None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    ir = project.model.source.ir
    input_names = [name for name, _ in ir.inputs]
    output_names = (
        ["output"] if len(ir.outputs) == 1 else [f"output_{i}" for i in range(len(ir.outputs))]
    )
    examples = example_inputs(project, EXPORT_BATCH)
    check_inputs = example_inputs(project, CHECK_BATCH)
    try:
        with torch.no_grad():
            expected = [t.detach() for t in _outputs(model(*check_inputs))]
    except Exception as exc:
        raise ExportError(
            f"the model fails on an example batch: {type(exc).__name__}: {_first_line(exc)}",
            node_id=_node_of(project, exc),
        ) from None
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}

    results: dict[str, FormatResult] = {}
    for name in chosen:
        result = FormatResult(name)
        results[name] = result
        try:
            if name == "code":
                result.files = export_code(project, out_dir)
            elif name == "weights":
                path = out_dir / "weights.pt"
                _write_bytes(path, _saved(state))
                result.files = [path]
            elif name == "safetensors":
                from safetensors.torch import save

                path = out_dir / "weights.safetensors"
                _write_bytes(path, save(state, metadata={"format": "pt"}))
                result.files = [path]
            elif name == "torchscript":
                data, how, diff = _export_torchscript(model, examples, check_inputs, expected)
                path = out_dir / "model.torchscript.pt"
                _write_bytes(path, data)
                result.files, result.note, result.max_abs_diff = [path], how, diff
            elif name == "onnx":
                _onnx(
                    project,
                    model,
                    result,
                    out_dir,
                    examples,
                    check_inputs,
                    expected,
                    input_names,
                    output_names,
                )
        except OnnxExportError as exc:
            result.error = str(exc)
            result.node_id = _node_for_op(project, exc.op) if exc.op else None
        except Exception as exc:  # one format failing never stops the others
            result.error = _first_line(exc, 400)
            result.files = []

    files = [p for r in results.values() for p in r.files]
    readme, requirements = out_dir / "README.md", out_dir / "requirements.txt"
    _write(readme, readme_text(project, source.description, results))
    _write(requirements, requirements_text(project, chosen))
    return ExportReport(out_dir, source.description, results, [*files, readme, requirements])


def _onnx(
    project,
    model,
    result: FormatResult,
    out_dir: Path,
    examples,
    check_inputs,
    expected,
    input_names,
    output_names,
) -> None:
    import onnx

    proto, how = _export_onnx(model, examples, input_names, output_names, _batch_axes(project))
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString(deterministic=True)
    got, runner = run_onnx(
        data, {name: t.numpy() for name, t in zip(input_names, check_inputs, strict=True)}
    )
    diff = max_abs_diff(got, expected)
    if diff > _tolerance(expected):
        raise RuntimeError(f"the ONNX model's outputs differ from the model's by up to {diff:.3g}")
    path = out_dir / "model.onnx"
    _write_bytes(path, data)
    result.files, result.max_abs_diff = [path], diff
    result.note = (
        f"{how}, opset {ONNX_OPSET}, passes onnx.checker; outputs match the model with {runner}"
    )


def digest(path: Path) -> str:
    """SHA-256 of a file, for comparing exports."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def report_json(report: ExportReport) -> str:
    """The report as JSON, for scripts."""
    return json.dumps(
        {
            "out_dir": str(report.out_dir),
            "weights": report.weights,
            "formats": {
                name: {
                    "ok": r.ok,
                    "files": [_rel(p, report.out_dir) for p in r.files],
                    "error": r.error,
                    "note": r.note,
                    "max_abs_diff": r.max_abs_diff,
                }
                for name, r in report.results.items()
            },
        },
        indent=2,
    )
