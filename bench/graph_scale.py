"""Shape inference and code generation on a 1000-node graph.

Prints timings, then as its last line a JSON object with ``shape_ms`` (shape inference of the
whole graph with no cached node results; goal < 100) and ``codegen_ms`` (model.py for the graph;
goal < 100), plus ``shape_edit_ms`` (one param edit, re-inferred with the per-node cache).
"""

from __future__ import annotations

import json
import statistics
import time

from torchcanvas.codegen.model import build_ir, print_model
from torchcanvas.graph import Graph
from torchcanvas.runtime.shapes import ShapeInferencer

N_NODES = 1000


def build_graph(n_nodes: int = N_NODES) -> tuple[Graph, list[str]]:
    """data → (Linear → ReLU) × k → MSE ← data.y, SGD: exactly ``n_nodes`` nodes."""
    g = Graph({"batch_size": 32})
    data = g.add_node("data.RandomRegression", {"in_features": 32, "out_features": 32,
                                                "n_samples": 64})
    prev, port, layers = data, "x", []
    n_layers = n_nodes - 3  # data, loss and optimizer
    for i in range(n_layers):
        if i % 2 == 0:
            nid = g.add_node("nn.Linear", {"out_features": 32}, pos=(i * 10.0, 0.0))
        else:
            nid = g.add_node("nn.ReLU", pos=(i * 10.0, 0.0))
        g.connect(prev, port, nid, "x")
        prev, port = nid, "out"
        layers.append(nid)
    loss = g.add_node("loss.MSE")
    g.connect(prev, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    opt = g.add_node("optim.SGD")
    g.connect(loss, "loss", opt, "loss")
    assert len(g) == n_nodes
    return g, layers


def main() -> None:
    graph, layers = build_graph()
    ShapeInferencer().infer(graph)  # warm-up: data description, torch kernels, compiled lambdas

    shape_runs, codegen_runs, edit_runs = [], [], []
    for _ in range(5):
        t0 = time.perf_counter()
        result = ShapeInferencer().infer(graph)
        shape_runs.append((time.perf_counter() - t0) * 1000)
        assert result.ok, result.first_error()

        t0 = time.perf_counter()
        source = print_model(build_ir(graph, result.resolved)).source
        codegen_runs.append((time.perf_counter() - t0) * 1000)

    inferencer = ShapeInferencer()
    inferencer.infer(graph)
    for k in range(5):
        graph.set_param(layers[len(layers) // 2 - 2], "out_features", 33 + k)  # a Linear
        t0 = time.perf_counter()
        inferencer.infer(graph)
        edit_runs.append((time.perf_counter() - t0) * 1000)

    print(f"graph: {len(graph)} nodes, {len(graph.edges())} edges, "
          f"model.py {len(source.splitlines())} lines")
    print(f"shape inference: {', '.join(f'{t:.1f}' for t in shape_runs)} ms")
    print(f"codegen:         {', '.join(f'{t:.1f}' for t in codegen_runs)} ms")
    print(f"edit + re-infer: {', '.join(f'{t:.1f}' for t in edit_runs)} ms")
    print(json.dumps({"shape_ms": round(statistics.median(shape_runs), 2),
                      "codegen_ms": round(statistics.median(codegen_runs), 2),
                      "shape_edit_ms": round(statistics.median(edit_runs), 2),
                      "nodes": len(graph)}))


if __name__ == "__main__":
    main()
