"""Loss functions. Several losses feeding one optimizer are summed, each times its scale."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import loss, p

REDUCTION = p("reduction", "choice", "mean", "how to reduce over the batch",
              choices=("mean", "sum", "none"))

register([
    loss("loss.MSE", "MSE loss", "MSELoss", (REDUCTION,), task="regression",
         help="Mean squared error: mean((input - target)²)."),
    loss("loss.CrossEntropy", "Cross-entropy loss", "CrossEntropyLoss", (
        p("ignore_index", "int", -100, "target value that is ignored"),
        REDUCTION,
        p("label_smoothing", "float", 0.0, "label smoothing amount", minimum=0.0, maximum=1.0),
    ), task="classification",
        help="Cross-entropy over class logits [B, C] (or [B, C, T]) and class indices [B]."),
])
