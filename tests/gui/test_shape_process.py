"""The Document and the shape process: edits travel as edits (the whole graph only when it must),
a copy out of step is rebuilt, a dead process is reported and restarted, the saved shapes show
before inference, and model.py is made only when someone wants it."""

from __future__ import annotations

import os
import signal

import pytest

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load
from torchcanvas.gui.project import Document, ShapeService

DIGITS = assets_dir() / "examples" / "digits_cnn.json"


@pytest.fixture
def sent(monkeypatch):
    """Every message the window sends the shape process, in order (still sent)."""
    service = ShapeService.instance()
    messages: list[tuple] = []
    real = service.send

    def spy(message: tuple) -> None:
        messages.append(message)
        real(message)

    monkeypatch.setattr(service, "send", spy)
    return messages


def syncs(messages: list[tuple], key: int) -> list[tuple]:
    return [m for m in messages if m[0] == "sync" and m[1] == key]


def test_edits_travel_as_edits_and_the_result_names_what_changed(qtbot, isolated, sent):
    doc = Document(load(DIGITS))
    try:
        assert doc.wait_for_shapes(with_code=False)
        first = syncs(sent, doc._key)
        assert [m[3] for m in first] == ["full"]  # opening sends the whole graph once
        conv2 = next(n.id for n in doc.graph.nodes() if n.label == "conv2")
        before = dict(doc.shapes.shapes)

        assert doc.set_param(conv2, "out_channels", 8)
        assert doc.wait_for_shapes(with_code=False)
        kind, ops = syncs(sent, doc._key)[-1][3:5]
        assert kind == "ops" and ops == [("param", conv2, "out_channels", 8)]
        result = doc.shapes
        assert result.shapes[(conv2, "out")] == ("B", 8, 8, 8)
        assert result.changed is not None and conv2 in result.changed
        differ = {nid for (nid, _), shape in result.shapes.items() if before[(nid, _)] != shape}
        assert differ <= result.changed
        assert len(result.changed) < len(doc.graph)  # the data source, conv1... are unchanged

        doc.undo_stack.undo()  # undo is an edit like any other
        assert doc.wait_for_shapes(with_code=False)
        assert syncs(sent, doc._key)[-1][3:5] == ("ops", [("param", conv2, "out_channels", 32)])
        assert doc.shapes.shapes == before

        doc.graph.restore(doc.graph.snapshot())  # a restore replaces everything
        assert doc.wait_for_shapes(with_code=False)
        assert syncs(sent, doc._key)[-1][3] == "full"
        assert doc.shapes.changed is None and doc.shapes.shapes == before
    finally:
        doc.close()


def test_a_finished_undo_step_goes_to_the_process_at_once(qtbot, isolated, sent):
    """No pass of the event loop (a repaint of the canvas) stands between an edit and its
    request: the step's request leaves when the step is complete, a macro's once at its end."""
    doc = Document(load(DIGITS))
    try:
        assert doc.wait_for_shapes(with_code=False)
        conv2 = next(n.id for n in doc.graph.nodes() if n.label == "conv2")
        count = len(syncs(sent, doc._key))

        assert doc.set_param(conv2, "out_channels", 8)  # no events processed after this
        assert len(syncs(sent, doc._key)) == count + 1
        assert syncs(sent, doc._key)[-1][3:5] == ("ops", [("param", conv2, "out_channels", 8)])

        doc.undo_stack.undo()
        assert len(syncs(sent, doc._key)) == count + 2
        doc.undo_stack.redo()
        assert len(syncs(sent, doc._key)) == count + 3

        with doc.macro("Two edits"):
            assert doc.set_param(conv2, "out_channels", 4)
            assert doc.set_param(conv2, "kernel_size", 5)
            assert len(syncs(sent, doc._key)) == count + 3  # the macro is not finished yet
        assert len(syncs(sent, doc._key)) == count + 4
        assert syncs(sent, doc._key)[-1][3:5] == (
            "ops",
            [("param", conv2, "out_channels", 4), ("param", conv2, "kernel_size", 5)],
        )
        assert doc.wait_for_shapes(with_code=False)
        assert doc.shapes.shapes[(conv2, "out")][1] == 4
    finally:
        doc.close()


def test_a_copy_out_of_step_is_rebuilt_from_the_whole_graph(qtbot, isolated, sent):
    doc = Document(load(DIGITS))
    try:
        assert doc.wait_for_shapes(with_code=False)
        expected = dict(doc.shapes.shapes)
        # the process's copy cannot apply this: it answers "resync", and the document sends
        # the whole graph again
        ShapeService.instance().send(
            ("sync", doc._key, doc._generation, "ops", [("remove", "no-such-node")], None)
        )
        qtbot.waitUntil(
            lambda: (
                [m[3] for m in syncs(sent, doc._key)][-1:] == ["full"]
                and len(syncs(sent, doc._key)) >= 3
            ),
            timeout=30_000,
        )
        assert doc.wait_for_shapes(with_code=False)
        assert doc.shapes.shapes == expected and doc.shapes.ok
    finally:
        doc.close()


def test_a_dead_shape_process_is_reported_and_restarted(qtbot, isolated):
    doc = Document(load(DIGITS))
    try:
        assert doc.wait_for_shapes(with_code=False)
        service = ShapeService.instance()
        process = service._process
        os.kill(process.pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: not doc.shapes.ok, timeout=30_000)
        message = doc.shapes.first_error().message
        assert "shape inference stopped" in message and str(-signal.SIGKILL) in message
        relu = next(n.id for n in doc.graph.nodes() if n.type_id == "nn.ReLU")
        doc.set_label(relu, "act")  # the next edit starts a new process with the whole graph
        assert doc.wait_for_shapes(with_code=False, timeout_ms=120_000)
        assert doc.shapes.ok and service._process is not process
    finally:
        doc.close()


def test_saved_shapes_show_before_inference_and_are_replaced(qtbot, isolated, tmp_path):
    path = tmp_path / "digits.json"
    doc = Document(load(DIGITS), path)
    try:
        assert doc.wait_for_shapes(with_code=False)
        inferred = doc.shapes
        fc = next(n.id for n in doc.graph.nodes() if n.type_id == "nn.Linear")
        doc.save()
    finally:
        doc.close()
    graph = load(path)
    assert graph.saved_results["shapes"] == inferred.shapes
    reopened = Document(graph, path)
    try:
        # at once, before any answer from the shape process
        assert reopened.shapes is not None and reopened.shapes.saved
        assert not reopened.shapes_ready
        assert reopened.shapes.shapes == inferred.shapes
        assert reopened.shapes.resolved[fc] == {"in_features": 512}
        assert reopened.shapes.param_counts == inferred.param_counts
        assert reopened.wait_for_shapes(with_code=False)
        assert not reopened.shapes.saved and reopened.shapes.changed is None
        assert reopened.shapes.shapes == inferred.shapes
    finally:
        reopened.close()


def test_model_code_is_made_only_when_wanted(qtbot, isolated, sent):
    doc = Document(load(DIGITS))
    try:
        assert doc.wait_for_shapes(with_code=False)
        qtbot.wait(200)
        assert doc.model_code is None
        assert not [m for m in sent if m[0] == "code" and m[1] == doc._key]
        with qtbot.waitSignal(doc.codeUpdated, timeout=30_000):
            doc.request_code()  # export, tests
        assert "class DigitsCnn" in doc.model_code.source or "class " in doc.model_code.source

        relu = next(n.id for n in doc.graph.nodes() if n.type_id == "nn.ReLU")
        doc.set_label(relu, "act")
        assert doc.wait_for_shapes(with_code=False)
        qtbot.wait(200)
        assert doc.model_code is None  # asked once, not for every edit
        doc.set_code_wanted(True)  # the Code view is shown
        qtbot.waitUntil(lambda: doc.model_code is not None, timeout=30_000)
        assert "self.act" in doc.model_code.source
        doc.set_label(relu, "act2")
        assert doc.wait_for_shapes(with_code=True)
        assert "self.act2" in doc.model_code.source
    finally:
        doc.close()


def test_code_view_wants_code_only_while_shown(qtbot, window, sent):
    doc = window.doc
    assert window.code_view.isVisible()
    qtbot.waitUntil(lambda: doc.model_code is not None, timeout=30_000)
    window.code_dock.hide()
    relu = next(n.id for n in doc.graph.nodes() if n.type_id == "nn.ReLU")
    asked = len([m for m in sent if m[0] == "code"])
    doc.set_label(relu, "act")
    assert doc.wait_for_shapes(with_code=False)
    qtbot.wait(200)
    assert doc.model_code is None and len([m for m in sent if m[0] == "code"]) == asked
    window.code_dock.show()
    qtbot.waitUntil(lambda: doc.model_code is not None, timeout=30_000)
    assert "self.act" in doc.model_code.source
    qtbot.waitUntil(lambda: "self.act" in window.code_view.editor.toPlainText(), timeout=10_000)
