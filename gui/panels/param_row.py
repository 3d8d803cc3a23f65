"""One parameter's row in the inspector: the editor built from a ``ParamSpec`` (spin box, line
edit, check box, choice, path), the text <-> value conversions it uses (``format_value``,
``parse_text``), and the short hints beside it (``compact_range``, placeholders, tooltips).

A row never edits the document: it emits the value typed (or an ``Invalid`` naming what was
wrong) and the inspector turns it into one undo step.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRegularExpression, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.spec import AUTO, ParamSpec
from torchcanvas.gui import theme
from torchcanvas.gui.panels.fields import CheckedSpinBox, parse_typed

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

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


def error_text(name: str, reason: str, spec: ParamSpec | None) -> str:
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
        source = "the data" if spec.auto.from_data else "the input shape"
        lines.append(f"auto: filled in from {source}")
    elif spec.optional:
        lines.append("empty: none")
    default = "auto" if spec.default == AUTO else format_value(spec, spec.default)
    lines.append(f"default: {html.escape(default) if default else 'none'}")
    return "<br>".join(lines)


def set_small(widget: QWidget, factor: float = 0.88) -> None:
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


def set_subtle(label: QLabel) -> None:
    label.setStyleSheet(f"color: {_subtle_color(label).name()};")


class Invalid:
    """What a field emits when its text is not a value at all (``abc`` in a number field)."""

    def __init__(self, reason: str):
        self.reason = reason


class WheelGuard(QObject):
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

    edited = Signal(object)  # a value (not yet validated), or an Invalid
    autoToggled = Signal(bool)  # True: back to auto; False: make the inferred value concrete
    browseRequested = Signal()
    sweepRequested = Signal()  # "Sweep this…" chosen in the row's context menu

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
            source = "the data" if spec.auto.from_data else "the input shape"
            self.auto_box.setToolTip(f"fill in from {source} (shape inference)")
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
            set_small(self.range_label, 0.82)
            set_subtle(self.range_label)
            self.range_label.setToolTip(tip)
            row.addWidget(self.range_label)

        self.name_label.setFixedHeight(
            max(self.editor.sizeHint().height(), self.name_label.sizeHint().height())
        )
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(f"color: {theme.current().error.name()};")
        set_small(self.error_label)
        self.error_label.hide()
        outer.addWidget(self.error_label)

    def enable_sweep(self) -> None:
        """Right-click on the row's name or field offers "Sweep this…" (``sweepRequested``)."""
        from torchcanvas.gui.training.sweep_edit import install_sweep_menu

        for widget in (self.name_label, self.editor, self.auto_display):
            if widget is not None:
                install_sweep_menu(widget, self.sweepRequested.emit)

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
            self.edited.emit(Invalid(str(exc)))
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
            self.edited.emit(Invalid(f"type {_TYPE_HINTS['int']}"))
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
        self.show_error(error_text(self.name, f"type {hint}", self.spec))


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
