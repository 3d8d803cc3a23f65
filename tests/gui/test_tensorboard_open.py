"""Open in TensorBoard (Runs tab): starts ``tensorboard --logdir`` on the runs folder through
QProcess and opens the address it prints; here a fake ``tensorboard`` on the PATH stands in."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from torchcanvas.gui.training import tensorboard as tb_module
from torchcanvas.gui.training.runs import RunsWidget

FAKE = """#!/bin/sh
echo "$@" >> "{log}"
echo "TensorFlow installation not found - running with reduced feature set."
sleep 0.2
echo "TensorBoard 2.21.0 at http://127.0.0.1:6123/ (Press CTRL+C to quit)" >&2
exec sleep 60
"""
BROKEN = """#!/bin/sh
echo "tensorboard: error: no such option" >&2
exit 2
"""


def _fake(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "tensorboard"
    script.write_text(text.format(log=folder / "args.log"))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.fixture
def runs_root(isolated) -> Path:
    root = isolated / "runs" / "project"
    run = root / "20250304-101500"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"name": run.name, "started": "2025-03-04T10:15"}))
    return root


@pytest.fixture
def widget(qtbot, runs_root, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(RunsWidget, "open_url", lambda self, url: opened.append(url.toString()))
    w = RunsWidget()
    qtbot.addWidget(w)
    w.set_root(runs_root)
    w.show()
    w.opened = opened
    yield w
    w.tensorboard.shutdown()


def test_open_in_tensorboard_starts_it_on_the_runs_folder_and_opens_the_page(
    widget, runs_root, tmp_path, monkeypatch, qtbot
):
    fake = _fake(tmp_path / "bin", FAKE)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert widget.buttons["tensorboard"].text() == "Open in TensorBoard"
    widget.buttons["tensorboard"].click()
    qtbot.waitUntil(lambda: bool(widget.opened), timeout=10_000)
    assert widget.opened == ["http://127.0.0.1:6123/"]
    args = (fake / "args.log").read_text().split()
    assert args == ["--logdir", str(runs_root), "--host", "127.0.0.1", "--port", "0"]
    assert widget.tensorboard.running
    assert "TensorBoard is open at http://127.0.0.1:6123/" in widget.message.text()
    # again: the same TensorBoard, its page opened again, no second process
    widget.buttons["tensorboard"].click()
    assert widget.opened == ["http://127.0.0.1:6123/"] * 2
    assert len((fake / "args.log").read_text().splitlines()) == 1
    widget.tensorboard.shutdown()
    assert not widget.tensorboard.running


def test_a_tensorboard_that_fails_says_why(widget, tmp_path, monkeypatch, qtbot):
    fake = _fake(tmp_path / "bin", BROKEN)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    widget.open_tensorboard()
    qtbot.waitUntil(lambda: "stopped before it opened" in widget.message.text(), timeout=10_000)
    assert "no such option" in widget.message.text()
    assert widget.opened == []


def test_tensorboard_missing_says_how_to_install_it(widget, monkeypatch, qtbot):
    monkeypatch.setattr(
        tb_module, "tensorboard_command", lambda: ("/nonexistent/bin/tensorboard", [])
    )
    widget.open_tensorboard()
    qtbot.waitUntil(lambda: "pip install tensorboard" in widget.message.text(), timeout=10_000)
    assert widget.opened == []


def test_without_a_runs_folder_there_is_nothing_to_show(qtbot, isolated):
    w = RunsWidget()
    qtbot.addWidget(w)
    w.set_root(isolated / "nowhere")
    assert not w.open_tensorboard()
    assert "nothing to show" in w.message.text()
