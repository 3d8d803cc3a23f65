"""The Try it tab: generating text and classifying a sentence with a trained run, in the real
window, and the messages it gives when there is nothing to try yet."""

from __future__ import annotations

import os
from pathlib import Path

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load
from torchcanvas.gui.training.tryit import NO_RUN, NOT_TEXT
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.trainer import RunFinished, Trainer, TrainOptions

EXAMPLES = assets_dir() / "examples"


def trained_run(name: str, folder: str, steps: int) -> Path:
    """A run folder like the window's: project.json plus the trainer's files."""
    run = Path(os.environ["TORCHCANVAS_RUNS_DIR"]) / folder
    graph = load(EXAMPLES / f"{name}.json")
    graph.set_setting("device", "cpu")
    events = Trainer(compile_project(graph), TrainOptions(out_dir=run, max_steps=steps)).run()
    assert isinstance(events[-1], RunFinished)
    (run / "project.json").write_text((EXAMPLES / f"{name}.json").read_text())
    return run


def open_example(win, name: str) -> None:
    assert win.open_example(EXAMPLES / f"{name}.json")
    assert win.wait_for_shapes()


def test_not_a_text_project(window):
    panel = window.try_it
    assert window.training_tabs.indexOf(panel) >= 0
    assert panel.task is None
    assert panel.pages.currentWidget() is panel.message and panel.message.text() == NOT_TEXT
    assert not panel.generate() and not panel.predict()


def test_classify_a_sentence_with_the_latest_run(qtbot, window):
    open_example(window, "sentiment_cnn")
    panel = window.try_it
    assert panel.task == "classify" and panel.status.text() == NO_RUN
    panel.sentence.setText("What a wonderful film")
    assert not panel.predict()  # nothing trained yet
    run = trained_run("sentiment_cnn", "20250101-000000", 30)
    panel.refresh()
    assert panel.status.text() == f"Using run {run.name}"
    assert panel.predict()
    assert not panel.predict_button.isEnabled()  # busy while the worker predicts
    qtbot.waitUntil(lambda: not panel._busy, timeout=60_000)
    assert panel.label.text() in ("negative", "positive"), panel.status.text()
    assert 500 <= panel.probability.value() <= 1000 and panel.probability.isVisibleTo(panel)
    assert panel.predict_button.isEnabled()


def test_generate_text_and_messages(qtbot, window):
    open_example(window, "char_rnn")
    panel = window.try_it
    assert panel.task == "generate" and panel.pages.currentIndex() == 0
    trained_run("char_rnn", "20250101-000000", 2)
    window.runs.reload()
    panel.refresh()
    panel.prompt.setText("The <b>")  # shown as text, never as markup
    panel.length.setValue(30)
    panel.top_k.setValue(5)
    assert panel.generate()
    qtbot.waitUntil(lambda: not panel._busy, timeout=60_000)
    text = panel.output.toPlainText()
    assert text.startswith("The <b>") and len(text) == len("The <b>") + 30, panel.status.text()
    panel.prompt.setText("")
    assert panel.generate()
    qtbot.waitUntil(lambda: not panel._busy, timeout=60_000)
    assert "prompt is empty" in panel.status.text()
    open_example(window, "digits_cnn")
    assert panel.task is None
