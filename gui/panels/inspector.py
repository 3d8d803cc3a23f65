"""The inspector: the editors of the selected node(s), or the project's training settings.

Editors are built from each ``ParamSpec`` (never per node type), and every change goes through
``Document.set_param`` / ``set_label`` / ``set_setting``, so it is one undo step (a macro when
several nodes of one type are edited together). A refused value shows an inline message naming
the parameter and what is allowed, and the field goes back to the current value.

The inspector follows the document: undo/redo, edits from elsewhere and new shapes update the
fields in place (no rebuild), so a field being typed in keeps its focus and its text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import math
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRegularExpression, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.document import validate_label
from torchcanvas.graph.errors import GraphError, ParamError
from torchcanvas.graph.settings import SETTINGS, validate_settings
from torchcanvas.graph.spec import AUTO, NodeSpec, ParamSpec
from torchcanvas.gui import theme
from torchcanvas.gui.panels.fields import CheckedSpinBox, parse_typed
from torchcanvas.gui.project import Document

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

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

# Characters a numeric field accepts as you type; anything else is refused with a hint.
_CHARSETS = {
    "int": r"[0-9+\-\s]*",
    "float": r"[0-9eE+\-.\s]*",
    "size": r"[0-9+\-,\s\[\]()]*",
    "ints": r"[0-9+\-,\s\[\]()]*",
    "floats": r"[0-9eE+\-.,\s\[\]()]*",
}
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TYPE_HINTS = {
    "int": "a whole number",
    "float": "a number such as 0.001 or 1e-07",
    "size": "a whole number or a list such as 3, 5",
    "ints": "whole numbers separated by commas, e.g. 3, 5",
    "floats": "numbers separated by commas, e.g. 0.9, 0.999",
}


# ---------------------------------------------------------------------- text <-> values
def format_float(value: float) -> str:
    """Compact and exact: Python's shortest round-trip repr (``0.001``, ``1e-07``, ``2.0``)."""
    return repr(float(value))


def format_value(spec: ParamSpec, value: Any) -> str:
    """How a value reads in a text field (lists as ``3, 5``; None as empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(spec, v) for v in value)
    if isinstance(value, float) or spec.type in ("float", "floats"):
        return format_float(value)
    return str(value)


def _parse_int(text: str) -> int:
    if not _INT_RE.fullmatch(text):
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(text)


def _parse_float(text: str) -> float:
    if not _FLOAT_RE.fullmatch(text):
        raise ValueError(f"expected a number such as 0.001 or 1e-07, got {text!r}")
    return float(text)


def _split_numbers(text: str) -> list[str]:
    text = text.strip()
    if text[:1] in "[(" and text[-1:] in ")]":
        text = text[1:-1]
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


def parse_text(spec: ParamSpec, text: str) -> Any:
    """The value a text field means for ``spec``; raises ``ValueError`` with a short reason.

    Range checks are left to ``spec.validate`` so every message comes from one place."""
    t = text.strip()
    kind = spec.type
    if not t:
        if spec.optional:
            return None
        if kind in ("ints", "floats", "strs"):
            return []
        if kind in ("str", "path"):
            return ""
        raise ValueError("a value is required")
    if kind == "int":
        return _parse_int(t)
    if kind == "float":
        return _parse_float(t)
    if kind == "size":
        bracketed = t[:1] in "[(" or "," in t
        items = [_parse_int(s) for s in _split_numbers(t)]
        if not items:
            raise ValueError("a value is required")
        return items[0] if len(items) == 1 and not bracketed else items
    if kind == "ints":
        return [_parse_int(s) for s in _split_numbers(t)]
    if kind == "floats":
        return [_parse_float(s) for s in _split_numbers(t)]
    if kind == "strs":
        return [s.strip() for s in t.split(",") if s.strip()]
    return t  # str, path


def _error_text(name: str, reason: str, spec: ParamSpec | None) -> str:
    text = f"{name}: {reason}"
    allowed = spec.describe_range() if spec is not None else ""
    if allowed and "must be" not in reason and "choose" not in reason:
        text += f" (allowed: {allowed})"
    return text


def _spin_range(spec: ParamSpec) -> tuple[int, int] | None:
    """The QSpinBox range for an int spec, or None when a spin box cannot hold it."""
    lo, hi = _INT32_MIN, _INT32_MAX
    if spec.minimum is not None:
        lo = math.ceil(spec.minimum)
        if spec.min_exclusive and lo == spec.minimum:
            lo += 1
    if spec.maximum is not None:
        hi = math.floor(spec.maximum)
        if spec.max_exclusive and hi == spec.maximum:
            hi -= 1
    if lo < _INT32_MIN or hi > _INT32_MAX or lo > hi:
        return None
    return lo, hi


def path_is_file(type_id: str, spec: ParamSpec) -> bool:
    """Whether a path param names a file (True) or a folder (False)."""
    if type_id in ("data.CSV", "tv.Backbone"):
        return True
    help_text = spec.help.lower()
    if "folder" in help_text or "directory" in help_text:
        return False
    return "file" in help_text


def _tooltip(spec: ParamSpec, title: str | None = None) -> str:
    lines = [f"<b>{html.escape(title or spec.name)}</b> <i>({spec.type})</i>"]
    if spec.help:
        lines.append(html.escape(spec.help))
    allowed = spec.describe_range()
    if allowed:
        lines.append(f"allowed: {html.escape(allowed)}")
    if spec.auto is not None:
        lines.append("auto: filled in from the input shape")
    elif spec.optional:
        lines.append("empty: none")
    default = "auto" if spec.default == AUTO else format_value(spec, spec.default)
    lines.append(f"default: {html.escape(default) if default else 'none'}")
    return "<br>".join(lines)


def _small(widget: QWidget, factor: float = 0.88) -> None:
    font = QFont(widget.font())
    size = font.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * factor)
    widget.setFont(font)


def _subtle_color(widget: QWidget) -> QColor:
    pal = widget.palette()
    text, window = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window)
    return QColor(
        (text.red() * 3 + window.red() * 2) // 5,
        (text.green() * 3 + window.green() * 2) // 5,
        (text.blue() * 3 + window.blue() * 2) // 5,
    )


def _set_subtle(label: QLabel) -> None:
    label.setStyleSheet(f"color: {_subtle_color(label).name()};")


class _Invalid:
    """What a field emits when its text is not a value at all (``abc`` in a number field)."""

    def __init__(self, reason: str):
        self.reason = reason


class _WheelGuard(QObject):
    """Spin boxes and combos ignore the wheel unless focused: scrolling the inspector must not
    change values by accident. The wheel scrolls the inspector instead."""

    def __init__(self, scroll: QScrollArea):
        super().__init__(scroll)
        self._scroll = scroll

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            QApplication.sendEvent(self._scroll.verticalScrollBar(), event)
            return True
        return False


# ---------------------------------------------------------------------- one parameter's row
class ParamRow(QWidget):
    """The editor of one parameter: the value editor, an ``auto`` and a ``none`` switch where
    the spec allows them, a ``…`` button for paths, the allowed range, and an inline error."""

    edited = Signal(object)  # a value (not yet validated), or an _Invalid
    autoToggled = Signal(bool)  # True: back to auto; False: make the inferred value concrete
    browseRequested = Signal()

    def __init__(
        self,
        spec: ParamSpec,
        *,
        title: str | None = None,
        suggestions: tuple[str, ...] = (),
        path_file: bool | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.spec = spec
        self.name = spec.name
        self.path_file = path_file
        self._shown: tuple | None = None  # (value, inferred, mixed) last displayed
        self._text_shown = ""
        self._placeholder = ""
        tip = self._tip = _tooltip(spec, title)

        self.name_label = QLabel(title or spec.name)
        self.name_label.setToolTip(tip)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(1)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        outer.addLayout(row)

        self.check: QCheckBox | None = None
        self.combo: QComboBox | None = None
        self.spin: CheckedSpinBox | None = None
        self.line: QLineEdit | None = None
        spin_range = _spin_range(spec) if spec.type == "int" and not spec.optional else None
        if spec.type == "bool":
            self.check = QCheckBox()
            self.check.clicked.connect(self._check_clicked)
            self.editor: QWidget = self.check
        elif spec.type == "choice":
            self.combo = QComboBox()
            for c in spec.choices:
                self.combo.addItem(_choice_text(c))
            self.combo.activated.connect(lambda i: self.edited.emit(spec.choices[i]))
            self.editor = self.combo
        elif suggestions:
            self.combo = QComboBox()
            self.combo.setEditable(True)
            self.combo.addItems(list(suggestions))
            self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            self.combo.activated.connect(lambda _i: self._text_committed())
            self.line = self.combo.lineEdit()
            self.line.editingFinished.connect(self._text_committed)
            self.editor = self.combo
        elif spin_range is not None:
            self.spin = CheckedSpinBox()
            self.spin.setRange(*spin_range)
            self.spin.setKeyboardTracking(False)  # valueChanged on Enter / focus out / arrows
            self.spin.setAccelerated(True)
            self.spin.valueChanged.connect(self._spin_changed)
            self.spin.refused.connect(self._spin_refused)
            self.spin.lineEdit().inputRejected.connect(self._input_rejected)
            self.editor = self.spin
        else:
            self.line = QLineEdit()
            charset = _CHARSETS.get(spec.type)
            if charset is not None:
                self.line.setValidator(
                    QRegularExpressionValidator(QRegularExpression(charset), self.line)
                )
                self.line.inputRejected.connect(self._input_rejected)
            self._placeholder = _placeholder(spec, path_file)
            self.line.setPlaceholderText(self._placeholder)
            self.line.editingFinished.connect(self._text_committed)
            self.editor = self.line
        self.editor.setToolTip(tip)
        if isinstance(self.editor, (QSpinBox, QComboBox)):
            self.editor.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if self.check is not None:
            row.addWidget(self.editor)
        else:
            self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.editor.setMinimumWidth(90)
            row.addWidget(self.editor, 1)

        # Shape-derived params: a read-only stand-in shows "auto (512)" while auto is on.
        self.auto_display: QLineEdit | None = None
        self.auto_box: QCheckBox | None = None
        if spec.auto is not None:
            self.auto_display = QLineEdit()
            self.auto_display.setReadOnly(True)
            self.auto_display.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            self.auto_display.setToolTip(tip)
            self.auto_display.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.auto_display.setMinimumWidth(90)
            _italic(self.auto_display)
            self.auto_display.hide()
            row.addWidget(self.auto_display, 1)
            self.auto_box = QCheckBox("auto")
            self.auto_box.setToolTip("fill in from the input shape (shape inference)")
            self.auto_box.clicked.connect(self._auto_clicked)

        self.browse: QToolButton | None = None
        if spec.type == "path":
            self.browse = QToolButton()
            self.browse.setText("…")
            self.browse.setToolTip("choose a file…" if path_file else "choose a folder…")
            self.browse.clicked.connect(self._browse_clicked)
            row.addWidget(self.browse)

        # Optional params without a text field get a "none" switch; text fields use empty.
        self.none_box: QCheckBox | None = None
        if spec.optional and self.line is None:
            self.none_box = QCheckBox("none")
            self.none_box.setToolTip("leave unset (None): " + (spec.help or "the default"))
            self.none_box.clicked.connect(self._none_clicked)
            row.addWidget(self.none_box)
        if self.auto_box is not None:
            row.addWidget(self.auto_box)
        if self.check is not None:
            row.addStretch(1)

        self.range_label: QLabel | None = None
        allowed = compact_range(spec)
        if allowed:
            self.range_label = QLabel(allowed)
            self.range_label.setAlignment(
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
            _small(self.range_label, 0.82)
            _set_subtle(self.range_label)
            self.range_label.setToolTip(tip)
            row.addWidget(self.range_label)

        self.name_label.setFixedHeight(
            max(self.editor.sizeHint().height(), self.name_label.sizeHint().height())
        )
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(f"color: {theme.current().error.name()};")
        _small(self.error_label)
        self.error_label.hide()
        outer.addWidget(self.error_label)

    # ------------------------------------------------------------------ display
    def show_value(
        self, value: Any, inferred: Any = None, *, mixed: bool = False, force: bool = False
    ) -> None:
        """Display ``value``; skipped when it is already shown (keeps text being typed)."""
        key = (repr(value), repr(inferred), mixed)
        if key == self._shown and not force:
            return
        if self._shown is not None and key[:1] != self._shown[:1]:
            self.clear_error()  # the value changed underneath: an old refusal is stale
        self._shown = key
        font = self.name_label.font()
        font.setItalic(mixed)
        self.name_label.setFont(font)
        self.name_label.setToolTip(
            ("the selected nodes differ here<br>" if mixed else "") + self._tip
        )
        is_auto = self.spec.auto is not None and value == AUTO
        if self.auto_box is not None:
            self.auto_box.setChecked(is_auto)
            self.editor.setVisible(not is_auto)
            self.auto_display.setVisible(is_auto)
            if is_auto:
                self.auto_display.setText(self._auto_text(inferred))
                self.auto_display.setCursorPosition(0)
                return
        if self.none_box is not None:
            self.none_box.setChecked(value is None and not mixed)
            self.editor.setEnabled(value is not None or mixed)
        self._set_editor(value, mixed)

    def _auto_text(self, inferred: Any) -> str:
        if inferred is None or inferred == AUTO:
            return "auto"
        return f"auto ({format_value(self.spec, inferred)})"

    def _set_editor(self, value: Any, mixed: bool) -> None:
        if self.check is not None:
            self.check.setTristate(mixed)
            if mixed:
                self.check.setCheckState(Qt.CheckState.PartiallyChecked)
            else:
                self.check.setChecked(bool(value))
        elif self.combo is not None and self.line is None:
            index = -1
            for i, c in enumerate(self.spec.choices):
                if value == c and type(value) is type(c):
                    index = i
            self.combo.setCurrentIndex(-1 if mixed else index)
        elif self.spin is not None:
            self.spin.blockSignals(True)
            if isinstance(value, int) and not isinstance(value, bool):
                self.spin.setValue(value)
            self.spin.blockSignals(False)
        else:
            text = "" if mixed else format_value(self.spec, value)
            self._text_shown = text
            self.line.setText(text)
            self.line.setCursorPosition(0)
            self.line.setPlaceholderText("mixed" if mixed else self._placeholder)

    def forget_shown(self) -> None:
        """Make the next ``show_value`` redraw (after a refused edit left other text)."""
        self._shown = None

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def clear_error(self) -> None:
        if not self.error_label.isHidden():
            self.error_label.clear()
            self.error_label.hide()

    @property
    def error(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()

    def has_focus(self) -> bool:
        focus = QApplication.focusWidget()
        return focus is not None and (focus is self or self.isAncestorOf(focus))

    def focus_editor(self) -> None:
        (
            self.auto_display if self.editor.isHidden() and self.auto_display else self.editor
        ).setFocus()

    def pending_edit(self) -> bool:
        """Text typed but not yet applied (focus still in the field)."""
        return self.line is not None and self.line.text() != self._text_shown

    def commit_pending(self) -> None:
        if self.pending_edit():
            self._text_committed()

    def set_path_text(self, text: str) -> None:
        self.line.setText(text)
        self._text_committed()

    # ------------------------------------------------------------------ user input
    def _text_committed(self) -> None:
        text = self.line.text()
        if text == self._text_shown:
            return
        try:
            value = parse_text(self.spec, text)
        except ValueError as exc:
            self.edited.emit(_Invalid(str(exc)))
            return
        self.edited.emit(value)

    def _auto_clicked(self, checked: bool) -> None:
        self.autoToggled.emit(bool(checked))

    def _browse_clicked(self) -> None:
        self.browseRequested.emit()

    def _spin_changed(self, value: int) -> None:
        self.edited.emit(value)

    def _spin_refused(self, text: str) -> None:
        # the box kept its value; the document's checks say why the typed one was refused
        try:
            value = parse_typed(text, integer=True)
        except ValueError:
            self.edited.emit(_Invalid(f"type {_TYPE_HINTS['int']}"))
            return
        self.edited.emit(value)

    def _check_clicked(self) -> None:
        state = self.check.checkState()
        self.check.setTristate(False)
        self.edited.emit(state != Qt.CheckState.Unchecked)

    def _none_clicked(self, checked: bool) -> None:
        if checked:
            self.edited.emit(None)
        elif self.check is not None:
            self.edited.emit(self.check.isChecked())
        elif self.combo is not None:
            i = max(self.combo.currentIndex(), 0)
            self.edited.emit(self.spec.choices[i])
        else:  # pragma: no cover - every other optional editor is a text field
            self.edited.emit(self.spec.default)

    def _input_rejected(self) -> None:
        hint = _TYPE_HINTS.get(self.spec.type, "a valid value")
        self.show_error(_error_text(self.name, f"type {hint}", self.spec))


def _empty_hint(spec: ParamSpec) -> str:
    """What an empty field means, from the help text: "(empty: the window size)"."""
    m = re.search(r"\(empty\s*[:=]\s*([^)]*)\)", spec.help)
    return m.group(1).strip() if m else ""


def _placeholder(spec: ParamSpec, path_file: bool | None) -> str:
    """The grey text of an empty field: what empty means, or what to type."""
    hint = _empty_hint(spec)
    if hint:
        return hint
    if spec.optional:
        return "none"
    if spec.type in ("ints", "floats", "strs"):
        return "empty list"
    if spec.type == "path":
        return ("a file" if path_file else "a folder") + " (… to browse)"
    return ""


def _italic(widget: QWidget) -> None:
    font = QFont(widget.font())
    font.setItalic(True)
    widget.setFont(font)


def _choice_text(choice: Any) -> str:
    if isinstance(choice, str):
        names = {
            "\t": "tab (\\t)",
            " ": "space",
            "": "(empty)",
            ",": ", (comma)",
            ";": "; (semicolon)",
            "|": "| (pipe)",
        }
        return names.get(choice, choice if choice.isprintable() else repr(choice))
    return repr(choice)


# ---------------------------------------------------------------------- the inspector
class InspectorWidget(QWidget):
    """Edits the selected node(s), or the training settings when nothing is selected."""

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc: Document | None = None
        self._node_ids: list[str] = []
        self._mode = "settings"  # "settings", "node", "nodes" (several), "placeholder"
        self._type_id: str | None = None
        self.rows: dict[str, ParamRow] = {}
        self.label_edit: QLineEdit | None = None
        self.label_error: QLabel | None = None
        self._header_title: QLabel | None = None
        self._header_info: QLabel | None = None
        self._header_problems: QLabel | None = None
        self._summary: QLabel | None = None

        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._wheel_guard = _WheelGuard(self._scroll)
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
        ):
            with contextlib.suppress(RuntimeError, TypeError):  # gone with the document
                signal.disconnect(slot)

    def _on_doc_destroyed(self, *_args) -> None:
        self.doc = None

    def _on_node_changed(self, node_id: str) -> None:
        if node_id in self._node_ids:
            node = self.doc.graph.node(node_id)
            if (
                self._mode == "node"
                and node.spec.extra.get("backbone")
                and node.params.get("arch") != getattr(self, "_built_arch", None)
            ):
                self._rebuild()  # another architecture: other stages and weights files
                return
            self._refresh()

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
        _small(sub)
        _set_subtle(sub)
        lay.addWidget(sub)
        box.addLayout(top)
        if help_text:
            help_label = QLabel(help_text)
            help_label.setTextFormat(Qt.TextFormat.PlainText)
            help_label.setWordWrap(True)
            _small(help_label)
            _set_subtle(help_label)
            box.addWidget(help_label)
        self._header_info = QLabel()
        self._header_info.setTextFormat(Qt.TextFormat.RichText)
        self._header_info.setWordWrap(True)
        self._header_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _small(self._header_info)
        box.addWidget(self._header_info)
        self._header_problems = QLabel()
        self._header_problems.setWordWrap(True)
        self._header_problems.setTextFormat(Qt.TextFormat.PlainText)
        self._header_problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _small(self._header_problems)
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
        _set_subtle(text)
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
        _small(self.label_error)
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
        _small(note, 0.82)
        _set_subtle(note)
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
            _set_subtle(note)
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
        _small(self._summary)
        box.addWidget(self._summary)
        if same:
            self._build_params(box, spec)
            if spec.params:
                note = QLabel("A change applies to every selected node (one undo step).")
                note.setWordWrap(True)
                _small(note, 0.82)
                _set_subtle(note)
                box.addWidget(note)
        else:
            note = QLabel("Select nodes of one type to edit their parameters together.")
            note.setWordWrap(True)
            _set_subtle(note)
            box.addWidget(note)

    def _build_settings(self, box: QVBoxLayout) -> None:
        self._type_id = None
        self._header(
            box,
            "Training settings",
            "project · nothing selected",
            QColor(self.palette().color(QPalette.ColorRole.Highlight)),
            "How the model is trained and exported. Select a node to edit it.",
        )
        form = self._section(box, "Run")
        for name, spec in SETTINGS.items():
            if name == "flow":  # a canvas setting: View ▸ Flow changes it and re-lays out
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
        if self._mode == "settings":
            parts = [f"{len(graph)} nodes"]
            if shapes is not None:
                parts.append(f"{shapes.total_params:,} params")
                if shapes.data_info is not None:
                    info = shapes.data_info
                    parts.append(f"{info.n_train:,} train / {info.n_val:,} val")
            self._header_info.setText(html.escape(" · ".join(parts)))
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
            self._header_info.setText(f"{total:,} params in all" if total else "")
            self._header_info.setVisible(bool(total))
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
        return " · ".join(parts)

    def _feeds(self, node, shapes) -> bool:
        """Whether ``shapes.data_info`` describes ``node`` (the one data node that ran)."""
        ran = [n for n in self.doc.graph.nodes_of_kind("data") if (n.id, "x") in shapes.shapes]
        return [n.id for n in ran] == [node.id]

    # ------------------------------------------------------------------ applying edits
    def _row_edited(self, row: ParamRow, value: Any) -> None:
        if self.doc is None:
            return
        if isinstance(value, _Invalid):
            self._refuse(row, _error_text(row.name, value.reason, row.spec))
            return
        try:
            value = row.spec.validate(value)
        except ParamError as exc:
            self._refuse(row, _error_text(row.name, exc.reason, row.spec))
            return
        if self._mode == "settings":
            try:
                validate_settings({**self.doc.graph.settings, row.name: value})
            except ParamError as exc:
                self._refuse(row, _error_text(exc.name, exc.reason, None))
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
            self._refuse(row, _error_text(row.name, exc.reason, row.spec))
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


def _short_number(value: float) -> str:
    if not float(value).is_integer():
        return f"{value:g}"
    v = int(value)
    if v >= 65535 and (v + 1) & v == 0:  # 2**n - 1: a type's limit
        sup = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
        return f"2{str((v + 1).bit_length() - 1).translate(sup)}−1"
    for power, suffix in ((9, "G"), (6, "M"), (3, "k")):
        if abs(v) >= 10**power and v % 10**power == 0:
            return f"{v // 10**power}{suffix}"
    return str(v)


def compact_range(spec: ParamSpec) -> str:
    """The allowed range in a few characters: ``≥ 1``, ``> 0``, ``0 – 0.9``, ``0 < x ≤ 1``."""
    lo, hi = spec.minimum, spec.maximum
    if spec.type == "choice" or (lo is None and hi is None):
        return ""
    if lo is not None and hi is not None:
        if not spec.min_exclusive and not spec.max_exclusive:
            return f"{_short_number(lo)} – {_short_number(hi)}"
        return (
            f"{_short_number(lo)} {'<' if spec.min_exclusive else '≤'} x "
            f"{'<' if spec.max_exclusive else '≤'} {_short_number(hi)}"
        )
    if lo is not None:
        return f"{'>' if spec.min_exclusive else '≥'} {_short_number(lo)}"
    return f"{'<' if spec.max_exclusive else '≤'} {_short_number(hi)}"


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
