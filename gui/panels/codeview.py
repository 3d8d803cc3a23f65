"""The code dock: the generated model.py (or train.py) of the open document, live.

Read-only, monospace, Python colouring, line numbers. It regenerates whenever shapes arrive
(codegen is cheap); when the graph cannot become code it says why, as a comment block, instead of
showing stale code. Lines map to canvas nodes both ways: ``highlight_nodes`` marks a node's lines,
clicking a line emits ``nodeClicked`` with its node id.
"""

from __future__ import annotations

import textwrap

from PySide6.QtCore import QEvent, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QGuiApplication,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.codegen.emit import CodegenError
from torchcanvas.gui import theme
from torchcanvas.gui.panels.highlighter import PythonHighlighter
from torchcanvas.gui.panels.problems import problem_message
from torchcanvas.gui.project import Document

MODES = ("model", "train")
FILE_NAMES = {"model": "model.py", "train": "train.py"}
# errors on these nodes stop train.py but not model.py (they are not part of the network)
TRAINING_KINDS = ("loss", "optimizer", "scheduler", "clip")
WRAP = 72  # reason comments: narrow enough for a side dock


class Blocked(Exception):
    """The file cannot be generated: ``reasons`` are (message, node id or None)."""

    def __init__(self, reasons: list[tuple[str, str | None]]):
        super().__init__("; ".join(m for m, _ in reasons))
        self.reasons = reasons


def reason_block(
    file_name: str, reasons: list[tuple[str, str | None]]
) -> tuple[str, dict[int, str]]:
    """A comment block saying why ``file_name`` cannot be generated; reason lines map to nodes."""
    what = "The model" if file_name == "model.py" else f"The training script ({file_name})"
    lines = [f"# {what} cannot be generated yet:"]
    line_map: dict[int, str] = {}
    for message, node_id in reasons:
        wrapped = textwrap.wrap(
            message, WRAP - 4, break_long_words=False, break_on_hyphens=False
        ) or [""]
        for i, part in enumerate(wrapped):
            lines.append(("# " if i == 0 else "#   ") + part)
            if node_id:
                line_map[len(lines)] = node_id
    lines += [
        "#",
        "# Fix it on the canvas (click a reason to select its node);",
        "# the code follows every edit.",
    ]
    return "\n".join(lines) + "\n", line_map


class CodeEditor(QPlainTextEdit):
    """A read-only code editor with a line-number gutter; emits the 1-based line clicked."""

    lineClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.setFont(font)
        self.document().setDocumentMargin(4)
        self.marked_lines: set[int] = set()
        self.gutter = _Gutter(self)
        self.blockCountChanged.connect(self._update_gutter_width)
        self.updateRequest.connect(self._update_gutter)
        self._update_gutter_width()

    # ------------------------------------------------------------------ gutter
    def gutter_width(self) -> int:
        digits = max(3, len(str(max(1, self.blockCount()))))
        return 14 + self.fontMetrics().horizontalAdvance("9") * digits

    def _update_gutter_width(self, *_) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _update_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())
        if rect.contains(self.viewport().rect()):
            self._update_gutter_width()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        cr = self.contentsRect()
        self.gutter.setGeometry(QRect(cr.left(), cr.top(), self.gutter_width(), cr.height()))

    def paint_gutter(self, event: QPaintEvent) -> None:
        t = theme.current()
        painter = QPainter(self.gutter)
        base = self.palette().color(self.palette().ColorRole.Base)
        painter.fillRect(event.rect(), base.darker(104) if not t.dark else base.lighter(115))
        muted = self.palette().color(self.palette().ColorRole.PlaceholderText)
        mark = QColor(t.selection)
        block = self.firstVisibleBlock()
        number = block.blockNumber()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        bottom = top + round(self.blockBoundingRect(block).height())
        height = self.fontMetrics().height()
        width = self.gutter.width()
        while block.isValid() and top <= event.rect().bottom():
            if block.isVisible() and bottom >= event.rect().top():
                line = number + 1
                if line in self.marked_lines:
                    painter.fillRect(0, top, 3, bottom - top, mark)
                    painter.setPen(self.palette().color(self.palette().ColorRole.Text))
                else:
                    painter.setPen(muted)
                painter.drawText(
                    0,
                    top,
                    width - 8,
                    height,
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    str(line),
                )
            block = block.next()
            top = bottom
            bottom = top + round(self.blockBoundingRect(block).height())
            number += 1
        painter.end()

    # ------------------------------------------------------------------ lines
    def line_at(self, y: int) -> int | None:
        """The 1-based line at viewport height ``y``, or None below the last line."""
        block = self.firstVisibleBlock()
        offset = self.contentOffset()
        while block.isValid():
            rect = self.blockBoundingGeometry(block).translated(offset)
            if rect.top() > y:
                return None
            if rect.top() <= y < rect.bottom():
                return block.blockNumber() + 1
            block = block.next()
        return None

    def line_top(self, line: int) -> int | None:
        """The viewport height of a 1-based line's top, or None if there is no such line."""
        block = self.document().findBlockByNumber(line - 1)
        if not block.isValid():
            return None
        return round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and not self.textCursor().hasSelection():
            line = self.line_at(round(event.position().y()))
            if line is not None:
                self.lineClicked.emit(line)


class _Gutter(QWidget):
    def __init__(self, editor: CodeEditor):
        super().__init__(editor)
        self.editor = editor
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(self.editor.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.editor.paint_gutter(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            line = self.editor.line_at(round(event.position().y()))
            if line is not None:
                self.editor.lineClicked.emit(line)


CODE_COLUMNS = 56  # the width the view asks for: a layer's line of model.py, unwrapped


class CodeView(QWidget):
    """model.py / train.py of ``doc``, regenerated on every shapes update. Code never wraps
    or elides: longer lines scroll sideways."""

    nodeClicked = Signal(str)

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self._mode = "model"
        self._result = None  # the latest ShapeResult
        self.line_map: dict[int, str] = {}
        self.blocked = False  # the text shows why the code cannot be generated
        self._highlighted: list[str] = []
        self._scroll = {m: 0 for m in MODES}
        self._text = ""

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 3, 4, 3)
        bar.setSpacing(0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for mode in MODES:
            button = QToolButton(text=FILE_NAMES[mode], checkable=True, autoRaise=True)
            button.setToolTip(f"Show the generated {FILE_NAMES[mode]}")
            self.mode_group.addButton(button)
            self.mode_buttons[mode] = button
            button.toggled.connect(lambda on, m=mode: on and self.set_mode(m))
            bar.addWidget(button)
        self.mode_buttons["model"].setChecked(True)
        bar.addStretch(1)
        self.status = QLabel()
        self.status.setEnabled(False)  # greyed: a quiet hint
        bar.addWidget(self.status)
        bar.addSpacing(8)
        self.copy_button = QToolButton(text="Copy", autoRaise=True)
        self.copy_button.setToolTip("Copy the whole file to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        bar.addWidget(self.copy_button)
        self._copied_timer = QTimer(self, singleShot=True, interval=1200)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("Copy"))

        self.editor = CodeEditor(self)
        self.highlighter = PythonHighlighter(self.editor.document())
        self.editor.lineClicked.connect(self._line_clicked)
        self.editor.updateRequest.connect(self._format_visible)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.editor, 1)

        doc.shapesUpdated.connect(self._shapes_updated)
        doc.codeUpdated.connect(self._code_updated)
        doc.shapesPending.connect(self._shapes_pending)
        if doc.shapes_ready:
            self._shapes_updated(doc.shapes)
        else:
            self.blocked = True
            self._set_text("# Checking the graph…\n", {})
            self._shapes_pending()

    # model.py is made only while someone looks at it: shown, this view asks the document for
    # it after every change of shapes; hidden (or a tab behind another dock), it does not
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.doc.set_code_wanted(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.doc.set_code_wanted(False)

    def sizeHint(self) -> QSize:
        editor = self.editor
        text = editor.fontMetrics().horizontalAdvance("x" * CODE_COLUMNS)
        margins = 2 * editor.document().documentMargin() + 2 * editor.frameWidth()
        scrollbar = editor.verticalScrollBar().sizeHint().width()
        return QSize(
            int(editor.gutter_width() + text + margins + scrollbar) + 4, super().sizeHint().height()
        )

    # ------------------------------------------------------------------ public
    def mode(self) -> str:
        """``"model"`` or ``"train"``."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if mode == self._mode:
            return
        self._scroll[self._mode] = self.editor.verticalScrollBar().value()
        self._mode = mode
        self.mode_buttons[mode].setChecked(True)
        self.refresh(scroll=self._scroll[mode])

    def text(self) -> str:
        """The file as shown (and as Copy puts it on the clipboard), ending in a newline."""
        return self._text

    def file_name(self) -> str:
        return FILE_NAMES[self._mode]

    def node_at_line(self, line: int) -> str | None:
        return self.line_map.get(line)

    def lines_of(self, node_ids) -> list[int]:
        wanted = set(node_ids)
        return sorted(line for line, nid in self.line_map.items() if nid in wanted)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
        self.copy_button.setText("Copied ✓")
        self._copied_timer.start()

    def highlight_nodes(self, node_ids) -> None:
        """Mark every line of these nodes and scroll the first one into view."""
        self._highlighted = list(node_ids)
        lines = self._apply_highlight()
        if lines:
            self._scroll_to(lines[0])

    def highlighted_lines(self) -> list[int]:
        """The 1-based lines marked by ``highlight_nodes``."""
        return [s.cursor.blockNumber() + 1 for s in self.editor.extraSelections()]

    def refresh(self, scroll: int | None = None) -> None:
        """Regenerate the shown file from the document and its latest shapes."""
        if self._result is None:
            return
        file_name = self.file_name()
        try:
            text, line_map = self._generate(self._result)
            self.blocked = False
        except Blocked as exc:
            text, line_map = reason_block(file_name, exc.reasons)
            self.blocked = True
        except CodegenError as exc:
            text, line_map = reason_block(file_name, [(str(exc), exc.node_id)])
            self.blocked = True
        self._set_text(text, line_map, scroll)

    # ------------------------------------------------------------------ generation
    def _title(self) -> str:
        return self.doc.path.stem if self.doc.path else ""

    def _generate(self, result) -> tuple[str, dict[int, str]]:
        from torchcanvas.codegen.model import build_ir, print_model

        graph = self.doc.graph
        errors = [p for p in result.problems if p.severity == "error"]
        if self._mode == "model":
            errors = [
                p
                for p in errors
                if p.node_id not in graph or graph.node(p.node_id).kind not in TRAINING_KINDS
            ]
        if errors:
            raise Blocked(
                [(problem_message(graph, p.node_id, p.message), p.node_id) for p in errors]
            )
        if self._mode == "model":
            ready = self.doc.model_code  # made beside the shapes, off the UI thread
            if result is self.doc.shapes and ready is not None:
                if isinstance(ready, CodegenError):
                    raise ready
                return ready.source, dict(ready.line_map)
            generated = print_model(build_ir(graph, result.resolved), self._title())
            return generated.source, dict(generated.line_map)
        from torchcanvas.codegen.train import generate_project_train

        _, generated = generate_project_train(
            graph, build_ir(graph, result.resolved), self.doc.project_dir, self._title()
        )
        return generated.source, dict(generated.line_map)

    def _set_text(self, text: str, line_map: dict[int, str], scroll: int | None = None) -> None:
        self.line_map = line_map
        self._text = text
        text = text.removesuffix("\n")  # no empty numbered line after the last one
        wrap = QPlainTextEdit.LineWrapMode
        # code never wraps (it scrolls); reasons wrap so a narrow dock shows them whole
        self.editor.setLineWrapMode(wrap.WidgetWidth if self.blocked else wrap.NoWrap)
        if text != self.editor.toPlainText():
            bar = self.editor.verticalScrollBar()
            hbar = self.editor.horizontalScrollBar()
            keep = bar.value() if scroll is None else scroll
            keep_h = hbar.value() if scroll is None else 0
            with self.highlighter.deferred():  # lines are coloured as they come into view
                self.editor.setPlainText(text)
            bar.setValue(keep)
            hbar.setValue(keep_h)
            self._format_visible()
        self._apply_highlight()

    def _format_visible(self, *_args) -> None:
        """Colour the lines in view (a long file's other lines when they come into view)."""
        first = self.editor.firstVisibleBlock().blockNumber()
        lines = self.editor.viewport().height() // max(1, self.editor.fontMetrics().lineSpacing())
        self.highlighter.format_blocks(first, first + lines + 1)

    def _apply_highlight(self) -> list[int]:
        lines = self.lines_of(self._highlighted)
        color = QColor(theme.current().selection)
        color.setAlpha(70 if theme.is_dark() else 55)
        selections = []
        doc = self.editor.document()
        for line in lines:
            block = doc.findBlockByNumber(line - 1)
            if not block.isValid():
                continue
            sel = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(color)
            fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
            sel.format = fmt
            sel.cursor = QTextCursor(block)
            selections.append(sel)
        self.editor.setExtraSelections(selections)
        self.editor.marked_lines = set(lines)
        self.editor.gutter.update()
        return lines

    def _scroll_to(self, line: int) -> None:
        """Bring ``line`` into view, a few lines below the top, unless it is already visible."""
        top = self.editor.line_top(line)
        if top is None:
            return
        height = self.editor.fontMetrics().lineSpacing()
        viewport = self.editor.viewport().height()
        if top >= 0 and top + height <= viewport:
            return
        bar = self.editor.verticalScrollBar()
        bar.setValue(max(0, line - 1 - 3))  # QPlainTextEdit scrolls by lines
        self.editor.horizontalScrollBar().setValue(0)

    # ------------------------------------------------------------------ slots
    def _shapes_updated(self, result) -> None:
        self._result = result
        if self._mode == "model" and result.ok and self.doc.model_code is None:
            # the worker sends model.py right after the shapes: wait for it (codeUpdated)
            # instead of generating it again here on the UI thread
            self.status.setText("generating…")
            return
        self.status.setText("")
        self.refresh()

    def _code_updated(self, code) -> None:
        if self._result is self.doc.shapes:
            self.status.setText("")
            self.refresh()

    def _shapes_pending(self) -> None:
        self.status.setText("checking…")

    def _line_clicked(self, line: int) -> None:
        node_id = self.line_map.get(line)
        if node_id is not None:
            self.nodeClicked.emit(node_id)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            dark = theme.is_dark()
            if dark != self.highlighter.dark:
                self.highlighter.set_dark(dark)
                self._apply_highlight()
