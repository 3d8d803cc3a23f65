"""The open project: the graph, its undo stack, its file, and shapes computed off the UI thread.

Graph events become Qt signals here; the scene, inspector and docks listen to these signals and
never change the graph except through ``Document`` (every edit is an undo command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QUndoCommand, QUndoStack

from torchcanvas.graph import Edge, Graph, GraphError, GraphEvent
from torchcanvas.graph.serialize import from_dict, save, to_dict
from torchcanvas.gui import commands as cmd


class ShapeWorker(QObject):
    """Runs shape inference, then model.py generation, on graph snapshots in its own thread,
    so a large graph never stalls the window. Keeps the per-node shape cache."""

    done = Signal(int, object)  # generation, ShapeResult (or an Exception)
    code = Signal(int, object)  # generation, model.py (GeneratedModel or CodegenError)

    def __init__(self, is_current) -> None:
        super().__init__()
        self._inferencer = None
        self._is_current = is_current  # generation → still the latest request?

    @Slot(int, object, object, str)
    def run(self, generation: int, data: dict, project_dir: Path | None, title: str) -> None:
        if not self._is_current(generation):
            return  # a newer edit is queued behind this one
        try:
            from torchcanvas.runtime.shapes import ShapeInferencer  # torch loads here, lazily

            if self._inferencer is None:
                self._inferencer = ShapeInferencer()
            graph = from_dict(data)
            result = self._inferencer.infer(graph, project_dir)
        except Exception as exc:  # shown in the problems list, never a crash
            self.done.emit(generation, exc)
            return
        self.done.emit(generation, result)  # the canvas first; the code follows
        if result.ok and self._is_current(generation):
            from torchcanvas.codegen import CodegenError
            from torchcanvas.codegen.model import generate_model

            try:
                code = generate_model(graph, result.resolved, title)
            except CodegenError as exc:
                code = exc
            self.code.emit(generation, code)


class Document(QObject):
    nodeAdded = Signal(str)
    nodeRemoved = Signal(str)
    edgeAdded = Signal(object)  # Edge
    edgeRemoved = Signal(object)
    nodeChanged = Signal(str)  # params or label
    nodeMoved = Signal(str)
    settingsChanged = Signal(str)
    graphReset = Signal()  # the whole graph was replaced (open, restore)
    shapesUpdated = Signal(object)  # ShapeResult
    codeUpdated = Signal(object)  # model.py for the latest shapes (GeneratedModel/CodegenError)
    shapesPending = Signal()
    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)
    message = Signal(str)  # short feedback for the status bar (e.g. why a wire was refused)
    _request = Signal(int, object, object, str)

    def __init__(self, graph: Graph | None = None, path: Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.graph = graph or Graph()
        self.path = Path(path) if path else None
        self.undo_stack = QUndoStack(self)
        # a bound method, not a lambda: the connection dies with the document, so the stack's
        # cleanChanged during teardown cannot reach a deleted document
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.shapes = None  # the latest ShapeResult
        self.model_code = None  # model.py for those shapes (GeneratedModel or CodegenError)
        self._generation = 0
        self._done_generation = 0
        self._closed = False
        self.graph.subscribe(self._on_event)

        self._thread = QThread(self)
        self._worker = ShapeWorker(lambda generation: generation == self._generation)
        self._worker.moveToThread(self._thread)
        self._request.connect(self._worker.run)
        self._worker.done.connect(self._on_shapes)
        self._worker.code.connect(self._on_code)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        # edits made in one pass of the event loop (a macro, a paste) share one request
        self._debounce = QTimer(self, singleShot=True, interval=0)
        self._debounce.timeout.connect(self._send_request)
        self.request_shapes()

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Stop the shape thread; call before dropping the document. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.graph.unsubscribe(self._on_event)
        self.undo_stack.cleanChanged.disconnect(self._clean_changed)
        self._debounce.stop()
        self._thread.quit()
        self._thread.wait(10_000)

    @property
    def project_dir(self) -> Path | None:
        return self.path.parent if self.path else None

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def shapes_ready(self) -> bool:
        return self._done_generation == self._generation and self.shapes is not None

    # ------------------------------------------------------------------ graph events → signals
    def _on_event(self, event: GraphEvent) -> None:
        kind = event.kind
        if kind == "node_added":
            self.nodeAdded.emit(event.node_id)
        elif kind == "node_removed":
            self.nodeRemoved.emit(event.node_id)
        elif kind == "edge_added":
            self.edgeAdded.emit(event.edge)
        elif kind == "edge_removed":
            self.edgeRemoved.emit(event.edge)
        elif kind in ("param_changed", "label_changed"):
            self.nodeChanged.emit(event.node_id)
        elif kind == "node_moved":
            self.nodeMoved.emit(event.node_id)
            return  # positions do not change shapes
        elif kind == "settings_changed":
            self.settingsChanged.emit(event.name)
        elif kind == "reset":
            self.graphReset.emit()
        self.request_shapes()

    # ------------------------------------------------------------------ shapes
    def request_shapes(self) -> None:
        self._generation += 1
        self.shapesPending.emit()
        self._debounce.start()

    def _send_request(self) -> None:
        title = self.path.stem if self.path else ""
        self._request.emit(self._generation, to_dict(self.graph), self.project_dir, title)

    def _on_code(self, generation: int, code: Any) -> None:
        if generation == self._generation == self._done_generation:
            self.model_code = code
            self.codeUpdated.emit(code)

    def _on_shapes(self, generation: int, result: Any) -> None:
        if generation != self._generation:
            return  # a newer edit is on its way
        if isinstance(result, Exception):
            from torchcanvas.runtime.shapes import Problem, ShapeResult

            result = ShapeResult(problems=[Problem(None, f"shape inference failed: {result}")])
        self.shapes = result
        self.model_code = None  # until the worker sends it
        self._done_generation = generation
        self.shapesUpdated.emit(result)

    def wait_for_shapes(self, timeout_ms: int = 60_000, with_code: bool = True) -> bool:
        """Process events until the latest shapes arrived, and with ``with_code`` the model.py
        made from them when the graph is valid (tests, --screenshot, benchmarks)."""
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer

        deadline = QDeadlineTimer(timeout_ms)

        def ready() -> bool:
            if not self.shapes_ready:
                return False
            return not with_code or not self.shapes.ok or self.model_code is not None

        while not ready() and not deadline.hasExpired():
            QCoreApplication.processEvents()
            QThread.msleep(2)
        return ready()

    # ------------------------------------------------------------------ edits (undoable)
    def push(self, command: QUndoCommand) -> bool:
        """Run ``command`` and keep it for undo; a refused edit is reported and not kept."""
        try:
            command.redo()
        except GraphError as exc:
            self.message.emit(str(exc))
            return False
        # QUndoStack.push runs redo() again: wrap so the first call does nothing
        self.undo_stack.push(_Done(command))
        return True

    def add_node(self, type_id: str, pos: tuple[float, float],
                 params: dict[str, Any] | None = None, label: str | None = None) -> str | None:
        command = cmd.AddNode(self.graph, type_id, pos, params, label)
        return command.node_id if self.push(command) else None

    def connect_ports(self, src: str, src_port: str, dst: str, dst_port: str) -> bool:
        return self.push(cmd.Connect(self.graph, src, src_port, dst, dst_port))

    def disconnect_edge(self, edge: Edge) -> bool:
        return self.push(cmd.Disconnect(self.graph, edge))

    def set_param(self, node_id: str, name: str, value: Any) -> bool:
        if self.graph.node(node_id).params.get(name) == value:
            return True
        return self.push(cmd.SetParam(self.graph, node_id, name, value))

    def set_label(self, node_id: str, label: str) -> bool:
        return self.push(cmd.SetLabel(self.graph, node_id, label))

    def set_setting(self, name: str, value: Any) -> bool:
        if self.graph.settings.get(name) == value:
            return True
        return self.push(cmd.SetSetting(self.graph, name, value))

    def move_nodes(self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                   text: str = "Move") -> bool:
        moves = {k: v for k, v in moves.items() if v[0] != v[1]}
        return bool(moves) and self.push(cmd.MoveNodes(self.graph, moves, text))

    def remove(self, node_ids: list[str], edges: list[Edge] = ()) -> bool:
        """Delete nodes and wires as one undo step."""
        node_ids = [n for n in node_ids if n in self.graph]
        edges = [e for e in edges if self.graph.has_edge(e)
                 and e.src not in node_ids and e.dst not in node_ids]
        if not node_ids and not edges:
            return False
        self.undo_stack.beginMacro("Delete")
        try:
            for e in edges:
                self.push(cmd.Disconnect(self.graph, e))
            for nid in node_ids:
                self.push(cmd.RemoveNode(self.graph, nid))
        finally:
            self.undo_stack.endMacro()
        return True

    def change(self, text: str, edit) -> Any:
        """Run ``edit(graph)`` (collapse, expand, a paste with blocks…) as one undo step recorded
        as before/after snapshots. A refused edit is reported and leaves nothing behind."""
        before = self.graph.snapshot()
        try:
            result = edit(self.graph)
        except GraphError as exc:
            self.graph.restore(before)
            self.message.emit(str(exc))
            return None
        # the edit already ran: record it like push() does, without running it again
        self.undo_stack.push(_Done(cmd.Snapshot(self.graph, text, before, self.graph.snapshot())))
        return result

    def macro(self, text: str):
        """``with doc.macro("Paste"): ...`` groups the pushes inside into one undo step."""
        return _Macro(self.undo_stack, text)

    # ------------------------------------------------------------------ files
    def save(self, path: Path | None = None) -> None:
        path = Path(path or self.path)
        save(self.graph, path)
        if path != self.path:
            self.path = path
            self.pathChanged.emit(path)
            self.request_shapes()  # relative data paths resolve against the new folder
        self.undo_stack.setClean()


class _Done(QUndoCommand):
    """Wraps a command that already ran, so QUndoStack.push's redo() is skipped once."""

    def __init__(self, inner: QUndoCommand):
        super().__init__(inner.text())
        self.inner = inner
        self._skip = True

    def redo(self) -> None:
        if self._skip:
            self._skip = False
            return
        self.inner.redo()

    def undo(self) -> None:
        self.inner.undo()


class _Macro:
    def __init__(self, stack: QUndoStack, text: str):
        self.stack, self.text = stack, text

    def __enter__(self):
        self.stack.beginMacro(self.text)
        return self

    def __exit__(self, *exc) -> None:
        self.stack.endMacro()
