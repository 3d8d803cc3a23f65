"""LinearRegression: the model of the torchcanvas project linear_regression.

1 layer: Linear.
"""

from torch import nn


class LinearRegression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        x = self.linear(x)
        return x
