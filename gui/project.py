"""The open project: the graph, its undo stack, its file, and shapes computed in the shape
process (``runtime.shape_service``), which keeps a copy of the graph in step by edits.

Graph events become Qt signals here; the scene, inspector and docks listen to these signals and
never change the graph except through ``Document`` (every edit is an undo command).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from torchcanvas.graph import Edge, Graph, GraphError, GraphEvent
from torchcanvas.graph.edits import EditRecorder
from torchcanvas.graph.serialize import results_to_dict, save, to_dict
from torchcanvas.gui import commands as cmd
from torchcanvas.runtime.runs import runs_root
from torchcanvas.runtime.shape_result import Problem, ShapeResult

_keys = itertools.count(1)
_untitled = itertools.count(1)


class ShapeService(QObject):
    """The window's link to the shape process (``runtime.shape_service``): one per
    application, shared by every open document. A reader thread turns the process's replies
    into a Qt signal, handed to the document they are for."""

    received = Signal(object)
    devicesKnown = Signal(object)  # the devices torch can train on (list of str)
    _instance: ShapeService | None = None

    @classmethod
    def instance(cls) -> ShapeService:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        super().__init__()
        # open documents (close() removes them; no weakref: PySide's weak references to a
        # QObject can crash when the object is destroyed later)
        self._docs: dict[int, Document] = {}
        self._process = None
        self._conn = None
        self._stopping = False
        self.devices: list[str] | None = None
        self.received.connect(self._dispatch)
        atexit.register(self.stop)  # before multiprocessing's own exit hook kills it

    def register(self, key: int, doc: Document) -> None:
        self._docs[key] = doc

    def unregister(self, key: int) -> None:
        if self._docs.pop(key, None) is not None and self._conn is not None:
            self.send(("close", key))

    def when_devices(self, callback) -> None:
        """Call ``callback(devices)`` with the devices torch can train on, now or once the
        shape process (where torch is loaded) has told them: asking torch in the window would
        hold it for seconds at start-up."""
        if self.devices is not None:
            callback(self.devices)
            return
        self.devicesKnown.connect(callback, Qt.ConnectionType.SingleShotConnection)
        self._start()

    def send(self, message: tuple) -> None:
        self._start()
        with contextlib.suppress(OSError):  # it died; the reader says so (and how)
            self._conn.send(message)

    def _start(self) -> None:
        if self._process is None:
            from torchcanvas.runtime import shape_service

            self._process, self._conn = shape_service.take()
            threading.Thread(
                target=self._read,
                args=(self._process, self._conn),
                name="torchcanvas-shapes-reader",
                daemon=True,
            ).start()

    def stop(self) -> None:
        """End the process (at exit)."""
        self._stopping = True
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return
        with contextlib.suppress(OSError):
            conn.send(("stop",))
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
        conn.close()

    def _read(self, process, conn) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            self.received.emit(message)
        process.join(5)
        if not self._stopping:
            self.received.emit(("died", process, process.exitcode))

    def _dispatch(self, message: tuple) -> None:
        if message[0] == "devices":
            self.devices = list(message[3])
            self.devicesKnown.emit(self.devices)
            return
        if message[0] == "died":
            _, process, code = message
            if process is not self._process:
                return
            self._process = self._conn = None  # the next request starts a new one
            for doc in list(self._docs.values()):
                doc._shapes_lost(code)
            return
        doc = self._docs.get(message[1])
        if doc is not None:
            doc._reply(message)


class Document(QObject):
    nodeAdded = Signal(str)
    nodeRemoved = Signal(str)
    edgeAdded = Signal(object)  # Edge
    edgeRemoved = Signal(object)
    nodeChanged = Signal(str)  # params, label or type
    nodeMoved = Signal(str)
    settingsChanged = Signal(str)
    sweepChanged = Signal()  # the project's sweep (graph.sweep) was set, edited or removed
    graphReset = Signal()  # the whole graph was replaced (open, restore)
    blocksChanged = Signal()  # a block definition was added, removed, renamed or changed
    shapesUpdated = Signal(object)  # ShapeResult (``changed``: the nodes to redraw, None: all)
    codeUpdated = Signal(object)  # model.py for the latest shapes (GeneratedModel/CodegenError)
    shapesPending = Signal()
    samplesRead = Signal(int, object)  # request token, DataSamples or why not (str)
    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)
    message = Signal(str)  # short feedback for the status bar (e.g. why a wire was refused)
    # close() was called: let go of the document (not ``destroyed``, which can reach a
    # listener that is being deleted itself when it held the last reference)
    closed = Signal()

    def __init__(
        self, graph: Graph | None = None, path: Path | None = None, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.graph = graph or Graph()
        self.path = Path(path) if path else None
        # the runs folder of this project while it is unsaved (runtime.runs.runs_root): an
        # example or an imported model is named after it (the window sets that), a new
        # project gets a name of its own, so no two projects share one runs list
        self.unsaved_name = f"untitled-{datetime.now():%Y%m%d-%H%M%S}-{next(_untitled)}"
        self.undo_stack = QUndoStack(self)
        # a bound method, not a lambda: the connection dies with the document, so the stack's
        # cleanChanged during teardown cannot reach a deleted document
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        # the latest ShapeResult; at first the one saved with the project (``saved``), if any,
        # so the canvas shows shapes before inference has run
        self.shapes = _saved_result(self.graph.saved_results)
        # model.py for those shapes (GeneratedModel or CodegenError), made when someone wants
        # it: the Code dock while visible (``set_code_wanted``), or ``request_code``
        self.model_code = None
        self._code_wanted = False
        self._code_asked = False
        self._code_sent = 0
        self._sent_generation = 0  # the newest generation the shape process was sent
        self._generation = 0
        self._done_generation = 0
        self._unshown: set[str] | None = set()  # ``changed`` of results dropped as stale
        self._samples_token = 0
        self._closed = False
        self.graph.subscribe(self._on_event)

        self._key = next(_keys)
        self._edits = EditRecorder(self.graph)  # what the shape process's copy has not seen
        self._service = ShapeService.instance()
        self._service.register(self._key, self)
        # edits made in one pass of the event loop (a macro, a paste) share one request
        self._debounce = QTimer(self, singleShot=True, interval=0)
        self._debounce.timeout.connect(self._send_request)
        # a finished undo step (an edit, an undo, a redo, a whole macro) goes out at once
        # rather than on the next pass of the event loop, which may first repaint the canvas
        self.undo_stack.indexChanged.connect(self._flush)
        self.request_shapes()
        self._flush()  # the whole graph goes now: the process infers while the canvas is built

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Let go of the shape process's copy; call before dropping the document. Safe to call
        twice."""
        if self._closed:
            return
        self._closed = True
        self.graph.unsubscribe(self._on_event)
        self._edits.close()
        self.undo_stack.cleanChanged.disconnect(self._clean_changed)
        self.undo_stack.indexChanged.disconnect(self._flush)
        self._debounce.stop()
        self._service.unregister(self._key)
        self.closed.emit()

    @property
    def project_dir(self) -> Path | None:
        return self.path.parent if self.path else None

    def runs_root(self, create: bool = False) -> Path:
        """Where this project's runs are kept (beside the file once it is saved)."""
        return runs_root(self.path, create, self.unsaved_name)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def shapes_ready(self) -> bool:
        """The latest edit's shapes are in (inferred, not the ones saved with the project)."""
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
        elif kind in ("param_changed", "label_changed", "type_changed"):
            self.nodeChanged.emit(event.node_id)
        elif kind == "node_moved":
            self.nodeMoved.emit(event.node_id)
            return  # positions do not change shapes
        elif kind == "settings_changed":
            self.settingsChanged.emit(event.name)
        elif kind == "sweep_changed":
            self.sweepChanged.emit()
            return  # a sweep changes no shape
        elif kind == "reset":
            self.graphReset.emit()
            self.blocksChanged.emit()
            self.sweepChanged.emit()
        elif kind.startswith("block_"):
            self.blocksChanged.emit()
        self.request_shapes()

    # ------------------------------------------------------------------ shapes
    def request_shapes(self) -> None:
        self._generation += 1
        self.shapesPending.emit()
        self._debounce.start()

    def _flush(self, _index: int = 0) -> None:
        """Send the pending request now (the undo step that made it is complete)."""
        if self._debounce.isActive():
            self._debounce.stop()
            self._send_request()

    def _send_request(self) -> None:
        if self._closed:
            return
        kind, payload = self._edits.take()
        self._service.send(("sync", self._key, self._generation, kind, payload, self.project_dir))
        self._sent_generation = self._generation
        if self._code_wanted or self._code_asked:  # made right after these shapes
            self._ask_code()

    def request_samples(self, node_id: str, n: int = 8) -> int:
        """Ask the shape process for what data node ``node_id`` yields now (its first ``n``
        training samples, augmentation applied), read there, off the window's thread; the
        answer comes as ``samplesRead(token, value)`` with the token returned here (none when
        the document closes first)."""
        self._flush()  # edits still waiting go first: the samples are read after them
        self._samples_token += 1
        if not self._closed:
            self._service.send(("samples", self._key, self._samples_token, node_id, n))
        return self._samples_token

    def _reply(self, message: tuple) -> None:
        what, _, generation, value = message
        if what == "samples":
            self.samplesRead.emit(generation, value)
        elif what == "shapes":
            self._on_shapes(generation, value)
        elif what == "code":
            self._on_code(generation, value)
        elif what == "resync":  # the process's copy is out of step: send the whole graph
            self._edits.reset()
            self.request_shapes()

    def _shapes_lost(self, exit_code: int | None) -> None:
        """The shape process died: say so; the next edit starts a new one with the whole graph."""
        self._edits.reset()
        self._unshown = None
        why = f"exit code {exit_code}" if exit_code is not None else "no exit code"
        self._on_shapes(
            self._generation,
            ShapeResult(
                problems=[
                    Problem(
                        None, f"shape inference stopped ({why}); it restarts with the next edit"
                    )
                ]
            ),
        )
        # a read that was under way gets its answer too, not a wait for ever
        self.samplesRead.emit(
            self._samples_token, f"the reading process stopped ({why}); select the node again"
        )

    # ------------------------------------------------------------------ model.py, when wanted
    def set_code_wanted(self, wanted: bool) -> None:
        """Make model.py after every change of shapes (the Code dock shows it) or not."""
        self._code_wanted = wanted
        if wanted:
            self._ask_code()

    def request_code(self) -> None:
        """Ask once for model.py for the latest shapes (``codeUpdated`` brings it)."""
        self._code_asked = True
        self._ask_code()

    def _ask_code(self) -> None:
        """Ask for model.py of the latest generation: at once when its shapes are in and valid,
        or queued behind its shape request (the process answers once those shapes are valid)."""
        if self.shapes_ready:
            wanted = self.shapes.ok and self.model_code is None
        else:
            wanted = self._sent_generation == self._generation
        if wanted and self._code_sent != self._generation:
            self._code_sent = self._generation
            self._service.send(
                ("code", self._key, self._generation, self.path.stem if self.path else "")
            )

    def _on_code(self, generation: int, code: Any) -> None:
        if generation == self._generation == self._done_generation:
            self._code_asked = False
            self.model_code = code
            self.codeUpdated.emit(code)

    def _on_shapes(self, generation: int, result: Any) -> None:
        if not isinstance(result, ShapeResult):
            result = ShapeResult(problems=[Problem(None, f"shape inference failed: {result}")])
        if generation != self._generation:  # a newer edit is on its way
            if self._unshown is not None:
                self._unshown = None if result.changed is None else self._unshown | result.changed
            return
        if result.changed is not None:
            if self._unshown is None or self.shapes is None or self.shapes.saved:
                result.changed = None
            else:
                result.changed |= self._unshown
        self._unshown = set()
        self.shapes = result
        self.model_code = None  # until someone wants it
        self._done_generation = generation
        self.shapesUpdated.emit(result)  # the canvas first; the code follows, if wanted
        if self._code_wanted or self._code_asked:
            self._ask_code()

    def wait_for_shapes(self, timeout_ms: int = 60_000, with_code: bool = True) -> bool:
        """Process events until the latest shapes arrived, and with ``with_code`` the model.py
        made from them when the graph is valid (tests, --screenshot, benchmarks)."""
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop

        deadline = QDeadlineTimer(timeout_ms)
        if with_code:
            self.request_code()

        def ready() -> bool:
            if not self.shapes_ready:
                return False
            return not with_code or not self.shapes.ok or self.model_code is not None

        # sleep in the event loop until something arrives (the reply is a queued signal), not
        # in a polling loop that takes CPU from the shape process; the tick ends each wait in
        # time to see the deadline
        tick = QTimer(interval=20)
        tick.start()
        try:
            while not ready() and not deadline.hasExpired():
                QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        finally:
            tick.stop()
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

    def add_node(
        self,
        type_id: str,
        pos: tuple[float, float],
        params: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> str | None:
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

    def set_type(self, node_id: str, type_id: str) -> bool:
        """Change a node's type in place (its wires, label and fitting params kept), one undo
        step; a type that does not fit is refused with the reason."""
        if self.graph.node(node_id).type_id == type_id:
            return True
        return self.push(cmd.SetType(self.graph, node_id, type_id))

    def set_label(self, node_id: str, label: str) -> bool:
        return self.push(cmd.SetLabel(self.graph, node_id, label))

    def set_setting(self, name: str, value: Any) -> bool:
        if self.graph.settings.get(name) == value:
            return True
        return self.push(cmd.SetSetting(self.graph, name, value))

    def set_sweep(self, space: dict[str, Any] | None, text: str = "Edit sweep") -> bool:
        """Keep ``space`` as the project's sweep (None removes it), one undo step."""
        if self.graph.sweep == space:
            return True
        return self.push(cmd.SetSweep(self.graph, space, text))

    def move_nodes(
        self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]], text: str = "Move"
    ) -> bool:
        moves = {k: v for k, v in moves.items() if v[0] != v[1]}
        return bool(moves) and self.push(cmd.MoveNodes(self.graph, moves, text))

    def remove(self, node_ids: list[str], edges: list[Edge] = ()) -> bool:
        """Delete nodes and wires as one undo step."""
        node_ids = [n for n in node_ids if n in self.graph]
        edges = [
            e
            for e in edges
            if self.graph.has_edge(e) and e.src not in node_ids and e.dst not in node_ids
        ]
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
        save(self.graph, path, self.results_to_save())
        if path != self.path:
            self.path = path
            self.pathChanged.emit(path)
            self.request_shapes()  # relative data paths resolve against the new folder
        self.undo_stack.setClean()

    def results_to_save(self) -> dict[str, Any] | None:
        """The latest inferred shapes in the file's ``results`` form, or None when they are
        not in yet for this state of the graph."""
        if not self.shapes_ready or self.shapes.saved:
            return None
        r = self.shapes
        return results_to_dict(
            to_dict(self.graph), r.shapes, r.param_counts, r.trainable_counts, r.resolved
        )


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


def _saved_result(saved: dict[str, Any] | None) -> ShapeResult | None:
    """The shapes, counts and auto values saved with the project, as a result to show until
    inference has run (``saved``)."""
    if not saved:
        return None
    return ShapeResult(
        shapes=dict(saved["shapes"]),
        resolved=dict(saved["resolved"]),
        param_counts=dict(saved["param_counts"]),
        trainable_counts=dict(saved["trainable_counts"]),
        saved=True,
    )
