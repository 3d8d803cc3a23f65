"""Sweeps on Ray Tune (``--ray``): the same trials and the same table as a local sweep, on a
local Ray instance started by the test; without Ray the option says how to install it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from torchcanvas.graph import load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.sweep import Sweep, format_table, parse_space

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
            {"target": LR, "kind": "choice", "choices": [0.1, 0.01, 0.001]},
            {"target": "settings.batch_size", "kind": "choice", "choices": [8, 16]},
        ],
        "objective": {"metric": "val_loss", "direction": "minimize"},
        "strategy": "grid",
        "trials": 3,
        "pruner": "none",
        "seed": 0,
    }
    return raw | overrides


def test_without_ray_the_option_says_how_to_install_it(project, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space()))
    args = ["sweep", str(project), "--space", str(space_file), "--out", str(tmp_path / "r")]
    assert cli_main([*args, "--ray", "auto"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --ray: ") and 'pip install "torchcanvas[ray]"' in err
    assert not (tmp_path / "r").exists()
    assert cli_main([*args, "--ray-storage", "/tmp/x"]) == 1
    assert "--ray-storage" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ray_sweep_gives_the_local_sweeps_table(project, tmp_path, local_ray, capsys):
    from torchcanvas.runtime.ray_sweep import RaySweep

    graph = load(project)
    parsed = parse_space(space(), graph)
    local = Sweep(graph, project, parsed, tmp_path / "local").run()
    rows = []
    on_ray = RaySweep(graph, project, parsed, tmp_path / "ray", address="auto").run(
        lambda row, result: rows.append(row.number)
    )
    assert sorted(rows) == [0, 1, 2]  # each trial reported as it finished
    assert len(on_ray.trials) == len(local.trials) == 3
    assert all(t.state == "COMPLETE" for t in on_ray.trials)
    grid = {(0.1, 8), (0.1, 16), (0.01, 8), (0.01, 16), (0.001, 8), (0.001, 16)}
    assert {(t.params[LR], t.params["settings.batch_size"]) for t in on_ray.trials} <= grid
    for a, b in zip(on_ray.trials, local.trials, strict=True):
        assert set(a.to_dict()) == set(b.to_dict())
        assert set(a.params) == set(b.params)
    # the same table: same columns, one row per trial, a best line
    table_ray, table_local = format_table(on_ray).splitlines(), format_table(local).splitlines()
    assert table_ray[0].split() == table_local[0].split()
    assert len(table_ray) == len(table_local)
    assert table_ray[-1].startswith("best: trial ")
    # results and checkpoints came back into the sweep folder
    out = tmp_path / "ray"
    results = json.loads((out / "results.json").read_text())
    assert set(results) == set(json.loads((tmp_path / "local" / "results.json").read_text()))
    assert results["counted"] == 3
    for t in on_ray.trials:
        run_dir = Path(t.run_dir)
        assert run_dir.parent == out / "trials"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["status"] == "completed"
        assert t.objective == pytest.approx(metrics["final"]["val_loss"])
        assert (run_dir / "weights.pt").is_file() and (run_dir / "checkpoint.pt").is_file()
        run_file = json.loads((run_dir / "run.json").read_text())  # listed in the Runs tab
        assert (run_file["name"], run_file["sweep"]) == (f"trial {t.number}", "ray")
        saved = load(run_dir / "project.json")
        assert saved.node("n4").params["lr"] == t.params[LR]
    best = min(on_ray.trials, key=lambda t: t.objective)
    assert results["best"]["number"] == best.number
    assert (out / "space.json").is_file() and (out / "sweep.db").is_file()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_asha_stops_trials_early_and_they_are_marked_pruned(project, tmp_path, local_ray):
    from torchcanvas.runtime.ray_sweep import RaySweep

    graph = load(project)
    graph.set_setting("epochs", 4)
    raw = space(
        dimensions=[{"target": LR, "kind": "choice", "choices": [0.1, 1e-4, 1e-5, 1e-6]}],
        trials=4,
        pruner="median",
    )
    result = RaySweep(graph, project, parse_space(raw, graph), tmp_path / "asha", jobs=1).run()
    states = {t.params[LR]: t.state for t in result.trials}
    assert "PRUNED" in states.values()
    for t in result.trials:
        if t.state == "PRUNED":
            assert t.epochs < 4 and t.objective is None and "ASHA" in t.message
            assert t.last_value is not None  # its val_loss when ASHA stopped it


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ray_sweep_resumes_and_retries_what_a_killed_sweep_left_running(
    project, tmp_path, local_ray
):
    import optuna

    from torchcanvas.runtime.ray_sweep import RaySweep
    from torchcanvas.runtime.sweep import SweepError, sweep_storage

    graph = load(project)
    out = tmp_path / "ray"
    first = RaySweep(graph, project, parse_space(space(trials=2), graph), out).run()
    assert [t.number for t in first.trials] == [0, 1]
    # each trial came back as it finished, and results.json was written then
    assert json.loads((out / "results.json").read_text())["counted"] == 2
    with pytest.raises(SweepError, match=r"--out: .* already holds a sweep"):
        RaySweep(graph, project, parse_space(space(trials=2), graph), out)
    with pytest.raises(SweepError, match="--space: differs"):
        RaySweep(graph, project, parse_space(space(seed=5), graph), out, resume=True)

    # a sweep killed with a trial running leaves that trial RUNNING in the study
    study = optuna.load_study(study_name=out.name, storage=sweep_storage(out))
    lrs, batches = [0.1, 0.01, 0.001], [8, 16]
    left = study.ask(
        {
            "d0": optuna.distributions.CategoricalDistribution(lrs),
            "d1": optuna.distributions.CategoricalDistribution(batches),
        }
    )
    killed = (left.params["d0"], left.params["d1"])

    rows = []
    resumed = RaySweep(graph, project, parse_space(space(trials=4), graph), out, resume=True).run(
        lambda row, result: rows.append(row.number)
    )
    assert sorted(rows) == [2, 3]  # only the two trials the budget still wanted
    assert [t.number for t in resumed.trials] == [0, 1, 2, 3]
    assert all(t.state == "COMPLETE" for t in resumed.trials)
    pairs = [(t.params[LR], t.params["settings.batch_size"]) for t in resumed.trials]
    assert killed in pairs[2:]  # the killed trial's values were tried again
    assert (out / "ray" / "tune").is_dir() and (out / "ray" / "tune-from-2").is_dir()
    results = json.loads((out / "results.json").read_text())
    assert results["counted"] == 4 and len(results["trials"]) == 4
    for t in resumed.trials:
        metrics = json.loads((Path(t.run_dir) / "metrics.json").read_text())
        assert t.objective == pytest.approx(metrics["final"]["val_loss"])
    # a sweep whose budget is used up resumes to its table at once
    again = RaySweep(graph, project, parse_space(space(trials=4), graph), out, resume=True)
    assert [t.number for t in again.run().trials] == [0, 1, 2, 3]
