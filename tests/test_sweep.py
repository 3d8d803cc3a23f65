"""Sweeps: the space checked before any trial, trials run by the trainer into run folders,
Optuna's grid, random and TPE search with pruning, resume, apply best, and the command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from torchcanvas.graph import load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.sweep import (
    INTERRUPTED,
    Sweep,
    SweepError,
    apply_best,
    apply_values,
    parse_space,
)

EXAMPLES = assets_dir() / "examples"
LR = "nodes.n4.params.lr"  # the SGD optimizer of linear_regression.json


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The linear regression example, 2 epochs: one trial takes a fraction of a second."""
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 2)
    path = tmp_path / "line.json"
    save(graph, path)
    return path


def space(**overrides) -> dict:
    raw = {
        "dimensions": [{"target": LR, "kind": "choice", "choices": [0.1, 0.01, 1e-5]}],
        "objective": {"metric": "val_loss", "direction": "minimize"},
        "strategy": "grid",
        "trials": 10,
        "timeout_s": None,
        "pruner": "none",
        "seed": 0,
    }
    return raw | overrides


def run(project: Path, raw: dict, out: Path, resume: bool = False, on_trial=None):
    graph = load(project)
    return Sweep(graph, project, parse_space(raw, graph), out, resume=resume).run(on_trial)


def trial_dirs(out: Path) -> list[Path]:
    return sorted((out / "trials").iterdir())


def final_metric(run_dir: Path, name: str = "val_loss") -> float:
    return json.loads((run_dir / "metrics.json").read_text())["final"][name]


def test_grid_finds_the_best_lr_and_each_trial_is_a_run_folder(project, tmp_path):
    out = tmp_path / "grid"
    result = run(project, space(), out)
    # the grid has 3 points: the budget of 10 stops there
    assert sorted(t.params[LR] for t in result.trials) == [1e-5, 0.01, 0.1]
    assert all(t.state == "COMPLETE" for t in result.trials)
    runs = trial_dirs(out)
    assert [d.name for d in runs] == ["trial-0000", "trial-0001", "trial-0002"]
    own = {}
    for d in runs:
        trial = json.loads((d / "trial.json").read_text())
        assert {"checkpoint.pt", "weights.pt", "metrics.json", "project.json"} <= {
            p.name for p in d.iterdir()
        }
        # the run folder's project holds the trial's value, and its metrics the objective
        assert load(d / "project.json").node("n4").params["lr"] == trial["params"][LR]
        assert trial["objective"] == final_metric(d)
        own[trial["number"]] = final_metric(d)
        # run.json as the app writes it, so the Runs tab lists the trial under its sweep
        meta = json.loads((d / "run.json").read_text())
        assert meta["name"] == f"trial {trial['number']}"
        assert meta["project"] == str(project) and meta["resumed_from"] is None
        assert (meta["sweep"], meta["trial"], meta["params"]) == (
            "grid",
            trial["number"],
            trial["params"],
        )
        assert meta["started"][:4].isdigit()
    results = json.loads((out / "results.json").read_text())
    assert results["best"]["objective"] == min(own.values())
    assert results["best"]["params"] == {LR: 0.1}  # the highest lr fits a line in 2 epochs
    assert (
        json.loads((out / "space.json").read_text())
        == parse_space(space(), load(project)).to_dict()
    )
    assert (out / "sweep.db").is_file()
    # a second sweep into the same folder is refused; --resume continues it
    with pytest.raises(SweepError, match="already holds a sweep"):
        Sweep(load(project), project, parse_space(space(), load(project)), out)


def test_apply_best_writes_the_best_values_and_the_project_still_checks(project, tmp_path):
    out = tmp_path / "grid"
    run(project, space(), out)
    graph = load(project)
    values = apply_best(graph, out)
    assert values == {LR: 0.1}
    assert graph.node("n4").params["lr"] == 0.1
    save(graph, tmp_path / "best.json")
    assert cli_main(["check", str(tmp_path / "best.json")]) == 0
    # values go through the graph's own checks
    with pytest.raises(ValueError, match="lr"):
        apply_values(graph, {LR: -1.0})


@pytest.mark.slow
def test_seeded_tpe_and_random_sweeps_repeat(project, tmp_path):
    dims = [
        {"target": LR, "kind": "log", "low": 1e-4, "high": 0.1},
        {"target": "settings.batch_size", "kind": "int", "low": 8, "high": 32, "step": 8},
    ]
    for strategy in ("tpe", "random"):
        raw = space(dimensions=dims, strategy=strategy, trials=3)
        first = run(project, raw, tmp_path / f"{strategy}-a")
        second = run(project, raw, tmp_path / f"{strategy}-b")
        params = [t.params for t in first.trials]
        assert params == [t.params for t in second.trials]
        assert len({json.dumps(p) for p in params}) == 3
        assert [t.objective for t in first.trials] == [t.objective for t in second.trials]
        other = run(project, raw | {"seed": 1}, tmp_path / f"{strategy}-c")
        assert [t.params for t in other.trials] != params


def test_a_stopped_sweep_resumes_to_its_budget_without_rerunning(project, tmp_path):
    out = tmp_path / "resume"
    raw = space(
        dimensions=[{"target": LR, "kind": "log", "low": 1e-3, "high": 0.1}],
        strategy="random",
        trials=4,
    )
    graph = load(project)
    sweep = Sweep(graph, project, parse_space(raw, graph), out)
    first = sweep.run(lambda row, result: sweep.stop() if len(result.trials) == 2 else None)
    assert [t.state for t in first.trials] == ["COMPLETE", "COMPLETE"]
    before = {d.name: (d / "trial.json").read_text() for d in trial_dirs(out)}
    mtimes = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in trial_dirs(out)}

    resumed = run(project, raw, out, resume=True)
    assert [t.number for t in resumed.trials] == [0, 1, 2, 3]
    assert all(t.state == "COMPLETE" for t in resumed.trials)
    for name, text in before.items():  # the finished trials were not run again
        assert (out / "trials" / name / "trial.json").read_text() == text
        assert (out / "trials" / name / "weights.pt").stat().st_mtime_ns == mtimes[name]
    results = json.loads((out / "results.json").read_text())
    assert results["counted"] == 4 and len(results["trials"]) == 4
    # the budget is reached: resuming again runs nothing; a bigger budget runs the difference
    assert len(run(project, raw, out, resume=True).trials) == 4
    assert len(run(project, raw | {"trials": 5}, out, resume=True).trials) == 5
    # a different space does not resume this sweep
    with pytest.raises(SweepError, match="differs from the space"):
        Sweep(graph, project, parse_space(raw | {"seed": 3}, graph), out, resume=True)


@pytest.mark.slow
def test_a_trial_left_running_by_a_killed_sweep_is_failed_and_retried(tmp_path):
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 150)  # long enough to be killed mid-trial
    project = tmp_path / "long.json"
    save(graph, project)
    raw = space(dimensions=[{"target": LR, "kind": "choice", "choices": [0.05]}], trials=1)
    (tmp_path / "space.json").write_text(json.dumps(raw))
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torchcanvas.runtime.cli",
            "sweep",
            str(project),
            "--space",
            str(tmp_path / "space.json"),
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    metrics = out / "trials" / "trial-0000" / "metrics.json"
    deadline = time.monotonic() + 120
    while not metrics.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert metrics.exists(), "the sweep did not reach its first epoch"
    assert json.loads(metrics.read_text())["status"] == "running"

    graph.set_setting("epochs", 2)  # the same project, made quick to finish the test
    save(graph, project)
    result = run(project, raw, out, resume=True)
    assert [(t.number, t.state) for t in result.trials] == [(0, "FAIL"), (1, "COMPLETE")]
    assert result.trials[0].message == INTERRUPTED
    assert result.trials[1].params == {LR: 0.05}  # the same values, tried again
    killed = json.loads((out / "trials" / "trial-0000" / "trial.json").read_text())
    assert killed["state"] == "FAIL" and killed["message"] == INTERRUPTED


@pytest.mark.slow
def test_stop_in_the_middle_of_a_trial_keeps_finished_trials_and_resume_retries(tmp_path):
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 150)
    project = tmp_path / "long.json"
    save(graph, project)
    raw = space(
        dimensions=[{"target": LR, "kind": "choice", "choices": [0.05, 0.02]}],
        trials=2,
        pruner="none",
    )
    out = tmp_path / "stopped"
    sweep = Sweep(graph, project, parse_space(raw, graph), out)
    second = out / "trials" / "trial-0001" / "metrics.json"

    def stop_when_the_second_trial_trains() -> None:
        while not second.exists() and thread.is_alive():
            time.sleep(0.02)
        sweep.stop()

    results = []
    thread = threading.Thread(target=lambda: results.append(sweep.run()))
    thread.start()
    stop_when_the_second_trial_trains()
    thread.join(timeout=120)
    assert not thread.is_alive()
    first = results[0]
    assert [(t.number, t.state) for t in first.trials] == [(0, "COMPLETE"), (1, "RUNNING")]
    stopped = json.loads((out / "trials" / "trial-0001" / "metrics.json").read_text())
    assert stopped["status"] == "stopped" and stopped["epochs"] < 150
    done = (out / "trials" / "trial-0000" / "trial.json").read_text()

    graph.set_setting("epochs", 2)
    save(graph, project)
    resumed = run(project, raw, out, resume=True)
    assert [(t.number, t.state) for t in resumed.trials] == [
        (0, "COMPLETE"),
        (1, "FAIL"),
        (2, "COMPLETE"),
    ]
    assert resumed.trials[2].params == resumed.trials[1].params
    assert (out / "trials" / "trial-0000" / "trial.json").read_text() == done


def test_a_paused_sweep_holds_its_trial_and_goes_on_where_it_stopped(tmp_path):
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 60)
    project = tmp_path / "long.json"
    save(graph, project)
    raw = space(dimensions=[{"target": LR, "kind": "choice", "choices": [0.05]}], trials=1)
    out = tmp_path / "paused"
    sweep = Sweep(graph, project, parse_space(raw, graph), out)
    metrics = out / "trials" / "trial-0000" / "metrics.json"
    started = []
    results = []
    thread = threading.Thread(
        target=lambda: results.append(sweep.run(on_start=lambda n, p: started.append((n, p))))
    )
    began = time.perf_counter()
    thread.start()
    while not metrics.exists() and thread.is_alive():
        time.sleep(0.01)
    sweep.pause()
    assert sweep.paused
    time.sleep(0.3)  # the step under way ends, and its epoch may be written
    held = json.loads(metrics.read_text())["epochs"]
    time.sleep(1.5)
    assert json.loads(metrics.read_text())["epochs"] == held < 60  # nothing trained meanwhile
    assert thread.is_alive()
    sweep.pause(False)
    thread.join(timeout=120)
    wall = time.perf_counter() - began
    trial = results[0].trials[0]
    assert started == [(0, {LR: 0.05})]
    assert (trial.state, trial.epochs) == ("COMPLETE", 60)
    assert json.loads(metrics.read_text())["status"] == "completed"
    assert sweep.paused_s >= 1.8 and trial.duration_s <= wall - 1.8  # the pause left out


def test_stop_ends_a_paused_sweep(tmp_path):
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 60)
    project = tmp_path / "long.json"
    save(graph, project)
    raw = space(dimensions=[{"target": LR, "kind": "choice", "choices": [0.05, 0.02]}], trials=2)
    sweep = Sweep(graph, project, parse_space(raw, graph), tmp_path / "s")
    sweep.pause()  # paused before it starts: no trial begins
    results = []
    thread = threading.Thread(target=lambda: results.append(sweep.run()))
    thread.start()
    time.sleep(1.0)
    assert thread.is_alive() and not (tmp_path / "s" / "trials" / "trial-0000").exists()
    sweep.stop()
    thread.join(timeout=30)
    assert not thread.is_alive() and results[0].trials == []


def test_a_trial_stopped_with_the_sweep_continues_from_its_checkpoint_on_resume(
    tmp_path, monkeypatch
):
    """The retry of a stopped trial starts at the epoch the stopped one reached, keeps the
    stopped one's history, and its run.json names the checkpoint it resumed from."""
    from torchcanvas.runtime import trainer as trainer_module
    from torchcanvas.runtime.events import RunStarted

    starts: list[tuple[int, int]] = []

    class Watched(trainer_module.Trainer):  # the real trainer; records where runs begin
        def __iter__(self):
            for event in super().__iter__():
                if isinstance(event, RunStarted):
                    starts.append((event.start_epoch, event.start_batch))
                yield event

    monkeypatch.setattr(trainer_module, "Trainer", Watched)
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 400)
    project = tmp_path / "long.json"
    save(graph, project)
    raw = space(
        dimensions=[{"target": LR, "kind": "choice", "choices": [0.05]}],
        trials=1,
        pruner="median",
    )
    out = tmp_path / "stopped"
    sweep = Sweep(graph, project, parse_space(raw, graph), out)
    metrics = out / "trials" / "trial-0000" / "metrics.json"

    def epochs_done() -> int:
        try:
            return json.loads(metrics.read_text())["epochs"]
        except (OSError, ValueError, KeyError):
            return 0

    results = []
    thread = threading.Thread(target=lambda: results.append(sweep.run()))
    thread.start()
    while epochs_done() < 2 and thread.is_alive():
        time.sleep(0.01)
    sweep.stop()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert [(t.number, t.state) for t in results[0].trials] == [(0, "RUNNING")]
    stopped = json.loads(metrics.read_text())
    assert stopped["status"] == "stopped" and 2 <= stopped["epochs"] < 400
    reached = stopped["epochs"]

    graph.set_setting("epochs", reached + 2)  # two epochs more than the stopped trial had
    save(graph, project)
    starts.clear()
    resumed = run(project, raw, out, resume=True)
    assert [(t.number, t.state) for t in resumed.trials] == [(0, "FAIL"), (1, "COMPLETE")]
    retry = out / "trials" / "trial-0001"
    assert starts[0][0] == reached  # it began where the stopped trial stood, not at epoch 0
    meta = json.loads((retry / "run.json").read_text())
    assert meta["resumed_from"] == str(out / "trials" / "trial-0000" / "checkpoint.pt")
    assert meta["name"] == "trial 1" and meta["params"] == {LR: 0.05}
    history = json.loads((retry / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, reached + 3))  # the full history
    assert history[:reached] == stopped["history"][:reached]
    assert resumed.trials[1].objective == history[-1]["val_loss"] == final_metric(retry)
    assert resumed.trials[1].epochs == reached + 2


@pytest.mark.parametrize("pruner", ["median", "halving"])
def test_a_pruner_stops_a_clearly_bad_trial(project, tmp_path, pruner):
    out = tmp_path / "pruned"
    lrs = [0.05, 0.1, 1e-6, 2e-6]
    # seed 4 runs this grid as good, better, bad, bad: the bad ones meet finished good ones
    raw = space(
        dimensions=[{"target": LR, "kind": "choice", "choices": lrs}], pruner=pruner, seed=4
    )
    graph = load(project)
    graph.set_setting("epochs", 3)
    save(graph, project)
    result = run(project, raw, out)
    assert [t.params[LR] for t in result.trials] == [0.05, 0.1, 2e-6, 1e-6]
    states = {t.params[LR]: t.state for t in result.trials}
    assert states[0.1] == states[0.05] == "COMPLETE"
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned and all(t.params[LR] < 1e-5 for t in pruned), states
    for t in pruned:
        folder = out / "trials" / f"trial-{t.number:04d}"
        trial = json.loads((folder / "trial.json").read_text())
        assert trial["state"] == "PRUNED" and trial["message"].startswith("pruned after epoch")
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "stopped" and metrics["epochs"] < 3
        # where it stood when it was stopped: its last epoch's val_loss
        assert t.last_value == pytest.approx(metrics["history"][-1]["val_loss"])
    assert result.best.params[LR] in (0.1, 0.05)
    # without a pruner every trial runs its epochs
    unpruned = run(project, raw | {"pruner": "none"}, tmp_path / "unpruned")
    assert all(t.state == "COMPLETE" and t.epochs == 3 for t in unpruned.trials)


def test_a_diverging_trial_fails_with_its_message_and_uses_up_budget(project, tmp_path):
    raw = space(dimensions=[{"target": LR, "kind": "choice", "choices": [0.1, 50.0]}])
    result = run(project, raw, tmp_path / "diverge")
    states = {t.params[LR]: t for t in result.trials}
    assert states[0.1].state == "COMPLETE"
    assert states[50.0].state == "FAIL" and "diverged" in states[50.0].message
    assert result.best.params == {LR: 0.1}


BAD = [
    (
        {"target": "nodes.fc9.params.lr", "kind": "log", "low": 1e-4, "high": 0.1},
        "dimensions[1].target: no node 'fc9'",
    ),
    (
        {"target": "nodes.n4.params.lrr", "kind": "log", "low": 1e-4, "high": 0.1},
        "dimensions[1].target: node 'n4' (optim.SGD) has no param 'lrr'",
    ),
    (
        {"target": "settings.speed", "kind": "int", "low": 1, "high": 2},
        "dimensions[1].target: no training setting 'speed'",
    ),
    (
        {"target": "n4.lr", "kind": "log", "low": 1e-4, "high": 0.1},
        "dimensions[1].target: 'n4.lr' is not a target",
    ),
    (
        {"target": "settings.batch_size", "kind": "log", "low": 8, "high": 64},
        "dimensions[1].kind: 'log' does not fit settings.batch_size (int param)",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "int", "low": 1, "high": 2},
        "dimensions[1].kind: 'int' does not fit nodes.n4.params.lr (float param)",
    ),
    (
        {"target": "nodes.n4.params.nesterov", "kind": "linear", "low": 0, "high": 1},
        "dimensions[1].kind: 'linear' does not fit",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "loglog", "low": 1e-4, "high": 0.1},
        'dimensions[1].kind: "loglog" is not a kind',
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "log", "low": 0.1, "high": 1e-4},
        "dimensions[1].low: 0.1 is above high (0.0001)",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "log", "low": 0, "high": 0.1},
        "dimensions[1].low: a log range needs low > 0",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "linear", "low": -1.0, "high": 0.1},
        "dimensions[1].low: -1.0 is refused: ",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "linear", "high": 0.1},
        "dimensions[1].low: required",
    ),
    (
        {"target": "settings.batch_size", "kind": "int", "low": 8, "high": 20, "step": 8},
        "dimensions[1].step: high - low (12) is not a multiple of step (8)",
    ),
    (
        {"target": "settings.batch_size", "kind": "int", "low": 8.5, "high": 20},
        "dimensions[1].low: expected an integer",
    ),
    (
        {"target": "settings.batch_size", "kind": "int", "low": 0, "high": 8},
        "dimensions[1].low: 0 is refused",
    ),
    (
        {"target": "settings.batch_size", "kind": "choice", "choices": []},
        "dimensions[1].choices: expected a non-empty list",
    ),
    (
        {"target": "settings.precision", "kind": "choice", "choices": ["off", "fp64"]},
        'dimensions[1].choices[1]: "fp64" is refused',
    ),
    (
        {"target": "settings.batch_size", "kind": "choice", "choices": [8, 8]},
        "dimensions[1].choices: a value is listed twice",
    ),
    (
        {"target": "settings.batch_size", "kind": "choice", "choices": [8], "low": 1},
        "dimensions[1].low: a choice dimension takes choices",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "log", "low": 1e-4, "high": 0.1, "steps": 2},
        "dimensions[1].steps: unknown field",
    ),
    (
        {"target": "nodes.n4.params.lr", "kind": "choice", "choices": [0.1, 0.2]},
        "dimensions[1].target: nodes.n4.params.lr is already dimensions[0]",
    ),
]


@pytest.mark.parametrize(
    ("dim", "message"), BAD, ids=[m.split(":")[1].strip()[:30] for _, m in BAD]
)
def test_a_bad_dimension_is_named(project, dim, message):
    raw = space(
        dimensions=[{"target": "nodes.n4.params.lr", "kind": "log", "low": 1e-4, "high": 0.1}, dim],
        strategy="tpe",
    )
    with pytest.raises(SweepError) as info:
        parse_space(raw, load(project))
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "strategy": "grid",
                "dimensions": [{"target": LR, "kind": "log", "low": 1e-4, "high": 0.1}],
            },
            "dimensions[0]: a grid sweep needs a list of values for a log range",
        ),
        (
            {"objective": {"metric": "accuracy", "direction": "maximize"}},
            'objective.metric: "accuracy" is not recorded for this project',
        ),
        ({"objective": {"metric": "val_loss", "direction": "up"}}, "objective.direction"),
        ({"strategy": "bayes"}, 'strategy: "bayes" is not a strategy'),
        ({"pruner": "hyperband"}, 'pruner: "hyperband" is not a pruner'),
        ({"trials": 0}, "trials: must be at least 1"),
        ({"timeout_s": -5}, "timeout_s: must be > 0"),
        ({"dimensions": []}, "dimensions: expected a non-empty list"),
        ({"budget": 3}, "budget: unknown field"),
    ],
)
def test_a_bad_space_field_is_named(project, overrides, message):
    with pytest.raises(SweepError) as info:
        parse_space(space(**overrides), load(project))
    assert str(info.value).startswith(message), str(info.value)


def test_a_grid_takes_int_ranges_and_listed_values(project):
    raw = space(
        dimensions=[
            {"target": "settings.batch_size", "kind": "int", "low": 8, "high": 24, "step": 8},
            {"target": LR, "kind": "log", "low": 1e-3, "high": 0.1, "grid": [1e-3, 0.1]},
        ]
    )
    parsed = parse_space(raw, load(project))
    assert [d.grid_values() for d in parsed.dimensions] == [[8, 16, 24], [1e-3, 0.1]]


def test_the_command_prints_a_best_first_table(project, tmp_path, capsys):
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space()))
    out = tmp_path / "cli"
    assert (
        cli_main(
            ["sweep", str(project), "--space", str(space_file), "--out", str(out), "--trials", "2"]
        )
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["Trial", "State", "Params", "val_loss", "Duration"]
    rows = [line.split() for line in printed[2:4]]
    values = [float(r[3]) for r in rows]
    assert values == sorted(values) and all(r[1] == "complete" for r in rows)
    best = json.loads((out / "results.json").read_text())["best"]
    assert (
        printed[4] == f"best: trial {best['number']}, val_loss {best['objective']:.6g} (minimize)"
    )
    # --resume with more trials continues the same folder, reading its space.json
    assert cli_main(["sweep", str(project), "--out", str(out), "--resume", "--trials", "3"]) == 0
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 3


def test_the_command_refuses_a_bad_space_in_one_line(project, tmp_path, capsys):
    space_file = tmp_path / "space.json"
    space_file.write_text(
        json.dumps(
            space(
                dimensions=[
                    {"target": "nodes.fc9.params.lr", "kind": "log", "low": 1e-4, "high": 0.1}
                ]
            )
        )
    )
    out = tmp_path / "bad"
    assert cli_main(["sweep", str(project), "--space", str(space_file), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: dimensions[0].target: no node 'fc9'"]
    assert not out.exists()  # nothing ran
    assert cli_main(["sweep", str(project), "--space", str(space_file), "--jobs", "0"]) == 1
    assert "--jobs: trials at a time must be 1 or more, got 0" in capsys.readouterr().err
