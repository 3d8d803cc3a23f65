"""A pretrained backbone on the canvas: the frozen badge and count on the node, the trainable /
frozen split in the inspector, stage names and hub-cache weights offered as choices."""

from __future__ import annotations

import pytest

from torchcanvas.graph import load
from torchcanvas.gui.panels.inspector import InspectorWidget
from torchcanvas.gui.project import Document
from torchcanvas.runtime.data import assets_dir

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

EXAMPLE = assets_dir() / "examples" / "transfer_learning.json"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A torch hub cache holding a ResNet-18 weights file (by torchvision's name) and others."""
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    for name in ("resnet18-f37072fd.pth", "vgg16-397923af.pth", "notes.pth"):
        (folder / name).write_bytes(b"x")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return folder


@pytest.fixture
def transfer(qtbot, isolated, hub):
    document = Document(load(EXAMPLE))
    assert document.wait_for_shapes()
    yield document
    document.close()


def backbone_id(doc: Document) -> str:
    return next(n.id for n in doc.graph.nodes() if n.type_id == "tv.Backbone")


def test_inspector_shows_split_stages_and_hub_weights(qtbot, transfer, hub):
    insp = InspectorWidget(transfer)
    qtbot.addWidget(insp)
    insp.resize(360, 700)
    insp.show()
    nid = backbone_id(transfer)
    insp.show_nodes([nid])
    info = insp._header_info.text()
    assert "[B, 512]" in info
    assert "11,176,512 params: 0 trainable, ❄ 11,176,512 frozen" in info

    freeze = insp.row("freeze").combo
    stages = [freeze.itemText(i) for i in range(freeze.count())]
    assert stages == ["none", "all", "stem", "layer1", "layer2", "layer3", "layer4"]
    freeze.setCurrentIndex(stages.index("layer2"))
    freeze.activated.emit(stages.index("layer2"))
    assert transfer.graph.node(nid).params["freeze"] == "layer2"
    assert transfer.wait_for_shapes()
    info = insp._header_info.text()
    assert "11,176,512 params: 10,493,440 trainable, ❄ 683,072 frozen" in info

    weights = insp.row("weights").combo
    offered = [weights.itemText(i) for i in range(weights.count())]
    assert offered == ["", str(hub / "resnet18-f37072fd.pth")]
    weights.setCurrentIndex(1)
    weights.activated.emit(1)
    assert transfer.graph.node(nid).params["weights"] == str(hub / "resnet18-f37072fd.pth")

    assert transfer.set_param(nid, "arch", "vgg16")  # the page is rebuilt for its stages
    freeze = insp.row("freeze").combo
    assert [freeze.itemText(i) for i in range(freeze.count())][2:4] == ["block1", "block2"]
    weights = insp.row("weights").combo
    assert weights.itemText(1) == str(hub / "vgg16-397923af.pth")
    insp.grab().save("/tmp/bb/inspector.png")


def test_node_shows_frozen_badge(qtbot, isolated, hub):
    from torchcanvas.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    assert win.open_example(EXAMPLE)
    assert win.wait_for_shapes()
    item = win.scene.nodes[backbone_id(win.doc)]
    assert item.params_text == "❄ frozen: 11.2M params"
    assert win.doc.set_param(item.node_id, "freeze", "layer2")
    assert win.wait_for_shapes()
    assert item.params_text == "❄ frozen: 683k of 11.2M"
    head = next(n.id for n in win.doc.graph.nodes() if n.label == "head")
    assert win.scene.nodes[head].params_text == "1,539 params"
    win.grab().save("/tmp/bb/window.png")
    win.doc.undo_stack.setClean()
    win.close()
