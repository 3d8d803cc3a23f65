"""The sweep kept in the project file: saved with the project (version 4), loaded back with its
form checked, old files unchanged, and run by ``torchcanvas sweep`` without --space."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchcanvas.graph import InvalidProjectError, dumps, load, loads, save
from torchcanvas.graph.serialize import fingerprint, to_dict
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir

EXAMPLES = assets_dir() / "examples"
SPACE = {
    "dimensions": [
        {"target": "nodes.n4.params.lr", "kind": "log", "low": 0.001, "high": 0.1},
        {"target": "settings.batch_size", "kind": "choice", "choices": [8, 16]},
    ],
    "objective": {"metric": "val_loss", "direction": "minimize"},
    "strategy": "random",
    "trials": 2,
    "timeout_s": None,
    "pruner": "none",
    "seed": 0,
}


def test_old_files_load_and_save_unchanged():
    for path in sorted(EXAMPLES.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        graph = loads(text)
        assert graph.sweep is None
        assert "sweep" not in to_dict(graph)
        # written again, byte for byte the same file
        assert dumps(graph, json.loads(text).get("results")) == text, path.name


def test_a_sweep_round_trips_in_a_version_4_file(tmp_path):
    graph = load(EXAMPLES / "linear_regression.json")
    before = fingerprint(to_dict(graph))
    events = []
    graph.subscribe(events.append)
    graph.set_sweep(SPACE)
    assert [e.kind for e in events] == ["sweep_changed"]
    assert events[0].old is None and events[0].new == SPACE
    graph.set_sweep(SPACE)  # the same again: nothing happens
    assert len(events) == 1
    assert graph.sweep is not SPACE  # the graph keeps its own copy
    save(graph, tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["version"] == 4 and data["sweep"] == SPACE
    again = load(tmp_path / "p.json")
    assert again.sweep == SPACE
    assert again.copy().sweep == SPACE
    # the sweep changes no shape: saved results stay valid
    assert fingerprint(to_dict(again)) == before
    graph.set_sweep(None)
    assert "sweep" not in to_dict(graph) and to_dict(graph)["version"] == 2


@pytest.mark.parametrize(
    "change, path",
    [
        ({"strategy": "bayes"}, "sweep.strategy"),
        (
            {"dimensions": [{"target": "settings.epochs", "kind": "wide"}]},
            "sweep.dimensions[0].kind",
        ),
        ({"dimensions": [{"kind": "int"}]}, "sweep.dimensions[0].target"),
        (
            {"dimensions": [{"target": "x", "kind": "choice", "choices": [[1]]}]},
            "sweep.dimensions[0].choices",
        ),
        ({"trials": 0}, "sweep.trials"),
        ({"budget": 3}, "sweep.budget"),
        ({"objective": {"metric": "val_loss", "direction": "down"}}, "sweep.objective.direction"),
    ],
)
def test_a_bad_saved_sweep_is_refused_naming_the_field(tmp_path, change, path):
    graph = load(EXAMPLES / "linear_regression.json")
    data = to_dict(graph) | {"version": 4, "sweep": SPACE | change}
    with pytest.raises(InvalidProjectError) as info:
        loads(json.dumps(data))
    assert info.value.path == path
    with pytest.raises(InvalidProjectError):
        graph.set_sweep(SPACE | change)
    assert graph.sweep is None


def test_a_sweep_needs_version_4():
    data = to_dict(load(EXAMPLES / "linear_regression.json")) | {"sweep": SPACE}
    with pytest.raises(InvalidProjectError, match="version 4") as info:
        loads(json.dumps(data))
    assert info.value.path == "sweep"


@pytest.mark.slow
def test_the_command_runs_the_projects_own_sweep(tmp_path, capsys):
    graph = load(EXAMPLES / "linear_regression.json")
    graph.set_setting("epochs", 1)
    path = tmp_path / "line.json"
    save(graph, path)
    assert cli_main(["sweep", str(path), "--out", str(tmp_path / "a")]) == 1
    assert "keeps no sweep" in capsys.readouterr().err
    graph.set_sweep(SPACE)
    save(graph, path)
    assert cli_main(["sweep", str(path), "--out", str(tmp_path / "b")]) == 0
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["counted"] == 2
    assert json.loads((tmp_path / "b" / "space.json").read_text()) == SPACE
    assert Path(results["trials"][0]["run_dir"]).is_dir()
