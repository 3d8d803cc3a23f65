"""Training from the window: the worker thread, run control, run folders and faults."""

from __future__ import annotations

import json

import pytest
import torch

from torchcanvas.gui.training.controller import TrainingController

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


@pytest.fixture
def runs(isolated, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(isolated / "runs"))
    return isolated / "runs"


class Recorder:
    def __init__(self, controller: TrainingController):
        self.steps, self.epochs, self.states, self.ended, self.started = [], [], [], [], []
        controller.stepsArrived.connect(self.steps.extend)
        controller.epochDone.connect(self.epochs.append)
        controller.stateChanged.connect(self.states.append)
        controller.runEnded.connect(self.ended.append)
        controller.runStarted.connect(self.started.append)


def _label(doc, label):
    return next(n.id for n in doc.graph.nodes() if n.label == label)


_LIVE: list[TrainingController] = []


@pytest.fixture(autouse=True)
def stop_runs_at_teardown():
    """A failing test must not leave a training thread running (Qt aborts on that)."""
    yield
    while _LIVE:
        _LIVE.pop().stop_and_wait()


def _controller(qtbot):
    controller = TrainingController()
    _LIVE.append(controller)
    return controller, Recorder(controller)


def test_a_run_trains_in_the_background_and_keeps_its_files(qtbot, doc, runs):
    doc.set_setting("epochs", 2)
    controller, rec = _controller(qtbot)
    run_dir = controller.start(doc)
    assert controller.running and controller.start(doc) is None  # one run at a time
    qtbot.waitUntil(lambda: bool(rec.ended), timeout=60_000)
    assert rec.ended[0].status == "completed"
    assert rec.states[0] == "starting" and "running" in rec.states and rec.states[-1] == "idle"
    assert [e.epoch for e in rec.epochs] == [1, 2]
    assert [s.global_step for s in rec.steps] == list(range(1, 2 * 45 + 1))
    assert rec.started[0].task == "classification"
    assert rec.epochs[-1].metrics["accuracy"] > 0.5
    for name in (
        "project.json",
        "run.json",
        "metrics.json",
        "checkpoint.pt",
        "best.pt",
        "weights.pt",
    ):
        assert (run_dir / name).exists(), name
    assert run_dir.parent == runs
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and len(metrics["history"]) == 2
    torch.load(run_dir / "checkpoint.pt", weights_only=True)


@pytest.mark.slow
def test_pause_resume_and_stop(qtbot, doc, runs):
    doc.set_setting("epochs", 40)
    doc.set_setting("log_every", 1)
    controller, rec = _controller(qtbot)
    run_dir = controller.start(doc)
    qtbot.waitUntil(lambda: len(rec.steps) > 5, timeout=60_000)
    controller.pause()
    qtbot.waitUntil(lambda: controller.state == "paused", timeout=10_000)
    count = len(rec.steps)
    qtbot.wait(400)
    assert len(rec.steps) == count  # nothing moves while paused
    controller.resume()
    qtbot.waitUntil(lambda: len(rec.steps) > count + 5, timeout=10_000)
    controller.stop()
    qtbot.waitUntil(lambda: bool(rec.ended), timeout=30_000)
    assert rec.ended[0].status == "stopped"
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] * 45 + state["batch"] == rec.ended[0].global_step
    assert controller.state == "idle"


@pytest.mark.slow
def test_resume_from_a_runs_checkpoint_continues_the_curve(qtbot, doc, runs):
    doc.set_setting("epochs", 2)
    full, rec_full = _controller(qtbot)
    full.start(doc)
    qtbot.waitUntil(lambda: bool(rec_full.ended), timeout=60_000)

    first, rec_a = _controller(qtbot)
    doc.set_setting("log_every", 1)
    run_a = first.start(doc)
    qtbot.waitUntil(lambda: len(rec_a.steps) >= 30, timeout=60_000)
    first.stop()
    qtbot.waitUntil(lambda: bool(rec_a.ended), timeout=30_000)
    second, rec_b = _controller(qtbot)
    second.start(doc, resume=run_a / "checkpoint.pt")
    qtbot.waitUntil(lambda: bool(rec_b.ended), timeout=60_000)
    joined = [s.loss for s in rec_a.steps] + [s.loss for s in rec_b.steps]
    assert joined == [s.loss for s in rec_full.steps]


@pytest.mark.slow
def test_a_nan_loss_ends_the_run_with_a_message_on_the_loss(qtbot, isolated, runs):
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load
    from torchcanvas.gui.project import Document

    doc = Document(load(assets_dir() / "examples" / "linear_regression.json"))
    try:
        opt = next(n.id for n in doc.graph.nodes() if n.kind == "optimizer")
        doc.set_param(opt, "lr", 1e6)
        controller, rec = _controller(qtbot)
        controller.start(doc)
        qtbot.waitUntil(lambda: bool(rec.ended), timeout=60_000)
        failed = rec.ended[0]
        assert "learning rate" in failed.message
        assert failed.node_id == next(n.id for n in doc.graph.nodes() if n.kind == "loss")
        assert controller.state == "idle"
    finally:
        doc.close()


@pytest.mark.slow
def test_a_model_error_at_run_time_names_its_node_and_the_app_goes_on(qtbot, doc, runs):
    doc.set_param(_label(doc, "classifier"), "out_features", 5)  # targets go up to 9
    controller, rec = _controller(qtbot)
    controller.start(doc)
    qtbot.waitUntil(lambda: bool(rec.ended), timeout=60_000)
    assert rec.ended[0].node_id == _label(doc, "loss1")
    assert "out of bounds" in rec.ended[0].message
    doc.undo_stack.undo()  # fix it, train again in the same window
    doc.set_setting("epochs", 1)
    rec.ended.clear()
    controller.start(doc)
    qtbot.waitUntil(lambda: bool(rec.ended), timeout=60_000)
    assert rec.ended[0].status == "completed"


def test_a_graph_that_does_not_compile_fails_before_training(qtbot, doc, runs):
    fc = _label(doc, "classifier")
    doc.set_param(fc, "in_features", 100)
    controller, rec = _controller(qtbot)
    run_dir = controller.start(doc)
    qtbot.waitUntil(lambda: bool(rec.ended), timeout=60_000)
    assert rec.ended[0].node_id == fc and not rec.started
    assert not run_dir.exists()  # nothing left behind in the runs list
    assert not list(runs.iterdir())


@pytest.mark.slow
def test_edits_during_a_run_apply_to_the_next_run(qtbot, doc, runs):
    doc.set_setting("epochs", 3)
    controller, rec = _controller(qtbot)
    run_dir = controller.start(doc)
    doc.set_param(_label(doc, "conv1"), "out_channels", 4)  # while it runs
    qtbot.waitUntil(lambda: bool(rec.ended), timeout=60_000)
    assert rec.started[0].params == 9930  # the snapshot it started with
    snapshot = json.loads((run_dir / "project.json").read_text())
    conv = snapshot["nodes"][_label(doc, "conv1")]
    assert conv["params"]["out_channels"] == 16


# ---------------------------------------------------------------------------- in the window
def test_training_in_the_window_feeds_curves_results_and_progress(qtbot, window, runs):
    window.doc.set_setting("epochs", 3)
    assert window.start_training()
    _LIVE.append(window.training)
    assert window.training_dock.isVisible()
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    window.plots.refresh()
    assert window.plots.point_count == 3 * 45
    assert window.results.mode() == "empty"  # hidden tab: not drawn every epoch
    window.training_tabs.setCurrentWidget(window.results)  # drawn when looked at
    assert window.results.mode() == "classification"
    assert window.results.image_tiles() == 16
    assert window.run_panel.progress.value() == 3 * 45
    assert "completed" in window.run_panel.progress.text()
    assert window.train_action.isEnabled() and not window.stop_action.isEnabled()


def test_the_window_stays_responsive_while_training(qtbot, window, runs):
    window.doc.set_setting("epochs", 30)
    window.start_training()
    _LIVE.append(window.training)
    qtbot.waitUntil(lambda: window.training.state == "running", timeout=60_000)
    # edit, pan and inspect while it trains
    fc = _label(window.doc, "classifier")
    window.scene.select_nodes([fc])
    window.view.translate_view(30, 10)
    assert window.doc.set_param(_label(window.doc, "conv1"), "out_channels", 8)
    assert "next run" in window.run_panel.notice.text()
    window.training.stop()
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=30_000)


def test_a_fault_selects_its_node(qtbot, window, runs):
    window.doc.set_param(_label(window.doc, "classifier"), "out_features", 5)
    window.start_training()
    _LIVE.append(window.training)
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    loss = _label(window.doc, "loss1")
    assert window.scene.selected_node_ids() == [loss]
    assert "out of bounds" in window.run_panel.message.text()
    # the runs list shows it as failed, with the reason, not as "unknown · 0 epochs"
    from torchcanvas.gui.training.run_folders import load_runs

    (listed,) = load_runs(window.doc.runs_root())
    assert listed.status == "failed" and "out of bounds" in listed.error
    item = window.runs.tree.topLevelItem(0)
    assert item.text(2) == "failed" and "out of bounds" in item.toolTip(2)


@pytest.mark.slow
def test_closing_during_a_run_asks_then_stops_and_keeps_the_checkpoint(
    qtbot, window, runs, monkeypatch
):
    window.doc.set_setting("epochs", 50)
    window.start_training()
    _LIVE.append(window.training)
    qtbot.waitUntil(lambda: window.training.state == "running", timeout=60_000)
    run_dir = window.training.run_dir
    monkeypatch.setattr(window, "ask_stop_training", lambda: False)
    assert not window.close() and window.training.running
    monkeypatch.setattr(window, "ask_stop_training", lambda: True)
    window.doc.undo_stack.setClean()
    assert window.close()
    assert not window.training.running
    assert (run_dir / "checkpoint.pt").exists()
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "stopped"


@pytest.mark.slow
def test_runs_are_listed_and_resume_from_the_list_continues(qtbot, window, runs):
    window.doc.set_setting("epochs", 1)
    window.start_training()
    _LIVE.append(window.training)
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    from torchcanvas.gui.training.run_folders import load_runs
    from torchcanvas.runtime.runs import runs_root

    listed = load_runs(runs_root(window.doc.path, create=False))
    assert len(listed) == 1 and listed[0].status == "completed"
    assert window.runs.findChild(type(window.runs.tree), "runsTree").topLevelItemCount() == 1
    window.doc.set_setting("epochs", 2)  # one more epoch, from the first run's checkpoint
    window.runs.resumeRequested.emit(listed[0].checkpoint)
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    qtbot.waitUntil(
        lambda: len(load_runs(runs_root(window.doc.path, create=False))) == 2, timeout=5_000
    )
    newest = load_runs(runs_root(window.doc.path, create=False))[0]
    assert newest.status == "completed" and newest.epochs == 2
    assert [h["epoch"] for h in newest.history] == [1, 2]


def test_the_spare_worker_starts_after_the_first_shapes(qtbot, isolated, monkeypatch):
    # the spare imports torch; on a small machine it would slow the shape process's first answer
    from torchcanvas.assets import assets_dir
    from torchcanvas.gui import main_window
    from torchcanvas.gui.training.controller import TrainingController

    asked: list[bool] = []
    win = None
    monkeypatch.setattr(
        TrainingController, "prepare", staticmethod(lambda: asked.append(win.doc.shapes_ready))
    )
    monkeypatch.setattr(main_window, "SPARE_FALLBACK_MS", 600_000)
    win = main_window.MainWindow()
    qtbot.addWidget(win)
    assert win.open_example(assets_dir() / "examples" / "digits_cnn.json")
    win.doc.request_shapes()
    assert not win.doc.shapes_ready
    win.show()
    qtbot.wait(100)
    assert asked == [] or asked == [True]
    assert win.wait_for_shapes()
    qtbot.waitUntil(lambda: bool(asked), timeout=400)  # soon after the shapes, not on a clock
    qtbot.wait(100)
    assert asked == [True]  # once, with the shapes there
    win.doc.undo_stack.setClean()
    win.close()


def test_validation_and_metric_points_sit_at_the_step_each_epoch_ended(qtbot, window, runs):
    """Fast epochs (mlp_regression: 13 steps each, many per progress tick) still put every
    epoch's validation loss and metrics at epoch × steps_per_epoch, not where the progress bar
    happened to be when the event arrived."""
    from torchcanvas.assets import assets_dir

    assert window.open_example(assets_dir() / "examples" / "mlp_regression.json")
    assert window.wait_for_shapes()
    epochs = 30
    window.doc.set_setting("epochs", epochs)
    started = []
    window.training.runStarted.connect(started.append)
    assert window.start_training()
    _LIVE.append(window.training)
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=120_000)
    per_epoch = started[0].steps_per_epoch
    assert per_epoch == 13
    window.plots.refresh()
    expected = [float(e * per_epoch) for e in range(1, epochs + 1)]
    x, _ = window.plots.val_curve.getData()
    assert list(x) == expected
    assert set(window.plots.metric_curves) == {"mae", "r2"}
    for item in window.plots.metric_curves.values():
        x, _ = item.getData()
        assert list(x) == expected


@pytest.mark.slow
def test_each_unsaved_project_keeps_its_own_runs_list(qtbot, window, isolated, monkeypatch):
    """An example's runs never show in another example's list (nor in a new project's)."""
    from torchcanvas.assets import assets_dir
    from torchcanvas.gui.training.run_folders import load_runs

    monkeypatch.delenv("TORCHCANVAS_RUNS_DIR")  # the per-user folders, as a user has them
    monkeypatch.setenv("XDG_DATA_HOME", str(isolated / "share"))
    examples = assets_dir() / "examples"
    tree = window.runs.tree

    assert window.open_example(examples / "mlp_regression.json")
    window.doc.set_setting("epochs", 1)
    assert window.start_training()
    _LIVE.append(window.training)
    qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    mlp_root = window.doc.runs_root()
    assert mlp_root == isolated / "share" / "torchcanvas" / "runs" / "example-mlp_regression"
    assert len(load_runs(mlp_root)) == 1 and tree.topLevelItemCount() == 1

    assert window.open_example(examples / "digits_cnn.json")
    assert window.doc.runs_root() != mlp_root
    assert tree.topLevelItemCount() == 0
    window.new_file()
    assert tree.topLevelItemCount() == 0
    assert window.open_example(examples / "mlp_regression.json")  # its own runs come back
    assert tree.topLevelItemCount() == 1
