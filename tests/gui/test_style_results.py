"""Style transfer in the window: the Results tab shows the image as it changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchcanvas.codegen.style import NO_VGG_WEIGHTS
from torchcanvas.gui.training.results import ResultsView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")


@pytest.fixture
def one_thread(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached VGG weights
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_results_view_shows_an_image_then_other_results(qtbot):
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    pixels = np.zeros((64, 48, 3), dtype=np.uint8)
    pixels[:, :24] = (255, 0, 0)
    view.show_epoch("style", None, {}, image=pixels, caption="after epoch 3")
    assert view.mode() == "image"
    assert view.image_view.caption == "after epoch 3"
    assert view.image_view.pixels().shape == (64, 48, 3)
    rect = view.image_view.image_rect()
    assert rect.height() == 64 * int(rect.height() // 64)  # whole multiples: sharp pixels
    grabbed = view.image_view.grab().toImage()
    left = grabbed.pixelColor(int(rect.left() + rect.width() / 4), int(rect.center().y()))
    right = grabbed.pixelColor(int(rect.right() - rect.width() / 4), int(rect.center().y()))
    assert (left.red(), left.green()) == (255, 0) and right.red() == 0
    # a later classification run shows its matrix again
    view.show_epoch("classification", ["a", "b"], {"confusion_matrix": [[3, 1], [0, 4]]})
    assert view.mode() == "classification"


def test_style_transfer_in_the_window(qtbot, window, isolated, monkeypatch, one_thread):
    from torchcanvas.assets import assets_dir

    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(isolated / "runs"))
    assert window.open_example(assets_dir() / "examples" / "style_transfer.json")
    doc = window.doc
    images = next(n.id for n in doc.graph.nodes() if n.label == "images")
    assert doc.set_param(images, "steps_per_epoch", 2)
    doc.set_setting("epochs", 2)
    window.training_tabs.setCurrentWidget(window.results)
    assert window.start_training()
    try:
        qtbot.waitUntil(lambda: window.training.state == "idle", timeout=120_000)
    finally:
        window.training.stop_and_wait()
    assert "completed" in window.run_panel.progress.text()
    assert NO_VGG_WEIGHTS in window.run_panel.notice.text()
    assert window.results.mode() == "image"
    assert window.results.image_view.pixels().shape == (64, 64, 3)
    assert "after epoch 2" in window.results.image_view.caption
    assert (window.training.run_dir / "result.png").exists()
    window.plots.refresh()
    assert window.plots.point_count == 4  # the loss of every step
