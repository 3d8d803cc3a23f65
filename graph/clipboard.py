"""Copy and paste of graph fragments: the nodes chosen, with the wires between them.

A fragment holding block instances carries their definitions (``"blocks"``, nested ones too),
so it can be pasted into another document: ``plan_paste`` reuses a definition the target
already has with the same body, and adds the others first (renamed when the name is taken by
a different block).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.document import Edge, Graph
from torchcanvas.graph.errors import InvalidProjectError

FRAGMENT_FORMAT = "torchcanvas-fragment"


def copy_fragment(graph: Graph, node_ids) -> dict[str, Any]:
    """A JSON-able fragment of ``node_ids`` and the wires among them (wires to others dropped)."""
    ids = [n for n in graph.node_ids() if n in set(node_ids)]
    nodes = {}
    for nid in ids:
        n = graph.node(nid)
        nodes[nid] = {
            "type": n.type_id,
            "label": n.label,
            "params": copy.deepcopy(n.params),
            "pos": list(n.pos),
        }
    edges = [
        {"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]}
        for e in graph.edges()
        if e.src in nodes and e.dst in nodes
    ]
    fragment = {"format": FRAGMENT_FORMAT, "nodes": nodes, "edges": edges}
    needed: set[str] = set()
    for nid in ids:
        n = graph.node(nid)
        if n.kind == "block":
            needed |= {n.params["block"], *graph.blocks_within(n.params["block"])}
    if needed:
        fragment["blocks"] = {
            name: copy.deepcopy(graph.block(name).to_dict()) for name in sorted(needed)
        }
    return fragment


def fragment_to_text(fragment: dict[str, Any]) -> str:
    return json.dumps(fragment, sort_keys=True)


def fragment_from_text(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidProjectError("", "the clipboard does not hold torchcanvas nodes") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FRAGMENT_FORMAT
        or not isinstance(data.get("nodes"), dict)
        or not isinstance(data.get("edges"), list)
    ):
        raise InvalidProjectError("", "the clipboard does not hold torchcanvas nodes")
    return data


@dataclass(frozen=True)
class PastePlan:
    nodes: list[tuple[str, str, dict[str, Any], str, tuple[float, float]]]
    # (new id, type id, params, label, position)
    edges: list[Edge]
    blocks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # block definitions to add first, in order: (name, body for Graph.add_block_def)


def _plan_blocks(graph: Graph, raw: Any) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    """Definitions to add and the name each fragment block has in ``graph``."""
    from torchcanvas.graph.serialize import _block_load_order

    if not isinstance(raw, dict) or not raw:
        return [], {}
    raw = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, dict)}
    try:
        order = _block_load_order(raw)
    except InvalidProjectError:  # blocks that contain themselves: paste none of them
        return [], {}
    adds: list[tuple[str, dict[str, Any]]] = []
    names: dict[str, str] = {}
    taken = set(graph.blocks)
    for name in order:
        body = copy.deepcopy(raw[name])
        nodes = body.get("nodes")
        for node in nodes.values() if isinstance(nodes, dict) else ():
            if not isinstance(node, dict) or not isinstance(node.get("params"), dict):
                continue
            params = node["params"]
            if (
                node.get("type") == "block"
                and isinstance(params.get("block"), str)
                and params["block"] in names
            ):
                params["block"] = names[params["block"]]
        text = json.dumps(body, sort_keys=True)
        if name in graph.blocks and json.dumps(graph.block(name).to_dict(), sort_keys=True) == text:
            names[name] = name  # the same definition: reuse it
            continue
        new, k = name, 1
        while new in taken:
            k += 1
            new = f"{name}{k}"
        taken.add(new)
        names[name] = new
        adds.append((new, body))
    return adds, names


def plan_paste(graph: Graph, fragment: dict[str, Any], offset: tuple[float, float]) -> PastePlan:
    """Fresh ids and unique labels for a fragment placed ``offset`` from where it was copied.

    Unknown types and malformed entries are skipped, never evaluated.
    """
    blocks, block_names = _plan_blocks(graph, fragment.get("blocks"))
    taken_labels = {n.label for n in graph.nodes()}
    new_ids: dict[str, str] = {}
    nodes = []
    reserved: set[str] = set()
    for old_id in sorted(fragment["nodes"]):
        raw = fragment["nodes"][old_id]
        if not isinstance(raw, dict) or raw.get("type") not in CATALOGUE:
            continue
        try:
            params = CATALOGUE[raw["type"]].validate_params(dict(raw.get("params") or {}))
            if raw["type"] == "block":
                if params["block"] not in block_names and params["block"] not in graph.blocks:
                    continue  # its definition did not come along
                params["block"] = block_names.get(params["block"], params["block"])
            x, y = (float(v) for v in raw.get("pos", (0, 0)))
        except (ValueError, TypeError):
            continue
        nid = graph.new_id()
        while nid in reserved:
            nid = graph.new_id()
        reserved.add(nid)
        new_ids[old_id] = nid
        label = str(raw.get("label") or CATALOGUE[raw["type"]].label_base)
        if label in taken_labels:
            base = re.sub(r"_?\d+$", "", label) or CATALOGUE[raw["type"]].label_base
            k = 1
            while f"{base}{k}" in taken_labels:
                k += 1
            label = f"{base}{k}"
        taken_labels.add(label)
        nodes.append((nid, raw["type"], params, label, (x + offset[0], y + offset[1])))
    edges = []
    for e in fragment["edges"]:
        try:
            (src, sp), (dst, dp) = e["from"], e["to"]
        except (KeyError, TypeError, ValueError):
            continue
        if src in new_ids and dst in new_ids:
            edges.append(Edge(new_ids[src], str(sp), new_ids[dst], str(dp)))
    return PastePlan(nodes, edges, blocks)
