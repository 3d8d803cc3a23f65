"""File → Import PyTorch model…: the dialog, errors shown in it, and the imported canvas."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from torchcanvas.assets import assets_dir

SHOTS = Path("/tmp/import_shots")

BRANCHY = """from torch import nn


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x
"""


@pytest.fixture
def dialog(qtbot):
    from torchcanvas.gui.dialogs.import_dialog import ImportDialog

    d = ImportDialog()
    qtbot.addWidget(d)
    return d


def test_dialog_checks_its_inputs(dialog):
    dialog.tabs.setCurrentIndex(1)
    assert not dialog.do_import()
    assert dialog.error.text() == "Choose the Python file."
    dialog.tabs.setCurrentIndex(0)
    dialog.input_shape.setText("3, x, y")
    assert not dialog.do_import()
    assert "Input shape" in dialog.error.text()
    dialog.input_shape.setText("3, 64, 64")
    dialog.args.setText("[1, 2]")
    assert not dialog.do_import()
    assert "JSON object" in dialog.error.text()
    dialog.args.setText("")
    dialog.tabs.setCurrentIndex(2)
    dialog.module_spec.setText("torchvision.models")
    assert not dialog.do_import()
    assert "colon" in dialog.error.text()
    assert dialog.result_value is None


def test_trace_failure_is_shown_with_the_line(dialog, tmp_path):
    path = tmp_path / "branchy.py"
    path.write_text(BRANCHY)
    dialog.tabs.setCurrentIndex(1)
    dialog.file_path.setText(str(path))
    dialog.class_name.setText("Branchy")
    dialog.input_shape.setText("4")
    assert not dialog.do_import()
    assert not dialog.error.isHidden()
    assert f"{path}:10" in dialog.error.text() and "if x.sum() > 0:" in dialog.error.text()
    assert dialog.result() != QDialog.DialogCode.Accepted  # stays open to try again


def test_import_resnet18_opens_a_new_laid_out_project(window, qtbot, monkeypatch):
    from torchcanvas.gui.dialogs.import_dialog import ImportDialog

    def run(self):
        self.tv_name.setCurrentText("resnet18")
        assert self.do_import()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ImportDialog, "exec", run)
    assert window.import_model()
    graph = window.doc.graph
    assert window.doc.path is None  # new and unsaved
    assert "resnet18 (imported)" in window.windowTitle()
    assert sum(n.type_id == "nn.Conv2d" for n in graph.nodes()) == 20
    assert len(window.scene.nodes) == len(graph)
    assert window.wait_for_shapes()
    fc = next(n.id for n in graph.nodes() if n.label == "fc")
    assert window.doc.shapes.shapes[(fc, "out")] == ("B", 1000)
    assert not window.doc.shapes.problems, window.doc.shapes.problems
    # a renamed, deleted and restored node still knows where its weights come from
    conv = next(n.id for n in graph.nodes() if n.label == "layer1.0.conv1")
    assert window.doc.set_label(conv, "first conv")
    assert window.doc.remove([conv])
    window.doc.undo_stack.undo()
    assert graph.node(conv).label == "first conv"
    assert graph.node(conv).origin == "layer1.0.conv1"
    # the start of the network is shown at full size (the whole of it would be unreadable)
    qtbot.wait(50)
    assert window.view.transform().m11() == 1.0
    first = window.scene.nodes[graph.topological_order()[0]].sceneBoundingRect()
    assert window.view.mapToScene(window.view.viewport().rect()).boundingRect().contains(first)
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SHOTS / "resnet18.png"))
    window.view.fit_all()
    window.grab().save(str(SHOTS / "resnet18_whole.png"))


def test_code_nodes_are_marked_on_the_canvas(window, monkeypatch):
    from torchcanvas.gui.dialogs.import_dialog import ImportDialog

    def run(self):
        self.tv_name.setCurrentText("efficientnet_b0")
        assert self.do_import()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ImportDialog, "exec", run)
    assert window.import_model()
    code = [n for n in window.doc.graph.nodes() if n.kind == "code"]
    assert code
    item = window.scene.nodes[code[0].id]
    window.scene.select_nodes([code[0].id])
    # the inspector shows the code read-only, with the import it needs
    text = window.inspector.code_view.toPlainText()
    assert text.startswith("from torchvision.ops.stochastic_depth import StochasticDepth")
    assert "StochasticDepth(p=" in text and window.inspector.code_view.isReadOnly()
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.view.resetTransform()
    window.view.centerOn(item)
    window.grab().save(str(SHOTS / "efficientnet_code.png"))
    assert window.wait_for_shapes()
    assert not [p for p in window.doc.shapes.problems if p.severity == "error"]


def test_opening_a_project_with_code_nodes_says_their_code_runs_on_training(window, tmp_path):
    from torchcanvas.graph import save
    from torchcanvas.runtime.importer import import_model

    path = tmp_path / "imported.json"
    save(import_model("efficientnet_b0", verify=False).graph, path)
    assert window.open_file(path)
    text = window.message_label.text()
    assert "code node" in text and "runs when you train or export" in text
    assert window.open_example(assets_dir() / "examples" / "digits_cnn.json")
    assert "code node" not in window.message_label.text()
