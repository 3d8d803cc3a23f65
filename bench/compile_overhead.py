"""Does the canvas cost anything at training time?

Times forward + backward of the digits CNN compiled from its project file against the same
network written by hand, interleaved round by round in one process (the machine is shared and
noisy, so only the side-by-side ratio means anything). Last line: JSON with ``step_ratio``
(compiled ÷ hand-written; goal ≤ 1.02).
"""

from __future__ import annotations

import json
import statistics
import time

import torch
from torch import nn

from torchcanvas.graph import load
from torchcanvas.runtime.compile import compile_model
from torchcanvas.runtime.data import assets_dir

BATCH = 256
ROUNDS = 15
STEPS = 20


class HandWritten(nn.Module):
    """digits_cnn.json, typed out by a person."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(512, 10)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        return self.classifier(self.flatten(self.pool(x)))


def time_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(STEPS):
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
    return (time.perf_counter() - start) / STEPS


def main() -> None:
    torch.manual_seed(0)
    compiled = compile_model(load(assets_dir() / "examples" / "digits_cnn.json")).new()
    hand = HandWritten()
    hand.load_state_dict(compiled.state_dict())  # same parameters, same names
    x = torch.randn(BATCH, 1, 8, 8)
    y = torch.randint(0, 10, (BATCH,))
    torch.testing.assert_close(compiled(x), hand(x))
    for model in (compiled, hand):  # warm-up
        time_steps(model, x, y)
    ratios, t_compiled, t_hand = [], [], []
    for r in range(ROUNDS):
        order = (compiled, hand) if r % 2 == 0 else (hand, compiled)
        times = {id(m): time_steps(m, x, y) for m in order}
        t_compiled.append(times[id(compiled)])
        t_hand.append(times[id(hand)])
        ratios.append(times[id(compiled)] / times[id(hand)])
    print(f"compiled:     {statistics.median(t_compiled) * 1e3:.3f} ms/step (median)")
    print(f"hand-written: {statistics.median(t_hand) * 1e3:.3f} ms/step (median)")
    print(
        json.dumps(
            {
                "step_ratio": round(statistics.median(ratios), 4),
                "batch": BATCH,
                "rounds": ROUNDS,
                "steps_per_round": STEPS,
            }
        )
    )


if __name__ == "__main__":
    main()
