"""Every node has its own label: adding from the palette or quick-add, pasting and
duplicating give free ones (relu3, relu4…); a file that holds a label twice opens with a
warning in Problems on both nodes; a label with a tab or line break is refused by name."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from PySide6.QtCore import QPoint, Qt

from torchcanvas.assets import assets_dir
from torchcanvas.graph.clipboard import copy_fragment

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


def _labels(window) -> list[str]:
    return [n.label for n in window.doc.graph.nodes()]


def _unique(window) -> bool:
    return not [label for label, k in Counter(_labels(window)).items() if k > 1]


def _added(window, before: set[str]) -> list[str]:
    return sorted(window.doc.graph.node(n).label for n in set(window.doc.graph.node_ids()) - before)


def test_palette_quick_add_paste_and_duplicate_give_new_labels(window, qtbot):
    graph = window.doc.graph
    assert {"relu1", "relu2"} <= set(_labels(window))  # the digits example
    before = set(graph.node_ids())
    # the palette: search "relu" and Enter, twice
    for _ in range(2):
        window.palette.search.clear()
        qtbot.keyClicks(window.palette.search, "ReLU")
        qtbot.keyClick(window.palette.search, Qt.Key.Key_Return)
    assert _added(window, before) == ["relu3", "relu4"]
    # quick-add at the cursor
    before = set(graph.node_ids())
    window._quick_add_at(window.view.mapToScene(QPoint(40, 40)), QPoint(40, 40))
    window.quick_add.chosen.emit("nn.ReLU")
    assert _added(window, before) == ["relu5"]
    # copy relu1 and paste it twice; duplicate relu2
    relu1 = next(n.id for n in graph.nodes() if n.label == "relu1")
    fragment = copy_fragment(graph, [relu1])
    before = set(graph.node_ids())
    window.paste(fragment, (40.0, 40.0))
    window.paste(fragment, (80.0, 80.0))
    assert _added(window, before) == ["relu6", "relu7"]
    relu2 = next(n.id for n in graph.nodes() if n.label == "relu2")
    window.scene.select_nodes([relu2])
    before = set(graph.node_ids())
    window.duplicate()
    assert _added(window, before) == ["relu8"]
    assert _unique(window)


def test_a_file_with_a_label_twice_opens_with_a_warning_on_both_nodes(window, qtbot, tmp_path):
    data = json.loads((assets_dir() / "examples" / "digits_cnn.json").read_text())
    data.pop("results", None)
    by_label = {raw["label"]: nid for nid, raw in data["nodes"].items()}
    data["nodes"][by_label["relu1"]]["label"] = "classifier"  # a ReLU beside the Linear
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(data))
    assert window.open_file(path)
    assert window.wait_for_shapes()
    relu, linear = by_label["relu1"], by_label["classifier"]
    assert window.doc.graph.node(relu).label == window.doc.graph.node(linear).label
    rows = {r.node_id: r for r in window.problems.rows if "own label" in r.message}
    assert set(rows) == {relu, linear}
    assert rows[relu].severity == rows[linear].severity == "warning"
    assert rows[relu].label == "classifier"
    assert "'classifier' is also the label of the Linear node" in rows[relu].message
    assert "'classifier' is also the label of the ReLU node" in rows[linear].message
    # shown in the dock, one row each, and a click on one selects its node
    texts = [
        window.problems.item(i).text(1) for i in range(window.problems.tree.topLevelItemCount())
    ]
    assert sum("own label" in t for t in texts) == 2
    # renaming one clears both warnings
    assert window.doc.set_label(relu, "act1")
    assert window.wait_for_shapes()
    assert not [r for r in window.problems.rows if "own label" in r.message]


@pytest.mark.parametrize("bad", ["re\tlu", "re\nlu"])
def test_a_label_with_a_tab_or_line_break_is_refused_naming_the_field(window, bad):
    relu1 = next(n.id for n in window.doc.graph.nodes() if n.label == "relu1")
    window.scene.select_nodes([relu1])
    insp = window.inspector
    insp.show_nodes([relu1])
    insp.label_edit.setText(bad)  # as pasted into the field
    insp.label_edit.editingFinished.emit()
    assert window.doc.graph.node(relu1).label == "relu1"
    assert insp.label_error.text().startswith("label: ")
    assert "tabs, line breaks" in insp.label_error.text()
    assert not insp.label_error.isHidden() and insp.label_edit.text() == "relu1"
