"""A node's texts fit its drawing: title and subtitle inside the header band, port names inside
the body and clear of the port circles, the header band inside the border; in both flows, for
every example, with the usual fonts and with larger ones (a screen with a higher font DPI)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainterPath
from PySide6.QtTest import QTest

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load
from torchcanvas.gui import theme
from torchcanvas.gui.canvas import items as items_module
from torchcanvas.gui.canvas.items import PORT_HOVER_R
from torchcanvas.gui.canvas.scene import CanvasScene
from torchcanvas.gui.project import Document

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

EXAMPLES = sorted(p.stem for p in (assets_dir() / "examples").glob("*.json"))


def _text_box(font, rect: QRectF, align, text: str) -> QRectF:
    """Where ``text`` lands when drawn in ``rect``: its advance and the font's line height,
    placed as Qt places single-line text (vertically centred, left or right aligned)."""
    fm = QFontMetricsF(font)
    w, h = fm.horizontalAdvance(text), fm.height()
    x = rect.right() - w if align & Qt.AlignmentFlag.AlignRight else rect.left()
    return QRectF(x, rect.center().y() - h / 2, w, h)


def _inside(inner: QRectF, outer: QRectF, slack: float = 0.01) -> bool:
    return (
        inner.left() >= outer.left() - slack
        and inner.right() <= outer.right() + slack
        and inner.top() >= outer.top() - slack
        and inner.bottom() <= outer.bottom() + slack
    )


def _circle_hits(box: QRectF, centre: QPointF, r: float) -> bool:
    nx = min(max(centre.x(), box.left()), box.right())
    ny = min(max(centre.y(), box.top()), box.bottom())
    return (nx - centre.x()) ** 2 + (ny - centre.y()) ** 2 < r * r


def _check_node(item) -> list[str]:
    bad = []
    body = item.body_rect()
    inner = body.adjusted(1, 1, -1, -1)  # inside the border line
    header = item.header_rect()
    texts = item.drawn_texts()
    boxes = [(_text_box(f, r, a, t), t) for f, r, a, t in texts if t]
    title, sub = boxes[0][0], boxes[1][0]
    for box, text in boxes[:2]:
        if not _inside(box, header):
            bad.append(f"{item.label}: {text!r} {box} leaves the header {header}")
    if title.intersects(sub):
        bad.append(f"{item.label}: title and subtitle overlap")
    circles = [p.local for p in item._ports]
    for box, text in boxes:
        if not _inside(box, inner):
            bad.append(f"{item.label}: {text!r} {box} leaves the body {inner}")
        for centre in circles:
            if _circle_hits(box, centre, PORT_HOVER_R):
                bad.append(f"{item.label}: {text!r} {box} is under the port at {centre}")
    # the header band: not a speck outside the body's rounded outline, inside the border
    outline = QPainterPath()
    outline.addRoundedRect(body.adjusted(0.5, 0.5, -0.5, -0.5), 6.5, 6.5)
    band = item.header_path()
    if not outline.contains(band):
        bad.append(f"{item.label}: the header band {band.boundingRect()} sticks out")
    return bad


@pytest.fixture(params=[1.0, 1.6], ids=["fonts", "large-fonts"])
def text_scale(request, monkeypatch):
    look = items_module._Look(theme.current(), text_scale=request.param)
    monkeypatch.setattr(items_module, "_look_cache", look)
    return request.param


@pytest.mark.parametrize("flow", ["TB", "LR"])
def test_node_texts_fit_inside_the_node_and_clear_the_ports(qtbot, isolated, text_scale, flow):
    bad = []
    for name in EXAMPLES:
        doc = Document(load(assets_dir() / "examples" / f"{name}.json"))
        scene = CanvasScene(doc)
        try:
            scene.set_flow(flow)
            for item in scene.nodes.values():
                bad.extend(f"{name} {flow}: {msg}" for msg in _check_node(item))
        finally:
            scene.dispose()
            doc.close()
    assert not bad, "\n".join(bad[:20])


def test_headers_grow_with_the_fonts(qtbot, isolated, monkeypatch):
    """With larger fonts the header, footer and port-name strip grow with them."""
    doc = Document(load(assets_dir() / "examples" / "mlp_regression.json"))
    try:
        heights = {}
        for scale in (1.0, 1.6):
            look = items_module._Look(theme.current(), text_scale=scale)
            monkeypatch.setattr(items_module, "_look_cache", look)
            scene = CanvasScene(doc)
            item = next(i for i in scene.nodes.values() if len(i.outputs) == 2)  # the data
            heights[scale] = (item.header_rect().height(), item.body_rect().height())
            scene.dispose()
        assert heights[1.6][0] > heights[1.0][0]
        assert heights[1.6][1] > heights[1.0][1]
    finally:
        doc.close()


def test_a_press_on_the_body_beside_a_port_takes_the_node_not_a_wire(window, qtbot):
    """Top → down an input sits on the node's top edge: a press on the body a few pixels
    below it selects and moves the node; only a press on the circle starts a wire."""
    view, scene = window.view, window.scene
    assert scene.flow == "TB"
    conv2 = next(n.id for n in window.doc.graph.nodes() if n.label == "conv2")
    item = scene.nodes[conv2]
    view.resetTransform()
    view.scale(2, 2)
    view.centerOn(item)
    vp = view.viewport()
    edges = sorted(map(str, window.doc.graph.edges()))
    start = QPointF(item.pos())

    below_port = view.mapFromScene(item.pos() + QPointF(75, 9))  # body, 9 px below the port
    assert scene.port_at(view.mapToScene(below_port)) is None
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, below_port)
    assert not scene.wiring
    for k in range(1, 6):
        QTest.mouseMove(vp, below_port + QPoint(12 * k, 16 * k))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, below_port + QPoint(60, 80)
    )
    assert item.isSelected()
    assert item.pos() != start  # moved, as one undoable edit
    assert window.doc.graph.node(conv2).pos == (item.pos().x(), item.pos().y())
    assert sorted(map(str, window.doc.graph.edges())) == edges
    window.doc.undo_stack.undo()
    assert item.pos() == start

    on_circle = view.mapFromScene(item.pos() + QPointF(75, 3))  # on the input's circle
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, on_circle)
    assert scene.wiring
    QTest.keyClick(vp, Qt.Key.Key_Escape)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, on_circle)
    assert not scene.wiring
    above = view.mapFromScene(item.pos() + QPointF(75, -9))  # outside: the usual reach
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, above)
    assert scene.wiring
    QTest.keyClick(vp, Qt.Key.Key_Escape)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, above)


@pytest.mark.parametrize("flow", ["TB", "LR"])
def test_port_names_are_whole_inside_the_node_and_apart(qtbot, isolated, text_scale, flow):
    """Every port name is drawn whole (the node widens on the grid when they would not fit at
    150), inside the body, and no two names overlap; the VGG node of style_transfer, with its
    five outputs along the bottom edge top → down, is the widest case."""
    bad = []
    widths = {}
    for name in EXAMPLES:
        doc = Document(load(assets_dir() / "examples" / f"{name}.json"))
        scene = CanvasScene(doc)
        try:
            scene.set_flow(flow)
            for item in scene.nodes.values():
                body = item.body_rect().adjusted(1, 1, -1, -1)
                ports = item.drawn_texts()[-len(item._port_labels) :] if item._port_labels else []
                names = {p.name for p in item._ports}
                boxes = []
                for font, rect, align, text in ports:
                    box = _text_box(font, rect, align, text)
                    if text not in names:
                        bad.append(f"{name} {flow} {item.label}: port name cut to {text!r}")
                    if not _inside(box, body):
                        bad.append(f"{name} {flow} {item.label}: {text!r} leaves the body")
                    boxes.append((box, text))
                for i, (a, ta) in enumerate(boxes):
                    for b, tb in boxes[i + 1 :]:
                        if a.intersects(b):
                            bad.append(f"{name} {flow} {item.label}: {ta!r} overlaps {tb!r}")
                w = item.body_rect().width()
                assert w >= 150 and w % 10 == 0, (item.label, w)
                widths[item.graph.node(item.node_id).type_id] = w
        finally:
            scene.dispose()
            doc.close()
    assert not bad, "\n".join(bad[:20])
    if flow == "TB":
        assert widths["nn.VGG16Features"] > 150  # widened for its names
    assert widths["nn.Linear"] == 150  # a node whose names fit keeps the usual width


def test_no_two_nodes_of_a_bundled_example_overlap(qtbot, isolated):
    """Each example opens in its own flow with every node clear of the others (style_transfer's
    VGG nodes are wider than 150 and were laid out again for it)."""
    bad = []
    for name in EXAMPLES:
        doc = Document(load(assets_dir() / "examples" / f"{name}.json"))
        scene = CanvasScene(doc)
        try:
            rects = [
                (item.label, item.body_rect().translated(item.pos()))
                for item in scene.nodes.values()
            ]
            for i, (la, a) in enumerate(rects):
                for lb, b in rects[i + 1 :]:
                    if a.intersects(b):
                        bad.append(f"{name} ({scene.flow}): {la} {a} overlaps {lb} {b}")
        finally:
            scene.dispose()
            doc.close()
    assert not bad, "\n".join(bad)
