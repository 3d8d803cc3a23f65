"""Live plots with a million training steps (offscreen).

Builds a LivePlots (classification run, shown at 1200×800), feeds 1,000,000 steps in batches
of 10,000 with an epoch every 10,000 steps, then times ``refresh()`` right after appending 100
new points, many times. It also times the repaint that follows (Qt paints later, in the event
loop, not inside ``refresh()``) and a refresh after a zoom and in log scale.

Prints timings, then as its last line a JSON object with ``plot_refresh_ms`` (median time of one
``refresh()`` after 100 new points with 1,000,000 held; goal < 5) and ``points``.
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import functools

import numpy as np
from PySide6.QtWidgets import QApplication

from torchcanvas.gui.training.plots import LivePlots

POINTS = 1_000_000
FEED_BATCH = 10_000
STEPS_PER_EPOCH = 10_000
NEW_POINTS = 100
REPEATS = 200

print = functools.partial(print, flush=True)  # in order with Qt messages on stderr


def fake_run(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1, dtype=np.float64)
    loss = 0.1 + 2.2 * np.exp(-steps / (n / 8)) + np.abs(rng.normal(0, 0.1, n))
    lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * steps / n))
    return steps, loss, lr


def epoch(plots: LivePlots, step: int, loss: float) -> None:
    e = step // STEPS_PER_EPOCH
    acc = 0.97 - 0.6 * np.exp(-e / 20)
    plots.add_epoch(
        step, e, loss, loss * 0.9, {"accuracy": acc, "precision": acc, "recall": acc, "f1": acc}
    )


def timed_refreshes(
    app, plots, steps, loss, lr, start: int, repeats: int
) -> tuple[list[float], list[float], int]:
    refresh_ms, paint_ms = [], []
    i = start
    for _ in range(repeats):
        j = i + NEW_POINTS
        plots.add_steps(steps[i:j], loss[i:j], lr[i:j])
        t0 = time.perf_counter()
        plots.refresh()
        t1 = time.perf_counter()
        app.processEvents()  # layout, auto-range and the repaint of the view
        t2 = time.perf_counter()
        refresh_ms.append((t1 - t0) * 1e3)
        paint_ms.append((t2 - t1) * 1e3)
        i = j
    return refresh_ms, paint_ms, i


def summary(name: str, values: list[float]) -> str:
    q = statistics.quantiles(values, n=20)
    return (
        f"{name:<34} median {statistics.median(values):6.2f} ms   p95 {q[-1]:6.2f} ms   "
        f"max {max(values):6.2f} ms"
    )


def main() -> None:
    app = QApplication.instance() or QApplication([])
    total = POINTS + (REPEATS * 3 + 10) * NEW_POINTS
    steps, loss, lr = fake_run(total)
    plots = LivePlots()
    plots.resize(1200, 800)
    plots.show()
    plots.reset("classification", [str(i) for i in range(10)])
    app.processEvents()

    t0 = time.perf_counter()
    for i in range(0, POINTS, FEED_BATCH):
        j = i + FEED_BATCH
        plots.add_steps(steps[i:j], loss[i:j], lr[i:j])
        if j % STEPS_PER_EPOCH == 0:
            epoch(plots, j, float(loss[i:j].mean()))
        plots.refresh()
        app.processEvents()
    feed_s = time.perf_counter() - t0
    assert plots.point_count == POINTS, plots.point_count
    print(
        f"fed {POINTS:,} steps in batches of {FEED_BATCH:,} (refresh + paint each): {feed_s:.2f} s"
    )

    # warm-up, then the measurement that counts: follow the run, 100 new points per refresh
    _, _, i = timed_refreshes(app, plots, steps, loss, lr, POINTS, 10)
    refresh_ms, paint_ms, i = timed_refreshes(app, plots, steps, loss, lr, i, REPEATS)
    held = plots.point_count
    print(summary(f"refresh() +{NEW_POINTS} pts, ~{held:,} held", refresh_ms))
    print(summary("  then repaint (processEvents)", paint_ms))
    x, _ = plots.smooth_curve.getData()
    print(f"points drawn per dense curve: {len(x):,}")

    plots.set_log_scale(True)
    app.processEvents()
    log_ms, log_paint, i = timed_refreshes(app, plots, steps, loss, lr, i, REPEATS)
    print(summary("refresh() in log scale", log_ms))
    print(summary("  then repaint", log_paint))
    plots.set_log_scale(False)

    plots.loss_plot.vb.setXRange(POINTS * 0.4, POINTS * 0.6, padding=0)  # zoomed: 200k in view
    app.processEvents()
    zoom_ms, zoom_paint, i = timed_refreshes(app, plots, steps, loss, lr, i, REPEATS)
    print(summary("refresh() zoomed to 20% of the run", zoom_ms))
    print(summary("  then repaint", zoom_paint))

    plots.close()
    print(
        json.dumps({"plot_refresh_ms": round(statistics.median(refresh_ms), 3), "points": POINTS})
    )


if __name__ == "__main__":
    main()
