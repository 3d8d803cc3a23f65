"""The code dock (model.py / train.py, live) and the problems dock."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QTextDocument
from PySide6.QtTest import QTest

from torchcanvas.codegen.model import generate_model
from torchcanvas.gui.panels.codeview import CodeView, reason_block
from torchcanvas.gui.panels.highlighter import DARK, LIGHT, PythonHighlighter
from torchcanvas.gui.panels.problems import ProblemsWidget, Row, summary_text
from torchcanvas.gui.project import Document

# the offscreen platform warns on every show(); that is not ours to fix
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


def node_id(doc: Document, label: str) -> str:
    return next(n.id for n in doc.graph.nodes() if n.label == label)


@pytest.fixture
def code(qtbot, doc):
    view = CodeView(doc)
    qtbot.addWidget(view)
    view.resize(640, 480)
    assert doc.wait_for_shapes()
    return view


@pytest.fixture
def problems(qtbot, doc):
    widget = ProblemsWidget(doc)
    qtbot.addWidget(widget)
    widget.resize(700, 200)
    assert doc.wait_for_shapes()
    return widget


def generated(doc: Document):
    return generate_model(doc.graph, doc.shapes.resolved, title="")


# ---------------------------------------------------------------------- code view
def test_shows_model_and_follows_edits(code, doc):
    assert "class DigitsCNN(nn.Module)" in code.text()
    assert code.text() == generated(doc).source
    assert code.editor.toPlainText() == code.text().rstrip("\n")
    assert not code.blocked

    doc.set_param(node_id(doc, "conv1"), "out_channels", 8)
    assert doc.wait_for_shapes()
    assert "nn.Conv2d(1, 8, 3, padding=1)" in code.text()
    assert "nn.Conv2d(8, 32, 3, padding=1)" in code.text()  # conv2's auto in_channels followed
    assert code.text() == generated(doc).source


def test_widget_made_before_shapes_shows_a_placeholder_then_code(qtbot, isolated):
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load

    # made here, not by the fixture: pytest-qt runs the event loop after fixtures, and the
    # shape process (asked at once by a new document) can answer within it
    doc = Document(load(assets_dir() / "examples" / "digits_cnn.json"))
    view = CodeView(doc)
    qtbot.addWidget(view)
    assert "Checking" in view.text()
    assert doc.wait_for_shapes()
    assert "class DigitsCNN(nn.Module)" in view.text()
    # a second view on a document with shapes shows code at once
    other = CodeView(doc)
    qtbot.addWidget(other)
    assert other.text() == view.text()
    doc.close()


def test_scroll_position_kept(code, doc):
    code.resize(400, 150)
    code.show()
    bar = code.editor.verticalScrollBar()
    assert bar.maximum() > 5
    bar.setValue(5)
    doc.request_shapes()  # same graph: same text
    assert doc.wait_for_shapes()
    assert bar.value() == 5
    doc.set_param(node_id(doc, "conv1"), "out_channels", 8)  # new text, same place
    assert doc.wait_for_shapes()
    assert "nn.Conv2d(1, 8" in code.text()
    assert bar.value() == 5


def test_highlight_nodes_marks_their_lines(code, doc):
    conv1 = node_id(doc, "conv1")
    lines = generated(doc).lines_of(conv1)
    assert len(lines) == 2  # the constructor and the forward line
    code.highlight_nodes([conv1])
    selections = code.editor.extraSelections()
    assert [s.cursor.blockNumber() + 1 for s in selections] == lines
    assert code.highlighted_lines() == lines
    for line, sel in zip(lines, selections, strict=True):
        assert sel.cursor.block().text() == code.text().splitlines()[line - 1]
        assert sel.format.background().color().alpha() < 255  # a soft wash, not a solid bar

    both = [conv1, node_id(doc, "classifier")]
    code.highlight_nodes(both)
    assert code.highlighted_lines() == sorted(
        generated(doc).lines_of(both[0]) + generated(doc).lines_of(both[1])
    )

    # highlights survive regeneration
    doc.set_param(conv1, "out_channels", 8)
    assert doc.wait_for_shapes()
    assert len(code.highlighted_lines()) == 4

    code.highlight_nodes([])
    assert code.editor.extraSelections() == []


def test_highlight_scrolls_into_view(code, doc):
    code.resize(500, 160)
    code.show()
    code.set_mode("train")
    loss = node_id(doc, "loss1")
    code.highlight_nodes([loss])
    first = code.highlighted_lines()[0]
    top = code.editor.line_top(first)
    assert 0 <= top < code.editor.viewport().height()


def test_clicking_a_line_emits_its_node(qtbot, code, doc):
    code.show()
    qtbot.waitExposed(code)
    conv1 = node_id(doc, "conv1")
    line = generated(doc).lines_of(conv1)[0]
    y = code.editor.line_top(line) + 3
    viewport = code.editor.viewport()
    with qtbot.waitSignal(code.nodeClicked, timeout=1000) as blocker:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(80, y))
    assert blocker.args == [conv1]

    # the gutter's line numbers too
    classifier = node_id(doc, "classifier")
    line = generated(doc).lines_of(classifier)[-1]
    y = code.editor.line_top(line) + 3
    with qtbot.waitSignal(code.nodeClicked, timeout=1000) as blocker:
        QTest.mouseClick(code.editor.gutter, Qt.MouseButton.LeftButton, pos=QPoint(10, y))
    assert blocker.args == [classifier]

    # a line of no node (the class statement) emits nothing
    class_line = code.text().splitlines().index("class DigitsCNN(nn.Module):") + 1
    with qtbot.assertNotEmitted(code.nodeClicked):
        QTest.mouseClick(
            viewport,
            Qt.MouseButton.LeftButton,
            pos=QPoint(80, code.editor.line_top(class_line) + 3),
        )


def test_broken_graph_shows_the_reason(qtbot, code, problems, doc):
    classifier = node_id(doc, "classifier")
    doc.set_param(classifier, "in_features", 100)
    assert doc.wait_for_shapes()

    text = code.text()
    assert code.blocked
    assert text.startswith(
        "# The model cannot be generated yet:\n# classifier: expects 100 input "
        "features but gets 512"
    )
    assert "class DigitsCNN" not in text
    assert all(line.startswith("#") for line in text.splitlines())
    assert code.node_at_line(2) == classifier  # the reason points at its node

    assert problems.row_count() == 1
    assert problems.summary() == "1 error"
    item = problems.item(0)
    assert item.text(0) == "classifier"
    assert item.text(1).startswith("expects 100 input features but gets 512")
    assert item.foreground(0).color() == problems_error_color()
    with qtbot.waitSignal(problems.nodeClicked, timeout=1000) as blocker:
        problems.tree.itemClicked.emit(item, 1)
    assert blocker.args == [classifier]

    problems.show()
    qtbot.waitExposed(problems)
    rect = problems.tree.visualItemRect(item)
    with qtbot.waitSignal(problems.nodeClicked, timeout=1000) as blocker:
        QTest.mouseClick(problems.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [classifier]

    # fixed: code again, no problems
    doc.set_param(classifier, "in_features", "auto")
    assert doc.wait_for_shapes()
    assert not code.blocked
    assert "class DigitsCNN(nn.Module)" in code.text()
    assert problems.summary() == "No problems"
    assert problems.row_count() == 0
    assert problems.tree.topLevelItemCount() == 1
    with qtbot.assertNotEmitted(problems.nodeClicked):
        problems.tree.itemClicked.emit(problems.item(0), 0)


def problems_error_color() -> QColor:
    from torchcanvas.gui import theme

    return theme.current().error


def test_train_toggle(qtbot, code, doc):
    qtbot.mouseClick(code.mode_buttons["train"], Qt.MouseButton.LeftButton)
    assert code.mode() == "train"
    assert "def train_step" in code.text()
    assert "from model import DigitsCNN" in code.text()
    loss = node_id(doc, "loss1")
    assert loss in code.line_map.values()
    qtbot.mouseClick(code.mode_buttons["model"], Qt.MouseButton.LeftButton)
    assert code.mode() == "model"
    assert "class DigitsCNN(nn.Module)" in code.text()
    with pytest.raises(ValueError):
        code.set_mode("export")


def test_training_plan_problem(qtbot, code, problems, doc):
    doc.remove([node_id(doc, "optimizer1")])
    assert doc.wait_for_shapes()
    # the model is still fine; train.py says why it cannot be written
    assert "class DigitsCNN(nn.Module)" in code.text()
    code.set_mode("train")
    assert code.blocked
    assert code.text().startswith("# The training script (train.py) cannot be generated yet:")
    assert "no optimizer" in code.text()

    assert problems.summary() == "1 warning"
    item = problems.item(0)
    assert item.text(1).startswith("cannot train yet: no optimizer")
    with qtbot.assertNotEmitted(problems.nodeClicked):
        problems.tree.itemClicked.emit(item, 1)  # no node to go to


def test_loss_error_blocks_train_but_not_model(code, problems, doc):
    doc.remove([node_id(doc, "classifier")])
    assert doc.wait_for_shapes()
    loss = node_id(doc, "loss1")
    assert "class DigitsCNN(nn.Module)" in code.text()
    assert "self.classifier" not in code.text()
    code.set_mode("train")
    assert code.blocked and "loss1: input 'input' is not connected" in code.text()
    assert problems.summary() == "1 error"
    assert problems.item(0).data(0, Qt.ItemDataRole.UserRole) == loss


def test_checking_state(code, problems, doc):
    doc.set_param(node_id(doc, "conv1"), "out_channels", 4)
    assert problems.checking and problems.status.text() == "checking…"
    assert code.status.text() == "checking…"
    assert doc.wait_for_shapes()
    assert not problems.checking and problems.status.text() == ""
    assert code.status.text() == ""


def test_copy(code):
    code.copy()
    assert QGuiApplication.clipboard().text() == code.text()
    assert code.text().endswith("\n")


def test_summary_counts():
    e = Row("error", "n1", "a", "bad")
    w = Row("warning", None, "", "hmm")
    assert summary_text([]) == "No problems"
    assert summary_text([e]) == "1 error"
    assert summary_text([e, e, w]) == "2 errors, 1 warning"
    assert summary_text([w, w, w]) == "3 warnings"


def test_reason_block_wraps_and_maps():
    text, line_map = reason_block("model.py", [("x " * 60, "n3"), ("no layers", None)])
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert all(line.startswith("#") for line in lines)
    assert set(line_map.values()) == {"n3"} and len(line_map) >= 2


# ---------------------------------------------------------------------- highlighter
SAMPLE = '''"""A docstring
that spans # lines
"""
import torch  # comment with "quote"


@torch.no_grad()
def f(self, x=0x1F, y=1.5e-3):
    s = "# not a comment"
    return len(x) + None
'''


def formats_at(doc: QTextDocument, line: int, column: int) -> QColor | None:
    block = doc.findBlockByNumber(line)
    for fr in block.layout().formats():
        if fr.start <= column < fr.start + fr.length:
            return fr.format.foreground().color()
    return None


@pytest.mark.parametrize("dark", [False, True])
def test_highlighter(qtbot, dark):
    colors = {k: QColor(v) for k, v in (DARK if dark else LIGHT).items()}
    doc = QTextDocument()
    doc.setPlainText(SAMPLE)
    highlighter = PythonHighlighter(doc, dark=dark)
    assert highlighter.dark is dark
    lines = SAMPLE.splitlines()
    assert formats_at(doc, 0, 0) == colors["string"]
    assert formats_at(doc, 1, lines[1].index("#")) == colors["string"]  # docstring line 2
    assert formats_at(doc, 2, 0) == colors["string"]  # closing quotes
    assert formats_at(doc, 3, 0) == colors["keyword"]
    assert formats_at(doc, 3, lines[3].index("#")) == colors["comment"]
    assert formats_at(doc, 6, 0) == colors["decorator"]
    assert formats_at(doc, 7, 0) == colors["keyword"]
    assert formats_at(doc, 7, 4) == colors["definition"]
    assert formats_at(doc, 7, lines[7].index("self")) == colors["self"]
    assert formats_at(doc, 7, lines[7].index("0x1F")) == colors["number"]
    assert formats_at(doc, 7, lines[7].index("1.5e-3")) == colors["number"]
    assert formats_at(doc, 8, lines[8].index("#")) == colors["string"]
    assert formats_at(doc, 9, lines[9].index("len")) == colors["builtin"]
    assert formats_at(doc, 9, lines[9].index("None")) == colors["constant"]
    assert formats_at(doc, 9, lines[9].index("x")) is None  # plain names stay plain
