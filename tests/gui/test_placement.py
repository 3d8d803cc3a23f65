"""New nodes land where the user looks: after the selection along the flow, in the middle of
the view otherwise, never on another node, and always in view."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _body(win, nid) -> QRectF:
    item = win.scene.nodes[nid]
    return item.body_rect().translated(item.pos())


def _overlaps(win) -> list[tuple[str, str]]:
    ids = list(win.scene.nodes)
    rects = {n: _body(win, n) for n in ids}
    return [
        (a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if rects[a].intersects(rects[b])
    ]


def _in_view(win, nid) -> bool:
    return win.view.visible_scene_rect().contains(_body(win, nid))


def _enter_on_palette(win, type_id: str) -> str:
    before = {n.id for n in win.doc.graph.nodes()}
    tree = win.palette.tree
    tree.setCurrentItem(win.palette.item_for(type_id))
    tree.setFocus()
    QTest.keyClick(tree, Qt.Key.Key_Return)
    (new,) = {n.id for n in win.doc.graph.nodes()} - before
    return new


def test_enter_on_the_palette_adds_after_the_selection_without_stacking(window, qtbot):
    window.view.fit_all()
    scene = window.scene
    flatten = next(n.id for n in window.doc.graph.nodes() if n.label == "flatten")
    scene.select_nodes([flatten])
    added = [_enter_on_palette(window, "nn.ReLU") for _ in range(3)]
    assert len(set(added)) == 3
    assert not _overlaps(window)
    # each one after the one before it (the new node is selected): down the flow
    previous = _body(window, flatten)
    for nid in added:
        body = _body(window, nid)
        assert body.top() >= previous.bottom(), (nid, body, previous)
        assert abs(body.center().x() - previous.center().x()) <= 170
        assert _in_view(window, nid)
        previous = body
    assert scene.selected_node_ids() == [added[-1]]


def test_double_click_on_the_palette_with_nothing_selected_adds_mid_view_side_by_side(
    window, qtbot
):
    view = window.view
    view.resetTransform()
    view.centerOn(QPointF(2000, 2000))  # empty canvas in view
    window.scene.select_nodes([])
    tree = window.palette.tree
    added = []
    for _ in range(3):
        before = {n.id for n in window.doc.graph.nodes()}
        item = window.palette.item_for("nn.Linear")
        item.parent().setExpanded(True)
        tree.scrollToItem(item)
        window.scene.select_nodes([])
        where = tree.visualItemRect(item).center()
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
        qtbot.wait(QApplication.doubleClickInterval() + 20)  # the next click starts afresh
        (new,) = {n.id for n in window.doc.graph.nodes()} - before
        added.append(new)
    assert not _overlaps(window)
    centre = view.visible_scene_rect().center()
    first = _body(window, added[0])
    assert abs(first.center().x() - centre.x()) <= 10
    assert abs(first.center().y() - centre.y()) <= 10
    for nid in added:
        assert _in_view(window, nid)


def test_quick_add_near_the_edge_keeps_the_node_in_view_and_off_the_others(window, qtbot):
    view = window.view
    view.fit_all()
    vp = view.viewport()
    corner = QPoint(vp.width() - 3, vp.height() - 3)  # the node would hang off the view
    window._quick_add_at(view.mapToScene(corner), view.mapToGlobal(corner))
    before = {n.id for n in window.doc.graph.nodes()}
    window.quick_add.chosen.emit("nn.Dropout")
    (new,) = {n.id for n in window.doc.graph.nodes()} - before
    assert _in_view(window, new)
    # on top of a node: moved to the nearest free spot
    conv1 = next(n.id for n in window.doc.graph.nodes() if n.label == "conv1")
    at = _body(window, conv1).center()
    window._quick_add_at(at, view.mapToGlobal(view.mapFromScene(at)))
    before = {n.id for n in window.doc.graph.nodes()}
    window.quick_add.chosen.emit("nn.Dropout")
    (new,) = {n.id for n in window.doc.graph.nodes()} - before
    assert not _overlaps(window)
    assert _in_view(window, new)
    assert (
        QPointF.dotProduct(_body(window, new).center() - at, _body(window, new).center() - at)
        < 400**2
    )  # nearby
    window.doc.undo_stack.undo()  # one undo step
    assert new not in {n.id for n in window.doc.graph.nodes()}


def test_predicted_height_matches_the_drawn_node(window):
    scene = window.scene
    for flow in ("TB", "LR"):
        scene.set_flow(flow)
        for item in scene.nodes.values():
            n_in, n_out = len(item.inputs), len(item.outputs)
            assert scene.node_height(n_in, n_out) == item.body_rect().height(), item.label
