"""A layer with several outputs draws a port for each, wired and shaped like any other."""

from __future__ import annotations


def test_lstm_and_attention_draw_a_port_per_output(qtbot, isolated, tmp_path):
    from torchcanvas.graph import Graph, save
    from torchcanvas.graph.layout import layered_layout
    from torchcanvas.gui.main_window import MainWindow

    g = Graph({"model_name": "Seq"})
    d = g.add_node("data.RandomImages", {"shape": [5, 8], "num_classes": 3})
    lstm = g.add_node("nn.LSTM", {"hidden_size": 16, "output": "last_step"})
    g.connect(d, "x", lstm, "x")
    attn = g.add_node("nn.MultiheadAttention", {"num_heads": 2})
    g.connect(d, "x", attn, "query")
    for port, src in (("out", lstm), ("c", lstm), ("weights", attn)):
        fc = g.add_node("nn.Linear", {"out_features": 3}, label=f"on_{port}")
        g.connect(src, port, fc, "x")
    for nid, pos in layered_layout(g, direction=g.settings["flow"]).items():
        g.set_position(nid, pos)
    path = tmp_path / "multi.json"
    save(g, path)

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    assert win.open_example(path)
    assert win.wait_for_shapes()
    assert list(win.scene.nodes[lstm].outputs) == ["out", "h", "c"]
    assert list(win.scene.nodes[attn].outputs) == ["out", "weights"]
    shapes = win.doc.shapes.shapes  # what the wires show
    assert shapes[(lstm, "out")] == ("B", 16) and shapes[(lstm, "c")] == (1, "B", 16)
    assert shapes[(attn, "weights")] == ("B", 5, 5)
    win.grab().save(str(tmp_path / "multi_output.png"))
    win.doc.undo_stack.setClean()
    win.close()
