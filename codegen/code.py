"""Code nodes (``graph/catalogue/code.py``) in generated model.py.

A code node's text is written as it is, after checks that keep model.py well formed: ``init`` and
``expr`` must each be one Python expression on one line, every ``imports`` item one import
statement. ``expr`` names its inputs ``x``, ``x2``, ``x3``, ``x4``; they are replaced by the
variables that hold them.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from typing import Any

from torchcanvas.codegen.emit import CodegenError, literal
from torchcanvas.codegen.ops import _atom
from torchcanvas.graph.catalogue.code import CODE_INPUTS, IMPORT_HINT, IMPORT_LINE


def _expression(text: Any, what: str, node_id: str | None) -> str:
    if not isinstance(text, str) or not text.strip():
        raise CodegenError(f"{what} is empty", node_id, what)
    text = text.strip()
    if "\n" in text or "\r" in text:
        raise CodegenError(f"{what} must be one line", node_id, what)
    try:
        ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CodegenError(f"{what} is not a Python expression: {exc.msg}", node_id, what) from None
    return text


def module_init(params: dict[str, Any], node_id: str | None = None) -> str:
    """The constructor expression of a ``code.Module``."""
    return _expression(params.get("init"), "init", node_id)


def tensor_init(params: dict[str, Any]) -> str:
    """``nn.Parameter(torch.zeros(1, 1, 8))`` (or ``nn.Buffer``) for a ``code.Tensor``."""
    shape = ", ".join(literal(int(d)) for d in params.get("shape") or ()) or "()"
    dtype = params.get("dtype", "float32")
    zeros = (
        f"torch.zeros({shape}{', ' if shape else ''}dtype=torch.{dtype})"
        if dtype != "float32"
        else f"torch.zeros({shape})"
    )
    if params.get("role") == "buffer":
        return f"nn.Buffer({zeros})"
    grad = "" if params.get("requires_grad", True) else ", requires_grad=False"
    return f"nn.Parameter({zeros}{grad})"


def function_expr(
    params: dict[str, Any], inputs: dict[str, str], node_id: str | None = None
) -> str:
    """A ``code.Function``'s expression with its input names replaced by ``inputs``."""
    text = _expression(params.get("expr"), "expr", node_id)
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    out, last, prev = [], 0, None
    for i, tok in enumerate(tokens):
        if (
            tok.type == tokenize.NAME
            and tok.string in CODE_INPUTS
            and (prev is None or prev.string != ".")
        ):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            is_keyword = (
                nxt is not None
                and nxt.string == "="
                and prev is not None
                and prev.string in ("(", ",")
            )
            if not is_keyword:
                if tok.string not in inputs:
                    raise CodegenError(
                        f"expr uses input {tok.string!r}, which is not connected", node_id, "expr"
                    )
                start, end = tok.start[1], tok.end[1]
                out.append(text[last:start])
                out.append(_atom(inputs[tok.string]))
                last = end
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER):
            prev = tok
    out.append(text[last:])
    return "".join(out)


def source_chunks(text: str) -> list[str]:
    """A code node's ``source`` split into its top-level statements (each with the comments
    above it), so that model.py writes a definition two code nodes share once. Text that does
    not parse stays one piece."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return [text]
    lines = text.splitlines()
    chunks, start = [], 0
    for stmt in body:
        end = stmt.end_lineno or stmt.lineno
        chunk = "\n".join(lines[start:end]).strip("\n")
        if chunk.strip():
            chunks.append(chunk)
        start = end
    rest = "\n".join(lines[start:]).strip("\n")
    if rest.strip():
        chunks.append(rest)
    return chunks or [text]


def check_imports(lines: Any, node_id: str | None = None) -> list[str]:
    items = []
    for line in lines or ():
        if not isinstance(line, str) or re.fullmatch(IMPORT_LINE, line.strip()) is None:
            raise CodegenError(
                f"imports: {line!r} is not allowed; use {IMPORT_HINT}", node_id, "imports"
            )
        items.append(line.strip())
    return items


def import_block(lines: set[str]) -> list[str]:
    """Import lines in the order ruff's isort wants: standard library, then the rest, each with
    ``import`` statements before ``from`` statements, sorted by module."""

    def module(line: str) -> str:
        return line.split()[1]

    def key(line: str) -> tuple:
        return (line.startswith("from "), module(line).lower(), line)

    std = sorted((x for x in lines if module(x).split(".")[0] in sys.stdlib_module_names), key=key)
    rest = sorted((x for x in lines if x not in std), key=key)
    return [*std, *([""] if std and rest else []), *rest]
