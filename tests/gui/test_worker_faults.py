"""Training in a worker process: what a run does cannot take the window down."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from torchcanvas.gui.training.controller import TrainingController

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

# code nodes that end their process in each way a learner's code can, in the first forward
FAULTS = {
    "abort": (["import os"], "os.abort() or x", "SIGABRT"),
    "segfault": (["import ctypes"], "ctypes.string_at(0) and x", "SIGSEGV"),
    "exit": (["import os"], "os._exit(3) or x", "exited with code 3"),
    "raises": ([], "int('not a number') or x", "ValueError"),
}


def _label(doc, label):
    return next(n.id for n in doc.graph.nodes() if n.label == label)


def _insert_code(doc, imports: list[str], expr: str) -> str:
    """A code.Function between flatten and the classifier, as undoable edits."""
    from torchcanvas.runtime.shapes import infer_shapes

    flatten, classifier = _label(doc, "flatten"), _label(doc, "classifier")
    width = infer_shapes(doc.graph).shapes[(flatten, "out")][1]
    edge = next(e for e in doc.graph.edges() if e.src == flatten and e.dst == classifier)
    assert doc.disconnect_edge(edge)
    node = doc.add_node(
        "code.Function",
        (0, 0),
        {"imports": imports, "expr": expr, "shape": [width]},
        label="user_code",
    )
    assert node is not None
    assert doc.connect_ports(flatten, "out", node, "x")
    assert doc.connect_ports(node, "out", classifier, "x")
    return node


def _undo_all(doc) -> None:
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()


def _train_to_completion(qtbot, window) -> None:
    """The same window trains the digits example again, to the end."""
    _undo_all(window.doc)
    assert not any(n.type_id == "code.Function" for n in window.doc.graph.nodes())
    window.doc.set_setting("epochs", 1)
    ended = []
    window.training.runEnded.connect(ended.append)
    assert window.start_training()
    qtbot.waitUntil(lambda: bool(ended), timeout=120_000)
    window.training.runEnded.disconnect(ended.append)
    assert ended[0].status == "completed", getattr(ended[0], "message", "")
    assert ended[0].global_step == 45
    assert "completed" in window.run_panel.progress.text()


@pytest.fixture
def stop_at_teardown(window):
    yield window
    window.training.stop_and_wait()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_code_node_that_kills_its_run_leaves_the_window_working(qtbot, stop_at_teardown, fault):
    window = stop_at_teardown
    imports, expr, said = FAULTS[fault]
    node = _insert_code(window.doc, imports, expr)
    ended = []
    window.training.runEnded.connect(ended.append)
    assert window.start_training()
    run_dir = window.training.run_dir
    qtbot.waitUntil(lambda: bool(ended), timeout=120_000)
    window.training.runEnded.disconnect(ended.append)
    failed = ended[0]
    assert type(failed).__name__ == "RunFailed"
    assert said in failed.message
    if fault != "exit":  # os._exit leaves no stack behind; the others name their node
        assert failed.node_id == node, failed.message
        assert "user_code" in failed.message
        assert window.scene.selected_node_ids() == [node]
    assert said in window.run_panel.message.text()
    assert "failed" in window.run_panel.progress.text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed"
    if fault in ("abort", "segfault"):
        assert "most recent call first" in (run_dir / "fault.log").read_text()
    assert window.training.state == "idle" and window.train_action.isEnabled()
    _train_to_completion(qtbot, window)


def test_a_step_that_hangs_is_ended_after_the_grace_period_shown(qtbot, stop_at_teardown):
    window = stop_at_teardown
    window.training.grace_s = 1.5
    node = _insert_code(window.doc, ["import time"], "time.sleep(100_000) or x")
    ended, shown = [], []
    window.training.runEnded.connect(ended.append)
    window.training.countdown.connect(lambda s: shown.append(window.run_panel.message.text()))
    assert window.start_training()
    qtbot.waitUntil(lambda: window.training.state == "running", timeout=120_000)
    qtbot.wait(300)  # inside the first step's forward, which never returns
    window.training.stop()
    assert window.training.state == "stopping"
    assert "ended in 2 s" in window.run_panel.message.text()
    qtbot.waitUntil(lambda: bool(ended), timeout=30_000)
    window.training.runEnded.disconnect(ended.append)
    assert any("ended in 1 s" in text for text in shown)
    failed = ended[0]
    assert "did not finish within 1.5 s of Stop" in failed.message
    assert failed.node_id == node, failed.message  # its stacks were written before the end
    assert "time.sleep" not in failed.message and "user_code" in failed.message
    _train_to_completion(qtbot, window)


def test_stop_ends_a_run_that_hangs_before_its_first_step(qtbot, stop_at_teardown):
    # a code module whose constructor never returns: the run never reaches RunStarted
    window = stop_at_teardown
    window.training.grace_s = 1.5
    doc = window.doc
    from torchcanvas.runtime.shapes import infer_shapes

    flatten, classifier = _label(doc, "flatten"), _label(doc, "classifier")
    width = infer_shapes(doc.graph).shapes[(flatten, "out")][1]
    edge = next(e for e in doc.graph.edges() if e.src == flatten and e.dst == classifier)
    assert doc.disconnect_edge(edge)
    node = doc.add_node(
        "code.Module",
        (0, 0),
        {
            "imports": ["import time"],
            "init": "time.sleep(100_000) or nn.Identity()",
            "shape": [width],
        },
        label="slow_init",
    )
    assert node is not None
    assert doc.connect_ports(flatten, "out", node, "x")
    assert doc.connect_ports(node, "out", classifier, "x")
    ended, started = [], []
    window.training.runEnded.connect(ended.append)
    window.training.runStarted.connect(started.append)
    assert window.start_training()
    run_dir = window.training.run_dir
    qtbot.wait(1500)  # the worker builds the model meanwhile, and hangs there
    assert window.training.state == "starting" and not started
    window.training.stop()
    assert window.training.state == "stopping"
    assert "ended in 2 s" in window.run_panel.message.text()  # counted from Stop
    qtbot.waitUntil(lambda: bool(ended), timeout=15_000)
    window.training.runEnded.disconnect(ended.append)
    window.training.runStarted.disconnect(started.append)
    failed = ended[0]
    assert type(failed).__name__ == "RunFailed"
    assert "still starting" in failed.message and "1.5 s after Stop" in failed.message
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"
    assert window.training.state == "idle" and window.train_action.isEnabled()
    _train_to_completion(qtbot, window)


# ---------------------------------------------------------------------------- headless
@pytest.fixture
def runs(isolated, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(isolated / "runs"))
    return isolated / "runs"


def _run(qtbot, doc, pause_after: int | None = None) -> list[float]:
    controller = TrainingController()
    steps, ended = [], []
    controller.stepsArrived.connect(steps.extend)
    controller.runEnded.connect(ended.append)
    try:
        controller.start(doc)
        if pause_after is not None:
            qtbot.waitUntil(lambda: len(steps) >= pause_after, timeout=120_000)
            controller.pause()
            qtbot.waitUntil(lambda: controller.state == "paused", timeout=10_000)
            count = len(steps)
            qtbot.wait(300)
            assert len(steps) == count
            controller.resume()
        qtbot.waitUntil(lambda: bool(ended), timeout=120_000)
    finally:
        controller.stop_and_wait()
    assert ended[0].status == "completed"
    return [s.loss for s in steps]


def test_pause_and_resume_give_the_same_losses_as_a_run_without_them(qtbot, doc, runs):
    doc.set_setting("epochs", 2)
    doc.set_setting("log_every", 1)
    straight = _run(qtbot, doc)
    paused = _run(qtbot, doc, pause_after=20)
    assert len(straight) == 90
    assert paused == straight  # bit for bit


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_process_loads_neither_qt_nor_the_callers_main_script(qtbot):
    from torchcanvas.runtime.worker import WorkerProcess

    worker = WorkerProcess()
    try:
        assert worker.wait_message(120)
        assert worker.recv()[0] == "ready"
        maps = Path(f"/proc/{worker.pid}/maps").read_text()
        assert "libpyside6" not in maps and "QtCore" not in maps
        assert "libtorch" in maps
    finally:
        assert worker.close(5.0) == 0  # a spare let go exits cleanly
