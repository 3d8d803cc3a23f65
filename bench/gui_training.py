"""Training with the window and live plots attached, against the headless trainer.

Runs the digits CNN for the same number of epochs headless (the trainer in this process) and
from the real main window (offscreen), whose runs train in a worker process, interleaved round
by round in one process, with a 5 ms timer probing the window's event loop during its runs. Half
the window's runs show the Curves tab, half the Results tab (confusion matrix and image grid
drawn every epoch). Then it times starting a run with the spare worker warm and with none
(cold), and how long Stop takes to be answered between steps.

Prints timings (wall, and CPU time of this process and of the worker beside it), then as its
last line a JSON object with ``throughput_ratio`` (samples/s with the window ÷ headless; goal
≥ 0.98), ``max_stall_ms`` (longest event-loop stall beyond the probe's interval while training;
goal ≤ 30), ``plot_refresh_ms`` (one refresh of curves holding 1,000,000 points, from
bench/plot_refresh.py; goal < 5), ``start_ms_warm`` / ``start_ms_cold`` (Train pressed → the
first steps drawn in the loss plot, with a spare worker ready / with none, so the worker imports
torch first) and ``stop_ms`` (Stop pressed → the training loop's answer).

``throughput_ratio_same_threads`` compares the window's runs with headless runs on the worker's
thread count (``runtime.worker.default_threads``: torch's own, less one CPU for the window).
``--threads N`` sets torch's thread count in the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

from torchcanvas.assets import assets_dir
from torchcanvas.graph import load

EPOCHS = 12
ROUNDS = 4
PROBE_MS = 5
STARTS = 3  # warm starts timed (one cold)


def _cpu_of(pid: int | None) -> float | None:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return None


def headless_rate(tmp: Path, threads: int | None = None) -> tuple[float, float, float]:
    """samples/s, wall seconds and CPU seconds of one headless run in this process (on
    ``threads`` torch threads; default: torch's own, as ``torchcanvas train``)."""
    import torch

    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.trainer import RunFinished, RunStarted, Trainer, TrainOptions

    graph = load(assets_dir() / "examples" / "digits_cnn.json")
    graph.set_setting("epochs", EPOCHS)
    project = compile_project(graph)
    out = Path(tempfile.mkdtemp(dir=tmp))
    n = elapsed = 0
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    cpu = time.process_time()
    for event in Trainer(project, TrainOptions(out_dir=out)):  # the same options as the window
        if isinstance(event, RunStarted):
            n = event.n_train * event.epochs
        elif isinstance(event, RunFinished):
            elapsed = event.elapsed
    cpu = time.process_time() - cpu
    torch.set_num_threads(before)
    return n / elapsed, elapsed, cpu


def _wait(signal, until=lambda *_: True) -> list:
    """Run the event loop until ``signal`` fires with arguments that satisfy ``until``."""
    got: list = []
    loop = QEventLoop()

    def fired(*args) -> None:
        if until(*args):
            got.append(args)
            loop.quit()

    signal.connect(fired)
    loop.exec()
    signal.disconnect(fired)
    return got[0]


class StallProbe:
    """A precise timer every PROBE_MS ms that keeps the gaps between its ticks: how long the
    event loop could not run it, less PROBE_MS, is a stall."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.gaps: list[float] = []
        self.timer = QTimer(interval=PROBE_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        if self.clock.isValid():
            self.gaps.append(self.clock.nsecsElapsed() / 1e6)
        self.clock.start()

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def worst_ms(self) -> float:
        return max((g - PROBE_MS for g in self.gaps), default=0.0)


def window_rate(window) -> dict:
    """samples/s of a run started from the window, the worst event-loop stall (ms), and the CPU
    time of this process and of the worker. The window runs its own event loop meanwhile, as in
    the app (no polling from here)."""
    probe = StallProbe()
    worker_cpu: list[float] = []
    training = window.training
    started: list = []

    def on_started(event) -> None:
        started.append(event)
        probe.start()

    def on_steps(_events) -> None:
        reader = training._reader
        cpu = _cpu_of(reader.worker.pid) if reader is not None else None
        if cpu is not None:
            worker_cpu.append(cpu)

    training.runStarted.connect(on_started)
    training.stepsArrived.connect(on_steps)
    cpu = time.process_time()
    window.start_training()
    (event,) = _wait(training.runEnded)
    probe.stop()
    cpu = time.process_time() - cpu
    training.runStarted.disconnect(on_started)
    training.stepsArrived.disconnect(on_steps)
    n = started[0].n_train * started[0].epochs
    return {
        "rate": n / event.elapsed,
        "wall": event.elapsed,
        "cpu_window": cpu,
        "cpu_worker": (worker_cpu[-1] - worker_cpu[0]) if len(worker_cpu) > 1 else None,
        "stall": probe.worst_ms(),
    }


def idle_stall_ms(seconds: float = 5.0) -> float:
    """The worst stall of the same probe with nothing training: what the machine's load alone
    costs the event loop (others share this machine)."""
    probe = StallProbe()
    probe.start()
    _settle(seconds)
    probe.stop()
    return probe.worst_ms()


def _settle(seconds: float) -> None:
    """Run the event loop for ``seconds``: pending layouts and paints happen now."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _idle_until_exited(window) -> None:
    """Wait until the previous run's worker has exited and a spare is warm (or none)."""
    from torchcanvas.runtime import worker

    deadline = time.monotonic() + 120
    while window.training._reader is not None and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    spare = worker._spare
    if spare is not None:  # its "ready" message waits in the pipe once torch is imported
        while not spare.events.poll(0.05) and time.monotonic() < deadline:
            QApplication.processEvents()


def start_ms(window, warm: bool) -> float:
    """Train pressed → the first steps drawn in the loss plot."""
    from torchcanvas.runtime import worker

    _idle_until_exited(window)
    if not warm:
        worker.discard_spare()
    else:
        worker.ensure_spare()
        _idle_until_exited(window)
    window.doc.set_setting("epochs", 1)
    t0 = time.perf_counter()
    window.start_training()
    _wait(window.training.stepsArrived)
    window.plots.refresh()  # what the plot timer does next: the curve gets the points
    window.plots.repaint()
    ms = (time.perf_counter() - t0) * 1e3
    assert window.training.warm == warm
    window.training.stop()
    _wait(window.training.runEnded)
    return ms


def stop_ms(window) -> float:
    """Stop pressed between steps → the training loop's answer (its countdown cancelled)."""
    _idle_until_exited(window)
    window.doc.set_setting("epochs", 50)
    window.start_training()
    _wait(window.training.stepsArrived, lambda events: events[-1].global_step > 100)
    t0 = time.perf_counter()
    window.training.stop()
    _wait(window.training.countdown, lambda seconds: seconds < 0)
    ms = (time.perf_counter() - t0) * 1e3
    _wait(window.training.runEnded)
    return ms


def plot_refresh_ms() -> float | None:
    script = Path(__file__).with_name("plot_refresh.py")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])["plot_refresh_ms"] if lines else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tmp = Path(tempfile.mkdtemp())
    os.environ.setdefault("TORCHCANVAS_RUNS_DIR", str(tmp / "runs"))
    os.environ.setdefault("TORCHCANVAS_RECOVERY_DIR", str(tmp / "recovery"))
    app = QApplication.instance() or QApplication([])
    from torchcanvas.gui.main_window import MainWindow
    from torchcanvas.runtime import worker

    window = MainWindow()
    window.resize(1440, 960)
    window.show()
    window.open_example(assets_dir() / "examples" / "digits_cnn.json")
    window.wait_for_shapes()
    window.training.threads = args.threads
    worker.ensure_spare()
    headless_rate(tmp)  # warm-up: data, kernels
    rows = []
    for r in range(ROUNDS):
        _idle_until_exited(window)
        window.doc.set_setting("epochs", EPOCHS)
        tab = window.results if r % 2 else window.plots
        window.training_dock.show()
        window.training_tabs.setCurrentWidget(tab)
        _settle(0.3)  # the tab is drawn before Train is pressed, as a user sees it
        if r % 2 == 0:
            h = headless_rate(tmp)
            w = window_rate(window)
        else:
            w = window_rate(window)
            h = headless_rate(tmp)
        w["tab"] = "Results" if r % 2 else "Curves"
        w["headless"], w["wall_h"], w["cpu_h"] = h
        rows.append(w)
    window.training_tabs.setCurrentWidget(window.plots)
    threads = args.threads or worker.default_threads()
    same = [headless_rate(tmp, threads) for _ in range(2)]
    starts_warm = [start_ms(window, warm=True) for _ in range(STARTS)]
    start_cold = start_ms(window, warm=False)
    stop = stop_ms(window)
    _idle_until_exited(window)
    idle_stall = idle_stall_ms()
    window.doc.undo_stack.setClean()
    window.close()
    app.processEvents()
    refresh = plot_refresh_ms()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs; worker "
        f"threads: {args.threads or 'torch default'}"
    )
    for w in rows:
        worker_cpu = f"{w['cpu_worker']:.2f}" if w["cpu_worker"] is not None else "?"
        print(
            f"{w['tab']:8} headless {w['headless']:8,.0f} samples/s ({w['wall_h']:.2f} s wall, "
            f"{w['cpu_h']:.2f} s CPU) · window {w['rate']:8,.0f} samples/s "
            f"({w['wall']:.2f} s wall; CPU: window {w['cpu_window']:.2f} s, worker "
            f"{worker_cpu} s) · ratio {w['rate'] / w['headless']:.3f} · worst stall "
            f"{w['stall']:.1f} ms"
        )
    import torch

    print(
        f"headless on the worker's {threads} thread(s) (torch's default here: "
        f"{torch.get_num_threads()}): "
        + ", ".join(
            f"{r:,.0f} samples/s ({wall:.2f} s wall, {cpu:.2f} s CPU)" for r, wall, cpu in same
        )
    )
    print(f"worst event-loop stall with nothing training (machine load alone): {idle_stall:.1f} ms")
    print(
        f"start (Train → first steps drawn): warm {', '.join(f'{s:.0f}' for s in starts_warm)}"
        f" ms; cold {start_cold:.0f} ms · Stop answered in {stop:.0f} ms"
    )
    ratios = [w["rate"] / w["headless"] for w in rows]
    print(
        f"bench total: {time.perf_counter() - wall0:.1f} s wall, "
        f"{time.process_time() - cpu0:.1f} s CPU in this process"
    )
    same_rate = statistics.median(r for r, _, _ in same)
    print(
        json.dumps(
            {
                "throughput_ratio": round(statistics.median(ratios), 3),
                "throughput_ratio_same_threads": round(
                    statistics.median(w["rate"] for w in rows) / same_rate, 3
                ),
                "max_stall_ms": round(max(w["stall"] for w in rows), 1),
                "idle_stall_ms": round(idle_stall, 1),
                "plot_refresh_ms": refresh,
                "start_ms_warm": round(statistics.median(starts_warm)),
                "start_ms_cold": round(start_cold),
                "stop_ms": round(stop),
                "epochs": EPOCHS,
                "rounds": ROUNDS,
                "load": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
