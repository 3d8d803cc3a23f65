"""Layered automatic layout (left → right or top → down), without Qt.

Nodes are put in layers by their longest path from a source, ordered inside each layer by the
barycentre of their neighbours (a few up and down sweeps, which removes most wire crossings), and
stacked with their real sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from math import ceil

from torchcanvas.graph.document import Graph

Size = tuple[float, float]
TRAINING_KINDS = ("loss", "optimizer", "scheduler", "clip")

NODE_WIDTH = 150.0  # a node's width unless its port names need more
WIDTH_STEP = 10.0  # wider nodes grow on the canvas grid
MAX_NODE_WIDTH = 600.0  # past this, names are shortened with "…"
PORT_CLEAR = 11.0  # from a port's centre to its name: a lit circle's radius and a gap
NAMES_GAP = 6.0  # left → right, between an input's name and the output's name in its row


def approx_text_width(text: str) -> float:
    """A port name's width without a font at hand (a little wider than the canvas's 8 pt)."""
    return 6.2 * len(text)


def default_width(
    inputs: Sequence[str],
    outputs: Sequence[str],
    direction: str = "LR",
    text_width: Callable[[str], float] = approx_text_width,
) -> float:
    """The width a node is drawn with so that every port name fits whole: ``NODE_WIDTH``, or
    more on the ``WIDTH_STEP`` grid (up to ``MAX_NODE_WIDTH``). ``text_width`` measures a name
    in the port font (the canvas passes its font metrics).

    Left → right, row i holds input i's name at the left and output i's at the right, each
    ``PORT_CLEAR`` from its edge and ``NAMES_GAP`` apart. Top → down, a side with several
    ports spreads them evenly (a port every width / (n + 1)) and each name sits right of its
    circle, ``PORT_CLEAR`` from it and from the next one's."""
    need = 0.0
    if direction == "TB":
        for names in (inputs, outputs):
            if len(names) > 1:
                widest = max(text_width(n) for n in names)
                need = max(need, (len(names) + 1) * (widest + 2 * PORT_CLEAR + 1))
    else:
        for i in range(max(len(inputs), len(outputs))):
            a = text_width(inputs[i]) if i < len(inputs) else 0.0
            b = text_width(outputs[i]) if i < len(outputs) else 0.0
            need = max(need, a + b + 2 * PORT_CLEAR + NAMES_GAP + 2)
    if need <= NODE_WIDTH:
        return NODE_WIDTH
    return min(MAX_NODE_WIDTH, ceil(need / WIDTH_STEP) * WIDTH_STEP)


def default_size(graph: Graph, node_id: str, direction: str = "LR") -> Size:
    """Node size as the canvas draws it: ``default_width`` wide; left → right has a row per
    port, top → down has its ports on the edges and a strip for names on a side with several
    ports."""
    ins = [p.name for p in graph.input_ports(node_id)]
    outs = [p.name for p in graph.output_ports(node_id)]
    width = default_width(ins, outs, direction)
    if direction == "TB":  # header and footer 63; names above take 14, below 7 more
        return width, 63.0 + 14.0 * (len(ins) > 1) + 7.0 * (len(outs) > 1)
    return width, 60.0 + 22.0 * max(len(ins), len(outs), 1)


def layered_layout(
    graph: Graph,
    node_ids: Iterable[str] | None = None,
    direction: str = "LR",
    gap: tuple[float, float] | None = None,
    size: Callable[[Graph, str], Size] | None = None,
    origin: tuple[float, float] | None = None,
    training_band: bool = True,
) -> dict[str, tuple[float, float]]:
    """New positions for ``node_ids`` (default: all nodes). Wires leaving the set are ignored.

    ``direction`` is "LR" (layers are columns) or "TB" (layers are rows). ``origin`` is the
    top-left corner of the result; by default the selection's current top-left (or 0, 0).
    With ``training_band``, losses, optimizers, schedulers and clipping go in a band beside the
    network (below it for LR, right of it for TB) so the model reads as one line; the loss is
    level with the layer that feeds it (LR) or one step after it (TB), whichever keeps the
    wires short and forward.
    """
    if direction not in ("LR", "TB"):
        raise ValueError("direction is 'LR' or 'TB'")
    if gap is None:  # (along the flow, across it): room for a shape label on every wire
        gap = (80.0, 36.0) if direction == "LR" else (40.0, 70.0)
    if size is None:

        def size(g: Graph, n: str) -> Size:
            return default_size(g, n, direction)

    ids = set(graph.node_ids() if node_ids is None else node_ids)
    if not ids:
        return {}
    order = graph.topological_order(ids)
    preds: dict[str, list[str]] = {n: [] for n in ids}
    succs: dict[str, list[str]] = {n: [] for n in ids}
    for e in graph.edges():
        if e.src in ids and e.dst in ids:
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)

    layer: dict[str, int] = {}
    for n in order:
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
    # pull sources right next to their first consumer (data next to the first layer, etc.)
    for n in reversed(order):
        if not preds[n] and succs[n]:
            layer[n] = max(min(layer[s] for s in succs[n]) - 1, 0)

    layers: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    across = 1 if direction == "LR" else 0  # the coordinate that orders nodes inside a layer
    for n in sorted(
        ids,
        key=lambda n: (graph.node(n).pos[across], graph.node(n).pos[1 - across], order.index(n)),
    ):
        layers[layer[n]].append(n)

    rank = {n: float(i) for lay in layers for i, n in enumerate(lay)}
    for sweep in range(6):
        forward = sweep % 2 == 0
        sequence = layers[1:] if forward else list(reversed(layers[:-1]))
        for lay in sequence:

            def bary(n: str, forward: bool = forward) -> float:
                nbrs = preds[n] if forward else succs[n]
                return sum(rank[m] for m in nbrs) / len(nbrs) if nbrs else rank[n]

            lay.sort(key=lambda n: (bary(n), rank[n]))
            for i, n in enumerate(lay):
                rank[n] = float(i)

    band = {n for n in ids if graph.node(n).kind in TRAINING_KINDS} if training_band else set()
    if band and band != ids:
        # the band starts level with the deepest layer feeding it, then follows its own wires
        for n in order:
            if n in band:
                step = 1 if direction == "TB" else 0
                feeders = [layer[p] + step for p in preds[n] if p not in band]
                inner = [layer[p] + 1 for p in preds[n] if p in band]
                layer[n] = max(feeders + inner, default=0)
        layers = [[n for n in lay if n not in band] for lay in layers]
        band_layers: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
        for n in order:
            if n in band:
                band_layers[layer[n]].append(n)
        while len(layers) < len(band_layers):
            layers.append([])
    else:
        band_layers = []

    sizes = {n: size(graph, n) for n in ids}
    if origin is None:
        if node_ids is None:
            origin = (0.0, 0.0)
        else:
            origin = (
                min(graph.node(n).pos[0] for n in ids),
                min(graph.node(n).pos[1] for n in ids),
            )
    along_gap, across_gap = gap
    # extent of each layer along the flow, and of each layer's stack across it
    flow, cross = (0, 1) if direction == "LR" else (1, 0)

    def stack(lay: list[str]) -> float:
        return sum(sizes[n][cross] for n in lay) + across_gap * max(len(lay) - 1, 0)

    along = [
        max(
            (sizes[n][flow] for n in lay + (band_layers[i] if i < len(band_layers) else [])),
            default=0.0,
        )
        for i, lay in enumerate(layers)
    ]
    tallest = max(stack(lay) for lay in layers)
    positions: dict[str, tuple[float, float]] = {}

    def place(lay_list: list[list[str]], start: float, centred: bool) -> None:
        offset = 0.0
        for i, lay in enumerate(lay_list):
            cursor = start + ((tallest - stack(lay)) / 2 if centred else 0.0)
            for n in lay:
                a, b = offset, cursor
                x, y = (a, b) if direction == "LR" else (b, a)
                positions[n] = (round(origin[0] + x, 1), round(origin[1] + y, 1))
                cursor += sizes[n][cross] + across_gap
            offset += along[i] + along_gap

    place(layers, 0.0, True)  # centre each layer on the same line
    if band_layers:
        place(band_layers, tallest + 2.5 * across_gap, False)
    return positions
