"""The training worker process without a window: messages, batching, post-mortems."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from torchcanvas.runtime.worker import Job, WorkerProcess, death_message, fault_node


def test_deaths_are_said_in_words():
    assert (
        death_message(-signal.SIGSEGV, where=" in fc")
        == "the training process crashed in fc: Segmentation fault (SIGSEGV)"
    )
    assert "(SIGABRT)" in death_message(-signal.SIGABRT)
    assert "out of memory" in death_message(-signal.SIGKILL)
    assert death_message(3) == "the training process exited with code 3 before the run ended"
    assert "within 2.5 s of Stop" in death_message(-signal.SIGTERM, "terminate", 2.5)


@pytest.mark.skipif(not hasattr(signal, "SIGABRT"), reason="needs SIGABRT")
def test_the_node_of_a_crash_is_found_in_the_stacks_faulthandler_wrote(tmp_path):
    log = tmp_path / "fault.log"
    # generated code (under its pseudo file name) calls a helper that aborts, while another
    # thread sleeps inside generated code too: the crashing thread's innermost line counts
    script = textwrap.dedent(f"""
        import faulthandler, os, threading, time
        from torchcanvas.runtime.source import run_source
        log = open({str(log)!r}, "w")
        faulthandler.enable(log, all_threads=True)
        other = run_source("import time\\ndef idle():\\n    time.sleep(60)\\n", "train.py")
        threading.Thread(target=other["idle"], daemon=True).start()
        time.sleep(0.2)
        ns = run_source("import os\\n\\ndef forward(x):\\n    return os.abort()\\n", "model.py")
        print(ns["__file__"] + "|" + other["__file__"], flush=True)
        ns["forward"](1)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGABRT
    model_file, train_file = done.stdout.strip().split("|")
    lines = {model_file: {4: "n_code"}, train_file: {3: "n_other"}}
    text = log.read_text()
    assert "Current thread" in text
    assert fault_node(text, lines) == "n_code"
    assert fault_node(text, {train_file: {3: "n_other"}}) is None  # not the crashing thread
    assert fault_node("", lines) is None


def _digits(**settings) -> dict:
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load
    from torchcanvas.graph.serialize import dumps

    graph = load(assets_dir() / "examples" / "digits_cnn.json")
    for name, value in settings.items():
        graph.set_setting(name, value)
    return json.loads(dumps(graph))


def _messages(worker: WorkerProcess) -> list[tuple]:
    out = []
    while worker.wait_message(120):
        try:
            out.append(worker.recv())
        except EOFError:
            break
    return out


@pytest.mark.slow
def test_fast_steps_travel_in_batches_and_the_worker_exits(tmp_path):
    from torchcanvas.runtime.trainer import RunFinished, RunStarted, TrainOptions

    worker = WorkerProcess()
    assert worker.run(
        Job(
            _digits(log_every=1),
            TrainOptions(out_dir=tmp_path, max_steps=150),
            fault_log=tmp_path / "fault.log",
        )
    )
    messages = _messages(worker)
    assert worker.close(10.0) == 0
    kinds = [m[0] for m in messages]
    assert kinds[0] == "ready" and kinds[1] == "lines"
    events = [m[1] for m in messages if m[0] == "event"]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    batches = [m[1] for m in messages if m[0] == "steps"]
    assert [s.global_step for batch in batches for s in batch] == list(range(1, 151))
    assert len(batches) < 150 / 3  # never one message per step
    model_file = next(f for f in messages[1][1] if "model.py" in f)
    assert set(messages[1][1][model_file].values()) >= {"n2", "n8"}  # conv1, classifier
    assert (tmp_path / "checkpoint.pt").exists()


@pytest.mark.slow
def test_a_graph_that_does_not_compile_fails_in_words_and_the_worker_exits(tmp_path):
    from torchcanvas.runtime.trainer import RunFailed, TrainOptions

    data = _digits()
    data["nodes"]["n8"]["params"]["in_features"] = 100  # classifier: wrong input width
    worker = WorkerProcess()
    worker.run(Job(data, TrainOptions(out_dir=tmp_path)))
    messages = _messages(worker)
    assert worker.close(10.0) == 0
    (failed,) = [m[1] for m in messages if m[0] == "event"]
    assert isinstance(failed, RunFailed) and failed.node_id == "n8"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_script_without_a_main_guard_starts_the_shape_process_without_rerunning_itself(tmp_path):
    # spawn would import the caller's script again in the child: this one imports Qt and,
    # unguarded, would start another process while the child is still starting
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent("""
        import time
        from pathlib import Path

        from PySide6 import QtCore  # noqa: F401

        from torchcanvas.runtime import shape_service

        process, conn = shape_service.start()
        maps = Path(f"/proc/{process.pid}/maps")
        deadline = time.monotonic() + 120
        while process.is_alive() and "libtorch" not in maps.read_text():
            assert time.monotonic() < deadline, "the shape process never loaded torch"
            time.sleep(0.1)
        text = maps.read_text()
        print("alive" if process.is_alive() else f"dead {process.exitcode}")
        print("qt" if "QtCore" in text or "libpyside6" in text else "no qt")
        process.terminate()
        process.join(10)
    """),
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["alive", "no qt"], out.stdout + out.stderr
