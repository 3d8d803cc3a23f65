"""File → Export…: the dialog exports the chosen formats with fresh, run or file weights and
shows what each format wrote, or why it could not be produced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt, QUrl

from torchcanvas.graph import load
from torchcanvas.gui.dialogs.export_dialog import ExportDialog
from torchcanvas.gui.training.run_folders import read_run
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import FORMATS
from torchcanvas.runtime.trainer import Trainer, TrainOptions

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _project(name: str):
    return compile_project(load(assets_dir() / "examples" / f"{name}.json"), title=name)


def _rows(dialog: ExportDialog) -> dict[str, str]:
    rows = dict(dialog.rows)
    shown = dialog.results.toPlainText()
    assert all(title in shown and text in shown for title, text in rows.items())
    return rows


def _choose(dialog: ExportDialog, *formats: str) -> None:
    for name, check in dialog.format_boxes.items():
        check.setChecked(name in formats)


def test_file_export_opens_the_dialog_and_exports_every_format(window, qtbot, tmp_path):
    action = next(
        a for a in window.findChildren(type(window.actions()[0])) if a.text() == "&Export…"
    )
    action.trigger()
    dialog = window.findChild(ExportDialog)
    assert dialog is not None and dialog.isVisible()
    # no runs yet: fresh weights, every format ticked
    assert dialog.fresh_radio.isChecked() and not dialog.run_radio.isEnabled()
    assert dialog.formats() == list(FORMATS)
    assert dialog.folder_edit.text()  # a default folder is offered
    dialog.folder_edit.setText("")
    assert not dialog.export_button.isEnabled()  # no folder
    dialog.folder_edit.setText(str(tmp_path / "out"))
    assert dialog.export_button.isEnabled()

    with qtbot.waitSignal(dialog.exported, timeout=120_000) as signal:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    report = signal.args[0]
    assert report.ok
    rows = _rows(dialog)
    assert list(rows) == ["Code", "Weights", "safetensors", "TorchScript", "ONNX"]
    assert all(text.startswith("✓") for text in rows.values()), rows
    assert "model.onnx" in rows["ONNX"] and "passes onnx.checker" in rows["ONNX"]
    assert "Exported 5 of 5 formats" in dialog.status.text()
    assert "Freshly initialised" in dialog.status.text()
    for name in (
        "model.py",
        "train.py",
        "weights.pt",
        "weights.safetensors",
        "model.torchscript.pt",
        "model.onnx",
        "README.md",
        "requirements.txt",
    ):
        assert (tmp_path / "out" / name).is_file()
    assert dialog.open_button.isEnabled()
    dialog.resize(760, 560)
    dialog.grab().save(str(tmp_path / "export_dialog.png"))
    dialog.close()


def test_weights_from_a_run_of_the_project(qtbot, tmp_path):
    project = _project("linear_regression")
    run = tmp_path / "runs" / "20250101-120000"
    Trainer(project, TrainOptions(out_dir=run, epochs=2, keep_predictions=False)).run()
    (run / "run.json").write_text(
        json.dumps({"name": "first try", "started": "2025-01-01T12:00:00"})
    )
    info = read_run(run)
    dialog = ExportDialog(lambda: project, [info], seed=0, folder=tmp_path / "out")
    qtbot.addWidget(dialog)
    assert dialog.run_radio.isChecked()  # a run with weights: the default source
    assert dialog.run_combo.currentText().startswith("first try — completed, 2 epochs")
    _choose(dialog, "code", "weights")
    report = dialog.export()
    assert report is not None and report.ok and set(report.results) == {"code", "weights"}
    assert "Run 'first try': best.pt" in dialog.status.text()
    saved = torch.load(tmp_path / "out" / "weights.pt", weights_only=True)
    best = torch.load(run / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in best.items())
    assert not (tmp_path / "out" / "model.onnx").exists()
    dialog.show()
    dialog.grab().save(str(tmp_path / "export_dialog_run.png"))


def test_a_format_that_cannot_be_produced_says_why(qtbot, tmp_path):
    graph = load(assets_dir() / "examples" / "digits_cnn.json")
    pool = next(n for n in graph.nodes() if n.label == "pool")
    before = next(e for e in graph.edges() if e.dst == pool.id)
    after = next(e for e in graph.edges() if e.src == pool.id)
    graph.remove_node(pool.id)
    adaptive = graph.add_node("nn.AdaptiveMaxPool2d", {"output_size": 3})
    graph.connect(before.src, before.src_port, adaptive, "x")
    graph.connect(adaptive, "out", after.dst, after.dst_port)
    project = compile_project(graph, title="adaptive")

    dialog = ExportDialog(lambda: project, [], seed=0, folder=tmp_path)
    qtbot.addWidget(dialog)
    _choose(dialog, "weights", "onnx")
    with qtbot.waitSignal(dialog.nodeRequested) as signal:
        report = dialog.export()
    assert signal.args == [adaptive]  # the window selects the node
    assert not report.ok and report.results["weights"].ok
    rows = _rows(dialog)
    assert rows["Weights"].startswith("✓ weights.pt")
    assert rows["ONNX"].startswith("✗ op aten.adaptive_max_pool2d not supported")
    assert "Exported 1 of 2 formats" in dialog.status.text()
    assert "show node" in dialog.results.toHtml()
    with qtbot.waitSignal(dialog.nodeRequested) as signal:
        dialog.results.anchorClicked.emit(QUrl(f"node:{adaptive}"))
    assert signal.args == [adaptive]
    assert (tmp_path / "weights.pt").is_file() and not (tmp_path / "model.onnx").exists()
    dialog.show()
    dialog.resize(760, 420)
    dialog.grab().save(str(tmp_path / "export_dialog_failed.png"))


def test_bad_choices_name_the_field(qtbot, tmp_path):
    compiled = []
    dialog = ExportDialog(lambda: compiled.append(1) or _project("linear_regression"), [], seed=0)
    qtbot.addWidget(dialog)
    assert dialog.export() is None and dialog.status.text().startswith("Folder:")
    dialog.folder_edit.setText(str(tmp_path / "out"))
    _choose(dialog)
    assert not dialog.export_button.isEnabled()
    assert dialog.export() is None and dialog.status.text().startswith("Formats:")
    _choose(dialog, "weights")
    dialog.file_radio.setChecked(True)
    assert dialog.export() is None and dialog.status.text().startswith("Weights file:")
    dialog.file_edit.setText(str(tmp_path / "missing.pt"))
    assert dialog.export() is None
    assert dialog.status.text().startswith("Weights:") and "no such file" in dialog.status.text()
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "other.pt")
    dialog.file_edit.setText(str(tmp_path / "other.pt"))
    assert dialog.export() is None
    assert "does not fit this model" in dialog.status.text()
    assert not dialog.results.isVisible() and not Path(tmp_path / "out").exists()
    # a file that fits
    torch.manual_seed(0)
    torch.save(_project("linear_regression").model.new().state_dict(), tmp_path / "ok.pt")
    dialog.file_edit.setText(str(tmp_path / "ok.pt"))
    report = dialog.export()
    assert report is not None and report.ok and report.weights == "ok.pt (a state_dict)"
