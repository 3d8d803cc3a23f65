"""The run panel's speed settings (precision, compile, channels-last, pinned memory, cuDNN
benchmark): shown from the project, edited through undoable commands, and a CUDA-only one
refused clearly when the window trains on the CPU."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt


def _choose(combo, text: str) -> None:
    """Pick ``text`` as a user does (the panel listens to ``activated``)."""
    index = combo.findText(text)
    assert index >= 0, text
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_speed_settings_edit_the_project_and_undo(qtbot, window):
    window.training_dock.show()
    panel, doc = window.run_panel, window.doc
    settings = doc.graph.settings
    assert panel.precision.currentText() == "off" and not panel.compile.isChecked()
    assert not panel.compile_mode.isEnabled()  # only meaningful with compile on

    _choose(panel.precision, "bf16")
    assert settings["precision"] == "bf16"
    qtbot.mouseClick(panel.compile, Qt.MouseButton.LeftButton)
    assert settings["compile"] is True and panel.compile_mode.isEnabled()
    _choose(panel.compile_mode, "max-autotune")
    assert settings["compile_mode"] == "max-autotune"
    qtbot.mouseClick(panel.channels_last, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.cudnn_benchmark, Qt.MouseButton.LeftButton)
    assert settings["channels_last"] is True and settings["cudnn_benchmark"] is True
    assert doc.undo_stack.count() == 5

    # undo each edit: the model and the widgets go back one step at a time
    doc.undo_stack.undo()
    assert settings["cudnn_benchmark"] is False and not panel.cudnn_benchmark.isChecked()
    doc.undo_stack.undo()
    assert settings["channels_last"] is False and not panel.channels_last.isChecked()
    doc.undo_stack.undo()
    assert settings["compile_mode"] == "default"
    assert panel.compile_mode.currentText() == "default"
    doc.undo_stack.undo()
    assert settings["compile"] is False and not panel.compile.isChecked()
    assert not panel.compile_mode.isEnabled()
    doc.undo_stack.undo()
    assert settings["precision"] == "off" and panel.precision.currentText() == "off"
    # and redo
    doc.undo_stack.redo()
    doc.undo_stack.redo()
    assert settings["precision"] == "bf16" and panel.precision.currentText() == "bf16"
    assert settings["compile"] is True and panel.compile.isChecked()


def test_exported_code_follows_the_panel(qtbot, window, tmp_path):
    from torchcanvas.runtime.compile import compile_project

    window.training_dock.show()
    panel = window.run_panel
    _choose(panel.precision, "bf16")
    qtbot.mouseClick(panel.channels_last, Qt.MouseButton.LeftButton)
    source = compile_project(window.doc.graph.copy()).train.source
    assert '"precision": "bf16",' in source and '"channels_last": True,' in source


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pinned_memory_on_the_cpu_is_refused_naming_the_setting(qtbot, window, isolated):
    window.training_dock.show()
    panel = window.run_panel
    window.doc.set_setting("device", "cpu")
    qtbot.mouseClick(panel.pin_memory, Qt.MouseButton.LeftButton)
    assert window.doc.graph.settings["pin_memory"] is True
    assert window.start_training()
    try:
        qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    finally:
        window.training.stop_and_wait()
    text = panel.message.text()
    assert "pin_memory" in text and "CUDA" in text and "turn it off" in text
    assert panel.progress.format() == "failed"

    # turned off again, the same window trains
    qtbot.mouseClick(panel.pin_memory, Qt.MouseButton.LeftButton)
    window.doc.set_setting("epochs", 1)
    assert window.start_training()
    try:
        qtbot.waitUntil(lambda: window.training.state == "idle", timeout=60_000)
    finally:
        window.training.stop_and_wait()
    assert panel.progress.format().startswith("completed")
