"""Headless commands that look inside a model: ``torchcanvas lr-find``, ``explain`` and
``preview``. No Qt here."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def add_insight_parsers(sub) -> None:
    """The commands, added to the headless commands' subparsers."""
    lr = sub.add_parser(
        "lr-find",
        help="learning-rate range test: train a copy of the model briefly with a growing "
        "learning rate and suggest one",
    )
    lr.add_argument("file", type=Path)
    lr.add_argument("--steps", type=int, default=100, help="steps of the test (default 100)")
    lr.add_argument("--start", type=float, default=1e-7, help="first learning rate (1e-7)")
    lr.add_argument("--end", type=float, default=10.0, help="last learning rate (10)")
    lr.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the project's)")
    lr.add_argument("--json", action="store_true", help="print every point and the suggestion")
    lr.add_argument(
        "--apply",
        action="store_true",
        help="write the suggestion into the optimizer's lr: into --out when given, else into "
        "the project file itself after copying it to FILE.bak",
    )
    lr.add_argument("--out", type=Path, help="with --apply: the project file to write")

    ex = sub.add_parser(
        "explain",
        help="attributions of a trained classifier's predictions (PNG overlays for images, "
        "CSV for tables and text)",
    )
    ex.add_argument("run", type=Path, help="a run folder (project.json and weights)")
    ex.add_argument("--samples", type=int, default=8, help="validation samples (default 8)")
    ex.add_argument(
        "--method",
        choices=("ig", "saliency", "gradcam"),
        default="ig",
        help="ig: Integrated Gradients; saliency: input gradients; gradcam: Grad-CAM (images)",
    )
    ex.add_argument(
        "--layer",
        metavar="NODE",
        help="gradcam: the layer node (id or label); default: the last convolution",
    )
    ex.add_argument(
        "--misclassified", action="store_true", help="only samples the model gets wrong"
    )
    ex.add_argument("--steps", type=int, default=64, help="ig: integration steps (default 64)")
    ex.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default cpu)")
    ex.add_argument("--out", type=Path, required=True, help="the folder to write")

    pv = sub.add_parser(
        "preview",
        help="push one batch through the graph and print every node's activation statistics",
    )
    pv.add_argument("file", type=Path)
    pv.add_argument("--batch-size", type=int, help="samples in the batch (default: the project's)")
    pv.add_argument("--json", action="store_true", help="print the statistics as JSON")


def cmd_lr_find(args: argparse.Namespace) -> int:
    from torchcanvas.graph import GraphError, save
    from torchcanvas.runtime.cli import _compile, _fail, _load
    from torchcanvas.runtime.data import DataError
    from torchcanvas.runtime.lr_finder import LRFinderError, find_lr

    if args.out is not None and not args.apply:
        return _fail("--out: only with --apply (the project file to write)")
    graph = _load(args.file)
    project = _compile(graph, args.file)
    try:
        result = find_lr(
            project, steps=args.steps, start=args.start, end=args.end, device=args.device
        )
    except (LRFinderError, DataError) as exc:
        return _fail(str(exc), exc.node_id, graph)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        for lr, loss in zip(result.lrs, result.losses, strict=True):
            print(f"{lr:10.3e}  {loss:.4f}")
        early = " (stopped early: the loss diverged)" if result.stopped_early else ""
        print(
            f"suggested lr: {result.suggestion:g} ({result.rule}); lowest loss at "
            f"{result.min_loss_lr:.3g}; {result.optimizer_label} has lr={result.current_lr:g}"
            f"{early}",
            file=sys.stderr,
        )
    if args.apply:
        target = args.out or args.file
        try:
            graph.set_param(result.optimizer_id, "lr", result.suggestion)
        except GraphError as exc:
            return _fail(str(exc), result.optimizer_id, graph)
        try:
            if args.out is None:
                backup = args.file.with_name(args.file.name + ".bak")
                shutil.copy2(args.file, backup)
                print(f"saved the original as {backup}", file=sys.stderr)
            save(graph, target)
        except OSError as exc:
            return _fail(f"cannot write {target}: {exc.strerror or exc}")
        print(f"wrote {target}: {result.optimizer_label} lr={result.suggestion:g}", file=sys.stderr)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.cli import _fail
    from torchcanvas.runtime.data import DataError
    from torchcanvas.runtime.explain import ExplainError, explain, load_run, write_explanations

    try:
        run = load_run(args.run, device=args.device)
    except ExplainError as exc:
        return _fail(str(exc))
    try:
        result = explain(
            run, args.samples, args.method, args.layer, args.misclassified, ig_steps=args.steps
        )
    except (ExplainError, DataError) as exc:
        return _fail(str(exc), exc.node_id, run.graph)
    try:
        files = write_explanations(result, args.out)
    except OSError as exc:
        return _fail(f"--out: cannot write {args.out}: {exc.strerror or exc}")
    for k, index in enumerate(result.indices):
        delta = f"  delta {result.deltas[k]:+.3g}" if result.deltas else ""
        print(
            f"val[{index}]  label {result.class_name(result.labels[k])}  predicted "
            f"{result.class_name(result.predicted[k])}{delta}"
        )
    print(f"wrote {args.out}/: {len(files)} files", file=sys.stderr)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from torchcanvas.runtime.cli import _compile, _fail, _load
    from torchcanvas.runtime.data import DataError
    from torchcanvas.runtime.preview import PreviewError, preview_batch

    graph = _load(args.file)
    project = _compile(graph, args.file)
    try:
        result = preview_batch(project, batch_size=args.batch_size)
    except (PreviewError, DataError) as exc:
        return _fail(str(exc), exc.node_id, graph)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    header = ("Node", "Shape", "Mean", "Std", "Min", "Max", "Zeros", "Flags")
    rows = []
    for stats in result.nodes.values():
        rows.append(
            (
                stats.label,
                "x".join(str(d) for d in stats.shape),
                f"{stats.mean:.4g}",
                f"{stats.std:.4g}",
                f"{stats.min:.4g}",
                f"{stats.max:.4g}",
                f"{100 * stats.zeros:.1f}%",
                ", ".join(stats.flags) or "-",
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if result.loss is not None:
        print(f"loss on this batch: {result.loss:.4g}")
    return 0


COMMANDS = {"lr-find": cmd_lr_find, "explain": cmd_explain, "preview": cmd_preview}
