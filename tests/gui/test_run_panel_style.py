"""A style transfer optimises one image: the run panel hides batch size and val split and
says why; other projects show them."""

from __future__ import annotations

import pytest

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load
from torchcanvas.gui.project import Document
from torchcanvas.gui.training.run_panel import RunPanel

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


def _shown(panel: RunPanel) -> dict[str, bool]:
    form = panel._form
    return {
        "batch size": form.labelForField(panel.batch_size).isVisibleTo(panel)
        and panel.batch_size.isVisibleTo(panel),
        "val split": form.labelForField(panel.val_split).isVisibleTo(panel)
        and panel.val_split.isVisibleTo(panel),
        "note": panel.style_note.isVisibleTo(panel),
    }


def test_style_transfer_hides_batch_size_and_val_split_with_a_note(qtbot, isolated):
    style = Document(load(assets_dir() / "examples" / "style_transfer.json"))
    digits = Document(load(assets_dir() / "examples" / "digits_cnn.json"))
    try:
        panel = RunPanel(digits)
        qtbot.addWidget(panel)
        panel.show()
        assert _shown(panel) == {"batch size": True, "val split": True, "note": False}
        panel.set_document(style)  # another project opened
        assert _shown(panel) == {"batch size": False, "val split": False, "note": True}
        assert "one image" in panel.style_note.text()
        assert "no batches" in panel.style_note.text()
        assert panel.epochs.isVisibleTo(panel)  # the rest stays
        # the style images removed: an ordinary project again; undo brings the note back
        data = next(n.id for n in style.graph.nodes_of_kind("data"))
        assert style.remove([data])
        assert _shown(panel) == {"batch size": True, "val split": True, "note": False}
        style.undo_stack.undo()
        assert _shown(panel) == {"batch size": False, "val split": False, "note": True}
        panel.set_document(digits)
        assert _shown(panel) == {"batch size": True, "val split": True, "note": False}
    finally:
        style.close()
        digits.close()


def test_the_inspectors_settings_leave_them_out_too(qtbot, isolated):
    from PySide6.QtWidgets import QLabel

    from torchcanvas.gui.panels.inspector import InspectorWidget

    style = Document(load(assets_dir() / "examples" / "style_transfer.json"))
    digits = Document(load(assets_dir() / "examples" / "digits_cnn.json"))
    try:
        for doc, shown in ((style, False), (digits, True)):
            insp = InspectorWidget(doc)
            qtbot.addWidget(insp)
            insp.show_nodes([])
            assert insp.mode == "settings"
            assert ("batch_size" in insp.rows) is shown and ("val_split" in insp.rows) is shown
            assert "epochs" in insp.rows
            notes = [w for w in insp.findChildren(QLabel) if w.objectName() == "styleNote"]
            assert bool(notes) is not shown
    finally:
        style.close()
        digits.close()
