"""The project file: canonical JSON, validated fully on load, saved atomically.

Format (version 1)::

    {"format": "torchcanvas", "version": 1,
     "nodes": {"n1": {"type": "nn.Linear", "label": "fc1", "params": {...}, "pos": [x, y]}},
     "edges": [{"from": ["n1", "out"], "to": ["n2", "x"]}],
     "settings": {"epochs": 10, ...}}

Keys are sorted and edges are in canonical order, so diffs of saved projects are readable.
Nothing in a project file is ever evaluated: params are plain JSON values checked by the catalogue.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.document import Graph, validate_label
from torchcanvas.graph.errors import (
    GraphError,
    InvalidProjectError,
    ParamError,
    UnsupportedVersionError,
)
from torchcanvas.graph.settings import validate_settings

FORMAT = "torchcanvas"
VERSION = 1
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def to_dict(graph: Graph) -> dict[str, Any]:
    nodes = {}
    for n in graph.nodes():
        nodes[n.id] = {
            "type": n.type_id,
            "label": n.label,
            "params": n.params,
            "pos": [round(n.pos[0], 2), round(n.pos[1], 2)],
        }
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in graph.edges()]
    return {
        "format": FORMAT,
        "version": VERSION,
        "nodes": nodes,
        "edges": edges,
        "settings": dict(graph.settings),
    }


_SCALAR_LIST = re.compile(r"\[\n\s+([^\[\]{}]*?)\n\s*\]")


def dumps(graph: Graph) -> str:
    """Canonical text: sorted keys, two-space indent, short lists of scalars on one line."""
    text = json.dumps(to_dict(graph), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False)
    # JSON strings never hold a raw newline, so ",\n" only separates items here.
    text = _SCALAR_LIST.sub(lambda m: "[" + ", ".join(
        item.strip() for item in m.group(1).split(",\n")) + "]", text)
    return text + "\n"


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write atomically: a temporary file beside the target, fsync, then rename over it."""
    path = Path(path)
    text = dumps(graph)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def loads(text: str) -> Graph:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidProjectError("", f"not valid JSON (line {exc.lineno}, column {exc.colno}): "
                                      f"{exc.msg}") from None
    except RecursionError:
        raise InvalidProjectError("", "JSON nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, from _refuse_constant
        raise InvalidProjectError("", str(exc)) from None
    return from_dict(data)


def load(path: str | os.PathLike) -> Graph:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidProjectError("", f"{path} is not a UTF-8 text file") from None
    return loads(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a project file")


def from_dict(data: Any) -> Graph:
    """Build a graph from parsed JSON; every problem raises with the path of the bad field."""
    _expect(data, dict, "", "a project must be a JSON object")
    if data.get("format") != FORMAT:
        raise InvalidProjectError("format", f"expected {FORMAT!r}, got {data.get('format')!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidProjectError("version", f"expected a positive whole number, got {version!r}")
    if version > VERSION:
        raise UnsupportedVersionError(version, VERSION)
    extra = set(data) - {"format", "version", "nodes", "edges", "settings"}
    if extra:
        raise InvalidProjectError(sorted(extra)[0], "unknown top-level field")

    settings = data.get("settings", {})
    _expect(settings, dict, "settings", "must be an object")
    try:
        graph = Graph(validate_settings(settings))
    except ParamError as exc:
        raise InvalidProjectError(f"settings.{exc.name}", exc.reason) from None

    nodes = data.get("nodes", {})
    _expect(nodes, dict, "nodes", "must be an object of id → node")
    edges = data.get("edges", [])
    _expect(edges, list, "edges", "must be a list")

    parsed_edges = []
    for i, e in enumerate(edges):
        where = f"edges[{i}]"
        _expect(e, dict, where, "must be an object with 'from' and 'to'")
        if set(e) != {"from", "to"}:
            raise InvalidProjectError(where, "an edge has exactly the fields 'from' and 'to'")
        ends = []
        for end in ("from", "to"):
            v = e[end]
            if (not isinstance(v, list) or len(v) != 2
                    or not all(isinstance(s, str) and s for s in v)):
                raise InvalidProjectError(f"{where}.{end}", "must be [node_id, port]")
            if v[0] not in nodes:
                raise InvalidProjectError(f"{where}.{end}", f"no node with id {v[0]!r}")
            ends.append(v)
        parsed_edges.append((where, ends[0], ends[1]))

    for nid in sorted(nodes):
        _load_node(graph, nid, nodes[nid], parsed_edges)

    for where, (src, sp), (dst, dp) in parsed_edges:
        try:
            graph.connect(src, sp, dst, dp)
        except GraphError as exc:
            raise InvalidProjectError(where, str(exc)) from None
    return graph


def _load_node(graph: Graph, nid: Any, raw: Any, edges: list) -> None:
    where = f"nodes.{nid}"
    if not isinstance(nid, str) or not nid or len(nid) > 64 or not set(nid) <= _ID_CHARS:
        raise InvalidProjectError(where, "a node id is 1-64 letters, digits, '_', '-' or '.'")
    _expect(raw, dict, where, "must be an object")
    allowed = {"type", "label", "params", "pos"}
    extra = set(raw) - allowed
    if extra:
        raise InvalidProjectError(f"{where}.{sorted(extra)[0]}", "unknown field")
    type_id = raw.get("type")
    if not isinstance(type_id, str) or not type_id:
        raise InvalidProjectError(f"{where}.type", "must be a node type id such as 'nn.Linear'")
    label = raw.get("label", nid)
    try:
        label = validate_label(label)
    except ParamError as exc:
        raise InvalidProjectError(f"{where}.label", exc.reason) from None
    params = raw.get("params", {})
    _expect(params, dict, f"{where}.params", "must be an object")
    pos = raw.get("pos", [0, 0])
    if (not isinstance(pos, list) or len(pos) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in pos)):
        raise InvalidProjectError(f"{where}.pos", "must be [x, y] numbers")

    if type_id not in CATALOGUE:
        ports: dict[str, set[str]] = {"in": set(), "out": set()}
        for _, (src, sp), (dst, dp) in edges:
            if src == nid:
                ports["out"].add(sp)
            if dst == nid:
                ports["in"].add(dp)
        _check_json_values(params, f"{where}.params")
        graph.add_placeholder(nid, type_id, label, params, tuple(pos), ports)
        return
    try:
        graph.add_node(type_id, params, label=label, pos=tuple(pos), node_id=nid)
    except ParamError as exc:
        raise InvalidProjectError(f"{where}.params.{exc.name}", exc.reason) from None


def _check_json_values(value: Any, where: str, depth: int = 0) -> None:
    if depth > 20:
        raise InvalidProjectError(where, "nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json_values(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_values(v, f"{where}[{i}]", depth + 1)


def _expect(value: Any, typ: type, where: str, message: str) -> None:
    if not isinstance(value, typ):
        raise InvalidProjectError(where, message)
