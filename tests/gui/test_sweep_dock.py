"""Sweeps in the window: "Sweep this…" on a param or setting adds a dimension to the project's
sweep as one undo step (saved with the project); the Sweep dock runs a real sweep (Optuna, the
real trainer, a worker process) on the iris example, shows its trials, applies the best one as
one undo step, and stops and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from torchcanvas.graph import load
from torchcanvas.gui.panels.inspector import InspectorWidget
from torchcanvas.gui.project import Document
from torchcanvas.gui.training.run_panel import RunPanel
from torchcanvas.gui.training.sweep_edit import SWEEP_TEXT, sweep_menu
from torchcanvas.runtime.data import assets_dir

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

IRIS = assets_dir() / "examples" / "iris_mlp.json"  # n2 hidden, n4 classifier, n6 Adam (lr)


@pytest.fixture
def iris(qtbot, isolated):
    document = Document(load(IRIS))
    yield document
    document.close()


def _menu_action(menu: QMenu):
    return next(a for a in menu.actions() if a.text() == SWEEP_TEXT)


def test_sweep_this_on_a_node_param_adds_one_undoable_dimension(qtbot, iris, tmp_path):
    insp = InspectorWidget(iris)
    qtbot.addWidget(insp)
    insp.show()
    insp.show_nodes(["n6"])  # the Adam optimizer
    row = insp.row("lr")
    # the right-click menu of the lr field holds the field's own actions and "Sweep this…"
    menu = sweep_menu(row.editor, row.sweepRequested.emit)
    assert len(menu.actions()) > 2
    with qtbot.waitSignal(row.sweepRequested):
        _menu_action(menu).trigger()
    dialog = insp.sweep_dialog
    assert dialog.isVisible() and dialog.current_kind == "log"
    # a first guess around the value (0.01): one decade each way
    assert float(dialog.low.text()) == pytest.approx(0.001)
    assert float(dialog.high.text()) == pytest.approx(0.1)
    dialog.low.setText("0.0001")
    dialog.high.setText("0.5")
    depth = iris.undo_stack.count()
    dialog._accept()
    assert not dialog.isVisible()
    dims = iris.graph.sweep["dimensions"]
    assert dims == [{"target": "nodes.n6.params.lr", "kind": "log", "low": 0.0001, "high": 0.5}]
    # a classification project: the objective is its accuracy, maximised
    assert iris.graph.sweep["objective"] == {"metric": "accuracy", "direction": "maximize"}
    assert iris.undo_stack.count() == depth + 1
    assert iris.undo_stack.undoText() == "Sweep optimizer1.lr"
    iris.save(tmp_path / "iris.json")
    saved = json.loads((tmp_path / "iris.json").read_text())
    assert saved["sweep"]["dimensions"] == dims
    iris.undo_stack.undo()
    assert iris.graph.sweep is None
    iris.undo_stack.redo()
    assert iris.graph.sweep["dimensions"] == dims


def test_sweep_this_on_a_run_setting_and_a_choice(qtbot, iris):
    panel = RunPanel(iris)
    qtbot.addWidget(panel)
    dialog = panel.sweep_setting("batch_size")
    assert dialog.current_kind == "int"
    dialog.set_kind("choice")
    dialog.choices.setText("8, 16, 32")
    dialog._accept()
    assert iris.graph.sweep["dimensions"] == [
        {"target": "settings.batch_size", "kind": "choice", "choices": [8, 16, 32]}
    ]
    # the same target again replaces its dimension (one more undo step), never a second one
    dialog = panel.sweep_setting("batch_size")
    assert dialog.choices.text() == "8, 16, 32"
    dialog.set_kind("int")
    dialog.low.setText("8")
    dialog.high.setText("32")
    dialog.step.setText("8")
    dialog._accept()
    assert iris.graph.sweep["dimensions"] == [
        {"target": "settings.batch_size", "kind": "int", "low": 8, "high": 32, "step": 8}
    ]
    iris.undo_stack.undo()
    assert iris.graph.sweep["dimensions"][0]["kind"] == "choice"


def test_a_bad_range_is_refused_in_the_dialog_naming_the_field(qtbot, iris):
    insp = InspectorWidget(iris)
    qtbot.addWidget(insp)
    insp.show_nodes(["n2"])  # hidden Linear: out_features
    dialog = insp.sweep_row("out_features")
    assert dialog.current_kind == "int"
    dialog.low.setText("64")
    dialog.high.setText("8")
    dialog._accept()
    assert dialog.isVisible() and "low: 64 is above high (8)" in dialog.error.text()
    dialog.low.setText("eight")
    dialog._accept()
    assert "from: expected a whole number" in dialog.error.text()
    dialog.low.setText("8")
    dialog.high.setText("30")
    dialog.step.setText("8")
    dialog._accept()
    assert "not a multiple of step" in dialog.error.text()
    assert iris.graph.sweep is None  # nothing was added
    dialog.reject()


# ---------------------------------------------------------------------------- the dock
SPACE = {
    "dimensions": [
        {"target": "nodes.n6.params.lr", "kind": "log", "low": 0.001, "high": 0.1},
        {"target": "settings.batch_size", "kind": "choice", "choices": [8, 16, 32]},
    ],
    "objective": {"metric": "accuracy", "direction": "maximize"},
    "strategy": "random",
    "trials": 6,
    "timeout_s": None,
    "pruner": "none",
    "seed": 0,
}


@pytest.fixture
def win(qtbot, isolated):
    """The real main window on the iris example, 2 epochs a run."""
    from torchcanvas.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1300, 800)
    window.show()
    assert window.open_example(IRIS)
    window.doc.set_setting("epochs", 2)
    yield window
    window.doc.undo_stack.setClean()
    window.close()


def _table(panel) -> list[list[str]]:
    t = panel.table
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def _column(panel, title: str) -> int:
    t = panel.table
    heads = [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())]
    return heads.index(title)


def test_a_six_trial_random_sweep_finishes_in_the_window(qtbot, win, isolated):
    win.doc.set_sweep(SPACE)
    panel = win.show_sweep()
    assert win.sweep_dock.isVisible()
    assert panel.dims.topLevelItemCount() == 2
    assert panel.strategy.currentData() == "random" and panel.trials_box.value() == 6
    with qtbot.waitSignal(panel.runner.finished, timeout=300_000):
        assert panel.start()
        assert panel.runner.running and panel.stop_button.isEnabled()
        assert not panel.start_button.isEnabled()
    rows = _table(panel)
    assert len(rows) == 6
    assert {r[_column(panel, "status")] for r in rows} == {"complete"}
    # each trial is a normal run folder of the project's runs, grouped under the sweep
    sweep_dir = panel.out_dir
    assert sweep_dir.parent == isolated / "runs" and sweep_dir.name.startswith("sweep-")
    best = panel.best
    metrics = json.loads((Path(best["run_dir"]) / "metrics.json").read_text())
    assert best["objective"] == metrics["final"]["accuracy"]
    assert max(t["objective"] for t in panel.trials) == best["objective"]
    star = next(r for r in rows if r[0].endswith("★"))
    assert star[0] == f"{best['number']} ★"
    assert star[_column(panel, "accuracy")] == f"{metrics['final']['accuracy']:.6g}"
    # the run's own settings are the trial's values
    assert metrics["settings"]["batch_size"] == best["params"]["settings.batch_size"]
    assert "Finished: 6 of 6 trials done" in panel.status.text()
    assert not panel.resume_button.isEnabled() and panel.apply_button.isEnabled()
    # the table sorts by the objective as numbers
    panel.table.sortItems(_column(panel, "accuracy"), Qt.SortOrder.DescendingOrder)
    assert _table(panel)[0][0] == f"{best['number']} ★"
    # the plots: a line per trial across lr, batch size and accuracy; the objective by trial
    panel.tabs.setCurrentIndex(1)
    plots = panel.plots
    qtbot.waitUntil(lambda: len(plots.lines) == 6)
    ticks = [t for _, t in plots.parallel.getPlotItem().getAxis("bottom")._tickLevels[0]]
    assert ticks == ["optimizer1.lr", "batch_size", "accuracy"]
    best_line = max(plots.lines, key=lambda item: item.zValue())
    assert best_line.opts["pen"].widthF() == 3
    xs, ys = plots.points.getData()
    by_number = {t["number"]: t["objective"] for t in panel.trials}
    assert sorted(zip(xs, ys, strict=True)) == sorted(by_number.items())
    _, running = plots.best_curve.getData()
    assert running[-1] == best["objective"]
    win.grab().save(str(isolated / "sweep.png"))
    # the Runs tab lists the sweep as one row, its six trials under it
    group = win.runs.item_for(sweep_dir)
    assert group is not None and group.text(2) == "finished"
    assert sorted(group.child(i).text(0) for i in range(6)) == [f"trial {i}" for i in range(6)]
    assert group.childCount() == 6
    win.training_dock.show()
    win.training_dock.raise_()
    win.training_tabs.setCurrentWidget(win.runs)
    assert win.runs.select_run(Path(best["run_dir"]))
    win.grab().save(str(isolated / "runs_tab.png"))
    # Show in Curves: the best trial (nothing selected), then the selected ones, per epoch
    panel.curves_button.click()
    assert win.training_dock.isVisible()
    assert win.training_tabs.currentWidget() is win.plots
    names = [name for name, _ in win.plots._overlay_runs]
    assert names == [f"trial {best['number']}"]
    data = win.plots._overlay_runs[0][1]
    assert data["accuracy"][-1] == best["objective"] and data["epochs"] == [1.0, 2.0]
    panel.table.sortItems(0, Qt.SortOrder.AscendingOrder)
    panel.table.selectRow(1)
    panel.table.selectionModel().select(
        panel.table.model().index(3, 0),
        panel.table.selectionModel().SelectionFlag.Select
        | panel.table.selectionModel().SelectionFlag.Rows,
    )
    assert panel.show_in_curves() == ["trial 1", "trial 3"]
    panel.table.selectRow(4)  # a double-click draws the trial under the mouse
    panel.table.itemDoubleClicked.emit(panel.table.item(4, 2))
    assert [name for name, _ in win.plots._overlay_runs] == ["trial 4"]


def test_apply_best_is_one_undo_step_that_sets_every_value(qtbot, win, isolated, monkeypatch):
    """Apply best on a finished sweep folder (the latest of the project, shown when the dock
    opens): all of the best trial's values, one undo step."""
    from torchcanvas.graph import load as load_project
    from torchcanvas.runtime.sweep import Sweep, parse_space

    graph = win.doc.graph
    space = dict(SPACE, trials=3)
    graph_copy = load_project(IRIS)
    graph_copy.set_setting("epochs", 1)
    out = isolated / "runs" / "sweep-20260101-000000"
    result = Sweep(graph_copy, IRIS, parse_space(space, graph_copy), out).run()
    best = result.best
    win.doc.set_sweep(space)
    panel = win.show_sweep()
    assert panel.out_dir == out and len(_table(panel)) == 3
    assert panel.best["number"] == best.number and panel.apply_button.isEnabled()
    lr, batch = best.params["nodes.n6.params.lr"], best.params["settings.batch_size"]
    before_lr, before_batch = graph.node("n6").params["lr"], graph.settings["batch_size"]
    assert (before_lr, before_batch) != (lr, batch)
    depth = win.doc.undo_stack.count()
    panel.apply_button.click()
    assert graph.node("n6").params["lr"] == lr and graph.settings["batch_size"] == batch
    assert win.doc.undo_stack.count() == depth + 1
    assert win.doc.undo_stack.undoText() == f"Apply sweep trial {best.number}"
    assert f"Applied trial {best.number}" in panel.status.text()
    win.doc.undo_stack.undo()
    assert graph.node("n6").params["lr"] == before_lr
    assert graph.settings["batch_size"] == before_batch
    assert graph.sweep == space  # the sweep itself is untouched by the undo
    win.doc.undo_stack.redo()
    assert graph.node("n6").params["lr"] == lr and graph.settings["batch_size"] == batch
    # a sweep of another project (its folder in another runs folder) is never applied here
    monkeypatch.setattr(win.doc, "runs_root", lambda create=False: isolated / "elsewhere")
    depth = win.doc.undo_stack.count()
    assert not panel.apply_best()
    assert "belongs to another project" in panel.status.text()
    assert win.doc.undo_stack.count() == depth


@pytest.mark.slow  # about 10 runs of 10 epochs: 30-90 s on a loaded machine
def test_stop_mid_sweep_keeps_finished_trials_and_resume_completes(qtbot, win, isolated):
    win.doc.set_setting("epochs", 10)  # long enough a trial for Stop to land in one
    win.doc.set_sweep(SPACE)
    panel = win.show_sweep()
    stopped_at = []

    def maybe_stop(info) -> None:
        if info["number"] == 2 and not stopped_at:  # two trials done, the third starts
            stopped_at.append(info["number"])
            panel.stop_button.click()

    panel.runner.trialStarted.connect(maybe_stop)
    with qtbot.waitSignal(panel.runner.finished, timeout=300_000) as blocker:
        assert panel.start()
    assert blocker.args[0]["stopped"] and stopped_at == [2]
    out = panel.out_dir
    done = [t for t in panel.trials if t["state"] == "COMPLETE"]
    assert [t["number"] for t in done] == [0, 1]
    kept = {
        t["number"]: json.loads((Path(t["run_dir"]) / "metrics.json").read_text())["final"]
        for t in done
    }
    assert "Stopped: 2 of 6 trials done" in panel.status.text()
    statuses = {r[0].rstrip(" ★"): r[1] for r in _table(panel)}
    assert statuses["0"] == statuses["1"] == "complete"
    assert statuses.get("2", "stopped") == "stopped"
    assert panel.resume_button.isEnabled() and panel.start_button.isEnabled() is not False

    with qtbot.waitSignal(panel.runner.finished, timeout=300_000) as blocker:
        assert panel.resume_button.isEnabled()
        panel.resume_button.click()
    assert not blocker.args[0]["stopped"] and panel.out_dir == out
    complete = [t for t in panel.trials if t["state"] == "COMPLETE"]
    assert len(complete) == 6
    assert "Finished: 6 of 6 trials done" in panel.status.text()
    # the trials finished before the stop are the same runs, untouched
    for number, final in kept.items():
        again = next(t for t in panel.trials if t["number"] == number)
        metrics = json.loads((Path(again["run_dir"]) / "metrics.json").read_text())
        assert metrics["final"] == final and again["objective"] == final["accuracy"]
    # the stopped trial was tried again: its params are a finished trial's
    interrupted = [t for t in panel.trials if t["state"] == "FAIL"]
    for t in interrupted:
        assert any(c["params"] == t["params"] for c in complete)
        row = next(r for r in _table(panel) if r[0].rstrip(" ★") == str(t["number"]))
        assert row[_column(panel, "status")] == "interrupted"
    assert not panel.resume_button.isEnabled()
    results = json.loads((out / "results.json").read_text())
    assert results["counted"] == 6 and results["best"]["number"] == panel.best["number"]


def test_the_dock_edits_the_sweep_one_undo_step_each(qtbot, win):
    win.doc.set_sweep(SPACE)
    panel = win.show_sweep()
    stack = win.doc.undo_stack
    depth = stack.count()
    panel.strategy.setCurrentIndex(panel.strategy.findData("tpe"))
    panel.strategy.activated.emit(panel.strategy.currentIndex())
    panel.trials_box.setValue(9)
    panel.minutes.setValue(2.5)
    panel.pruner.setCurrentIndex(panel.pruner.findData("halving"))
    panel.pruner.activated.emit(panel.pruner.currentIndex())
    panel.metric.setCurrentText("val_loss")
    panel.direction.setCurrentIndex(0)
    panel.metric.activated.emit(panel.metric.currentIndex())
    sweep = win.doc.graph.sweep
    assert (sweep["strategy"], sweep["trials"], sweep["timeout_s"], sweep["pruner"]) == (
        "tpe",
        9,
        150.0,
        "halving",
    )
    assert sweep["objective"] == {"metric": "val_loss", "direction": "minimize"}
    assert stack.count() == depth + 5
    # remove a dimension: one step; undo brings it back and the dock follows
    panel.dims.setCurrentItem(panel.dims.topLevelItem(1))
    assert panel.remove_button.isEnabled()
    panel.remove_button.click()
    assert [d["target"] for d in win.doc.graph.sweep["dimensions"]] == ["nodes.n6.params.lr"]
    assert panel.dims.topLevelItemCount() == 1
    stack.undo()
    assert panel.dims.topLevelItemCount() == 2
    assert panel.dims.topLevelItem(1).text(0) == "batch_size"
    for _ in range(5):
        stack.undo()
    assert win.doc.graph.sweep == SPACE
    assert panel.strategy.currentData() == "random" and panel.trials_box.value() == 6
    assert panel.minutes.value() == 0 and panel.metric.currentText() == "accuracy"
    # edit a dimension from the dock: the same dialog, filled with it
    panel.dims.setCurrentItem(panel.dims.topLevelItem(0))
    dialog = panel.edit_dimension()
    assert dialog.current_kind == "log" and dialog.low.text() == "0.001"
    dialog.reject()


def test_a_sweep_that_cannot_start_says_why(qtbot, win):
    panel = win.show_sweep()
    assert not panel.start_button.isEnabled()
    assert not panel.start()  # no dimensions
    assert "Sweep this" in panel.status.text()
    win.doc.set_sweep(dict(SPACE, objective={"metric": "r2", "direction": "maximize"}))
    assert not panel.start()
    assert 'objective.metric: "r2" is not recorded' in panel.status.text()
    assert not panel.runner.running


def test_trial_states_read_as_words(qtbot, win, isolated):
    """A sweep folder left by a stopped or interrupted sweep: pruned, stopped, interrupted."""
    from torchcanvas.runtime.sweep import INTERRUPTED

    out = isolated / "runs" / "sweep-20260101-000000"
    out.mkdir(parents=True)
    (out / "space.json").write_text(json.dumps(SPACE))
    params = {"nodes.n6.params.lr": 0.01, "settings.batch_size": 8}
    rows = [
        ("COMPLETE", 0.9, ""),
        ("PRUNED", None, "pruned after epoch 1"),
        ("FAIL", None, INTERRUPTED),
        ("RUNNING", None, ""),
        ("FAIL", None, "loss is nan"),
    ]
    trials = [
        {"number": i, "params": params, "state": s, "objective": o, "duration_s": 1.0, "message": m}
        for i, (s, o, m) in enumerate(rows)
    ]
    results = {"budget": 6, "best": trials[0], "trials": trials}
    (out / "results.json").write_text(json.dumps(results))
    panel = win.show_sweep()
    assert panel.out_dir == out
    status = _column(panel, "status")
    assert [r[status] for r in _table(panel)] == [
        "complete",
        "pruned",
        "interrupted",
        "stopped",
        "failed",
    ]
    assert panel.table.item(4, 0).toolTip() == "loss is nan"
    # 3 of 6 counted (complete, pruned, a failure): Resume is offered
    assert "3 of 6 trials done" in panel.status.text()
    assert panel.resume_button.isEnabled()
    # a project whose sweep has changed since: Resume says so and starts nothing
    win.doc.set_sweep(dict(SPACE, pruner="median"))
    assert not panel.resume()
    assert "the project's sweep has changed since this sweep started" in panel.status.text()
    assert not panel.runner.running


def _epochs(trial: dict) -> int:
    metrics = Path(trial["run_dir"]) / "metrics.json" if trial.get("run_dir") else None
    if metrics is None or not metrics.exists():
        return 0
    return json.loads(metrics.read_text())["epochs"]


def test_pause_holds_the_sweep_and_continue_goes_on(qtbot, win, isolated):
    win.doc.set_setting("epochs", 200)
    win.doc.set_sweep(dict(SPACE, trials=2))
    panel = win.show_sweep()
    assert not panel.pause_button.isEnabled()
    with qtbot.waitSignal(panel.runner.trialStarted, timeout=120_000):
        assert panel.start()
    assert panel.pause_button.isEnabled() and panel.pause_button.text().endswith("Pause")
    trial = panel.out_dir / "trials" / "trial-0000"
    qtbot.waitUntil(lambda: (trial / "metrics.json").exists(), timeout=120_000)
    with qtbot.waitSignal(panel.runner.pausedChanged, timeout=10_000) as blocker:
        panel.pause_button.click()
    assert blocker.args == [True] and panel.runner.paused
    assert panel.pause_button.text().endswith("Continue")
    assert panel.status.text().startswith("Paused: 0 of 2 trials done (holding trial 0)")
    qtbot.wait(400)  # the step under way ends
    held = _epochs({"run_dir": str(trial)})
    qtbot.wait(1500)
    assert _epochs({"run_dir": str(trial)}) == held < 200 and panel.runner.running
    rows = {r[0]: r[1] for r in _table(panel)}
    assert rows == {"0": "paused"}
    with qtbot.waitSignal(panel.runner.finished, timeout=300_000) as blocker:
        panel.pause_button.click()
    assert not blocker.args[0]["stopped"]
    assert [t["state"] for t in panel.trials] == ["COMPLETE"] * 2
    assert [t["epochs"] for t in panel.trials] == [200, 200]
    assert not panel.pause_button.isEnabled()
    assert panel.pause_button.text().endswith("Pause")


@pytest.mark.slow  # three processes importing torch on a shared machine
def test_parallel_trials_in_the_window(qtbot, win):
    win.doc.set_sweep(dict(SPACE, trials=4))
    panel = win.show_sweep()
    panel.jobs.setValue(2)
    win.doc.set_setting("epochs", 200)
    assert panel.start()
    # both trials show as running as soon as they start, before either finishes
    qtbot.waitUntil(lambda: len(panel._running) == 2, timeout=120_000)
    assert {r[1] for r in _table(panel)} == {"running"} and len(_table(panel)) == 2
    running = [{"run_dir": str(panel.out_dir / "trials" / f"trial-{n:04d}")} for n in (0, 1)]
    qtbot.waitUntil(lambda: all(_epochs(t) > 0 for t in running), timeout=120_000)
    with qtbot.waitSignal(panel.runner.pausedChanged, timeout=10_000):
        panel.pause()
    qtbot.wait(1500)  # each trial process sees the pause and ends the step under way
    held = [_epochs(t) for t in running]
    qtbot.wait(1500)
    assert [_epochs(t) for t in running] == held and max(held) < 200
    with qtbot.waitSignal(panel.runner.finished, timeout=300_000) as blocker:
        panel.pause(False)
    assert not blocker.args[0]["stopped"]
    assert [t["state"] for t in panel.trials] == ["COMPLETE"] * 4
    assert len(_table(panel)) == 4 and "Finished: 4 of 4 trials done" in panel.status.text()


def test_pruned_trials_are_drawn_where_they_stood_when_stopped(qtbot):
    from torchcanvas.gui.training.sweep_plots import SweepPlots

    plots = SweepPlots()
    qtbot.addWidget(plots)
    dims = [{"target": "settings.batch_size", "kind": "choice", "choices": [8, 16]}]

    def trial(number, state, objective=None, last=None):
        params = {"settings.batch_size": 8}
        return {
            "number": number,
            "params": params,
            "state": state,
            "objective": objective,
            "epochs": 4 if state == "COMPLETE" else 1,
            "last_value": last,
        }

    trials = [
        trial(0, "COMPLETE", 0.2),
        trial(1, "COMPLETE", 0.5),
        trial(2, "PRUNED", last=0.4),  # within the finished trials' range
        trial(3, "PRUNED", last=9.0),  # far worse: on the worse edge
        trial(4, "PRUNED"),  # no figure: on the worse edge
    ]
    plots.show_trials(trials, dims, "val_loss", "minimize", {})
    xs, ys = plots.pruned_points.getData()
    assert list(xs) == [2, 3, 4]
    top = 0.5 + 0.12 * 0.3
    assert list(ys) == pytest.approx([0.4, top, top])
    view = plots.objective.getPlotItem().viewRange()[1]
    # the finished trials fill the view, with room for the edge marks
    assert 0.2 - 0.036 - 0.05 < view[0] < 0.2 - 0.036 and top < view[1] < top + 0.05
    tips = [p.data() for p in plots.pruned_points.points()]
    assert tips[0].endswith("val_loss 0.4 then") and tips[1].endswith("val_loss 9 then")
    assert tips[2].endswith("no val_loss reported")
    plots.show_trials(trials, dims, "accuracy", "maximize", {})
    assert list(plots.pruned_points.getData()[1]) == pytest.approx([0.4, top, 0.164])
