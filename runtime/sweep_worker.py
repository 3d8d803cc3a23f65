"""A sweep in a process of its own, for the window: the headless sweep (``runtime.sweep``),
run by :func:`sweep_process` in a spawned process, its news put on a queue as plain data.

Messages (``(kind, payload)``): ``("started", {"out_dir", "budget"})``, ``("trial_started",
{"number", "params"})`` (one trial at a time only), ``("trials", {"trials": [...], "best":
...})`` after each finished trial (every trial's row, as ``TrialResult.to_dict``), then
``("finished", same)`` or ``("failed", {"message"})``. Setting ``stop`` stops the running
trial (left to be retried on resume) and starts no more. No Qt.
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


class _WatchedSweep(Sweep):
    """A sweep that says when each of its trials starts."""

    outbox: Any = None

    def _run_trial(self, study, trial):
        self.outbox.put(("trial_started", {"number": trial.number, "params": dict(trial.params)}))
        return super()._run_trial(study, trial)


def sweep_process(setup: dict[str, Any], outbox, stop) -> None:
    """Run one sweep (``setup``: project dict, project_path, space dict, out_dir, resume,
    jobs, device) and report on ``outbox`` until it ends or ``stop`` is set."""
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
            sweep = _WatchedSweep(
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
        sweep.outbox = outbox
        threading.Thread(target=lambda: (stop.wait(), sweep.stop()), daemon=True).start()
        outbox.put(("started", {"out_dir": str(sweep.out_dir), "budget": sweep.budget()}))
        result = sweep.run(lambda _row, res: outbox.put(("trials", _payload(res))))
        outbox.put(("finished", _payload(result) | {"stopped": sweep.stop_requested}))
    except BaseException as exc:  # said to the window, which shows it; never a silent end
        outbox.put(
            (
                "failed",
                {"message": f"{type(exc).__name__}: {exc}", "details": traceback.format_exc()},
            )
        )
