"""The window trains, plots, shows results and the autograd view without importing torch.

Importing torch takes seconds of CPU with the interpreter lock held; done by the window's
process, the first Train press would freeze the window for that long. The worker process does
all torch work and sends plain data, so the window never needs torch for a run. Checked in a
fresh interpreter (this test process has torch imported already).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from torchcanvas.assets import assets_dir
from torchcanvas.gui.main_window import MainWindow

window = MainWindow()
window.resize(1300, 800)
window.show()
assert window.open_example(assets_dir() / "examples" / "digits_cnn.json")
assert window.wait_for_shapes()
before = "torch" in sys.modules
window.doc.set_setting("epochs", 1)
window.autograd.dock.show()
window.autograd.panel.every.setValue(20)  # the backward graph every 20 steps, while training
window.training_dock.show()
window.training_tabs.setCurrentWidget(window.results)
ended = []
window.training.runEnded.connect(ended.append)
assert window.start_training()
while not ended:
    app.processEvents()
    time.sleep(0.01)
for _ in range(50):  # the deferred results and autograd draws
    app.processEvents()
print(json.dumps({
    "torch_before": before, "torch_after": "torch" in sys.modules,
    "status": ended[0].status, "samples": window.results.image_tiles(),
    "graph": window.autograd.panel.graph is not None,
    "curve_points": window.plots.point_count,
}))
window.doc.undo_stack.setClean()
window.close()
"""


@pytest.mark.slow
def test_a_run_in_the_window_never_imports_torch(tmp_path):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        TORCHCANVAS_DATA_DIR=str(tmp_path / "data"),
        TORCHCANVAS_RECOVERY_DIR=str(tmp_path / "recovery"),
        TORCHCANVAS_RUNS_DIR=str(tmp_path / "runs"),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "completed"
    assert report["samples"] > 0  # the results grid got the validation images (numpy arrays)
    assert report["graph"]  # the autograd view got a graph from the run
    assert report["curve_points"] > 0
    assert not report["torch_before"]
    assert not report["torch_after"], "the window imported torch during a run"
