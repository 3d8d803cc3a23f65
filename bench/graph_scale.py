"""Shape inference and code generation on a 1000-node graph.

Prints timings, then as its last line a JSON object with ``shape_ms`` (shape inference of the
whole graph with no cached node results; goal <= 40), ``codegen_ms`` (model.py for the graph;
goal <= 40) and ``shape_edit_ms`` (one param edit, re-inferred incrementally by an inferencer
that follows the graph's edits; goal <= 10): medians of wall time, each with ``*_cpu_ms``
beside it (``time.process_time``: shared machines are noisy, CPU time less so).

``cost_overhead_ratio`` (goal <= 1.2): shape inference with cost counting (MACs, activation and
parameter memory: runtime/cost.py) over inference without it, runs of the two alternating, on
the 1000-node graph and on a graph whose nodes all run on meta (``build_meta_graph``), with
FlopCounterMode's counts cached by no earlier run; the larger ratio of medians, wall and
CPU (``cost_overhead_cpu_ratio``), each graph's beside it. The edit timing counts cost too.
"""

from __future__ import annotations

import json
import statistics
import time

from torchcanvas.codegen.model import build_ir, print_model
from torchcanvas.graph import Graph
from torchcanvas.runtime.cost import MACS_CACHE
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


def build_meta_graph(units: int = 60) -> Graph:
    """data → (Conv2d reflect-padded → BatchNorm2d → ReLU, with a Gram matrix and a local
    response norm off each ReLU) × ``units``: nodes no shape rule covers, so every one runs on
    meta; MACs by formula (convolutions, Gram matrices), none to count (batch norms, ReLUs), or
    counted by FlopCounterMode (the local response norms, once per run: they are alike)."""
    g = Graph({"batch_size": 32})
    prev = g.add_node("data.RandomImages", {"shape": [8, 16, 16], "n_samples": 64})
    port = "x"
    for i in range(units):
        conv = g.add_node(
            "nn.Conv2d",
            {"out_channels": 8, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"},
            pos=(i * 30.0, 0.0),
        )
        g.connect(prev, port, conv, "x")
        bn = g.add_node("nn.BatchNorm2d", pos=(i * 30.0 + 10, 0.0))
        g.connect(conv, "out", bn, "x")
        relu = g.add_node("nn.ReLU", pos=(i * 30.0 + 20, 0.0))
        g.connect(bn, "out", relu, "x")
        gram = g.add_node("op.gram", pos=(i * 30.0 + 20, 50.0))
        g.connect(relu, "out", gram, "x")
        lrn = g.add_node("nn.LocalResponseNorm", {"size": 2}, pos=(i * 30.0 + 20, 90.0))
        g.connect(relu, "out", lrn, "x")
        prev, port = relu, "out"
    return g


def cost_overhead(graphs: dict[str, Graph], reps: int = 11) -> dict[str, float]:
    """Inference with cost over inference without, alternating, per graph and the worst."""
    figures: dict[str, float] = {}
    worst_wall = worst_cpu = 0.0
    for name, graph in graphs.items():
        times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(reps):
            for cost in (False, True):
                MACS_CACHE.clear()  # cold: what FlopCounterMode counts is counted again
                t0, c0 = time.perf_counter(), time.process_time()
                result = ShapeInferencer(cost=cost).infer(graph)
                times[cost].append((time.perf_counter() - t0, time.process_time() - c0))
                assert result.ok and bool(result.macs) == cost, result.first_error()
        wall = statistics.median(w for w, _ in times[True]) / statistics.median(
            w for w, _ in times[False]
        )
        cpu = statistics.median(c for _, c in times[True]) / statistics.median(
            c for _, c in times[False]
        )
        print(
            f"cost on/off, {name}: wall "
            f"{', '.join(f'{w * 1000:.1f}' for w, _ in times[True])} / "
            f"{', '.join(f'{w * 1000:.1f}' for w, _ in times[False])} ms, CPU "
            f"{', '.join(f'{c * 1000:.1f}' for _, c in times[True])} / "
            f"{', '.join(f'{c * 1000:.1f}' for _, c in times[False])} ms"
        )
        figures[f"cost_overhead_ratio_{name}"] = round(wall, 3)
        figures[f"cost_overhead_cpu_ratio_{name}"] = round(cpu, 3)
        worst_wall, worst_cpu = max(worst_wall, wall), max(worst_cpu, cpu)
    figures["cost_overhead_ratio"] = round(worst_wall, 3)
    figures["cost_overhead_cpu_ratio"] = round(worst_cpu, 3)
    return figures


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
        assert result.macs[linear] == 32 * (33 + k)  # the cost follows the edit

    meta_graph = build_meta_graph()
    ShapeInferencer().infer(meta_graph)  # warm-up
    overhead = cost_overhead({"chain": graph, "meta": meta_graph})

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
    figures.update(overhead)
    figures["nodes"] = len(graph)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
