"""The Export dialog on the bundled examples: style_transfer (VGG features, Gram matrices) exports
every format, TorchScript scripted; a model that cannot be built says so and shows its node."""

from __future__ import annotations

import pytest

from torchcanvas.graph import load
from torchcanvas.gui.dialogs.export_dialog import ExportDialog
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import FORMATS

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")
EXAMPLES = assets_dir() / "examples"


def test_style_transfer_exports_every_format_from_the_dialog(qtbot, tmp_path):
    path = EXAMPLES / "style_transfer.json"
    project = compile_project(load(path), path.parent, title="style_transfer")
    dialog = ExportDialog(lambda: project, [], seed=0, folder=tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.formats() == list(FORMATS)
    report = dialog.export()
    assert report is not None and report.ok, {r.format: r.error for r in report.failed()}
    rows = dict(dialog.rows)
    assert all(text.startswith("✓") for text in rows.values()), rows
    assert "(scripted)" in rows["TorchScript"]
    assert "outputs match the model" in rows["ONNX"]
    assert "Exported 5 of 5 formats" in dialog.status.text()


def test_a_model_that_cannot_be_built_names_its_node(qtbot, tmp_path):
    graph = load(EXAMPLES / "mlp_regression.json")
    relu = next(n.id for n in graph.nodes() if n.label == "relu")
    before = next(e for e in graph.edges() if e.dst == relu)
    after = next(e for e in graph.edges() if e.src == relu)
    graph.remove_node(relu)
    code = graph.add_node("code.Module", {"init": "nn.Linear(5, -5)", "shape": [5]}, label="broken")
    graph.connect(before.src, before.src_port, code, "x")
    graph.connect(code, "out", after.dst, after.dst_port)
    project = compile_project(graph, title="broken")  # its code runs only when built
    dialog = ExportDialog(lambda: project, [], seed=0, folder=tmp_path)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.nodeRequested) as signal:
        assert dialog.export() is None
    assert signal.args == [code]
    text = dialog.status.text()
    assert text.startswith("Export: the model cannot be built: RuntimeError:")
    assert "negative dimension" in text and "Traceback" not in text
