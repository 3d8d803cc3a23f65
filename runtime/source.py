"""Executing generated source under a pseudo file name registered in ``linecache``.

Tracebacks then show the generated lines, and ``inspect.getsource`` (TorchScript) works on
classes that never existed as files.
"""

from __future__ import annotations

import hashlib
import linecache
from typing import Any


def register(source: str, kind: str) -> str:
    """Put ``source`` in linecache under a stable pseudo name and return that name."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<torchcanvas {kind} {digest}>"
    # mtime None: linecache.checkcache leaves the entry alone
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return filename


def run_source(source: str, kind: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute generated ``source`` (never user text) in ``namespace`` and return it."""
    filename = register(source, kind)
    ns: dict[str, Any] = {
        "__name__": f"torchcanvas_{kind}",
        "__file__": filename,
        "__builtins__": __builtins__,
    }
    if namespace:
        ns.update(namespace)
    exec(compile(source, filename, "exec"), ns)
    return ns


def generated_line(exc: BaseException, prefix: str = "<torchcanvas") -> tuple[str, int] | None:
    """The innermost traceback frame that lies in generated code: (pseudo file, line)."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith(prefix):
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    return found
