"""The window loads projects through the same loader and the same checks as the command line:
a bad file is refused with the clean message (field path, escaped ids), the open project stays;
a model over the size limit is a problem on the canvas before anyone trains it."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QMessageBox

from torchcanvas.assets import assets_dir

MLP = assets_dir() / "examples" / "mlp_regression.json"


def _bad(tmp_path, text) -> object:
    body = text(MLP.read_text())
    path = tmp_path / "bad.json"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            lambda t: t.replace('"nodes": {', '"nodes": {"n3": {"type": "nn.Tanh"},', 1),
            "nodes.n3: the key 'n3' appears twice",
        ),
        (
            lambda t: t.replace('"out_features": 5', '"out_features": ' + "7" * 5000, 1),
            "nodes.n2.params.out_features: a number of 5,000 digits is too large",
        ),
        (
            lambda t: t.replace('"lr": 0.01', '"lr": 1e308', 1),
            "nodes.n6.params.lr: 1e+308 is too large; a 32-bit float",
        ),
        (
            lambda t: t.replace('"n1"', json.dumps("n\n\u202e" + "x" * 10_000)),
            "nodes.n\\n\\u202exxx",
        ),
    ],
    ids=["duplicate-key", "huge-int", "float32", "odd-id"],
)
def test_a_bad_file_shows_the_clean_message(window, tmp_path, text, expected):
    before = window.doc.graph
    path = _bad(tmp_path, text)
    assert not window.open_file(path)
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes, "no message shown"
    message = boxes[-1].text()
    assert expected in message and str(path) in message
    assert "Traceback" not in message and "\u202e" not in message and len(message) < 500
    assert window.doc.graph is before  # the project that was open stays open
    for box in boxes:
        box.close()


def test_a_model_over_the_size_limit_is_a_problem_on_the_canvas(window):
    doc = window.doc
    assert window.status_label.text().startswith("✓ valid")
    classifier = next(n.id for n in doc.graph.nodes() if n.label == "classifier")
    doc.set_setting("max_params", 5000)  # the classifier alone has 5,130
    assert window.wait_for_shapes()
    assert window.status_label.text().startswith("⚠ ")  # with the batches and the data
    rows = {r.node_id: r for r in window.problems.rows if r.severity == "error"}
    assert "5,130 parameters" in rows[classifier].message
    assert "size limit is 5,000" in rows[classifier].message
    doc.undo_stack.undo()
    assert window.wait_for_shapes()
    assert window.status_label.text().startswith("✓ valid")
    assert not [r for r in window.problems.rows if r.severity == "error"]
