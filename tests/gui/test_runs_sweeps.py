"""Sweeps in the Runs tab: a sweep is one row with its trials under it; a trial is selected,
compared, renamed, resumed and deleted like a run; a whole sweep is deleted only when confirmed;
trials of sweeps made before trials had run.json still show."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from torchcanvas.gui.training.run_folders import load_sweeps, read_trial
from torchcanvas.gui.training.runs import RunsWidget, _RunItem, _SweepItem

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

LR = "nodes.n4.params.lr"  # the SGD optimizer of linear_regression.json
SWEEP = "sweep-20250304-101500"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A runs folder with one ordinary run and a real 3-trial grid sweep over the learning
    rate of the linear regression example (2 epochs each)."""
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load, save
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.sweep import Sweep, parse_space
    from torchcanvas.runtime.trainer import Trainer, TrainOptions

    base = tmp_path_factory.mktemp("swept")
    runs = base / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHCANVAS_DATA_DIR", str(base / "data"))
        graph = load(assets_dir() / "examples" / "linear_regression.json")
        graph.set_setting("epochs", 2)
        project = base / "line.json"
        save(graph, project)
        plain = runs / "run-20250304-090000"
        plain.mkdir(parents=True)
        save(graph, plain / "project.json")
        (plain / "run.json").write_text(
            json.dumps(
                {
                    "name": "plain run",
                    "project": str(project),
                    "started": "2025-03-04T09:00:00",
                    "resumed_from": None,
                }
            )
        )
        Trainer(compile_project(graph), TrainOptions(out_dir=plain)).run()
        space = {
            "dimensions": [{"target": LR, "kind": "choice", "choices": [0.1, 0.01, 1e-5]}],
            "objective": {"metric": "val_loss", "direction": "minimize"},
            "strategy": "grid",
            "trials": 3,
            "pruner": "none",
            "seed": 0,
        }
        Sweep(graph, project, parse_space(space, graph), runs / SWEEP).run()
    return runs


@pytest.fixture
def root(made, isolated, monkeypatch) -> Path:
    path = isolated / "runs"
    shutil.copytree(made, path)
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(path))
    return path


@pytest.fixture
def widget(qtbot, root):
    w = RunsWidget()
    qtbot.addWidget(w)
    w.resize(1000, 320)
    w.show()
    w.set_root(root)
    return w


def _group(w: RunsWidget) -> _SweepItem:
    (group,) = [
        w.tree.topLevelItem(i)
        for i in range(w.tree.topLevelItemCount())
        if isinstance(w.tree.topLevelItem(i), _SweepItem)
    ]
    return group


def _children(item) -> list[_RunItem]:
    return [item.child(i) for i in range(item.childCount())]


def _objectives(root: Path) -> dict[str, float]:
    results = json.loads((root / SWEEP / "results.json").read_text())
    return {f"trial {t['number']}": t["objective"] for t in results["trials"]}


def test_a_sweep_is_one_row_with_its_trials_under_it(widget, root):
    tree = widget.tree
    assert tree.topLevelItemCount() == 2  # the plain run and the sweep
    assert [r.name for r in widget.runs] == ["plain run"]
    group = _group(widget)
    assert group.text(0) == f"{SWEEP} (3 trials)"
    assert group.text(2) == "finished"
    headers = [tree.headerItem().text(c) for c in range(tree.columnCount())]
    best = min(_objectives(root).values())
    assert float(group.text(headers.index("val loss"))) == pytest.approx(best, rel=1e-3)
    assert "best val_loss" in group.toolTip(0) and "3 of 3 trials" in group.toolTip(0)
    assert not group.flags() & Qt.ItemFlag.ItemIsUserCheckable  # a sweep is not compared
    trials = _children(group)
    assert sorted(t.text(0) for t in trials) == ["trial 0", "trial 1", "trial 2"]
    for item in trials:
        assert item.text(2) == "completed" and item.text(3) == "2"
        assert "lr=" in item.toolTip(0)  # the trial's values
        shown = float(item.text(headers.index("val loss")))
        assert shown == pytest.approx(_objectives(root)[item.text(0)], rel=1e-3)
    # sortable like the runs: by val loss, the trials inside the sweep follow
    tree.sortItems(headers.index("val loss"), Qt.SortOrder.AscendingOrder)
    ordered = [t.text(0) for t in _children(_group(widget))]
    assert ordered == sorted(_objectives(root), key=_objectives(root).get)
    # a reload keeps the sweep open and the selection
    assert widget.select_run(root / SWEEP / "trials" / "trial-0001")
    assert _group(widget).isExpanded()
    widget.reload()
    assert _group(widget).isExpanded()
    assert widget.current_run().name == "trial 1"


def test_a_trial_is_compared_renamed_resumed_and_opened_like_a_run(qtbot, widget, root):
    trial = root / SWEEP / "trials" / "trial-0002"
    with qtbot.waitSignal(widget.compareChanged) as compared:
        widget.set_checked(trial)
    ((name, data),) = compared.args[0]
    assert name == "trial 2" and data["epochs"] == [1.0, 2.0]
    assert [r.folder for r in widget.checked_runs()] == [trial]
    assert widget.rename(trial, "lr 1e-5")
    assert json.loads((trial / "run.json").read_text())["name"] == "lr 1e-5"
    assert json.loads((trial / "run.json").read_text())["sweep"] == SWEEP
    widget.select_run(trial)
    assert widget.buttons["resume"].isEnabled()
    with qtbot.waitSignal(widget.resumeRequested) as resumed:
        widget.resume_current()
    assert resumed.args == [trial / "checkpoint.pt"]
    opened = []
    widget.open_url = lambda url: opened.append(url.toLocalFile()) or True
    assert widget.open_current() and opened == [str(trial)]
    # the sweep row: opened, not renamed nor resumed
    widget.select_run(root / SWEEP)
    assert widget.current_sweep() is not None and widget.current_run() is None
    assert not widget.buttons["rename"].isEnabled() and not widget.buttons["resume"].isEnabled()
    assert widget.open_current() and opened[-1] == str(root / SWEEP)


def test_a_sweep_is_deleted_only_when_confirmed_and_a_trial_alone(widget, root):
    asked = []
    widget.confirm_delete_sweep = lambda sweep: asked.append(len(sweep.trials)) or False
    widget.confirm_delete = lambda info: True
    widget.select_run(root / SWEEP)
    assert not widget.delete_current()
    assert asked == [3] and (root / SWEEP / "sweep.db").is_file()
    # one trial goes alone; its sweep stays
    widget.select_run(root / SWEEP / "trials" / "trial-0000")
    assert widget.delete_current()
    assert not (root / SWEEP / "trials" / "trial-0000").exists()
    assert _group(widget).text(0) == f"{SWEEP} (2 trials)"
    assert widget.current_run().sweep == SWEEP  # the next trial is selected
    # a running sweep cannot go
    widget.set_active_sweep(root / SWEEP)
    widget.select_run(root / SWEEP)
    assert _group(widget).text(2) == "running"
    assert not widget.buttons["delete"].isEnabled() and not widget.delete_current()
    widget.set_active_sweep(None)
    widget.confirm_delete_sweep = lambda sweep: True
    widget.select_run(root / SWEEP)
    assert widget.delete_current()
    assert not (root / SWEEP).exists() and (root / "run-20250304-090000").is_dir()
    assert widget.tree.topLevelItemCount() == 1


def test_trials_of_older_sweeps_without_run_json_still_show(widget, root):
    for trial in (root / SWEEP / "trials").iterdir():
        (trial / "run.json").unlink()
    (root / SWEEP / "trials" / "trial-0001" / "trial.json").write_text("{broken")
    (root / SWEEP / "trials" / "stray").mkdir()  # neither run.json nor trial.json
    (root / SWEEP / "results.json").write_text("[]")
    widget.reload()
    group = _group(widget)
    names = sorted(t.text(0) for t in _children(group))
    assert names == ["trial 0", "trial 2", "trial-0001"]
    assert group.text(2) == "unfinished"  # no readable results: the budget is unknown
    started = next(t for t in _children(group) if t.text(0) == "trial 0").info.started
    assert datetime.fromisoformat(started).year >= 2025
    # renaming such a trial gives it a run.json
    trial = root / SWEEP / "trials" / "trial-0000"
    assert widget.rename(trial, "first")
    assert read_trial(trial).name == "first" and read_trial(trial).trial == 0
    assert load_sweeps(root)[0].trials  # and reading never raises


# ---------------------------------------------------------------------------- in the window
def test_in_the_window_a_trial_shows_in_results_compares_in_curves_and_resumes(qtbot, root, window):
    from torchcanvas.gui.training.results import fmt_quantity

    trial = root / SWEEP / "trials" / "trial-0001"
    final = json.loads((trial / "metrics.json").read_text())["final"]
    window.training_dock.show()
    window.training_tabs.setCurrentWidget(window.runs)
    window.runs.reload()
    assert window.runs.select_run(trial)
    # Results: the trial's own weights on its validation split, the figures it finished with
    window.training_tabs.setCurrentWidget(window.results)
    qtbot.waitUntil(lambda: "Results of “trial 1”" in window.results.source(), timeout=60_000)
    assert window.results.mode() == "regression"
    assert window.results.headline()["MAE"] == fmt_quantity(final["mae"])
    assert "weights.pt" in window.results.source()
    # another run chosen: its results replace the trial's
    window.training_tabs.setCurrentWidget(window.runs)
    window.runs.select_run(root / "run-20250304-090000")
    window.training_tabs.setCurrentWidget(window.results)
    qtbot.waitUntil(lambda: "plain run" in window.results.source(), timeout=60_000)
    # compared: drawn on the Curves tab beside the current run
    window.runs.set_checked(trial)
    assert [name for name, _data in window.plots._overlay_runs] == ["trial 1"]
    # resumed: an ordinary run of the trial's own project (its values), resumed_from set
    window.training_tabs.setCurrentWidget(window.runs)
    window.runs.select_run(trial)
    before = {p.name for p in root.iterdir()}
    assert window.runs.resume_current()
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    (new,) = [root / n for n in {p.name for p in root.iterdir()} - before]
    meta = json.loads((new / "run.json").read_text())
    assert meta["resumed_from"] == str(trial / "checkpoint.pt") and "sweep" not in meta
    from torchcanvas.graph import load

    lr = json.loads((trial / "run.json").read_text())["params"][LR]
    assert load(new / "project.json").node("n4").params["lr"] == lr  # the trial's own value
    assert json.loads((new / "metrics.json").read_text())["status"] == "completed"
    assert new.name in [r.folder.name for r in window.runs.runs]  # listed as a run
