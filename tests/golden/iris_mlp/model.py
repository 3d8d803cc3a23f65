"""IrisMLP: the model of the torchcanvas project iris_mlp.

3 layers: 2 Linear, ReLU.
"""

from torch import nn


class IrisMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, 16)
        self.relu = nn.ReLU()
        self.classifier = nn.Linear(16, 3)

    def forward(self, x):
        x = self.hidden(x)
        x = self.relu(x)
        x = self.classifier(x)
        return x
