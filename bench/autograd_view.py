"""The Autograd view against torchviz on torchvision's resnet50 (random weights), offscreen.

One forward pass of a batch of 2 images runs under the recorder (attribution to modules); that
forward is shared by both sides and not timed (its recording overhead is printed). Then:

- ``view_s``: capture the backward graph from the loss (walk, saved tensor metadata,
  attribution), lay it out and draw the view once;
- ``torchviz_s``: ``torchviz.make_dot(loss, params).render()`` on the same loss (its default
  output, a PDF), when torchviz and graphviz's ``dot`` are installed, and ``ratio`` =
  view_s / torchviz_s; also ``torchviz_svg_s`` and ``ratio_svg`` for ``render(format="svg")``.

Medians of 7 runs, the three interleaved.

Prints timings, then as its last line a JSON object (goals: ratio <= 0.5, view_s < 1).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch
import torchvision
from PySide6.QtWidgets import QApplication

from torchcanvas.gui.autograd.view import AutogradPanel
from torchcanvas.runtime.autograd import Recorder

REPEAT = 7


def once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    app = QApplication.instance() or QApplication([])
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    x = torch.randn(2, 3, 224, 224)
    target = torch.tensor([1, 2])
    with torch.no_grad():
        model(x)  # warm-up
    t0 = time.perf_counter()
    plain = torch.nn.functional.cross_entropy(model(x), target)
    forward_s = time.perf_counter() - t0
    del plain
    t0 = time.perf_counter()
    with Recorder(model) as rec:
        loss = torch.nn.functional.cross_entropy(model(x), target)
    recorded_s = time.perf_counter() - t0

    panel = AutogradPanel()
    panel.resize(1400, 800)
    panel.show()
    app.processEvents()

    def view():
        graph = rec.graph([("loss", loss)])
        panel.set_graph(graph)
        panel.view.viewport().grab()  # paints the graph view once
        return graph

    panel.set_graph(rec.graph(loss))  # warm-up: fonts, first paint
    panel.grab()
    graph = view()
    print(
        f"resnet50: {len(graph.nodes)} nodes, {len(graph.edges)} edges, "
        f"{len(graph.owners())} modules"
    )
    print(f"forward {forward_s:.2f} s, recorded forward {recorded_s:.2f} s")
    result: dict = {"nodes": len(graph.nodes), "edges": len(graph.edges)}

    try:
        from torchviz import make_dot
    except ImportError:
        make_dot = None
        print("torchviz is not installed: no comparison")
    compare = make_dot is not None and shutil.which("dot") is not None
    if make_dot is not None and not compare:
        print("graphviz's dot is not installed: no comparison")
    params = dict(model.named_parameters())
    views, pdfs, svgs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "graph")
        for _ in range(REPEAT):  # interleaved, so a change in the machine's load hits both
            views.append(once(view))
            if compare:
                # render() with its defaults writes a PDF; SVG is its cheapest vector output
                pdfs.append(once(lambda: make_dot(loss, params=params).render(out)))
                svgs.append(once(lambda: make_dot(loss, params=params).render(out, format="svg")))
    view_s = statistics.median(views)
    result["view_s"] = round(view_s, 3)
    print(f"view (capture + layout + draw): {view_s:.3f} s (median of {REPEAT})")
    if compare:
        torchviz_s, svg_s = statistics.median(pdfs), statistics.median(svgs)
        result["torchviz_s"] = round(torchviz_s, 3)
        result["ratio"] = round(view_s / torchviz_s, 3)
        result["torchviz_svg_s"] = round(svg_s, 3)
        result["ratio_svg"] = round(view_s / svg_s, 3)
        print(f"torchviz make_dot().render(): {torchviz_s:.3f} s (as SVG: {svg_s:.3f} s)")
    panel.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
