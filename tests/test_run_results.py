"""A finished run's results computed again from its folder (what the Results tab shows for a
run chosen in the Runs tab): the same validation figures the run finished with."""

from __future__ import annotations

import json
import shutil

import pytest

from torchcanvas.graph import load, save
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.run_results import ResultsError, run_results
from torchcanvas.runtime.trainer import RunFinished, Trainer, TrainOptions

EXAMPLES = assets_dir() / "examples"


@pytest.mark.parametrize(
    ("example", "task", "keys"),
    [("iris_mlp", "classification", ("accuracy",)), ("linear_regression", "regression", ("mae",))],
)
def test_a_runs_results_match_what_it_finished_with(tmp_path, example, task, keys):
    graph = load(EXAMPLES / f"{example}.json")
    graph.set_setting("epochs", 2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save(graph, run_dir / "project.json")
    events = Trainer(compile_project(graph), TrainOptions(out_dir=run_dir)).run()
    assert isinstance(events[-1], RunFinished)
    final = json.loads((run_dir / "metrics.json").read_text())["final"]
    results = run_results(run_dir)
    assert results.task == task and results.weights == run_dir / "weights.pt"
    assert results.metrics["val_loss"] == pytest.approx(final["val_loss"], rel=1e-6)
    for key in keys:
        assert results.metrics[key] == pytest.approx(final[key], rel=1e-6)
    prediction, target = results.predictions
    assert len(prediction) == len(target) > 0
    if task == "classification":
        assert results.classes == ["setosa", "versicolor", "virginica"]


def test_a_run_without_weights_says_so(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(EXAMPLES / "iris_mlp.json", run_dir / "project.json")
    with pytest.raises(ResultsError, match="no trained weights yet"):
        run_results(run_dir)
    with pytest.raises(ResultsError, match=r"no project\.json"):
        run_results(tmp_path)
