"""A node's type in the window: right-click a node on the canvas → "Sweep this node's type…"
(the types its wiring allows, to check) adds a type dimension to the project's sweep as one
undo step; "Change type" swaps it in place; Apply best of a type dimension is one undo step
that undo takes back to the old type and its params."""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from torchcanvas.graph import load
from torchcanvas.gui.training.sweep_edit import (
    TYPE_SWEEP_TEXT,
    TypeDimensionDialog,
    check_dimension,
)
from torchcanvas.runtime.data import assets_dir

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

IRIS = assets_dir() / "examples" / "iris_mlp.json"  # n3 ReLU "relu", n6 Adam "optimizer1"


@pytest.fixture
def win(qtbot, isolated):
    """The real main window on the iris example."""
    from torchcanvas.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1300, 800)
    window.show()
    assert window.open_example(IRIS)
    window.doc.set_setting("epochs", 1)
    yield window
    window.doc.undo_stack.setClean()
    window.close()


def _action(menu, text: str):
    return next(a for a in menu.actions() if a.text() == text)


def test_right_click_a_node_and_sweep_its_type(qtbot, win, isolated):
    view = win.view
    item = win.scene.nodes["n3"]
    at = view.mapFromScene(item.sceneBoundingRect().center())
    # the window opens the menu with exec(), which waits for a click: the menu is made below
    view.nodeMenuRequested.disconnect(win._node_menu_requested)
    with qtbot.waitSignal(view.nodeMenuRequested) as blocker:
        QApplication.sendEvent(
            view.viewport(),
            QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, view.viewport().mapToGlobal(at)),
        )
    assert blocker.args[0] == "n3"
    assert win.scene.selected_node_ids() == ["n3"]
    menu = win.node_menu("n3")
    assert [a.text() for a in menu.actions()] == ["Change type", TYPE_SWEEP_TEXT]
    _action(menu, TYPE_SWEEP_TEXT).trigger()
    dialog = win.sweep_dialog
    assert isinstance(dialog, TypeDimensionDialog) and dialog.isVisible()
    assert dialog.windowTitle() == "Sweep relu's type"
    listed = dialog.listed()
    assert listed[0] == "nn.ReLU" and "nn.Linear" not in listed and len(listed) > 10
    # the common activations are checked, in the list's order; the rest are offered
    assert dialog.checked() == [
        "nn.ReLU",
        "nn.ELU",
        "nn.GELU",
        "nn.LeakyReLU",
        "nn.SiLU",
        "nn.Tanh",
    ]
    texts = [dialog.types.item(i).text() for i in range(dialog.types.count())]
    assert texts[:3] == ["ReLU", "CELU", "ELU"]
    dialog.grab().save(str(isolated / "type_dialog.png"))
    dialog.set_checked(["nn.ReLU", "nn.GELU", "nn.Tanh"])
    stack = win.doc.undo_stack
    depth = stack.count()
    dialog._accept()
    assert not dialog.isVisible()
    dims = win.doc.graph.sweep["dimensions"]
    assert dims == [
        {"target": "nodes.n3.type", "kind": "choice", "choices": ["nn.ReLU", "nn.GELU", "nn.Tanh"]}
    ]
    assert stack.count() == depth + 1 and stack.undoText() == "Sweep relu type"
    # saved with the project and read back by the strict loader
    path = isolated / "iris.json"
    win.doc.save(path)
    assert json.loads(path.read_text())["sweep"]["dimensions"] == dims
    assert load(path).sweep["dimensions"] == dims
    # the dock lists it readably; editing it opens the same dialog, with its choices
    panel = win.show_sweep()
    row = panel.dims.topLevelItem(0)
    assert (row.text(0), row.text(1)) == ("relu type", "type: ReLU, GELU, Tanh")
    panel.dims.setCurrentItem(row)
    again = panel.edit_dimension()
    assert isinstance(again, TypeDimensionDialog)
    assert again.checked() == ["nn.ReLU", "nn.GELU", "nn.Tanh"]
    again.reject()
    stack.undo()
    assert win.doc.graph.sweep is None


def test_the_type_dialog_refuses_what_the_sweep_would(qtbot, win):
    graph = win.doc.graph
    amsgrad = {"target": "nodes.n6.params.amsgrad", "kind": "choice", "choices": [False, True]}
    win.doc.set_sweep({"dimensions": [amsgrad]})
    dialog = win.sweep_node_type("n6")
    # an optimizer: the usual four are checked (Adam, the node's own, first)
    assert dialog.listed()[0] == "optim.Adam"
    assert dialog.checked() == ["optim.Adam", "optim.AdamW", "optim.RMSprop", "optim.SGD"]
    dialog._accept()
    assert dialog.isVisible()
    assert dialog.error.text() == (
        "the sweep's optimizer1.amsgrad does not fit every type: target: node 'n6' "
        "(optim.RMSprop) has no param 'amsgrad' (with nodes.n6.type = optim.RMSprop, one of "
        "the types swept)"
    )
    dialog.set_checked([])
    dialog._accept()
    assert dialog.error.text() == "types: check at least one type"
    dialog.set_checked(["optim.Adam", "optim.AdamW"])  # both have amsgrad
    dialog._accept()
    assert not dialog.isVisible()
    assert [d["target"] for d in graph.sweep["dimensions"]] == [
        "nodes.n6.params.amsgrad",
        "nodes.n6.type",
    ]
    # and a param dimension must fit the types the sweep already gives its node

    problem = check_dimension(
        graph, {"target": "nodes.n6.params.eps", "kind": "log", "low": 1e-9, "high": 1e-6}
    )
    assert problem == ""  # Adam and AdamW both have eps
    win.doc.set_sweep(
        {"dimensions": [{"target": "nodes.n6.type", "kind": "choice", "choices": ["optim.SGD"]}]}
    )
    assert check_dimension(graph, amsgrad) == (
        "target: node 'n6' (optim.SGD) has no param 'amsgrad' (with nodes.n6.type = "
        "optim.SGD, one of the types swept)"
    )


def test_change_type_from_the_menu_is_one_undo_step(qtbot, win):
    graph = win.doc.graph
    win.scene.select_nodes(["n3"])
    insp = win.inspector
    assert "inplace" in insp.rows
    menu = win.node_menu("n3")
    change = _action(menu, "Change type").menu()
    gelu = next(a for a in change.actions() if a.data() == "nn.GELU")
    assert gelu.text() == "GELU"
    depth = win.doc.undo_stack.count()
    gelu.trigger()
    assert graph.node("n3").type_id == "nn.GELU"
    assert win.doc.undo_stack.count() == depth + 1
    assert win.doc.undo_stack.undoText() == "Change relu to GELU"
    # the inspector shows the new type's params; the canvas node its title
    assert "approximate" in insp.rows and "inplace" not in insp.rows
    assert "GELU" in win.scene.nodes["n3"].toolTip()
    win.doc.undo_stack.undo()
    assert graph.node("n3").type_id == "nn.ReLU" and graph.node("n3").params == {"inplace": False}
    assert "inplace" in insp.rows
    # inside a block's body the type can change, but a sweep belongs to the project
    name = win.doc.graph.collapse(["n2", "n3"], "Hidden")
    assert win.enter_block("Hidden")
    inner = next(n.id for n in win.block_doc.graph.nodes() if n.type_id == "nn.ReLU")
    menu = win.node_menu(inner)
    assert not _action(menu, TYPE_SWEEP_TEXT).isEnabled()
    assert _action(menu, "Change type").isEnabled()
    assert name in graph


def test_apply_best_of_a_type_dimension_is_one_undo_step(qtbot, win, isolated):
    from torchcanvas.runtime.sweep import Sweep, parse_space

    graph = win.doc.graph
    space = {
        "dimensions": [
            {
                "target": "nodes.n6.type",
                "kind": "choice",
                "choices": ["optim.SGD", "optim.RMSprop"],
            },
            {"target": "nodes.n6.params.momentum", "kind": "choice", "choices": [0.5]},
        ],
        "objective": {"metric": "accuracy", "direction": "maximize"},
        "strategy": "grid",
        "trials": 2,
        "timeout_s": None,
        "pruner": "none",
        "seed": 0,
    }
    copy = load(IRIS)
    copy.set_setting("epochs", 1)
    out = isolated / "runs" / "sweep-20260101-000000"
    result = Sweep(copy, IRIS, parse_space(space, copy), out).run()
    assert [t.state for t in result.trials] == ["COMPLETE", "COMPLETE"]
    best = result.best.params["nodes.n6.type"]
    win.doc.set_sweep(space)
    panel = win.show_sweep()
    assert panel.out_dir == out
    column = [
        panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())
    ].index("optimizer1 type")
    shown = sorted(panel.table.item(r, column).text() for r in range(panel.table.rowCount()))
    assert shown == ["RMSprop", "SGD"]
    before = (graph.node("n6").type_id, dict(graph.node("n6").params))
    assert before[0] == "optim.Adam"
    win.scene.select_nodes(["n6"])
    stack = win.doc.undo_stack
    depth = stack.count()
    panel.apply_button.click()
    node = graph.node("n6")
    assert node.type_id == best and node.params["momentum"] == 0.5
    assert node.params["lr"] == before[1]["lr"]
    assert stack.count() == depth + 1
    assert stack.undoText() == f"Apply sweep trial {result.best.number}"
    title = "SGD" if best == "optim.SGD" else "RMSprop"
    assert f"optimizer1 type = {title}" in panel.status.text()
    assert "momentum" in win.inspector.rows and "betas" not in win.inspector.rows
    stack.undo()
    assert (graph.node("n6").type_id, graph.node("n6").params) == before
    assert graph.sweep == space
    stack.redo()
    assert graph.node("n6").type_id == best
    # the canvas redraws the node as its new type
    assert graph.node("n6").spec.title in win.scene.nodes["n6"].toolTip()
