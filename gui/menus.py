"""The main window's actions and menus (File, Edit, View, Graph, Run, Help), their shortcuts, and
the keyboard-shortcut sheet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from torchcanvas.assets import examples as bundled_examples
from torchcanvas.gui.project import Document


class MenusMixin:
    """Actions, menus and shortcuts of ``MainWindow``."""

    def _action(self, text: str, slot, shortcut=None, menu=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        action.triggered.connect(slot)
        if tip:
            action.setStatusTip(tip)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action("&New", self.new_file, keys.New, file_menu)
        self._action("&Open…", self.ask_open, keys.Open, file_menu)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        examples = file_menu.addMenu("&Examples")
        for path in bundled_examples():
            act = QAction(path.stem.replace("_", " "), self)
            act.triggered.connect(lambda _=False, p=path: self.open_example(p))
            examples.addAction(act)
        self._action(
            "&Import PyTorch model…",
            self.import_model,
            None,
            file_menu,
            "Trace a PyTorch model (torchvision, a .py file or a module) onto a new canvas",
        )
        file_menu.addSeparator()
        self._action("&Save", self.save, keys.Save, file_menu)
        self._action("Save &As…", self.save_as, keys.SaveAs, file_menu)
        self._action(
            "&Export…",
            self.export_project,
            QKeySequence("Ctrl+E"),
            file_menu,
            "Write model.py, train.py, weights, TorchScript and ONNX to a folder",
        )
        file_menu.addSeparator()
        self._action("&Quit", self.close, keys.Quit, file_menu)

        edit = bar.addMenu("&Edit")
        self.edit_menu = edit
        self._undo_anchor = edit.addSeparator()
        self._action("Cu&t", self.cut, keys.Cut, edit)
        self._action("&Copy", self.copy, keys.Copy, edit)
        self._action("&Paste", self.paste, keys.Paste, edit)
        self._action("&Duplicate", self.duplicate, QKeySequence("Ctrl+D"), edit)
        self._action(
            "&Delete",
            self.delete_selection,
            [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
            edit,
        )
        edit.addSeparator()
        self._action("Select &All", self.select_all, keys.SelectAll, edit)
        self._action("&Find node type…", self.palette_focus, QKeySequence("Ctrl+F"), edit)

        view = bar.addMenu("&View")
        self._action(
            "&Fit All",
            lambda: self.view.fit_all(),
            [QKeySequence("F"), QKeySequence(Qt.Key.Key_Home)],
            view,
        )
        self._action(
            "Zoom &In", lambda: self.view.set_zoom(self.view.zoom * 1.25), keys.ZoomIn, view
        )
        self._action(
            "Zoom &Out", lambda: self.view.set_zoom(self.view.zoom / 1.25), keys.ZoomOut, view
        )
        self._action("&Actual Size", lambda: self.view.set_zoom(1.0), QKeySequence("Ctrl+0"), view)
        view.addSeparator()
        shapes = self._action("Show &Shapes on Wires", self._toggle_shapes, None, view)
        shapes.setCheckable(True)
        shapes.setChecked(True)
        self.cost_action = self._action(
            "Show &Cost (share of MACs)",
            self.set_cost_overlay,
            QKeySequence("Ctrl+M"),
            view,
            "Colour the nodes by their share of the model's multiply-accumulates",
        )
        self.cost_action.setCheckable(True)
        view.addSeparator()
        for dock in (
            self.palette_dock,
            self.inspector_dock,
            self.code_dock,
            self.problems_dock,
            self.history_dock,
            self.training_dock,
        ):
            view.addAction(dock.toggleViewAction())
        view.addAction(self.autograd.dock.toggleViewAction())
        view.addAction(self.sweep_dock.toggleViewAction())

        graph_menu = bar.addMenu("&Graph")
        self._action(
            "&Add Node…",
            lambda: self._quick_add_at(self.view.cursor_scene_pos(), self.cursor().pos()),
            None,
            graph_menu,
            "Tab or double-click on the canvas",
        )
        self._action(
            "Auto-&Layout",
            lambda: self.auto_layout(),
            QKeySequence("L"),
            graph_menu,
            "Lay out the selection, or everything, along the flow",
        )
        graph_menu.addSeparator()
        self._action(
            "&Collapse into Block…",
            self.collapse_selection,
            QKeySequence("Ctrl+G"),
            graph_menu,
            "Turn the selected layers into a reusable block (nn.Module)",
        )
        self._action(
            "&Expand Block",
            self.expand_selection,
            QKeySequence("Ctrl+Shift+G"),
            graph_menu,
            "Put a block's layers back on the canvas",
        )
        self._action(
            "&Edit Block in Place",
            self.edit_selected_block,
            QKeySequence("Ctrl+B"),
            graph_menu,
            "Open the selected block's layers on the canvas (or double-click it); Esc goes back",
        )
        flow_menu = view.addMenu("&Flow")
        self.flow_actions = {}
        for flow, text in (("TB", "&Top → down"), ("LR", "&Left → right")):
            act = self._action(text, lambda _=False, f=flow: self.set_flow(f), None, flow_menu)
            act.setCheckable(True)
            self.flow_actions[flow] = act

        run_menu = bar.addMenu("&Run")
        self.train_action = self._action(
            "&Train",
            lambda: self.start_training(),
            QKeySequence("F5"),
            run_menu,
            "Train the graph as it is now, in the background",
        )
        self.pause_action = self._action("&Pause", self._toggle_pause, QKeySequence("F6"), run_menu)
        self.stop_action = self._action(
            "&Stop", lambda: self.training.stop(), QKeySequence("Shift+F5"), run_menu
        )
        self.pause_action.setEnabled(False)
        self.stop_action.setEnabled(False)
        run_menu.addSeparator()
        self._action(
            "Find &Learning Rate…",
            lambda: self.find_lr(),
            None,
            run_menu,
            "Range test: train a copy of the model briefly with a growing learning rate",
        )
        self._action(
            "Pre&view a Batch",
            lambda: self.preview_batch(),
            QKeySequence("F7"),
            run_menu,
            "Push one training batch through the graph and show every node's statistics",
        )

        help_menu = bar.addMenu("&Help")
        self._action("&Keyboard Shortcuts", self.show_shortcuts, QKeySequence("F1"), help_menu)

    def _rebind_undo(self, doc: Document) -> None:
        for action in getattr(self, "_undo_actions", []):
            self.edit_menu.removeAction(action)
            self.removeAction(action)
        undo = doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Shift+Z")])
        self.edit_menu.insertActions(self._undo_anchor, [undo, redo])
        self.addActions([undo, redo])
        self._undo_actions = [undo, redo]

    def show_shortcuts(self) -> None:
        text = (
            "<table>"
            "<tr><td><b>Tab</b>, double-click</td><td>add a node at the cursor</td></tr>"
            "<tr><td>drag port → port</td><td>connect; drag from a wired input to move it</td></tr>"
            "<tr><td>wheel</td><td>zoom to the cursor</td></tr>"
            "<tr><td>middle drag, Space + drag</td><td>pan</td></tr>"
            "<tr><td><b>F</b>, Home</td><td>fit all</td></tr>"
            "<tr><td><b>L</b></td><td>auto-layout (selection or all)</td></tr>"
            "<tr><td>Ctrl+C / X / V / D</td><td>copy, cut, paste, duplicate</td></tr>"
            "<tr><td>Delete</td><td>delete the selection</td></tr>"
            "<tr><td>Ctrl+Z / Ctrl+Shift+Z</td><td>undo / redo</td></tr>"
            "<tr><td>Ctrl+F</td><td>search the palette</td></tr>"
            "</table>"
        )
        QMessageBox.information(self, "Keyboard shortcuts", text)
