"""Style transfer: optimise an image, not weights.

``data.StyleImages`` loads a content and a style picture as ``[1, 3, H, W]`` tensors (ImageNet
normalisation); ``nn.LearnableImage`` is the picture being optimised (the model's only trainable
parameter); ``nn.VGG16Features`` is a frozen VGG-16 whose stage outputs feed the losses (plain
MSE nodes, on features for content and on ``op.gram`` matrices for style). A project with this
data source trains "steps" of the image rather than epochs over a data set (codegen/style.py).

The two layer types are small classes written into model.py (``extra["module"]``), not torch.nn
classes, so they carry no ``torch_name``.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import auto, p
from torchcanvas.graph.spec import NodeSpec, PortSpec

# what a style-transfer project does without: it optimises one image, in steps
STYLE_NOTE = "Style transfer optimises one image: there are no batches and no validation split."
STYLE_UNUSED_SETTINGS = ("batch_size", "val_split")


def optimises_image(graph) -> bool:
    """A style-transfer project: its data node gives one pair of pictures and the trained
    parameter is an image (as ``codegen.plan.TrainPlan.optimises_image``)."""
    return any(
        n.spec is not None and n.spec.extra.get("source") == "style_images"
        for n in graph.nodes_of_kind("data")
    )


# last ReLU of each VGG-16 stage, and its index in torchvision's vgg16().features
VGG16_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}

register(
    [
        NodeSpec(
            type_id="data.StyleImages",
            title="Style images",
            category="Data",
            kind="data",
            outputs=(
                PortSpec("content", help="the content picture, [1, 3, H, W]"),
                PortSpec("style", help="the style picture, [1, 3, H, W]"),
            ),
            params=(
                p(
                    "content_path",
                    "path",
                    "",
                    "content picture (empty: the bundled sample; "
                    "relative paths start at the project's folder)",
                ),
                p("style_path", "path", "", "style picture (empty: the bundled sample)"),
                p(
                    "image_size",
                    "ints",
                    [64, 64],
                    "resize both pictures to [height, width]",
                    length=(2, 2),
                    minimum=8,
                    maximum=4096,
                ),
                p(
                    "steps_per_epoch",
                    "int",
                    10,
                    "optimisation steps between progress reports "
                    "(the run's epochs count these groups)",
                    minimum=1,
                    maximum=100_000,
                ),
            ),
            help="A content and a style picture for style transfer (ImageNet normalisation).",
            label_base="images",
            extra={
                "task": "style",
                "source": "style_images",
                "image": True,
                "files": ("style_content.png", "style_style.png"),
            },
        ),
        NodeSpec(
            type_id="nn.LearnableImage",
            title="Learnable image",
            category="Layers",
            kind="layer",
            inputs=(PortSpec("x", help="the picture it starts from (and takes its shape from)"),),
            outputs=(PortSpec("out"),),
            params=(
                auto("channels", dim=1),
                auto("height", dim=2),
                auto("width", dim=3),
                p(
                    "init",
                    "choice",
                    "content",
                    "start from the input picture or from noise",
                    choices=("content", "noise"),
                ),
            ),
            help="An image that is itself the trainable parameter, e.g. the picture a style "
            "transfer paints.",
            label_base="image",
            extra={"module": "LearnableImage", "group": "Style transfer"},
        ),
        NodeSpec(
            type_id="nn.VGG16Features",
            title="VGG-16 features",
            category="Pretrained",
            kind="layer",
            inputs=(PortSpec("x", help="images [B, 3, H, W], ImageNet-normalised"),),
            outputs=tuple(
                PortSpec(name, help=f"activations after {name}") for name in VGG16_LAYERS
            ),
            params=(
                p(
                    "last_layer",
                    "choice",
                    "relu4_3",
                    "run the network up to this layer (deeper outputs are not computed)",
                    choices=tuple(VGG16_LAYERS),
                ),
                p(
                    "weights",
                    "path",
                    "",
                    "a local vgg16 .pth file (empty: torch hub's cache; "
                    "nothing is downloaded, without weights it runs with random ones)",
                ),
            ),
            help="Frozen VGG-16 convolutional features (torchvision); each stage's last ReLU is an "
            "output.",
            label_base="vgg",
            extra={"module": "VGG16Features"},
        ),
    ]
)
