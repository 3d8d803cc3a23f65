"""A sweep in a process of its own, for the window: the headless sweep (``runtime.sweep``),
run by :func:`sweep_process` in a spawned process, its news put on a queue as plain data.

Messages (``(kind, payload)``): ``("started", {"out_dir", "budget"})``, ``("trial_started",
{"number", "params"})`` as each trial starts (parallel trials too), ``("trials", {"trials":
[...], "best": ...})`` after each finished trial (every trial's row, as
``TrialResult.to_dict``), ``("paused", bool)`` when the sweep holds or goes on, then
``("finished", same)`` or ``("failed", {"message"})``. Setting ``stop`` stops the running
trials (left to be retried on resume) and starts no more; clearing ``go`` pauses them between
two steps (and starts no new one) until it is set again. No Qt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchcanvas.runtime.sweep import Sweep, SweepResult


def _payload(result: SweepResult) -> dict[str, Any]:
    best = result.best
    return {
        "trials": [t.to_dict() for t in result.trials],
        "best": best.to_dict() if best is not None else None,
        "budget": result.space.trials,
    }


def _follow(sweep: Sweep, stop, go, outbox) -> None:
    """Stop and pause ``sweep`` as the window's events say."""
    while not stop.wait(0.1):
        paused = not go.is_set()
        if paused != sweep.paused:
            sweep.pause(paused)
            outbox.put(("paused", paused))
    sweep.stop()


def sweep_process(setup: dict[str, Any], outbox, stop, go=None) -> None:
    """Run one sweep (``setup``: project dict, project_path, space dict, out_dir, resume,
    jobs, device) and report on ``outbox`` until it ends or ``stop`` is set; paused while
    ``go`` (an event, set when not given) is cleared."""
    import signal
    import threading
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the window stops the sweep, not Ctrl+C
    try:
        from torchcanvas.graph.serialize import from_dict
        from torchcanvas.runtime.sweep import SweepError, parse_space

        graph = from_dict(setup["project"])
        try:
            space = parse_space(setup["space"], graph)
            sweep = Sweep(
                graph,
                Path(setup["project_path"]),
                space,
                Path(setup["out_dir"]),
                resume=setup.get("resume", False),
                device=setup.get("device"),
                jobs=setup.get("jobs", 1),
            )
        except SweepError as exc:
            outbox.put(("failed", {"message": str(exc)}))
            return
        if go is not None:
            threading.Thread(target=_follow, args=(sweep, stop, go, outbox), daemon=True).start()
        else:
            threading.Thread(target=lambda: (stop.wait(), sweep.stop()), daemon=True).start()
        outbox.put(("started", {"out_dir": str(sweep.out_dir), "budget": sweep.budget()}))
        result = sweep.run(
            lambda _row, res: outbox.put(("trials", _payload(res))),
            lambda number, params: outbox.put(
                ("trial_started", {"number": number, "params": params})
            ),
        )
        outbox.put(("finished", _payload(result) | {"stopped": sweep.stop_requested}))
    except BaseException as exc:  # said to the window, which shows it; never a silent end
        outbox.put(
            (
                "failed",
                {"message": f"{type(exc).__name__}: {exc}", "details": traceback.format_exc()},
            )
        )
