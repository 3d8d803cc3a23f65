"""Sweeping a node's type (``nodes.<id>.type``): the optimizer or an activation as a choice of
type ids, checked against the node's wiring before any trial, trained by grid, random and TPE
search, shown by title, and applied with the best trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchcanvas.graph import load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.sweep import (
    Sweep,
    SweepError,
    apply_best,
    apply_values,
    format_table,
    parse_space,
    split_target,
)

IRIS = assets_dir() / "examples" / "iris_mlp.json"  # n3 ReLU, n5 CrossEntropy, n6 Adam
OPT, ACT = "nodes.n6.type", "nodes.n3.type"
OPTIMIZERS = ["optim.SGD", "optim.Adam", "optim.RMSprop"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    graph = load(IRIS)
    graph.set_setting("epochs", 1)
    path = tmp_path / "iris.json"
    save(graph, path)
    return path


def space(*dims: dict, **overrides) -> dict:
    raw = {
        "dimensions": list(dims),
        "objective": {"metric": "accuracy", "direction": "maximize"},
        "strategy": "grid",
        "trials": 10,
        "timeout_s": None,
        "pruner": "none",
        "seed": 0,
    }
    return raw | overrides


def opt_dim(choices=OPTIMIZERS) -> dict:
    return {"target": OPT, "kind": "choice", "choices": list(choices)}


def run(project: Path, raw: dict, out: Path):
    graph = load(project)
    return Sweep(graph, project, parse_space(raw, graph), out).run()


def test_a_grid_over_the_optimizer_trains_each_type(project, tmp_path):
    out = tmp_path / "sweep"
    result = run(project, space(opt_dim()), out)
    assert len(result.trials) == 3 and all(t.state == "COMPLETE" for t in result.trials)
    assert sorted(t.params[OPT] for t in result.trials) == sorted(OPTIMIZERS)
    for t in result.trials:
        trained = json.loads((Path(t.run_dir) / "project.json").read_text())
        node = trained["nodes"]["n6"]
        assert node["type"] == t.params[OPT]
        assert node["params"]["lr"] == 0.01  # the project's lr, kept by every type
        metrics = json.loads((Path(t.run_dir) / "metrics.json").read_text())
        assert metrics["final"]["accuracy"] == t.objective
    # three optimizers trained: three different sets of weights, not the same run again
    weights = {(Path(t.run_dir) / "weights.pt").read_bytes() for t in result.trials}
    assert len(weights) == 3
    table = format_table(result)
    for title in ("n6.type=SGD", "n6.type=Adam", "n6.type=RMSprop"):
        assert title in table
    # apply best: the project's optimizer becomes the best trial's type
    graph = load(project)
    values = apply_best(graph, out)
    assert values == {OPT: result.best.params[OPT]}
    assert graph.node("n6").type_id == result.best.params[OPT]
    assert graph.node("n6").params["lr"] == 0.01


def test_a_type_and_its_lr_with_random_and_tpe_search(project, tmp_path):
    lr = {"target": "nodes.n6.params.lr", "kind": "log", "low": 1e-3, "high": 0.1}
    act = {"target": ACT, "kind": "choice", "choices": ["nn.ReLU", "nn.GELU", "nn.Tanh"]}
    for strategy in ("random", "tpe"):
        out = tmp_path / strategy
        raw = space(lr, opt_dim(["optim.SGD", "optim.Adam"]), act, strategy=strategy, trials=3)
        result = run(project, raw, out)
        assert [t.state for t in result.trials] == ["COMPLETE"] * 3
        for t in result.trials:
            node = json.loads((Path(t.run_dir) / "project.json").read_text())["nodes"]
            # the type first, then the lr on that type
            assert node["n6"]["type"] == t.params[OPT]
            assert node["n6"]["params"]["lr"] == t.params["nodes.n6.params.lr"]
            assert node["n3"]["type"] == t.params[ACT]
        assert json.loads((out / "space.json").read_text())["dimensions"][1] == opt_dim(
            ["optim.SGD", "optim.Adam"]
        )


def test_apply_values_sets_the_type_before_its_params(project):
    graph = load(project)
    # listed param first: still applied after the type, so momentum lands on SGD
    apply_values(graph, {"nodes.n6.params.momentum": 0.9, OPT: "optim.SGD"})
    node = graph.node("n6")
    assert node.type_id == "optim.SGD" and node.params["momentum"] == 0.9
    with pytest.raises(ValueError, match="a node type is a type id"):
        apply_values(graph, {OPT: 3})


def test_targets_split_node_ids_with_dots():
    assert split_target("nodes.n6.type") == ("type", "n6", "type")
    assert split_target("nodes.a.b.type") == ("type", "a.b", "type")
    assert split_target("nodes.n6.params.type") == ("node", "n6", "type")
    assert split_target("nodes.x.params.y.type") == ("type", "x.params.y", "type")
    with pytest.raises(ValueError, match=r"nodes\.<node id>\.type"):
        split_target("nodes..type")


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        (
            [opt_dim(["optim.SGD", "optim.Nope"])],
            "dimensions[0].choices[1]: optim.Nope does not fit: unknown node type 'optim.Nope'",
        ),
        (
            [opt_dim(["optim.SGD", "nn.ReLU"])],
            "dimensions[0].choices[1]: nn.ReLU does not fit: optimizer1: nn.ReLU is a layer, "
            "not an optimizer like optim.Adam",
        ),
        (
            [{"target": ACT, "kind": "choice", "choices": ["nn.GELU", "nn.Bilinear"]}],
            "dimensions[0].choices[1]: nn.Bilinear does not fit: relu: nn.Bilinear has no "
            "input 'x' for the wire from hidden",
        ),
        (
            [{"target": ACT, "kind": "choice", "choices": ["nn.MaxUnpool1d"]}],
            "dimensions[0].choices[0]: nn.MaxUnpool1d needs its input 'indices' wired, which "
            "relu has not",
        ),
        ([opt_dim(["optim.SGD", 3])], "dimensions[0].choices[1]: expected a type id such as"),
        ([opt_dim(["optim.SGD", "optim.SGD"])], "dimensions[0].choices: a value is listed twice"),
        (
            [{"target": OPT, "kind": "log", "low": 0.1, "high": 1}],
            "dimensions[0].kind: 'log' does not fit nodes.n6.type (a node's type: list type "
            "ids); use choice",
        ),
        ([{"target": "nodes.n99.type", "kind": "choice", "choices": ["nn.ReLU"]}], "no node"),
        (
            [opt_dim(["optim.SGD", "optim.Adam"]), {**opt_dim(), "choices": ["optim.SGD"]}],
            "dimensions[1].target: nodes.n6.type is already dimensions[0]",
        ),
        # a param of a node whose type is swept must fit every type
        (
            [
                {
                    "target": "nodes.n6.params.momentum",
                    "kind": "linear",
                    "low": 0,
                    "high": 0.9,
                    "grid": [0.0, 0.9],
                },
                opt_dim(["optim.SGD", "optim.Adam"]),
            ],
            "dimensions[0].target: node 'n6' (optim.Adam) has no param 'momentum' (with "
            "nodes.n6.type = optim.Adam, one of the types swept)",
        ),
        (
            [
                {"target": "nodes.n6.params.lr", "kind": "choice", "choices": [0.01, 2.0]},
                opt_dim(["optim.SGD", "optim.LBFGS"]),
            ],
            None,  # lr fits both (LBFGS takes lr 2.0 as well)
        ),
        (
            [opt_dim(), {"target": "nodes.n5.type", "kind": "choice", "choices": ["loss.MSE"]}],
            'objective.metric: "accuracy" is not recorded when nodes.n5.type is loss.MSE',
        ),
    ],
)
def test_a_bad_type_dimension_is_named(project, dims, message):
    graph = load(project)
    if message is None:
        parse_space(space(*dims), graph)
        return
    with pytest.raises(SweepError) as info:
        parse_space(space(*dims), graph)
    assert message in str(info.value)


def test_the_command_sweeps_a_type_from_a_space_file(project, tmp_path, capsys):
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space(opt_dim(["optim.SGD", "optim.AdamW"]))))
    out = tmp_path / "cli"
    code = cli_main(["sweep", str(project), "--space", str(space_file), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "n6.type=SGD" in printed and "n6.type=AdamW" in printed
