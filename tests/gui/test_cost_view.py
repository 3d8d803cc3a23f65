"""Cost in the window: the overlay colouring nodes by their share of MACs, its legend, the
inspector's and status bar's figures, and all of them following an edit."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

# digits_cnn.json: n1 digits, n2 conv1 (9,216 MACs), n3 relu1, n4 conv2 (294,912 MACs), n5 relu2,
# n6 pool, n7 flatten, n8 classifier (5,120 MACs); 309,248 in all


def body_pixel(window, node_id: str) -> QColor:
    """The colour the window shows at the lower right of a node's body (clear of its text)."""
    window.view.centerOn(window.scene.nodes[node_id])
    item = window.scene.nodes[node_id]
    body = item.body_rect()
    point = window.view.mapFromScene(item.mapToScene(QPointF(body.right() - 8, body.bottom() - 4)))
    return window.view.viewport().grab().toImage().pixelColor(point)


def redness(c: QColor) -> int:
    return c.red() - c.blue()


def test_overlay_colours_nodes_by_their_share_of_macs(qtbot, window):
    window.view.set_zoom(1.0)
    scene = window.scene
    plain = {n: body_pixel(window, n) for n in ("n4", "n5", "n8")}
    assert plain["n4"] == plain["n5"]  # one body colour for every node without the overlay
    assert plain["n4"] != window.view.viewport().grab().toImage().pixelColor(2, 2)  # not canvas

    window.cost_action.trigger()  # View > Show Cost
    assert scene.cost_overlay and window.cost_legend.isVisible()
    assert window.cost_legend.total == "309 K in all"
    shares = {n: scene.nodes[n].cost_share for n in ("n2", "n4", "n5", "n8")}
    assert shares["n4"] == pytest.approx(294_912 / 309_248)
    assert shares["n2"] == pytest.approx(9_216 / 309_248) and not shares["n5"]
    assert scene.nodes["n4"].cost_text == "295 K MACs · 95.4 %"
    assert scene.nodes["n5"].cost_text == "no MACs"
    hot = {n: body_pixel(window, n) for n in ("n4", "n5", "n8")}
    assert hot["n5"] == plain["n5"]  # no MACs: its own colour
    assert redness(hot["n4"]) > redness(hot["n8"]) > redness(plain["n8"])  # more MACs, redder
    # the footers say it
    foot = [t for *_, t in scene.nodes["n4"].drawn_texts() if "MACs" in t]
    assert foot == ["295 K MACs · 95.4 %"]

    window.cost_action.trigger()  # off again: colours and footers as before
    assert not scene.cost_overlay and not window.cost_legend.isVisible()
    assert body_pixel(window, "n4") == plain["n4"]
    assert not [t for *_, t in scene.nodes["n4"].drawn_texts() if "MACs" in t]


def test_overlay_follows_an_edit_and_a_new_document(qtbot, window):
    window.set_cost_overlay(True)
    scene = window.scene
    before = scene.nodes["n4"].cost_share
    window.doc.set_param("n4", "out_channels", 64)  # conv2 doubles; the classifier follows
    qtbot.waitUntil(lambda: scene.nodes["n4"].cost_share != before, timeout=20_000)
    total = 9_216 + 2 * 294_912 + 2 * 5_120
    assert scene.nodes["n4"].cost_share == pytest.approx(2 * 294_912 / total)
    assert scene.nodes["n2"].cost_share == pytest.approx(9_216 / total)  # every share moves
    assert window.cost_legend.total == f"{total / 1000:.3g} K in all"
    window.doc.undo_stack.undo()
    qtbot.waitUntil(lambda: scene.nodes["n4"].cost_share == pytest.approx(before), timeout=20_000)

    from torchcanvas.assets import assets_dir

    assert window.open_example(assets_dir() / "examples" / "iris_mlp.json")
    assert window.wait_for_shapes()
    assert window.scene.cost_overlay  # the overlay stays on for the next document
    qtbot.waitUntil(lambda: any(i.cost_share for i in window.scene.nodes.values()), timeout=20_000)


def test_status_bar_inspector_and_tooltip_give_the_cost(qtbot, window):
    status = window.status_label.text()
    assert "309 K MACs/sample" in status and "training ≈ 1.02 MB" in status
    assert "(batch 32)" in status

    window.scene.select_nodes(["n2"])
    info = window.inspector._header_info.text()
    assert "9.22 K MACs (3.0 %)" in info
    assert "output 4.1 KB" in info and "params 640 bytes" in info
    window.scene.select_nodes(["n7"])
    assert "output: a view, no new memory" in window.inspector._header_info.text()
    window.scene.select_nodes(["n2", "n4"])  # a selection: its MACs and their share
    assert "304 K MACs (98.3 %)" in window.inspector._header_info.text()
    window.scene.select_nodes([])  # the training settings: the model's totals
    info = window.inspector._header_info.text()
    assert "309 K MACs/sample" in info and "training ≈ 1.02 MB" in info

    tip = window.scene.nodes["n4"].toolTip()
    assert "295 K MACs (95.4 %)" in tip and "output 8.19 KB" in tip
