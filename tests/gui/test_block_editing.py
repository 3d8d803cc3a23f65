"""Blocks in the palette and edited in place: the project's blocks are listed live under
"Blocks" (added, renamed, removed), adding one adds a use; a double-click on a use (or Ctrl+B)
opens its body on the canvas under "Model ▸ name", Esc or "Model" goes back; edits in the body
are undoable and change the definition every use shares; a problem inside points at the node
inside."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from torchcanvas.gui.canvas.palette import BLOCK_PREFIX, mime_for

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _node(graph, label: str):
    return next(n for n in graph.nodes() if n.label == label)


@pytest.fixture
def blocked(window, monkeypatch):
    """The digits example with conv2 → relu2 collapsed into ConvBlock."""
    g = window.doc.graph
    window.scene.select_nodes([_node(g, "conv2").id, _node(g, "relu2").id])
    monkeypatch.setattr(window, "ask_block_name", lambda default: "ConvBlock")
    instance = window.collapse_selection()
    assert instance is not None and window.doc.wait_for_shapes()
    return window, instance


def _palette_blocks(window) -> list[str]:
    return sorted(
        t[len(BLOCK_PREFIX) :]
        for t in window.palette.visible_type_ids()
        if t.startswith(BLOCK_PREFIX)
    )


def test_blocks_are_listed_live_in_the_palette_and_added_from_it(blocked, qtbot):
    window, instance = blocked
    palette = window.palette
    assert _palette_blocks(window) == ["ConvBlock"]
    row = palette.item_for("block:ConvBlock")
    assert row.parent().text(0) == "Blocks" and row.text(0) == "ConvBlock"
    assert palette.tree.indexOfTopLevelItem(row.parent()) == 0  # first: the user's own
    # renamed: the row follows; a search finds it
    window.doc.change("Rename", lambda g: g.rename_block_def("ConvBlock", "Stage"))
    assert _palette_blocks(window) == ["Stage"]
    qtbot.keyClicks(palette.search, "stage")
    assert palette.tree.currentItem() is palette.item_for("block:Stage")  # the best match
    palette.search.clear()
    # dropped on the canvas: a second use of the same definition
    mime = mime_for("block:Stage")  # kept: the event does not own it
    event = QDropEvent(
        QPointF(300, 400),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.view.dropEvent(event)
    uses = window.doc.graph.block_users("Stage")
    assert len(uses) == 2 and len(window.doc.graph.blocks) == 1
    added = next(u for u in uses if u != instance)
    assert window.scene.nodes[added].inputs.keys() == window.scene.nodes[instance].inputs.keys()
    # Enter in the palette adds one too
    palette.search.setText("Stage")
    QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert len(window.doc.graph.block_users("Stage")) == 3
    # removed (undo back to before the collapse): the category goes
    while window.doc.graph.blocks:
        window.doc.undo_stack.undo()
    assert _palette_blocks(window) == [] and palette.item_for("block:Stage") is None
    assert all(palette.item_for(t) is not None for t in ("nn.Conv2d", "nn.ReLU"))


def test_a_block_opens_in_place_and_esc_or_model_goes_back(blocked, qtbot):
    window, instance = blocked
    root_scene = window.scene
    # a double-click on the use opens its body
    window.scene.nodeActivated.emit(instance)
    assert window.block_doc is not None and window.scene is not root_scene
    assert window.breadcrumb.isVisible()
    assert window.breadcrumb.text() == "Model ▸ ConvBlock"
    labels = sorted(window.block_doc.graph.node(n).label for n in window.scene.nodes)
    assert [x for x in labels if x in ("conv2", "relu2")] == ["conv2", "relu2"]
    assert len(labels) == 4  # and the block's input and output
    # the inspector speaks of the block, not of the training settings
    assert window.inspector._header_title.text() == "ConvBlock"
    assert not window.inspector.rows
    # Esc on the canvas goes back, the use selected again
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.block_doc is None and window.scene is root_scene
    assert not window.breadcrumb.isVisible()
    assert window.scene.selected_node_ids() == [instance]
    # Ctrl+B on the selected use opens it; "Model" goes back
    QTest.keySequence(window, "Ctrl+B")
    assert window.block_doc is not None
    QTest.mouseClick(window.breadcrumb.model_button, Qt.MouseButton.LeftButton)
    assert window.block_doc is None and window.scene is root_scene
    # Ctrl+B with no block selected says what to do
    window.scene.select_nodes([])
    assert not window.edit_selected_block()
    assert "Select a block" in window.message_label.text()


def test_edits_in_the_body_change_every_use_and_undo(blocked, qtbot):
    window, instance = blocked
    g = window.doc.graph
    window.scene.select_nodes([instance])
    second = window.duplicate()[0]  # a second use of ConvBlock
    assert g.node(second).params["block"] == "ConvBlock"
    assert window.doc.connect_ports(_node(g, "relu1").id, "out", second, "x")
    assert window.doc.wait_for_shapes()
    steps = window.doc.undo_stack.count()
    window.focus_node(instance)
    assert window.enter_block("ConvBlock")
    body = window.block_doc
    conv = _node(body.graph, "conv2").id
    # the inspector edits the body: out_channels 32 → 24
    window.scene.select_nodes([conv])
    assert window.inspector.doc is body
    assert body.set_param(conv, "out_channels", 24)
    d = g.block("ConvBlock")
    assert d.graph.node(conv).params["out_channels"] == 24  # the definition both uses share
    assert window.doc.undo_stack.count() == steps + 1
    assert "in ConvBlock" in window.doc.undo_stack.undoText()
    assert window.doc.wait_for_shapes()
    pool = _node(g, "pool").id
    assert window.doc.shapes.shapes[(pool, "out")][1] == 24  # the model after the use follows
    assert window.doc.shapes.ok, window.doc.shapes.problems
    assert "nn.Conv2d(16, 24" in window.doc.model_code.source
    # a node added in the body is there for every use; Delete inside removes it
    relu_id = window.view.add_node_here("nn.Dropout")
    assert relu_id in g.block("ConvBlock").graph
    assert window.scene.nodes[relu_id]  # drawn in the body
    window.scene.select_nodes([relu_id])
    window.delete_selection()
    assert relu_id not in g.block("ConvBlock").graph
    # undo: back to 32 in the definition and on the body canvas, still in place
    window.doc.undo_stack.undo()  # the delete
    window.doc.undo_stack.undo()  # the add
    window.doc.undo_stack.undo()  # out_channels
    assert g.block("ConvBlock").graph.node(conv).params["out_channels"] == 32
    assert window.block_doc is body and body.graph.node(conv).params["out_channels"] == 32
    assert relu_id not in window.scene.nodes and conv in window.scene.nodes
    window.doc.undo_stack.redo()
    assert g.block("ConvBlock").graph.node(conv).params["out_channels"] == 24
    # undoing the collapse itself takes the body away: the canvas goes back to the model
    while "ConvBlock" in g.blocks:
        window.doc.undo_stack.undo()
    assert window.block_doc is None and window.scene is window.root_scene


def test_a_problem_inside_a_body_points_at_the_node_inside(blocked, qtbot):
    window, instance = blocked
    g = window.doc.graph
    body = g.scratch_body("ConvBlock")
    conv = _node(body, "conv2").id
    # a kernel larger than the 8×8 picture: shape inference fails inside the block
    assert window.enter_block("ConvBlock")
    assert window.block_doc.set_param(conv, "padding", 0)
    assert window.block_doc.set_param(conv, "kernel_size", 11)
    assert window.doc.wait_for_shapes()
    error = window.doc.shapes.first_error()
    assert error.node_id == instance and error.inner == ("ConvBlock", conv)
    # on the body's canvas the node inside carries it
    item = window.scene.nodes[conv]
    assert item.problem is not None and item.problem[0] == "error"
    assert window.scene.nodes[_node(window.block_doc.graph, "relu2").id].problem is None
    # from the model, a click on the problem opens the block at that node
    window.leave_block()
    row = next(
        i
        for i in range(window.problems.tree.topLevelItemCount())
        if window.problems.item(i).data(0, Qt.ItemDataRole.UserRole) == instance
    )
    window.problems._clicked(window.problems.item(row))
    assert window.block_doc is not None and window.scene.selected_node_ids() == [conv]


def test_the_breadcrumb_sits_above_the_canvas_and_names_the_uses(blocked, qtbot):
    window, instance = blocked
    window.resize(1300, 800)
    assert window.enter_block("ConvBlock")
    qtbot.wait(20)
    bar, view = window.breadcrumb, window.view
    top_of_view = view.mapTo(window, QPoint(0, 0)).y()
    bottom_of_bar = bar.mapTo(window, QPoint(0, bar.height())).y()
    assert bar.isVisible() and bottom_of_bar <= top_of_view
    assert bar.visibleRegion().boundingRect() == bar.rect()  # whole, not cut
    assert "changes apply to its use" in bar.hint.text()
    assert "Esc" in bar.hint.text()
    window.leave_block()
    window.scene.select_nodes([instance])
    window.duplicate()
    assert window.enter_block("ConvBlock")
    assert "all 2 uses" in bar.hint.text()


def test_collapse_and_paste_inside_a_body_are_one_undo_step_each(blocked, monkeypatch):
    window, instance = blocked
    g = window.doc.graph
    before = g.snapshot()
    assert window.enter_block("ConvBlock")
    body = window.block_doc
    inner = [_node(body.graph, "conv2").id, _node(body.graph, "relu2").id]
    window.scene.select_nodes(inner)
    monkeypatch.setattr(window, "ask_block_name", lambda default: "Inner")
    nested = window.collapse_selection()
    assert nested is not None and "Inner" in g.blocks
    assert g.block("ConvBlock").graph.node(nested).params["block"] == "Inner"
    assert window.doc.wait_for_shapes() and window.doc.shapes.ok
    # a copy of the nested use, pasted in the body
    window.scene.select_nodes([nested])
    pasted = window.duplicate()
    assert pasted and pasted[0] in g.block("ConvBlock").graph
    window.doc.undo_stack.undo()
    window.doc.undo_stack.undo()
    assert g.snapshot() == before and window.block_doc is body
    assert sorted(body.graph.node(n).label for n in inner) == ["conv2", "relu2"]


def test_opening_another_project_leaves_the_block(blocked):
    from torchcanvas.assets import assets_dir

    window, _instance = blocked
    assert window.enter_block("ConvBlock")
    window.doc.undo_stack.setClean()  # no question about unsaved changes
    assert window.open_example(assets_dir() / "examples" / "mlp_regression.json")
    assert window.block_doc is None and not window.breadcrumb.isVisible()
    assert window.scene is window.root_scene and window.scene.doc is window.doc
    assert window.palette.item_for("block:ConvBlock") is None  # its blocks went with it
