"""Long files are coloured lazily: the lines in view at once, the others when they come into
view, in the same colours as colouring everything at once."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QPlainTextEdit

from torchcanvas.gui.panels.highlighter import PythonHighlighter

CHUNK = '''class Block{i}(nn.Module):
    """A block
    whose docstring # spans lines
    """

    def forward(self, x):  # "quoted" comment
        s = "# not a comment" + \'\'\'{i}\'\'\'
        return len(x) + 0x1F + self.fc(x) * 1.5e-3
'''
TEXT = "".join(CHUNK.format(i=i) for i in range(400))  # 3200 lines


def colours(doc: QTextDocument) -> list[list[tuple[int, int, str]]]:
    out = []
    block = doc.begin()
    while block.isValid():
        out.append(
            [
                (r.start, r.length, r.format.foreground().color().name())
                for r in block.layout().formats()
            ]
        )
        block = block.next()
    return out


@pytest.fixture
def eager(qtbot):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    highlighter = PythonHighlighter(editor.document(), dark=False)
    qtbot.wait(1)  # attaching schedules a rehighlight of the (empty) document: let it pass
    editor.setPlainText(TEXT)  # colours every line at once
    assert not highlighter.unformatted
    return colours(editor.document())


def test_deferred_text_colours_on_demand(qtbot, eager):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    doc = editor.document()
    highlighter = PythonHighlighter(doc, dark=False)
    qtbot.wait(1)
    with highlighter.deferred():
        editor.setPlainText(TEXT)
    lines = colours(doc)
    assert len(highlighter.unformatted) > 1500  # most lines wait
    # lines touching a triple-quoted string are coloured at once (their block state matters)
    assert lines[1] == eager[1] and lines[1]
    assert lines[3199] == [] != eager[3199]  # "return len(x)…" of the last block: not yet

    highlighter.format_blocks(3190, 3199)  # a view scrolled to the end asks for its lines
    lines = colours(doc)
    assert lines[3190:3200] == eager[3190:3200]
    assert all(n not in highlighter.unformatted for n in range(3190, 3200))

    for first in range(0, doc.blockCount(), 100):
        highlighter.format_blocks(first, first + 99)
    assert not highlighter.unformatted
    assert colours(doc) == eager


def test_code_view_colours_the_lines_in_view_at_once(qtbot, eager):
    from torchcanvas.gui.panels.codeview import CodeView
    from torchcanvas.gui.project import Document

    doc = Document()
    view = CodeView(doc)
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    view._set_text(TEXT, {})
    editor = view.editor
    first = editor.firstVisibleBlock().blockNumber()
    shown = colours(editor.document())
    assert shown[first : first + 10] == eager[first : first + 10]  # before any event runs
    assert view.highlighter.unformatted  # the rest is still to do
    editor.verticalScrollBar().setValue(editor.verticalScrollBar().maximum())
    last = editor.document().blockCount() - 1
    assert colours(editor.document())[last - 3 : last] == eager[last - 3 : last]
    bar = editor.verticalScrollBar()
    for value in range(0, bar.maximum() + 1, max(1, bar.pageStep())):  # page through it
        bar.setValue(value)
    assert not view.highlighter.unformatted
    assert colours(editor.document()) == eager[: last + 1]  # the view drops the final newline
    doc.close()
