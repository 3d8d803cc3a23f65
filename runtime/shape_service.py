"""Shape inference and model.py generation for the window, in a process of its own.

The window starts this process first thing, so torch loads on another core while Qt builds the
window, and inference never holds the window's GIL. Each open document has an engine here: a
copy of its graph kept in step by edits (``graph.edits``), and a ``ShapeInferencer`` attached to
that copy, so an edit re-runs only what it reaches. Messages (plain tuples, pickled):

window → here: ``("sync", key, generation, "full"|"ops", payload, project_dir)``,
``("code", key, generation, title)``, ``("samples", key, token, node_id, n)``,
``("close", key)``, ``("stop",)``.
here → window: ``("shapes", key, generation, ShapeResult | str)`` (a str: inference failed),
``("devices", None, 0, [...])`` (once, after the first answers: what torch can train on),
``("code", key, generation, GeneratedModel | CodegenError)``,
``("resync", key, generation, None)`` (the copy is out of step: send the whole document),
``("samples", key, token, DataSamples | str)`` (what a data node yields, read after the edits
sent before the request; a str: why it cannot be read).

Messages waiting together are taken together: edits are applied in order and only the newest
state of each document is inferred. This module imports neither torch nor Qt until ``serve``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torchcanvas.runtime.spawn import SPAWN, SpawnProcess


class ShapeEngine:
    """One document's copy of the graph and its inferencer."""

    def __init__(self) -> None:
        from torchcanvas.runtime.shapes import ShapeInferencer

        self.graph = None
        self.inferencer = ShapeInferencer()
        self.result = None
        self.project_dir: Path | None = None
        self.applied = 0  # generation of the last edits applied
        self.inferred = 0  # generation of ``result``
        self._sized = False  # the last result had size problems

    def sync(self, generation: int, kind: str, payload: Any) -> None:
        from torchcanvas.graph.edits import apply_edits
        from torchcanvas.graph.serialize import from_dict

        if kind == "full":
            # the window's own graph, written by ``to_dict``: its text was checked on load
            self.graph = from_dict(payload, check_text=False)
            self.inferencer.attach(self.graph)
        elif self.graph is None:
            raise LookupError("no document to apply edits to")
        else:
            try:
                apply_edits(self.graph, payload)
            except Exception:
                self.graph = None
                self.inferencer.detach()
                raise
        self.applied = generation

    def infer(self, project_dir: Path | None):
        from torchcanvas.runtime.cost import add_memory_estimate
        from torchcanvas.runtime.sizes import size_problems

        result = self.inferencer.infer(self.graph, project_dir)
        # what check, train and export refuse as too large is an error here too
        sizes = size_problems(self.graph, result) if result.ok else []
        result.problems.extend(sizes)
        # the training-memory estimate, and a warning when it will not fit the device (on no
        # node: nothing to add to ``changed``)
        add_memory_estimate(self.graph, result)
        if sizes or self._sized:  # the nodes these name (or named) are not in ``changed``
            result.changed = None
        self._sized = bool(sizes)
        self.result = result
        self.inferred = self.applied
        return self.result

    def samples(self, node_id: str, n: int):
        """The first ``n`` training samples of data node ``node_id`` (runtime.preview), or why
        they cannot be read."""
        from torchcanvas.runtime.data import DataError
        from torchcanvas.runtime.preview import PreviewError, data_samples

        if self.graph is None or node_id not in self.graph:
            return "the node is gone"
        node = self.graph.node(node_id)
        if node.spec is None or node.kind != "data":
            return f"{node.label} is not a data node"
        try:
            return data_samples(node, self.graph.settings, self.project_dir, n=n)
        except (DataError, PreviewError) as exc:
            return str(exc)
        except Exception as exc:  # a user's data can raise anything
            return f"{node.label}: {type(exc).__name__}: {exc}"

    def code(self, title: str):
        from torchcanvas.codegen import CodegenError
        from torchcanvas.codegen.model import generate_model

        try:
            return generate_model(self.graph, self.result.resolved, title)
        except CodegenError as exc:
            return exc


def portable(result):
    """``result`` as the window can load it without torch (the data description's dtypes as
    text)."""
    from torchcanvas.runtime.shape_result import DataSummary

    info = result.data_info
    if info is None or isinstance(info, DataSummary):
        return result
    summary = DataSummary(
        tuple(info.x_shape),
        tuple(info.y_shape),
        str(info.x_dtype),
        str(info.y_dtype),
        info.classes,
        info.n_train,
        info.n_val,
        info.vocab_size,
        info.ports,
        info.batched,
    )
    return dataclasses.replace(result, data_info=summary)


def handle(engines: dict[Any, ShapeEngine], messages: list[tuple], send) -> bool:
    """Apply a batch of messages; ``send`` the replies. False after ``("stop",)``."""
    infer: dict[Any, Path | None] = {}
    code: dict[Any, tuple[int, str]] = {}
    samples: list[tuple] = []
    for msg in messages:
        what = msg[0]
        if what == "stop":
            return False
        key = msg[1]
        if what == "close":
            engines.pop(key, None)
            infer.pop(key, None)
            code.pop(key, None)
            samples = [m for m in samples if m[1] != key]
        elif what == "sync":
            _, _, generation, kind, payload, project_dir = msg
            engine = engines.get(key) or engines.setdefault(key, ShapeEngine())
            try:
                engine.sync(generation, kind, payload)
            except Exception:
                infer.pop(key, None)
                send(("resync", key, generation, None))
                continue
            engine.project_dir = project_dir
            infer[key] = project_dir
        elif what == "code":
            code[key] = (msg[2], msg[3])
        elif what == "samples":
            samples = [m for m in samples if m[1] != key]  # only the newest request counts
            samples.append(msg)
    for key, project_dir in infer.items():
        engine = engines[key]
        try:
            result = portable(engine.infer(project_dir))
        except Exception as exc:  # shown in the problems list, never a crash
            send(("shapes", key, engine.applied, f"{type(exc).__name__}: {exc}"))
            continue
        send(("shapes", key, engine.inferred, result))
    for key, (generation, title) in code.items():
        engine = engines.get(key)
        if (
            engine is not None
            and engine.result is not None
            and engine.inferred == engine.applied == generation
            and engine.result.ok
        ):
            send(("code", key, generation, engine.code(title)))
    for _, key, token, node_id, n in samples:  # after the shapes: the edits are in
        engine = engines.get(key)
        value = engine.samples(node_id, n) if engine is not None else "the document is closed"
        send(("samples", key, token, value))
    return True


def serve(conn) -> None:
    """The process's loop: read what is waiting, answer, until told to stop or the window
    goes away."""
    import gc

    import torchcanvas.runtime.shapes  # noqa: F401 - torch loads now, before the first request

    gc.freeze()  # torch's many long-lived objects: out of every later full collection

    engines: dict[Any, ShapeEngine] = {}
    devices_told = False
    while True:
        try:
            messages = [conn.recv()]
            while conn.poll():
                messages.append(conn.recv())
        except (EOFError, OSError):
            return
        try:
            gc.disable()  # a batch makes many objects (a whole graph on open): collect later,
            try:  # not before the window has its answer
                if not handle(engines, messages, conn.send):
                    return
            finally:
                gc.enable()
            if not devices_told:  # after the first shapes: the trainer's imports take a while
                from torchcanvas.runtime.trainer import available_devices

                conn.send(("devices", None, 0, available_devices()))
                devices_told = True
        except (BrokenPipeError, OSError):
            return


_started: tuple[Any, Any] | None = None


def start() -> tuple[Any, Any]:
    """A new shape process (spawned: nothing of this process's state is copied) and this
    side's end of its pipe."""
    ours, theirs = SPAWN.Pipe()
    process = SpawnProcess(target=serve, args=(theirs,), name="torchcanvas-shapes", daemon=True)
    process.start()
    theirs.close()
    return process, ours


def prestart() -> None:
    """Start the process now (first thing at launch) for the window to ``take`` later."""
    global _started
    if _started is None:
        _started = start()


def take() -> tuple[Any, Any]:
    """The process ``prestart`` began, or a new one."""
    global _started
    started, _started = _started, None
    return started if started is not None and started[0].is_alive() else start()
