"""The data behind the live curves, kept apart from the widgets that draw them.

``CurveBuffer``: x/y float64 arrays that grow by doubling; a view of them stays valid while the
buffer grows. ``ema``: the smoothed loss, an exponential moving average continued from its last
value, vectorised. ``MinMaxPyramid``: block minima and maxima at block sizes 16·2^k, updated only
where new points landed, so drawing a million-point curve reads a few thousand extremes.
``DenseCurve`` (every step) and ``EpochCurve`` (every epoch) tie a buffer to its plot item.

No torch here: the GUI shows these plots before torch is imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg


# ------------------------------------------------------------------------------- buffers
class CurveBuffer:
    """x/y float64 arrays that grow by doubling.

    :meth:`view` returns slices of the current arrays (no copy). Appending never changes values
    a previous view can see: growth copies into new arrays and :meth:`clear` starts new ones, so
    a view handed to a plot item stays valid until the item gets new data.
    """

    __slots__ = ("_initial", "_n", "_x", "_y")

    def __init__(self, capacity: int = 1024) -> None:
        self._initial = max(1, int(capacity))
        self._x = np.empty(self._initial, dtype=np.float64)
        self._y = np.empty(self._initial, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return len(self._x)

    def _reserve(self, needed: int) -> None:
        capacity = len(self._x)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        n = self._n
        x = np.empty(capacity, dtype=np.float64)
        y = np.empty(capacity, dtype=np.float64)
        x[:n] = self._x[:n]
        y[:n] = self._y[:n]
        self._x, self._y = x, y

    def append(self, x: float, y: float) -> None:
        n = self._n
        self._reserve(n + 1)
        self._x[n] = x
        self._y[n] = y
        self._n = n + 1

    def extend(self, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> None:
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        ys = np.asarray(ys, dtype=np.float64).reshape(-1)
        if len(xs) != len(ys):
            raise ValueError(f"extend: {len(xs)} x values but {len(ys)} y values")
        k = len(xs)
        if not k:
            return
        n = self._n
        self._reserve(n + k)
        self._x[n : n + k] = xs
        self._y[n : n + k] = ys
        self._n = n + k

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        n = self._n
        return self._x[:n], self._y[:n]

    def clear(self) -> None:
        self._x = np.empty(self._initial, dtype=np.float64)
        self._y = np.empty(self._initial, dtype=np.float64)
        self._n = 0


# ------------------------------------------------------------------------------- smoothing
_EMA_CHUNK = 256


def ema(
    values: Sequence[float] | np.ndarray, smoothing: float, prev: float | None = None
) -> np.ndarray:
    """Exponential moving average ``s[t] = a·s[t-1] + (1-a)·x[t]`` with ``a = smoothing``,
    continuing from ``prev`` (the last smoothed value) or starting at ``s[0] = x[0]``.

    Non-finite inputs are skipped (the average holds its value there). Vectorised: numpy works
    on chunks of up to 256 values, Python only loops once per chunk."""
    return ema_state(values, smoothing, prev)[0]


def ema_state(values, smoothing: float, prev: float | None) -> tuple[np.ndarray, float | None]:
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(x)
    if n == 0:
        return np.empty(0), prev
    a = min(max(float(smoothing), 0.0), 1.0)
    finite = np.isfinite(x)
    if finite.all():
        out = _ema_finite(x, a, prev)
        return out, float(out[-1])
    kept = x[finite]
    smoothed = _ema_finite(kept, a, prev) if len(kept) else np.empty(0)
    last = np.cumsum(finite) - 1  # index into `smoothed` of the last finite value so far
    out = np.full(n, np.nan if prev is None else float(prev))
    seen = last >= 0
    out[seen] = smoothed[last[seen]]
    return out, (float(smoothed[-1]) if len(smoothed) else prev)


def _ema_finite(x: np.ndarray, a: float, prev: float | None) -> np.ndarray:
    n = len(x)
    s0 = float(x[0]) if prev is None else float(prev)
    if a <= 0.0:
        return x.copy()
    if a >= 1.0:
        return np.full(n, s0)
    # Within a chunk, s[k] = a^(k+1)·s0 + (1-a)·a^k·Σ_{j<=k} a^-j·x[j]. The chunk length keeps
    # a^-k·|x| far from overflow; the loss of precision is about chunk·eps, relative.
    decades = -math.log10(a)
    magnitude = math.log10(float(np.abs(x).max()) + 1.0)
    length = int(max(1, min(_EMA_CHUNK, (280.0 - magnitude) / decades)))
    chunks = -(-n // length)
    padded = np.zeros(chunks * length)
    padded[:n] = x
    xs = padded.reshape(chunks, length)
    k = np.arange(length, dtype=np.float64)
    local = np.cumsum(xs * a**-k, axis=1)
    local *= (1.0 - a) * a**k  # each chunk's average started from zero
    decay = a ** (k + 1)
    starts = np.empty(chunks)
    s = s0
    carry = a**length
    ends = local[:, -1].tolist()
    for c in range(chunks):
        starts[c] = s
        s = carry * s + ends[c]
    local += starts[:, None] * decay
    return local.reshape(-1)[:n]


# ------------------------------------------------------------------------------- decimation
class MinMaxPyramid:
    """Minima and maxima of a growing series over blocks of BASE·2^level points, updated
    incrementally: an append recomputes only the blocks its points fall in (and their parents).
    NaNs are ignored inside a block (a block of NaNs stays NaN: a gap)."""

    BASE = 16

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []
        self._lens: list[int] = []
        self.count = 0  # points covered

    def _write(self, level: int, start: int, mins: np.ndarray, maxs: np.ndarray) -> None:
        if level == len(self._lens):
            size = max(64, 2 * len(mins))
            self._mins.append(np.empty(size))
            self._maxs.append(np.empty(size))
            self._lens.append(0)
        end = start + len(mins)
        if end > len(self._mins[level]):
            size = len(self._mins[level])
            while size < end:
                size *= 2
            for store in (self._mins, self._maxs):
                grown = np.empty(size)
                grown[: self._lens[level]] = store[level][: self._lens[level]]
                store[level] = grown
        self._mins[level][start:end] = mins
        self._maxs[level][start:end] = maxs
        self._lens[level] = end

    def update(self, y: np.ndarray) -> None:
        """Take in ``y[self.count:]`` (``y`` is the whole series so far)."""
        n = len(y)
        if n <= self.count:
            return
        block = self.BASE
        start = self.count // block  # the last, partial block is recomputed
        segment = y[start * block : n]
        offsets = np.arange(0, len(segment), block)
        mins = np.fmin.reduceat(segment, offsets)
        maxs = np.fmax.reduceat(segment, offsets)
        self._write(0, start, mins, maxs)
        level = 0
        while self._lens[level] > 1:
            start //= 2
            length = self._lens[level]
            seg_min = self._mins[level][2 * start : length]
            seg_max = self._maxs[level][2 * start : length]
            offsets = np.arange(0, len(seg_min), 2)
            self._write(
                level + 1,
                start,
                np.fmin.reduceat(seg_min, offsets),
                np.fmax.reduceat(seg_max, offsets),
            )
            level += 1
        self.count = n

    def query(
        self, x: np.ndarray, y: np.ndarray, i0: int, i1: int, pixels: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw ``x[i0:i1], y[i0:i1]`` on ``pixels`` columns: the slice itself (a view)
        when it is short, else a (max, min) pair per block of about one pixel, ending on the
        exact last point."""
        count = i1 - i0
        if count <= 2 * pixels:
            return x[i0:i1], y[i0:i1]
        wanted = count / pixels  # points per pixel
        if wanted < 2 * self.BASE or not self._lens:
            size = 1 << max(1, math.ceil(math.log2(wanted)))
            segment = y[i0:i1]
            offsets = np.arange(0, count, size)
            maxs = np.fmax.reduceat(segment, offsets)
            mins = np.fmin.reduceat(segment, offsets)
            xs = x[i0:i1:size]
        else:
            level = min(max(0, math.ceil(math.log2(wanted / self.BASE))), len(self._lens) - 1)
            size = self.BASE << level
            j0 = i0 // size
            j1 = min(-(-i1 // size), self._lens[level])
            maxs = self._maxs[level][j0:j1]
            mins = self._mins[level][j0:j1]
            xs = x[j0 * size : min(j1 * size, len(x)) : size]
        m = len(maxs)
        xd = np.empty(2 * m + 1)
        yd = np.empty(2 * m + 1)
        xd[0 : 2 * m : 2] = xs
        xd[1 : 2 * m : 2] = xs
        yd[0 : 2 * m : 2] = maxs
        yd[1 : 2 * m : 2] = mins
        xd[-1] = x[i1 - 1]
        yd[-1] = y[i1 - 1]
        return xd, yd


class DenseCurve:
    """A per-step curve: buffer + pyramid + its PlotDataItem."""

    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self.buffer = CurveBuffer(4096)
        self.pyramid = MinMaxPyramid()
        self.dirty = False

    def clear(self) -> None:
        self.buffer.clear()
        self.pyramid.clear()
        self.item.setData(x=np.empty(0), y=np.empty(0))
        self.dirty = False

    def set(self, xs, ys) -> None:
        self.buffer.clear()
        self.pyramid.clear()
        self.buffer.extend(xs, ys)
        self.dirty = True

    def push(self, x_range: tuple[float, float] | None, pixels: int) -> None:
        x, y = self.buffer.view()
        n = len(x)
        self.dirty = False
        if n == 0:
            self.item.setData(x=np.empty(0), y=np.empty(0))
            return
        if n > 2 * pixels:
            self.pyramid.update(y)
        i0, i1 = 0, n
        if x_range is not None:
            i0 = max(0, int(np.searchsorted(x, x_range[0], "left")) - 1)
            i1 = min(n, int(np.searchsorted(x, x_range[1], "right")) + 1)
            if i1 - i0 < 2:  # nothing in view: keep the nearest points
                i0 = min(max(0, i0 - 1), n - 1)
                i1 = min(n, i0 + 2)
        xd, yd = self.pyramid.query(x, y, i0, i1, pixels)
        self.item.setData(x=xd, y=yd)


class EpochCurve:
    """A per-epoch curve (a few hundred points at most): buffer + item."""

    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self.buffer = CurveBuffer(64)
        self.dirty = False

    def clear(self) -> None:
        self.buffer.clear()
        self.item.setData(x=np.empty(0), y=np.empty(0))
        self.dirty = False

    def push(self) -> None:
        x, y = self.buffer.view()
        finite = np.isfinite(y)
        if not finite.all():  # a missing value (no validation set): leave it out
            x, y = x[finite], y[finite]
        self.item.setData(x=x, y=y)
        self.dirty = False
