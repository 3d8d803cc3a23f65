"""Loss functions. Several losses feeding one optimizer are summed, each times its scale.

``extra["task"]`` picks the metrics the trainer reports: "regression", "classification" (logits
and class indices), "binary" (BCE family: probabilities or logits and 0/1 targets), "other".
Class weights and ``pos_weight`` are tensors, not canvas params, so they are left out.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import loss, p

REDUCTION = p("reduction", "choice", "mean", "how to reduce over the batch",
              choices=("mean", "sum", "none"))
IGNORE_INDEX = p("ignore_index", "int", -100, "target value that is ignored (padding)")

register([
    loss("loss.MSE", "MSE loss", "MSELoss", (REDUCTION,), task="regression",
         help="Mean squared error: mean((input - target)²)."),
    loss("loss.L1", "L1 loss", "L1Loss", (REDUCTION,), task="regression",
         help="Mean absolute error: mean(|input - target|); robust to outliers."),
    loss("loss.SmoothL1", "Smooth L1 loss", "SmoothL1Loss", (
        REDUCTION,
        p("beta", "float", 1.0, "error size where the loss turns from squared to linear",
          minimum=0.0),
    ), task="regression", help="Squared error for small errors, absolute error for large ones."),
    loss("loss.Huber", "Huber loss", "HuberLoss", (
        REDUCTION,
        p("delta", "float", 1.0, "error size where the loss turns from squared to linear",
          minimum=0.0, min_exclusive=True),
    ), task="regression",
        help="Huber loss: like smooth L1 but scaled by delta for large errors."),
    loss("loss.CrossEntropy", "Cross-entropy loss", "CrossEntropyLoss", (
        IGNORE_INDEX,
        REDUCTION,
        p("label_smoothing", "float", 0.0, "label smoothing amount", minimum=0.0, maximum=1.0),
    ), task="classification",
        help="Cross-entropy over class logits [B, C] (or [B, C, T]) and class indices [B]."),
    loss("loss.NLL", "NLL loss", "NLLLoss", (IGNORE_INDEX, REDUCTION), task="classification",
         help="Negative log-likelihood of log-probabilities [B, C] (after LogSoftmax) and "
              "class indices [B]."),
    loss("loss.BCE", "BCE loss", "BCELoss", (REDUCTION,), task="binary",
         help="Binary cross-entropy of probabilities in (0, 1) (after Sigmoid) and 0/1 "
              "targets."),
    loss("loss.BCEWithLogits", "BCE with logits loss", "BCEWithLogitsLoss", (REDUCTION,),
         task="binary",
         help="Sigmoid and binary cross-entropy in one, numerically stable: raw scores and 0/1 "
              "targets."),
    loss("loss.KLDiv", "KL divergence loss", "KLDivLoss", (
        p("reduction", "choice", "batchmean", "how to reduce: batchmean (sum / batch size) "
          "is the true KL divergence; mean divides by every element",
          choices=("batchmean", "mean", "sum", "none"), torch_default="mean"),
        p("log_target", "bool", False, "the target is given as log-probabilities too"),
    ), task="other",
        help="Kullback-Leibler divergence; the input must be log-probabilities (LogSoftmax)."),
])
