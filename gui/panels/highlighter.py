"""Python syntax colouring for the code view: one pass over each line with a small tokenizer, so a
``#`` inside a string or a quote inside a comment is coloured correctly, and triple-quoted
strings carry over from line to line (block state).

A new text of thousands of lines (model.py of a big graph) is coloured lazily: inside
:meth:`PythonHighlighter.deferred`, only lines that touch a triple-quoted string are coloured (so
every line's block state is right); the view colours the lines it shows with
:meth:`PythonHighlighter.format_blocks` as they come into view (a line never shown is never
coloured)."""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from torchcanvas.gui import theme

# GitHub's light and dark code palettes: readable on white and on near-black.
LIGHT = {
    "keyword": "#cf222e",
    "builtin": "#8250df",
    "string": "#0a3069",
    "number": "#0550ae",
    "comment": "#6e7781",
    "self": "#953800",
    "decorator": "#8250df",
    "definition": "#8250df",
    "constant": "#0550ae",
}
DARK = {
    "keyword": "#ff7b72",
    "builtin": "#d2a8ff",
    "string": "#a5d6ff",
    "number": "#79c0ff",
    "comment": "#8b949e",
    "self": "#ffa657",
    "decorator": "#d2a8ff",
    "definition": "#d2a8ff",
    "constant": "#79c0ff",
}

KEYWORDS = frozenset(keyword.kwlist) - {"True", "False", "None"}
SOFT_KEYWORDS = frozenset({"match", "case"})  # coloured only where they start a statement
CONSTANTS = frozenset(
    {"True", "False", "None", "NotImplemented", "Ellipsis", "__name__", "__file__"}
)
BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_")) - CONSTANTS

_PREFIX = r"(?:[rRbBfFuU]|[rR][bBfF]|[bBfF][rR])?"
TOKEN = re.compile(
    r"(?P<comment>\#.*)"
    rf"|(?P<triple>{_PREFIX}(?:'''|\"\"\"))"
    rf"|(?P<string>{_PREFIX}(?:'(?:[^'\\\n]|\\.)*'?|\"(?:[^\"\\\n]|\\.)*\"?))"
    r"|(?P<decorator>^\s*@[\w.]+)"
    r"|(?P<number>\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?j?)\b)"
    r"|(?P<name>[A-Za-z_]\w*)"
)

# block states: -1/0 plain; 1 inside ''' ; 2 inside """
_STATE_OF = {"'''": 1, '"""': 2}
_QUOTE_OF = {1: "'''", 2: '"""'}
UNCOLOURED = 3  # the block state of a plain line whose colours wait (see deferred)


class PythonHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument, dark: bool | None = None):
        super().__init__(document)
        self.formats: dict[str, QTextCharFormat] = {}
        self._deferring = False
        self._formatting = False
        self._limit = -1  # format_blocks: the last block to colour now
        self.unformatted: set[int] = set()  # block numbers not coloured yet (see deferred)
        self.set_dark(theme.is_dark() if dark is None else dark)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Set a whole new text inside this: lines without a triple quote (outside a
        triple-quoted string) get their block state now and their colours later."""
        self.unformatted.clear()
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    def format_blocks(self, first: int, last: int) -> None:
        """Colour the blocks ``first``..``last`` (0-based) that are not coloured yet."""
        if self._formatting or not self.unformatted:
            return
        self._formatting = True  # colouring a block asks the view to repaint: no re-entry
        self._limit = last
        try:
            doc = self.document()
            number = max(0, first)
            while number <= last:
                if number in self.unformatted:
                    # one pass colours this block and the uncoloured ones after it up to
                    # ``last``: each changes its state from UNCOLOURED, which carries Qt on
                    self.rehighlightBlock(doc.findBlockByNumber(number))
                number += 1
        finally:
            self._formatting = False
            self._limit = -1

    def set_dark(self, dark: bool) -> None:
        """Choose the light or dark palette and recolour the document."""
        self.dark = dark
        palette = DARK if dark else LIGHT
        self.formats = {}
        self.unformatted.clear()  # rehighlight below colours every line
        for name, color in palette.items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(color))
            if name in ("keyword", "definition"):
                fmt.setFontWeight(QFont.Weight.DemiBold)
            if name == "comment":
                fmt.setFontItalic(True)
            self.formats[name] = fmt
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        if self._deferring or self._formatting:
            number = self.currentBlock().blockNumber()
            if (
                (self._deferring or number > self._limit)
                and self.previousBlockState() not in _QUOTE_OF
                and '"""' not in text
                and "'''" not in text
            ):
                self.setCurrentBlockState(UNCOLOURED)
                self.unformatted.add(number)
                return
            self.unformatted.discard(number)
        self.setCurrentBlockState(0)
        pos = 0
        state = self.previousBlockState()
        if state in _QUOTE_OF:
            end = _close(text, 0, _QUOTE_OF[state])
            if end < 0:
                self.setFormat(0, len(text), self.formats["string"])
                self.setCurrentBlockState(state)
                return
            self.setFormat(0, end, self.formats["string"])
            pos = end
        expect_definition = False
        while pos < len(text):
            m = TOKEN.search(text, pos)
            if m is None:
                break
            kind = m.lastgroup
            start, end = m.span()
            word = m.group()
            if kind == "triple":
                quote = word[-3:]
                close = _close(text, end, quote)
                if close < 0:
                    self.setFormat(start, len(text) - start, self.formats["string"])
                    self.setCurrentBlockState(_STATE_OF[quote])
                    return
                self.setFormat(start, close - start, self.formats["string"])
                pos = close
                expect_definition = False
                continue
            fmt = None
            if kind in ("comment", "string", "number", "decorator"):
                fmt = self.formats[kind]
            elif kind == "name":
                if expect_definition:
                    fmt = self.formats["definition"]
                elif word in KEYWORDS or (word in SOFT_KEYWORDS and not text[:start].strip()):
                    fmt = self.formats["keyword"]
                elif word in CONSTANTS:
                    fmt = self.formats["constant"]
                elif word in ("self", "cls"):
                    fmt = self.formats["self"]
                elif word in BUILTINS and not _is_attribute(text, start):
                    fmt = self.formats["builtin"]
            if fmt is not None:
                self.setFormat(start, end - start, fmt)
            expect_definition = kind == "name" and word in ("def", "class")
            pos = max(end, pos + 1)


def _close(text: str, start: int, quote: str) -> int:
    """Index just past the closing ``quote`` at or after ``start`` (escapes skipped), or -1."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i + len(quote)
        i += 1
    return -1


def _is_attribute(text: str, start: int) -> bool:
    """``x.sum`` is a method, not the builtin ``sum``."""
    return text[:start].rstrip().endswith(".")
