"""Copy and paste of graph fragments: the nodes chosen, with the wires between them."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
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
        nodes[nid] = {"type": n.type_id, "label": n.label, "params": copy.deepcopy(n.params),
                      "pos": list(n.pos)}
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in graph.edges()
             if e.src in nodes and e.dst in nodes]
    return {"format": FRAGMENT_FORMAT, "nodes": nodes, "edges": edges}


def fragment_to_text(fragment: dict[str, Any]) -> str:
    return json.dumps(fragment, sort_keys=True)


def fragment_from_text(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidProjectError("", "the clipboard does not hold torchcanvas nodes") from None
    if not isinstance(data, dict) or data.get("format") != FRAGMENT_FORMAT or \
            not isinstance(data.get("nodes"), dict) or not isinstance(data.get("edges"), list):
        raise InvalidProjectError("", "the clipboard does not hold torchcanvas nodes")
    return data


@dataclass(frozen=True)
class PastePlan:
    nodes: list[tuple[str, str, dict[str, Any], str, tuple[float, float]]]
    # (new id, type id, params, label, position)
    edges: list[Edge]


def plan_paste(graph: Graph, fragment: dict[str, Any], offset: tuple[float, float]) -> PastePlan:
    """Fresh ids and unique labels for a fragment placed ``offset`` from where it was copied.

    Unknown types and malformed entries are skipped, never evaluated.
    """
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
    return PastePlan(nodes, edges)
