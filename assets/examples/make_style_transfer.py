"""Build style_transfer.json with the graph API (``python assets/examples/make_style_transfer.py``).

A learnable image starts as the content picture; a frozen VGG-16 looks at it, at the content
picture and at the style picture; the content loss compares features at relu2_2 and three style
losses compare Gram matrices at relu1_2, relu2_2 and relu3_3. Adam changes the image only.
"""

from __future__ import annotations

from pathlib import Path

from torchcanvas.graph import Graph
from torchcanvas.graph.layout import layered_layout
from torchcanvas.graph.serialize import save

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3")
STYLE_WEIGHTS = (1e6, 1e7, 1e8)


def build() -> Graph:
    g = Graph({"epochs": 10, "seed": 0, "log_every": 1, "model_name": "StyleTransfer"})
    images = g.add_node(
        "data.StyleImages", {"image_size": [64, 64], "steps_per_epoch": 10}, label="images"
    )
    image = g.add_node("nn.LearnableImage", label="image")
    g.connect(images, "content", image, "x")
    vgg = {}
    for name, src, port, last in (
        ("vgg_image", image, "out", "relu3_3"),
        ("vgg_content", images, "content", "relu2_2"),
        ("vgg_style", images, "style", "relu3_3"),
    ):
        vgg[name] = g.add_node("nn.VGG16Features", {"last_layer": last}, label=name)
        g.connect(src, port, vgg[name], "x")
    content_loss = g.add_node("loss.MSE", label="content_loss")
    g.connect(vgg["vgg_image"], "relu2_2", content_loss, "input")
    g.connect(vgg["vgg_content"], "relu2_2", content_loss, "target")
    optimizer = g.add_node("optim.Adam", {"lr": 0.05}, label="optimizer")
    g.connect(content_loss, "loss", optimizer, "loss")
    for i, (layer, weight) in enumerate(zip(STYLE_LAYERS, STYLE_WEIGHTS, strict=True), 1):
        mine = g.add_node("op.gram", label=f"gram{i}")
        theirs = g.add_node("op.gram", label=f"style_gram{i}")
        g.connect(vgg["vgg_image"], layer, mine, "x")
        g.connect(vgg["vgg_style"], layer, theirs, "x")
        loss = g.add_node("loss.MSE", {"scale": weight}, label=f"style_loss{i}")
        g.connect(mine, "out", loss, "input")
        g.connect(theirs, "out", loss, "target")
        g.connect(loss, "loss", optimizer, "loss")
    for nid, pos in layered_layout(g, direction="TB").items():
        g.set_position(nid, pos)
    return g


if __name__ == "__main__":
    save(build(), Path(__file__).resolve().parent / "style_transfer.json")
