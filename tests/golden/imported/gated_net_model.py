"""GatedNet: the model of the torchcanvas project gated_net.

8 layers: Conv2d, ReLU, 2 Gate, AdaptiveAvgPool2d, Flatten, Norm, Linear.
"""

from collections import OrderedDict

import torch
from torch import nn

MARGIN = 0.0


class Gate(nn.Module):
    """Takes its input through the body only when the body's output is positive on average:
    a branch on a tensor's value. Its constructor's arguments are not kept as attributes."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.body = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(channels, hidden, 3, padding=1),
                norm=nn.BatchNorm2d(hidden),
                act=nn.ReLU(),
                back=nn.Conv2d(hidden, channels, 1),
            )
        )
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(channels, 1, 1))])
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self.branches = nn.ModuleDict({"neg": nn.Tanh(), "pos": nn.Identity()})

    def forward(self, x):
        h = self.body(x) * self.gain * self.scales[0]
        if h.mean() > MARGIN:
            return x + self.branches["pos"](h)
        return x + self.branches["neg"](h)


def build_gate():
    """Gate as imported (its constructor's arguments are not known)."""
    gate = Gate.__new__(Gate)
    nn.Module.__init__(gate)
    gate.gain = nn.Parameter(torch.zeros(1, 8, 1, 1))
    gate.calls = nn.Buffer(torch.zeros((), dtype=torch.int64))
    gate.body = nn.Sequential(
        OrderedDict(
            {
                "conv": nn.Conv2d(8, 12, 3, padding=1),
                "norm": nn.BatchNorm2d(12),
                "act": nn.ReLU(),
                "back": nn.Conv2d(12, 8, 1),
            },
        ),
    )
    gate.scales = nn.ParameterList(
        [
            nn.Parameter(torch.zeros(8, 1, 1)),
        ],
    )
    gate.branches = nn.ModuleDict(
        {
            "neg": nn.Tanh(),
            "pos": nn.Identity(),
        },
    )
    return gate


def energy(x):
    return x.pow(2).mean()


class Norm(nn.Module):
    """Rescales when the input's energy is large: a branch on a tensor's value. Its
    constructor's arguments are kept, so the import rebuilds it by calling the constructor."""

    def __init__(self, dim, limit=4.0):
        super().__init__()
        self.dim = dim
        self.limit = limit
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        x = self.proj(x)
        if energy(x) > self.limit:
            x = x / energy(x).sqrt()
        return x


# module paths in the original model and their attributes here, so that its
# state_dict loads as it is (see load_original_names)
ORIGINAL_NAMES = {
    "stem.0": "stem_0",
    "gates.0": "gates_0",
    "gates.1": "gates_1",
}


def load_original_names(module, state_dict, prefix, *_):
    """load_state_dict pre-hook: keys named after the original model's modules (the
    keys of ORIGINAL_NAMES) are renamed to this model's attributes; others stay."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        parts = key.removeprefix(prefix).split(".")
        for i in range(len(parts), 0, -1):
            attr = ORIGINAL_NAMES.get(".".join(parts[:i]))
            if attr is not None:
                state_dict[".".join([prefix + attr, *parts[i:]])] = state_dict.pop(key)
                break


class GatedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem_0 = nn.Conv2d(3, 8, 3, padding=1)
        self.stem_1 = nn.ReLU()
        self.gates_0 = build_gate()
        self.gates_1 = build_gate()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.norm = Norm(dim=8)
        self.head = nn.Linear(8, 5)
        self.register_load_state_dict_pre_hook(load_original_names)

    def forward(self, x):
        x = self.stem_0(x)
        x = self.stem_1(x)
        x = self.gates_0(x)
        x = self.gates_1(x)
        x = self.pool(x)
        x = self.flatten(x)
        x = self.norm(x)
        x = self.head(x)
        return x
