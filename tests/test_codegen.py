"""Generated code: golden files, determinism, ruff-clean, and no way for labels to become code."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchcanvas.codegen.names import Namespace, camel, snake
from torchcanvas.graph import Graph, ParamError, load
from torchcanvas.graph.serialize import from_dict, to_dict
from torchcanvas.runtime.compile import compile_model, compile_project
from torchcanvas.runtime.data import assets_dir
from torchcanvas.runtime.export import export_code

EXAMPLES = sorted(p.stem for p in (assets_dir() / "examples").glob("*.json"))
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _project(name: str):
    path = assets_dir() / "examples" / f"{name}.json"
    return compile_project(load(path), path.parent, title=name)


def test_examples_are_the_issue_set():
    assert {
        "linear_regression",
        "house_prices",
        "mlp_regression",
        "iris_mlp",
        "digits_cnn",
        "transfer_learning",
        "char_rnn",
        "sentiment_lstm",
        "sentiment_cnn",
    } <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_files(name):
    """model.py and train.py of every example match the reviewed files in tests/golden."""
    project = _project(name)
    got = {"model.py": project.model.source.source, "train.py": project.train.source}
    folder = GOLDEN / name
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for file, text in got.items():
            (folder / file).write_text(text, encoding="utf-8")
    for file, text in got.items():
        expected = (folder / file).read_text(encoding="utf-8")
        assert text == expected, (
            f"{name}/{file} differs from its golden file "
            "(UPDATE_GOLDEN=1 rewrites them; review the diff)"
        )


def test_model_docstring_says_which_project_and_what_it_is_made_of():
    src = _project("mlp_regression").model.source.source
    assert src.startswith(
        '"""MLP: the model of the torchcanvas project mlp_regression.\n\n'
        '3 layers: 2 Linear, ReLU.\n"""\n'
    )
    graph = Graph()
    data = graph.add_node("data.LinearSynthetic")
    fc = graph.add_node("nn.Linear", {"in_features": 1, "out_features": 1})
    graph.connect(data, "x", fc, "x")
    untitled = compile_model(graph).source.source
    assert untitled.startswith('"""Net: a model built with torchcanvas.\n\n1 layer: Linear.\n"""')


def test_generation_is_deterministic():
    a, b = _project("digits_cnn"), _project("digits_cnn")
    assert a.model.source.source == b.model.source.source
    assert a.train.source == b.train.source


def test_model_reads_like_handwritten_code():
    src = _project("digits_cnn").model.source.source
    assert "class DigitsCNN(nn.Module):" in src
    assert "self.conv1 = nn.Conv2d(1, 16, 3, padding=1)" in src
    assert "self.classifier = nn.Linear(512, 10)" in src
    assert "        x = self.conv1(x)\n        x = self.relu1(x)\n" in src
    assert src.rstrip().endswith("return x")


def test_line_map_points_at_nodes():
    project = _project("digits_cnn")
    gen = project.model.source
    lines = gen.source.splitlines()
    conv = next(n for n in project.graph.nodes() if n.label == "conv1")
    hits = gen.lines_of(conv.id)
    assert [lines[i - 1].strip() for i in hits] == [
        "self.conv1 = nn.Conv2d(1, 16, 3, padding=1)",
        "x = self.conv1(x)",
    ]
    loss = project.plan.losses[0].node
    train_lines = project.train.source.splitlines()
    mapped = [train_lines[i - 1] for i, nid in project.train.line_map.items() if nid == loss.id]
    assert any('losses["loss1"](prediction, y)' in line for line in mapped)


@pytest.mark.parametrize("name", EXAMPLES)
def test_exported_code_is_ruff_clean_and_formatted(name, tmp_path):
    export_code(_project(name), tmp_path)
    ruff = [sys.executable, "-m", "ruff"]
    common = ["--isolated", "--line-length", "100"]
    check = subprocess.run(
        [*ruff, "check", *common, "--select", "E,F,W,I,B,UP,SIM", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", *common, "--diff", "."], cwd=tmp_path, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


# ---------------------------------------------------------------------------- names
def test_snake_and_camel():
    assert snake("Conv 1 (3×3)") == "conv_1_3_3"
    assert snake("FullyConnected") == "fully_connected"
    assert snake("1st layer") == "node_1st_layer"
    assert snake("") == "node"
    assert camel("DigitsCNN") == "DigitsCNN"
    assert camel("my model") == "MyModel"


def test_namespace_makes_unique_legal_names():
    ns = Namespace()
    names = [ns.name(label) for label in ("fc", "fc", "class", "self", "torch", "x y", "")]
    assert names == ["fc", "fc_2", "class_2", "self_2", "torch_2", "x_y", "node"]
    assert all(n.isidentifier() for n in names)
    assert ns.name("other", key="k") == ns.name("ignored", key="k")


# ---------------------------------------------------------------------------- injection
HOSTILE = [
    'x"); import os',
    "__import__('os').system('echo hi')",
    "'''",
    '"""',
    "a\nb",
    "eval(input())",
    "\\",
    "self.__class__",
    "😀 emoji",
    "class",
]


def _hostile_graph() -> Graph:
    """Hostile labels, one of them twice (a project file may hold the same label twice)."""
    data = to_dict(load(assets_dir() / "examples" / "digits_cnn.json"))
    for node, label in zip(data["nodes"].values(), HOSTILE * 2, strict=False):
        node["label"] = label
    return from_dict(data)


def _identifiers(source: str) -> tuple[set[str], set[str]]:
    """Names used in code, and modules imported."""
    names, imported = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names, imported


def test_hostile_labels_never_become_code(tmp_path):
    clean = _project("digits_cnn")
    project = compile_project(_hostile_graph(), title='evil"""; import os')
    for got, ref in (
        (project.model.source.source, clean.model.source.source),
        (project.train.source, clean.train.source),
    ):
        names, imported = _identifiers(got)
        ref_names, ref_imported = _identifiers(ref)
        assert imported == ref_imported  # a label cannot add an import
        added = names - ref_names  # new identifiers can only be the labels, made snake_case
        bases = {snake(label) for label in HOSTILE}
        bases |= {n.spec.label_base for n in clean.graph.nodes()}
        allowed = bases | {f"{b}_{k}" for b in bases for k in range(2, 5)}
        assert added <= allowed, added - allowed
        bare = {n.id for n in ast.walk(ast.parse(got)) if isinstance(n, ast.Name)}
        assert not bare & {"__import__", "eval", "exec", "system", "input", "open"}
    export_code(project, tmp_path)
    # and the code still runs: the labels only named things
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import model, torch; m = model.DigitsCNN(); print(m(torch.zeros(2, 1, 8, 8)).shape)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "torch.Size([2, 10])" in out.stdout


def test_hostile_model_name_is_refused():
    g = Graph()
    for bad in ['Net"); import os', "lower", "__import__", ""]:
        with pytest.raises(ParamError, match="model_name"):
            g.set_setting("model_name", bad)


def test_hostile_csv_path_and_columns_stay_strings(tmp_path):
    evil = tmp_path / "a\"b'c; import os"
    evil.mkdir()
    csv_file = evil / "t.csv"
    csv_file.write_text("f\"1,t'\n1,2\n3,4\n5,6\n7,8\n9,10\n", encoding="utf-8")
    g = Graph({"batch_size": 2})
    d = g.add_node(
        "data.CSV", {"path": str(csv_file), "feature_columns": ['f"1'], "target_column": "t'"}
    )
    fc = g.add_node("nn.Linear", {"out_features": 1})
    loss = g.add_node("loss.MSE")
    opt = g.add_node("optim.SGD")
    g.connect(d, "x", fc, "x")
    g.connect(fc, "out", loss, "input")
    g.connect(d, "y", loss, "target")
    g.connect(loss, "loss", opt, "loss")
    project = compile_project(g)
    tree = ast.parse(project.train.source)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert str(csv_file) in strings and 'f"1' in strings and "t'" in strings
    train_set, _, _ = project.fn("make_datasets")(tmp_path)
    assert len(train_set) == 4


def test_weighted_sampling_needs_a_classification_loss():
    from torchcanvas.codegen import CodegenError
    from torchcanvas.codegen.plan import training_plan

    g = load(assets_dir() / "examples" / "house_prices.json")
    data = g.nodes_of_kind("data")[0]
    g.remove_node(data.id)
    csv = g.add_node("data.CSV", {"path": "t.csv", "weighted_sampling": True}, node_id=data.id)
    for n in g.nodes_of_kind("layer"):
        g.connect(csv, "x", n.id, "x")
    g.connect(csv, "y", g.nodes_of_kind("loss")[0].id, "target")
    with pytest.raises(CodegenError, match="weighted_sampling") as err:
        training_plan(g)
    assert err.value.node_id == csv
