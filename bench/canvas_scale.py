"""The canvas with a 1000-node graph, in the real main window (offscreen).

Prints timings, then as its last line a JSON object with ``open_draw_s`` (open the project and
draw the whole window once; goal < 1) and ``edit_ms`` (one param edit until new shapes are on
the canvas; goal < 100).
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
from PySide6.QtWidgets import QApplication

from torchcanvas.graph import save
from torchcanvas.gui.main_window import MainWindow


def main() -> None:
    app = QApplication.instance() or QApplication([])
    graph, layers = build_graph()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        save(graph, path)
        os.environ.setdefault("TORCHCANVAS_RECOVERY_DIR", tmp)
        window = MainWindow()
        window.resize(1440, 900)
        window.show()
        # warm-up on a small example: torch import, data description, Qt font caches
        from torchcanvas.assets import examples

        window.open_example(examples()[0])
        window.wait_for_shapes()
        window.grab()

        opens = []
        for _ in range(3):
            t0 = time.perf_counter()
            window.open_file(path)
            window.wait_for_shapes()
            window.grab()  # paints every visible item once
            opens.append(time.perf_counter() - t0)
            window.doc.undo_stack.setClean()

        doc = window.doc
        linear = next(n for n in layers if doc.graph.node(n).type_id == "nn.Linear")
        edits = []
        for k in range(7):
            t0 = time.perf_counter()
            doc.set_param(linear, "out_features", 40 + k)
            doc.wait_for_shapes(with_code=False)  # the canvas has applied the new shapes
            edits.append((time.perf_counter() - t0) * 1000)
            while doc.model_code is None:  # then let the code dock catch up, untimed
                app.processEvents()
        window.doc.undo_stack.setClean()
        window.close()
    print(f"nodes: {len(graph)}")
    print(f"open + draw: {', '.join(f'{t:.2f}' for t in opens)} s")
    print(f"edit → shapes on canvas: {', '.join(f'{t:.1f}' for t in edits)} ms")
    print(json.dumps({"open_draw_s": round(statistics.median(opens), 3),
                      "edit_ms": round(statistics.median(edits), 1), "nodes": len(graph)}))


if __name__ == "__main__":
    main()
