"""Copied nodes on the clipboard do not crash the process at exit, and still paste."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from torchcanvas.assets import assets_dir
from torchcanvas.gui.canvas import editing
from torchcanvas.gui.main_window import MainWindow

window = MainWindow()
window.show()
assert window.open_example(assets_dir() / "examples" / "mlp_regression.json")
assert window.wait_for_shapes()
window.scene.select_nodes([n.id for n in window.doc.graph.nodes()][:2])
assert window.copy()
before = len(window.doc.graph)
if sys.argv[1] == "paste":  # what is left on the clipboard after the exit handler still pastes
    editing._plain_clipboard_at_exit()
    assert not app.clipboard().mimeData().hasFormat(editing.FRAGMENT_MIME)
    pasted = window.paste()
    print(json.dumps({"pasted": len(pasted), "added": len(window.doc.graph) - before}))
window.doc.undo_stack.setClean()
window.close()
"""


def run(tmp_path, mode: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        TORCHCANVAS_RECOVERY_DIR=str(tmp_path / "recovery"),
        TORCHCANVAS_RUNS_DIR=str(tmp_path / "runs"),
    )
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


def test_exit_with_copied_nodes_on_the_clipboard(tmp_path):
    done = run(tmp_path, "exit")
    assert done.returncode == 0, f"rc {done.returncode}: {done.stderr[-2000:]}"


def test_the_plain_copy_left_at_exit_still_pastes(tmp_path):
    done = run(tmp_path, "paste")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"pasted": 2, "added": 2}
