"""Optimizers, learning-rate schedulers and gradient clipping.

Defaults are torch's own (``tests/test_catalogue_torch.py`` checks them), so generated code only
spells what the user changed. ``extra["step"]`` of a scheduler says when the trainer steps it:
"epoch", "batch" or "plateau" (after each epoch, with the validation loss).
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import LR, SCHED_IN, optimizer, p, scheduler
from torchcanvas.graph.spec import NodeSpec, ParamSpec

WD = p("weight_decay", "float", 0.0, "L2 penalty", minimum=0.0)
BETAS = p(
    "betas",
    "floats",
    [0.9, 0.999],
    "running average coefficients of the gradient and its square",
    length=(2, 2),
    minimum=0.0,
    maximum=1.0,
)
ADAM_EPS = p("eps", "float", 1e-8, "term added for numerical stability", minimum=0.0)
AMSGRAD = p("amsgrad", "bool", False, "use the AMSGrad variant")
GAMMA = p(
    "gamma",
    "float",
    0.1,
    "factor the learning rate is multiplied by",
    minimum=0.0,
    min_exclusive=True,
)


def lr(default: float) -> ParamSpec:
    return p("lr", "float", default, "learning rate", minimum=0.0, min_exclusive=True)


def clip(type_id: str, title: str, params, *, torch_name: str, help: str) -> NodeSpec:
    return NodeSpec(
        type_id=type_id,
        title=title,
        category="Optimizers",
        kind="clip",
        inputs=SCHED_IN,
        params=tuple(params),
        torch_name=torch_name,
        label_base="clip",
        help=help,
    )


register(
    [
        # ------------------------------------------------------------------ optimizers
        optimizer(
            "optim.SGD",
            "SGD",
            (
                LR,
                p("momentum", "float", 0.0, "momentum factor (0.9 is common)", minimum=0.0),
                p("dampening", "float", 0.0, "dampening for momentum", minimum=0.0),
                WD,
                p("nesterov", "bool", False, "Nesterov momentum (needs momentum > 0)"),
            ),
            help="Stochastic gradient descent, optionally with momentum.",
        ),
        optimizer(
            "optim.Adam",
            "Adam",
            (LR, BETAS, ADAM_EPS, WD, AMSGRAD),
            help="Adam: adaptive moment estimation; a good first choice.",
        ),
        optimizer(
            "optim.AdamW",
            "AdamW",
            (
                LR,
                BETAS,
                ADAM_EPS,
                p("weight_decay", "float", 0.01, "decoupled weight decay", minimum=0.0),
                AMSGRAD,
            ),
            help="Adam with decoupled weight decay: the usual choice for transformers.",
        ),
        optimizer(
            "optim.RMSprop",
            "RMSprop",
            (
                lr(0.01),
                p(
                    "alpha",
                    "float",
                    0.99,
                    "smoothing constant of the squared-gradient average",
                    minimum=0.0,
                    maximum=1.0,
                ),
                p("eps", "float", 1e-8, "term added for numerical stability", minimum=0.0),
                WD,
                p("momentum", "float", 0.0, "momentum factor", minimum=0.0),
                p("centered", "bool", False, "normalise by the estimated gradient variance"),
            ),
            help="RMSprop: divide the gradient by a running average of its magnitude.",
        ),
        optimizer(
            "optim.Adagrad",
            "Adagrad",
            (
                lr(0.01),
                p("lr_decay", "float", 0.0, "learning rate decay per step", minimum=0.0),
                WD,
                p(
                    "initial_accumulator_value",
                    "float",
                    0.0,
                    "starting value of the squared-gradient sums",
                    minimum=0.0,
                ),
                p("eps", "float", 1e-10, "term added for numerical stability", minimum=0.0),
            ),
            help="Adagrad: per-parameter rates that shrink with the gradients seen so far.",
        ),
        optimizer(
            "optim.LBFGS",
            "L-BFGS",
            (
                lr(1.0),
                p("max_iter", "int", 20, "iterations per optimisation step", minimum=1),
                p(
                    "max_eval",
                    "int",
                    None,
                    "function evaluations per step (empty: max_iter × 1.25)",
                    minimum=1,
                    optional=True,
                ),
                p(
                    "tolerance_grad",
                    "float",
                    1e-7,
                    "stop a step when the gradient is this small",
                    minimum=0.0,
                ),
                p(
                    "tolerance_change",
                    "float",
                    1e-9,
                    "stop a step when the loss or parameters change less than this",
                    minimum=0.0,
                ),
                p(
                    "history_size",
                    "int",
                    100,
                    "past updates kept to estimate the curvature",
                    minimum=1,
                ),
                p(
                    "line_search_fn",
                    "choice",
                    None,
                    "line search (empty: a fixed step of lr)",
                    choices=(None, "strong_wolfe"),
                    optional=True,
                ),
            ),
            help="L-BFGS: a quasi-Newton method that re-evaluates the loss several times per step "
            "(full-batch problems such as style transfer).",
        ),
        # ------------------------------------------------------------------ schedulers
        scheduler(
            "sched.StepLR",
            "StepLR",
            (
                p("step_size", "int", 10, "epochs between decays", minimum=1, required=True),
                GAMMA,
            ),
            step="epoch",
            help="Multiply the learning rate by gamma every step_size epochs.",
        ),
        scheduler(
            "sched.MultiStepLR",
            "MultiStepLR",
            (
                p(
                    "milestones",
                    "ints",
                    [30, 80],
                    "epochs at which the rate is multiplied by gamma (increasing)",
                    minimum=1,
                    length=(1, 64),
                    required=True,
                ),
                GAMMA,
            ),
            step="epoch",
            help="Multiply the learning rate by gamma at each milestone epoch.",
        ),
        scheduler(
            "sched.ExponentialLR",
            "ExponentialLR",
            (
                p(
                    "gamma",
                    "float",
                    0.95,
                    "factor the learning rate is multiplied by every epoch",
                    minimum=0.0,
                    min_exclusive=True,
                    required=True,
                ),
            ),
            step="epoch",
            help="Multiply the learning rate by gamma after every epoch.",
        ),
        scheduler(
            "sched.CosineAnnealingLR",
            "CosineAnnealingLR",
            (
                p(
                    "T_max",
                    "int",
                    10,
                    "epochs from the initial rate down to eta_min (usually the number of epochs)",
                    minimum=1,
                    required=True,
                ),
                p("eta_min", "float", 0.0, "lowest learning rate", minimum=0.0),
            ),
            step="epoch",
            help="Lower the learning rate along a half cosine over T_max epochs.",
        ),
        scheduler(
            "sched.ReduceLROnPlateau",
            "ReduceLROnPlateau",
            (
                p(
                    "mode",
                    "choice",
                    "min",
                    "min: the monitored validation loss should fall; max: rise",
                    choices=("min", "max"),
                ),
                p(
                    "factor",
                    "float",
                    0.1,
                    "factor the learning rate is multiplied by",
                    minimum=0.0,
                    min_exclusive=True,
                    maximum=1.0,
                    max_exclusive=True,
                ),
                p(
                    "patience",
                    "int",
                    10,
                    "epochs without improvement before lowering the rate",
                    minimum=0,
                ),
                p(
                    "threshold",
                    "float",
                    1e-4,
                    "smallest change that counts as an improvement",
                    minimum=0.0,
                ),
                p(
                    "threshold_mode",
                    "choice",
                    "rel",
                    "threshold relative to the best value or absolute",
                    choices=("rel", "abs"),
                ),
                p("cooldown", "int", 0, "epochs to wait after a reduction", minimum=0),
                p("min_lr", "float", 0.0, "lowest learning rate", minimum=0.0),
                p("eps", "float", 1e-8, "smaller changes of the rate are skipped", minimum=0.0),
            ),
            step="plateau",
            help="Lower the learning rate when the validation loss stops improving.",
        ),
        scheduler(
            "sched.OneCycleLR",
            "OneCycleLR",
            (
                p(
                    "max_lr",
                    "float",
                    0.01,
                    "peak learning rate",
                    minimum=0.0,
                    min_exclusive=True,
                    required=True,
                ),
                p(
                    "pct_start",
                    "float",
                    0.3,
                    "fraction of the cycle spent increasing",
                    minimum=0.0,
                    maximum=1.0,
                ),
                p("anneal_strategy", "choice", "cos", "annealing shape", choices=("cos", "linear")),
                p(
                    "cycle_momentum",
                    "bool",
                    True,
                    "cycle momentum inversely to the rate (needs an "
                    "optimizer with momentum or betas)",
                ),
                p(
                    "base_momentum",
                    "float",
                    0.85,
                    "lowest momentum in the cycle",
                    minimum=0.0,
                    maximum=1.0,
                ),
                p(
                    "max_momentum",
                    "float",
                    0.95,
                    "highest momentum in the cycle",
                    minimum=0.0,
                    maximum=1.0,
                ),
                p(
                    "div_factor",
                    "float",
                    25.0,
                    "initial lr = max_lr / div_factor",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                p(
                    "final_div_factor",
                    "float",
                    1e4,
                    "final lr = initial lr / final_div_factor",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                p("three_phase", "bool", False, "a third phase annealing to the final rate"),
            ),
            step="batch",
            help="One-cycle policy over the whole run, stepped every batch; the "
            "trainer passes epochs and steps_per_epoch from the run settings.",
        ),
        scheduler(
            "sched.LinearLR",
            "LinearLR",
            (
                p(
                    "start_factor",
                    "float",
                    1.0 / 3,
                    "multiplier of the rate in the first epoch",
                    minimum=0.0,
                    min_exclusive=True,
                    maximum=1.0,
                ),
                p(
                    "end_factor",
                    "float",
                    1.0,
                    "multiplier of the rate after total_iters epochs",
                    minimum=0.0,
                    maximum=1.0,
                ),
                p("total_iters", "int", 5, "epochs the change takes", minimum=1),
            ),
            step="epoch",
            help="Change the learning rate linearly over the first epochs (warm-up).",
        ),
        # ------------------------------------------------------------------ gradient clipping
        clip(
            "clip.GradNorm",
            "Clip grad norm",
            (
                p(
                    "max_norm",
                    "float",
                    1.0,
                    "largest allowed total gradient norm",
                    minimum=0.0,
                    min_exclusive=True,
                    required=True,
                ),
                p(
                    "norm_type",
                    "float",
                    2.0,
                    "type of the norm (2 = Euclidean)",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                p(
                    "error_if_nonfinite",
                    "bool",
                    False,
                    "stop with an error when the norm is NaN or infinite",
                ),
            ),
            torch_name="torch.nn.utils.clip_grad_norm_",
            help="Rescale gradients so their total norm is at most max_norm before each step.",
        ),
        clip(
            "clip.GradValue",
            "Clip grad value",
            (
                p(
                    "clip_value",
                    "float",
                    1.0,
                    "largest allowed absolute value of each gradient element",
                    minimum=0.0,
                    min_exclusive=True,
                    required=True,
                ),
            ),
            torch_name="torch.nn.utils.clip_grad_value_",
            help="Clamp every gradient element to [-clip_value, clip_value] before each step.",
        ),
    ]
)
