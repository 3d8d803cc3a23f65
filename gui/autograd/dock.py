"""The Autograd dock of the main window: builds the panel when first shown, captures a step
from the canvas, links selection both ways, and takes the gradient health and graphs a training
run sends (only while the dock is shown)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from torchcanvas.gui.autograd.view import AutogradPanel


class AutogradDock:
    """The Autograd dock in the main window: capture from the canvas, linked selection, and
    gradient health sent by training runs (only while the dock is shown)."""

    GRADS_EVERY = 20  # steps between gradient-norm readings during training
    REFRESH_MS = 400  # the list and chart redraw at most this often during training

    def __init__(self, window):
        from PySide6.QtCore import QTimer

        self.window = window
        self._panel: AutogradPanel | None = None  # built when the dock first shows, or asked for
        self.dock = window._dock("Autograd", None, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self._visibility_changed)
        training = window.training
        training.runStarted.connect(self._run_started)
        training.autogradArrived.connect(self._snapshot)
        self._pending = None
        self._doc = window.doc
        self._stale_run = False  # a run of a document no longer open
        self._timer = QTimer(self.dock, singleShot=True, interval=self.REFRESH_MS)
        self._timer.timeout.connect(self._flush)

    @property
    def panel(self) -> AutogradPanel:
        """The dock's widget, built on first use (its chart loads pyqtgraph: not at start-up)."""
        if self._panel is None:
            panel = self._panel = AutogradPanel()
            panel.set_grads_every(self.GRADS_EVERY)
            panel.captureRequested.connect(self.capture)
            panel.nodesSelected.connect(self.select_on_canvas)
            panel.graphEveryChanged.connect(lambda _: self._configure_run())
            self.dock.setWidget(panel)
        return self._panel

    @property
    def built(self) -> bool:
        return self._panel is not None

    def _visibility_changed(self, visible: bool) -> None:
        if visible and self._panel is None:
            self.panel.highlight_owners(self.window.scene.selected_node_ids())
        self._configure_run()

    # ------------------------------------------------------------------ canvas
    def document_changed(self) -> None:
        """Another document is open: drop the graph now (node ids repeat across projects; doing
        it later, inside a selection of one of its items, would delete that item mid-call), and
        ignore what a run still training the previous document sends."""
        self._doc = self.window.doc
        self._stale_run = self.window.training.running
        self._pending = None
        if self._panel is None:
            return
        if self.panel.graph is not None:
            self.panel.clear_graph("Press Capture to see the backward graph of the network.")
        self.panel.reset_history()

    def _same_document(self) -> bool:
        """The graph shown belongs to the open document."""
        return self.window.doc is self._doc

    def canvas_selection(self, node_ids: list[str]) -> None:
        """The canvas selection changed: outline those nodes' functions here."""
        if self._same_document() and self._panel is not None:
            self.panel.highlight_owners(node_ids)

    def select_on_canvas(self, node_ids: list[str]) -> None:
        window = self.window
        if not self._same_document():
            return
        ids = [n for n in node_ids if n in window.doc.graph]
        if ids:
            window.scene.select_nodes(ids)
            window.view.center_on_nodes(ids)

    def capture(self) -> bool:
        """Capture from the canvas graph, or ask a running training for its latest step."""
        window = self.window
        control = window.training.control
        if window.training.running and control is not None:
            control.request_graph()
            self.panel.info.setText("The graph of the next training step is on its way…")
            return True
        from PySide6.QtWidgets import QApplication

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return self._capture_canvas()
        finally:
            QApplication.restoreOverrideCursor()

    def _capture_canvas(self) -> bool:
        from torchcanvas.runtime.autograd import capture_project, project_batch
        from torchcanvas.runtime.compile import CompileError, compile_project

        doc = self._doc = self.window.doc
        try:
            project = compile_project(doc.graph, doc.project_dir)
            batch, note = project_batch(project)
            graph = capture_project(project, batch=batch)
        except CompileError as exc:
            self.panel.clear_graph(f"Cannot capture: {exc}")
            if exc.node_id:
                self.window.focus_node(exc.node_id)
            return False
        except Exception as exc:  # a user's graph can fail in any torch call
            self.panel.clear_graph(f"Cannot capture: {type(exc).__name__}: {exc}")
            return False
        self.panel.reset_history()
        self.panel.set_graph(graph, f"from {note}")
        self.panel.highlight_owners(self.window.scene.selected_node_ids())
        return True

    # ------------------------------------------------------------------ training
    def _configure_run(self) -> None:
        training = self.window.training
        shown = self.dock.isVisible() and self._panel is not None
        # kept for the next run too, which then reports from its first step
        training.grads_every = self.GRADS_EVERY if shown else 0
        training.graph_every = self.panel.every.value() if shown else 0
        if training.control is not None:
            training.control.grads_every = training.grads_every
            training.control.graph_every = training.graph_every

    def _run_started(self, _event) -> None:
        self._stale_run = False
        if self._panel is not None:
            self.panel.reset_history()
        self._configure_run()

    def _snapshot(self, snapshot) -> None:
        if self._stale_run:
            return
        if snapshot.graph is not None:
            self._pending = None
            self.panel.set_graph(snapshot.graph, "captured during training")
            self.panel.highlight_owners(self.window.scene.selected_node_ids())
            return
        labels = {n.id: n.label for n in self.window.doc.graph.nodes()}
        self.panel.add_history(snapshot.grads, labels)  # every point goes on the chart
        self._pending = snapshot.grads
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        stats, self._pending = self._pending, None
        if stats is None:
            return
        labels = {n.id: n.label for n in self.window.doc.graph.nodes()}
        self.panel.show_grads(stats, labels, history=False)
