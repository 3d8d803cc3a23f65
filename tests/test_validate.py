"""One validator for check, train and export (``runtime.validate.check_project``): what check
passes, train and export accept; what they refuse, check refuses first, naming the node or the
field; nothing prints a raw traceback for a problem in a project file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchcanvas.graph import InvalidProjectError, load, loads, save
from torchcanvas.graph.errors import quoted, shown
from torchcanvas.graph.settings import MAX_PARAMS
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir

MLP = assets_dir() / "examples" / "mlp_regression.json"  # random → hidden(n2) → relu → output
COMMANDS = ("check", "train", "export")


def project(tmp_path: Path, change=None, text=None, name="p.json") -> Path:
    """The mlp_regression example with ``change(raw_dict)`` applied (or ``text(raw_text)``)."""
    raw = json.loads(MLP.read_text())
    raw.pop("results", None)
    raw["settings"]["epochs"] = 1
    if change is not None:
        change(raw)
    body = json.dumps(raw, indent=1, ensure_ascii=False)
    if text is not None:
        body = text(body)
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def run(command: str, path: Path, tmp_path: Path, *extra: str) -> int:
    out = [] if command == "check" else ["--out", str(tmp_path / f"out_{command}")]
    return cli_main([command, str(path), *out, *extra])


def assert_clean(err: str) -> None:
    assert "Traceback" not in err and 'File "' not in err
    assert err.startswith("error: ")


# --------------------------------------------------------------------------- sizes
def big(raw: dict) -> None:
    raw["nodes"]["n2"]["params"]["out_features"] = 10**12


@pytest.mark.parametrize("command", COMMANDS)
def test_a_model_too_large_to_allocate_is_refused_naming_the_node(tmp_path, capsys, command):
    path = project(tmp_path, big)
    assert run(command, path, tmp_path) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert "node 'hidden' (nn.Linear, id n2)" in err
    assert "11,000,000,000,000 parameters" in err and f"{MAX_PARAMS:,}" in err
    assert "max_params" in err and "--max-params" in err
    assert not (tmp_path / f"out_{command}" / "weights.pt").exists()


def test_the_size_limit_can_be_raised_and_lowered(tmp_path, capsys):
    path = project(tmp_path)
    assert run("check", path, tmp_path, "--max-params", "58") == 1  # the model has 61
    err = capsys.readouterr().err
    assert "node 'hidden'" in err and "the model has 61 parameters" in err
    assert "the most of them here (55)" in err and "size limit is 58" in err
    # a limit kept in the project (the app's training settings) is written to the file
    graph = load(path)
    graph.set_setting("max_params", 50)
    save(graph, path)
    assert json.loads(path.read_text())["settings"]["max_params"] == 50
    assert run("check", path, tmp_path) == 1
    assert run("check", path, tmp_path, "--max-params", "10000") == 0  # data: 5,000 values
    capsys.readouterr()
    assert run("check", path, tmp_path, "--max-params", "0") == 1
    assert "--max-params: 0 is out of range" in capsys.readouterr().err


def test_the_default_limit_is_not_written_to_files():
    assert "max_params" not in json.loads(MLP.read_text())["settings"]
    graph = load(MLP)
    assert graph.settings["max_params"] == MAX_PARAMS
    from torchcanvas.graph.serialize import to_dict

    assert "max_params" not in to_dict(graph)["settings"]


def test_one_output_too_large_for_a_batch_is_refused(tmp_path, capsys):
    def wide(raw):  # 3e9 parameters would pass a raised limit, not a 10e9-value batch output
        raw["nodes"]["n2"]["params"]["out_features"] = 200_000_000

    path = project(tmp_path, wide)
    assert run("check", path, tmp_path, "--max-params", "3000000000") == 1
    err = capsys.readouterr().err
    assert "node 'hidden'" in err and "output out [B, 200000000]" in err
    assert "for a batch of 32" in err


def test_export_beyond_a_raised_limit_fails_cleanly(tmp_path, capsys):
    """Raised past what the machine has: the allocation fails, and export says so plainly."""
    path = project(tmp_path, big)
    assert run("export", path, tmp_path, "--max-params", str(10**15)) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert "node 'hidden' (nn.Linear, id n2): the model cannot be built" in err


# --------------------------------------------------------------------------- floats
@pytest.mark.parametrize("command", COMMANDS)
def test_a_float_that_overflows_float32_names_its_field(tmp_path, capsys, command):
    path = project(tmp_path, lambda raw: raw["nodes"]["n6"]["params"].update(lr=1e308))
    assert run(command, path, tmp_path) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert "nodes.n6.params.lr: 1e+308 is too large; a 32-bit float" in err


def test_float32_bounds_in_the_document():
    from torchcanvas.graph import GraphError

    graph = load(MLP)
    graph.set_param("n6", "lr", 3.4e38)  # the largest float32 is about 3.4028e38
    with pytest.raises(GraphError, match=r"lr: 3\.5e\+38 is too large"):
        graph.set_param("n6", "lr", 3.5e38)
    with pytest.raises(GraphError, match=r"lr: -1e\+300 is too large"):
        graph.set_param("n6", "lr", -1e300)


# --------------------------------------------------------------------------- code nodes
def refused_import(raw: dict) -> None:
    raw["nodes"]["c1"] = {
        "type": "code.Function",
        "label": "code1",
        "pos": [0, 0],
        "params": {"expr": "x", "imports": ["import os; os.system('ls')"], "shape": [5]},
    }
    raw["edges"] = [e for e in raw["edges"] if e["to"] != ["n3", "x"]]
    raw["edges"] += [
        {"from": ["n2", "out"], "to": ["c1", "x"]},
        {"from": ["c1", "out"], "to": ["n3", "x"]},
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_refused_code_import_fails_check_like_train_and_export(tmp_path, capsys, command):
    path = project(tmp_path, refused_import)
    assert run(command, path, tmp_path) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert "node 'code1' (code.Function, id c1)" in err
    assert "imports: \"import os; os.system('ls')\" is not allowed" in err


def test_check_fails_where_export_would_for_want_of_an_optimizer(tmp_path, capsys):
    def no_optimizer(raw):
        del raw["nodes"]["n6"]
        raw["edges"] = [e for e in raw["edges"] if e["to"][0] != "n6"]

    path = project(tmp_path, no_optimizer)
    for command in ("check", "export"):
        assert run(command, path, tmp_path) == 1
        assert "no optimizer" in capsys.readouterr().err


# --------------------------------------------------------------------------- the file
@pytest.mark.parametrize("command", COMMANDS)
def test_a_duplicate_key_is_refused_naming_it(tmp_path, capsys, command):
    path = project(
        tmp_path,
        text=lambda t: t.replace(
            '"nodes": {', '"nodes": {"n3": {"type": "nn.Tanh", "label": "lost"},', 1
        ),
    )
    assert run(command, path, tmp_path) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert "nodes.n3: the key 'n3' appears twice" in err


def test_duplicate_keys_anywhere_in_the_file():
    text = MLP.read_text()
    with pytest.raises(InvalidProjectError) as info:
        loads(text.replace('"lr": 0.01', '"lr": 0.01, "lr": 0.5', 1))
    assert info.value.path == "nodes.n6.params.lr"
    with pytest.raises(InvalidProjectError) as info:
        loads(text.replace('"format": "torchcanvas"', '"format": "torchcanvas", "format": "x"'))
    assert info.value.path == "format"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_huge_integer_is_refused_with_its_field_path(tmp_path, capsys, command):
    path = project(
        tmp_path, text=lambda t: t.replace('"out_features": 5', '"out_features": ' + "9" * 5000, 1)
    )
    assert run(command, path, tmp_path) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert "nodes.n2.params.out_features: a number of 5,000 digits is too large" in err
    assert "int_max_str_digits" not in err and "4300" not in err


def test_huge_integers_in_lists_and_negative_ones():
    text = MLP.read_text()
    x, y = json.loads(text)["nodes"]["n2"]["pos"]
    pos = f'"pos": [{x}, {y}]'
    assert text.count(pos) == 1  # n2's, as the file spells it
    with pytest.raises(InvalidProjectError) as info:
        loads(text.replace(pos, f'"pos": [{x}, -' + "1" * 4500 + "]"))
    assert info.value.path == "nodes.n2.pos[1]"
    assert "4,500 digits" in info.value.reason


# --------------------------------------------------------------------------- ids and labels
ODD = "a\nb\u202ec" + "x" * 10_000


def test_shown_escapes_and_shortens():
    assert shown("plain_id-1.2") == "plain_id-1.2"
    assert shown("a\nb\tc\u202ed\\") == "a\\nb\\tc\\u202ed\\\\"
    assert shown("\ud800") == "\\ud800"
    assert shown("é漢字") == "é漢字"
    long = shown("x" * 10_000)
    assert len(long) == 49 and long.endswith("…")
    assert quoted("n1") == "'n1'"


@pytest.mark.parametrize("command", COMMANDS)
def test_an_invalid_id_is_shown_escaped_and_short(tmp_path, capsys, command):
    path = project(tmp_path, text=lambda t: t.replace('"n1"', json.dumps(ODD)))
    assert run(command, path, tmp_path) == 1
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.count("\n") == 1  # one line
    assert "\u202e" not in err and len(err) < 400
    assert "a\\nb\\u202ecxxx" in err and "…" in err


def test_labels_are_shown_escaped_in_messages_and_the_table(tmp_path, capsys):
    def odd_label(raw):
        raw["nodes"]["n2"]["label"] = "hid\nden\u202e"  # the line break loads as a space
        raw["nodes"]["n2"]["params"]["out_features"] = 10**12

    path = project(tmp_path, odd_label)
    assert run("check", path, tmp_path) == 1
    captured = capsys.readouterr()
    assert "node 'hid den\\u202e' (nn.Linear, id n2)" in captured.err
    assert "hid den\\u202e" in captured.out
    assert "\u202e" not in captured.out + captured.err


def test_a_label_inside_torchs_message_cannot_break_the_line(tmp_path, capsys):
    def odd_label(raw):  # shape inference's message starts with the label
        raw["nodes"]["n4"]["label"] = "out\nput\u202e"
        raw["nodes"]["n4"]["params"]["in_features"] = 7  # hidden gives 5

    path = project(tmp_path, odd_label)
    assert run("check", path, tmp_path) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\u202e" not in err
    assert "out put\\u202e" in err and "in_features" in err  # the line break loads as a space
