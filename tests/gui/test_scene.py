"""The lean canvas scene: ports by geometry, tooltips on demand, level of detail, the cached
theme, and shape results applied only where something changed."""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QHelpEvent, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from torchcanvas.graph import load, save
from torchcanvas.gui import theme
from torchcanvas.gui.canvas import items as items_module
from torchcanvas.gui.canvas import scene as scene_module
from torchcanvas.gui.canvas.items import EdgeItem, NodeItem
from torchcanvas.gui.canvas.scene import CanvasScene

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _id(win, label):
    return next(n.id for n in win.doc.graph.nodes() if n.label == label)


def _vp(win, scene_pos: QPointF) -> QPoint:
    return win.view.mapFromScene(scene_pos)


def _main_colour(win) -> QColor:
    """The commonest colour of the canvas: its background."""
    image = win.view.viewport().grab().toImage()
    counts = Counter(
        image.pixel(x, y) for x in range(3, image.width(), 7) for y in range(3, image.height(), 7)
    )
    return QColor.fromRgb(counts.most_common(1)[0][0])


def _body_colour(win) -> QColor:
    """The colour inside a node's body, clear of its texts."""
    item = win.scene.nodes[_id(win, "conv1")]
    rect = item.body_rect()
    where = _vp(win, item.pos() + QPointF(rect.width() - 5, rect.height() - 4))
    return win.view.viewport().grab().toImage().pixelColor(where)


def test_ports_are_found_by_geometry_and_tooltips_are_made_on_demand(window):
    scene = window.scene
    conv1 = _id(window, "conv1")
    item = scene.nodes[conv1]
    port = scene.port_at(scene.port_pos(conv1, "x", True))
    assert port is item.inputs["x"] and port.is_input and port.name == "x"
    near = scene.port_pos(conv1, "out", False) + QPointF(3, 2)  # a few pixels off centre
    assert scene.port_at(near) is item.outputs["out"]
    middle = item.pos() + QPointF(75, 30)
    assert scene.port_at(middle) is None
    assert scene.port_at(QPointF(-4000, -4000)) is None

    assert scene.tooltip_at(scene.port_pos(conv1, "x", True)).startswith("conv1.x (tensor input")
    assert "<b>conv1</b>" in scene.tooltip_at(middle)
    assert scene.tooltip_at(QPointF(-4000, -4000)) == ""
    # a real tooltip event on the viewport shows the node's tooltip, built then
    vp = window.view.viewport()
    where = _vp(window, middle)
    QApplication.sendEvent(vp, QHelpEvent(QEvent.Type.ToolTip, where, vp.mapToGlobal(where)))
    assert "conv1" in QToolTip.text()
    QToolTip.hideText()


def test_hovering_a_port_marks_it_and_leaving_clears_it(window, qtbot):
    window.wait_for_shapes()
    qtbot.waitExposed(window)
    window.view.fit_all()
    QApplication.processEvents()  # the fit the opening queued has run: the view stays put
    window.view.fit_all()
    conv1 = _id(window, "conv1")
    item = window.scene.nodes[conv1]
    vp = window.view.viewport()

    def hover(scene_pos: QPointF, reached) -> None:
        """Move the mouse there (again, from a pixel away, until the item has seen it: a busy
        machine can deliver the first move before the view is laid out)."""
        where = _vp(window, scene_pos)

        def moved() -> bool:
            QTest.mouseMove(vp, where + QPoint(1, 0))
            QTest.mouseMove(vp, where)
            return reached()

        qtbot.waitUntil(moved, timeout=10_000)

    hover(item.pos() + QPointF(75, 30), lambda: item.hover_port is None)
    hover(window.scene.port_pos(conv1, "x", True), lambda: item.hover_port is item.inputs["x"])
    hover(item.pos() + QPointF(75, 30), lambda: item.hover_port is None)


def test_dragging_a_wire_lights_ports_that_accept_it_and_dims_the_others(window):
    scene = window.scene
    drop = window.doc.add_node("nn.Dropout", (400.0, 300.0))
    window.view.fit_all()
    relu1, conv1, conv2 = _id(window, "relu1"), _id(window, "conv1"), _id(window, "conv2")
    vp = window.view.viewport()
    QApplication.processEvents()
    idle = vp.grab().toImage()
    start = _vp(window, scene.port_pos(relu1, "out", False))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(vp, start + QPoint(30, 40))
    assert scene.wiring
    nodes = scene.nodes
    # the drawn ports follow: the refused conv1.x is dimmed, the free Dropout.x grows
    QApplication.processEvents()
    during = vp.grab().toImage()
    # the dimmed circle's fill fades; the lit circle grows into its ring (drawn larger)
    for node_id, above in ((conv1, -3.0), (drop, -7.0)):
        p = _vp(window, scene.port_pos(node_id, "x", True) + QPointF(0, above))
        assert during.pixel(p) != idle.pixel(p), node_id
    assert scene.port_state(nodes[drop].inputs["x"]) == "ok"  # free, downstream-safe
    assert scene.port_state(nodes[conv1].inputs["x"]) == "dim"  # a cycle
    assert scene.port_state(nodes[conv2].inputs["x"]) == "dim"  # already wired
    assert scene.port_state(nodes[drop].outputs["out"]) == "dim"  # output to output
    assert scene.port_state(nodes[relu1].outputs["out"]) == "normal"  # where it starts
    QTest.keyClick(vp, Qt.Key.Key_Escape)
    assert not scene.wiring
    assert scene.port_state(nodes[drop].inputs["x"]) == "normal"
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert window.doc.graph.in_edges(drop) == []


def test_a_dragged_node_snaps_to_the_grid_and_its_wires_follow(window):
    window.view.fit_all()
    scene = window.scene
    conv2 = _id(window, "conv2")
    item = scene.nodes[conv2]
    vp = window.view.viewport()
    grip = item.pos() + QPointF(75, 10)
    a, b = _vp(window, grip), _vp(window, grip + QPointF(57, 33))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 6):
        QTest.mouseMove(vp, a + (b - a) * k / 5)
        assert item.pos().x() % 10 == 0 and item.pos().y() % 10 == 0  # on the half grid
        for edge_item in scene.edges.values():  # every wire ends at its ports, mid-drag
            e = edge_item.edge
            path = edge_item.path()
            assert path.pointAtPercent(0) == scene.port_pos(e.src, e.src_port, False)
            assert path.pointAtPercent(1) == scene.port_pos(e.dst, e.dst_port, True)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert window.doc.graph.node(conv2).pos == (item.pos().x(), item.pos().y())
    assert scene.selected_node_ids() == [conv2] and item.zValue() > 1  # raised while selected
    scene.select_nodes([])
    assert item.zValue() == 1


def _render(window, zoom: float):
    view = window.view
    view.resetTransform()
    view.set_zoom(zoom)
    view.centerOn(window.scene.nodes[_id(window, "conv1")].pos())
    for item in window.scene.items():
        item.update()  # drop the items' cached pixmaps
    return view.viewport().grab().toImage()


def test_zoomed_out_nodes_are_plain_boxes_without_text(window, monkeypatch):
    detailed = {}
    for zoom in (1.0, 0.25):
        plain = _render(window, zoom)
        with monkeypatch.context() as m:  # every detail at every zoom
            m.setattr(items_module, "LOD_BOXES", 0.0)
            m.setattr(items_module, "LOD_TEXT", 0.0)
            m.setattr(scene_module, "LOD_TEXT", 0.0)
            detailed[zoom] = _render(window, zoom)
        assert (plain == detailed[zoom]) == (zoom == 1.0), zoom
    # full detail shows the wires' shape labels above the nodes
    edge_item = window.scene.edges[window.doc.graph.in_edges(_id(window, "relu1"))[0]]
    assert edge_item.label == "[B, 16, 8, 8]" and not edge_item.label_rect().isEmpty()
    assert edge_item.boundingRect().contains(edge_item.label_rect())


def test_hiding_shapes_hides_the_wire_labels(window):
    edge_item = next(iter(window.scene.edges.values()))
    assert edge_item in window.scene._labelled
    window.scene.set_show_shapes(False)
    assert edge_item.label and edge_item.label_rect().isEmpty()
    assert not window.scene._labelled
    window.scene.set_show_shapes(True)
    assert not edge_item.label_rect().isEmpty()


def test_the_theme_is_cached_and_a_palette_change_repaints_the_canvas(window, qtbot):
    app = QApplication.instance()
    first = theme.current()
    assert theme.current() is first and not first.dark
    qtbot.waitUntil(lambda: _main_colour(window) == first.background, timeout=5000)
    original = QPalette(app.palette())
    dark = QPalette(original)
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
        dark.setColor(role, QColor("#202124"))
    try:
        app.setPalette(dark)
        now = theme.current()
        assert now is not first and now.dark
        qtbot.waitUntil(lambda: _main_colour(window) == now.background, timeout=5000)
        assert _body_colour(window) == now.node_body  # the nodes too, not only the grid
    finally:
        app.setPalette(original)
    assert not theme.current().dark
    qtbot.waitUntil(lambda: _main_colour(window) == first.background, timeout=5000)
    assert _body_colour(window) == first.node_body


def test_a_colour_scheme_change_drops_the_cached_theme(qtbot, monkeypatch):
    light = theme.current()
    assert not light.dark
    try:
        monkeypatch.setattr(theme, "is_dark", lambda: True)
        assert theme.current() is light  # cached: the palette was not asked again
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert theme.current().dark
    finally:
        monkeypatch.undo()
        theme.invalidate()
    assert not theme.current().dark


def _state(scene: CanvasScene):
    return (
        {e: i.label for e, i in scene.edges.items()},
        {n: (i.problem, i.params_text) for n, i in scene.nodes.items()},
    )


def _changed(scene: CanvasScene, before) -> set:
    edges, nodes = _state(scene)
    return {scene.edges[e] for e, label in edges.items() if before[0].get(e) != label} | {
        scene.nodes[n] for n, state in nodes.items() if before[1].get(n) != state
    }


def test_new_shapes_touch_only_the_items_that_changed(window, monkeypatch):
    doc, scene = window.doc, window.scene
    calls = []
    for cls, name in (
        (EdgeItem, "set_label"),
        (NodeItem, "set_params_text"),
        (NodeItem, "set_problem"),
    ):
        original = getattr(cls, name)

        def spy(self, value, _original=original):
            if self.scene() is scene:
                calls.append(self)
            return _original(self, value)

        monkeypatch.setattr(cls, name, spy)
    classifier, conv1, conv2 = _id(window, "classifier"), _id(window, "conv1"), _id(window, "conv2")
    fresh = None
    try:
        for node_id, name, value in (
            (conv2, "out_channels", 8),  # conv2 and what follows
            (classifier, "in_features", 100),  # an error
            (conv1, "kernel_size", 5),
            (None, "undo", None),
            (None, "undo", None),
        ):
            before = _state(scene)
            calls.clear()
            if node_id is None:
                doc.undo_stack.undo()
            else:
                doc.set_param(node_id, name, value)
            assert doc.wait_for_shapes()
            changed = _changed(scene, before)
            assert changed and set(calls) == changed, (name, value)
            if name == "in_features":
                assert scene.nodes[classifier].problem[0] == "error"
            fresh = CanvasScene(doc)  # a scene built from scratch shows the same
            assert _state(fresh) == _state(scene)
            fresh.dispose()
            fresh.deleteLater()
            fresh = None
    finally:
        if fresh is not None:
            fresh.dispose()
            fresh.deleteLater()


def test_selecting_many_nodes_says_so_once(window):
    emitted = []
    window.scene.selectionChanged.connect(lambda: emitted.append(1))
    window.select_all()
    assert emitted == [1] and len(window.scene.selected_node_ids()) == len(window.doc.graph)
    window.scene.select_nodes([])
    assert emitted == [1, 1] and window.scene.selected_node_ids() == []


def test_opening_a_project_takes_it_out_of_the_collectors_view(window, tmp_path):
    from torchcanvas.assets import assets_dir

    old = window.scene
    item = next(iter(old.nodes.values()))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    graph = load(assets_dir() / "examples" / "iris_mlp.json")
    prev = next(n.id for n in graph.nodes() if n.label == "hidden")
    for k in range(60):  # enough objects that the collector would run while loading
        nid = graph.add_node("nn.Identity", pos=(0.0, 200.0 + 60 * k))
        graph.connect(prev, "out", nid, "x")
        prev = nid
    path = tmp_path / "p.json"
    save(graph, path)
    passes = []

    def record(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(record)
    try:
        assert window.open_file(path)
    finally:
        gc.callbacks.remove(record)
    # no collector pass while the project was read and drawn; at most one of the youngest
    # generation when collection resumes (what was made is frozen by then: nothing to walk)
    assert passes in ([], [0]), passes
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    # the old scene let go of its items, so they do not wait for the cycle collector
    assert not old.nodes and not old.edges and not item.inputs and not item.outputs
    assert window.wait_for_shapes() and window.scene.nodes


def test_the_canvas_grows_to_hold_nodes_placed_far_away(window):
    scene = window.scene
    conv1 = _id(window, "conv1")
    old = window.doc.graph.node(conv1).pos
    window.doc.move_nodes({conv1: (old, (40_000.0, -30_000.0))})
    assert scene.sceneRect().contains(scene.nodes[conv1].sceneBoundingRect())
    far = window.doc.add_node("nn.ReLU", (-60_000.0, 9_000.0))
    assert scene.sceneRect().contains(scene.nodes[far].sceneBoundingRect())
    window.view.center_on_nodes([far])
    assert window.view.mapToScene(window.view.viewport().rect().center()).x() < -55_000


def _looked_at(scene: CanvasScene, monkeypatch) -> tuple[list, list, list]:
    """Record the nodes and wires apply_shapes looks at, and its diffs of whole results."""
    nodes, wires, diffs = [], [], []
    apply_node, label_edge = CanvasScene._apply_node, CanvasScene._label_edge
    diff = scene_module.shape_changes

    def spy_node(self, item, result, by_node=None):
        if self is scene:
            nodes.append(item.node_id)
        return apply_node(self, item, result, by_node)

    def spy_edge(item, result):
        if item.scene() is scene:
            wires.append(item.edge)
        return label_edge(item, result)

    def spy_diff(prev, result, by_node=None):
        diffs.append(result)
        return diff(prev, result, by_node)

    monkeypatch.setattr(CanvasScene, "_apply_node", spy_node)
    monkeypatch.setattr(CanvasScene, "_label_edge", staticmethod(spy_edge))
    monkeypatch.setattr(scene_module, "shape_changes", spy_diff)
    return nodes, wires, diffs


def test_a_result_that_names_its_changes_touches_only_those_nodes_and_their_wires(
    window, monkeypatch
):
    doc, scene = window.doc, window.scene
    conv2, classifier = _id(window, "conv2"), _id(window, "classifier")
    results = []
    doc.shapesUpdated.connect(results.append)
    nodes, wires, diffs = _looked_at(scene, monkeypatch)
    footer = scene.nodes[classifier].params_text
    doc.set_param(conv2, "out_channels", 8)
    assert doc.wait_for_shapes()
    result = results[-1]
    assert result.changed is not None and conv2 in result.changed
    assert len(result.changed) < len(doc.graph.node_ids())  # the edit reached only a part
    assert not diffs  # no diff of whole results
    assert set(nodes) == result.changed
    assert set(wires) == {e for e in doc.graph.edges() if e.src in result.changed}
    # the classifier's auto in_features followed: fewer parameters on its footer
    assert scene.nodes[classifier].params_text != footer
    assert scene.nodes[classifier].params_text == f"{result.param_counts[classifier]:,} params"
    assert scene.edges[next(e for e in doc.graph.out_edges(conv2))].label.startswith("[B, 8,")
    fresh = CanvasScene(doc)  # what a scene built from scratch shows
    try:
        assert _state(fresh) == _state(scene)
    finally:
        fresh.dispose()
        fresh.deleteLater()


def test_a_result_without_changes_is_diffed_with_the_previous_one(window, monkeypatch):
    doc, scene = window.doc, window.scene
    nodes, wires, diffs = _looked_at(scene, monkeypatch)
    result = doc.shapes
    assert result is not None
    again = dataclasses.replace(result, changed=None)
    scene.apply_shapes(again)  # a full result equal to the one shown: nothing to redraw
    assert diffs == [again] and not nodes and not wires
