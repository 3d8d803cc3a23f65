"""Graphs built from the newer torch.nn node types train, export to TorchScript, and read well.

One image classifier made of padding, pixel-unshuffle, LP pooling, RMSNorm, alpha dropout and a
multi-class margin loss; one regression that learns its own uncertainty with a Gaussian NLL
loss, whose three inputs (mean, target, variance) come from two heads and the data.
"""

from __future__ import annotations

import math
import warnings

import torch

from torchcanvas.graph.document import Graph
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.export import export_project
from torchcanvas.runtime.shapes import infer_shapes
from torchcanvas.runtime.trainer import RunFinished, StepEvent, Trainer, TrainOptions


def _chain(graph: Graph, start: tuple[str, str], *layers: tuple[str, dict]) -> str:
    """Connect ``layers`` one after another from ``start``; returns the last node's id."""
    src, port = start
    for type_id, params in layers:
        node = graph.add_node(type_id, params)
        graph.connect(src, port, node, graph.node(node).spec.inputs[0].name)
        src, port = node, "out"
    return src


def digits_graph() -> tuple[Graph, dict[str, str]]:
    g = Graph()
    g.set_setting("model_name", "NewLayers")
    g.set_setting("batch_size", 16)
    data = g.add_node("data.Digits")
    head = _chain(
        g,
        (data, "x"),
        ("nn.ZeroPad2d", {"padding": 1}),
        ("nn.Conv2d", {"out_channels": 8}),
        ("nn.CELU", {}),
        ("nn.PixelUnshuffle", {"downscale_factor": 2}),
        ("nn.LPPool2d", {"norm_type": 2.0, "kernel_size": 2}),
        ("nn.Flatten", {}),
        ("nn.RMSNorm", {}),
        ("nn.AlphaDropout", {"p": 0.1}),
        ("nn.Linear", {"out_features": 10}),
    )
    loss = g.add_node("loss.MultiMargin")
    g.connect(head, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    opt = g.add_node("optim.Adam", {"lr": 0.01})
    g.connect(loss, "loss", opt, "loss")
    return g, {"data": data, "head": head, "loss": loss}


def gaussian_graph() -> tuple[Graph, dict[str, str]]:
    g = Graph()
    g.set_setting("model_name", "MeanAndVariance")
    data = g.add_node("data.RandomRegression", {"n_samples": 64, "in_features": 4})
    hidden = _chain(g, (data, "x"), ("nn.Linear", {"out_features": 16}), ("nn.Mish", {}))
    mean = _chain(g, (hidden, "out"), ("nn.Linear", {"out_features": 1}))
    var = _chain(g, (hidden, "out"), ("nn.Linear", {"out_features": 1}), ("nn.Softplus", {}))
    loss = g.add_node("loss.GaussianNLL")
    g.connect(mean, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    g.connect(var, "out", loss, "var")
    opt = g.add_node("optim.SGD", {"lr": 0.01})
    g.connect(loss, "loss", opt, "loss")
    return g, {"data": data, "loss": loss}


def transformer_graph() -> tuple[Graph, dict[str, str]]:
    """A small encoder-decoder: the features become a sequence of 4 steps, the source; the
    target sequence is a second projection of the same features."""
    g = Graph()
    g.set_setting("model_name", "TinyTransformer")
    data = g.add_node("data.RandomRegression", {"n_samples": 64, "in_features": 4})
    src = _chain(
        g,
        (data, "x"),
        ("nn.Linear", {"out_features": 32}),
        ("nn.Unflatten", {"dim": 1, "unflattened_size": [4, 8]}),
    )
    tgt = _chain(
        g,
        (data, "x"),
        ("nn.Linear", {"out_features": 24}),
        ("nn.Unflatten", {"dim": 1, "unflattened_size": [3, 8]}),
    )
    model = g.add_node(
        "nn.Transformer",
        {
            "nhead": 2,
            "num_encoder_layers": 1,
            "num_decoder_layers": 1,
            "dim_feedforward": 16,
            "dropout": 0.0,
        },
    )
    g.connect(src, "out", model, "src")
    g.connect(tgt, "out", model, "tgt")
    head = _chain(g, (model, "out"), ("nn.Flatten", {}), ("nn.Linear", {"out_features": 1}))
    loss = g.add_node("loss.MSE")
    g.connect(head, "out", loss, "input")
    g.connect(data, "y", loss, "target")
    opt = g.add_node("optim.Adam")
    g.connect(loss, "loss", opt, "loss")
    return g, {"model": model, "head": head}


def _train(graph: Graph, tmp_path, steps: int = 3):
    project = compile_project(graph, title=graph.settings["model_name"])
    trainer = Trainer(
        project, TrainOptions(out_dir=tmp_path / "run", max_steps=steps, keep_predictions=False)
    )
    before = {k: v.clone() for k, v in project.model.new().state_dict().items()}
    events = trainer.run()
    assert isinstance(events[-1], RunFinished), events[-1]
    losses = [e.loss for e in events if isinstance(e, StepEvent)]
    assert losses and all(math.isfinite(x) for x in losses)
    after = trainer.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k].cpu())]
    assert changed, "one training step changed no weight"
    return project


def test_new_layers_train_and_export_to_torchscript(tmp_path):
    graph, ids = digits_graph()
    result = infer_shapes(graph)
    assert result.ok, result.problems
    assert result.shapes[(ids["head"], "out")][1:] == (10,)
    project = _train(graph, tmp_path)
    source = project.model.source.source
    # readable constructor calls with only the arguments that differ from torch's defaults
    for line in (
        "nn.ZeroPad2d(1)",
        "nn.CELU()",
        "nn.PixelUnshuffle(2)",
        "nn.LPPool2d(2.0, 2)",
        "nn.RMSNorm((128,))",
        "nn.AlphaDropout(p=0.1)",
    ):
        assert line in source, line
    assert "loss.MultiMargin" not in source and "nn.MultiMarginLoss()" in project.train.source
    report = export_project(project, tmp_path / "export", formats="code,torchscript")
    assert report.ok, report.lines()
    assert report.results["torchscript"].max_abs_diff < 1e-5
    with warnings.catch_warnings():  # torch 2.9+ announces TorchScript's deprecation
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(tmp_path / "export" / "model.torchscript.pt"))
    assert scripted(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_a_loss_with_three_inputs_trains_and_exports(tmp_path):
    graph, ids = gaussian_graph()
    result = infer_shapes(graph)
    assert result.ok, result.problems
    assert result.shapes[(ids["loss"], "loss")] == ()
    project = _train(graph, tmp_path)
    train_py = project.train.source
    assert "nn.GaussianNLLLoss()" in train_py
    # every port of the loss is an argument, in torch's order (input, target, var)
    call = next(line for line in train_py.splitlines() if 'losses["' in line and "loss =" in line)
    args = call.split("](", 1)[1].rstrip(")").split(", ")
    assert len(args) == 3 and args[1] == "y", call
    report = export_project(project, tmp_path / "export", formats="code,torchscript")
    assert report.ok, report.lines()


def test_a_multi_input_loss_names_its_unconnected_port():
    graph, ids = gaussian_graph()
    edge = graph.input_edge(ids["loss"], "var")
    graph.disconnect(edge)
    result = infer_shapes(graph)
    assert any(
        p.node_id == ids["loss"] and "'var' is not connected" in p.message for p in result.problems
    ), result.problems


def test_an_encoder_decoder_transformer_trains_and_exports(tmp_path):
    graph, ids = transformer_graph()
    result = infer_shapes(graph)
    assert result.ok, result.problems
    assert result.shapes[(ids["model"], "out")] == ("B", 3, 8)
    assert graph.node(ids["model"]).params["d_model"] == "auto"
    project = _train(graph, tmp_path)
    source = project.model.source.source
    # (written over several lines, as ruff format would)
    assert (
        "nn.Transformer(d_model=8,nhead=2,num_encoder_layers=1,num_decoder_layers=1,"
        "dim_feedforward=16,dropout=0.0,batch_first=True,)"
    ) in "".join(source.split())
    assert "self.transformer1(fc1, x)" in source
    report = export_project(project, tmp_path / "export", formats="code,torchscript")
    assert report.ok, report.lines()
