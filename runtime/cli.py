"""Headless commands: ``torchcanvas check``, ``train``, ``export``, ``import``, ``generate``,
``predict``, ``sweep`` and (runtime.insight_cli) ``lr-find``, ``explain`` and ``preview``. No Qt
here."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from torchcanvas.graph import GraphError, load, save
from torchcanvas.graph.document import Graph
from torchcanvas.graph.errors import one_line, quoted, shown
from torchcanvas.graph.settings import COMPILE_MODES, MAX_PARAMS, PRECISIONS, SPEED_SETTINGS
from torchcanvas.runtime.insight_cli import COMMANDS as INSIGHT_COMMANDS
from torchcanvas.runtime.insight_cli import add_insight_parsers
from torchcanvas.runtime.subcommands import SUBCOMMANDS  # noqa: F401 - named here too
from torchcanvas.runtime.sweep import add_sweep_parser, cmd_sweep

EXPORT_FORMATS = ("code", "weights", "safetensors", "torchscript", "onnx")  # runtime.export


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchcanvas",
        description="Visual model builder for PyTorch. With no command (or a project file) it "
        "opens the app; these commands work without a display.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a project and print its layers and shapes")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    _limit_option(check)

    train = sub.add_parser("train", help="train a project and optionally save the results")
    train.add_argument("file", type=Path)
    train.add_argument("--epochs", type=int, help="override the project's epochs")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--seed", type=int, help="override the project's seed")
    train.add_argument(
        "--out",
        type=Path,
        help="folder for model.py, train.py, weights.pt, checkpoint.pt and metrics.json",
    )
    train.add_argument("--resume", type=Path, help="continue from a checkpoint.pt")
    on_off = argparse.BooleanOptionalAction  # --compile / --no-compile; absent: the project's
    train.add_argument(
        "--tensorboard",
        action=on_off,
        default=None,
        help="write TensorBoard event files to OUT/tensorboard (default: the project's "
        "tensorboard setting)",
    )
    _limit_option(train)
    speed = train.add_argument_group(
        "speed settings", "override the project's; CUDA-only ones are refused on other devices"
    )
    speed.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="mixed precision: bf16 (CPU or CUDA), fp16 (CUDA) or off",
    )
    speed.add_argument(
        "--compile",
        action=on_off,
        default=None,
        help="torch.compile the model (needs a C/C++ compiler)",
    )
    speed.add_argument("--compile-mode", choices=COMPILE_MODES, help="torch.compile mode")
    speed.add_argument(
        "--channels-last",
        action=on_off,
        default=None,
        help="channels-last memory format for conv nets",
    )
    speed.add_argument(
        "--pin-memory",
        action=on_off,
        default=None,
        help="CUDA: page-locked batches, copied without blocking",
    )
    speed.add_argument(
        "--cudnn-benchmark",
        action=on_off,
        default=None,
        help="CUDA: let cuDNN pick the fastest convolution algorithms",
    )

    export = sub.add_parser(
        "export", help="write a folder with model.py, train.py, weights, TorchScript and ONNX"
    )
    export.add_argument("file", type=Path)
    export.add_argument("--out", type=Path, required=True, help="the folder to write")
    export.add_argument(
        "--weights",
        type=Path,
        metavar="RUN_OR_CKPT",
        help="a run folder (its best.pt, else its last checkpoint), a "
        "checkpoint.pt or a state_dict file; without it, the model's "
        "fresh weights from the project seed",
    )
    export.add_argument(
        "--formats",
        default=",".join(EXPORT_FORMATS),
        help=f"comma-separated, from {','.join(EXPORT_FORMATS)} (default: all)",
    )
    export.add_argument("--json", action="store_true", help="print the report as JSON")
    _limit_option(export)

    run_help = (
        "run folder, or the name of a run of this project (default: the latest run with weights)"
    )
    generate = sub.add_parser("generate", help="continue a prompt with a trained language model")
    generate.add_argument("file", type=Path)
    generate.add_argument("--run", help=run_help)
    generate.add_argument("--prompt", required=True, help="text to continue")
    generate.add_argument("--length", type=int, default=200, help="tokens to generate")
    generate.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="below 1: safer choices; above 1: more surprising ones",
    )
    generate.add_argument(
        "--top-k", type=int, default=0, help="sample only from the k likeliest tokens (0: all)"
    )
    generate.add_argument("--seed", type=int, help="seed for the same text every time")

    predict = sub.add_parser("predict", help="label a text with a trained text classifier")
    predict.add_argument("file", type=Path)
    predict.add_argument("--run", help=run_help)
    predict.add_argument("--text", required=True, help="text to classify")

    imp = sub.add_parser("import", help="turn a PyTorch model into a project (runs its code)")
    imp.add_argument(
        "spec",
        help="path/to/file.py:ClassName, package.module:function, or a "
        "torchvision model name such as resnet18 (untrained; nothing downloads)",
    )
    imp.add_argument("--out", type=Path, required=True, help="the project file to write")
    imp.add_argument(
        "--input-shape",
        default="3,64,64",
        help="shape of one input sample, without the batch (default 3,64,64)",
    )
    imp.add_argument(
        "--args", default=None, help="JSON object of keyword arguments for the class or function"
    )
    add_sweep_parser(sub)
    add_insight_parsers(sub)
    return parser


def _limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-params",
        type=int,
        metavar="N",
        help="size limit for this command: the most parameters the model may have and the "
        "most values one tensor may hold for a batch (default: the project's max_params "
        f"setting, {MAX_PARAMS:,} unless raised)",
    )


def _fail(message: str, node: str | None = None, graph: Graph | None = None) -> int:
    where = ""
    if node and graph is not None and node in graph:
        n = graph.node(node)
        where = f"node {quoted(n.label)} ({n.type_id}, id {shown(node)}): "
    print(f"error: {where}{one_line(message)}", file=sys.stderr)
    return 1


def _load(path: Path, args: argparse.Namespace | None = None) -> Graph:
    """The project at ``path``, with ``--max-params`` (when ``args`` has it) as its size
    limit."""
    try:
        graph = load(path)
    except FileNotFoundError:
        raise SystemExit(_fail(f"{path}: no such file")) from None
    except IsADirectoryError:
        raise SystemExit(_fail(f"{path}: a folder, not a project file")) from None
    except OSError as exc:
        raise SystemExit(_fail(f"{path}: cannot read it: {exc.strerror or exc}")) from None
    except GraphError as exc:
        raise SystemExit(_fail(f"{path}: {exc}")) from None
    limit = getattr(args, "max_params", None)
    if limit is not None:
        try:
            graph.set_setting("max_params", limit)
        except GraphError as exc:
            raise SystemExit(_fail(f"--max-params: {getattr(exc, 'reason', exc)}")) from None
    return graph


def cmd_check(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.shapes import format_shape
    from torchcanvas.runtime.validate import check_project

    graph = _load(args.file, args)
    checked = check_project(graph, args.file.parent, title=args.file.stem)
    result = checked.shapes
    rows = []
    for node in graph.nodes():
        shapes = {
            port: format_shape(s) for (nid, port), s in result.shapes.items() if nid == node.id
        }
        params = {**node.params, **result.resolved.get(node.id, {})}
        rows.append(
            {
                "id": node.id,
                "label": node.label,
                "type": node.type_id,
                "outputs": shapes,
                "params": result.param_counts.get(node.id, 0),
                # per sample (a batch of one); MACs null where unknown (a code node)
                "macs": result.macs.get(node.id, None if node.id in result.activation_bytes else 0),
                "activation_bytes": result.activation_bytes.get(node.id, 0),
                "param_bytes": result.param_bytes.get(node.id, 0),
                "settings": params,
            }
        )
    problems = [
        {"node": p.node_id, "message": p.message, "severity": p.severity} for p in checked.problems
    ]
    report = {
        "file": str(args.file),
        "valid": checked.ok,
        "nodes": rows,
        "total_params": result.total_params,
        "trainable_params": sum(result.trainable_counts.values()),
        "total_macs": result.total_macs,
        "total_activation_bytes": result.total_activation_bytes,
        "total_param_bytes": result.total_param_bytes,
        "training_memory": _memory_report(result.memory),
        "problems": problems,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    error = checked.first_error()
    if error is not None:
        return _fail(error.message, error.node_id, graph)
    return 0


def _memory_report(memory) -> dict | None:
    if memory is None:
        return None
    return {
        "batch_size": memory.batch_size,
        "device": memory.device,
        "params_bytes": memory.params,
        "grads_bytes": memory.grads,
        "optimizer_state_bytes": memory.optimizer_state,
        "optimizer_state": memory.optimizer,
        "activations_bytes": memory.activations,
        "total_bytes": memory.total,
        "device_memory_bytes": memory.capacity,
        "device_name": memory.capacity_name or None,
        "fits": memory.fits,
    }


def _print_table(report: dict) -> None:
    from torchcanvas.runtime.cost import format_bytes, format_macs

    header = ("Node", "Type", "Output shape", "Params", "MACs", "Act. mem", "Param mem")
    lines = []
    for r in report["nodes"]:
        shape = (
            ", ".join(f"{p}: {s}" if len(r["outputs"]) > 1 else s for p, s in r["outputs"].items())
            or "-"
        )
        macs = r["macs"]
        lines.append(
            (
                shown(r["label"]),
                shown(r["type"]),
                shape,
                f"{r['params']:,}" if r["params"] else "-",
                "?" if macs is None else (format_macs(macs) if macs else "-"),
                format_bytes(r["activation_bytes"]) if r["activation_bytes"] else "-",
                format_bytes(r["param_bytes"]) if r["param_bytes"] else "-",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    rule = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(rule)
    for row in lines:
        print(
            "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(rule)
    print(f"Total params: {report['total_params']:,} (trainable: {report['trainable_params']:,})")
    print(
        f"Per sample: {format_macs(report['total_macs'])} MACs, "
        f"{format_bytes(report['total_activation_bytes'])} of activations; "
        f"parameters {format_bytes(report['total_param_bytes'])}"
    )
    memory = report["training_memory"]
    if memory is not None:
        room = (
            f"; {memory['device_name']} has {format_bytes(memory['device_memory_bytes'])}"
            if memory["device_memory_bytes"]
            else ""
        )
        print(
            f"Training memory (batch {memory['batch_size']}, device {memory['device']}): about "
            f"{format_bytes(memory['total_bytes'])} = parameters "
            f"{format_bytes(memory['params_bytes'])} + gradients "
            f"{format_bytes(memory['grads_bytes'])} + optimizer state "
            f"{format_bytes(memory['optimizer_state_bytes'])} + activations "
            f"{format_bytes(memory['activations_bytes'])}{room}"
        )
    for p in report["problems"]:
        print(f"{p['severity']}: {shown(p['node'] or '-')}: {p['message']}")


def _compile(graph: Graph, path: Path):
    from torchcanvas.runtime.compile import CompileError, compile_project

    try:
        return compile_project(graph, path.parent, title=path.stem)
    except CompileError as exc:
        raise SystemExit(_fail(str(exc), exc.node_id, graph)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from torchcanvas.runtime.export import export_code
    from torchcanvas.runtime.trainer import (
        EpochEvent,
        RunFailed,
        RunFinished,
        RunStarted,
        StepEvent,
        Trainer,
        TrainOptions,
    )

    graph = _load(args.file, args)
    # overrides go into the project's settings, checked like the inspector checks them, so the
    # exported train.py and metrics.json say what actually ran
    for name in ("epochs", "seed", "device", "tensorboard", *SPEED_SETTINGS):
        value = getattr(args, name)
        if value is not None:
            try:
                graph.set_setting(name, value)
            except GraphError as exc:
                return _fail(str(exc))
    if args.tensorboard and not args.out:
        return _fail("--tensorboard: the event files go into the run folder; name it with --out")
    if graph.settings["tensorboard"] and not args.out:
        print("tensorboard: no run folder (--out), so no event files are written", file=sys.stderr)
    project = _compile(graph, args.file)
    if args.out:
        export_code(project, args.out)
        # the project as trained, so that explain (and the app) can rebuild this run's model
        save(project.graph, args.out / "project.json")
    options = TrainOptions(
        epochs=args.epochs, out_dir=args.out, resume=args.resume, keep_predictions=False
    )
    bar = None
    status = 0
    for event in Trainer(project, options):
        if isinstance(event, RunStarted):
            if event.task == "style":  # an image is optimised, not weights
                print(
                    f"optimising the image of {args.file.name} on {event.device}: "
                    f"{event.params:,} values, {event.steps_per_epoch} steps an epoch",
                    file=sys.stderr,
                )
            else:
                print(
                    f"training {args.file.name} on {event.device}: {event.n_train} training / "
                    f"{event.n_val} validation samples, {event.params:,} parameters",
                    file=sys.stderr,
                )
            for notice in event.notices:
                print(notice, file=sys.stderr)
            total = event.epochs * event.steps_per_epoch
            done = event.start_epoch * event.steps_per_epoch + event.start_batch
            bar = tqdm(
                total=total,
                initial=done,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                disable=None,
            )
        elif isinstance(event, StepEvent) and bar is not None:
            bar.update(event.global_step - bar.n)
            bar.set_postfix(
                epoch=event.epoch + 1,
                loss=f"{event.loss:.4g}",
                samples_s=f"{event.samples_per_s:,.0f}",
                refresh=False,
            )
        elif isinstance(event, EpochEvent):
            shown = {k: round(v, 4) for k, v in event.metrics.items() if isinstance(v, float)}
            val = "" if math.isnan(event.val_loss) else f"val_loss {event.val_loss:.4g}  "
            line = f"epoch {event.epoch}: train_loss {event.train_loss:.4g}  {val}" + "  ".join(
                f"{k} {v:.4g}" for k, v in shown.items()
            )
            (bar.write if bar is not None else print)(line)
        elif isinstance(event, RunFinished):
            if bar is not None:
                bar.close()
            print(
                f"{event.status}: {event.epochs_done} epochs, {event.global_step} steps in "
                f"{event.elapsed:.1f} s",
                file=sys.stderr,
            )
        elif isinstance(event, RunFailed):
            if bar is not None:
                bar.close()
            status = _fail(event.message, event.node_id, graph)
    if args.out and status == 0:
        result = ", result.png" if (args.out / "result.png").exists() else ""
        print(
            f"wrote {args.out}/: model.py, train.py, project.json, weights.pt, checkpoint.pt, "
            "metrics.json"
            f"{result}",
            file=sys.stderr,
        )
        if graph.settings["tensorboard"]:
            print(f"see it with: tensorboard --logdir {args.out / 'tensorboard'}", file=sys.stderr)
    return status


def cmd_export(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.export import ExportError, export_project, parse_formats, report_json

    try:
        formats = parse_formats(args.formats)
    except ExportError as exc:
        return _fail(f"--{exc.field}: {exc}")
    graph = _load(args.file, args)
    project = _compile(graph, args.file)
    try:
        report = export_project(project, args.out, formats, args.weights)
    except ExportError as exc:
        return _fail(f"--{exc.field}: {exc}" if exc.field else str(exc), exc.node_id, graph)
    except OSError as exc:
        return _fail(f"--out: cannot write {args.out}: {exc}")
    if args.json:
        print(report_json(report))
    else:
        print(f"wrote {args.out}/ (weights: {report.weights})")
        for line in report.lines():
            print(f"  {line}")
    for result in report.failed():
        _fail(f"{result.format}: {result.error}", result.node_id, graph)
    return 0 if report.ok else 1


def _trained_text(args: argparse.Namespace):
    from torchcanvas.runtime.runs import runs_root
    from torchcanvas.runtime.text import TextModelError, latest_run, load_trained

    graph = _load(args.file)
    root = runs_root(args.file)
    if args.run is None:
        run_dir = latest_run(root)
        if run_dir is None:
            raise SystemExit(
                _fail(
                    f"{args.file}: no trained run in {root}; train it first "
                    "(in the app, or with train --out DIR and then --run DIR)"
                )
            )
    else:
        run_dir = Path(args.run)
        if not run_dir.is_dir() and (root / args.run).is_dir():
            run_dir = root / args.run
    try:
        return load_trained(run_dir, graph, args.file.parent)
    except TextModelError as exc:
        raise SystemExit(_fail(str(exc), exc.node_id, graph)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.text import TextModelError

    trained = _trained_text(args)
    try:
        text = trained.generate(args.prompt, args.length, args.temperature, args.top_k, args.seed)
    except TextModelError as exc:
        return _fail(str(exc))
    print(args.prompt + text)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.text import TextModelError

    trained = _trained_text(args)
    try:
        label, probability = trained.predict(args.text)
    except TextModelError as exc:
        return _fail(str(exc))
    print(f"{label}\t{probability:.4f}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.importer import ModelImportError, import_model

    try:
        shape = tuple(int(d) for d in args.input_shape.replace("x", ",").split(",") if d.strip())
    except ValueError:
        return _fail(f"--input-shape {args.input_shape!r}: use numbers such as 3,64,64")
    if not shape or min(shape) < 1:
        return _fail(f"--input-shape {args.input_shape!r}: use positive numbers such as 3,64,64")
    try:
        kwargs = json.loads(args.args) if args.args else {}
    except json.JSONDecodeError as exc:
        return _fail(f"--args is not valid JSON: {exc}")
    if not isinstance(kwargs, dict):
        return _fail('--args must be a JSON object such as {"num_classes": 10}')
    try:
        result = import_model(args.spec, shape, args=kwargs)
    except ModelImportError as exc:
        return _fail(str(exc))
    save(result.graph, args.out)
    for note in result.notes:
        print(note, file=sys.stderr)
    print(f"wrote {args.out}: {len(result.graph)} nodes", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "check": cmd_check,
        "train": cmd_train,
        "export": cmd_export,
        "import": cmd_import,
        "generate": cmd_generate,
        "predict": cmd_predict,
        "sweep": cmd_sweep,
        **INSIGHT_COMMANDS,
    }[args.command]
    try:
        return handler(args)
    except SystemExit as exc:
        return int(exc.code or 0)


if __name__ == "__main__":
    sys.exit(main())
