"""The inspector: the editors of the selected node(s), or the project's training settings.

Editors are built from each ``ParamSpec`` (never per node type; one ``ParamRow`` each, in
``param_row.py``), and every change goes through ``Document.set_param`` / ``set_label`` /
``set_setting``, so it is one undo step (a macro when several nodes of one type are edited
together). A refused value shows an inline message naming
the parameter and what is allowed, and the field goes back to the current value.

The inspector follows the document: undo/redo, edits from elsewhere and new shapes update the
fields in place (no rebuild), so a field being typed in keeps its focus and its text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.catalogue.style import STYLE_NOTE, STYLE_UNUSED_SETTINGS, optimises_image
from torchcanvas.graph.document import validate_label
from torchcanvas.graph.errors import GraphError, ParamError
from torchcanvas.graph.settings import SETTINGS, validate_settings
from torchcanvas.graph.spec import AUTO, NodeSpec, ParamSpec
from torchcanvas.gui import theme
from torchcanvas.gui.canvas.cost import node_cost_text, totals_text
from torchcanvas.gui.panels.param_row import (
    Invalid,
    ParamRow,
    WheelGuard,
    error_text,
    path_is_file,
    set_small,
    set_subtle,
)
from torchcanvas.gui.project import Document
from torchcanvas.gui.training.sweep_edit import (
    node_target,
    open_dimension_dialog,
    setting_target,
    sweepable,
)
from torchcanvas.runtime.cost import format_macs

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:0", "mps")
SETTING_TITLES = {
    "epochs": "epochs",
    "batch_size": "batch size",
    "seed": "seed",
    "device": "device",
    "val_split": "validation split",
    "model_name": "model name",
    "log_every": "log every",
    "num_workers": "num workers",
    "pin_memory": "pinned memory",
    "cudnn_benchmark": "cuDNN benchmark",
}
SAMPLES = 8  # a data node's samples shown
SAMPLES_DEBOUNCE_MS = 300  # edits this close together read the samples once


# ---------------------------------------------------------------------- the inspector
class InspectorWidget(QWidget):
    """Edits the selected node(s), or the training settings when nothing is selected."""

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc: Document | None = None
        self._node_ids: list[str] = []
        self._built_types: tuple[str, ...] = ()  # the types of the nodes the page was built for
        self._mode = "settings"  # "settings", "node", "nodes" (several), "placeholder"
        self._type_id: str | None = None
        self.rows: dict[str, ParamRow] = {}
        self.label_edit: QLineEdit | None = None
        self.label_error: QLabel | None = None
        self._header_title: QLabel | None = None
        self._header_info: QLabel | None = None
        self._header_problems: QLabel | None = None
        self._summary: QLabel | None = None
        # a data node's samples: read in the shape process (Document.request_samples), so no
        # thread of the inspector's own can outlive it; an answer for an older request or a
        # page gone meanwhile is dropped
        self.samples_view = None
        self._samples_key: str | None = None
        self._samples_token: int | None = None
        self._samples_timer = QTimer(self, singleShot=True, interval=SAMPLES_DEBOUNCE_MS)
        self._samples_timer.timeout.connect(self._read_samples)

        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._wheel_guard = WheelGuard(self._scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._scroll)
        self.setMinimumWidth(220)
        self.set_document(doc)

    # ------------------------------------------------------------------ public API
    def set_document(self, doc: Document) -> None:
        """Follow ``doc`` instead of the current document; shows its training settings."""
        if self.doc is not None:
            self._disconnect(self.doc)
        self.doc = doc
        doc.nodeChanged.connect(self._on_node_changed)
        doc.nodeRemoved.connect(self._on_node_removed)
        doc.graphReset.connect(self._on_graph_reset)
        doc.settingsChanged.connect(self._on_settings_changed)
        doc.shapesUpdated.connect(self._on_shapes)
        doc.closed.connect(self._on_doc_destroyed)
        doc.samplesRead.connect(self._on_samples)
        self._node_ids = []
        self._rebuild()

    def show_nodes(self, node_ids: list[str]) -> None:
        """One node: its editors. Several: a summary, and shared editors when they have the
        same type. None: the project's training settings."""
        ids = [n for n in dict.fromkeys(node_ids) if self.doc is not None and n in self.doc.graph]
        if ids == self._node_ids and self._scroll.widget() is not None:
            return
        self._commit_pending()
        self._node_ids = ids
        self._rebuild()

    @property
    def node_ids(self) -> list[str]:
        return list(self._node_ids)

    @property
    def mode(self) -> str:
        return self._mode

    def row(self, name: str) -> ParamRow:
        """The row editing param (or setting) ``name`` on the current page."""
        return self.rows[name]

    # ------------------------------------------------------------------ document signals
    def _disconnect(self, doc: Document) -> None:
        for signal, slot in (
            (doc.nodeChanged, self._on_node_changed),
            (doc.nodeRemoved, self._on_node_removed),
            (doc.graphReset, self._on_graph_reset),
            (doc.settingsChanged, self._on_settings_changed),
            (doc.shapesUpdated, self._on_shapes),
            (doc.closed, self._on_doc_destroyed),
            (doc.samplesRead, self._on_samples),
        ):
            with contextlib.suppress(RuntimeError, TypeError):  # gone with the document
                signal.disconnect(slot)

    def _on_doc_destroyed(self, *_args) -> None:
        self.doc = None
        self._samples_timer.stop()

    def _shown_types(self) -> tuple[str, ...]:
        graph = self.doc.graph if self.doc is not None else None
        return tuple(graph.node(n).type_id for n in self._node_ids if graph and n in graph)

    def _on_node_changed(self, node_id: str) -> None:
        if node_id in self._node_ids:
            node = self.doc.graph.node(node_id)
            if self._shown_types() != self._built_types:
                self._rebuild()  # a node changed type: other params, another header
                return
            if (
                self._mode == "node"
                and node.spec.extra.get("backbone")
                and node.params.get("arch") != getattr(self, "_built_arch", None)
            ):
                self._rebuild()  # another architecture: other stages and weights files
                return
            self._refresh()
            self._schedule_samples()

    def _on_node_removed(self, node_id: str) -> None:
        if node_id in self._node_ids:
            self._node_ids = [n for n in self._node_ids if n != node_id]
            self._rebuild()

    def _on_graph_reset(self) -> None:
        focus = self._focused_name()
        self._node_ids = [n for n in self._node_ids if n in self.doc.graph]
        self._rebuild()
        self._restore_focus(focus)

    def _on_settings_changed(self, _name: str) -> None:
        if self._mode == "settings":
            self._refresh()
        self._schedule_samples()  # the seed and the validation split choose the samples

    def _on_shapes(self, _result) -> None:
        self._refresh()

    # ------------------------------------------------------------------ building pages
    def _rebuild(self) -> None:
        old = self._scroll.widget()
        if old is not None:
            for w in old.findChildren(QWidget):
                w.blockSignals(True)  # a dying field must not commit on focus-out
        self.rows = {}
        self.label_edit = self.label_error = None
        self._header_title = self._header_info = self._header_problems = None
        self._summary = None
        self._form: QFormLayout | None = None
        self.samples_view = None
        self._samples_key = self._samples_token = None
        self._samples_timer.stop()
        page = QWidget()
        page.setObjectName("inspectorPage")
        box = QVBoxLayout(page)
        box.setContentsMargins(10, 8, 10, 10)
        box.setSpacing(6)
        if self.doc is None:
            self._mode = "settings"
        elif not self._node_ids:
            self._mode = "settings"
            self._build_settings(box)
        elif len(self._node_ids) == 1:
            node = self.doc.graph.node(self._node_ids[0])
            self._mode = "node" if node.spec is not None else "placeholder"
            self._build_node(box, node)
        else:
            self._mode = "nodes"
            self._build_multi(box)
        self._built_types = self._shown_types()
        box.addStretch(1)
        _align_hints(self.rows.values())
        self._scroll.setWidget(page)  # deletes the previous page
        self._refresh()

    def _header(
        self, box: QVBoxLayout, title: str, subtitle: str, color: QColor, help_text: str = ""
    ) -> None:
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(8)
        top.addWidget(_Stripe(color))
        lay = QVBoxLayout()
        lay.setContentsMargins(0, 1, 0, 1)
        lay.setSpacing(1)
        top.addLayout(lay, 1)
        self._header_title = QLabel(title)
        self._header_title.setTextFormat(Qt.TextFormat.PlainText)
        font = QFont(self._header_title.font())
        font.setBold(True)
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 1.15)
        self._header_title.setFont(font)
        self._header_title.setWordWrap(True)
        lay.addWidget(self._header_title)
        sub = QLabel(subtitle)
        sub.setTextFormat(Qt.TextFormat.PlainText)
        sub.setWordWrap(True)
        sub.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_small(sub)
        set_subtle(sub)
        lay.addWidget(sub)
        box.addLayout(top)
        if help_text:
            help_label = QLabel(help_text)
            help_label.setTextFormat(Qt.TextFormat.PlainText)
            help_label.setWordWrap(True)
            set_small(help_label)
            set_subtle(help_label)
            box.addWidget(help_label)
        self._header_info = QLabel()
        self._header_info.setTextFormat(Qt.TextFormat.RichText)
        self._header_info.setWordWrap(True)
        self._header_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_small(self._header_info)
        box.addWidget(self._header_info)
        self._header_problems = QLabel()
        self._header_problems.setWordWrap(True)
        self._header_problems.setTextFormat(Qt.TextFormat.PlainText)
        self._header_problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_small(self._header_problems)
        self._header_problems.hide()
        box.addWidget(self._header_problems)

    def _section(self, box: QVBoxLayout, title: str) -> QFormLayout:
        """A titled section; all sections of a page share one form, so the columns align."""
        form = self._form
        if form is None:
            form = self._form = QFormLayout()
            form.setContentsMargins(0, 0, 0, 0)
            form.setHorizontalSpacing(10)
            form.setVerticalSpacing(5)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            # in a narrow dock a long name goes above its field instead of squeezing it
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
            # top-aligned labels stay beside their editor when an error line opens below it
            form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            box.addLayout(form)
        heading = QWidget()
        lay = QVBoxLayout(heading)
        lay.setContentsMargins(0, 4 if form.rowCount() == 0 else 8, 0, 0)
        lay.setSpacing(3)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Plain)
        line.setStyleSheet(f"color: {self.palette().color(QPalette.ColorRole.Mid).name()};")
        lay.addWidget(line)
        text = QLabel(title.upper())
        font = QFont(text.font())
        font.setBold(True)
        font.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 0.8)
        text.setFont(font)
        set_subtle(text)
        lay.addWidget(text)
        form.addRow(heading)
        return form

    def _add_row(self, form: QFormLayout, row: ParamRow) -> None:
        self.rows[row.name] = row
        form.addRow(row.name_label, row)
        for w in (row.spin, row.combo):
            if w is not None:
                w.installEventFilter(self._wheel_guard)
        row.edited.connect(lambda value, r=row: self._row_edited(r, value))
        row.autoToggled.connect(lambda on, r=row: self._auto_toggled(r, on))
        row.browseRequested.connect(lambda r=row: self._browse(r))
        if self._mode in ("node", "settings") and sweepable(row.spec):
            row.enable_sweep()
            row.sweepRequested.connect(lambda r=row: self.sweep_row(r.name))

    def _build_node(self, box: QVBoxLayout, node) -> None:
        spec: NodeSpec | None = node.spec
        self._type_id = node.type_id
        if spec is None:
            self._header(
                box,
                node.label,
                f"unknown type · {node.type_id}",
                theme.category_color(""),
                "This node's type is not in this version's catalogue (a file from a "
                "newer torchcanvas?). It is kept as it is; its params cannot be edited.",
            )
        else:
            self._header(
                box,
                node.label,
                f"{spec.title} · {spec.type_id}",
                theme.category_color(spec.category),
                spec.help,
            )
        form = self._section(box, "Node")
        self.label_edit = QLineEdit(node.label)
        self.label_edit.setToolTip("the node's name: also the attribute name in model.py")
        self.label_edit.setMaxLength(80)
        self.label_edit.editingFinished.connect(self._label_committed)
        label_box = QWidget()
        lay = QVBoxLayout(label_box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(self.label_edit)
        self.label_error = QLabel()
        self.label_error.setWordWrap(True)
        self.label_error.setStyleSheet(f"color: {theme.current().error.name()};")
        set_small(self.label_error)
        self.label_error.hide()
        lay.addWidget(self.label_error)
        name = QLabel("label")
        name.setFixedHeight(self.label_edit.sizeHint().height())
        form.addRow(name, label_box)
        if spec is None:
            if node.params:
                form = self._section(box, "Parameters (read-only)")
                for name, value in sorted(node.params.items()):
                    shown = QLineEdit(repr(value))
                    shown.setReadOnly(True)
                    form.addRow(name, shown)
            return
        self._build_params(box, spec)
        if spec.kind == "code":
            self._build_code(box, node)
        if spec.kind == "data" and spec.extra.get("source") != "style_images":
            self._build_samples(box)

    def _build_samples(self, box: QVBoxLayout) -> None:
        """What the data node yields after its transforms and augmentation, read in the
        background when the page opens and again after an edit that changes it."""
        from torchcanvas.gui.insight.data_view import DataSamplesView

        form = self._section(box, "Samples")
        self.samples_view = DataSamplesView()
        form.addRow(self.samples_view)
        self._schedule_samples()

    def _samples_source(self) -> str | None:
        """What the samples depend on: the node's type and params, the settings (seed,
        validation split) and the project folder (relative paths)."""
        if self.samples_view is None or self.doc is None or len(self._node_ids) != 1:
            return None
        graph = self.doc.graph
        node = graph.node(self._node_ids[0])
        return json.dumps(
            [node.type_id, node.params, graph.settings, str(self.doc.project_dir)],
            sort_keys=True,
            default=str,
        )

    def _schedule_samples(self) -> None:
        key = self._samples_source()
        if key is None or key == self._samples_key:
            return  # a label or another node changed: the samples are the same
        self._samples_key = key
        self.samples_view.show_reading()
        self._samples_timer.start()

    def _read_samples(self) -> None:
        if self.samples_view is not None and self.doc is not None and self._node_ids:
            self._samples_token = self.doc.request_samples(self._node_ids[0], SAMPLES)

    def _on_samples(self, token: int, value: Any) -> None:
        if token != self._samples_token or self.samples_view is None:
            return  # an older request, or another page
        if self._samples_timer.isActive():
            return  # an edit came after the request: its samples follow
        if isinstance(value, str):
            self.samples_view.show_error(value)
        else:
            self.samples_view.show_samples(value)

    def _build_code(self, box: QVBoxLayout, node) -> None:
        """An imported code node's code, read-only: it runs only when the model is compiled,
        trained or exported, never when the project opens."""
        form = self._section(box, "Code")
        p = node.params
        parts = ["\n".join(p.get("imports") or ()), (p.get("source") or "").strip("\n")]
        kind = node.spec.extra.get("code")
        if kind in ("module", "tensor"):
            from torchcanvas.codegen.code import tensor_init
            from torchcanvas.codegen.names import snake

            attr = snake(node.label, node.spec.label_base)
            init = p.get("init", "") if kind == "module" else tensor_init(p)
            parts.append(f"# in __init__\nself.{attr} = {init}")
        else:
            parts.append(f"# in forward\n{p.get('expr', '')}")
        view = QPlainTextEdit("\n\n".join(part for part in parts if part))
        view.setReadOnly(True)
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        view.setFont(QFont("monospace", 9))
        view.setMinimumHeight(140)
        view.setToolTip("Imported code, written into model.py as it is")
        self.code_view = view
        note = QLabel(
            "Kept as code at import. It runs only when you compile, train or export "
            "the model; shapes come from the import."
        )
        note.setWordWrap(True)
        set_small(note, 0.82)
        set_subtle(note)
        form.addRow(view)
        form.addRow(note)

    def _build_params(self, box: QVBoxLayout, spec: NodeSpec) -> None:
        if spec.kind == "code":  # the code itself is shown read-only below the params
            spec = dataclasses.replace(
                spec,
                params=tuple(
                    p for p in spec.params if p.name not in ("init", "expr", "imports", "source")
                ),
            )
        if not spec.params:
            note = QLabel("No parameters.")
            set_subtle(note)
            box.addWidget(note)
            return
        form = self._section(box, "Parameters")
        for p in spec.params:
            path_file = path_is_file(spec.type_id, p) if p.type == "path" else None
            self._add_row(
                form, ParamRow(p, path_file=path_file, suggestions=self._suggestions(spec, p))
            )

    def _suggestions(self, spec: NodeSpec, p: ParamSpec) -> tuple[str, ...]:
        """Values offered in an editable list: a backbone's stages (freeze) and the weights
        files of its architecture found in the torch hub cache (never downloaded)."""
        if not spec.extra.get("backbone") or len(self._node_ids) != 1 or self.doc is None:
            return ()
        from torchcanvas.graph.catalogue.backbones import ARCHS

        arch = ARCHS.get(self.doc.graph.node(self._node_ids[0]).params.get("arch"))
        self._built_arch = arch.name if arch else None
        if arch is None:
            return ()
        if p.name == "freeze":
            return ("none", "all", *arch.stage_names)
        if p.name == "weights":
            from torchcanvas.runtime.backbones import hub_weights

            found = tuple(str(path) for path in hub_weights(arch.name))
            return ("", *found) if found else ()
        return ()

    def _build_multi(self, box: QVBoxLayout) -> None:
        nodes = [self.doc.graph.node(n) for n in self._node_ids]
        types = sorted({n.type_id for n in nodes})
        same = len(types) == 1 and nodes[0].spec is not None
        spec = nodes[0].spec if same else None
        self._type_id = types[0] if same else None
        count = f"{len(nodes)} nodes selected"
        if same:
            subtitle = f"all {spec.title} · {spec.type_id}"
            color = theme.category_color(spec.category)
        else:
            subtitle = (
                f"{len(types)} types: " + ", ".join(types[:4]) + ("…" if len(types) > 4 else "")
            )
            color = theme.category_color("")
        self._header(box, count, subtitle, color, spec.help if same else "")
        self._summary = QLabel(
            ", ".join(n.label for n in nodes[:12]) + ("…" if len(nodes) > 12 else "")
        )
        self._summary.setWordWrap(True)
        self._summary.setTextFormat(Qt.TextFormat.PlainText)
        set_small(self._summary)
        box.addWidget(self._summary)
        if same:
            self._build_params(box, spec)
            if spec.params:
                note = QLabel("A change applies to every selected node (one undo step).")
                note.setWordWrap(True)
                set_small(note, 0.82)
                set_subtle(note)
                box.addWidget(note)
        else:
            note = QLabel("Select nodes of one type to edit their parameters together.")
            note.setWordWrap(True)
            set_subtle(note)
            box.addWidget(note)

    def _build_settings(self, box: QVBoxLayout) -> None:
        self._type_id = None
        block = getattr(self.doc, "block_name", None)
        if block is not None:  # a block's body on the canvas: the settings are the model's
            uses = len(self.doc.root.graph.block_users(block))
            self._header(
                box,
                block,
                "block · nothing selected",
                theme.category_color("Blocks"),
                f"The layers of block {block}: an edit here changes "
                f"{'all its uses' if uses > 1 else 'its use'} in the model. Select a node to "
                "edit it; Esc goes back to the model.",
            )
            return
        self._header(
            box,
            "Training settings",
            "project · nothing selected",
            QColor(self.palette().color(QPalette.ColorRole.Highlight)),
            "How the model is trained and exported. Select a node to edit it.",
        )
        form = self._section(box, "Run")
        style = optimises_image(self.doc.graph)
        if style:  # no batches, no validation: those rows give way to a note
            note = QLabel(STYLE_NOTE)
            note.setObjectName("styleNote")
            note.setWordWrap(True)
            set_small(note)
            set_subtle(note)
            form.addRow(note)
        for name, spec in SETTINGS.items():
            if name == "flow":  # a canvas setting: View ▸ Flow changes it and re-lays out
                continue
            if style and name in STYLE_UNUSED_SETTINGS:
                continue
            suggestions = DEVICE_CHOICES if name == "device" else ()
            title = SETTING_TITLES.get(name, name.replace("_", " "))
            self._add_row(form, ParamRow(spec, title=title, suggestions=suggestions))

    # ------------------------------------------------------------------ refreshing in place
    def _refresh(self) -> None:
        if self.doc is None:
            return
        graph = self.doc.graph
        shapes = self.doc.shapes
        self._refresh_header()
        if self._mode == "settings":
            for name, row in self.rows.items():
                row.show_value(graph.settings.get(name))
            return
        nodes = [graph.node(n) for n in self._node_ids if n in graph]
        if not nodes:
            return
        if self.label_edit is not None and len(nodes) == 1:
            typing = self.label_edit.hasFocus() and self.label_edit.isModified()
            if self.label_edit.text() != nodes[0].label and not typing:
                self.label_edit.setText(nodes[0].label)
                self.label_error.hide()  # renamed meanwhile: an old refusal is stale
        for name, row in self.rows.items():
            values = [n.params.get(name) for n in nodes]
            first = values[0]
            mixed = any(v != first or type(v) is not type(first) for v in values[1:])
            inferred = None
            if shapes is not None:
                inferred = shapes.resolved.get(nodes[0].id, {}).get(name)
                if mixed or len(nodes) > 1:
                    found = {repr(shapes.resolved.get(n.id, {}).get(name)) for n in nodes}
                    if len(found) > 1:
                        inferred = None
            row.show_value(first, inferred, mixed=mixed)

    def _refresh_header(self) -> None:
        if self._header_title is None or self.doc is None:
            return
        graph, shapes = self.doc.graph, self.doc.shapes
        if self._mode == "settings" and getattr(self.doc, "block_name", None) is not None:
            self._header_title.setText(self.doc.block_name)  # renamed meanwhile
            self._header_info.setText(f"{len(graph)} nodes")
            errors = [p for p in shapes.problems if p.severity == "error"] if shapes else []
            self._show_problems([p.message for p in errors], True)
            return
        if self._mode == "settings":
            parts = [f"{len(graph)} nodes"]
            cost = ""
            if shapes is not None:
                parts.append(f"{shapes.total_params:,} params")
                if shapes.data_info is not None:
                    info = shapes.data_info
                    parts.append(f"{info.n_train:,} train / {info.n_val:,} val")
                cost = totals_text(shapes)
            self._header_info.setText(
                html.escape(" · ".join(parts)) + (f"<br>{html.escape(cost)}" if cost else "")
            )
            errors = [p for p in shapes.problems if p.severity == "error"] if shapes else []
            self._show_problems(
                [f"{len(errors)} problem{'s' * (len(errors) != 1)} in the graph (see Problems)"]
                if errors
                else [],
                True,
            )
            return
        nodes = [graph.node(n) for n in self._node_ids if n in graph]
        if not nodes:
            return
        if self._mode in ("node", "placeholder"):
            node = nodes[0]
            self._header_title.setText(node.label)
            info = self._node_info(node, shapes)
            self._header_info.setText(info)
            self._header_info.setVisible(bool(info))
            problems = shapes.errors_for(node.id) if shapes is not None else []
            errors = [p for p in problems if p.severity == "error"]
            self._show_problems([p.message for p in problems], bool(errors))
        else:
            total = None
            if shapes is not None:
                counts = [shapes.param_counts.get(n.id) for n in nodes]
                if any(c is not None for c in counts):
                    total = sum(c or 0 for c in counts)
            text = f"{total:,} params in all" if total else ""
            macs = [shapes.macs.get(n.id) for n in nodes] if shapes is not None else []
            if any(macs) and shapes.total_macs:
                share = 100 * sum(m or 0 for m in macs) / shapes.total_macs
                text += (" · " if text else "") + (
                    f"{format_macs(sum(m or 0 for m in macs))} MACs ({share:.1f} %)"
                )
            self._header_info.setText(text)
            self._header_info.setVisible(bool(text))
            if self._summary is not None:
                self._summary.setText(
                    ", ".join(n.label for n in nodes[:12]) + ("…" if len(nodes) > 12 else "")
                )
            self._show_problems([], False)

    def _show_problems(self, messages: list[str], error: bool) -> None:
        label = self._header_problems
        if not messages:
            label.hide()
            return
        t = theme.current()
        label.setStyleSheet(f"color: {(t.error if error else t.warning).name()};")
        label.setText("\n".join(("⚠ " + m) for m in messages[:4]))
        label.show()

    def _node_info(self, node, shapes) -> str:
        if shapes is None:
            return "<i>checking shapes…</i>"
        parts = []
        ports = self.doc.graph.output_ports(node.id)
        shown = []
        for port in ports:
            shape = shapes.shapes.get((node.id, port.name))
            if shape is None:
                continue
            text = _format_shape(shape)
            shown.append(text if len(ports) == 1 else f"{html.escape(port.name)}: {text}")
        if shown:
            parts.append("→ " + ", ".join(shown))
        count = shapes.param_counts.get(node.id)
        if count is not None:
            trainable = shapes.trainable_counts.get(node.id, count)
            if trainable == count:
                parts.append(f"{count:,} params")
            else:  # a frozen backbone: what trains and what does not
                parts.append(
                    f"{count:,} params: {trainable:,} trainable, ❄ {count - trainable:,} frozen"
                )
        elif node.kind == "data" and shapes.data_info is not None and self._feeds(node, shapes):
            info = shapes.data_info
            classes = f", {len(info.classes)} classes" if info.classes else ""
            parts.append(f"{info.n_train:,} train / {info.n_val:,} val{classes}")
        text = " · ".join(parts)
        cost = node_cost_text(shapes, node.id)
        if cost:  # per sample: MACs and their share, output and parameter memory
            text += ("<br>" if text else "") + html.escape(cost)
        return text

    def _feeds(self, node, shapes) -> bool:
        """Whether ``shapes.data_info`` describes ``node`` (the one data node that ran)."""
        ran = [n for n in self.doc.graph.nodes_of_kind("data") if (n.id, "x") in shapes.shapes]
        return [n.id for n in ran] == [node.id]

    # ------------------------------------------------------------------ applying edits
    def _row_edited(self, row: ParamRow, value: Any) -> None:
        if self.doc is None:
            return
        if isinstance(value, Invalid):
            self._refuse(row, error_text(row.name, value.reason, row.spec))
            return
        try:
            value = row.spec.validate(value)
        except ParamError as exc:
            self._refuse(row, error_text(row.name, exc.reason, row.spec))
            return
        if self._mode == "settings":
            try:
                validate_settings({**self.doc.graph.settings, row.name: value})
            except ParamError as exc:
                self._refuse(row, error_text(exc.name, exc.reason, None))
                return
            ok, message = self._apply(self.doc.set_setting, row.name, value)
        else:
            ok, message = self._set_params(row.name, {n: value for n in self._node_ids})
        if ok:
            self._clear_refusals()
            self._refresh()
        else:
            self._refuse(row, message or f"{row.name}: the value was refused")

    def _clear_refusals(self) -> None:
        """A good edit went in: refusals of earlier attempts no longer hold (each field
        shows its current value), so none of them stays on screen."""
        for row in self.rows.values():
            row.clear_error()
        if self.label_error is not None:
            self.label_error.hide()

    def _set_params(self, name: str, values: dict[str, Any]) -> tuple[bool, str]:
        graph = self.doc.graph
        todo = {}
        for nid, value in values.items():
            if nid not in graph:
                continue
            old = graph.node(nid).params.get(name)
            if old != value or type(old) is not type(value):
                todo[nid] = value
        if not todo:
            return True, ""
        if len(todo) == 1:
            nid, value = next(iter(todo.items()))
            return self._apply(self.doc.set_param, nid, name, value)
        ok, message = True, ""
        with self.doc.macro(f"Set {name} on {len(todo)} nodes"):
            for nid, value in todo.items():
                done, why = self._apply(self.doc.set_param, nid, name, value)
                if not done:
                    ok, message = False, message or why
        return ok, message

    def _apply(self, fn, *args) -> tuple[bool, str]:
        """Run a Document edit, catching the message it emits when it refuses."""
        messages: list[str] = []

        def keep(text: str) -> None:
            messages.append(text)

        self.doc.message.connect(keep)
        try:
            ok = fn(*args)
        except GraphError as exc:  # e.g. the node vanished meanwhile
            ok, messages[:] = False, [str(exc)]
        finally:
            self.doc.message.disconnect(keep)
        return bool(ok), (messages[0] if messages else "")

    def _refuse(self, row: ParamRow, message: str) -> None:
        """Show why an edit was refused and put the current value back into the field."""
        row.forget_shown()
        self._refresh()
        row.show_error(message)

    def _auto_toggled(self, row: ParamRow, on: bool) -> None:
        if self.doc is None or self._mode == "settings":
            return
        if on:
            self._row_edited(row, AUTO)
            return
        # Unchecking makes the inferred value concrete: a number to start from.
        shapes = self.doc.shapes
        values = {}
        for nid in self._node_ids:
            inferred = shapes.resolved.get(nid, {}).get(row.name) if shapes else None
            values[nid] = inferred if inferred not in (None, AUTO) else _fallback(row.spec)
        try:
            values = {nid: row.spec.validate(v) for nid, v in values.items()}
        except ParamError as exc:
            self._refuse(row, error_text(row.name, exc.reason, row.spec))
            return
        ok, message = self._set_params(row.name, values)
        if ok:
            row.clear_error()
            self._refresh()
        else:
            self._refuse(row, message)

    def _label_committed(self) -> None:
        if self.doc is None or len(self._node_ids) != 1 or self.label_edit is None:
            return
        nid = self._node_ids[0]
        text = self.label_edit.text()
        node = self.doc.graph.node(nid)
        if text.strip() == node.label:
            self.label_edit.setText(node.label)
            self.label_error.hide()
            return
        try:
            validate_label(text)
        except ParamError as exc:
            ok, message = False, f"label: {exc.reason}"
        else:
            ok, message = self._apply(self.doc.set_label, nid, text)
        if ok:
            self._clear_refusals()
        else:
            self.label_error.setText(message or "label: the name was refused")
            self.label_error.show()
        self.label_edit.setText(self.doc.graph.node(nid).label)
        self.label_edit.setModified(False)

    def sweep_row(self, name: str):
        """ "Sweep this…": the dialog for this param of the node shown, or this training
        setting; on OK the dimension joins the project's sweep (one undo step)."""
        if self.doc is None:
            return None
        if self._mode == "settings":
            target = setting_target(name)
        elif self._mode == "node" and len(self._node_ids) == 1:
            target = node_target(self._node_ids[0], name)
        else:
            return None
        self._commit_pending()
        return open_dimension_dialog(self, self.doc, target)

    def _browse(self, row: ParamRow) -> None:
        if self.doc is None:
            return
        base = self.doc.project_dir
        current = row.line.text().strip() if row.line is not None else ""
        start = Path(current) if current else (base or Path.home())
        if not start.is_absolute() and base is not None:
            start = base / start
        if row.path_file:
            kinds = (
                "PyTorch weights (*.pth *.pt)"
                if self._type_id == "tv.Backbone"
                else "CSV tables (*.csv *.tsv *.txt)"
            )
            chosen, _ = QFileDialog.getOpenFileName(
                self, f"Choose {row.name}", str(start), f"{kinds};;All files (*)"
            )
        else:
            chosen = QFileDialog.getExistingDirectory(self, f"Choose {row.name}", str(start))
        if not chosen:
            return
        path = Path(chosen)
        if base is not None:
            with contextlib.suppress(ValueError):  # outside the project: keep it absolute
                path = path.resolve().relative_to(base.resolve())
        row.set_path_text(path.as_posix())

    # ------------------------------------------------------------------ focus helpers
    def _commit_pending(self) -> None:
        for row in self.rows.values():
            if row.has_focus():
                row.commit_pending()
        if (
            self.label_edit is not None
            and self.label_edit.hasFocus()
            and self.label_edit.isModified()
        ):
            self._label_committed()

    def _focused_name(self) -> str | None:
        if self.label_edit is not None and self.label_edit.hasFocus():
            return "\0label"
        return next((name for name, row in self.rows.items() if row.has_focus()), None)

    def _restore_focus(self, name: str | None) -> None:
        if name == "\0label" and self.label_edit is not None:
            self.label_edit.setFocus()
        elif name in self.rows:
            self.rows[name].focus_editor()


def _align_hints(rows) -> None:
    """Give every range hint of a page one width, so the editors line up."""
    labels = [r.range_label for r in rows if r.range_label is not None]
    if labels:
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setFixedWidth(width)


class _Stripe(QWidget):
    """The category colour, as a bar beside the header."""

    def __init__(self, color: QColor):
        super().__init__()
        self._color = QColor(color)
        self.setFixedWidth(4)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._color)
        painter.drawRoundedRect(self.rect(), 2, 2)


def _fallback(spec: ParamSpec) -> Any:
    """A concrete start value when auto is turned off before any shape was inferred."""
    lo = spec.minimum if spec.minimum is not None else 1
    value = math.ceil(lo) + (1 if spec.min_exclusive and float(lo).is_integer() else 0)
    value = max(value, 1)
    return [value] if spec.type in ("ints", "size") and spec.auto and spec.auto.as_list else value


def _format_shape(shape: tuple) -> str:
    if not shape:
        return "scalar"
    return "[" + ", ".join(str(d) for d in shape) + "]"
