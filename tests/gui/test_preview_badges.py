"""The batch preview's badges on the canvas are of the graph as it was previewed: an edit that
changes the graph fades them and says so (on the badges and in the panel) until the next
preview; a batch that was asked for before an edit arrives stale."""

from __future__ import annotations

from torchcanvas.gui.commands import SetParam
from torchcanvas.gui.insight.batch_preview import STALE_NOTE, STALE_OPACITY, badges
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.preview import preview_batch


def test_badges_go_stale_after_an_edit_until_the_next_preview(qtbot, window):
    doc = window.doc
    panel = window.preview_panel()
    result = preview_batch(compile_project(doc.graph))
    panel._succeeded(result, None)  # as the preview thread delivers it
    shown = badges(window.scene)
    assert len(shown) == len(result.nodes)
    assert not any(b.stale for b in shown) and all(b.opacity() == 1.0 for b in shown)
    assert not panel.stale and STALE_NOTE not in panel.status.text()

    conv1 = next(n.id for n in doc.graph.nodes() if n.label == "conv1")
    assert doc.push(SetParam(doc.graph, conv1, "out_channels", 12))
    assert all(b.stale for b in shown)
    assert all(b.opacity() == STALE_OPACITY for b in shown)
    assert all(b.text().startswith("stale · ") for b in shown)
    assert "Preview a Batch (F7) again" in shown[0].toolTip()
    assert panel.stale and panel.status.text().endswith(STALE_NOTE)
    doc.undo_stack.undo()  # undo is an edit too: still stale, marked once
    assert all(b.text().count("stale") == 1 for b in shown)

    # the next preview: fresh badges
    result = preview_batch(compile_project(doc.graph))
    panel._edited_since_asked = False  # asked now, after the edits
    panel._succeeded(result, None)
    fresh = badges(window.scene)
    assert len(fresh) == len(result.nodes) and not any(b.stale for b in fresh)
    assert not panel.stale


def test_a_batch_asked_before_an_edit_arrives_stale(qtbot, window):
    doc = window.doc
    panel = window.preview_batch()
    assert panel is not None and panel.running
    conv1 = next(n.id for n in doc.graph.nodes() if n.label == "conv1")
    assert doc.push(SetParam(doc.graph, conv1, "out_channels", 12))
    qtbot.waitUntil(lambda: panel.result is not None and not panel.running, timeout=240_000)
    assert panel.stale and STALE_NOTE in panel.status.text()
    shown = badges(window.scene)
    assert shown and all(b.stale for b in shown)
    doc.undo_stack.undo()
