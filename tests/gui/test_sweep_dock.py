"""Sweeps in the window: "Sweep this…" on a param or setting adds a dimension to the project's
sweep as one undo step (saved with the project); the Sweep dock runs a real sweep (Optuna, the
real trainer, a worker process) on the iris example, shows its trials, applies the best one as
one undo step, and stops and resumes."""

from __future__ import annotations

import json

import pytest
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
