"""The headless ``torchcanvas`` commands: check, train and export, run through the installed
console script (subprocesses) and through ``runtime.cli.main`` in-process where that is enough.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchcanvas.graph import load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir

EXAMPLES = assets_dir() / "examples"
DIGITS = EXAMPLES / "digits_cnn.json"
LINEAR = EXAMPLES / "linear_regression.json"
SCRIPT = shutil.which("torchcanvas", path=str(Path(sys.executable).parent)) or shutil.which(
    "torchcanvas"
)


def torchcanvas(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert SCRIPT, "the torchcanvas console script is not installed next to this Python"
    return subprocess.run(
        [SCRIPT, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def metrics_of(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


# ------------------------------------------------------------------------- check
def test_check_prints_a_table():
    done = torchcanvas("check", DIGITS)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for node in load(DIGITS).nodes():
        assert node.label in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    end = out.splitlines()[0].index("Params") + len("Params")  # right-aligned under it

    def params(row: str) -> str:
        return rows[row][:end].split()[-1]

    assert "nn.Conv2d" in rows["conv1"] and "[B, 16, 8, 8]" in rows["conv1"]
    assert params("conv1") == "160"
    assert "[B, 32, 8, 8]" in rows["conv2"] and params("conv2") == "4,640"
    assert "[B, 32, 4, 4]" in rows["pool"]
    assert "[B, 512]" in rows["flatten"]
    assert "[B, 10]" in rows["classifier"] and params("classifier") == "5,130"
    assert "x: [B, 1, 8, 8]" in rows["digits"] and "y: [B]" in rows["digits"]
    assert "Total params: 9,930" in out
    assert done.stderr == ""


def test_check_json(capsys):
    assert cli_main(["check", str(DIGITS), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True and report["problems"] == []
    assert report["total_params"] == report["trainable_params"] == 9930
    nodes = {n["label"]: n for n in report["nodes"]}
    assert set(nodes) == {n.label for n in load(DIGITS).nodes()}
    assert nodes["conv1"]["outputs"] == {"out": "[B, 16, 8, 8]"}
    assert nodes["conv1"]["params"] == 160
    assert nodes["conv1"]["settings"]["in_channels"] == 1  # "auto", filled by shape inference
    assert nodes["classifier"]["settings"]["in_features"] == 512
    assert nodes["digits"]["outputs"] == {"x": "[B, 1, 8, 8]", "y": "[B]"}
    assert nodes["optimizer1"]["outputs"] == {}


@pytest.fixture
def wrong_in_features(tmp_path) -> Path:
    graph = load(DIGITS)
    graph.set_param("n8", "in_features", 100)  # flatten gives 512
    path = tmp_path / "wrong.json"
    save(graph, path)
    return path


@pytest.mark.parametrize("command", ["check", "train", "export"])
def test_invalid_project_names_the_node(wrong_in_features, command, capsys, tmp_path):
    extra = ["--out", str(tmp_path / "out")] if command != "check" else []
    assert cli_main([command, str(wrong_in_features), *extra]) == 1
    err = capsys.readouterr().err
    assert "node 'classifier' (nn.Linear, id n8)" in err
    assert "512" in err and "100" in err  # torch's message, with both sizes
    assert not (tmp_path / "out" / "weights.pt").exists()


def test_check_json_of_an_invalid_project(wrong_in_features, capsys):
    assert cli_main(["check", str(wrong_in_features), "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["valid"] is False
    assert report["problems"][0]["node"] == "n8"
    assert report["problems"][0]["severity"] == "error"
    assert "classifier" in captured.err


def test_missing_csv_names_the_data_node(tmp_path, capsys):
    graph = load(LINEAR)
    csv = graph.add_node("data.CSV", {"path": "missing.csv", "target_column": "y"}, label="table")
    for edge in graph.out_edges("n1"):
        graph.disconnect(edge)
        graph.connect(csv, edge.src_port, edge.dst, edge.dst_port)
    graph.remove_node("n1")
    path = tmp_path / "csv.json"
    save(graph, path)
    assert cli_main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "node 'table' (data.CSV" in err
    assert str(tmp_path / "missing.csv") in err and "does not exist" in err


def test_malformed_file_reports_the_field_path(tmp_path, capsys):
    raw = json.loads(DIGITS.read_text())
    raw["nodes"]["n8"]["params"]["out_features"] = "ten"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    assert cli_main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nodes.n8.params.out_features" in err and "'ten'" in err


def test_not_json_and_missing_file(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "torchcanvas", ')
    assert cli_main(["check", str(path)]) == 1
    assert "not valid JSON (line 1" in capsys.readouterr().err
    assert cli_main(["check", str(tmp_path / "nope.json")]) == 1
    assert f"{tmp_path / 'nope.json'}: no such file" in capsys.readouterr().err
    done = torchcanvas("train", tmp_path / "nope.json")
    assert done.returncode == 1 and "no such file" in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------- train
def test_train_linear_regression(tmp_path):
    out = tmp_path / "run"
    done = torchcanvas("train", LINEAR, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "completed: 150 epochs, 3000 steps" in done.stderr
    assert {p.name for p in out.iterdir()} >= {
        "model.py",
        "train.py",
        "weights.pt",
        "checkpoint.pt",
        "metrics.json",
    }
    weights = torch.load(out / "weights.pt", weights_only=True)
    assert weights["linear.weight"].item() == pytest.approx(2.0, abs=0.1)
    assert weights["linear.bias"].item() == pytest.approx(0.0, abs=0.1)
    metrics = metrics_of(out)
    assert metrics["status"] == "completed" and metrics["epochs"] == 150
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, 151))
    assert metrics["final"] == metrics["history"][-1]
    assert metrics["final"]["r2"] > 0.95 and metrics["final"]["mae"] < 0.15
    assert metrics["history"][-1]["val_loss"] < metrics["history"][0]["val_loss"]

    # the exported model and weights stand alone: no torchcanvas needed to use them
    code = (
        "import sys, torch\n"
        "from model import LinearRegression\n"
        "m = LinearRegression()\n"
        "m.load_state_dict(torch.load('weights.pt', weights_only=True))\n"
        "print(m(torch.tensor([[1.0], [3.0]])).flatten().tolist())\n"
        "assert 'torchcanvas' not in sys.modules\n"
        "assert not [k for k in sys.modules if k.startswith('torchcanvas.')]\n"
    )
    used = python(code, cwd=out)
    assert used.returncode == 0, used.stderr
    y1, y3 = json.loads(used.stdout)
    assert y1 == pytest.approx(2.0, abs=0.15) and y3 == pytest.approx(6.0, abs=0.4)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, data_cache) -> Path:
    out = tmp_path_factory.mktemp("digits") / "run"
    done = torchcanvas("train", DIGITS, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def test_train_digits_reaches_95_percent(digits_run):
    metrics = metrics_of(digits_run)
    assert metrics["status"] == "completed" and metrics["epochs"] == 15
    assert len(metrics["history"]) == 15
    assert metrics["final"]["accuracy"] >= 0.95
    assert {"precision", "recall", "f1", "confusion_matrix"} <= metrics["final"].keys()
    ckpt = torch.load(digits_run / "checkpoint.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch"]) == (15, 0)


@pytest.mark.slow
def test_train_overrides_and_resume(tmp_path, digits_run):
    out = tmp_path / "run"
    done = torchcanvas("train", DIGITS, "--epochs", 1, "--seed", 3, "--out", out)
    assert done.returncode == 0, done.stderr
    metrics = metrics_of(out)
    assert metrics["epochs"] == 1 and len(metrics["history"]) == 1
    assert metrics["settings"]["seed"] == 3 and metrics["settings"]["epochs"] == 1
    # another seed, another run (the seed-0 run's first epoch differs)
    first = metrics["history"][0]
    assert first["train_loss"] != metrics_of(digits_run)["history"][0]["train_loss"]
    # the exported script says what ran
    source = (out / "train.py").read_text()
    assert '"seed": 3,' in source and '"epochs": 1,' in source

    done = torchcanvas(
        "train", DIGITS, "--epochs", 3, "--seed", 3, "--out", out, "--resume", out / "checkpoint.pt"
    )
    assert done.returncode == 0, done.stderr
    metrics = metrics_of(out)
    assert metrics["status"] == "completed"
    assert metrics["epochs"] == 3 and [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][0] == first  # kept from the checkpoint
    assert metrics["history"][2]["val_loss"] < first["val_loss"]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 3


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--epochs", "0"], "epochs: 0 is out of range"),
        (["--seed", "-1"], "seed: -1 is out of range"),
        (["--device", "gpu"], "'gpu' is not a device"),
    ],
)
def test_train_refuses_bad_overrides(option, message, capsys):
    assert cli_main(["train", str(LINEAR), *option]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_missing_cuda_fails_cleanly(tmp_path, capsys):
    assert cli_main(["train", str(LINEAR), "--device", "cuda", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "device 'cuda': CUDA is not available" in err
    assert "Traceback" not in err
    assert metrics_of(tmp_path)["status"] == "failed"


# ------------------------------------------------------------------------- export
@pytest.mark.slow
def test_export_runs_standalone(tmp_path, digits_run):
    out = tmp_path / "export"
    done = torchcanvas(
        "export", DIGITS, "--out", out, "--formats", "code,weights", "--weights", digits_run
    )
    assert done.returncode == 0, done.stderr
    assert "Code: model.py, train.py, data/digits.pt" in done.stdout
    assert "weights: Run run: best.pt" in done.stdout
    best = torch.load(digits_run / "best.pt", weights_only=True)["model"]
    exported = torch.load(out / "weights.pt", weights_only=True)
    assert all(torch.equal(exported[k], v) for k, v in best.items())
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "data",
        "model.py",
        "requirements.txt",
        "train.py",
        "weights.pt",
    ]
    ran = subprocess.run(
        [sys.executable, "train.py", "--epochs", "1", "--out", "ck"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["epoch"] == 1 and 0.5 < record["accuracy"] <= 1.0
    # the same first epoch as in the app (same seed, same code, deterministic CPU kernels)
    app = metrics_of(digits_run)["history"][0]
    assert record["train_loss"] == pytest.approx(app["train_loss"], rel=1e-6)
    assert record["val_loss"] == pytest.approx(app["val_loss"], rel=1e-6)
    assert (out / "ck" / "checkpoint.pt").exists() and (out / "ck" / "weights.pt").exists()


# ------------------------------------------------------------------------- help
def test_help_without_qt():
    for args in (["--help"], ["check", "--help"], ["train", "--help"]):
        done = torchcanvas(*args)
        assert done.returncode == 0, done.stderr
    assert "check, train, export" in torchcanvas("--help").stdout
    assert "--resume" in torchcanvas("train", "--help").stdout
    code = (
        "import sys\n"
        "from torchcanvas.gui.__main__ import main\n"
        "for args in (['--help'], ['check', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "    else:\n"
        "        raise AssertionError('no exit')\n"
        "qt = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]\n"
        "assert not qt, qt\n"
        "print('ok')\n"
    )
    done = python(code, cwd=Path.cwd())
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("ok\n")


def test_check_table_keeps_one_row_per_node_when_a_file_label_has_line_breaks(tmp_path):
    data = json.loads(DIGITS.read_text())
    data["nodes"]["n2"]["label"] = "first\nconv\tlayer"
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data))
    done = torchcanvas("check", path)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "nn.Conv2d" in line]
    assert len(rows) == 2 and rows[0].startswith("first conv layer ")
    assert "[B, 16, 8, 8]" in rows[0]
