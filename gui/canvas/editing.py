"""The main window's canvas commands: selection links, a node's right-click menu (change or
sweep its type), blocks edited in place, adding nodes (palette, quick-add, a wire dropped on
empty canvas), the clipboard, collapse/expand and layout."""

from __future__ import annotations

import atexit

from PySide6.QtCore import QPoint, QPointF, QTimer
from PySide6.QtWidgets import QApplication, QMenu

from torchcanvas.graph import GraphError, get_spec
from torchcanvas.graph.clipboard import (
    copy_fragment,
    fragment_from_text,
    fragment_to_text,
    plan_paste,
)
from torchcanvas.graph.layout import layered_layout
from torchcanvas.gui.canvas.block_edit import BlockBodyDocument
from torchcanvas.gui.canvas.quickadd import compatible_types
from torchcanvas.gui.canvas.scene import CanvasScene
from torchcanvas.gui.panels.inspector import InspectorWidget

FRAGMENT_MIME = "application/x-torchcanvas-fragment"
_clipboard_guard: list = []  # the exit handler below, once registered


def _plain_clipboard_at_exit() -> None:
    """While Python still runs at exit: the clipboard's copied nodes are a QMimeData made here,
    with a Python wrapper; Qt's own teardown would delete it after the interpreter is gone and
    crash the process (SIGSEGV at exit). A plain-text copy takes its place (pasting reads the
    same fragment from the text)."""
    if QApplication.instance() is None:
        return
    clipboard = QApplication.clipboard()
    mime = clipboard.mimeData()
    if mime is not None and mime.hasFormat(FRAGMENT_MIME):
        clipboard.setText(mime.text())


class CanvasEditingMixin:
    """Canvas editing commands of ``MainWindow``: selection, blocks in place, adding nodes,
    clipboard, blocks and layout."""

    def _selection_changed(self) -> None:
        ids = self.scene.selected_node_ids()
        self.inspector.show_nodes(ids)
        if self.block_doc is not None:  # ids inside a block's body: nothing else knows them
            return
        self.code_view.highlight_nodes(ids)
        self.autograd.canvas_selection(ids)
        if len(ids) == 1 and self._explain.built:
            self.explain_view.pick_layer(ids[0])

    def focus_node(self, node_id: str) -> None:
        """Select and show a node of the model (back from a block's body if need be)."""
        if node_id in self.doc.graph:
            self.leave_block()
            self.scene.select_nodes([node_id])
            self.view.center_on_nodes([node_id])

    def focus_inner_node(self, block: str, node_id: str) -> None:
        """Open block ``block``'s body and select its node ``node_id`` (a problem inside)."""
        if self.enter_block(block) and node_id in self.block_doc.graph:
            self.scene.select_nodes([node_id])
            self.view.center_on_nodes([node_id])

    @property
    def canvas_doc(self):
        """What the canvas edits: the project, or the block body shown in its place."""
        return self.block_doc if self.block_doc is not None else self.doc

    def _connect_scene(self, scene: CanvasScene) -> None:
        scene.selectionChanged.connect(self._selection_changed)
        scene.wireDroppedOnEmpty.connect(self._wire_dropped)
        scene.nodeActivated.connect(self._node_activated)

    # ------------------------------------------------------------------ a node's menu
    def node_menu(self, node_id: str) -> QMenu:
        """A node's right-click menu: change its type to another its wires fit (one undo
        step), or sweep its type (a dimension of the project's sweep)."""
        from torchcanvas.gui.training.sweep_edit import TYPE_SWEEP_TEXT, type_title

        doc = self.canvas_doc
        graph = doc.graph
        alternatives = graph.type_alternatives(node_id) if node_id in graph else []
        menu = QMenu(self.view)
        change = menu.addMenu("Change type")
        change.setObjectName("changeType")
        for type_id in alternatives[1:]:
            action = change.addAction(type_title(type_id))
            action.setData(type_id)
            action.setToolTip(type_id)
            action.triggered.connect(lambda _checked=False, t=type_id: doc.set_type(node_id, t))
        change.setEnabled(len(alternatives) > 1)
        sweep = menu.addAction(TYPE_SWEEP_TEXT)
        sweep.setObjectName("sweepType")
        sweep.setEnabled(self.block_doc is None and len(alternatives) > 1)
        sweep.triggered.connect(lambda _checked=False: self.sweep_node_type(node_id))
        return menu

    def sweep_node_type(self, node_id: str):
        """ "Sweep this node's type…": the dialog of the types to try (``sweep_edit``)."""
        from torchcanvas.gui.training.sweep_edit import open_type_dialog

        return open_type_dialog(self, self.doc, node_id)

    def _node_menu_requested(self, node_id: str, global_pos: QPoint) -> None:
        menu = self.node_menu(node_id)
        menu.exec(global_pos)
        menu.deleteLater()

    def _node_activated(self, node_id: str) -> None:
        """A double-click on a node: a block opens in place."""
        graph = self.canvas_doc.graph
        if node_id in graph and graph.node(node_id).kind == "block":
            self.enter_block(graph.node(node_id).params["block"])

    def edit_selected_block(self) -> bool:
        """Ctrl+B: open the selected block's body on the canvas."""
        graph = self.canvas_doc.graph
        blocks = [n for n in self.scene.selected_node_ids() if graph.node(n).kind == "block"]
        if not blocks:
            self.show_message("Select a block to edit (or double-click it)")
            return False
        return self.enter_block(graph.node(blocks[0]).params["block"])

    def _blocks_changed(self) -> None:
        """The palette lists the project's blocks, with their ports."""
        graph = self.doc.graph
        self.palette.set_blocks(
            {
                name: (d.inputs, d.outputs, len(graph.block_users(name)))
                for name, d in graph.blocks.items()
            }
        )

    def enter_block(self, name: str) -> bool:
        """Show block ``name``'s body on the canvas in place of the model, under a breadcrumb
        bar (Model ▸ name); edits there change every use and are undone like any other."""
        if name not in self.doc.graph.blocks:
            return False
        if self.block_doc is not None:
            if self.block_doc.block_name == name:
                return True
            self._close_block()
        else:
            self._root_view = (self.view.transform(), self.view.visible_scene_rect().center())
            self._root_inspector = self.inspector
            self._came_from = self.scene.selected_node_ids()
        body = self.block_doc = BlockBodyDocument(self.doc, name)
        body.message.connect(self.show_message)
        body.gone.connect(self.leave_block)
        body.renamed.connect(lambda new: self._show_breadcrumb())
        self.scene = CanvasScene(body, self)
        self._connect_scene(self.scene)
        self.scene.set_show_shapes(self.root_scene.show_shapes)
        self.view.setScene(self.scene)
        self.view.canvas = self.scene
        self.inspector = InspectorWidget(body)
        self.inspector_dock.setWidget(self.inspector)
        self.inspector.show_nodes([])
        self._show_breadcrumb()
        self.start_card.hide()
        self.view.fit_all()
        return True

    def _show_breadcrumb(self) -> None:
        name = self.block_doc.block_name
        self.breadcrumb.show_block(name, len(self.doc.graph.block_users(name)))

    def _close_block(self) -> None:
        """Let go of the body shown (its scene, inspector and document)."""
        body, scene, inspector = self.block_doc, self.scene, self.inspector
        self.block_doc = None
        self.scene = self.root_scene
        self.view.setScene(self.scene)
        self.view.canvas = self.scene
        self.inspector = self._root_inspector
        self.inspector_dock.setWidget(self.inspector)
        inspector.deleteLater()
        body.close()
        body.deleteLater()
        scene.dispose()
        scene.deleteLater()

    def leave_block(self) -> bool:
        """Back from a block's body to the whole model (Esc, or "Model" in the breadcrumb)."""
        if self.block_doc is None:
            return False
        self._close_block()
        self.breadcrumb.hide()
        transform, centre = self._root_view
        self.view.setTransform(transform)
        self.view.centerOn(centre)
        came_from = [n for n in self._came_from if n in self.scene.nodes]
        self.scene.select_nodes(came_from)
        self.inspector.show_nodes(came_from)
        self._update_start_card()
        return True

    def select_all(self) -> None:
        self.scene.select_nodes(self.scene.nodes)

    def palette_focus(self) -> None:
        self.palette_dock.show()
        self.palette_dock.raise_()
        self.palette.focus_search()

    def _add_from_palette(self, type_id: str) -> None:
        self.view.add_node_here(type_id)

    def _quick_add_at(self, scene_pos: QPointF, global_pos) -> None:
        self._quick_add_target = (scene_pos, None)
        self.quick_add.popup(global_pos)

    def _wire_dropped(self, node_id: str, port: str, from_input: bool, pos: QPointF) -> None:
        ports = (
            self.canvas_doc.graph.input_ports(node_id)
            if from_input
            else self.canvas_doc.graph.output_ports(node_id)
        )
        spec = next(p for p in ports if p.name == port)
        self._quick_add_target = (pos, (node_id, port, from_input, spec.kind))
        global_pos = self.view.mapToGlobal(self.view.mapFromScene(pos))
        self.quick_add.popup(
            global_pos,
            compatible_types(spec.kind, want_input=not from_input),
            hint=f"connect to {self.canvas_doc.graph.node(node_id).label}.{port}",
        )

    def _quick_add_chosen(self, type_id: str) -> None:
        if self._quick_add_target is None:
            return
        pos, wire = self._quick_add_target
        self._quick_add_target = None
        if wire is None:
            self.view.add_node_at(type_id, pos, free=True)
            return
        node_id, port, from_input, kind = wire
        spec = get_spec(type_id)
        doc = self.canvas_doc
        with doc.macro(f"Add {spec.title}"):
            new = self.view.add_node_at(type_id, pos, free=True)
            if new is None:
                return
            if from_input:
                out = next((p for p in spec.outputs if p.kind == kind), None)
                if out is not None:
                    doc.connect_ports(new, out.name, node_id, port)
            else:
                inp = next((p for p in spec.inputs if p.kind == kind), None)
                if inp is not None:
                    doc.connect_ports(node_id, port, new, inp.name)

    def copy(self) -> bool:
        ids = self.scene.selected_node_ids()
        if not ids:
            return False
        text = fragment_to_text(copy_fragment(self.canvas_doc.graph, ids))
        from PySide6.QtCore import QMimeData

        mime = QMimeData()
        mime.setData(FRAGMENT_MIME, text.encode("utf-8"))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        if not _clipboard_guard:
            _clipboard_guard.append(atexit.register(_plain_clipboard_at_exit))
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection(text="Cut")

    def paste(
        self, fragment: dict | None = None, offset: tuple[float, float] | None = None
    ) -> list[str]:
        if fragment is None:
            mime = QApplication.clipboard().mimeData()
            raw = (
                bytes(mime.data(FRAGMENT_MIME)).decode("utf-8")
                if mime.hasFormat(FRAGMENT_MIME)
                else mime.text()
            )
            try:
                fragment = fragment_from_text(raw)
            except GraphError as exc:
                self.show_message(str(exc))
                return []
        if offset is None:
            positions = [
                n["pos"]
                for n in fragment["nodes"].values()
                if isinstance(n, dict) and isinstance(n.get("pos"), list)
            ]
            target = self.view.cursor_scene_pos()
            if positions:
                offset = (
                    round(target.x() - min(p[0] for p in positions), -1),
                    round(target.y() - min(p[1] for p in positions), -1),
                )
            else:
                offset = (40.0, 40.0)
        doc = self.canvas_doc
        plan = plan_paste(doc.graph, fragment, offset)
        if not plan.nodes:
            return []

        def apply(g) -> None:
            for name, body in plan.blocks:  # definitions the pasted blocks need
                g.add_block_def(name, body)
            for nid, type_id, params, label, pos in plan.nodes:
                g.add_node(type_id, params, label=label, pos=pos, node_id=nid)
            for e in plan.edges:
                g.connect(e.src, e.src_port, e.dst, e.dst_port)

        if doc.change("Paste", apply) is None and plan.nodes[0][0] not in doc.graph:
            return []
        ids = [n[0] for n in plan.nodes]
        self.scene.select_nodes(ids)
        return ids

    def duplicate(self) -> list[str]:
        ids = self.scene.selected_node_ids()
        if not ids:
            return []
        return self.paste(copy_fragment(self.canvas_doc.graph, ids), (40.0, 40.0))

    def delete_selection(self, _=False, text: str = "Delete") -> None:
        self.canvas_doc.remove(self.scene.selected_node_ids(), self.scene.selected_edges())

    def ask_block_name(self, default: str) -> str | None:
        from PySide6.QtWidgets import QInputDialog

        name, ok = QInputDialog.getText(
            self, "Collapse into block", "Class name of the block (e.g. ConvBlock):", text=default
        )
        return name.strip() if ok and name.strip() else None

    def collapse_selection(self) -> str | None:
        ids = self.scene.selected_node_ids()
        if not ids:
            self.show_message("Select the layers to collapse into a block")
            return None
        k = 1
        while f"Block{k}" in self.doc.graph.blocks:
            k += 1
        name = self.ask_block_name(f"Block{k}")
        if name is None:
            return None
        instance = self.canvas_doc.change(f"Collapse into {name}", lambda g: g.collapse(ids, name))
        if instance is not None:
            self.scene.select_nodes([instance])
        return instance

    def expand_selection(self) -> list[str]:
        blocks = [
            n
            for n in self.scene.selected_node_ids()
            if self.canvas_doc.graph.node(n).type_id == "block"
        ]
        if not blocks:
            self.show_message("Select a block to expand")
            return []

        def expand(g) -> list[str]:
            new: list[str] = []
            for nid in blocks:
                new += g.expand(nid)
            return new

        new = self.canvas_doc.change("Expand block", expand) or []
        self.scene.select_nodes(new)
        return new

    def set_flow(self, flow: str) -> None:
        """Switch the canvas direction and lay the graph out along it, as one undo step."""
        for f, act in self.flow_actions.items():
            act.setChecked(f == flow)
        if self.doc.graph.settings["flow"] == flow:
            return
        self.leave_block()  # the flow is the model's: it is laid out again
        with self.doc.macro("Change flow"):
            self.doc.set_setting("flow", flow)
            self.auto_layout(all_nodes=True)

    def auto_layout(self, direction: str | None = None, all_nodes: bool = False) -> None:
        selected = [] if all_nodes else self.scene.selected_node_ids()
        ids = selected if len(selected) > 1 else None
        doc = self.canvas_doc
        positions = layered_layout(
            doc.graph, ids, direction or self.scene.flow, size=self.scene.node_size
        )
        moves = {nid: (doc.graph.node(nid).pos, pos) for nid, pos in positions.items()}
        if doc.move_nodes(moves, "Auto-layout") and ids is None:
            QTimer.singleShot(0, self.view.fit_all)

    def _update_start_card(self) -> None:
        """The start card shows while the canvas is empty."""
        empty = len(self.doc.graph) == 0
        if empty != self.start_card.isVisible():
            self.start_card.setVisible(empty)

    def _quick_add_mid_view(self) -> None:
        centre = self.view.viewport().rect().center()
        self.view.setFocus()
        self._quick_add_at(self.view.mapToScene(centre), self.view.mapToGlobal(centre))
