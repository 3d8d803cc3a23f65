"""Loss functions. Several losses feeding one optimizer are summed, each times its scale.

``extra["task"]`` picks the metrics the trainer reports: "regression", "classification" (logits
and class indices), "binary" (BCE family: probabilities or logits and 0/1 targets), "other".
Class weights and ``pos_weight`` are tensors, not canvas params, so they are left out. Losses
that take more than a prediction and a target (triplets, pairs, CTC's lengths) have one input
port per forward argument, in torch's order.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import loss, p
from torchcanvas.graph.spec import PortSpec

REDUCTION = p(
    "reduction", "choice", "mean", "how to reduce over the batch", choices=("mean", "sum", "none")
)
IGNORE_INDEX = p("ignore_index", "int", -100, "target value that is ignored (padding)")

TRIPLET = (
    PortSpec("anchor", help="[B, D] embeddings"),
    PortSpec("positive", help="[B, D] embeddings of the same kind as the anchor"),
    PortSpec("negative", help="[B, D] embeddings of another kind"),
)

register(
    [
        loss(
            "loss.MSE",
            "MSE loss",
            "MSELoss",
            (REDUCTION,),
            task="regression",
            help="Mean squared error: mean((input - target)²).",
        ),
        loss(
            "loss.L1",
            "L1 loss",
            "L1Loss",
            (REDUCTION,),
            task="regression",
            help="Mean absolute error: mean(|input - target|); robust to outliers.",
        ),
        loss(
            "loss.SmoothL1",
            "Smooth L1 loss",
            "SmoothL1Loss",
            (
                REDUCTION,
                p(
                    "beta",
                    "float",
                    1.0,
                    "error size where the loss turns from squared to linear",
                    minimum=0.0,
                ),
            ),
            task="regression",
            help="Squared error for small errors, absolute error for large ones.",
        ),
        loss(
            "loss.Huber",
            "Huber loss",
            "HuberLoss",
            (
                REDUCTION,
                p(
                    "delta",
                    "float",
                    1.0,
                    "error size where the loss turns from squared to linear",
                    minimum=0.0,
                    min_exclusive=True,
                ),
            ),
            task="regression",
            help="Huber loss: like smooth L1 but scaled by delta for large errors.",
        ),
        loss(
            "loss.CrossEntropy",
            "Cross-entropy loss",
            "CrossEntropyLoss",
            (
                IGNORE_INDEX,
                REDUCTION,
                p(
                    "label_smoothing",
                    "float",
                    0.0,
                    "label smoothing amount",
                    minimum=0.0,
                    maximum=1.0,
                ),
            ),
            task="classification",
            help="Cross-entropy over class logits [B, C] (or [B, C, T]) and class indices [B].",
        ),
        loss(
            "loss.NLL",
            "NLL loss",
            "NLLLoss",
            (IGNORE_INDEX, REDUCTION),
            task="classification",
            help="Negative log-likelihood of log-probabilities [B, C] (after LogSoftmax) and "
            "class indices [B].",
        ),
        loss(
            "loss.BCE",
            "BCE loss",
            "BCELoss",
            (REDUCTION,),
            task="binary",
            help="Binary cross-entropy of probabilities in (0, 1) (after Sigmoid) and 0/1 targets.",
        ),
        loss(
            "loss.BCEWithLogits",
            "BCE with logits loss",
            "BCEWithLogitsLoss",
            (REDUCTION,),
            task="binary",
            help="Sigmoid and binary cross-entropy in one, numerically stable: raw scores and 0/1 "
            "targets.",
        ),
        loss(
            "loss.KLDiv",
            "KL divergence loss",
            "KLDivLoss",
            (
                p(
                    "reduction",
                    "choice",
                    "batchmean",
                    "how to reduce: batchmean (sum / batch size) "
                    "is the true KL divergence; mean divides by every element",
                    choices=("batchmean", "mean", "sum", "none"),
                    torch_default="mean",
                ),
                p("log_target", "bool", False, "the target is given as log-probabilities too"),
            ),
            task="other",
            help="Kullback-Leibler divergence; the input must be log-probabilities (LogSoftmax).",
        ),
        loss(
            "loss.PoissonNLL",
            "Poisson NLL loss",
            "PoissonNLLLoss",
            (
                p("log_input", "bool", True, "the input is the log of the rate (exp is applied)"),
                p("full", "bool", False, "add the Stirling approximation term"),
                p(
                    "eps",
                    "float",
                    1e-8,
                    "keeps log(input) finite when log_input is off",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                REDUCTION,
            ),
            task="regression",
            help="Negative log-likelihood of counts under a Poisson distribution with the "
            "predicted rate.",
        ),
        loss(
            "loss.GaussianNLL",
            "Gaussian NLL loss",
            "GaussianNLLLoss",
            (
                p("full", "bool", False, "add the constant term log(2π)/2"),
                p(
                    "eps",
                    "float",
                    1e-6,
                    "lower bound of the variance",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                REDUCTION,
            ),
            task="regression",
            inputs=(
                PortSpec("input", help="the predicted mean"),
                PortSpec("target", help="the truth"),
                PortSpec(
                    "var",
                    help="the predicted variance (positive; same shape as input, or one "
                    "per sample)",
                ),
            ),
            help="Negative log-likelihood of the target under a Gaussian with the predicted mean "
            "and variance: regression that also learns its uncertainty.",
        ),
        loss(
            "loss.MultiMargin",
            "Multi-class margin loss",
            "MultiMarginLoss",
            (
                p("p", "choice", 1, "1: hinge, 2: squared hinge", choices=(1, 2)),
                p("margin", "float", 1.0, "how far the true class's score must lead"),
                REDUCTION,
            ),
            task="classification",
            help="Multi-class hinge (SVM) loss of class scores [B, C] and class indices [B].",
        ),
        loss(
            "loss.MultiLabelSoftMargin",
            "Multi-label soft margin loss",
            "MultiLabelSoftMarginLoss",
            (REDUCTION,),
            task="other",
            help="Multi-label one-versus-all loss of scores [B, C] and 0/1 targets [B, C] "
            "(several classes may be true).",
        ),
        loss(
            "loss.MultiLabelMargin",
            "Multi-label margin loss",
            "MultiLabelMarginLoss",
            (REDUCTION,),
            task="other",
            help="Multi-label hinge loss of scores [B, C] and targets [B, C] holding the true "
            "class indices, padded with -1.",
        ),
        loss(
            "loss.SoftMargin",
            "Soft margin loss",
            "SoftMarginLoss",
            (REDUCTION,),
            task="other",
            help="Two-class logistic loss log(1 + exp(-y · x)) with targets y of 1 or -1.",
        ),
        loss(
            "loss.HingeEmbedding",
            "Hinge embedding loss",
            "HingeEmbeddingLoss",
            (
                p(
                    "margin",
                    "float",
                    1.0,
                    "distances beyond this cost nothing for dissimilar pairs",
                ),
                REDUCTION,
            ),
            task="other",
            help="For distances x and labels y of 1 (similar) or -1 (dissimilar): x "
            "for similar pairs, max(0, margin - x) for dissimilar ones.",
        ),
        loss(
            "loss.CosineEmbedding",
            "Cosine embedding loss",
            "CosineEmbeddingLoss",
            (
                p(
                    "margin",
                    "float",
                    0.0,
                    "cosine similarity above which dissimilar pairs cost "
                    "(-1 to 1; 0 to 0.5 suggested)",
                    minimum=-1.0,
                    maximum=1.0,
                ),
                REDUCTION,
            ),
            task="other",
            inputs=(
                PortSpec("input1", help="[B, D] first embeddings"),
                PortSpec("input2", help="[B, D] second embeddings"),
                PortSpec("target", help="[B] 1 for similar pairs, -1 for dissimilar ones"),
            ),
            help="Pulls similar pairs of embeddings together and pushes dissimilar ones apart, by "
            "cosine similarity.",
        ),
        loss(
            "loss.MarginRanking",
            "Margin ranking loss",
            "MarginRankingLoss",
            (
                p("margin", "float", 0.0, "how far the higher-ranked score must lead"),
                REDUCTION,
            ),
            task="other",
            inputs=(
                PortSpec("input1", help="[B] first scores"),
                PortSpec("input2", help="[B] second scores"),
                PortSpec("target", help="[B] 1 where input1 should rank higher, -1 where input2"),
            ),
            help="max(0, -y · (x1 - x2) + margin): learns to rank pairs of scores.",
        ),
        loss(
            "loss.TripletMargin",
            "Triplet margin loss",
            "TripletMarginLoss",
            (
                p("margin", "float", 1.0, "how much closer the positive must be than the negative"),
                p("p", "float", 2.0, "the norm degree of the distance (2: Euclidean)"),
                p("eps", "float", 1e-6, "added to the differences (no zero norms)", minimum=0.0),
                p(
                    "swap",
                    "bool",
                    False,
                    "use the positive-negative distance when it is smaller (distance swap)",
                ),
                REDUCTION,
            ),
            task="other",
            inputs=TRIPLET,
            help="Metric learning: the anchor's embedding should be "
            "closer to the positive's than to the negative's, by a margin.",
        ),
        loss(
            "loss.TripletMarginWithDistance",
            "Triplet margin loss (distance)",
            "TripletMarginWithDistanceLoss",
            (
                p(
                    "margin",
                    "float",
                    1.0,
                    "how much closer the positive must be than the negative",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                p(
                    "swap",
                    "bool",
                    False,
                    "use the positive-negative distance when it is smaller (distance swap)",
                ),
                REDUCTION,
            ),
            task="other",
            inputs=TRIPLET,
            help="Triplet margin loss with torch's default distance (pairwise Euclidean).",
        ),
        loss(
            "loss.CTC",
            "CTC loss",
            "CTCLoss",
            (
                p("blank", "int", 0, "index of the blank label", minimum=0),
                REDUCTION,
                p(
                    "zero_infinity",
                    "bool",
                    False,
                    "replace infinite losses (impossible alignments) by zero",
                ),
            ),
            task="other",
            inputs=(
                PortSpec(
                    "log_probs",
                    help="[T, B, C] log-probabilities over classes per time step "
                    "(after LogSoftmax)",
                ),
                PortSpec(
                    "targets",
                    help="[B, S] target class indices (no blanks), or all targets concatenated",
                ),
                PortSpec("input_lengths", help="[B] length of each input sequence"),
                PortSpec("target_lengths", help="[B] length of each target sequence"),
            ),
            help="Connectionist temporal classification: aligns unsegmented sequences (speech, "
            "handwriting) with shorter label sequences.",
        ),
    ]
)
