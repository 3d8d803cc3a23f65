"""HousePriceModel: the model of the torchcanvas project house_prices.

1 layer: Linear.
"""

from torch import nn


class HousePriceModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        x = self.linear(x)
        return x
