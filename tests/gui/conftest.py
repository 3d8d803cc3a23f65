"""GUI test set-up: settings, recovery files and the data cache in temporary folders."""

from __future__ import annotations

import os
import tempfile

# QSettings (recent files) must not touch the user's configuration: point it elsewhere before
# any QApplication exists.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="torchcanvas-config-")

import pytest


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TORCHCANVAS_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


@pytest.fixture
def window(qtbot, isolated):
    """The real main window on the digits example, shapes computed."""
    from torchcanvas.assets import assets_dir
    from torchcanvas.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    assert win.open_example(assets_dir() / "examples" / "digits_cnn.json")
    assert win.wait_for_shapes()
    yield win
    win.doc.undo_stack.setClean()  # no save prompt at teardown
    win.close()


@pytest.fixture(autouse=True)
def no_modal_prompts(monkeypatch):
    """A modal question would block a test forever: answer them unless a test says otherwise."""
    from PySide6.QtWidgets import QMessageBox

    from torchcanvas.gui import main_window

    monkeypatch.setattr(
        main_window.MainWindow, "ask_save_changes", lambda self: QMessageBox.StandardButton.Discard
    )
    monkeypatch.setattr(main_window.MainWindow, "ask_restore", lambda self, saved_at: False)
    monkeypatch.setattr(main_window.MainWindow, "ask_stop_sweep", lambda self: True)


@pytest.fixture
def doc(qtbot, isolated):
    """A Document on the digits example (no window)."""
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load
    from torchcanvas.gui.project import Document

    document = Document(load(assets_dir() / "examples" / "digits_cnn.json"))
    yield document
    document.close()
