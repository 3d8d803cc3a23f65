"""Spin boxes that refuse bad input out loud.

A plain ``QSpinBox`` quietly bends what is typed into its range: the minus of "-3" is dropped
as the key is pressed (so 3 is taken), and "0" under a minimum of 1 goes back to the old value
without a word. These boxes let any signed number be typed, and when Enter or leaving the field
finds text outside the range, they keep the old value and emit ``refused`` with the text, so
the owner can say why (the same wording as a refused text field)."""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox

_INT_TYPING = re.compile(r"[+-]?[0-9]*")
_FLOAT_TYPING = re.compile(r"[+-]?[0-9]*\.?[0-9]*")


class _Refusing:
    """The shared half of :class:`CheckedSpinBox` and :class:`CheckedDoubleSpinBox`."""

    _typing: re.Pattern

    def _init_refusing(self) -> None:
        self._refused_text: str | None = None
        self.editingFinished.connect(self._finish)

    def _bare(self, text: str) -> str:
        prefix, suffix = self.prefix(), self.suffix()
        if prefix and text.startswith(prefix):
            text = text[len(prefix) :]
        if suffix and text.endswith(suffix):
            text = text[: -len(suffix)]
        return text.strip()

    def validate(self, text: str, pos: int):
        state = super().validate(text, pos)
        if isinstance(state, tuple):
            state = state[0]
        if state == QValidator.State.Invalid and self._typing.fullmatch(self._bare(text)):
            # a number still being typed, or one out of range: judged on Enter, not per key
            return QValidator.State.Intermediate
        return state

    def fixup(self, text: str) -> str:
        # called with text the box will not take, just before it goes back to the old value
        self._refused_text = self._bare(text)
        return text

    def _finish(self) -> None:
        text, self._refused_text = self._refused_text, None
        if text is not None:
            self.refused.emit(text)


class CheckedSpinBox(_Refusing, QSpinBox):
    """A QSpinBox that keeps its value and emits ``refused(text)`` for out-of-range input."""

    refused = Signal(str)
    _typing = _INT_TYPING

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_refusing()


class CheckedDoubleSpinBox(_Refusing, QDoubleSpinBox):
    """A QDoubleSpinBox that keeps its value and emits ``refused(text)`` for out-of-range
    input."""

    refused = Signal(str)
    _typing = _FLOAT_TYPING

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_refusing()


def parse_typed(text: str, integer: bool) -> int | float | None:
    """The number a refused spin box's text means (None when empty); ``ValueError`` when it
    is not a number at all."""
    text = text.strip()
    if not text or text in "+-.":
        if text:
            raise ValueError(f"expected a number, got {text!r}")
        return None
    return int(text) if integer else float(text)
