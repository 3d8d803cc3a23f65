"""Short constructors used by the catalogue modules to declare specs compactly."""

from __future__ import annotations

from typing import Any

from torchcanvas.graph.spec import AUTO, AutoRule, NodeSpec, ParamSpec, PortSpec

X = (PortSpec("x"),)
OUT = (PortSpec("out"),)


def p(name: str, type: str, default: Any = None, help: str = "", **kw: Any) -> ParamSpec:
    return ParamSpec(name, type, default, help, **kw)


def auto(
    name: str, type: str = "int", port: str = "x", dim: int = 1, help: str = "", **kw: Any
) -> ParamSpec:
    """A shape-derived parameter, ``auto`` by default, filled from ``port``'s shape[dim]."""
    rule = AutoRule(
        port=port, dim=dim, as_list=kw.pop("as_list", False), from_data=kw.pop("from_data", None)
    )
    kw.setdefault("minimum", 1)
    kw.setdefault("required", True)
    return ParamSpec(
        name, type, AUTO, help or "inferred from the input shape when auto", auto=rule, **kw
    )


def layer(
    type_id: str,
    title: str,
    params: tuple[ParamSpec, ...] = (),
    *,
    help: str = "",
    label: str = "layer",
    category: str = "Layers",
    inputs=X,
    outputs=OUT,
    torch_name: str | None = None,
    returns: tuple[Any, ...] | None = None,
    **extra: Any,
) -> NodeSpec:
    """A torch.nn module node; ``type_id`` is ``nn.<Class>`` (torch_name: torch.nn.<Class>).
    ``returns`` nests the output ports as the module returns them (``NodeSpec.returns``)."""
    cls = type_id.split(".", 1)[1]
    return NodeSpec(
        type_id=type_id,
        title=title,
        category=category,
        kind="layer",
        inputs=inputs,
        outputs=outputs,
        params=params,
        help=help,
        torch_name=torch_name or f"torch.nn.{cls}",
        label_base=label,
        extra=extra,
        returns=returns,
    )


LOSS_IN = (PortSpec("input", help="the prediction"), PortSpec("target", help="the truth"))
LOSS_OUT = (PortSpec("loss", kind="loss"),)
LOSS_SCALE = ParamSpec(
    "scale", "float", 1.0, "multiplier when several losses are summed", minimum=0.0, ctor=False
)


def loss(
    type_id: str,
    title: str,
    torch_cls: str,
    params: tuple[ParamSpec, ...] = (),
    *,
    task: str,
    help: str = "",
    label: str = "loss",
    inputs: tuple[PortSpec, ...] = LOSS_IN,
    **extra: Any,
) -> NodeSpec:
    """A loss node; ``task`` ("classification", "binary", "regression", "other") picks metrics.
    ``inputs`` are the loss's forward arguments in order (prediction and target by default)."""
    return NodeSpec(
        type_id=type_id,
        title=title,
        category="Losses",
        kind="loss",
        inputs=inputs,
        outputs=LOSS_OUT,
        params=(*params, LOSS_SCALE),
        help=help,
        torch_name=f"torch.nn.{torch_cls}",
        label_base=label,
        extra={"task": task, **extra},
    )


OPTIM_IN = (PortSpec("loss", kind="loss", multi=True, help="losses to minimise (summed)"),)
OPTIM_OUT = (PortSpec("optimizer", kind="optimizer"),)
LR = ParamSpec("lr", "float", 0.001, "learning rate", minimum=0.0, min_exclusive=True)


def optimizer(
    type_id: str, title: str, params: tuple[ParamSpec, ...], *, help: str = "", **extra: Any
) -> NodeSpec:
    cls = type_id.split(".", 1)[1]
    return NodeSpec(
        type_id=type_id,
        title=title,
        category="Optimizers",
        kind="optimizer",
        inputs=OPTIM_IN,
        outputs=OPTIM_OUT,
        params=params,
        help=help,
        torch_name=f"torch.optim.{cls}",
        label_base="optimizer",
        extra=extra,
    )


SCHED_IN = (PortSpec("optimizer", kind="optimizer"),)


def scheduler(
    type_id: str,
    title: str,
    params: tuple[ParamSpec, ...],
    *,
    step: str,
    help: str = "",
    torch_cls: str | None = None,
    **extra: Any,
) -> NodeSpec:
    """An LR scheduler; ``step`` is "epoch", "batch" or "plateau" (steps on validation loss)."""
    cls = torch_cls or type_id.split(".", 1)[1]
    return NodeSpec(
        type_id=type_id,
        title=title,
        category="Schedulers",
        kind="scheduler",
        inputs=SCHED_IN,
        outputs=(),
        params=params,
        help=help,
        torch_name=f"torch.optim.lr_scheduler.{cls}",
        label_base="scheduler",
        extra={"step": step, **extra},
    )
