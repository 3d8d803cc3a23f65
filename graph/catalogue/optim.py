"""Optimizers, learning-rate schedulers and gradient clipping."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import LR, SCHED_IN, optimizer, p, scheduler
from torchcanvas.graph.spec import NodeSpec

WD = p("weight_decay", "float", 0.0, "L2 penalty", minimum=0.0)

register([
    optimizer("optim.SGD", "SGD", (
        LR,
        p("momentum", "float", 0.0, "momentum factor", minimum=0.0),
        p("dampening", "float", 0.0, "dampening for momentum", minimum=0.0),
        WD,
        p("nesterov", "bool", False, "Nesterov momentum (needs momentum > 0)"),
    ), help="Stochastic gradient descent, optionally with momentum."),
    optimizer("optim.Adam", "Adam", (
        LR,
        p("betas", "floats", [0.9, 0.999], "running average coefficients", length=(2, 2),
          minimum=0.0, maximum=1.0),
        p("eps", "float", 1e-8, "term added for numerical stability", minimum=0.0),
        WD,
        p("amsgrad", "bool", False, "use the AMSGrad variant"),
    ), help="Adam: adaptive moment estimation."),
    scheduler("sched.StepLR", "StepLR", (
        p("step_size", "int", 10, "epochs between decays", minimum=1),
        p("gamma", "float", 0.1, "decay factor", minimum=0.0),
    ), step="epoch", help="Multiply the learning rate by gamma every step_size epochs."),
    scheduler("sched.OneCycleLR", "OneCycleLR", (
        p("max_lr", "float", 0.01, "peak learning rate", minimum=0.0, min_exclusive=True),
        p("pct_start", "float", 0.3, "fraction of the cycle spent increasing", minimum=0.0,
          maximum=1.0),
        p("anneal_strategy", "choice", "cos", "annealing shape", choices=("cos", "linear")),
        p("div_factor", "float", 25.0, "initial lr = max_lr / div_factor", minimum=0.0,
          min_exclusive=True),
        p("final_div_factor", "float", 1e4, "final lr = initial lr / final_div_factor",
          minimum=0.0, min_exclusive=True),
    ), step="batch", help="One-cycle policy over the whole run (total steps from the settings)."),
    NodeSpec(
        type_id="clip.GradNorm", title="Clip grad norm", category="Optimizers", kind="clip",
        inputs=SCHED_IN, params=(
            p("max_norm", "float", 1.0, "largest allowed total gradient norm", minimum=0.0,
              min_exclusive=True),
            p("norm_type", "float", 2.0, "type of the norm (2 = Euclidean)", minimum=0.0,
              min_exclusive=True),
        ), torch_name="torch.nn.utils.clip_grad_norm_", label_base="clip",
        help="Rescale gradients so their total norm is at most max_norm before each step.",
    ),
])
