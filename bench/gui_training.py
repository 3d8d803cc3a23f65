"""Training with the window and live plots attached, against the headless trainer.

Runs the digits CNN for the same number of epochs headless and in the real main window
(offscreen), interleaved round by round in one process, with a 5 ms timer probing the event loop
during the window's runs. Prints timings, then as its last line a JSON object with
``throughput_ratio`` (samples/s with the window ÷ headless; goal ≥ 0.95), ``max_stall_ms``
(longest event-loop stall beyond the probe's interval while training; goal ≤ 50) and
``plot_refresh_ms`` (one refresh of curves holding 1,000,000 points, from bench/plot_refresh.py;
goal < 5).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load

EPOCHS = 12
ROUNDS = 3
PROBE_MS = 5


def headless_rate(tmp: Path) -> float:
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.trainer import RunFinished, RunStarted, Trainer, TrainOptions

    graph = load(assets_dir() / "examples" / "digits_cnn.json")
    graph.set_setting("epochs", EPOCHS)
    project = compile_project(graph)
    out = Path(tempfile.mkdtemp(dir=tmp))
    n = elapsed = 0
    for event in Trainer(project, TrainOptions(out_dir=out)):  # the same options as the window
        if isinstance(event, RunStarted):
            n = event.n_train * event.epochs
        elif isinstance(event, RunFinished):
            elapsed = event.elapsed
    return n / elapsed


def window_rate(window) -> tuple[float, float]:
    """samples/s of a run started from the window, and the worst event-loop stall (ms). The
    window runs its own event loop meanwhile, as in the app (no polling from here)."""
    ended, started = [], []
    loop = QEventLoop()
    clock = QElapsedTimer()
    gaps: list[float] = []

    def tick() -> None:
        if clock.isValid():
            gaps.append(clock.nsecsElapsed() / 1e6)
        clock.start()

    probe = QTimer(interval=PROBE_MS)
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.timeout.connect(tick)

    def on_started(event) -> None:
        started.append(event)
        probe.start()

    def on_ended(event) -> None:
        probe.stop()
        ended.append(event)
        loop.quit()

    window.training.runStarted.connect(on_started)
    window.training.runEnded.connect(on_ended)
    window.start_training()
    loop.exec()
    window.training.runEnded.disconnect(on_ended)
    window.training.runStarted.disconnect(on_started)
    event = ended[0]
    n = started[0].n_train * started[0].epochs
    stall = max((g - PROBE_MS for g in gaps), default=0.0)
    return n / event.elapsed, stall


def plot_refresh_ms() -> float | None:
    script = Path(__file__).with_name("plot_refresh.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])["plot_refresh_ms"] if lines else None


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    os.environ.setdefault("TORCHCANVAS_RUNS_DIR", str(tmp / "runs"))
    os.environ.setdefault("TORCHCANVAS_RECOVERY_DIR", str(tmp / "recovery"))
    app = QApplication.instance() or QApplication([])
    from torchcanvas.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1440, 960)
    window.show()
    window.open_example(assets_dir() / "examples" / "digits_cnn.json")
    window.wait_for_shapes()
    window.doc.set_setting("epochs", EPOCHS)
    window.doc.undo_stack.setClean()
    headless_rate(tmp)  # warm-up: data, kernels
    ratios, stalls, rates_h, rates_w = [], [], [], []
    for r in range(ROUNDS):
        if r % 2 == 0:
            h = headless_rate(tmp)
            w, stall = window_rate(window)
        else:
            w, stall = window_rate(window)
            h = headless_rate(tmp)
        rates_h.append(h)
        rates_w.append(w)
        stalls.append(stall)
        ratios.append(w / h)
    window.close()
    app.processEvents()
    refresh = plot_refresh_ms()
    print(f"headless: {', '.join(f'{x:,.0f}' for x in rates_h)} samples/s")
    print(f"window:   {', '.join(f'{x:,.0f}' for x in rates_w)} samples/s")
    print(f"worst event-loop stall per window run: {', '.join(f'{s:.1f}' for s in stalls)} ms")
    print(json.dumps({"throughput_ratio": round(statistics.median(ratios), 3),
                      "max_stall_ms": round(max(stalls), 1),
                      "plot_refresh_ms": refresh, "epochs": EPOCHS, "rounds": ROUNDS}))


if __name__ == "__main__":
    main()
