"""A block's body, edited in place on the canvas.

``BlockBodyDocument`` stands in for the project's ``Document`` while the canvas shows the body
of one block definition: the scene, the view and the inspector edit it with the same calls.
Its graph is an editable copy of the body (``Graph.scratch_body``). Every edit runs on that
copy, then the whole body is committed to the project with ``replace_block_def`` as one step
on the project's undo stack, so an edit is undoable like any other and changes every use of
the block at once (the project's shapes are inferred again). When the project changes under
it (undo, redo, a restore) the copy is taken again from the definition; when the definition
is gone (the collapse that made it was undone) ``gone`` is emitted.

Shapes come from the project's result: the wires inside the block's first use, the auto
values its definition resolved, and the problems inside it, on the node they concern.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from torchcanvas.graph import GraphError
from torchcanvas.graph.document import GraphEvent, block_key
from torchcanvas.gui.commands import Snapshot
from torchcanvas.gui.project import Document, _Done
from torchcanvas.runtime.shape_result import Problem, ShapeResult

_REFUSED = object()


def body_result(root, name: str, result: ShapeResult | None) -> ShapeResult | None:
    """The part of the project's ``result`` that concerns block ``name``'s body, keyed by the
    body's own node ids."""
    if result is None:
        return None
    graph = root.graph
    shapes: dict = {}
    for nid in graph.block_users(name):  # the first use in the model shows its shapes
        if nid in result.block_shapes:
            shapes = dict(result.block_shapes[nid])
            break
    prefix = block_key(name, "")
    resolved = {k[len(prefix) :]: v for k, v in result.resolved.items() if k.startswith(prefix)}
    problems = [
        Problem(p.inner[1], p.message, p.severity, p.inner)
        for p in result.problems
        if p.inner is not None and p.inner[0] == name
    ]
    return ShapeResult(shapes=shapes, resolved=resolved, problems=problems, changed=None)


class BlockBodyDocument(Document):
    """The body of block ``name`` of ``root`` (a ``Document``), as a document of its own."""

    gone = Signal()  # the definition no longer exists
    renamed = Signal(str)  # the definition's new name

    def __init__(self, root: Document, name: str) -> None:
        QObject.__init__(self, root)  # no shape process of its own: the project's serves
        self.root = root
        self.block_name = name
        self.path = root.path
        self.unsaved_name = root.unsaved_name
        self.undo_stack = root.undo_stack  # one history: body edits sit among the others
        self.model_code = None
        self._closed = False
        self._committing = False
        self.graph = self._take_copy()
        self.shapes = body_result(root, name, root.shapes)
        root.graph.subscribe(self._root_event)
        root.graphReset.connect(self._reload)
        root.shapesUpdated.connect(self._root_shapes)
        root.shapesPending.connect(self.shapesPending)
        root.settingsChanged.connect(self._root_settings)

    # ------------------------------------------------------------------ the copy
    def _take_copy(self):
        body = self.root.graph.scratch_body(self.block_name)
        body.settings = dict(self.root.graph.settings)  # the flow, for the canvas
        body.subscribe(self._on_event)
        return body

    def _reload(self) -> None:
        """The project changed as a whole (undo, redo): take the definition again."""
        if self._closed:
            return
        self.graph.unsubscribe(self._on_event)
        if self.block_name not in self.root.graph.blocks:
            self.graph = self.root.graph.scratch_body(None)  # empty, until let go
            self.graph.subscribe(self._on_event)
            self.gone.emit()
            return
        self.graph = self._take_copy()
        self.shapes = body_result(self.root, self.block_name, self.root.shapes)
        self.graphReset.emit()

    def _root_event(self, event: GraphEvent) -> None:
        if event.kind == "block_renamed" and event.old == self.block_name:
            self.block_name = event.new
            self.graph._owner = event.new
            self.renamed.emit(event.new)
        elif event.kind == "block_changed" and event.name == self.block_name:
            if not self._committing:  # changed elsewhere (a paste of the block, …)
                self._reload()
        elif event.kind == "block_removed" and event.name == self.block_name:
            self._reload()

    def _root_shapes(self, result) -> None:
        self.shapes = body_result(self.root, self.block_name, result)
        self.shapesUpdated.emit(self.shapes)

    def _root_settings(self, name: str) -> None:
        self.graph.settings = dict(self.root.graph.settings)
        self.settingsChanged.emit(name)

    # ------------------------------------------------------------------ Document's API
    def request_shapes(self) -> None:
        """Shapes follow the project: a committed edit makes it infer again."""

    @property
    def shapes_ready(self) -> bool:
        return self.root.shapes_ready

    @property
    def project_dir(self):
        return self.root.project_dir

    def wait_for_shapes(self, timeout_ms: int = 60_000, with_code: bool = False) -> bool:
        return self.root.wait_for_shapes(timeout_ms, with_code)

    def set_code_wanted(self, wanted: bool) -> None:
        self.root.set_code_wanted(wanted)

    def request_code(self) -> None:
        self.root.request_code()

    def set_setting(self, name: str, value: Any) -> bool:
        return self.root.set_setting(name, value)

    def push(self, command: QUndoCommand) -> bool:
        """Run ``command`` on the copy, then commit the body to the project as one undo step
        (refused: the copy is taken again and the reason reported)."""
        return self._edit(command.text(), lambda _body: command.redo()) is not _REFUSED

    def change(self, text: str, edit) -> Any:
        """Run ``edit(body)`` on the copy (a paste, a collapse inside the block…) and commit
        it; a refused edit leaves nothing behind."""
        result = self._edit(text, edit)
        return None if result is _REFUSED else result

    def _edit(self, text: str, edit) -> Any:
        """``edit`` on the copy, and the body into the project, recorded as before/after
        snapshots of the project (an edit inside a body may add a definition too: a paste
        of a block, a collapse)."""
        root, name = self.root.graph, self.block_name
        before = root.snapshot()
        self._committing = True
        try:
            result = edit(self.graph)
            root.replace_block_def(name, self.graph)
        except GraphError as exc:
            self._committing = False
            if root.snapshot() != before:
                root.restore(before)  # the copy follows (graphReset)
            else:
                self._reload()
            self.message.emit(str(exc))
            return _REFUSED
        finally:
            self._committing = False
        after = root.snapshot()
        self.undo_stack.push(_Done(Snapshot(root, f"{text} in {name}", before, after)))
        return result

    def save(self, path=None) -> None:
        self.root.save(path)

    def results_to_save(self):
        return self.root.results_to_save()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.graph.unsubscribe(self._on_event)
        self.root.graph.unsubscribe(self._root_event)
        for signal, slot in (
            (self.root.graphReset, self._reload),
            (self.root.shapesUpdated, self._root_shapes),
            (self.root.shapesPending, self.shapesPending),
            (self.root.settingsChanged, self._root_settings),
        ):
            signal.disconnect(slot)
        self.closed.emit()
