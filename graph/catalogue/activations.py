"""Activation functions (torch.nn modules)."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import layer, p

INPLACE = p("inplace", "bool", False, "modify the input in place")


def act(type_id, title, params=(), *, label, help):
    return layer(type_id, title, params, label=label, help=help, category="Activations")


register([
    act("nn.ReLU", "ReLU", (INPLACE,), label="relu", help="max(0, x)"),
    act("nn.Softmax", "Softmax", (p("dim", "int", None, "dim to normalise over", optional=True),),
        label="softmax", help="exp(x) / sum(exp(x)) along dim."),
])
