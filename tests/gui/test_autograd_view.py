"""The Autograd dock: capture from the canvas, selection linked both ways, collapsing, search,
export, gradient health, and snapshots from a training run."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import Qt

from torchcanvas.gui.autograd.view import AutogradPanel, FnItem

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _id(window, label: str) -> str:
    return next(n.id for n in window.doc.graph.nodes() if n.label == label)


def _captured(window) -> AutogradPanel:
    window.autograd.dock.show()
    assert window.autograd.capture()
    panel = window.autograd.panel
    assert panel.graph is not None
    return panel


def _items(panel: AutogradPanel) -> list[FnItem]:
    return list(panel.scene.items_by_key.values())


def test_dock_in_view_menu_and_capture_of_the_canvas(window):
    assert window.autograd.dock.toggleViewAction() in window.menuBar().actions()[2].menu().actions()
    assert not window.autograd.dock.isVisible()
    panel = _captured(window)
    graph = panel.graph
    names = {n.name for n in graph.nodes}
    assert {"ConvolutionBackward0", "AddmmBackward0", "NllLossBackward0", "AccumulateGrad"} <= names
    canvas_ids = {n.id for n in window.doc.graph.nodes()}
    assert all(n.owner in canvas_ids for n in graph.nodes)  # every function is attributed
    assert set(graph.leaves()) == {
        "conv1.weight",
        "conv1.bias",
        "conv2.weight",
        "conv2.bias",
        "classifier.weight",
        "classifier.bias",
    }
    assert len(_items(panel)) == len(graph.nodes)
    assert "one batch of digits" in panel.info.text()
    # every parameter is in the health list, with its gradient norm
    rows = {
        panel.health.topLevelItem(i).text(0): panel.health.topLevelItem(i)
        for i in range(panel.health.topLevelItemCount())
    }
    assert set(rows) == set(graph.leaves())
    for p in graph.grads.params:
        assert float(rows[p.name].text(2)) == pytest.approx(p.grad_norm, rel=1e-2)
    # the chart has a point per layer with parameters
    assert set(panel.curves) == {_id(window, x) for x in ("conv1", "conv2", "classifier")}


def test_selection_links_both_ways(window, qtbot):
    panel = _captured(window)
    conv2 = _id(window, "conv2")
    # autograd view → canvas
    item = next(i for i in _items(panel) if i.owner == conv2 and i.title == "ConvolutionBackward0")
    item.setSelected(True)
    assert window.scene.selected_node_ids() == [conv2]
    # the canvas selection comes back as linked items: those of conv2, no others
    assert {i.owner for i in _items(panel) if i.linked} == {conv2}
    assert sum(i.linked for i in _items(panel)) == 3  # the convolution and its two parameters
    # canvas → autograd view
    classifier = _id(window, "classifier")
    panel.scene.clearSelection()
    window.scene.select_nodes([classifier])
    linked = {i.title for i in _items(panel) if i.linked}
    assert linked == {"AddmmBackward0", "TBackward0", "classifier.weight", "classifier.bias"}
    assert window.scene.selected_node_ids() == [classifier]  # nothing echoed back
    assert panel.scene._linked_edges.path().elementCount() > 0
    window.scene.clearSelection()
    assert not any(i.linked for i in _items(panel))
    # a row of the health list selects the parameter's item, and so its canvas node
    row = next(
        panel.health.topLevelItem(i)
        for i in range(panel.health.topLevelItemCount())
        if panel.health.topLevelItem(i).text(0) == "conv1.bias"
    )
    panel._health_clicked(row)
    assert window.scene.selected_node_ids() == [_id(window, "conv1")]


def test_collapse_clusters_and_search(window, qtbot):
    panel = _captured(window)
    graph = panel.graph
    conv1 = _id(window, "conv1")
    panel.toggle_collapsed(conv1)
    boxes = [i for i in _items(panel) if i.kind == "cluster"]
    assert [b.owner for b in boxes] == [conv1]
    assert len(boxes[0].indices) == len(graph.cluster(conv1)) == 3
    assert len(_items(panel)) == len(graph.nodes) - 2
    assert "3 functions" in panel.scene.tooltip(boxes[0])
    panel.toggle_collapsed(conv1)
    assert len(_items(panel)) == len(graph.nodes)
    # double-clicking a function closes its canvas node into one box
    item = next(i for i in _items(panel) if i.owner == conv1 and i.kind == "function")
    view = panel.view
    view.centerOn(item)
    where = view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert [b.owner for b in _items(panel) if b.kind == "cluster"] == [conv1]
    panel.toggle_collapsed(conv1)
    panel.collapse_all.setChecked(True)
    assert len(_items(panel)) == len(graph.owners())  # one box per canvas node
    # selection still links while collapsed
    window.scene.select_nodes([conv1])
    assert [i.owner for i in _items(panel) if i.linked] == [conv1]
    panel.collapse_all.setChecked(False)
    hits = panel.search("convolution")
    assert {h.title for h in hits} == {"ConvolutionBackward0"} and len(hits) == 2
    assert all(h.match for h in hits)
    assert {h.title for h in panel.search("classifier.w")} == {"classifier.weight"}
    assert panel.search("") == [] and not any(i.match for i in _items(panel))


def test_layout_is_top_down_from_the_loss(window):
    panel = _captured(window)
    graph = panel.graph
    item_of = panel.scene.item_of
    root = item_of[graph.roots[0]]
    assert root.pos().y() == min(i.pos().y() for i in _items(panel))
    for a, b in graph.edges:
        assert item_of[a].pos().y() <= item_of[b].pos().y()


def test_export_png_and_svg(window, tmp_path):
    panel = _captured(window)
    png = panel.export(tmp_path / "graph.png")
    svg = panel.export(tmp_path / "graph.svg")
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert image.width() > 100 and image.height() > 100
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "ConvolutionBackward0" in text


def test_tooltips_show_saved_tensors_and_gradients(window):
    panel = _captured(window)
    addmm = next(i for i in _items(panel) if i.title == "AddmmBackward0")
    tip = panel.scene.tooltip(addmm)
    assert "mat1: float32 [32, 512]" in tip and "from classifier" in tip
    leaf = next(i for i in _items(panel) if i.title == "classifier.weight")
    tip = panel.scene.tooltip(leaf)
    assert "float32 [10, 512]" in tip and "‖grad‖" in tip


def test_unhealthy_gradients_are_coloured_and_listed_first(window):
    from torchcanvas.runtime.autograd import GradStats, ParamGrad

    panel = _captured(window)
    stats = panel.graph.grads
    conv1 = _id(window, "conv1")
    params = [
        ParamGrad(
            p.name,
            p.owner,
            p.shape,
            1e6 if p.name == "conv1.weight" else (0.0 if p.name == "conv2.bias" else p.grad_norm),
            p.weight_norm,
            "exploding"
            if p.name == "conv1.weight"
            else ("vanishing" if p.name == "conv2.bias" else p.flag),
        )
        for p in stats.params
    ]
    panel.show_grads(GradStats(5, tuple(params)))
    first = [panel.health.topLevelItem(i).text(0) for i in range(2)]
    assert first == ["conv1.weight", "conv2.bias"]
    assert panel.health.topLevelItem(0).text(4) == "exploding"
    by_title = {i.title: i for i in _items(panel)}
    assert by_title["conv1.weight"].health == "exploding"
    assert by_title["conv2.bias"].health == "vanishing"
    assert by_title["classifier.bias"].health == "ok"
    steps, values = panel.history[conv1]
    assert steps == [0, 5] and values[-1] == pytest.approx(
        math.sqrt(1e12 + stats.by_name()["conv1.bias"].grad_norm ** 2)
    )


def test_capture_of_a_broken_graph_names_the_problem(window):
    window.autograd.dock.show()
    head = _id(window, "classifier")
    edge = next(e for e in window.doc.graph.edges() if e.dst == head)
    window.doc.disconnect_edge(edge)
    assert not window.autograd.capture()
    panel = window.autograd.panel
    assert panel.graph is None and not _items(panel)
    assert panel.info.text().startswith("Cannot capture")


def test_training_sends_gradient_norms_and_the_graph_on_request(window, qtbot):
    window.doc.set_setting("epochs", 30)  # a worker trains an epoch in well under a second
    window.autograd.dock.show()
    dock = window.autograd
    snapshots = []
    window.training.autogradArrived.connect(snapshots.append)
    assert window.start_training()
    qtbot.waitUntil(
        lambda: (
            window.training.control is not None
            and window.training.control.grads_every == dock.GRADS_EVERY
            and window.training.state == "running"
        ),
        timeout=30_000,
    )
    # paused, so that even a very fast run is still going when the request arrives
    window.training.pause()
    qtbot.waitUntil(lambda: window.training.state == "paused", timeout=30_000)
    assert dock.capture()  # during the run: asks the trainer for its next step's graph
    window.training.resume()
    qtbot.waitUntil(lambda: any(s.graph is not None for s in snapshots), timeout=60_000)
    qtbot.waitUntil(lambda: sum(s.graph is None for s in snapshots) >= 2, timeout=60_000)
    window.training.stop()
    qtbot.waitUntil(lambda: not window.training.running, timeout=60_000)
    with_graph = next(s for s in snapshots if s.graph is not None)
    assert with_graph.graph.step == with_graph.global_step > 0
    assert {n.name for n in with_graph.graph.nodes} >= {"ConvolutionBackward0"}
    norms = [s for s in snapshots if s.graph is None]
    assert norms and all(s.global_step % dock.GRADS_EVERY == 0 for s in norms)
    qtbot.waitUntil(lambda: dock._pending is None, timeout=5_000)
    panel = dock.panel
    assert panel.graph is with_graph.graph
    conv1 = _id(window, "conv1")
    assert len(panel.history[conv1][0]) >= 2
    assert panel.health.topLevelItemCount() == 6
    # "refresh every N steps" goes to the run's control; hiding the dock turns it all off
    panel.every.setValue(7)
    assert window.training.control.graph_every == 7
    window.autograd.dock.hide()
    assert window.training.control.graph_every == 0 == window.training.control.grads_every


def test_hidden_dock_costs_the_run_nothing(window, qtbot):
    window.doc.set_setting("epochs", 1)
    snapshots = []
    window.training.autogradArrived.connect(snapshots.append)
    assert window.start_training()
    qtbot.waitUntil(lambda: not window.training.running, timeout=60_000)
    assert snapshots == []
    assert window.training.control.grads_every == 0


def test_refresh_tooltip_states_how_often_gradient_norms_are_read(window):
    dock = window.autograd
    tip = dock.panel.every.toolTip()
    assert f"Gradient norms are read every {dock.GRADS_EVERY} steps." in tip, tip


def test_screenshot_of_linked_selection(window, qtbot, tmp_path):
    """The window with the dock open and a linked selection draws (a smoke test of painting)."""
    panel = _captured(window)
    window.resizeDocks([window.autograd.dock], [420], Qt.Orientation.Vertical)
    window.scene.select_nodes([_id(window, "conv2")])
    image = window.grab()
    assert not image.isNull()
    assert panel.view.viewport().grab().width() > 0


def test_opening_another_project_drops_the_graph(window):
    from torchcanvas.assets import assets_dir

    panel = _captured(window)
    assert window.open_example(assets_dir() / "examples" / "iris_mlp.json")
    assert panel.graph is None and not _items(panel) and not panel.curves  # at once
    window.scene.select_nodes([next(iter(window.scene.nodes))])
    assert window.autograd.capture()
    assert "hidden.weight" in panel.graph.leaves()


def test_selecting_a_function_of_a_graph_sent_by_training_after_opening_a_project(window, qtbot):
    """A graph that arrives from a run (no Capture) in a project opened after the window was
    made: clicking one of its functions selects the canvas node (and must not delete the item
    being selected)."""
    from torchcanvas.assets import assets_dir

    assert window.open_example(assets_dir() / "examples" / "digits_cnn.json")
    window.wait_for_shapes()
    window.doc.set_setting("epochs", 1)
    window.autograd.dock.show()
    window.autograd.panel.every.setValue(5)
    assert window.start_training()
    panel = window.autograd.panel
    qtbot.waitUntil(lambda: panel.graph is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not window.training.running, timeout=60_000)
    conv2 = _id(window, "conv2")
    item = next(i for i in _items(panel) if i.title == "ConvolutionBackward0" and i.owner == conv2)
    item.setSelected(True)
    assert window.scene.selected_node_ids() == [conv2]
    assert panel.graph is not None and item in panel.scene.items()
