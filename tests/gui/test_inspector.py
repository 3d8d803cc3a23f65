"""The inspector: editors built from param specs, undoable edits, refusals, auto params,
multi-selection, training settings, and following the document underneath."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from torchcanvas.graph import load
from torchcanvas.graph.catalogue import get_spec
from torchcanvas.graph.spec import ParamSpec
from torchcanvas.gui.panels.inspector import InspectorWidget
from torchcanvas.gui.panels.param_row import compact_range, format_value, parse_text, path_is_file
from torchcanvas.gui.project import Document
from torchcanvas.runtime.data import assets_dir

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

# digits_cnn.json: n1 digits, n2 conv1, n3 relu1, n4 conv2, n5 relu2, n6 pool, n7 flatten,
# n8 classifier (Linear, in_features auto = 512), n9 loss1, n10 Adam, n11 StepLR


@pytest.fixture
def insp(qtbot, doc):
    widget = InspectorWidget(doc)
    qtbot.addWidget(widget)
    widget.resize(340, 640)
    widget.show()
    return widget


def type_into(qtbot, line: QLineEdit, text: str) -> None:
    """Replace the field's text as a user would, then press Enter."""
    line.setFocus()
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def params(doc: Document, node_id: str) -> dict:
    return dict(doc.graph.node(node_id).params)


# ---------------------------------------------------------------------- one node
def test_spin_box_edit_is_one_undo_step(qtbot, doc, insp):
    insp.show_nodes(["n2"])
    assert insp.mode == "node"
    spin = insp.row("out_channels").spin
    assert spin is not None and spin.value() == 16
    assert spin.minimum() == 1
    type_into(qtbot, spin.lineEdit(), "32")
    assert params(doc, "n2")["out_channels"] == 32
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert params(doc, "n2")["out_channels"] == 16
    assert spin.value() == 16  # the field follows the undo


@pytest.mark.parametrize(
    ("node", "name", "typed", "old"),
    [
        ("n2", "out_channels", "-3", 16),
        ("n8", "out_features", "-3", 10),
        ("n8", "out_features", "0", 10),
    ],
)
def test_spin_box_refuses_out_of_range_input_out_loud(qtbot, doc, insp, node, name, typed, old):
    insp.show_nodes([node])
    row = insp.row(name)
    type_into(qtbot, row.spin.lineEdit(), typed)
    assert params(doc, node)[name] == old and row.spin.value() == old  # the old value kept
    assert row.error == f"{name}: {typed} is out of range; must be ≥ 1"
    assert doc.undo_stack.count() == 0
    type_into(qtbot, row.spin.lineEdit(), "7")  # a good value goes in and the refusal goes
    assert params(doc, node)[name] == 7 and row.error == ""


def test_settings_spin_box_refuses_a_zero_batch_size(qtbot, doc, insp):
    insp.show_nodes([])
    row = insp.row("batch_size")
    old = doc.graph.settings["batch_size"]
    type_into(qtbot, row.spin.lineEdit(), "0")
    assert doc.graph.settings["batch_size"] == old and row.spin.value() == old
    assert row.error.startswith("batch_size: 0 is out of range; must be ≥ 1")


def test_float_field_takes_scientific_notation(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    line = insp.row("lr").line
    assert line.text() == "0.001"
    type_into(qtbot, line, "1e-7")
    assert params(doc, "n10")["lr"] == 1e-07
    assert line.text() == "1e-07"
    assert insp.row("lr").error == ""
    assert insp.row("eps").line.text() == "1e-08"


@pytest.mark.parametrize("typed", ["-1", "0", "1e-", "abc"])
def test_invalid_value_is_refused_with_a_message(qtbot, doc, insp, typed):
    insp.show_nodes(["n10"])
    before = params(doc, "n10")
    row = insp.row("lr")
    type_into(qtbot, row.line, typed)
    assert params(doc, "n10") == before
    assert doc.undo_stack.count() == 0
    assert row.error.startswith("lr:")
    assert "> 0" in row.error  # the allowed range is named
    assert row.line.text() == "0.001"  # back to the current value
    assert not row.error_label.isHidden()
    # a good value afterwards clears the message
    type_into(qtbot, row.line, "0.01")
    assert params(doc, "n10")["lr"] == 0.01
    assert row.error == ""


def test_list_and_size_fields(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    betas = insp.row("betas").line
    assert betas.text() == "0.9, 0.999"
    type_into(qtbot, betas, "0.8, 0.99")
    assert params(doc, "n10")["betas"] == [0.8, 0.99]
    type_into(qtbot, betas, "0.8")  # Adam wants exactly two
    assert params(doc, "n10")["betas"] == [0.8, 0.99]
    assert "betas" in insp.row("betas").error and "2" in insp.row("betas").error

    insp.show_nodes(["n2"])
    kernel = insp.row("kernel_size").line
    type_into(qtbot, kernel, "3, 5")
    assert params(doc, "n2")["kernel_size"] == [3, 5]
    assert kernel.text() == "3, 5"
    type_into(qtbot, kernel, "5")
    assert params(doc, "n2")["kernel_size"] == 5


def test_optional_param_empty_means_none(qtbot, doc, insp):
    insp.show_nodes(["n6"])  # MaxPool2d, stride None = kernel_size
    row = insp.row("stride")
    assert row.line.text() == "" and row.line.placeholderText() == "none"
    type_into(qtbot, row.line, "2")
    assert params(doc, "n6")["stride"] == 2
    type_into(qtbot, row.line, "")
    assert params(doc, "n6")["stride"] is None


def test_auto_param_shows_inferred_value_and_unchecking_makes_it_concrete(qtbot, doc, insp):
    assert doc.wait_for_shapes()
    insp.show_nodes(["n8"])
    row = insp.row("in_features")
    assert row.auto_box.isChecked()
    assert row.editor.isHidden() and not row.auto_display.isHidden()
    assert row.auto_display.isReadOnly()
    assert row.auto_display.text() == "auto (512)"
    row.auto_box.click()
    assert params(doc, "n8")["in_features"] == 512
    assert not row.auto_box.isChecked()
    assert not row.editor.isHidden() and row.spin.value() == 512
    row.auto_box.click()  # back to auto
    assert params(doc, "n8")["in_features"] == "auto"
    assert row.auto_display.text() == "auto (512)"
    doc.undo_stack.undo()
    assert params(doc, "n8")["in_features"] == 512 and row.spin.value() == 512


def test_auto_value_follows_new_shapes(qtbot, doc, insp):
    assert doc.wait_for_shapes()
    insp.show_nodes(["n8"])
    doc.set_param("n4", "out_channels", 8)  # 8 channels * 4 * 4 = 128 features
    assert doc.wait_for_shapes()
    assert insp.row("in_features").auto_display.text() == "auto (128)"
    assert "[B, 10]" in insp._header_info.text()


def test_choice_combo_sets_padding_mode(qtbot, doc, insp):
    insp.show_nodes(["n2"])
    combo = insp.row("padding_mode").combo
    assert combo.currentText() == "zeros"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert params(doc, "n2")["padding_mode"] == "reflect"
    doc.undo_stack.undo()
    assert combo.currentText() == "zeros"


def test_bool_checkbox(qtbot, doc, insp):
    insp.show_nodes(["n2"])
    check = insp.row("bias").check
    assert check.isChecked()
    check.click()
    assert params(doc, "n2")["bias"] is False
    doc.undo_stack.undo()
    assert check.isChecked()


def test_label_rename_and_refusal(qtbot, doc, insp):
    insp.show_nodes(["n2"])
    type_into(qtbot, insp.label_edit, "stem")
    assert doc.graph.node("n2").label == "stem"
    assert insp._header_title.text() == "stem"
    type_into(qtbot, insp.label_edit, "   ")
    assert doc.graph.node("n2").label == "stem"
    assert insp.label_edit.text() == "stem"
    assert "label" in insp.label_error.text() and not insp.label_error.isHidden()
    doc.undo_stack.undo()
    assert insp.label_edit.text() == "conv1"


def test_a_label_another_node_has_is_refused(qtbot, doc, insp):
    insp.show_nodes(["n3"])  # relu1, beside the Linear "classifier"
    type_into(qtbot, insp.label_edit, "classifier")
    assert doc.graph.node("n3").label == "relu1" and insp.label_edit.text() == "relu1"
    assert insp.label_error.text() == (
        "label: 'classifier' is already the label of another "
        "node (Linear); each node needs its own label"
    )
    assert not insp.label_error.isHidden() and doc.undo_stack.count() == 0
    type_into(qtbot, insp.label_edit, "act1")  # a free one goes in; the refusal goes
    assert doc.graph.node("n3").label == "act1" and insp.label_error.isHidden()


def test_header_shows_type_help_shape_and_params(qtbot, doc, insp):
    assert doc.wait_for_shapes()
    insp.show_nodes(["n2"])
    texts = [w.text() for w in insp.findChildren(type(insp._header_title))]
    assert "conv1" in texts
    assert any("Conv2d · nn.Conv2d" in t for t in texts)
    assert any("convolution" in t for t in texts)  # the spec's help
    info = insp._header_info.text()
    assert "[B, 16, 8, 8]" in info and "160 params" in info
    assert "filter" in insp.row("out_channels").editor.toolTip()  # help as tooltip
    assert insp.row("out_channels").range_label.text() == "≥ 1"


# ---------------------------------------------------------------------- several nodes
def test_multi_select_same_type_edits_all_in_one_undo_step(qtbot, doc, insp):
    insp.show_nodes(["n3", "n5"])
    assert insp.mode == "nodes"
    assert insp._header_title.text() == "2 nodes selected"
    check = insp.row("inplace").check
    check.click()
    assert params(doc, "n3")["inplace"] is True and params(doc, "n5")["inplace"] is True
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert params(doc, "n3")["inplace"] is False and params(doc, "n5")["inplace"] is False
    assert not check.isChecked()


def test_multi_select_shows_mixed_values(qtbot, doc, insp):
    insp.show_nodes(["n2", "n4"])  # out_channels 16 and 32
    assert insp.row("out_channels").name_label.font().italic()
    assert not insp.row("kernel_size").name_label.font().italic()
    type_into(qtbot, insp.row("kernel_size").line, "5")
    assert params(doc, "n2")["kernel_size"] == 5 and params(doc, "n4")["kernel_size"] == 5
    assert doc.undo_stack.count() == 1


def test_multi_select_of_different_types_shows_summary_only(qtbot, doc, insp):
    insp.show_nodes(["n2", "n3", "n10"])
    assert insp._header_title.text() == "3 nodes selected"
    assert insp.rows == {}


# ---------------------------------------------------------------------- settings
def test_settings_view_edits_epochs_through_the_document(qtbot, doc, insp):
    insp.show_nodes([])
    assert insp.mode == "settings"
    assert set(insp.rows) == {
        "epochs",
        "batch_size",
        "seed",
        "device",
        "val_split",
        "model_name",
        "log_every",
        "num_workers",
        "precision",
        "compile",
        "compile_mode",
        "channels_last",
        "pin_memory",
        "cudnn_benchmark",
        "max_params",
        "tensorboard",
    }
    spin = insp.row("epochs").spin
    assert spin.value() == 15
    type_into(qtbot, spin.lineEdit(), "3")
    assert doc.graph.settings["epochs"] == 3
    doc.undo_stack.undo()
    assert doc.graph.settings["epochs"] == 15 and spin.value() == 15


def test_settings_device_combo_and_refusals(qtbot, doc, insp):
    insp.show_nodes([])
    device = insp.row("device")
    items = [device.combo.itemText(i) for i in range(device.combo.count())]
    assert items == ["auto", "cpu", "cuda", "cuda:0", "mps"]
    type_into(qtbot, device.line, "cuda:1")
    assert doc.graph.settings["device"] == "cuda:1"
    type_into(qtbot, device.line, "gpu")
    assert doc.graph.settings["device"] == "cuda:1"
    assert device.error.startswith("device:") and device.line.text() == "cuda:1"
    name = insp.row("model_name")
    type_into(qtbot, name.line, "not a class")
    assert doc.graph.settings["model_name"] == "DigitsCNN"
    assert "model_name" in name.error
    seed = insp.row("seed")  # beyond a 32-bit spin box: a text field
    type_into(qtbot, seed.line, "4000000000")
    assert doc.graph.settings["seed"] == 4_000_000_000
    type_into(qtbot, insp.row("val_split").line, "0.95")
    assert doc.graph.settings["val_split"] == 0.2
    assert "0.9" in insp.row("val_split").error


# ---------------------------------------------------------------------- following the document
def test_undo_and_outside_edits_refresh_in_place(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    row = insp.row("lr")
    doc.set_param("n10", "lr", 0.01)
    assert row.line.text() == "0.01"
    doc.undo_stack.undo()
    assert row.line.text() == "0.001"
    assert insp.row("lr") is row  # refreshed, not rebuilt


def test_refresh_keeps_text_being_typed_in_another_field(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    eps = insp.row("eps").line
    eps.setFocus()
    eps.setText("1e-6")  # typed, not yet applied
    doc.set_param("n10", "lr", 0.01)
    assert eps.text() == "1e-6"
    assert insp.row("lr").line.text() == "0.01"


def test_switching_nodes_applies_the_pending_edit(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    line = insp.row("lr").line
    line.setFocus()
    line.setText("0.5")
    insp.show_nodes(["n2"])
    assert params(doc, "n10")["lr"] == 0.5


def test_removed_node_falls_back_to_settings(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    doc.remove(["n10"])
    assert insp.mode == "settings"
    insp.show_nodes(["n3", "n5"])
    doc.remove(["n3"])
    assert insp.mode == "node" and insp.node_ids == ["n5"]


def test_graph_reset_rebuilds_for_the_new_graph(qtbot, doc, insp):
    from torchcanvas.graph.serialize import to_dict

    insp.show_nodes(["n2"])
    data = to_dict(doc.graph)
    data["nodes"]["n2"]["params"]["out_channels"] = 7
    doc.graph.restore(data)
    assert insp.row("out_channels").spin.value() == 7


def test_set_document_switches(qtbot, doc, insp, monkeypatch, tmp_path):
    other = Document(load(assets_dir() / "examples" / "iris_mlp.json"))
    try:
        insp.show_nodes(["n2"])
        insp.set_document(other)
        assert insp.mode == "settings" and insp.doc is other
        doc.set_param("n2", "out_channels", 3)  # the old document no longer reaches it
        insp.show_nodes([])
        assert insp.row("model_name").line.text() == other.graph.settings["model_name"]
    finally:
        other.close()


def test_path_button_opens_a_file_dialog_for_csv_and_a_folder_dialog_otherwise(
    qtbot, doc, insp, monkeypatch, tmp_path
):
    calls = []
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileName",
        staticmethod(lambda *a, **k: (calls.append("file"), (str(tmp_path / "t.csv"), ""))[1]),
    )
    monkeypatch.setattr(
        QFileDialog,
        "getExistingDirectory",
        staticmethod(lambda *a, **k: (calls.append("folder"), str(tmp_path / "imgs"))[1]),
    )
    csv = doc.add_node("data.CSV", (0, 400))
    insp.show_nodes([csv])
    insp.row("path").browse.click()
    assert calls == ["file"]
    assert params(doc, csv)["path"] == (tmp_path / "t.csv").as_posix()
    folder = doc.add_node("data.ImageFolder", (0, 600))
    insp.show_nodes([folder])
    insp.row("path").browse.click()
    assert calls == ["file", "folder"]
    assert params(doc, folder)["path"] == (tmp_path / "imgs").as_posix()


# ---------------------------------------------------------------------- text helpers
def test_format_and_parse_round_trip():
    lr = get_spec("optim.Adam").param("lr")
    assert format_value(lr, 0.001) == "0.001" and format_value(lr, 1e-7) == "1e-07"
    assert parse_text(lr, " 1E-7 ") == 1e-07
    with pytest.raises(ValueError, match="number"):
        parse_text(lr, "1e-")
    size = get_spec("nn.Conv2d").param("kernel_size")
    assert parse_text(size, "3") == 3 and parse_text(size, "3, 5") == [3, 5]
    assert parse_text(size, "[3]") == [3] and parse_text(size, "(3 5)") == [3, 5]
    strs = ParamSpec("cols", "strs", [])
    assert parse_text(strs, "a, b c ,") == ["a", "b c"] and parse_text(strs, "") == []
    assert format_value(strs, ["a", "b"]) == "a, b"
    assert parse_text(ParamSpec("n", "int", 1, optional=True), "") is None


def test_compact_range_and_path_kind():
    assert compact_range(get_spec("optim.Adam").param("lr")) == "> 0"
    assert compact_range(ParamSpec("x", "float", 0.5, minimum=0.0, maximum=0.9)) == "0 – 0.9"
    assert compact_range(ParamSpec("x", "int", 1, minimum=1, maximum=100_000)) == "1 – 100k"
    assert compact_range(ParamSpec("x", "int", 0, minimum=0, maximum=2**32 - 1)) == "0 – 2³²−1"
    assert (
        compact_range(ParamSpec("x", "float", 0.5, minimum=0.0, maximum=1.0, min_exclusive=True))
        == "0 < x ≤ 1"
    )
    assert path_is_file("data.CSV", get_spec("data.CSV").param("path"))
    for type_id in ("data.ImageFolder", "data.MNIST"):
        assert not path_is_file(type_id, get_spec(type_id).param("path"))


def test_every_catalogue_spec_builds(qtbot, doc, insp):
    """Every node type's editors build and show its defaults without error."""
    from torchcanvas.graph.catalogue import CATALOGUE

    for type_id, spec in sorted(CATALOGUE.items()):
        if spec.extra.get("internal"):
            continue
        nid = doc.add_node(type_id, (0, 900))
        insp.show_nodes([nid])
        assert set(insp.rows) == {p.name for p in spec.params}, type_id
        for p in spec.params:
            if p.type not in ("bool", "choice") and p.default not in (None, "auto"):
                row = insp.row(p.name)
                shown = row.spin.value() if row.spin else row.line.text()
                assert shown in (p.default, format_value(p, p.default)), (type_id, p.name)


def test_letters_in_a_number_field_are_refused_with_a_hint(qtbot, doc, insp):
    insp.show_nodes(["n10"])
    row = insp.row("lr")
    row.line.setFocus()
    row.line.end(False)
    qtbot.keyClicks(row.line, "abc")
    assert row.line.text() == "0.001"  # the keys did not get in
    assert row.error.startswith("lr:") and "number" in row.error
    assert params(doc, "n10")["lr"] == 0.001


def test_placeholder_node_is_shown_read_only(qtbot, doc, insp):
    doc.graph.add_placeholder(
        "x1", "future.Thing", "thing", {"alpha": 3}, (0.0, 0.0), {"in": {"x"}, "out": {"out"}}
    )
    insp.show_nodes(["x1"])
    assert insp.mode == "placeholder" and insp.rows == {}
    shown = [w for w in insp.findChildren(QLineEdit) if w.isReadOnly()]
    assert [w.text() for w in shown] == ["3"]
    type_into(qtbot, insp.label_edit, "renamed")
    assert doc.graph.node("x1").label == "renamed"


def test_auto_tooltips_say_where_the_value_comes_from():
    from torchcanvas.graph.catalogue import CATALOGUE
    from torchcanvas.gui.panels.param_row import _tooltip

    linear = CATALOGUE["nn.Linear"]
    assert "auto: filled in from the data" in _tooltip(linear.param("out_features"))
    assert "auto: filled in from the input shape" in _tooltip(linear.param("in_features"))
    assert "default: 10" in _tooltip(linear.param("out_features"))  # auto is opt-in there
