"""Code for projects that optimise an image (style transfer) instead of weights.

Three parts, all plain text (no torch here):

- the classes written into model.py for ``nn.LearnableImage`` and ``nn.VGG16Features``
  (``MODULES``; the model printer adds the ones a model uses);
- ``make_images`` for ``data.StyleImages`` (content and style pictures as ``[1, 3, H, W]``);
- the train.py of such a project (``generate_style_train``): the same building blocks as every
  train.py (``build_losses``, ``compute_loss``, ``build_optimizer``, ``build_scheduler``,
  ``train_step``, ``end_epoch``, ``save_checkpoint``) around a loop of ``epochs`` ×
  ``steps_per_epoch`` steps on the one pair of pictures; the result is saved as result.png.
"""

from __future__ import annotations

from pathlib import Path

from torchcanvas.codegen.emit import CodegenError, literal
from torchcanvas.graph.catalogue.style import VGG16_LAYERS
from torchcanvas.graph.document import Graph, Node

NO_VGG_WEIGHTS = "no pretrained VGG-16 weights found locally: running with random weights"
SAMPLE_FILES = ("style_content.png", "style_style.png")

# ---------------------------------------------------------------------------- model.py classes
LEARNABLE_IMAGE = '''
class LearnableImage(nn.Module):
    """An image that is itself the trainable parameter, set from its input (or noise) on the
    first call."""

    def __init__(self, channels: int, height: int, width: int, init: str = "content") -> None:
        super().__init__()
        self.init = init
        self.image = nn.Parameter(torch.zeros(1, channels, height, width))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a tensor on the meta device (a shape check) has no values to start from
        if not self.started.is_meta and not self.started:
            with torch.no_grad():
                start = x[:1] if self.init == "content" else torch.randn_like(x[:1])
                self.image.copy_(start)
                self.started.fill_(True)
        return self.image
'''

VGG16_FEATURES = f'''
NO_VGG_WEIGHTS = {literal(NO_VGG_WEIGHTS)}


def find_vgg16_weights(path: str = "") -> Path | None:
    """A local VGG-16 weights file: ``path``, else one in torch hub's cache. Never downloads."""
    if path:
        file = Path(path)
        if not file.is_absolute():  # a copy beside this file, as an exported folder has it
            file = Path(__file__).parent / file
        if not file.is_file():
            raise FileNotFoundError(f"VGG-16 weights file not found: {{file}}")
        return file
    found = sorted(Path(torch.hub.get_dir(), "checkpoints").glob("vgg16-*.pth"))
    return found[-1] if found else None


class VGG16Features(nn.Module):
    """Frozen VGG-16 convolutional layers (torchvision). Returns the last ReLU of each stage,
    up to ``last_layer``; the deeper ones are not computed and come back empty (0 samples)."""

    LAYERS = {{{", ".join(f"{literal(k)}: {v}" for k, v in VGG16_LAYERS.items())}}}

    def __init__(self, last_layer: str = "relu4_3", weights: str = "") -> None:
        super().__init__()
        # the layers of torchvision.models.vgg16().features, without its large classifier
        layers = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        self.features = layers[: self.LAYERS[last_layer] + 1]
        # the stages computed, and the index of the layer each one ends with
        self.stages = [name for name, i in self.LAYERS.items() if i < len(self.features)]
        self.taps = [self.LAYERS[name] for name in self.stages]
        path = find_vgg16_weights(weights)
        self.notice = None if path is not None else NO_VGG_WEIGHTS
        meta = self.features[0].weight.is_meta  # a shape check: there are no values to set
        if path is None and not meta:
            # random weights as torchvision initialises them, from a fixed seed: every copy
            # of this network (for the image, the content, the style) is the same network
            generator = torch.Generator().manual_seed(0)
            for layer in self.features:
                if isinstance(layer, nn.Conv2d):
                    nn.init.kaiming_normal_(
                        layer.weight, mode="fan_out", nonlinearity="relu", generator=generator
                    )
                    nn.init.zeros_(layer.bias)
        elif path is not None and not meta:
            state = torch.load(path, map_location="cpu", weights_only=True)
            n = len(self.features)
            kept = {{
                key.removeprefix("features."): value
                for key, value in state.items()
                if key.startswith("features.") and int(key.split(".")[1]) < n
            }}
            self.features.load_state_dict(kept)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: always in evaluation mode

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        outputs: list[torch.Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                outputs.append(x)
        while len(outputs) < 5:  # one tensor type throughout, so TorchScript can script it
            outputs.append(x[:0])
        return outputs[0], outputs[1], outputs[2], outputs[3], outputs[4]
'''

# class name → (imports, source)
MODULES: dict[str, tuple[tuple[str, ...], str]] = {
    "LearnableImage": (("import torch",), LEARNABLE_IMAGE),
    "VGG16Features": (
        ("from pathlib import Path", "import torch", "import torchvision"),
        VGG16_FEATURES,
    ),
}


def module_support(names: list[str]) -> tuple[list[str], list[str]]:
    """(import lines, class sources) for the support classes ``names``, in MODULES order."""
    used = [n for n in MODULES if n in names]
    imports = sorted({line for n in used for line in MODULES[n][0]})
    return imports, [MODULES[n][1].strip("\n") for n in used]


def check_vgg_outputs(graph: Graph, node: Node) -> None:
    """A wired VGG output must be computed: it cannot lie deeper than ``last_layer``."""
    order = list(VGG16_LAYERS)
    last = order.index(node.params["last_layer"])
    for e in graph.out_edges(node.id):
        if e.src_port in order and order.index(e.src_port) > last:
            raise CodegenError(
                f"{node.label}: output {e.src_port} is wired but the network "
                f"stops at {node.params['last_layer']}; set last_layer to "
                f"{e.src_port}",
                node.id,
                "last_layer",
            )


# ---------------------------------------------------------------------------- data
STYLE_DATA = '''
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_image(path: Path) -> torch.Tensor:
    """A picture as a [1, 3, H, W] tensor: resized to IMAGE_SIZE, ImageNet-normalised."""
    with Image.open(path) as picture:
        pixels = tf.pil_to_tensor(picture.convert("RGB"))
    pixels = tf.resize(pixels, list(IMAGE_SIZE), antialias=True)
    image = tf.to_dtype(pixels, torch.float32, scale=True)
    return tf.normalize(image, IMAGENET_MEAN, IMAGENET_STD).unsqueeze(0)


def to_pixels(image: torch.Tensor) -> torch.Tensor:
    """A normalised [1, 3, H, W] image back to uint8 pixels [H, W, 3]."""
    mean = torch.tensor(IMAGENET_MEAN, device=image.device).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=image.device).reshape(3, 1, 1)
    pixels = (image.detach()[0] * std + mean).clamp(0, 1)
    return (pixels * 255).round().to(torch.uint8).permute(1, 2, 0).cpu()


def save_image(image: torch.Tensor, path: Path) -> None:
    """Write a normalised [1, 3, H, W] image as a PNG file."""
    tf.to_pil_image(to_pixels(image).permute(2, 0, 1)).save(path, format="PNG")


def make_images(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The content and the style picture, [1, 3, H, W] each."""
    content = load_image(CONTENT_FILE or data_dir / "style_content.png")
    style = load_image(STYLE_FILE or data_dir / "style_style.png")
    return content, style
'''

DATA_IMPORTS = "from PIL import Image\nfrom torchvision.transforms.v2 import functional as tf"


def resolve_image_paths(node: Node, project_dir: Path | None) -> dict[str, str | None]:
    """content_path and style_path made absolute against the project's folder (None: the
    bundled sample)."""
    out: dict[str, str | None] = {}
    for name in ("content_path", "style_path"):
        value = node.params.get(name)
        if not value:
            out[name] = None
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and project_dir is not None:
            path = Path(project_dir) / path
        out[name] = str(path)
    return out


def style_data_code(node: Node, paths: dict[str, str | None] | None = None) -> tuple[str, str]:
    """``(imports, code)`` defining ``make_images`` and the image helpers."""
    paths = paths or resolve_image_paths(node, None)
    p = node.params
    head = [
        f"IMAGE_SIZE = {literal(p['image_size'])}  # height, width",
        f"STEPS_PER_EPOCH = {literal(p['steps_per_epoch'])}",
    ]
    for name, var in (("content_path", "CONTENT_FILE"), ("style_path", "STYLE_FILE")):
        value = paths.get(name)
        head.append(
            f"{var} = None  # None: the bundled sample in data_dir"
            if value is None
            else f"{var} = Path({literal(value)})"
        )
    return DATA_IMPORTS, "\n".join(head) + "\n\n" + STYLE_DATA


def check_style_plan(graph: Graph, plan) -> None:
    """What a style-transfer project needs beyond any training plan."""
    if not any(n.type_id == "nn.LearnableImage" for n in graph.nodes()):
        raise CodegenError(
            f"{plan.data.label}: style images need a Learnable image node to "
            "optimise; wire its content output into one",
            plan.data.id,
        )
    for node in graph.nodes():
        if node.type_id == "nn.VGG16Features":
            check_vgg_outputs(graph, node)
