"""Blocks: named, reusable sub-graphs that become nested ``nn.Module`` classes.

A block *definition* (``Graph.blocks``) is a sub-graph of model nodes with boundary nodes:
``io.Input`` (one per forward argument) and ``io.Output`` (one per returned value). A block
*instance* is a node of type ``block`` whose ``block`` param names the definition; its ports are
the definition's input and output names, so ``Graph.input_ports``/``output_ports`` give them.

All three specs are ``extra["internal"]``: the palette does not list them. It lists the
project's block definitions instead (under "Blocks"), and io nodes only exist inside definitions.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.spec import NodeSpec, ParamSpec, PortSpec

IO_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,39}"
IO_NAME_HINT = "a Python name such as x or skip (letters, digits, _; at most 40)"
BLOCK_NAME = r"[A-Z][A-Za-z0-9_]{0,63}"
BLOCK_NAME_HINT = "a Python class name such as ResidualBlock"

register(
    [
        NodeSpec(
            "io.Input",
            "Block input",
            "Blocks",
            "io",
            outputs=(PortSpec("out"),),
            params=(
                ParamSpec(
                    "name",
                    "str",
                    "x",
                    "name of this input: the forward argument and the block's input port",
                    pattern=IO_NAME,
                    pattern_hint=IO_NAME_HINT,
                ),
            ),
            help="A value entering the block: an argument of the block's forward.",
            label_base="input",
            extra={"internal": True, "io": "input"},
        ),
        NodeSpec(
            "io.Output",
            "Block output",
            "Blocks",
            "io",
            inputs=(PortSpec("x"),),
            params=(
                ParamSpec(
                    "name",
                    "str",
                    "out",
                    "name of this output: the block's output port",
                    pattern=IO_NAME,
                    pattern_hint=IO_NAME_HINT,
                ),
            ),
            help="A value the block returns from its forward.",
            label_base="output",
            extra={"internal": True, "io": "output"},
        ),
        NodeSpec(
            "block",
            "Block",
            "Blocks",
            "block",
            params=(
                ParamSpec(
                    "block",
                    "str",
                    "Block",
                    "name of the block definition this node uses",
                    pattern=BLOCK_NAME,
                    pattern_hint=BLOCK_NAME_HINT,
                ),
            ),
            help="One use of a block definition: a nested module with its own weights.",
            label_base="block",
            extra={"internal": True},
        ),
    ]
)
