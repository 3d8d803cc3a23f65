"""Spin boxes refuse bad input out loud: the typed text is judged on Enter, the old value is
kept and a message in the text fields' wording says why."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from torchcanvas.gui.panels.fields import CheckedDoubleSpinBox, CheckedSpinBox
from torchcanvas.gui.training.run_panel import RunPanel

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


def type_into(qtbot, box, text: str) -> None:
    line = box.lineEdit()
    box.setFocus()
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


@pytest.mark.parametrize("typed", ["-3", "0", ""])
def test_a_spin_box_keeps_its_value_and_tells_what_it_refused(qtbot, typed):
    box = CheckedSpinBox(minimum=1, maximum=100)
    qtbot.addWidget(box)
    box.setKeyboardTracking(False)  # as the inspector and the run panel use them
    box.setValue(12)
    box.show()
    refused, changed = [], []
    box.refused.connect(refused.append)
    box.valueChanged.connect(changed.append)
    type_into(qtbot, box, typed)
    assert box.value() == 12 and set(changed) <= {12}  # Enter re-sends the kept value
    assert refused == [typed]
    type_into(qtbot, box, "5")
    assert box.value() == 5 and refused == [typed]


def test_a_double_spin_box_refuses_too(qtbot):
    box = CheckedDoubleSpinBox(minimum=0.0, maximum=0.9, decimals=2)
    qtbot.addWidget(box)
    box.setKeyboardTracking(False)
    box.setValue(0.2)
    box.show()
    refused = []
    box.refused.connect(refused.append)
    type_into(qtbot, box, "-0.5")
    assert box.value() == pytest.approx(0.2) and refused == ["-0.5"]


@pytest.mark.parametrize("typed", ["0", "-3"])
def test_the_run_panel_refuses_a_bad_batch_size_with_a_message(qtbot, doc, typed):
    panel = RunPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    old = doc.graph.settings["batch_size"]
    type_into(qtbot, panel.batch_size, typed)
    assert doc.graph.settings["batch_size"] == old and panel.batch_size.value() == old
    assert panel.settings_error.isVisible()
    assert panel.settings_error.text().startswith(
        f"batch_size: {typed} is out of range; must be ≥ 1"
    )
    assert doc.undo_stack.count() == 0
    type_into(qtbot, panel.batch_size, "16")  # a good value: in, and the message goes
    assert doc.graph.settings["batch_size"] == 16 and not panel.settings_error.isVisible()
