"""The learning-rate finder dialog, the batch preview (panel and canvas badges) and the
explanations view, on real projects, real threads and real torch work."""

from __future__ import annotations

import math

import numpy as np
import pytest

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load, save

EXAMPLES = assets_dir() / "examples"
TIMEOUT = 240_000  # ms: torch work on a busy two-core machine

pytestmark = pytest.mark.slow


@pytest.fixture
def iris_doc(qtbot, isolated):
    from torchcanvas.gui.project import Document

    graph = load(EXAMPLES / "iris_mlp.json")
    graph.set_setting("device", "cpu")
    document = Document(graph)
    yield document
    document.close()


def test_lr_finder_draws_the_curve_and_applies_one_undoable_edit(qtbot, iris_doc, tmp_path):
    from torchcanvas.gui.insight.lr_finder import LRFinderDialog

    dialog = LRFinderDialog(iris_doc)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.start()
    assert not dialog.start()  # one test at a time
    qtbot.waitUntil(lambda: dialog.result is not None and not dialog.running, timeout=TIMEOUT)
    result = dialog.result
    xs, ys = dialog.curve.getData()
    assert len(xs) == len(result.lrs)
    assert np.allclose(ys, result.losses)
    assert dialog.suggestion_line.isVisible()
    assert dialog.suggestion_line.value() == pytest.approx(math.log10(result.suggestion))
    assert dialog.current_line.value() == pytest.approx(math.log10(0.01))
    assert f"{result.suggestion:g}" in dialog.apply_button.text()
    assert dialog.apply_button.isEnabled()
    dialog.grab().save(str(tmp_path / "lr_finder.png"))

    stack = iris_doc.undo_stack
    before = stack.count()
    assert dialog.apply()
    assert stack.count() == before + 1
    assert iris_doc.graph.node("n6").params["lr"] == result.suggestion
    assert "suggested lr" in stack.undoText()
    assert not dialog.apply_button.isEnabled()
    stack.undo()
    assert iris_doc.graph.node("n6").params["lr"] == 0.01
    stack.redo()
    assert iris_doc.graph.node("n6").params["lr"] == result.suggestion
    dialog.close()


def test_lr_finder_can_be_stopped(qtbot, iris_doc):
    from torchcanvas.gui.insight.lr_finder import LRFinderDialog

    dialog = LRFinderDialog(iris_doc)
    qtbot.addWidget(dialog)
    dialog.steps.setValue(1000)
    dialog.start()
    qtbot.waitUntil(lambda: len(dialog._lrs) >= 3, timeout=TIMEOUT)
    dialog.toggle()  # Stop
    qtbot.waitUntil(lambda: not dialog.running and dialog.result is not None, timeout=TIMEOUT)
    assert dialog.result is not None and len(dialog.result.lrs) < 1000
    assert dialog.run_button.text() == "Run"


def test_batch_preview_shows_stats_on_the_panel_and_the_canvas(qtbot, window, tmp_path):
    from torchcanvas.gui.insight.batch_preview import StatsBadge

    doc = window.doc
    panel = window.preview_batch()
    assert panel is not None and panel.running
    # editing goes on while the batch runs: the edit lands at once
    conv1 = next(n.id for n in doc.graph.nodes() if n.label == "conv1")
    from torchcanvas.gui.commands import SetParam

    assert doc.push(SetParam(doc.graph, conv1, "out_channels", 12))
    assert doc.graph.node(conv1).params["out_channels"] == 12
    qtbot.waitUntil(lambda: panel.result is not None and not panel.running, timeout=TIMEOUT)
    result = panel.result
    # the batch went through the graph as it was asked: 16 channels
    assert result.nodes[conv1].shape[1] == 16
    assert panel.table.rowCount() == len(result.nodes) == 8
    labels = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert labels == [s.label for s in result.nodes.values()]
    assert panel.table.item(1, 2).text() == f"{result.nodes[conv1].mean:.4g}"

    assert panel.select_node(conv1)
    heights = panel.bars.opts["height"]
    assert int(sum(heights)) == int(np.prod(result.nodes[conv1].shape))
    assert panel.maps_row.count() == 8 + 1  # eight feature maps and a stretch
    images = [panel.data_row.itemAt(i).widget() for i in range(panel.data_row.count())]
    assert len([w for w in images if w is not None]) == 8  # the data node's samples

    badges = [
        child
        for item in window.scene.nodes.values()
        for child in item.childItems()
        if isinstance(child, StatsBadge)
    ]
    assert sorted(b.node_id for b in badges) == sorted(result.nodes)
    assert not any(b.flags for b in badges)
    window.grab().save(str(tmp_path / "batch_preview.png"))
    doc.undo_stack.undo()


def test_batch_preview_flags_a_dead_relu(qtbot, window):
    from torchcanvas.gui.insight.batch_preview import FLAG_COLOR, StatsBadge, mark_nodes
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.preview import preview_batch

    graph = window.doc.graph
    relu1 = next(n.id for n in graph.nodes() if n.label == "relu1")
    project = compile_project(graph)
    import torch

    torch.manual_seed(0)
    state = project.model.new().state_dict()
    state["conv1.weight"].zero_()
    state["conv1.bias"].fill_(-1.0)  # conv1 never positive: relu1 is dead
    result = preview_batch(project, state_dict=state)
    panel = window.preview_panel()
    panel._succeeded(result, None)
    row = list(result.nodes).index(relu1)
    assert "dead" in panel.table.item(row, 7).text()
    assert panel.table.item(row, 0).foreground().color().name() == FLAG_COLOR
    badges = mark_nodes(window.scene, result)
    dead = [b for b in badges if b.node_id == relu1]
    assert dead and "dead" in dead[0].text() and dead[0].flags == ["dead"]
    assert isinstance(dead[0], StatsBadge) and dead[0].parentItem() is window.scene.nodes[relu1]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from torchcanvas.runtime.cli import main as cli_main

    folder = tmp_path_factory.mktemp("digits")
    graph = load(EXAMPLES / "digits_cnn.json")
    graph.set_setting("device", "cpu")
    graph.set_setting("batch_size", 128)
    save(graph, folder / "digits.json")
    run = folder / "run"
    assert cli_main(["train", str(folder / "digits.json"), "--epochs", "2", "--out", str(run)]) == 0
    return run


def test_explain_view_shows_overlays_and_gradcam_on_a_chosen_layer(qtbot, digits_run, tmp_path):
    from torchcanvas.gui.insight.explain_view import ExplainView

    view = ExplainView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    graph = load(digits_run / "project.json")
    view.set_run(digits_run, graph)
    assert view.layer.count() == 1 + 7  # "last convolution" and the model's seven layers
    view.samples.setValue(4)
    assert view.start()
    qtbot.waitUntil(lambda: view.result is not None and not view.running, timeout=TIMEOUT)
    assert view.result.method == "ig" and len(view.panels) == 4
    assert view.grid.count() == 4
    assert view.panels[0].shape == (96, 3 * 96 + 8, 3)

    pool = next(n.id for n in graph.nodes() if n.label == "pool")
    view.method.setCurrentIndex(2)  # Grad-CAM
    assert view.layer.isEnabled()
    assert view.pick_layer(pool)
    assert not view.pick_layer("n9")  # the loss is no layer
    view.result = None
    assert view.start()
    qtbot.waitUntil(lambda: view.result is not None and not view.running, timeout=TIMEOUT)
    assert view.result.layer == pool and view.result.layer_maps.shape == (4, 4, 4)
    assert "on pool" in view.status.text()
    view.grab().save(str(tmp_path / "explain.png"))


def test_explain_view_says_what_is_wrong(qtbot, tmp_path):
    from torchcanvas.gui.insight.explain_view import ExplainView

    view = ExplainView()
    qtbot.addWidget(view)
    assert not view.button.isEnabled()
    view.set_run(tmp_path, None)
    assert view.start()
    qtbot.waitUntil(lambda: not view.running, timeout=TIMEOUT)
    assert "no project.json" in view.status.text()
