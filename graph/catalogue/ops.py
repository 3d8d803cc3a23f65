"""Functional ops: arithmetic, joining and reshaping tensors. Emitted as expressions by codegen.

Every op has fixed named input ports (``a``, ``b`` and optional ``c``, ``d`` where several
inputs make sense, else ``x``) and one output ``out``; ``codegen/ops.py`` writes each as a single
Python expression. Dims count the batch as dim 0 unless a param says otherwise.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import OUT, X
from torchcanvas.graph.spec import NodeSpec, ParamSpec, PortSpec


def op(type_id, title, inputs, params=(), *, label, help):
    return NodeSpec(
        type_id=type_id,
        title=title,
        category="Ops",
        kind="op",
        inputs=tuple(inputs),
        outputs=OUT,
        params=tuple(params),
        help=help,
        label_base=label,
    )


AB = (PortSpec("a"), PortSpec("b"))
MORE = (PortSpec("c", optional=True), PortSpec("d", optional=True))


def dim(default: int = 1, help: str = "dim to work along (0 is the batch)") -> ParamSpec:
    return ParamSpec("dim", "int", default, help)


def reduce_params(what: str) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "dim",
            "ints",
            [1],
            f"dims to {what} over (empty: all dims, batch included, giving one number)",
            length=(1, 8),
            optional=True,
        ),
        ParamSpec("keepdim", "bool", False, "keep the reduced dims with size 1"),
    )


register(
    [
        # ------------------------------------------------------------------ arithmetic
        op(
            "op.add",
            "Add",
            (*AB, *MORE),
            label="add",
            help="Element-wise sum of the inputs (broadcasting), e.g. a residual connection.",
        ),
        op(
            "op.sub",
            "Subtract",
            AB,
            label="sub",
            help="Element-wise difference a - b (broadcasting).",
        ),
        op(
            "op.multiply",
            "Multiply",
            (*AB, *MORE),
            label="mul",
            help="Element-wise product of the inputs (broadcasting), e.g. gating.",
        ),
        op(
            "op.divide",
            "Divide",
            AB,
            label="div",
            help="Element-wise quotient a / b (broadcasting).",
        ),
        op(
            "op.matmul",
            "MatMul",
            AB,
            label="matmul",
            help="Matrix product a @ b (batched over leading dims), e.g. [B, n, k] @ [B, k, m].",
        ),
        op(
            "op.scale",
            "Scale",
            X,
            (ParamSpec("factor", "float", 0.5, "constant to multiply by"),),
            label="scale",
            help="Multiply by a constant: x · factor.",
        ),
        op(
            "op.pow",
            "Power",
            X,
            (ParamSpec("exponent", "float", 2.0, "power to raise each element to"),),
            label="pow",
            help="Element-wise power x ** exponent.",
        ),
        op(
            "op.clamp",
            "Clamp",
            X,
            (
                ParamSpec("min", "float", 0.0, "lower bound (empty: none)", optional=True),
                ParamSpec(
                    "max",
                    "float",
                    1.0,
                    "upper bound (empty: none); set at least one bound",
                    optional=True,
                ),
            ),
            label="clamp",
            help="Limit every element to [min, max].",
        ),
        op(
            "op.detach",
            "Detach",
            X,
            label="detach",
            help="Pass the values on but stop gradients flowing back through this edge.",
        ),
        # ------------------------------------------------------------------ joining
        op(
            "op.concat",
            "Concat",
            (*AB, *MORE),
            (dim(1, "dim to join along (0 is the batch)"),),
            label="cat",
            help="Join tensors along an existing dim (torch.cat).",
        ),
        op(
            "op.stack",
            "Stack",
            (*AB, *MORE),
            (dim(1, "new dim the inputs are stacked along (0 is the batch)"),),
            label="stack",
            help="Stack same-shaped tensors along a new dim (torch.stack).",
        ),
        # ------------------------------------------------------------------ shape
        op(
            "op.reshape",
            "Reshape",
            X,
            (
                ParamSpec(
                    "shape",
                    "ints",
                    [-1],
                    "new shape of each sample (one entry may be -1)",
                    minimum=-1,
                    length=(1, 8),
                ),
                ParamSpec(
                    "keep_batch",
                    "bool",
                    True,
                    "keep dim 0 (the batch) and reshape each sample; "
                    "off: shape is the whole tensor's shape",
                ),
            ),
            label="reshape",
            help="Give the tensor a new shape with the same number of elements.",
        ),
        op(
            "op.permute",
            "Permute",
            X,
            (
                ParamSpec(
                    "dims",
                    "ints",
                    [0, 2, 1],
                    "new order of all dims, batch (0) included",
                    length=(1, 8),
                ),
            ),
            label="permute",
            help="Reorder dims, e.g. [B, T, F] → [B, F, T] with dims 0, 2, 1.",
        ),
        op(
            "op.transpose",
            "Transpose",
            X,
            (
                ParamSpec("dim0", "int", 1, "first dim to swap"),
                ParamSpec("dim1", "int", 2, "second dim to swap"),
            ),
            label="transpose",
            help="Swap two dims.",
        ),
        op(
            "op.squeeze",
            "Squeeze",
            X,
            (
                ParamSpec(
                    "dim",
                    "int",
                    -1,
                    "size-1 dim to remove (empty: every size-1 dim, which "
                    "drops the batch dim when it is 1)",
                    optional=True,
                ),
            ),
            label="squeeze",
            help="Remove a dim of size 1, e.g. [B, 1] → [B].",
        ),
        op(
            "op.unsqueeze",
            "Unsqueeze",
            X,
            (dim(1, "where the new size-1 dim goes (0 is the batch)"),),
            label="unsqueeze",
            help="Insert a dim of size 1, e.g. [B, H, W] → [B, 1, H, W].",
        ),
        # ------------------------------------------------------------------ reductions
        op(
            "op.mean",
            "Mean",
            X,
            reduce_params("average"),
            label="mean",
            help="Average over dims, e.g. over time steps (dim 1) or image positions (dims 2, 3).",
        ),
        op("op.sum", "Sum", X, reduce_params("add up"), label="sum", help="Sum over dims."),
        op(
            "op.max",
            "Max",
            X,
            (
                dim(1, "dim to take the maximum over"),
                ParamSpec("keepdim", "bool", False, "keep the reduced dim with size 1"),
            ),
            label="max",
            help="Largest value along a dim (values only, e.g. max pooling over time).",
        ),
        op(
            "op.min",
            "Min",
            X,
            (
                dim(1, "dim to take the minimum over"),
                ParamSpec("keepdim", "bool", False, "keep the reduced dim with size 1"),
            ),
            label="min",
            help="Smallest value along a dim (values only).",
        ),
        # ------------------------------------------------------------------ indexing
        op(
            "op.select",
            "Select index",
            X,
            (
                dim(1, "dim to index (0 is the batch)"),
                ParamSpec("index", "int", -1, "position to keep (-1: the last)"),
            ),
            label="select",
            help="Take one position along a dim and drop that dim, e.g. the last "
            "time step: x[:, -1].",
        ),
        op(
            "op.slice",
            "Slice",
            X,
            (
                dim(1, "dim to slice (0 is the batch)"),
                ParamSpec(
                    "start", "int", 0, "first position (empty: from the start)", optional=True
                ),
                ParamSpec(
                    "end", "int", None, "position to stop before (empty: to the end)", optional=True
                ),
                ParamSpec("step", "int", 1, "take every step-th position", minimum=1),
            ),
            label="slice",
            help="Keep a range of positions along a dim: x[:, start:end:step].",
        ),
        # ------------------------------------------------------------------ style
        op(
            "op.gram",
            "Gram matrix",
            X,
            label="gram",
            help="Channel correlations for style losses: [B, C, H, W] → [B, C, C], divided by "
            "C·H·W.",
        ),
    ]
)
