"""Panels show their content whole: the Code dock is as wide as a layer's line of model.py and
scrolls sideways beyond it (never wraps or elides); the Export dialog offers a folder and
grows to show every result row."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit

from torchcanvas.graph import load, save
from torchcanvas.gui.dialogs.export_dialog import RESULT_ROWS, ExportDialog, default_export_folder
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def test_the_code_dock_shows_each_layer_line_whole_and_scrolls_sideways(window, qtbot):
    window.resize(1440, 900)
    code = window.code_view
    qtbot.waitUntil(lambda: "nn.Conv2d" in code.text(), timeout=10_000)
    editor = code.editor
    assert editor.lineWrapMode() == QPlainTextEdit.LineWrapMode.NoWrap
    assert editor.horizontalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    fm = editor.fontMetrics()
    margin = 2 * editor.document().documentMargin()
    layers = [line for line in code.text().splitlines() if " = nn." in line]
    assert layers
    width = editor.viewport().width()
    for line in layers:
        assert fm.horizontalAdvance(line) + margin <= width, (line, width)
    assert window.view.width() >= 600  # the canvas keeps its room
    # narrowed, the lines scroll sideways; the text stays whole
    window.resizeDocks([window.inspector_dock], [240], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: editor.horizontalScrollBar().maximum() > 0, timeout=2000)
    assert all(line in editor.toPlainText() for line in layers)
    assert "…" not in editor.toPlainText()


def test_export_offers_a_folder_beside_the_project_or_in_home(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        default_export_folder(None, "digits_cnn")
        == tmp_path / "home" / "torchcanvas-exports" / "digits_cnn"
    )
    assert default_export_folder(tmp_path / "p" / "net.json") == tmp_path / "p" / "export"

    window.export_project()  # an unsaved example
    dialog = window.findChild(ExportDialog)
    assert (
        Path(dialog.folder_edit.text()) == tmp_path / "home" / "torchcanvas-exports" / "digits_cnn"
    )
    assert dialog.export_button.isEnabled()
    dialog.close()
    dialog.deleteLater()

    project = tmp_path / "mine" / "net.json"
    project.parent.mkdir()
    save(window.doc.graph, project)
    assert window.open_file(project) is not False
    window.export_project()
    dialog = next(d for d in window.findChildren(ExportDialog) if d.isVisible())
    assert Path(dialog.folder_edit.text()) == tmp_path / "mine" / "export"
    dialog.close()


def test_the_export_results_show_every_row(qtbot, request):
    project = compile_project(
        load(assets_dir() / "examples" / "linear_regression.json"), title="line"
    )
    # a folder with a short path of the same length in every run: the rows name files in it,
    # and a parallel run's longer temporary paths wrapped onto more lines than the offscreen
    # screen (600 px high) lets the dialog grow to
    short = Path(tempfile.mkdtemp(prefix="tc-export-"))
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    out = short / "out"
    dialog = ExportDialog(lambda: project, [], seed=0, folder=out)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.height() <= 520
    with qtbot.waitSignal(dialog.exported, timeout=120_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    results = dialog.results
    assert len(dialog.rows) == 5
    assert results.height() >= RESULT_ROWS * results.fontMetrics().lineSpacing()
    qtbot.waitUntil(lambda: results.verticalScrollBar().maximum() == 0, timeout=2000)
    text = results.toPlainText()
    assert all(title in text for title, _ in dialog.rows)
