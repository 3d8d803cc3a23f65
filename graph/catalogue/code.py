"""Code nodes: parts of an imported model that no catalogue node expresses, kept as code.

Importing a PyTorch model (``runtime/importer.py``) maps what it can onto layers and ops; the rest
becomes one of these, so the graph still compiles to the same network:

* ``code.Module``: a submodule, written ``self.<attr> = <init>`` and called ``self.<attr>(x)``.
  Its class is imported (``imports``) or, when it came from the user's own file, copied
  (``source``). An opaque module (one whose forward cannot be traced, kept whole with its
  submodules) says why in ``note``.
* ``code.Function``: a function or tensor-method call, written as the expression ``expr`` over
  its inputs ``x``, ``x2``, ``x3``, ``x4``.
* ``code.Tensor``: a parameter or buffer the forward reads directly (ViT's class token, a layer
  scale), written ``self.<attr> = nn.Parameter(torch.zeros(shape))`` (or ``nn.Buffer``); its
  values come from the original model's state_dict.

Their text is code, unlike every other param: nothing runs it when a project is opened or its
shapes are inferred. Shape inference takes the output shape recorded at import (``shape``, per
sample after the batch dim); the code runs only when the user compiles, trains or exports the
model. The canvas draws them in their own colour, with "code" in the subtitle. Both are internal:
the palette does not list them.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.spec import NodeSpec, ParamSpec, PortSpec

CODE_INPUTS = ("x", "x2", "x3", "x4", "x5", "x6", "x7", "x8")

IMPORT_LINE = (
    r"(import [A-Za-z_][\w.]*( as [A-Za-z_]\w*)?"
    r"|from [A-Za-z_][\w.]* import [A-Za-z_]\w*( as [A-Za-z_]\w*)?)"
)
IMPORT_HINT = "import lines such as 'import torchvision' or 'from torch import nn'"
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool")


def _imports() -> ParamSpec:
    return ParamSpec(
        "imports",
        "strs",
        [],
        "import lines the code needs (one per item)",
        length=(0, 32),
        ctor=False,
    )


def _common() -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "source",
            "str",
            "",
            "definitions copied from the imported file (classes, "
            "functions), written into model.py before the model",
            ctor=False,
        ),
        ParamSpec(
            "shape",
            "ints",
            [],
            "output shape of one sample (the dims after the batch), "
            "recorded at import: shape inference never runs code",
            minimum=0,
            length=(0, 8),
            ctor=False,
        ),
        ParamSpec(
            "batched",
            "bool",
            True,
            "the output has the batch as dim 0 (off: the output's whole shape is 'shape')",
            ctor=False,
        ),
        ParamSpec(
            "dtype", "choice", "float32", "element type of the output", choices=DTYPES, ctor=False
        ),
    )


INPUTS = (PortSpec("x"), *(PortSpec(name, optional=True) for name in CODE_INPUTS[1:]))
TITLE = ParamSpec("title", "str", "code", "what the code is (shown on the canvas)", ctor=False)

register(
    [
        NodeSpec(
            "code.Module",
            "Code module",
            "Code",
            "code",
            inputs=INPUTS,
            outputs=(PortSpec("out"),),
            params=(
                TITLE,
                ParamSpec(
                    "init",
                    "str",
                    "nn.Identity()",
                    "constructor expression: the attribute is set to this in __init__",
                    ctor=False,
                ),
                _imports(),
                *_common(),
                ParamSpec(
                    "param_count",
                    "int",
                    0,
                    "parameters of the module (recorded at import)",
                    minimum=0,
                    ctor=False,
                ),
                ParamSpec(
                    "note",
                    "str",
                    "",
                    "why import kept this module whole (an opaque module: its forward cannot "
                    "be traced, so it runs as its own code)",
                    ctor=False,
                ),
            ),
            help="A submodule kept as code: model.py builds it with its constructor expression and "
            "calls it on the inputs. Runs only when the model is compiled or trained.",
            label_base="code",
            extra={"internal": True, "code": "module"},
        ),
        NodeSpec(
            "code.Function",
            "Code expression",
            "Code",
            "code",
            inputs=INPUTS,
            outputs=(PortSpec("out"),),
            params=(
                TITLE,
                ParamSpec(
                    "expr",
                    "str",
                    "x",
                    "Python expression computing the output from the inputs x, x2, x3, x4",
                    ctor=False,
                ),
                _imports(),
                *_common(),
            ),
            help="A function or tensor-method call kept as code: model.py computes the output "
            "with its expression. Runs only when the model is compiled or trained.",
            label_base="code",
            extra={"internal": True, "code": "function"},
        ),
        NodeSpec(
            "code.Tensor",
            "Tensor",
            "Code",
            "code",
            outputs=(PortSpec("out"),),
            params=(
                TITLE,
                ParamSpec(
                    "role",
                    "choice",
                    "parameter",
                    "a learned parameter, or a buffer (state that is saved but not learned)",
                    choices=("parameter", "buffer"),
                    ctor=False,
                ),
                ParamSpec("requires_grad", "bool", True, "a parameter that is trained", ctor=False),
                ParamSpec(
                    "shape",
                    "ints",
                    [],
                    "the tensor's whole shape",
                    minimum=0,
                    length=(0, 8),
                    ctor=False,
                ),
                ParamSpec("dtype", "choice", "float32", "element type", choices=DTYPES, ctor=False),
            ),
            help="A parameter or buffer the imported forward reads directly; it starts as zeros "
            "and takes its values from the original model's weights.",
            label_base="tensor",
            extra={"internal": True, "code": "tensor"},
        ),
    ]
)
