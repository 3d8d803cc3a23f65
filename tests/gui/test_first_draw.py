"""An opened project is first drawn with its shapes: the canvas holds its first draw until they
arrive (or a short time passes), so no draw is spent on a canvas about to change."""

from __future__ import annotations

import json

from PySide6.QtGui import QColor

from torchcanvas.assets import assets_dir
from torchcanvas.gui import theme
from torchcanvas.gui.canvas import view as view_module
from torchcanvas.gui.canvas.scene import CanvasScene
from torchcanvas.gui.project import ShapeService


def _project_without_saved_shapes(tmp_path):
    data = json.loads((assets_dir() / "examples" / "iris_mlp.json").read_text())
    assert data.pop("results")  # the bundled example carries its shapes; this one must not
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(data))
    return path


class _HeldReplies:
    """Keeps the shape process's replies from the window until ``release``."""

    def __init__(self, monkeypatch):
        self.kept: list[tuple] = []
        self._dispatch = ShapeService._dispatch
        monkeypatch.setattr(ShapeService, "_dispatch", lambda service, m: self.kept.append(m))

    def release(self, monkeypatch) -> None:
        monkeypatch.setattr(ShapeService, "_dispatch", self._dispatch)
        service = ShapeService.instance()
        for message in self.kept:
            self._dispatch(service, message)


def _scene_draws(monkeypatch, window) -> list[bool]:
    """Whether the shapes were in, at each draw of the canvas's items."""
    draws: list[bool] = []
    draw = CanvasScene.drawForeground

    def recorded(scene, painter, rect):
        draws.append(window.doc.shapes_ready)
        draw(scene, painter, rect)

    monkeypatch.setattr(CanvasScene, "drawForeground", recorded)
    return draws


def _only_background(window) -> bool:
    image = window.view.viewport().grab().toImage()
    background = theme.current().background.rgb()
    return all(
        QColor(image.pixel(x, y)).rgb() == background
        for x in range(0, image.width(), 7)
        for y in range(0, image.height(), 7)
    )


def test_the_first_draw_of_an_opened_project_waits_for_its_shapes(
    window, tmp_path, monkeypatch, qtbot
):
    monkeypatch.setattr(view_module, "HOLD_FIRST_DRAW_MS", 60_000)  # a slow machine's moment
    path = _project_without_saved_shapes(tmp_path)
    replies = _HeldReplies(monkeypatch)
    draws = _scene_draws(monkeypatch, window)
    assert window.open_file(path)
    qtbot.wait(30)  # the process has time to answer; its answer is held back
    window.view.viewport().repaint()
    assert not window.doc.shapes_ready and draws == []
    assert _only_background(window)  # no half-made canvas: nodes without shapes, bare wires

    replies.release(monkeypatch)
    assert window.wait_for_shapes()
    window.view.viewport().repaint()
    assert draws and all(draws)
    assert not _only_background(window)


def test_a_first_draw_is_held_only_a_moment_when_shapes_are_late(
    window, tmp_path, monkeypatch, qtbot
):
    monkeypatch.setattr(view_module, "HOLD_FIRST_DRAW_MS", 80)
    path = _project_without_saved_shapes(tmp_path)
    _HeldReplies(monkeypatch)  # the shapes never come
    assert window.open_file(path)
    qtbot.waitUntil(lambda: not window.view._held, timeout=2000)
    window.view.viewport().repaint()
    assert not window.doc.shapes_ready
    assert not _only_background(window)


def test_a_project_with_saved_shapes_is_drawn_at_once(window, tmp_path, monkeypatch):
    monkeypatch.setattr(view_module, "HOLD_FIRST_DRAW_MS", 60_000)
    _HeldReplies(monkeypatch)
    assert window.open_file(_project_without_saved_shapes(tmp_path))
    assert window.view._held  # waiting for shapes that do not come; the next open ends it
    draws = _scene_draws(monkeypatch, window)
    assert window.open_file(assets_dir() / "examples" / "iris_mlp.json")
    window.view.viewport().repaint()
    assert draws == [False]  # drawn with the saved shapes before inference has run
    assert not _only_background(window)
