"""The torchcanvas document: nodes, ports, edges, params, the catalogue and the file format.

Imports neither torch nor Qt.
"""

from torchcanvas.graph.catalogue import CATALOGUE, get_spec, specs_by_category
from torchcanvas.graph.document import BlockDef, Edge, Graph, GraphEvent, Node
from torchcanvas.graph.errors import (
    BlockError,
    CycleError,
    GraphError,
    InvalidProjectError,
    NodeNotFoundError,
    NodeTypeError,
    ParamError,
    PortError,
    PortTypeError,
    SelectionCycleError,
    UnknownNodeTypeError,
    UnsupportedVersionError,
)
from torchcanvas.graph.serialize import dumps, load, loads, save
from torchcanvas.graph.spec import AUTO, AutoRule, NodeSpec, ParamSpec, PortSpec

__all__ = [
    "AUTO",
    "CATALOGUE",
    "AutoRule",
    "BlockDef",
    "BlockError",
    "CycleError",
    "Edge",
    "Graph",
    "GraphError",
    "GraphEvent",
    "InvalidProjectError",
    "Node",
    "NodeNotFoundError",
    "NodeSpec",
    "NodeTypeError",
    "ParamError",
    "ParamSpec",
    "PortError",
    "PortSpec",
    "PortTypeError",
    "SelectionCycleError",
    "UnknownNodeTypeError",
    "UnsupportedVersionError",
    "dumps",
    "get_spec",
    "load",
    "loads",
    "save",
    "specs_by_category",
]
