"""ShapesTransfer: the model of the torchcanvas project transfer_learning.

2 layers: ResNet-18 backbone, Linear.
"""

from torch import nn
from torchvision import models


def build_backbone() -> nn.Module:
    """ResNet-18 (torchvision), head dropped: 512 features, frozen."""
    model = models.resnet18(weights=None)
    # no weights file chosen: the network starts from random weights
    model.fc = nn.Identity()  # the head
    model.requires_grad_(False)  # frozen: not trained
    return model


class ShapesTransfer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = build_backbone()
        self.head = nn.Linear(512, 3)
        self.train()  # frozen batch norm layers start in eval mode

    def forward(self, x):
        x = self.backbone(x)
        x = self.head(x)
        return x

    def train(self, mode: bool = True):
        """Training mode, except for frozen batch norm layers: their statistics stay fixed."""
        super().train(mode)
        for module in self.modules():
            weight = module.weight if isinstance(module, nn.BatchNorm2d) else None
            if weight is not None and not weight.requires_grad:
                module.eval()
        return self
