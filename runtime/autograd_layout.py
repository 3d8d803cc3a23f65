"""A fast layered layout for large directed graphs (top → down), in plain Python.

Made for backward graphs of thousands of functions, where the canvas layout's quadratic steps
would be too slow. Roughly O((V + E) log V) per sweep:

1. Cycles (only after collapsing clusters) are broken by ignoring the back edges of a depth-first
   search from the sources.
2. Layers: the longest path from a source (the loss sits on top, each function above what it
   feeds, parameters right under the function that reads them).
3. Order inside a layer: depth-first discovery order, then a few barycentre sweeps down and up
   (each node moves to the mean position of its neighbours in the layers above or below).
4. x: each node wants to sit at the mean x of its parents; a left-to-right and a right-to-left
   packing pass keep the gaps, and their mean is packed once more.

No torch and no Qt: the GUI hands in sizes and gets positions back.
"""

from __future__ import annotations

from collections.abc import Sequence

Size = tuple[float, float]


def acyclic_order(n: int, edges: Sequence[tuple[int, int]]) -> tuple[list[int], set[int]]:
    """A topological order of ``range(n)`` after dropping back edges; returns (order, indices of
    the dropped edges). Depth first from the nodes without incoming edges, then the rest."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    indeg = [0] * n
    for k, (a, b) in enumerate(edges):
        out[a].append((b, k))
        indeg[b] += 1
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    post: list[int] = []
    back: set[int] = set()
    starts = [i for i in range(n) if indeg[i] == 0] + list(range(n))
    for s in starts:
        if state[s]:
            continue
        state[s] = 1
        stack = [(s, 0)]
        while stack:
            v, i = stack[-1]
            if i < len(out[v]):
                stack[-1] = (v, i + 1)
                w, k = out[v][i]
                if state[w] == 0:
                    state[w] = 1
                    stack.append((w, 0))
                elif state[w] == 1:
                    back.add(k)
            else:
                stack.pop()
                state[v] = 2
                post.append(v)
    post.reverse()
    return post, back


def layered(
    n: int,
    edges: Sequence[tuple[int, int]],
    sizes: Sequence[Size],
    gap: tuple[float, float] = (16.0, 36.0),
    sweeps: int = 4,
    satellites: bool = True,
) -> list[tuple[float, float]]:
    """Top-left positions of ``n`` nodes of the given sizes; edges point downward.

    With ``satellites``, a sink with a single parent (a parameter read by one function) sits
    on its parent's row, right beside it, so long chains stay straight and narrow."""
    if n == 0:
        return []
    if not satellites:
        return _layered(n, edges, sizes, gap, sweeps)
    indeg = [0] * n
    outdeg = [0] * n
    parent_of = [-1] * n
    for a, b in edges:
        if a != b:
            outdeg[a] += 1
            indeg[b] += 1
            parent_of[b] = a
    sat = [v for v in range(n) if outdeg[v] == 0 and indeg[v] == 1]
    is_sat = set(sat)
    hosts: dict[int, list[int]] = {}
    for v in sat:
        hosts.setdefault(parent_of[v], []).append(v)
    keep = [v for v in range(n) if v not in is_sat]
    new = {v: i for i, v in enumerate(keep)}
    core_sizes = []
    for v in keep:
        w, h = sizes[v]
        for s in hosts.get(v, ()):
            w += gap[0] / 2 + sizes[s][0]
            h = max(h, sizes[s][1])
        core_sizes.append((w, h))
    core_edges = [(new[a], new[b]) for a, b in edges if a in new and b in new]
    core = _layered(len(keep), core_edges, core_sizes, gap, sweeps)
    out: list[tuple[float, float]] = [(0.0, 0.0)] * n
    for v in keep:
        x, y = core[new[v]]
        out[v] = (x, y)
        x += sizes[v][0]
        for s in hosts.get(v, ()):
            x += gap[0] / 2
            out[s] = (x, y)
            x += sizes[s][0]
    return out


def _layered(
    n: int,
    edges: Sequence[tuple[int, int]],
    sizes: Sequence[Size],
    gap: tuple[float, float],
    sweeps: int,
) -> list[tuple[float, float]]:
    if n == 0:
        return []
    order, back = acyclic_order(n, edges)
    fwd = [e for k, e in enumerate(edges) if k not in back and e[0] != e[1]]
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for a, b in fwd:
        parents[b].append(a)
        children[a].append(b)

    layer = [0] * n
    for v in order:
        for w in children[v]:
            if layer[w] < layer[v] + 1:
                layer[w] = layer[v] + 1
    depth = max(layer) + 1
    rows: list[list[int]] = [[] for _ in range(depth)]
    for v in order:  # depth-first order keeps chains and subtrees together
        rows[layer[v]].append(v)

    pos = [0.0] * n  # position inside its row, scaled to 0..1 so rows compare

    def number(row: list[int]) -> None:
        span = max(len(row) - 1, 1)
        for i, v in enumerate(row):
            pos[v] = i / span

    for row in rows:
        number(row)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        seq = rows[1:] if down else rows[-2::-1]
        for row in seq:
            keys = {}
            for v in row:
                nbrs = parents[v] if down else children[v]
                keys[v] = sum(pos[u] for u in nbrs) / len(nbrs) if nbrs else pos[v]
            row.sort(key=keys.__getitem__)
            number(row)

    hgap, vgap = gap
    x = [0.0] * n
    y_of_row = []
    y = 0.0
    for row in rows:
        y_of_row.append(y)
        y += max(sizes[v][1] for v in row) + vgap
    for r, row in enumerate(rows):
        want = []
        for v in row:
            ps = parents[v]
            if r == 0 or not ps:
                want.append(None)
            else:
                want.append(sum(x[u] + sizes[u][0] / 2 for u in ps) / len(ps) - sizes[v][0] / 2)
        # rows without wishes (the top, or only roots) pack around the middle
        if all(w is None for w in want):
            total = sum(sizes[v][0] for v in row) + hgap * (len(row) - 1)
            cx = -total / 2
            for v in row:
                x[v] = cx
                cx += sizes[v][0] + hgap
            continue
        # fill the gaps in the wishes from the neighbours
        last = None
        for i, w in enumerate(want):
            if w is None:
                want[i] = last + sizes[row[i - 1]][0] + hgap if last is not None else None
            last = want[i]
        nxt = None
        for i in range(len(row) - 1, -1, -1):
            if want[i] is None:
                want[i] = nxt - sizes[row[i]][0] - hgap if nxt is not None else 0.0
            nxt = want[i]
        left = []
        edge = -float("inf")
        for i, v in enumerate(row):
            left.append(max(want[i], edge))
            edge = left[-1] + sizes[v][0] + hgap
        right = [0.0] * len(row)
        edge = float("inf")
        for i in range(len(row) - 1, -1, -1):
            v = row[i]
            right[i] = min(want[i], edge - sizes[v][0])
            edge = right[i] - hgap
        edge = -float("inf")
        for i, v in enumerate(row):
            x[v] = max((left[i] + right[i]) / 2, edge)
            edge = x[v] + sizes[v][0] + hgap
    return [(x[v], y_of_row[layer[v]]) for v in range(n)]
