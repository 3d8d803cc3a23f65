"""The Explain tab lays an image explanation's samples out in as many columns as its width
takes: none is cut at the right edge, and a wide tab is not left half empty (it was two
columns at any width)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint


def _explanation(n: int):
    """Eight real 8×8 digits-like samples with attribution maps, and their overlay panels."""
    from torchcanvas.runtime.explain import Explanation, overlay_panel

    rng = np.random.default_rng(0)
    inputs = rng.random((n, 1, 8, 8)).astype(np.float32)
    maps = rng.random((n, 8, 8)).astype(np.float32)
    result = Explanation(
        kind="image",
        method="gradcam",
        indices=list(range(n)),
        inputs=inputs,
        labels=[k % 10 for k in range(n)],
        predicted=[k % 10 for k in range(n)],
        targets=[k % 10 for k in range(n)],
        attributions=maps,
        classes=[str(k) for k in range(10)],
    )
    return result, [overlay_panel(x, a, 96) for x, a in zip(inputs, maps, strict=True)]


def _rows(view) -> dict[int, list]:
    """The cells by row, each with its rectangle in the viewport's coordinates."""
    viewport = view.scroll.viewport()
    rows: dict[int, list] = {}
    for cell in view.cells:
        top_left = cell.mapTo(viewport, QPoint(0, 0))
        rows.setdefault(top_left.y(), []).append((top_left.x(), cell.width()))
    return rows


def _check_fits(view) -> int:
    """Every cell lies inside the viewport's width; the number of columns of the first row."""
    width = view.scroll.viewport().width()
    rows = _rows(view)
    for cells in rows.values():
        for x, w in cells:
            assert x >= 0 and x + w <= width, (x, w, width)
    return len(rows[min(rows)])


def test_image_samples_fill_the_width_and_none_is_cut(qtbot):
    from torchcanvas.gui.insight.explain_view import ExplainView

    view = ExplainView()
    qtbot.addWidget(view)
    view.resize(1100, 600)
    view.show()
    qtbot.waitExposed(view)
    result, panels = _explanation(8)
    view._succeeded(result, panels)
    qtbot.wait(50)
    cell_w = view.cells[0].sizeHint().width()
    wide = _check_fits(view)
    assert wide >= 3 and wide == view.columns()  # 1100 px holds three ~300 px cells
    assert wide * cell_w <= view.scroll.viewport().width()
    # narrowed: fewer columns, still whole
    view.resize(420, 600)
    qtbot.waitUntil(lambda: view.columns() == 1 and _check_fits(view) == 1)
    # wide again
    view.resize(1100, 600)
    qtbot.waitUntil(lambda: _check_fits(view) == wide)
    assert len(view.cells) == 8 and view.grid.count() == 8
