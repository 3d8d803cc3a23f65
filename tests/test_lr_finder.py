"""The learning-rate range test (runtime.lr_finder) and ``torchcanvas lr-find``."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from torchcanvas.graph import load
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.events import EpochEvent, TrainOptions
from torchcanvas.runtime.lr_finder import (
    LRFinderError,
    find_lr,
    lr_schedule,
    round_lr,
    smooth,
    suggest,
)
from torchcanvas.runtime.trainer import Trainer

IRIS = assets_dir() / "examples" / "iris_mlp.json"
IRIS_OPTIMIZER = "n6"


def iris(**settings):
    graph = load(IRIS)
    for key, value in {"device": "cpu", **settings}.items():
        graph.set_setting(key, value)
    return graph


def test_schedule_is_exponential_from_start_to_end():
    lrs = lr_schedule(1e-6, 1.0, 7)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in itertools.pairwise(lrs)]
    assert all(r == pytest.approx(10.0) for r in ratios)


def test_smoothing_is_bias_corrected():
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0
    assert smooth([1.0, 3.0], beta=0.5) == pytest.approx([1.0, 1.75 / 0.75])


def test_suggestion_is_the_steepest_descent_before_the_minimum():
    lrs = lr_schedule(1e-5, 1.0, 41)
    logs = [math.log10(lr) for lr in lrs]
    # flat, a fall centred on 1e-3 (steepest there), a minimum at 1e-1, then a rise
    losses = [2.0 - 1.5 / (1 + math.exp(-4 * (x + 3))) for x in logs]
    losses = [v + (max(0.0, x + 1) ** 2) * 5 for v, x in zip(losses, logs, strict=True)]
    lr, rule, min_lr = suggest(lrs, losses)
    assert rule == "steepest"
    assert lr == pytest.approx(1e-3, rel=0.35)
    assert min_lr > lr
    # a loss that only rises: nothing to descend, so a tenth of the lowest point's rate
    lr, rule, min_lr = suggest(lrs[:10], [float(i) for i in range(10)])
    assert (lr, rule, min_lr) == (pytest.approx(1e-6), "min/10", lrs[0])


def test_round_lr_keeps_two_significant_digits():
    assert round_lr(0.031622776) == 0.032
    assert round_lr(4.4999e-5) == 4.5e-5


def test_bad_ranges_are_refused_naming_the_field():
    project = compile_project(iris())
    with pytest.raises(LRFinderError, match="start"):
        find_lr(project, start=0.0)
    with pytest.raises(LRFinderError, match="end"):
        find_lr(project, start=1.0, end=0.5)
    with pytest.raises(LRFinderError, match="steps"):
        find_lr(project, steps=1)


def accuracy_after(lr: float, epochs: int = 10) -> float:
    graph = iris()
    graph.set_param(IRIS_OPTIMIZER, "lr", lr)
    events = Trainer(
        compile_project(graph), TrainOptions(epochs=epochs, keep_predictions=False)
    ).run()
    return [e for e in events if isinstance(e, EpochEvent)][-1].metrics["accuracy"]


@pytest.mark.slow
def test_iris_suggestion_trains_as_well_as_the_examples_own_rate():
    project = compile_project(iris())
    before = torch.get_rng_state()
    result = find_lr(project)
    assert torch.equal(torch.get_rng_state(), before)  # the global random state is untouched
    assert result.current_lr == 0.01 and result.optimizer_id == IRIS_OPTIMIZER
    # the rate climbs to 10: the loss must have diverged and the test stopped before the end
    assert result.stopped_early and len(result.lrs) < 100
    assert result.lrs == tuple(lr_schedule(1e-7, 10.0, 100)[: len(result.lrs)])
    assert result.rule == "steepest" and 1e-3 <= result.suggestion <= 1.0
    # the suggestion lies on the descending part: lower smoothed loss than at the start
    at = min(range(len(result.lrs)), key=lambda i: abs(result.lrs[i] - result.suggestion))
    assert result.losses[at] < result.losses[0]
    assert find_lr(project).suggestion == result.suggestion  # seeded: the same every time

    own, suggested, too_low = (accuracy_after(lr) for lr in (0.01, result.suggestion, 1e-5))
    band = 0.1
    assert own >= 0.9 and suggested >= 0.9
    assert abs(suggested - own) <= band
    assert own - too_low > band  # the band tells a useful rate from a useless one


def test_progress_can_stop_the_test():
    seen = []

    def progress(step, lr, loss):
        seen.append((step, lr, loss))
        return step < 7

    result = find_lr(compile_project(iris()), steps=50, progress=progress)
    assert len(result.lrs) == 7 and len(seen) == 7 and result.stopped_early
    assert [s[0] for s in seen] == list(range(1, 8))
    assert result.losses == tuple(s[2] for s in seen)


def test_cli_json_and_apply_with_a_backup(tmp_path, capsys):
    project = tmp_path / "iris.json"
    project.write_text(IRIS.read_text())
    original = project.read_text()
    code = cli_main(["lr-find", str(project), "--steps", "40", "--start", "1e-5", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["points"]) <= 40 and report["optimizer"]["id"] == IRIS_OPTIMIZER
    assert project.read_text() == original  # without --apply nothing is written

    out = tmp_path / "tuned.json"
    argv = ["lr-find", str(project), "--steps", "40", "--start", "1e-5", "--apply"]
    assert cli_main([*argv, "--out", str(out)]) == 0
    assert project.read_text() == original
    tuned = load(out).node(IRIS_OPTIMIZER).params["lr"]
    assert tuned == report["suggestion"]

    assert cli_main(argv) == 0
    assert (tmp_path / "iris.json.bak").read_text() == original
    assert load(project).node(IRIS_OPTIMIZER).params["lr"] == tuned
    err = capsys.readouterr().err
    assert "iris.json.bak" in err and f"lr={tuned:g}" in err


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert cli_main(["lr-find", str(IRIS), "--start", "-1"]) == 1
    assert "start" in capsys.readouterr().err
    assert cli_main(["lr-find", str(IRIS), "--out", str(tmp_path / "x.json")]) == 1
    assert "--out" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
