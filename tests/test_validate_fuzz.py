"""Extreme values in every param: ``check`` and ``export`` agree, and neither prints a traceback.

Two sweeps. Every param of every node type in the catalogue, with every extreme value, through
the loader: it loads, or it is refused with the path of the field. Then hypothesis puts extreme
values into the params of the bundled examples' nodes and runs the real commands in-process:
``check`` rc 0 means shape inference succeeds and ``export`` of the code succeeds; ``check``
rc 1 means one clean message that names a node or a field; never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torchcanvas.graph import CATALOGUE, InvalidProjectError, load
from torchcanvas.graph.serialize import loads
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.data import assets_dir

# raw JSON text: what a hand-edited file can hold (some of it Python's json cannot even write)
INTS = [
    "0",
    "-1",
    "-2147483649",
    "2147483648",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1000000000000",
    "9" * 30,
    "9" * 5000,
    "-" + "9" * 5000,
]
FLOATS = [
    "0.0",
    "-0.0",
    "1e-320",
    "1e-46",
    "3.4e38",
    "3.5e38",
    "1e308",
    "-1e308",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    "0.5",
    "-0.5",
    "2.5",
]
STRINGS = [
    '""',
    '" "',
    '"auto"',
    '"\\u202e\\n\\t"',
    '"\\ud800"',
    json.dumps("x" * 10_000),
    '"import os"',
    "\"__import__('os').system('ls')\"",
    '"relu"',
    '"x"',
]
OTHERS = [
    "true",
    "false",
    "null",
    "[]",
    "{}",
    "[0]",
    "[-1, 9999999999999]",
    "[1e308]",
    "[" + "9" * 5000 + "]",
    '["a\\nb"]',
    '{"a": 1}',
    "[[1]]",
]
VALUES = INTS + FLOATS + STRINGS + OTHERS
# the ones a file can hold and a param may take, so that checks past the loader run too
LOADABLE = [
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "64",
    "2147483648",
    "1000000000000",
    "9223372036854775807",
    "-0.0",
    "1e-320",
    "3.4e38",
    "-3.4e38",
    "0.999",
    "true",
    "false",
    '"auto"',
    "[0, 0]",
    "[1, 1000000000]",
    "[]",
]

TRACEBACK = re.compile(r"Traceback|File \"|^\s+\^+$", re.M)
NAMED = re.compile(r"nodes\.[\w.-]+|node '[^']*' \([\w.]+, id [\w.-]+\)")


def _single(type_id: str, name: str, raw: str) -> str:
    """A project of one node of ``type_id`` with param ``name`` set to the JSON text ``raw``."""
    doc = {
        "format": "torchcanvas",
        "version": 2,
        "edges": [],
        "settings": {},
        "nodes": {"n1": {"type": type_id, "label": "node", "params": {name: "@@"}}},
    }
    return json.dumps(doc).replace('"@@"', raw)


def test_every_param_of_every_node_type_takes_extremes_cleanly():
    """The loader accepts or refuses each value with the path of its field, nothing else."""
    outcomes = {"accepted": 0, "refused": 0}
    for type_id, spec in sorted(CATALOGUE.items()):
        for param in spec.params:
            where = f"nodes.n1.params.{param.name}"
            for raw in VALUES:
                try:
                    loads(_single(type_id, param.name, raw))
                except InvalidProjectError as exc:
                    assert exc.path.startswith(where) or exc.path == "nodes.n1.type", (
                        type_id,
                        param.name,
                        raw[:40],
                        exc.path,
                        str(exc),
                    )
                    assert len(str(exc)) < 1500 and "\n" not in str(exc)
                    outcomes["refused"] += 1
                else:
                    outcomes["accepted"] += 1
    assert outcomes["accepted"] > 1000 and outcomes["refused"] > 10_000, outcomes


EXAMPLES = {
    p.stem: json.loads(p.read_text()) for p in sorted((assets_dir() / "examples").glob("*.json"))
}
for _raw in EXAMPLES.values():
    _raw.pop("results", None)
    _raw["settings"]["epochs"] = 1


@st.composite
def mutated(draw) -> tuple[str, str, str, str]:
    """(example, node id, param, JSON text of the project with that param set to an extreme)."""
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    raw = json.loads(json.dumps(EXAMPLES[name]))
    nid = draw(st.sampled_from(sorted(raw["nodes"])))
    node = raw["nodes"][nid]
    spec = CATALOGUE[node["type"]]
    param = draw(st.sampled_from([p.name for p in spec.params] or ["no_such_param"]))
    value = draw(st.sampled_from(VALUES) | st.sampled_from(LOADABLE) | st.sampled_from(LOADABLE))
    node.setdefault("params", {})[param] = "@@"
    return name, nid, param, json.dumps(raw).replace('"@@"', value, 1)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = cli_main(argv)
    return rc, err.getvalue()


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_check_agrees_with_export_on_extreme_params(case):
    name, nid, param, text = case
    event(f"{name}.{param}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        rc, err = _run(["check", str(path)])
        assert not TRACEBACK.search(err), err
        event(
            "check: ok"
            if rc == 0
            else "check: refused on loading"
            if f"{path}: " in err
            else "check: refused after loading"
        )
        if rc == 0:
            from torchcanvas.runtime.shapes import infer_shapes

            assert infer_shapes(load(path), folder).ok
            out = folder / "out"
            rc2, err2 = _run(["export", str(path), "--out", str(out), "--formats", "code"])
            assert rc2 == 0, (name, nid, param, err2)
            assert (out / "model.py").is_file() and (out / "train.py").is_file()
        else:
            assert rc == 1
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            assert NAMED.search(lines[0]), lines[0]
            assert "\u202e" not in err and len(err) < 1500, err[:300]
