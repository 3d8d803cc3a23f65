"""Activation functions (torch.nn modules)."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import layer, p

INPLACE = p(
    "inplace",
    "bool",
    False,
    "modify the input in place (saves memory; only safe when nothing else uses the input)",
)


def act(type_id, title, params=(), *, label, help):
    return layer(type_id, title, params, label=label, help=help, category="Activations")


def softmax_dim(what: str):
    # torch's default (None) picks a dim implicitly and warns; we always name it.
    return p(
        "dim",
        "int",
        -1,
        f"dim to {what} over (-1: the last, e.g. the classes of [B, C])",
        torch_default=None,
    )


register(
    [
        act(
            "nn.ReLU",
            "ReLU",
            (INPLACE,),
            label="relu",
            help="max(0, x): the default activation between layers.",
        ),
        act(
            "nn.ReLU6",
            "ReLU6",
            (INPLACE,),
            label="relu",
            help="min(max(0, x), 6): ReLU capped at 6 (mobile networks).",
        ),
        act(
            "nn.LeakyReLU",
            "LeakyReLU",
            (
                p("negative_slope", "float", 0.01, "slope for negative inputs", minimum=0.0),
                INPLACE,
            ),
            label="lrelu",
            help="x for x ≥ 0, negative_slope · x otherwise.",
        ),
        act(
            "nn.PReLU",
            "PReLU",
            (
                p(
                    "num_parameters",
                    "int",
                    1,
                    "learned slopes: 1, or the number of channels (dim 1)",
                    minimum=1,
                ),
                p("init", "float", 0.25, "initial slope for negative inputs"),
            ),
            label="prelu",
            help="Leaky ReLU whose negative slope is learned.",
        ),
        act(
            "nn.ELU",
            "ELU",
            (
                p(
                    "alpha",
                    "float",
                    1.0,
                    "value the output approaches for very negative inputs",
                    minimum=0.0,
                ),
                INPLACE,
            ),
            label="elu",
            help="x for x > 0, alpha · (exp(x) - 1) otherwise.",
        ),
        act(
            "nn.SELU",
            "SELU",
            (INPLACE,),
            label="selu",
            help="Scaled ELU with fixed constants: self-normalising networks.",
        ),
        act(
            "nn.GELU",
            "GELU",
            (
                p(
                    "approximate",
                    "choice",
                    "none",
                    "exact (none) or the faster tanh approximation",
                    choices=("none", "tanh"),
                ),
            ),
            label="gelu",
            help="x · Φ(x), Φ the Gaussian CDF: the transformer activation.",
        ),
        act(
            "nn.SiLU", "SiLU", (INPLACE,), label="silu", help="x · sigmoid(x) (also called swish)."
        ),
        act(
            "nn.Sigmoid",
            "Sigmoid",
            (),
            label="sigmoid",
            help="1 / (1 + exp(-x)): squashes to (0, 1), e.g. probabilities.",
        ),
        act("nn.Tanh", "Tanh", (), label="tanh", help="Hyperbolic tangent: squashes to (-1, 1)."),
        act(
            "nn.Softmax",
            "Softmax",
            (softmax_dim("normalise"),),
            label="softmax",
            help="exp(x) / sum(exp(x)) along dim: probabilities that sum to 1. "
            "Cross-entropy loss wants the logits before it.",
        ),
        act(
            "nn.LogSoftmax",
            "LogSoftmax",
            (softmax_dim("normalise"),),
            label="logsoftmax",
            help="log(softmax(x)) along dim, computed stably; pairs with NLL loss.",
        ),
        act(
            "nn.Softplus",
            "Softplus",
            (
                p("beta", "float", 1.0, "sharpness", minimum=0.0, min_exclusive=True),
                p(
                    "threshold",
                    "float",
                    20.0,
                    "above beta · x > threshold the output is x itself",
                    minimum=0.0,
                ),
            ),
            label="softplus",
            help="log(1 + exp(beta · x)) / beta: a smooth ReLU, always positive.",
        ),
        act(
            "nn.Softsign",
            "Softsign",
            (),
            label="softsign",
            help="x / (1 + |x|): a slowly saturating tanh-like squash.",
        ),
        act(
            "nn.Hardswish",
            "Hardswish",
            (INPLACE,),
            label="hswish",
            help="x · relu6(x + 3) / 6: a cheap SiLU (MobileNetV3).",
        ),
        act(
            "nn.Hardsigmoid",
            "Hardsigmoid",
            (INPLACE,),
            label="hsigmoid",
            help="relu6(x + 3) / 6: a cheap piecewise-linear sigmoid.",
        ),
        act(
            "nn.Hardtanh",
            "Hardtanh",
            (
                p("min_val", "float", -1.0, "lower bound of the output"),
                p("max_val", "float", 1.0, "upper bound of the output (above min_val)"),
                INPLACE,
            ),
            label="htanh",
            help="clamp(x, min_val, max_val): a piecewise-linear tanh.",
        ),
        act("nn.Mish", "Mish", (INPLACE,), label="mish", help="x · tanh(softplus(x))."),
        act(
            "nn.Threshold",
            "Threshold",
            (
                p("threshold", "float", 0.0, "inputs at or below this are replaced", required=True),
                p("value", "float", 0.0, "replacement value", required=True),
                INPLACE,
            ),
            label="threshold",
            help="x where x > threshold, value elsewhere.",
        ),
        act(
            "nn.CELU",
            "CELU",
            (
                p(
                    "alpha",
                    "float",
                    1.0,
                    "value the output approaches for very negative inputs",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                INPLACE,
            ),
            label="celu",
            help="x for x > 0, alpha · (exp(x / alpha) - 1) otherwise: a "
            "continuously differentiable ELU.",
        ),
        act(
            "nn.RReLU",
            "RReLU",
            (
                p("lower", "float", 0.125, "lower bound of the random negative slope", minimum=0.0),
                p("upper", "float", 1 / 3, "upper bound of the random negative slope", minimum=0.0),
                INPLACE,
            ),
            label="rrelu",
            help="Leaky ReLU with a random negative slope while training (their "
            "mean when evaluating).",
        ),
        act(
            "nn.GLU",
            "GLU",
            (p("dim", "int", -1, "dim split in halves a and b (its size must be even)"),),
            label="glu",
            help="Gated linear unit: a · sigmoid(b) for the halves a, b of dim; that dim halves.",
        ),
        act(
            "nn.LogSigmoid",
            "LogSigmoid",
            (),
            label="logsigmoid",
            help="log(sigmoid(x)), computed stably.",
        ),
        act(
            "nn.Softmin",
            "Softmin",
            (softmax_dim("normalise"),),
            label="softmin",
            help="softmax(-x) along dim: large inputs get small probabilities.",
        ),
        act(
            "nn.Softmax2d",
            "Softmax2d",
            (),
            label="softmax",
            help="Softmax over the channels of [B, C, H, W] (or [C, H, W]) at every position.",
        ),
        act(
            "nn.Hardshrink",
            "Hardshrink",
            (p("lambd", "float", 0.5, "inputs within ±lambd become 0", minimum=0.0),),
            label="shrink",
            help="x where |x| > lambd, 0 elsewhere.",
        ),
        act(
            "nn.Softshrink",
            "Softshrink",
            (
                p(
                    "lambd",
                    "float",
                    0.5,
                    "inputs within ±lambd become 0; the rest move lambd towards 0",
                    minimum=0.0,
                ),
            ),
            label="shrink",
            help="x - lambd above lambd, x + lambd below -lambd, 0 between.",
        ),
        act("nn.Tanhshrink", "Tanhshrink", (), label="shrink", help="x - tanh(x)."),
    ]
)
