"""Start-up of the real app: ``python -m torchcanvas.gui`` on the default example, offscreen.

Each run launches the app in a subprocess with ``TORCHCANVAS_STARTUP_REPORT=1``, which makes it
print the moment its canvas first painted and the moment inferred shapes were on the canvas,
then quit. Prints per-run figures, then as its last line a JSON object with the medians:
``first_paint_s`` (process start → main window painted; goal <= 1.5) and ``shapes_s``
(→ inferred shapes on the canvas; goal <= 3.5), with ``first_paint_cpu_s`` / ``shapes_cpu_s``
(the window process's CPU time at those moments), ``cpu_s`` (CPU time of the app and its shape
process, whole run) and ``saved_shapes`` (the canvas had the project's saved shapes at its first
paint).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 3


def launch() -> dict[str, float | bool]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "TORCHCANVAS_STARTUP_REPORT": "1",
            "XDG_CONFIG_HOME": tmp,
            "TORCHCANVAS_RECOVERY_DIR": tmp,
            "TORCHCANVAS_RUNS_DIR": tmp,
        }
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-m", "torchcanvas.gui"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    moments = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            moments[data["moment"]] = data
    if out.returncode != 0 or set(moments) != {"first_paint", "shapes"}:
        raise SystemExit(
            f"the app did not report its start-up (exit {out.returncode}):\n"
            f"{out.stdout}\n{out.stderr}"
        )
    paint, shapes = moments["first_paint"], moments["shapes"]
    return {
        "first_paint_s": paint["time"] - t0,
        "first_paint_cpu_s": paint["cpu"],
        "shapes_s": shapes["time"] - t0,
        "shapes_cpu_s": shapes["cpu"],
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "saved_shapes": paint["saved"],
    }


def main() -> None:
    runs = [launch() for _ in range(RUNS)]
    for r in runs:
        print(
            f"first paint {r['first_paint_s']:.2f} s (CPU {r['first_paint_cpu_s']:.2f} s), "
            f"shapes {r['shapes_s']:.2f} s (CPU {r['shapes_cpu_s']:.2f} s), "
            f"whole run CPU {r['cpu_s']:.2f} s (both processes), "
            f"saved shapes at first paint: {r['saved_shapes']}"
        )
    figures: dict[str, float | bool] = {
        name: round(statistics.median(r[name] for r in runs), 3)
        for name in ("first_paint_s", "first_paint_cpu_s", "shapes_s", "shapes_cpu_s", "cpu_s")
    }
    figures["saved_shapes"] = all(r["saved_shapes"] for r in runs)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
