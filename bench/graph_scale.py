"""Shape inference and code generation on a 1000-node graph.

Prints timings, then as its last line a JSON object with ``shape_ms`` (shape inference of the
whole graph with no cached node results; goal <= 40), ``codegen_ms`` (model.py for the graph;
goal <= 40) and ``shape_edit_ms`` (one param edit, re-inferred incrementally by an inferencer
that follows the graph's edits; goal <= 10): medians of wall time, each with ``*_cpu_ms``
beside it (``time.process_time``: shared machines are noisy, CPU time less so).
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
    data = g.add_node(
        "data.RandomRegression", {"in_features": 32, "out_features": 32, "n_samples": 64}
    )
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

    runs: dict[str, list[tuple[float, float]]] = {"shape": [], "codegen": [], "shape_edit": []}

    def timed(name: str, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        runs[name].append(((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))
        return out

    for _ in range(7):
        result = timed("shape", lambda: ShapeInferencer().infer(graph))
        assert result.ok, result.first_error()
        resolved = result.resolved
        source = timed("codegen", lambda: print_model(build_ir(graph, resolved)).source)  # noqa: B023

    inferencer = ShapeInferencer()
    inferencer.attach(graph)  # follows the edits: only what they reach runs again
    inferencer.infer(graph)
    linear = layers[len(layers) // 2 - 2]
    for k in range(7):
        graph.set_param(linear, "out_features", 33 + k)
        result = timed("shape_edit", lambda: inferencer.infer(graph))
        assert result.ok and result.shapes[(linear, "out")] == ("B", 33 + k)
        assert result.changed == {linear, layers[len(layers) // 2 - 1], layers[len(layers) // 2]}

    print(
        f"graph: {len(graph)} nodes, {len(graph.edges())} edges, "
        f"model.py {len(source.splitlines())} lines"
    )
    figures: dict[str, float | int] = {}
    for name, label in (
        ("shape", "shape inference"),
        ("codegen", "codegen"),
        ("shape_edit", "edit + re-infer"),
    ):
        wall = [w for w, _ in runs[name]]
        cpu = [c for _, c in runs[name]]
        print(
            f"{label + ':':17}{', '.join(f'{t:.1f}' for t in wall)} ms "
            f"(CPU {', '.join(f'{t:.1f}' for t in cpu)} ms)"
        )
        figures[f"{name}_ms"] = round(statistics.median(wall), 2)
        figures[f"{name}_cpu_ms"] = round(statistics.median(cpu), 2)
    figures["nodes"] = len(graph)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
