"""What does a sweep cost beyond its trials?

Trains the same N trials (a grid over the digits CNN's learning rate, no pruning) three ways in
one process, round by round: one after another as plain headless runs (compile the project
with the trial's values, train into a run folder: what ``torchcanvas train --out`` does), as a
sweep with ``--jobs 1``, and as a sweep with ``--jobs 2`` (trial processes). With ``--ray`` it
also runs the sweep on a local Ray instance (``ray.init(num_cpus=2)``).

Prints wall and CPU time side by side (CPU: this process, plus its finished child processes
for the parallel and Ray sweeps, as ``resource.getrusage`` counts them; Ray's own daemons are
not children it waits for, so its CPU figure is the driver's only). Every way trains with one
torch thread per trial (``--threads``), so the parallel figures compare like with like. Last
line: JSON with ``overhead_ratio`` (sweep --jobs 1 wall ÷ the sum of the plain runs' walls;
goal ≤ 1.10), ``overhead_ratio_jobs2`` and ``overhead_ratio_ray`` on the same footing, and the
CPU ratios; each the median over rounds of that round's ratio. The machine is shared and
noisy: only side-by-side ratios from one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from torchcanvas.graph import load
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.sweep import Sweep, apply_values, parse_space
from torchcanvas.runtime.trainer import RunFinished, Trainer, TrainOptions

PROJECT = assets_dir() / "examples" / "digits_cnn.json"
LRS = [0.003, 0.001, 0.0003, 0.0001, 0.01, 0.03, 0.1, 0.3]


def cpu_now() -> float:
    """CPU seconds of this process and of its children that have ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def the_space(graph, trials: int):
    optimizer = next(n for n in graph.nodes() if n.type_id.startswith("optim."))
    raw = {
        "dimensions": [
            {"target": f"nodes.{optimizer.id}.params.lr", "kind": "choice", "choices": LRS[:trials]}
        ],
        "objective": {"metric": "accuracy", "direction": "maximize"},
        "strategy": "grid",
        "trials": trials,
        "pruner": "none",
        "seed": 0,
    }
    return parse_space(raw, graph)


def plain_runs(graph, space, folder: Path) -> tuple[float, float]:
    """The trials one after another as headless runs: (sum of run walls, CPU)."""
    target = space.dimensions[0].target
    total, cpu = 0.0, cpu_now()
    for i, value in enumerate(space.dimensions[0].choices):
        start = time.perf_counter()
        trial = graph.copy()
        apply_values(trial, {target: value})
        project = compile_project(trial, PROJECT.parent, title=PROJECT.stem)
        events = Trainer(project, TrainOptions(out_dir=folder / f"run-{i}", keep_predictions=False))
        last = events.run()[-1]
        assert isinstance(last, RunFinished) and last.status == "completed", last
        total += time.perf_counter() - start
    return total, cpu_now() - cpu


def sweep(graph, space, folder: Path, jobs: int = 1, ray: bool = False) -> tuple[float, float]:
    cpu, start = cpu_now(), time.perf_counter()
    if ray:
        from torchcanvas.runtime.ray_sweep import RaySweep

        result = RaySweep(graph, PROJECT, space, folder, address="local").run()
    else:
        result = Sweep(graph, PROJECT, space, folder, jobs=jobs).run()
    wall = time.perf_counter() - start
    assert all(t.state == "COMPLETE" for t in result.trials), result.trials
    assert len(result.trials) == space.trials
    return wall, cpu_now() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument(
        "--epochs", type=int, default=20, help="per trial (an epoch is ~0.25 s of one CPU)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also sweep on a local Ray instance")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the plain runs and the --jobs 1 sweep (default 1: what each of "
        "two trial processes gets on a 2-CPU machine, and steady CPU figures under load)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    graph = load(PROJECT)
    graph.set_setting("epochs", args.epochs)
    space = the_space(graph, args.trials)
    ways = ["plain", "jobs1", "jobs2"] + (["ray"] if args.ray else [])
    figures: dict[str, list[tuple[float, float]]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory() as tmp:
        # not counted: the first run of a process pays for imports, data and kernel set-up
        warm = graph.copy()
        warm.set_setting("epochs", 1)
        plain_runs(warm, the_space(warm, 1), Path(tmp) / "warm-up")
        for r in range(args.rounds):
            base = Path(tmp) / f"round-{r}"
            figures["plain"].append(plain_runs(graph, space, base / "plain"))
            figures["jobs1"].append(sweep(graph, space, base / "jobs1"))
            figures["jobs2"].append(sweep(graph, space, base / "jobs2", jobs=2))
            if args.ray:
                figures["ray"].append(sweep(graph, space, base / "ray", ray=True))
            print(
                f"round {r + 1}: "
                + "  ".join(
                    f"{w} {figures[w][-1][0]:.1f} s wall / {figures[w][-1][1]:.1f} s CPU"
                    for w in ways
                ),
                flush=True,
            )
    wall = {w: statistics.median(f[0] for f in figures[w]) for w in ways}
    cpu = {w: statistics.median(f[1] for f in figures[w]) for w in ways}

    def ratio(way: str, i: int = 0) -> float:
        """The median over rounds of each round's side-by-side ratio to the plain runs."""
        return statistics.median(
            f[i] / p[i] for f, p in zip(figures[way], figures["plain"], strict=True)
        )

    print(f"{args.trials} trials of {PROJECT.stem}, {args.epochs} epochs each:")
    print(f"{'':28}{'wall s':>9}{'CPU s':>9}{'wall ratio':>12}{'CPU ratio':>11}")
    names = {
        "plain": "runs one after another",
        "jobs1": "sweep --jobs 1",
        "jobs2": "sweep --jobs 2",
        "ray": "sweep --ray (local)",
    }
    for w in ways:
        print(f"{names[w]:28}{wall[w]:9.1f}{cpu[w]:9.1f}{ratio(w):12.3f}{ratio(w, 1):11.3f}")
    out = {
        "overhead_ratio": round(ratio("jobs1"), 3),
        "overhead_ratio_jobs2": round(ratio("jobs2"), 3),
        "cpu_ratio": round(ratio("jobs1", 1), 3),
        "cpu_ratio_jobs2": round(ratio("jobs2", 1), 3),
        "wall_s": {w: round(v, 2) for w, v in wall.items()},
        "cpu_s": {w: round(v, 2) for w, v in cpu.items()},
        "trials": args.trials,
        "epochs": args.epochs,
    }
    if args.ray:
        out["overhead_ratio_ray"] = round(ratio("ray"), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
