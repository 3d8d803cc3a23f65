"""The canvas driven like a user drives it: real widgets, real mouse and keyboard events."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from torchcanvas.graph import dumps, load
from torchcanvas.graph.layout import NODE_WIDTH
from torchcanvas.gui.canvas.palette import mime_for

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _node(win, label):
    return next(n for n in win.doc.graph.nodes() if n.label == label)


def _viewport_pos(win, scene_pos: QPointF) -> QPoint:
    return win.view.mapFromScene(scene_pos)


def _drag(win, a: QPointF, b: QPointF) -> None:
    """Press at scene point a, move to b in steps, release: a real drag on the viewport."""
    vp = win.view.viewport()
    pa, pb = _viewport_pos(win, a), _viewport_pos(win, b)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pa)
    for k in range(1, 6):
        p = pa + (pb - pa) * k / 5
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pb)


def _port(win, node_id, name, is_input):
    return win.scene.port_pos(node_id, name, is_input)


def test_opens_with_the_example_wired_valid_and_shaped(window):
    g = window.doc.graph
    assert len(window.scene.nodes) == len(g) == 11
    assert len(window.scene.edges) == len(g.edges())
    labels = {window.scene.edges[e].label for e in g.edges() if g.node(e.src).label == "conv1"}
    assert labels == {"[B, 16, 8, 8]"}
    assert window.doc.shapes.ok
    assert "valid" in window.status_label.text() and "9,930" in window.status_label.text()
    assert window.scene.nodes[_node(window, "classifier").id].params_text == "5,130 params"


def test_drop_a_palette_item_creates_the_node_where_dropped(window, qtbot):
    vp = window.view.viewport()
    where = QPoint(300, 500)
    mime: QMimeData = mime_for("nn.Dropout")
    event = QDropEvent(
        QPointF(where),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.view.dropEvent(event)
    added = [n for n in window.doc.graph.nodes() if n.type_id == "nn.Dropout"]
    assert len(added) == 1
    item = window.scene.nodes[added[0].id]
    drop_scene = window.view.mapToScene(where)
    assert abs(item.pos().x() + NODE_WIDTH / 2 - drop_scene.x()) <= 10  # centred where dropped
    assert window.scene.selected_node_ids() == [added[0].id]
    window.doc.undo_stack.undo()
    assert not any(n.type_id == "nn.Dropout" for n in window.doc.graph.nodes())
    del vp


def test_connect_two_ports_by_dragging(window, qtbot):
    drop = window.doc.add_node("nn.Dropout", (0.0, 400.0))
    relu = _node(window, "relu1").id
    window.view.centerOn(window.scene.nodes[drop].pos())
    window.view.fit_all()
    _drag(window, _port(window, relu, "out", False), _port(window, drop, "x", True))
    edges = window.doc.graph.in_edges(drop)
    assert [(e.src, e.src_port) for e in edges] == [(relu, "out")]
    qtbot.waitUntil(lambda: window.doc.shapes_ready)
    item = window.scene.edges[edges[0]]
    assert item.label == "[B, 16, 8, 8]"


def test_a_cycle_is_refused_with_the_reason(window):
    window.view.fit_all()
    conv1, relu2 = _node(window, "conv1").id, _node(window, "relu2").id
    before = dumps(window.doc.graph)
    # relu2 is downstream of conv1: wiring relu2.out → conv1.x would make a cycle (and conv1.x
    # is taken): dragging from the free end must not change the graph
    _drag(window, _port(window, relu2, "out", False), _port(window, conv1, "x", True))
    assert dumps(window.doc.graph) == before
    assert "cycle" in window.message_label.text() or "already" in window.message_label.text()


def test_picking_up_a_wire_and_dropping_it_on_empty_canvas_removes_it(window):
    window.view.fit_all()
    pool = _node(window, "pool").id
    edge = window.doc.graph.input_edge(pool, "x")
    port = _port(window, pool, "x", True)
    _drag(window, port, port + QPointF(-260, 0))  # left of every node
    assert window.doc.graph.input_edge(pool, "x") is None
    window.doc.undo_stack.undo()
    assert window.doc.graph.input_edge(pool, "x") == edge


def test_moving_a_node_is_one_undo_step(window):
    window.view.fit_all()
    conv = window.scene.nodes[_node(window, "conv2").id]
    start = conv.pos()
    grip = conv.scenePos() + QPointF(NODE_WIDTH / 2, 10)  # the header
    count = window.doc.undo_stack.count()
    _drag(window, grip, grip + QPointF(120, 80))
    assert window.doc.undo_stack.count() == count + 1
    moved = window.doc.graph.node(conv.node_id).pos
    assert moved != (start.x(), start.y())
    window.doc.undo_stack.undo()
    assert window.doc.graph.node(conv.node_id).pos == (start.x(), start.y())
    assert conv.pos() == start


def test_copy_paste_keeps_internal_wires(window):
    ids = [_node(window, "conv1").id, _node(window, "relu1").id]
    window.scene.select_nodes(ids)
    assert window.copy()
    n_before, e_before = len(window.doc.graph), len(window.doc.graph.edges())
    new = window.paste()
    assert len(new) == 2 and len(window.doc.graph) == n_before + 2
    assert len(window.doc.graph.edges()) == e_before + 1  # conv→relu came along
    assert sorted(window.doc.graph.node(n).label for n in new) == ["conv3", "relu3"]
    window.doc.undo_stack.undo()  # one step
    assert len(window.doc.graph) == n_before


def test_duplicate_and_delete_are_single_undo_steps(window):
    window.scene.select_nodes([_node(window, "pool").id])
    text = dumps(window.doc.graph)
    window.duplicate()
    window.delete_selection()
    window.doc.undo_stack.undo()
    window.doc.undo_stack.undo()
    assert dumps(window.doc.graph) == text


def test_delete_removes_nodes_with_their_wires_and_undo_restores(window):
    text = dumps(window.doc.graph)
    window.scene.select_nodes([_node(window, "flatten").id])
    window.delete_selection()
    assert "flatten" not in {n.label for n in window.doc.graph.nodes()}
    window.doc.undo_stack.undo()
    assert dumps(window.doc.graph) == text
    assert len(window.scene.edges) == len(window.doc.graph.edges())


def test_shape_error_turns_the_node_red_and_lists_it(window, qtbot):
    fc = _node(window, "classifier").id
    window.doc.set_param(fc, "in_features", 100)
    qtbot.waitUntil(lambda: window.doc.shapes_ready, timeout=20_000)
    item = window.scene.nodes[fc]
    assert item.problem and item.problem[0] == "error"
    assert "expects 100 input features but gets 512" in item.toolTip()
    assert "problem" in window.status_label.text()
    assert window.problems.summary().startswith("1 error")
    window.problems.nodeClicked.emit(fc)
    assert window.scene.selected_node_ids() == [fc]


def test_auto_layout_is_one_undo_step(window):
    before = {n.id: n.pos for n in window.doc.graph.nodes()}
    window.auto_layout("LR")  # the example is laid out top → down
    after = {n.id: n.pos for n in window.doc.graph.nodes()}
    assert after != before
    model = {n.id for n in window.doc.graph.nodes() if n.kind in ("data", "layer", "op")}
    for e in window.doc.graph.edges():
        if e.dst in model:
            assert after[e.src][0] < after[e.dst][0]
    window.doc.undo_stack.undo()
    assert {n.id: n.pos for n in window.doc.graph.nodes()} == before


def test_switching_flow_moves_ports_and_lays_out_in_one_step(window):
    conv = window.scene.nodes[_node(window, "conv1").id]
    assert window.scene.flow == "TB"
    assert conv.inputs["x"].local.y() == 0  # top edge
    before = dumps(window.doc.graph)
    window.set_flow("LR")
    assert window.doc.graph.settings["flow"] == "LR"
    assert conv.inputs["x"].local.x() == 0  # left edge
    assert window.flow_actions["LR"].isChecked()
    window.doc.undo_stack.undo()
    assert dumps(window.doc.graph) == before
    assert window.scene.flow == "TB" and conv.inputs["x"].local.y() == 0


def test_collapse_into_a_block_and_expand_again(window, monkeypatch):
    before = dumps(window.doc.graph)
    ids = [_node(window, "conv1").id, _node(window, "relu1").id]
    window.scene.select_nodes(ids)
    monkeypatch.setattr(window, "ask_block_name", lambda default: "ConvBlock")
    instance = window.collapse_selection()
    g = window.doc.graph
    assert instance in g and g.node(instance).params["block"] == "ConvBlock"
    assert not any(n in g for n in ids)
    assert instance in window.scene.nodes and window.scene.selected_node_ids() == [instance]
    window.doc.wait_for_shapes()
    assert window.doc.shapes.ok
    assert "class ConvBlock(nn.Module)" in window.code_view.text()
    assert window.scene.nodes[instance].params_text == "160 params"
    # reuse: a copy of the instance shares the definition, so model.py has two attributes
    window.scene.select_nodes([instance])
    pasted = window.duplicate()
    assert g.node(pasted[0]).params["block"] == "ConvBlock" and len(g.blocks) == 1
    window.doc.undo_stack.undo()
    # expand puts the layers back; undo steps return to the original exactly
    window.scene.select_nodes([instance])
    new = window.expand_selection()
    assert sorted(g.node(n).label for n in new) == ["conv1", "relu1"]
    assert "ConvBlock" not in g.blocks
    window.doc.undo_stack.undo()
    window.doc.undo_stack.undo()
    assert dumps(window.doc.graph) == before


def test_collapse_refuses_a_selection_that_would_make_a_cycle(window, monkeypatch):
    ids = [_node(window, "conv1").id, _node(window, "conv2").id]  # relu1 between, not selected
    window.scene.select_nodes(ids)
    monkeypatch.setattr(window, "ask_block_name", lambda default: "Bad")
    before = dumps(window.doc.graph)
    assert window.collapse_selection() is None
    assert dumps(window.doc.graph) == before
    assert window.message_label.text()


def test_save_and_reopen(window, tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    monkeypatch.setattr(
        "PySide6.QtWidgets.QFileDialog.getSaveFileName", lambda *a, **k: (str(path), "")
    )
    window.doc.set_param(_node(window, "conv1").id, "out_channels", 8)
    assert window.doc.modified and window.windowTitle().startswith("digits_cnn (example)")
    assert window.save()
    assert not window.doc.modified and window.windowTitle().startswith("mine.json")
    assert load(path).node(_node(window, "conv1").id).params["out_channels"] == 8
    assert window.open_file(path)
    assert _node(window, "conv1").params["out_channels"] == 8
    assert window.doc.path == path


def test_close_with_changes_asks_and_cancel_keeps_the_window(window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window.doc.set_param(_node(window, "conv1").id, "out_channels", 4)
    monkeypatch.setattr(window, "ask_save_changes", lambda: QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert window.isVisible()
    monkeypatch.setattr(window, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    assert window.close()


def test_autosave_and_recovery_after_a_crash(qtbot, isolated, tmp_path, monkeypatch):
    from torchcanvas.gui.files import recovery_file
    from torchcanvas.gui.main_window import MainWindow

    path = tmp_path / "proj.json"
    from torchcanvas.assets import assets_dir

    path.write_text((assets_dir() / "examples" / "iris_mlp.json").read_text())
    first = MainWindow()
    qtbot.addWidget(first)
    assert first.open_file(path)
    hidden = _node(first, "hidden").id
    first.doc.set_param(hidden, "out_features", 33)
    assert first.autosave()
    assert recovery_file(path).exists()
    # the "crash": the window goes away without saving or cleaning up
    first.doc.close()
    first._autosave_timer.stop()
    first.hide()

    second = MainWindow()
    qtbot.addWidget(second)
    asked = []
    monkeypatch.setattr(second, "ask_restore", lambda saved_at: asked.append(saved_at) or True)
    assert second.open_file(path)
    assert asked
    assert second.doc.graph.node(hidden).params["out_features"] == 33
    assert second.doc.modified  # restored work is unsaved until the user saves
    second.doc.undo_stack.undo()  # and restoring is undoable
    assert second.doc.graph.node(hidden).params["out_features"] == 16
    second.doc.undo_stack.setClean()
    second.close()
    assert not recovery_file(path).exists()


def test_quick_add_creates_a_node_at_the_cursor(window, qtbot):
    where = QPointF(100, 700)
    window._quick_add_at(where, window.view.mapToGlobal(QPoint(10, 10)))
    window.quick_add.chosen.emit("nn.BatchNorm2d")
    bn = [n for n in window.doc.graph.nodes() if n.type_id == "nn.BatchNorm2d"]
    assert len(bn) == 1


def test_wire_dropped_on_empty_canvas_offers_compatible_nodes_and_connects(window):
    loss = _node(window, "loss1").id
    window._wire_dropped(loss, "loss", False, QPointF(2000, 600))
    offered = window.quick_add.type_ids()
    assert offered and all(t.startswith("optim.") for t in offered)
    window.quick_add.chosen.emit("optim.SGD")
    sgd = next(n for n in window.doc.graph.nodes() if n.type_id == "optim.SGD")
    assert [(e.src, e.src_port) for e in window.doc.graph.in_edges(sgd.id)] == [(loss, "loss")]
    window.doc.undo_stack.undo()  # node and wire are one step
    assert sgd.id not in window.doc.graph


OPS = st.lists(
    st.sampled_from(
        ["add", "param", "label", "move", "delete", "connect", "disconnect", "undo", "redo"]
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS, data=st.data())
def test_random_edits_undo_and_redo_exactly(window, ops, data):
    """After every do and every undo, the graph equals the state it had at that point."""
    doc = window.doc
    stack = doc.undo_stack
    while stack.canUndo():  # start from the example each time
        stack.undo()
    stack.clear()
    history = [dumps(doc.graph)]
    for op in ops:
        g = doc.graph
        ids = g.node_ids()
        if op == "undo":
            if stack.index() > 0:
                stack.undo()
                assert dumps(g) == history[stack.index()]
            continue
        if op == "redo":
            if stack.canRedo():
                stack.redo()
                assert dumps(g) == history[stack.index()]
            continue
        before = stack.index()
        if op == "add":
            t = data.draw(st.sampled_from(["nn.ReLU", "nn.Linear", "nn.Dropout", "op.add"]))
            doc.add_node(t, (data.draw(st.integers(-500, 500)) * 1.0, 300.0))
        elif op == "param":
            layers = [n for n in g.nodes() if n.type_id in ("nn.Linear", "nn.Conv2d")]
            if layers:
                n = data.draw(st.sampled_from(layers))
                name = "out_features" if n.type_id == "nn.Linear" else "out_channels"
                doc.set_param(n.id, name, data.draw(st.integers(1, 64)))
        elif op == "label" and ids:
            doc.set_label(
                data.draw(st.sampled_from(ids)),
                data.draw(st.text("abcxyz_ ", min_size=1, max_size=8).filter(str.strip)),
            )
        elif op == "move" and ids:
            nid = data.draw(st.sampled_from(ids))
            old = g.node(nid).pos
            doc.move_nodes({nid: (old, (old[0] + 10, old[1] + 20))})
        elif op == "delete" and ids:
            doc.remove([data.draw(st.sampled_from(ids))])
        elif op == "connect" and len(ids) > 1:
            a, b = data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(ids))
            outs, ins = g.output_ports(a), g.input_ports(b)
            if outs and ins:
                doc.connect_ports(a, outs[0].name, b, data.draw(st.sampled_from(ins)).name)
        elif op == "disconnect" and g.edges():
            doc.disconnect_edge(data.draw(st.sampled_from(g.edges())))
        if stack.index() != before:
            del history[before + 1 :]
            history.append(dumps(g))
        assert dumps(g) == history[stack.index()]
        assert set(window.scene.nodes) == set(g.node_ids())
        assert set(window.scene.edges) == set(g.edges())
    while stack.index() > 0:
        stack.undo()
        assert dumps(doc.graph) == history[stack.index()]
    assert json.loads(history[0]) == json.loads(dumps(doc.graph))
