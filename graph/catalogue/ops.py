"""Functional ops: arithmetic, joining and reshaping tensors. Emitted as expressions by codegen."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import OUT
from torchcanvas.graph.spec import NodeSpec, ParamSpec, PortSpec


def op(type_id, title, inputs, params=(), *, label, help):
    return NodeSpec(type_id=type_id, title=title, category="Ops", kind="op",
                    inputs=tuple(inputs), outputs=OUT, params=tuple(params), help=help,
                    label_base=label)


AB = (PortSpec("a"), PortSpec("b"))
MORE = (PortSpec("c", optional=True), PortSpec("d", optional=True))

register([
    op("op.add", "Add", (*AB, *MORE), label="add",
       help="Element-wise sum of the inputs (broadcasting), e.g. a residual connection."),
    op("op.concat", "Concat", (*AB, *MORE),
       (ParamSpec("dim", "int", 1, "dim to join along"),), label="cat",
       help="Join tensors along an existing dim (torch.cat)."),
])
