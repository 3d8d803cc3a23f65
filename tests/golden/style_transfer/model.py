"""StyleTransfer: the model of the torchcanvas project style_transfer.

4 layers: LearnableImage, 3 VGG16Features.
"""

from pathlib import Path

import torch
import torchvision
from torch import nn


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


NO_VGG_WEIGHTS = "no pretrained VGG-16 weights found locally: running with random weights"


def find_vgg16_weights(path: str = "") -> Path | None:
    """A local VGG-16 weights file: ``path``, else one in torch hub's cache. Never downloads."""
    if path:
        file = Path(path)
        if not file.is_absolute():  # a copy beside this file, as an exported folder has it
            file = Path(__file__).parent / file
        if not file.is_file():
            raise FileNotFoundError(f"VGG-16 weights file not found: {file}")
        return file
    found = sorted(Path(torch.hub.get_dir(), "checkpoints").glob("vgg16-*.pth"))
    return found[-1] if found else None


class VGG16Features(nn.Module):
    """Frozen VGG-16 convolutional layers (torchvision). Returns the last ReLU of each stage,
    up to ``last_layer``; the deeper ones are not computed and come back empty (0 samples)."""

    LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}

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
            kept = {
                key.removeprefix("features."): value
                for key, value in state.items()
                if key.startswith("features.") and int(key.split(".")[1]) < n
            }
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


class StyleTransfer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = LearnableImage(3, 64, 64)
        self.vgg_image = VGG16Features(last_layer="relu3_3")
        self.vgg_content = VGG16Features(last_layer="relu2_2")
        self.vgg_style = VGG16Features(last_layer="relu3_3")

    def forward(self, content, style):
        image = self.image(content)
        vgg_image_relu1_2, vgg_image_relu2_2, vgg_image_relu3_3, _, _ = self.vgg_image(image)
        _, vgg_content_relu2_2, _, _, _ = self.vgg_content(content)
        vgg_style_relu1_2, vgg_style_relu2_2, vgg_style_relu3_3, _, _ = self.vgg_style(style)
        gram1 = (
            torch.bmm(vgg_image_relu1_2.flatten(2), vgg_image_relu1_2.flatten(2).transpose(1, 2))
            / vgg_image_relu1_2[0].numel()
        )
        style_gram1 = (
            torch.bmm(vgg_style_relu1_2.flatten(2), vgg_style_relu1_2.flatten(2).transpose(1, 2))
            / vgg_style_relu1_2[0].numel()
        )
        gram2 = (
            torch.bmm(vgg_image_relu2_2.flatten(2), vgg_image_relu2_2.flatten(2).transpose(1, 2))
            / vgg_image_relu2_2[0].numel()
        )
        style_gram2 = (
            torch.bmm(vgg_style_relu2_2.flatten(2), vgg_style_relu2_2.flatten(2).transpose(1, 2))
            / vgg_style_relu2_2[0].numel()
        )
        gram3 = (
            torch.bmm(vgg_image_relu3_3.flatten(2), vgg_image_relu3_3.flatten(2).transpose(1, 2))
            / vgg_image_relu3_3[0].numel()
        )
        style_gram3 = (
            torch.bmm(vgg_style_relu3_3.flatten(2), vgg_style_relu3_3.flatten(2).transpose(1, 2))
            / vgg_style_relu3_3[0].numel()
        )
        return (
            vgg_image_relu2_2,
            vgg_content_relu2_2,
            gram1,
            style_gram1,
            gram2,
            style_gram2,
            gram3,
            style_gram3,
        )
