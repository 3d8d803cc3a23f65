"""Incremental shape inference against full inference, through the real Document.

After every step of random edit sequences (add/remove, connect/disconnect, params including
refused and torch-invalid values, labels, settings, undo/redo on the Document's undo stack,
collapse/expand into blocks, paste, restore) three results must agree exactly: an inferencer
attached to the document's graph (incremental), the shape process's engine replaying the
recorded edits on its own copy, and a fresh full inference. ``changed`` must name every node
whose shapes, problems, auto values or counts differ from the step before.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchcanvas.graph import Graph
from torchcanvas.graph.clipboard import copy_fragment, plan_paste
from torchcanvas.graph.edits import EditRecorder
from torchcanvas.graph.serialize import to_dict
from torchcanvas.gui.project import Document
from torchcanvas.runtime.shape_service import ShapeEngine
from torchcanvas.runtime.shapes import ShapeInferencer

FIELDS = (
    "shapes",
    "dtypes",
    "problems",
    "resolved",
    "param_counts",
    "trainable_counts",
    "block_shapes",
    "data_info",
)
TYPES = ("nn.Linear", "nn.ReLU", "nn.Flatten", "nn.Softmax", "op.add", "nn.Dropout")


def base_graph() -> Graph:
    g = Graph({"batch_size": 8})
    data = g.add_node(
        "data.RandomRegression",
        {"in_features": 6, "out_features": 3, "n_samples": 16},
        node_id="n1",
    )
    prev, port = data, "x"
    for i, type_id in enumerate(("nn.Linear", "nn.ReLU", "nn.Linear", "nn.ReLU", "nn.Linear")):
        params = {"out_features": 3 if i == 4 else 8} if type_id == "nn.Linear" else {}
        nid = g.add_node(type_id, params, pos=(100.0 * i, 0.0))
        g.connect(prev, port, nid, "x")
        prev, port = nid, "out"
    loss = g.add_node("loss.MSE")
    g.connect(prev, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    g.connect(loss, "loss", g.add_node("optim.SGD"), "loss")
    return g


def view(result, nid: str) -> tuple:
    """What the canvas shows for one node."""
    return (
        {k: v for k, v in result.shapes.items() if k[0] == nid},
        [p for p in result.problems if p.node_id == nid],
        result.resolved.get(nid),
        result.param_counts.get(nid),
        result.trainable_counts.get(nid),
    )


step = st.tuples(
    st.sampled_from(
        (
            "add",
            "remove",
            "connect",
            "disconnect",
            "param",
            "param",
            "bad_param",
            "label",
            "setting",
            "undo",
            "undo",
            "redo",
            "collapse",
            "expand",
            "paste",
            "restore",
        )
    ),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(-3, 40),
)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_incremental_inference_equals_full_inference_after_every_edit(qtbot, steps):
    doc = Document(base_graph())
    g = doc.graph
    try:
        incremental = ShapeInferencer()
        incremental.attach(g)
        recorder = EditRecorder(g)  # what the document sends the shape process
        engine = ShapeEngine()
        snapshots = [g.snapshot()]
        before = incremental.infer(g)
        for generation, (what, a, b, value) in enumerate(steps, 1):
            ids = g.node_ids()
            pick = ids[a % len(ids)] if ids else None
            other = ids[b % len(ids)] if ids else None
            if what == "add":
                doc.add_node(TYPES[a % len(TYPES)], (float(b), 0.0))
            elif what == "remove" and pick:
                doc.remove([pick])
            elif what == "connect" and pick and other:
                outs = g.output_ports(pick)
                ins = g.input_ports(other)
                if outs and ins:
                    doc.connect_ports(pick, outs[b % len(outs)].name, other, ins[a % len(ins)].name)
            elif what == "disconnect" and g.edges():
                edges = g.edges()
                doc.disconnect_edge(edges[a % len(edges)])
            elif what in ("param", "bad_param") and pick:
                node = g.node(pick)
                if node.type_id == "nn.Linear":
                    name = ("in_features", "out_features")[b % 2]
                    doc.set_param(
                        pick, name, "auto" if value == 0 and name == "in_features" else value
                    )  # 0 and below are refused, 7 may not fit
                elif node.type_id in ("nn.Softmax", "nn.Flatten"):
                    doc.set_param(
                        pick, "dim" if node.type_id == "nn.Softmax" else "start_dim", value % 5 - 2
                    )
                elif node.kind == "data":
                    doc.set_param(pick, "in_features", max(value, 1))
            elif what == "label" and pick:
                doc.set_label(pick, f"renamed{value % 7}")
            elif what == "setting":
                doc.set_setting("batch_size", 4 + value % 3)
            elif what == "undo":
                doc.undo_stack.undo()
            elif what == "redo":
                doc.undo_stack.redo()
            elif what == "collapse" and pick:
                chosen = [n for n in (pick, other) if g.node(n).kind in ("layer", "op", "block")]
                if chosen:
                    doc.change(
                        "Collapse",
                        lambda graph, c=chosen, v=value: graph.collapse(c, f"Block{v % 3}"),
                    )
            elif what == "expand":
                blocks = [n.id for n in g.nodes() if n.kind == "block"]
                if blocks:
                    instance = blocks[a % len(blocks)]
                    doc.change("Expand", lambda graph, i=instance: graph.expand(i))
            elif what == "paste" and pick:
                plan = plan_paste(g, copy_fragment(g, [pick, other]), (40.0, 40.0))

                def paste(graph, plan=plan) -> None:
                    for name, body in plan.blocks:
                        graph.add_block_def(name, body)
                    for nid, type_id, params, label, pos in plan.nodes:
                        graph.add_node(type_id, params, label=label, pos=pos, node_id=nid)
                    for e in plan.edges:
                        graph.connect(e.src, e.src_port, e.dst, e.dst_port)

                if plan.nodes:
                    doc.change("Paste", paste)
            elif what == "restore":  # as the app does it: one undo step of snapshots
                snapshot = snapshots[a % len(snapshots)]
                doc.change("Restore", lambda graph, data=snapshot: graph.restore(data))
            snapshots.append(g.snapshot())

            result = incremental.infer(g)
            full = ShapeInferencer().infer(g)
            kind, payload = recorder.take()
            engine.sync(generation, kind, payload)
            replayed = engine.infer(None)
            assert to_dict(engine.graph) == to_dict(g), what
            for name in FIELDS:
                assert getattr(result, name) == getattr(full, name), (what, name)
                assert getattr(replayed, name) == getattr(full, name), (what, name)
            if result.changed is not None:
                missed = [
                    nid
                    for nid in g.node_ids()
                    if view(before, nid) != view(full, nid) and nid not in result.changed
                ]
                assert not missed, (what, missed)
            before = full
        recorder.close()
    finally:
        doc.undo_stack.setClean()
        doc.close()
