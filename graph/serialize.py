"""The project file: canonical JSON, validated fully on load, saved atomically.

Format (version 2)::

    {"format": "torchcanvas", "version": 2,
     "nodes": {"n1": {"type": "nn.Linear", "label": "fc1", "params": {...}, "pos": [x, y]}},
     "edges": [{"from": ["n1", "out"], "to": ["n2", "x"]}],
     "settings": {"epochs": 10, ...},
     "blocks": {"ResidualBlock": {"nodes": {...}, "edges": [...]}}}

A node imported from a PyTorch model may also hold ``"origin"``: its module path in that model
(``"layer1.0.conv1"``), which the generated model uses to load the original weights.

``blocks`` (new in version 2, written only when there are any) holds the block definitions,
each with the same node and edge encoding as the main graph; a ``block`` node's
``params.block`` names one. Version-1 files (no blocks) still load.

``results`` (version 3, optional) keeps what shape inference found when the project was saved,
so a window can draw it before inference has run again::

    "results": {"version": 1, "graph": "<sha256 of the project without results>",
                "shapes": {"n2": {"out": ["B", 32]}}, "params": {"n2": [2080, 2080]},
                "resolved": {"n2": {"in_features": 64}}}

It is derived data: a section that is malformed, of an unknown version, or made for another
graph (the hash differs: the file was edited by hand) is ignored, never an error. A file without
results is written as version 2, which older versions read.

``sweep`` (version 4, optional) keeps the project's sweep: its search space and strategy, the
JSON that ``torchcanvas sweep --space`` reads (``graph.sweep``). Its form is checked on load;
its targets are checked against the graph when a sweep runs. A file without one is written as
before.

Keys are sorted and edges are in canonical order, so diffs of saved projects are readable.
Nothing in a project file is ever evaluated: params are plain JSON values checked by the catalogue.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.document import (
    BlockDef,
    Graph,
    is_utf8,
    is_valid_node_id,
    validate_label,
    validate_origin,
)
from torchcanvas.graph.errors import (
    BlockError,
    GraphError,
    InvalidProjectError,
    ParamError,
    PortError,
    UnsupportedVersionError,
    quoted,
    short_repr,
    shown,
)
from torchcanvas.graph.settings import SETTINGS, SPARSE_SETTINGS, validate_settings
from torchcanvas.graph.sweep import validate_sweep

FORMAT = "torchcanvas"
VERSION = 4  # the newest this reads; files are written with the oldest that holds them
SWEEP_VERSION = 4  # the first that holds a sweep
RESULTS_VERSION = 1


def body_to_dict(graph: Graph) -> dict[str, Any]:
    """The nodes and edges of a graph (the document, or a block's body)."""
    nodes = {}
    for n in graph.nodes():
        nodes[n.id] = {
            "type": n.type_id,
            "label": n.label,
            "params": n.params,
            "pos": [round(n.pos[0], 2), round(n.pos[1], 2)],
        }
        if n.origin is not None:
            nodes[n.id]["origin"] = n.origin
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in graph.edges()]
    return {"nodes": nodes, "edges": edges}


def to_dict(graph: Graph) -> dict[str, Any]:
    settings = {
        k: v
        for k, v in graph.settings.items()
        if k not in SPARSE_SETTINGS or v != SETTINGS[k].default
    }
    out = {"format": FORMAT, "version": 2, **body_to_dict(graph), "settings": settings}
    if graph.blocks and not graph.is_block_body:
        out["blocks"] = {name: body_to_dict(d.graph) for name, d in sorted(graph.blocks.items())}
    if graph.sweep is not None and not graph.is_block_body:
        out["version"] = SWEEP_VERSION
        out["sweep"] = copy.deepcopy(graph.sweep)
    return out


_SCALAR_LIST = re.compile(r"\[\n\s+([^\[\]{}]*?)\n\s*\]")


def fingerprint(data: dict[str, Any]) -> str:
    """The sha256 of a project dict (``to_dict``) in compact canonical JSON; the sweep and the
    version it needs are left out (they change no shape)."""
    if "sweep" in data:
        data = {k: v for k, v in data.items() if k != "sweep"} | {"version": 2}
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def results_to_dict(
    data: dict[str, Any],
    shapes: dict[tuple[str, str], tuple],
    param_counts: dict[str, int],
    trainable_counts: dict[str, int],
    resolved: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The ``results`` section for project ``data`` (``to_dict``) from a shape result's
    fields."""
    by_node: dict[str, dict[str, list]] = {}
    for (nid, port), shape in shapes.items():
        by_node.setdefault(nid, {})[port] = list(shape)
    return {
        "version": RESULTS_VERSION,
        "graph": fingerprint(data),
        "shapes": by_node,
        "params": {
            nid: [count, trainable_counts.get(nid, count)] for nid, count in param_counts.items()
        },
        "resolved": {k: dict(v) for k, v in resolved.items()},
    }


def dumps(graph: Graph, results: dict[str, Any] | None = None) -> str:
    """Canonical text: sorted keys, two-space indent, short lists of scalars on one line.
    ``results``: a ``results_to_dict`` section to keep with the project (version 3)."""
    data = to_dict(graph)
    if results is not None:
        data = {**data, "version": max(data["version"], 3), "results": results}
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    # JSON strings never hold a raw newline, so ",\n" only separates items here.
    text = _SCALAR_LIST.sub(
        lambda m: "[" + ", ".join(item.strip() for item in m.group(1).split(",\n")) + "]", text
    )
    return text + "\n"


def save(graph: Graph, path: str | os.PathLike, results: dict[str, Any] | None = None) -> None:
    """Write atomically: a temporary file beside the target, fsync, then rename over it."""
    path = Path(path)
    text = dumps(graph, results)
    try:  # mkstemp makes the file 0600; keep the mode the project had (or a new file's usual)
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode)
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


def _new_file_mode() -> int:
    """What ``open(path, "w")`` would give: 0o666 less the umask, read without changing it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


class _Object(dict):
    """A JSON object that held a key twice: ``duplicate`` is that key (the loader refuses it,
    naming its path; plain ``json`` would keep the last value and lose the first silently)."""

    duplicate: str


# markers the parse hooks below have made, ever: ``loads`` walks the parsed data for them only
# when this moved during its parse (another thread's parse can only cause a needless walk)
_marks = [0]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        _marks[0] += 1
        seen: set[str] = set()
        marked = _Object(obj)
        marked.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        return marked
    return obj


class _HugeInt:
    """A whole number with more digits than any field takes (Python could not even convert
    its text); refused with the path of its field."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


MAX_DIGITS = 4000  # under the 4,300 digits Python converts from text at most (sys.int_info)


def _int(text: str) -> int | _HugeInt:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        _marks[0] += 1
        return _HugeInt(digits)
    return int(text)


def loads(text: str) -> Graph:
    marks = _marks[0]
    try:
        data = json.loads(
            text, parse_constant=_refuse_constant, parse_int=_int, object_pairs_hook=_object
        )
    except json.JSONDecodeError as exc:
        raise InvalidProjectError(
            "", f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    except RecursionError:
        raise InvalidProjectError("", "JSON nested too deeply") from None
    # parsed JSON has text keys; a marker, or a lone surrogate (from a \udXXX escape or the
    # text itself), is found by the walk over every value, skipped when there can be none
    # (a tenth of a big project's load)
    odd = _marks[0] != marks or _SURROGATE_ESCAPE.search(text) is not None or not is_utf8(text)
    return from_dict(data, check_text=odd)


def load(path: str | os.PathLike) -> Graph:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidProjectError("", f"{path} is not a UTF-8 text file") from None
    return loads(text)


class _Constant:
    """``NaN``, ``Infinity`` or ``-Infinity`` in the text: refused with the path of its field."""

    def __init__(self, name: str) -> None:
        self.name = name


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    _marks[0] += 1
    return _Constant(name)


def from_dict(data: Any, check_text: bool = True) -> Graph:
    """Build a graph from parsed JSON; every problem raises with the path of the bad field.
    ``check_text=False`` skips the walk that refuses non-text keys, lone surrogates and the
    parse's markers (for data known to hold none)."""
    _expect(data, dict, "", "a project must be a JSON object")
    if check_text:
        _check_text(data)
    if data.get("format") != FORMAT:
        raise InvalidProjectError(
            "format", f"expected {FORMAT!r}, got {short_repr(data.get('format'))}"
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidProjectError(
            "version", f"expected a positive whole number, got {short_repr(version)}"
        )
    if version > VERSION:
        raise UnsupportedVersionError(version, VERSION)
    known = {"format", "version", "nodes", "edges", "settings", "blocks", "results", "sweep"}
    extra = set(data) - known
    if extra:
        raise InvalidProjectError(_text(sorted(extra)[0]), "unknown top-level field")

    settings = data.get("settings", {})
    _expect(settings, dict, "settings", "must be an object")
    try:
        graph = Graph(validate_settings(settings))
    except ParamError as exc:
        raise InvalidProjectError(f"settings.{exc.name}", exc.reason) from None

    if "blocks" in data and version < 2:
        raise InvalidProjectError("blocks", "blocks need format version 2")
    blocks = data.get("blocks", {})
    _expect(blocks, dict, "blocks", "must be an object of name → block definition")
    for name in _block_load_order(blocks):
        where = f"blocks.{_text(name)}"
        try:
            graph.check_block_name(name)
        except BlockError as exc:
            raise InvalidProjectError(where, str(exc)) from None
        body = body_from_dict(graph, name, blocks[name], where)
        graph._register(BlockDef(name, body))

    if "results" in data and version < 3:
        raise InvalidProjectError("results", "saved results need format version 3")
    _load_graph(graph, data.get("nodes", {}), data.get("edges", []), "")
    if "sweep" in data:
        if version < SWEEP_VERSION:
            raise InvalidProjectError("sweep", f"a sweep needs format version {SWEEP_VERSION}")
        graph.sweep = validate_sweep(data["sweep"])
    if "results" in data:
        graph.saved_results = _load_results(graph, data["results"])
    return graph


def _load_results(graph: Graph, raw: Any) -> dict[str, Any] | None:
    """The saved ``results`` section as plain mappings (``shapes`` by (node, port),
    ``param_counts``, ``trainable_counts``, ``resolved``), or None when it does not fit."""
    if not isinstance(raw, dict) or raw.get("version") != RESULTS_VERSION:
        return None
    if raw.get("graph") != fingerprint(to_dict(graph)):
        return None  # made for another graph: the file was changed since
    shapes, counts = raw.get("shapes"), raw.get("params")
    resolved = raw.get("resolved")
    if not (isinstance(shapes, dict) and isinstance(counts, dict) and isinstance(resolved, dict)):
        return None
    out: dict[str, Any] = {"shapes": {}, "param_counts": {}, "trainable_counts": {}, "resolved": {}}
    for nid, ports in shapes.items():
        if nid not in graph or not isinstance(ports, dict):
            return None
        for port, shape in ports.items():
            if (
                not isinstance(port, str)
                or not isinstance(shape, list)
                or not all(_is_dim(d) for d in shape)
            ):
                return None
            out["shapes"][(nid, port)] = tuple(shape)
    for nid, pair in counts.items():
        if (
            nid not in graph
            or not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in pair)
        ):
            return None
        out["param_counts"][nid], out["trainable_counts"][nid] = pair
    for key, params in resolved.items():
        if not isinstance(key, str) or not isinstance(params, dict):
            return None
        out["resolved"][key] = params
    return out


_DIM = re.compile(r"B(\*[1-9][0-9]{0,8})?|\?")


def _is_dim(d: Any) -> bool:
    if isinstance(d, bool):
        return False
    if isinstance(d, int):
        return 0 <= d < 2**63
    return isinstance(d, str) and _DIM.fullmatch(d) is not None


def body_from_dict(root: Graph, name: str | None, raw: Any, where: str) -> Graph:
    """A block body (``{"nodes": ..., "edges": ...}``) for definition ``name`` of ``root``,
    validated with paths under ``where`` (``blocks.Name``)."""
    _expect(raw, dict, where, "a block must be an object with 'nodes' and 'edges'")
    extra = set(raw) - {"nodes", "edges"}
    if extra:
        raise InvalidProjectError(f"{where}.{_text(sorted(extra)[0])}", "unknown field")
    body = Graph._new_body(root, name)
    _load_graph(body, raw.get("nodes", {}), raw.get("edges", []), f"{where}.")
    return body


def _block_load_order(blocks: dict[str, Any]) -> list[str]:
    """Definition names, each after the blocks its body uses; a definition that contains itself
    (directly or through others) is refused at the node that closes the loop."""
    uses: dict[str, list[tuple[str, str]]] = {}  # name → (node id, used name), sorted
    for name in sorted(blocks):
        raw = blocks[name]
        nodes = raw.get("nodes") if isinstance(raw, dict) else None
        found = []
        if isinstance(nodes, dict):
            for nid in sorted(nodes, key=str):
                node = nodes[nid]
                if not isinstance(node, dict):
                    continue
                params = node.get("params")
                if (
                    node.get("type") == "block"
                    and isinstance(params, dict)
                    and isinstance(params.get("block"), str)
                    and params["block"] in blocks
                ):
                    found.append((nid, params["block"]))
        uses[name] = found
    order: list[str] = []
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(name: str, path: list[tuple[str, str]]) -> None:
        state[name] = "open"
        for nid, used in uses[name]:
            if state.get(used) == "open":
                names = [*(n for n, _ in path), name]
                loop = [*names[names.index(used) :], used]
                raise InvalidProjectError(
                    f"blocks.{_text(name)}.nodes.{_text(nid)}.params.block",
                    f"block {used} contains itself ({' → '.join(loop)})",
                )
            if used not in state:
                visit(used, [*path, (name, nid)])
        state[name] = "done"
        order.append(name)

    for name in sorted(blocks):
        if name not in state:
            visit(name, [])
    return order


def _load_graph(graph: Graph, nodes: Any, edges: Any, prefix: str) -> None:
    """Nodes and edges into ``graph``; paths of bad fields start with ``prefix``."""
    _expect(nodes, dict, f"{prefix}nodes", "must be an object of id → node")
    _expect(edges, list, f"{prefix}edges", "must be a list")

    parsed_edges = []
    for i, e in enumerate(edges):
        where = f"{prefix}edges[{i}]"
        _expect(e, dict, where, "must be an object with 'from' and 'to'")
        if set(e) != {"from", "to"}:
            raise InvalidProjectError(where, "an edge has exactly the fields 'from' and 'to'")
        ends = []
        for end in ("from", "to"):
            v = e[end]
            if (
                not isinstance(v, list)
                or len(v) != 2
                or not all(isinstance(s, str) and s for s in v)
            ):
                raise InvalidProjectError(f"{where}.{end}", "must be [node_id, port]")
            if v[0] not in nodes:
                raise InvalidProjectError(f"{where}.{end}", f"no node with id {quoted(v[0])}")
            ends.append(v)
        parsed_edges.append((where, ends[0], ends[1]))

    for nid in sorted(nodes):
        _load_node(graph, nid, nodes[nid], parsed_edges, prefix)

    # one check of the whole file instead of a path search per wire; a file with a cycle takes
    # the per-wire way, which names the wire that closes it
    acyclic = _acyclic(nodes, parsed_edges)
    seen: dict[tuple[str, ...], str] = {}
    for where, (src, sp), (dst, dp) in parsed_edges:
        first = seen.setdefault((src, sp, dst, dp), where)
        if first != where:  # the whole edge is the problem, not one of its ends
            raise InvalidProjectError(where, f"the same wire as {first}")
        try:
            graph.connect(src, sp, dst, dp, check_cycle=not acyclic)
        except GraphError as exc:
            if isinstance(exc, PortError) and (exc.node_id, exc.port) == (src, sp):
                where += ".from"
            elif isinstance(exc, PortError) and (exc.node_id, exc.port) == (dst, dp):
                where += ".to"
            raise InvalidProjectError(where, str(exc)) from None


def _acyclic(nodes: dict, edges: list) -> bool:
    """The wires make no cycle (Kahn's algorithm over the parsed wires)."""
    indegree = dict.fromkeys(nodes, 0)
    out: dict[str, list[str]] = {}
    for _, (src, _sp), (dst, _dp) in edges:
        indegree[dst] += 1
        out.setdefault(src, []).append(dst)
    ready = [n for n, d in indegree.items() if d == 0]
    done = 0
    while ready:
        n = ready.pop()
        done += 1
        for m in out.get(n, ()):
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return done == len(indegree)


def _load_node(graph: Graph, nid: Any, raw: Any, edges: list, prefix: str = "") -> None:
    where = f"{prefix}nodes.{_text(nid)}"
    if not is_valid_node_id(nid):
        raise InvalidProjectError(where, "a node id is 1-64 letters, digits, '_', '-' or '.'")
    _expect(raw, dict, where, "must be an object")
    allowed = {"type", "label", "params", "pos", "origin"}
    extra = set(raw) - allowed
    if extra:
        raise InvalidProjectError(f"{where}.{_text(sorted(extra)[0])}", "unknown field")
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
    if (
        not isinstance(pos, list)
        or len(pos) != 2
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v) for v in pos
        )
    ):
        raise InvalidProjectError(f"{where}.pos", "must be [x, y] finite numbers")
    origin = raw.get("origin")
    if origin is not None:
        try:
            origin = validate_origin(origin)
        except ParamError as exc:
            raise InvalidProjectError(f"{where}.origin", exc.reason) from None

    if type_id not in CATALOGUE:
        ports: dict[str, set[str]] = {"in": set(), "out": set()}
        for _, (src, sp), (dst, dp) in edges:
            if src == nid:
                ports["out"].add(sp)
            if dst == nid:
                ports["in"].add(dp)
        _check_json_values(params, f"{where}.params")
        graph.add_placeholder(nid, type_id, label, params, tuple(pos), ports)
        graph.node(nid).origin = origin
        return
    try:
        graph.add_node(type_id, params, label=label, pos=tuple(pos), node_id=nid, origin=origin)
    except ParamError as exc:
        raise InvalidProjectError(f"{where}.params.{exc.name}", exc.reason) from None
    except BlockError as exc:
        raise InvalidProjectError(f"{where}.type", str(exc)) from None


def _check_json_values(value: Any, where: str, depth: int = 0) -> None:
    if depth > 20:
        raise InvalidProjectError(where, "nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json_values(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_values(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):  # 1e400 parses as inf
        raise InvalidProjectError(where, "numbers must be finite")
    elif isinstance(value, int) and value.bit_length() > 10_000:  # json.dumps could not write it
        raise InvalidProjectError(where, "number too large")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _check_text(data: Any) -> None:
    """Every key is text, and every string can be written back as UTF-8 (no lone surrogates,
    which JSON's \\ud800 escapes can smuggle in). Iterative: nesting depth is not bounded here;
    a path is only spelled out for the field that fails."""
    stack: list[tuple[Any, Any]] = [(data, None)]  # (value, (parent, key) link or None)
    while stack:
        value, link = stack.pop()
        if isinstance(value, dict):
            if isinstance(value, _Object):
                raise InvalidProjectError(
                    _spell((link, value.duplicate)),
                    f"the key {quoted(value.duplicate)} appears twice in this object; a "
                    "project file holds each key once (keep one of the two)",
                )
            for k, v in value.items():
                if not isinstance(k, str):
                    raise InvalidProjectError(_spell((link, repr(k))), "keys must be text")
                if not is_utf8(k):
                    raise InvalidProjectError(_spell((link, k)), "a key is not valid Unicode")
                stack.append((v, (link, k)))
        elif isinstance(value, list):
            stack.extend((v, (link, i)) for i, v in enumerate(value))
        elif isinstance(value, _Constant):
            raise InvalidProjectError(
                _spell(link),
                f"{value.name} is not allowed in a project file; numbers must be finite",
            )
        elif isinstance(value, _HugeInt):
            raise InvalidProjectError(
                _spell(link), f"a number of {value.digits:,} digits is too large for any field"
            )
        elif isinstance(value, str) and not is_utf8(value):
            raise InvalidProjectError(_spell(link), "text is not valid Unicode (lone surrogate)")


def _spell(link: Any) -> str:
    """``nodes.n1.params.sizes[2]`` from a (parent, key) chain; odd characters escaped."""
    parts = []
    while link is not None:
        link, key = link
        if isinstance(key, int) and not isinstance(key, bool):
            parts.append(f"[{key}]")
        else:
            text = shown(key, 64)
            parts.append(f".{text}" if link is not None else text)
    return "".join(reversed(parts))


def _text(key: Any) -> str:
    """A key as it appears in a field path (odd characters escaped, long ones cut)."""
    return shown(key, 64)


def _expect(value: Any, typ: type, where: str, message: str) -> None:
    if not isinstance(value, typ):
        raise InvalidProjectError(where, message)
