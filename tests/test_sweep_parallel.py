"""Parallel trials (``--jobs N``): each trial a normal run in the sweep folder, trained in its own
process, the budget kept, stop and resume as with one job."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from torchcanvas.graph import load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.sweep import Sweep, SweepError, parse_space

EXAMPLES = assets_dir() / "examples"
LR = "nodes.n4.params.lr"  # the SGD optimizer of linear_regression.json


@pytest.fixture
def project(tmp_path: Path) -> Path:
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 2)
    path = tmp_path / "line.json"
    save(graph, path)
    return path


def space(**overrides) -> dict:
    raw = {
        "dimensions": [
            {"target": LR, "kind": "log", "low": 1e-3, "high": 0.1},
            {"target": "settings.batch_size", "kind": "choice", "choices": [8, 16, 32]},
        ],
        "objective": {"metric": "val_loss", "direction": "minimize"},
        "strategy": "random",
        "trials": 4,
        "pruner": "none",
        "seed": 0,
    }
    return raw | overrides


def overlapping(trials) -> bool:
    spans = sorted((t.started, t.started + t.duration_s) for t in trials)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


@pytest.mark.slow
def test_two_jobs_run_the_budget_as_normal_runs_side_by_side(project, tmp_path):
    out = tmp_path / "par"
    graph = load(project)
    seen = []
    sweep = Sweep(graph, project, parse_space(space(), graph), out, jobs=2)
    result = sweep.run(lambda row, res: seen.append((row.number, len(res.trials))))
    assert sorted(t.number for t in result.trials) == [0, 1, 2, 3]  # the budget, not more
    assert all(t.state == "COMPLETE" for t in result.trials)
    assert sorted(n for n, _ in seen) == [0, 1, 2, 3]  # reported here, as each finished
    assert len({json.dumps(t.params, sort_keys=True) for t in result.trials}) == 4
    assert overlapping(result.trials), "two trials trained at the same time"
    for t in result.trials:
        run_dir = Path(t.run_dir)
        assert run_dir.parent == out / "trials"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["status"] == "completed"
        assert t.objective == metrics["final"]["val_loss"]
        assert json.loads((run_dir / "trial.json").read_text())["state"] == "COMPLETE"
        saved = load(run_dir / "project.json")
        assert saved.settings["batch_size"] == t.params["settings.batch_size"]
        # run.json from the trial's own process, so the Runs tab lists the trial
        meta = json.loads((run_dir / "run.json").read_text())
        assert (meta["name"], meta["sweep"], meta["params"]) == (
            f"trial {t.number}",
            "par",
            t.params,
        )
    results = json.loads((out / "results.json").read_text())
    assert results["counted"] == 4
    assert results["best"]["objective"] == min(t.objective for t in result.trials)


@pytest.mark.slow
def test_a_parallel_sweep_stopped_midway_resumes_to_its_budget(project, tmp_path):
    out = tmp_path / "stop"
    graph = load(project)
    raw = space(trials=5)
    sweep = Sweep(graph, project, parse_space(raw, graph), out, jobs=2)
    first = sweep.run(lambda row, res: sweep.stop())
    done = {t.number: t for t in first.trials if t.state == "COMPLETE"}
    assert 1 <= len(done) < 5
    before = {n: (Path(t.run_dir) / "trial.json").read_text() for n, t in done.items()}
    resumed = Sweep(graph, project, parse_space(raw, graph), out, resume=True, jobs=2).run()
    counted = [t for t in resumed.trials if t.state == "COMPLETE"]
    assert len(counted) == 5
    for n, text in before.items():  # finished trials are kept as they were
        assert (out / "trials" / f"trial-{n:04d}" / "trial.json").read_text() == text
    # trials the stop cut short were retried with their values
    for t in resumed.trials:
        if t.state == "FAIL":
            assert any(c.params == t.params for c in counted)


def test_jobs_must_be_at_least_one(project, tmp_path):
    graph = load(project)
    with pytest.raises(SweepError, match="--jobs"):
        Sweep(graph, project, parse_space(space(), graph), tmp_path / "x", jobs=0)


@pytest.mark.slow
def test_the_command_runs_trials_in_parallel(project, tmp_path, capsys):
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space(trials=3)))
    out = tmp_path / "cli"
    args = ["sweep", str(project), "--space", str(space_file), "--out", str(out), "--jobs", "2"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["Trial", "State", "Params", "val_loss", "Duration"]
    assert sum(1 for line in printed[2:] if " complete " in line) == 3
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 3
