"""The canvas with a 1000-node graph, in the real main window (offscreen).

Measured in one process, in the same window size:

- ``open_draw_s``: open the project, wait for its shapes, draw the whole window once (median of
  3); goal ≤ 0.4 s.
- ``scene_open_s``: the canvas's own part of an open: ``CanvasScene.rebuild`` (every item,
  with the shapes) and one full draw of the view.
- ``floor_s``: a bare QGraphicsScene with the same number of stock items (1000 rect items,
  1000 text items, 1500 path items) at the same places, built and drawn once in a window of the
  same size; ``open_ratio`` = open_draw_s / floor_s.
- ``edit_ms``: one param edit until the new shapes are on the canvas (median of 7); goal ≤ 30.
  ``scene_edit_ms`` is the canvas's own part of it: ``apply_shapes`` with the new result and
  the repaint of what it changed.
- ``pan_frame_ms``: the median time of one full viewport repaint while panning the graph, at
  100 % zoom and at 25 % (both reported; the larger is ``pan_frame_ms``); goal ≤ 16.
- ``open_5000_s``: open and draw a 5000-node graph; goal ≤ 2.
- ``hit_us``: one port hit test (``CanvasScene.port_at``), with the BSP index the scene uses;
  the pan frame and hit test are also measured with no index, for comparison.

Every figure has its CPU time (``time.process_time``) beside it under ``cpu``: shared machines
are noisy. The last line is the JSON summary.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_scale import build_graph
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QMainWindow,
)

from torchcanvas.graph import save
from torchcanvas.gui.canvas.items import bezier
from torchcanvas.gui.canvas.scene import CanvasScene
from torchcanvas.gui.main_window import MainWindow

WINDOW = (1440, 900)


class Clock:
    """Wall and CPU time of a block, in seconds."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def median_pair(pairs: list[tuple[float, float]], scale: float = 1.0, digits: int = 3):
    return (
        round(statistics.median(p[0] for p in pairs) * scale, digits),
        round(statistics.median(p[1] for p in pairs) * scale, digits),
    )


def floor(graph, app) -> tuple[float, float]:
    """A bare QGraphicsScene with stock items where the canvas has its nodes and wires: 1000
    rects, 1000 texts, 1500 curves, built and drawn once in a window of the same size."""
    nodes = list(graph.nodes())
    with Clock() as clock:
        window = QMainWindow()
        view = QGraphicsView()
        view.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        window.setCentralWidget(view)
        window.resize(*WINDOW)
        scene = QGraphicsScene()
        pen, fill = QPen(QColor("#c5c9d2"), 1.2), QColor("#ffffff")
        wire = QPen(QColor("#7b8497"), 1.8)
        bounds = QRectF()
        for n in nodes:
            rect = QGraphicsRectItem(n.pos[0], n.pos[1], 150, 94)
            rect.setPen(pen)
            rect.setBrush(fill)
            scene.addItem(rect)
            text = QGraphicsSimpleTextItem(n.label)
            text.setPos(n.pos[0] + 10, n.pos[1] + 4)
            scene.addItem(text)
            bounds = bounds.united(rect.rect())
        for k in range(1500):
            a, b = nodes[k % len(nodes)], nodes[(k + 1 + k // 1000) % len(nodes)]
            path: QPainterPath = bezier(
                QPointF(a.pos[0] + 75, a.pos[1] + 94), QPointF(b.pos[0] + 75, b.pos[1]), "TB"
            )
            item = QGraphicsPathItem(path)
            item.setPen(wire)
            scene.addItem(item)
        view.setScene(scene)
        window.show()
        view.fitInView(bounds.adjusted(-60, -60, 60, 60))
        window.grab()
    window.close()
    view.setScene(None)
    scene.deleteLater()
    window.deleteLater()
    app.processEvents()
    return clock.wall, clock.cpu


def pan_frames(window, zoom: float, steps: int = 24) -> list[tuple[float, float]]:
    """Full repaints of the view while panning across the middle of the graph at ``zoom``."""
    view = window.view
    view.resetTransform()
    view.set_zoom(zoom)
    rect = window.scene.items_bounds()
    view.centerOn(QPointF(rect.center().x(), rect.center().y()))
    QApplication.processEvents()
    frames = []
    viewport = view.viewport()
    for _ in range(steps):
        view.translate_view(-40, 0)
        with Clock() as clock:
            viewport.repaint()
        frames.append((clock.wall, clock.cpu))
    return frames


def hit_tests(scene: CanvasScene, count: int = 400) -> tuple[float, float]:
    """Port hit tests at the ports of the first nodes and beside them (misses)."""
    points = []
    for item in list(scene.nodes.values())[: count // 2]:
        port = next(iter(item.outputs.values()), None) or next(iter(item.inputs.values()))
        points += [port.scene_pos(), item.pos() + QPointF(70, 30)]
    with Clock() as clock:
        for p in points:
            scene.port_at(p)
    return clock.wall / len(points), clock.cpu / len(points)


def open_once(window, path: Path) -> tuple[float, float]:
    with Clock() as clock:
        window.open_file(path)
        window.wait_for_shapes()
        window.grab()  # paints every visible item once
    window.doc.undo_stack.setClean()
    return clock.wall, clock.cpu


def main() -> None:
    app = QApplication.instance() or QApplication([])
    graph, layers = build_graph()
    big, _ = build_graph(5000)
    with tempfile.TemporaryDirectory() as tmp:
        path, path_5000 = Path(tmp) / "big.json", Path(tmp) / "big5000.json"
        save(graph, path)
        save(big, path_5000)
        os.environ.setdefault("TORCHCANVAS_RECOVERY_DIR", tmp)
        window = MainWindow()
        window.resize(*WINDOW)
        window.show()
        # warm-up on a small example: torch import, data description, Qt font caches
        from torchcanvas.assets import examples

        window.open_example(examples()[0])
        window.wait_for_shapes()
        window.grab()
        floors = [floor(graph, app) for _ in range(3)]

        opens = [open_once(window, path) for _ in range(3)]

        doc = window.doc
        scene = window.scene
        # the canvas's own part of an open: build every item from the graph and its shapes,
        # then draw the view once
        scene_opens = []
        for _ in range(3):
            with Clock() as clock:
                scene.rebuild()
                window.view.viewport().repaint()
            scene_opens.append((clock.wall, clock.cpu))
        linear = next(n for n in layers if doc.graph.node(n).type_id == "nn.Linear")
        edits, scene_edits, results = [], [], []
        for k in range(7):
            with Clock() as clock:
                doc.set_param(linear, "out_features", 40 + k)
                doc.wait_for_shapes(with_code=False)  # the canvas has applied the new shapes
            edits.append((clock.wall, clock.cpu))
            results.append(doc.shapes)
            while doc.model_code is None:  # then let the code dock catch up, untimed
                app.processEvents()
        # the scene's part of an edit: apply the next result and paint what it changed
        for k in range(1, len(results)):
            app.processEvents()
            with Clock() as clock:
                scene.apply_shapes(results[k])
                app.processEvents()
            scene_edits.append((clock.wall, clock.cpu))
        scene.apply_shapes(doc.shapes)

        pan_100 = pan_frames(window, 1.0)
        pan_25 = pan_frames(window, 0.25)
        hit = hit_tests(scene)
        # the same with no index, for comparison
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        pan_100_flat = pan_frames(window, 1.0)
        pan_25_flat = pan_frames(window, 0.25)
        hit_flat = hit_tests(scene)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        window.doc.undo_stack.setClean()

        opens_5000 = [open_once(window, path_5000)]
        window.doc.undo_stack.setClean()
        window.close()

    fmt = ", ".join
    print(f"nodes: {len(graph)}")
    print(
        f"floor (bare scene, stock items): {fmt(f'{w:.3f}' for w, _ in floors)} s "
        f"(cpu {fmt(f'{c:.3f}' for _, c in floors)})"
    )
    print(
        f"open + draw: {fmt(f'{w:.3f}' for w, _ in opens)} s "
        f"(cpu {fmt(f'{c:.3f}' for _, c in opens)})"
    )
    print(
        f"scene part of an open (rebuild + draw): "
        f"{fmt(f'{w:.3f}' for w, _ in scene_opens)} s "
        f"(cpu {fmt(f'{c:.3f}' for _, c in scene_opens)})"
    )
    print(
        f"edit → shapes on canvas: {fmt(f'{w * 1e3:.1f}' for w, _ in edits)} ms "
        f"(cpu {fmt(f'{c * 1e3:.1f}' for _, c in edits)})"
    )
    print(
        f"scene part of an edit (apply_shapes + repaint of the changes): "
        f"{fmt(f'{w * 1e3:.1f}' for w, _ in scene_edits)} ms"
    )
    for name, bsp, flat in (
        ("pan frame 100%", pan_100, pan_100_flat),
        ("pan frame 25%", pan_25, pan_25_flat),
    ):
        b, f = median_pair(bsp, 1e3, 2), median_pair(flat, 1e3, 2)
        print(f"{name}: BSP index {b[0]} ms (cpu {b[1]}), no index {f[0]} ms (cpu {f[1]})")
    print(
        f"port hit test: BSP index {hit[0] * 1e6:.1f} µs (cpu {hit[1] * 1e6:.1f}), "
        f"no index {hit_flat[0] * 1e6:.1f} µs (cpu {hit_flat[1] * 1e6:.1f})"
    )
    print(f"open + draw 5000 nodes: {opens_5000[0][0]:.3f} s (cpu {opens_5000[0][1]:.3f})")

    open_draw, floor_s = median_pair(opens), median_pair(floors)
    scene_open = median_pair(scene_opens)
    edit, scene_edit = median_pair(edits, 1e3, 1), median_pair(scene_edits, 1e3, 1)
    p100, p25 = median_pair(pan_100, 1e3, 2), median_pair(pan_25, 1e3, 2)
    o5000 = (round(opens_5000[0][0], 3), round(opens_5000[0][1], 3))
    print(
        json.dumps(
            {
                "open_draw_s": open_draw[0],
                "scene_open_s": scene_open[0],
                "edit_ms": edit[0],
                "scene_edit_ms": scene_edit[0],
                "floor_s": floor_s[0],
                "open_ratio": round(open_draw[0] / floor_s[0], 2),
                "pan_frame_ms": max(p100[0], p25[0]),
                "pan_100_ms": p100[0],
                "pan_25_ms": p25[0],
                "open_5000_s": o5000[0],
                "hit_us": round(hit[0] * 1e6, 1),
                "nodes": len(graph),
                "cpu": {
                    "open_draw_s": open_draw[1],
                    "scene_open_s": scene_open[1],
                    "edit_ms": edit[1],
                    "scene_edit_ms": scene_edit[1],
                    "floor_s": floor_s[1],
                    "pan_100_ms": p100[1],
                    "pan_25_ms": p25[1],
                    "open_5000_s": o5000[1],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
