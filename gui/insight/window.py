"""The main window's insight commands: the Explain tab, the learning-rate finder and the batch
preview with its marks on the canvas."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from torchcanvas.graph import GraphError


class InsightWindowMixin:
    """Explanations, the learning-rate finder and the batch preview of ``MainWindow``."""

    @property
    def explain_view(self):
        """Explanations of the current run's predictions (built on first use)."""
        return self._explain.widget()

    def _make_explain(self):
        from torchcanvas.gui.insight.explain_view import ExplainView

        view = ExplainView()
        QTimer.singleShot(0, self, self._explain_run)
        return view

    def _explain_run(self) -> None:
        """Point the Explain tab at the run chosen in the Runs tab (its project snapshot)."""
        if not self._explain.built:
            return
        from torchcanvas.graph import load

        run = self.runs.current_run()
        folder = run.folder if run is not None else None
        graph = None
        if folder is not None and (folder / "project.json").is_file():
            try:
                graph = load(folder / "project.json")
            except (OSError, GraphError):
                graph = None
        self.explain_view.set_run(folder if graph is not None else None, graph)

    def find_lr(self):
        """The learning-rate finder for the project as it is now (a dialog, started)."""
        from torchcanvas.gui.insight.lr_finder import LRFinderDialog

        dialog = getattr(self, "_lr_dialog", None)
        if dialog is None or dialog.doc is not self.doc:
            if dialog is not None:
                dialog.close()
            dialog = self._lr_dialog = LRFinderDialog(self.doc, self)
            dialog.applied.connect(lambda lr: self.show_message(f"Learning rate set to {lr:g}"))
        dialog.show()
        dialog.raise_()
        if dialog.result is None:
            dialog.start()
        return dialog

    def preview_panel(self):
        """The Batch Preview dock's panel (built on first use)."""
        panel = self.preview_dock.widget()
        if panel is None:
            from torchcanvas.gui.insight.batch_preview import BatchPreviewPanel

            panel = BatchPreviewPanel()
            panel.previewed.connect(self._mark_preview)
            panel.nodeActivated.connect(self._preview_node)
            self.preview_dock.setWidget(panel)
        panel.set_document(self.doc)
        return panel

    def preview_batch(self):
        """Push one batch through the graph as it is now, in the background; the panel."""
        panel = self.preview_panel()
        self.preview_dock.show()
        self.preview_dock.raise_()
        return panel if panel.start() else None

    def _mark_preview(self, result) -> None:
        """The batch's statistics beside the nodes; stale at once when the graph was edited
        while the batch ran."""
        from torchcanvas.gui.insight.batch_preview import mark_nodes, mark_stale

        mark_nodes(self.scene, result)
        if self.preview_dock.widget().stale:
            mark_stale(self.scene)

    def _preview_node(self, node_id: str) -> None:
        if node_id in self.canvas_doc.graph and node_id not in self.scene.selected_node_ids():
            self.scene.select_nodes([node_id])
