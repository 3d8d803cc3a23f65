"""Typed errors raised by the graph document. Each names what is wrong and where."""

from __future__ import annotations

import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 80
_SHORT.maxother = 80
_SHORT.maxlong = 60


def short_repr(value: object) -> str:
    """``repr`` for error messages: bounded in length and depth, so a huge or deeply nested
    value from a project file can neither flood the message nor overflow the stack."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an int beyond Python's int-to-text digit limit
        return f"<{type(value).__name__} too large to show>"


def shown(value: object, limit: int = 48) -> str:
    """An id, label, key or name as messages quote it: characters that would not read as
    themselves (newlines, tabs, right-to-left overrides and other invisible or control
    characters, lone surrogates, the backslash) are escaped, and text longer than ``limit``
    characters is cut with "…". Every message that quotes something from a project file uses
    this, so no file can break a message's line or reorder what it says."""
    text = value if isinstance(value, str) else str(value)
    out = []
    size = 0
    for ch in text[: limit + 1]:  # a 10,000-character id costs no more than a short one
        if ch.isprintable() and ch != "\\":
            piece = ch
        else:
            piece = ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        if size + len(piece) > limit:
            return "".join(out) + "…"
        out.append(piece)
        size += len(piece)
    return "".join(out)


def one_line(text: str) -> str:
    """A whole message as one line of plain text: characters that would break or reorder it
    (newlines, right-to-left overrides…) escaped, the rest (its own backslashes too) kept. For
    where a message is printed; the ids and labels in it are ``shown`` already."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )


def quoted(value: object, limit: int = 48) -> str:
    """``shown(value)`` in single quotes, as messages quote ids and labels."""
    return f"'{shown(value, limit)}'"


class GraphError(Exception):
    """Base class for every error the document raises."""

    node_id: str | None = None


class NodeNotFoundError(GraphError, KeyError):
    def __init__(self, node_id: str):
        super().__init__(f"no node with id {quoted(node_id)}")
        self.node_id = node_id

    def __str__(self) -> str:  # KeyError would quote the message again
        return self.args[0]


class UnknownNodeTypeError(GraphError):
    def __init__(self, type_id: str, node_id: str | None = None):
        where = f" (node {quoted(node_id)})" if node_id else ""
        super().__init__(f"unknown node type {quoted(type_id)}{where}")
        self.type_id = type_id
        self.node_id = node_id


class NodeTypeError(GraphError):
    """A node cannot change to another type: its own type is unknown or fixed (a block, a block
    boundary, imported code), or the new type plays another role (a layer for an optimizer)."""

    def __init__(self, message: str, node_id: str | None = None, type_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id
        self.type_id = type_id


class PortError(GraphError):
    """A port does not exist, is already connected, or has the wrong kind."""

    def __init__(self, message: str, node_id: str | None = None, port: str | None = None):
        super().__init__(message)
        self.node_id = node_id
        self.port = port


class PortTypeError(PortError):
    pass


class CycleError(GraphError):
    def __init__(self, src: str, dst: str):
        super().__init__(f"connecting {quoted(src)} to {quoted(dst)} would make a cycle")
        self.node_id = dst
        self.src = src
        self.dst = dst


class ParamError(GraphError, ValueError):
    """A parameter value was refused; the message names the parameter and what is allowed."""

    def __init__(self, name: str, message: str, node_id: str | None = None):
        where = f"node {quoted(node_id)}: " if node_id else ""
        super().__init__(f"{where}{name}: {message}")
        self.name = name
        self.reason = message
        self.node_id = node_id


class InvalidProjectError(GraphError, ValueError):
    """A project file is malformed.

    ``path`` points at the bad field, e.g. ``nodes.n3.params.lr``.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class UnsupportedVersionError(InvalidProjectError):
    def __init__(self, version: object, supported: int):
        super().__init__(
            "version",
            f"project format version {short_repr(version)} is not supported (this build reads "
            f"up to {supported}); update torchcanvas",
        )
        self.version = version


class BlockError(GraphError):
    """A block (named sub-graph) operation was refused: a bad name, a selection that cannot be
    collapsed, a definition still in use, an instance whose wires do not fit a definition."""

    def __init__(self, message: str, node_id: str | None = None, name: str | None = None):
        super().__init__(message)
        self.node_id = node_id
        self.name = name


class SelectionCycleError(BlockError, CycleError):
    """Collapsing the selection would make a cycle: a path leaves the selection and comes back.

    ``via`` holds the outside nodes on such paths (add them to the selection, or leave out the
    nodes after them)."""

    def __init__(self, message: str, via: list[str]):
        GraphError.__init__(self, message)
        self.node_id = via[0] if via else None
        self.name = None
        self.via = via
        self.src = self.dst = self.node_id
