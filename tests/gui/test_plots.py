"""Live training curves: buffers, smoothing, decimation, the panels per task, the refresh timer."""

from __future__ import annotations

import gc
import math
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from torchcanvas.gui.training.curves import CurveBuffer, MinMaxPyramid, ema
from torchcanvas.gui.training.plots import TASK_METRICS, LivePlots, steady_range

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

CLASSIFICATION = ("accuracy", "precision", "recall", "f1")


def reference_ema(values, a, prev=None):
    out, s = [], prev
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan if s is None else s)
            continue
        s = v if s is None else a * s + (1 - a) * v
        out.append(s)
    return np.array(out)


def data(item):
    x, y = item.getData()
    return (np.empty(0), np.empty(0)) if x is None else (np.asarray(x), np.asarray(y))


def legend_labels(legend):
    return [label.text for _sample, label in legend.items]


@pytest.fixture
def plots(qtbot):
    widget = LivePlots()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.close()


def feed(plots, n=20, start=1, epochs=()):
    steps = np.arange(start, start + n, dtype=float)
    losses = 2.0 * np.exp(-steps / 10) + 0.1 * np.sin(steps)
    lrs = np.full(n, 1e-3)
    plots.add_steps(steps, losses, lrs)
    for e, step in enumerate(epochs, 1):
        acc = 0.5 + 0.1 * e
        plots.add_epoch(
            step,
            e,
            1.0 / e,
            1.2 / e,
            {
                "accuracy": acc,
                "precision": acc - 0.05,
                "recall": acc - 0.1,
                "f1": acc - 0.07,
                "confusion_matrix": [[1, 0], [0, 1]],
                "per_class_recall": [0.5, 0.5],
            },
        )
    return steps, losses, lrs


# ------------------------------------------------------------------------------- buffers
def test_curve_buffer_grows_by_doubling_keeps_data_and_returns_views():
    buf = CurveBuffer(4)
    assert len(buf) == 0 and buf.capacity == 4
    for i in range(5):
        buf.append(i, 10 * i)
    assert len(buf) == 5 and buf.capacity == 8
    before_x, _ = buf.view()
    buf.extend(np.arange(5, 20), 10 * np.arange(5, 20))
    assert len(buf) == 20 and buf.capacity == 32
    x, y = buf.view()
    np.testing.assert_array_equal(x, np.arange(20))
    np.testing.assert_array_equal(y, 10 * np.arange(20))
    assert x.dtype == np.float64 and y.dtype == np.float64
    # views, not copies: they share the buffer's memory
    assert np.shares_memory(x, buf.view()[0]) and x.base is not None
    # a view taken before growth still holds its values
    np.testing.assert_array_equal(before_x, np.arange(5))
    buf.extend([], [])
    assert len(buf) == 20
    with pytest.raises(ValueError):
        buf.extend([1, 2], [1])
    buf.clear()
    assert len(buf) == 0 and buf.capacity == 4
    assert buf.view()[0].shape == (0,)
    np.testing.assert_array_equal(x, np.arange(20))  # clear() leaves old views alone


@pytest.mark.parametrize("a", [0.0, 0.5, 0.9, 0.99])
def test_ema_matches_the_reference_incrementally(a):
    rng = np.random.default_rng(1)
    values = rng.normal(1.0, 0.5, 5000).cumsum() / 100
    expected = reference_ema(values, a)
    np.testing.assert_allclose(ema(values, a), expected, rtol=1e-9, atol=1e-12)
    # in batches, continuing from the last smoothed value
    out, prev, i = [], None, 0
    for size in (1, 7, 300, 1, 2000, 2691):
        part = ema(values[i : i + size], a, prev)
        prev = part[-1]
        out.append(part)
        i += size
    assert i == len(values)
    np.testing.assert_allclose(np.concatenate(out), expected, rtol=1e-9, atol=1e-12)


def test_ema_holds_its_value_over_non_finite_losses():
    values = np.array([np.nan, 1.0, 2.0, np.inf, np.nan, 4.0])
    np.testing.assert_allclose(ema(values, 0.5), reference_ema(values, 0.5), equal_nan=True)
    np.testing.assert_allclose(ema([np.nan], 0.5, prev=3.0), [3.0])


def test_min_max_pyramid_gives_the_block_extremes():
    rng = np.random.default_rng(2)
    n = 100_003
    y = rng.normal(size=n)
    y[5000:5100] = np.nan
    x = np.arange(n, dtype=float)
    pyramid = MinMaxPyramid()
    for end in (10, 17, 5000, 5050, 60_000, n):  # incremental updates
        pyramid.update(y[:end])
    for i0, i1, pixels in ((0, n, 500), (1234, 98_765, 300), (0, n, 2000), (40, 9000, 100)):
        xd, yd = pyramid.query(x, y, i0, i1, pixels)
        assert len(xd) <= 4 * pixels + 1
        assert xd[-1] == x[i1 - 1] and yd[-1] == y[i1 - 1]
        assert xd[0] <= x[i0]
        starts = xd[0:-1:2].astype(int)
        size = starts[1] - starts[0]
        assert size >= (i1 - i0) / pixels
        for k, s in enumerate(starts):
            block = y[s : s + size]
            if np.isnan(block).all():
                assert np.isnan(yd[2 * k]) and np.isnan(yd[2 * k + 1])
            else:
                assert yd[2 * k] == np.nanmax(block) and yd[2 * k + 1] == np.nanmin(block)
    # a short slice is handed over as a view of the data
    xd, yd = pyramid.query(x, y, 100, 400, 500)
    assert np.shares_memory(xd, x) and len(xd) == 300


def test_task_metrics_match_the_runtime_headline():
    pytest.importorskip("torch")
    from torchcanvas.runtime.metrics import HEADLINE

    assert TASK_METRICS == HEADLINE


def test_plots_module_does_not_import_torch():
    code = (
        "import sys, torchcanvas.gui.training.plots; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"QT_QPA_PLATFORM": "offscreen", **__import__("os").environ},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


# ------------------------------------------------------------------------------- widget
def test_steps_and_epochs_reach_the_items_on_refresh(plots, qtbot):
    plots.reset("classification", [str(i) for i in range(10)])
    steps, losses, lrs = feed(plots, n=20, epochs=(10, 20))
    assert plots.point_count == 20
    plots.refresh()
    x, y = data(plots.raw_curve)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, losses)
    x, y = data(plots.smooth_curve)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_allclose(y, reference_ema(losses, 0.9), rtol=1e-12)
    # the lr plot follows the loss plot's x range, which catches up when the view repaints;
    # until then pyqtgraph's clip-to-view shows the old range of what the item holds
    np.testing.assert_array_equal(plots.lr_curve.getOriginalDataset()[1], lrs)
    qtbot.waitUntil(lambda: len(data(plots.lr_curve)[1]) == 20, timeout=3000)
    np.testing.assert_array_equal(data(plots.lr_curve)[1], lrs)
    x, y = data(plots.val_curve)
    np.testing.assert_array_equal(x, [10, 20])
    np.testing.assert_allclose(y, [1.2, 0.6])
    x, y = data(plots.metric_curves["accuracy"])
    np.testing.assert_array_equal(x, [10, 20])
    np.testing.assert_allclose(y, [0.6, 0.7])
    np.testing.assert_allclose(data(plots.metric_curves["f1"])[1], [0.53, 0.63])

    # the smoothed curve continues from its last value over later batches
    more = feed(plots, n=15, start=21)
    plots.refresh()
    all_losses = np.concatenate([losses, more[1]])
    np.testing.assert_allclose(
        data(plots.smooth_curve)[1], reference_ema(all_losses, 0.9), rtol=1e-12
    )
    assert plots.point_count == 35


def test_metrics_panel_shows_the_tasks_metrics_only(plots):
    plots.reset("classification")
    assert tuple(plots.metric_curves) == CLASSIFICATION
    assert legend_labels(plots.metrics_legend) == list(CLASSIFICATION)
    assert plots.metrics_plot.isVisible()
    feed(plots, epochs=(10,))
    plots.add_epoch(20, 2, 0.5, 0.4, {"accuracy": 0.9, "loss": 3.0, "mse": 1.0})
    plots.refresh()
    assert np.isnan(plots._metrics["recall"].buffer.view()[1][-1])  # missing: left out
    assert len(data(plots.metric_curves["recall"])[0]) == 1
    lo, hi = plots.metrics_plot.vb.viewRange()[1]
    assert lo < 0.0 < 1.0 < hi < 1.2  # scores in 0..1 keep a fixed axis

    plots.reset("binary")
    assert tuple(plots.metric_curves) == CLASSIFICATION

    plots.reset("regression")
    assert tuple(plots.metric_curves) == ("mae", "r2")
    assert legend_labels(plots.metrics_legend) == ["MAE", "R²"]
    assert plots.metric_curves["r2"].getViewBox() is plots.metrics_right
    assert plots.metric_curves["mae"].getViewBox() is plots.metrics_plot.vb
    assert plots.metrics_right.isVisible()
    feed(plots)
    plots.add_epoch(20, 1, 1.0, 2.0, {"mae": 0.7, "mse": 0.9, "r2": 0.4})
    plots.refresh()
    np.testing.assert_allclose(data(plots.metric_curves["mae"])[1], [0.7])
    np.testing.assert_allclose(data(plots.metric_curves["r2"])[1], [0.4])

    plots.reset("other")
    assert plots.metric_curves == {}
    assert not plots.metrics_plot.isVisible()
    assert not plots.metrics_right.isVisible()
    plots.add_epoch(20, 1, 1.0, 2.0, {"whatever": 1.0})
    plots.refresh()
    np.testing.assert_allclose(data(plots.val_curve)[1], [2.0])


def test_reset_clears_the_run(plots):
    plots.reset("classification")
    feed(plots, n=50, epochs=(25, 50))
    plots.refresh()
    plots.show_values_at(10)
    plots.reset("classification")
    assert plots.point_count == 0
    for item in (
        plots.raw_curve,
        plots.smooth_curve,
        plots.lr_curve,
        plots.val_curve,
        *plots.metric_curves.values(),
    ):
        assert len(data(item)[0]) == 0
    assert not any(line.isVisible() for line in plots._crosshair)
    plots.refresh()  # nothing pending: still empty
    assert len(data(plots.raw_curve)[0]) == 0
    # a new run smooths from its own first value
    steps, losses, _ = feed(plots, n=5)
    plots.refresh()
    np.testing.assert_allclose(data(plots.smooth_curve)[1], reference_ema(losses, 0.9))


def test_log_toggle_sets_log_mode_on_the_loss_plot(plots, qtbot):
    plots.reset("classification")
    feed(plots)
    plots.refresh()
    plots.set_log_scale(True)
    assert plots.log_box.isChecked() and plots.log_scale
    assert plots.loss_plot.getAxis("left").logMode
    assert plots.raw_curve.opts["logMode"] == [False, True]
    assert plots.val_curve.opts["logMode"] == [False, True]
    assert not plots.lr_plot.getAxis("left").logMode  # only the loss plot
    x, y = data(plots.raw_curve)
    np.testing.assert_allclose(y, np.log10(plots._raw.buffer.view()[1]))
    plots.log_box.click()  # the checkbox in the toolbar
    assert not plots.log_scale
    assert not plots.loss_plot.getAxis("left").logMode
    assert plots.raw_curve.opts["logMode"] == [False, False]


def overlay_run(n=40, epochs=4, scale=1.0):
    steps = np.arange(1, n + 1, dtype=float)
    epoch_steps = np.linspace(n / epochs, n, epochs)
    return {
        "steps": steps,
        "losses": scale * np.exp(-steps / 20),
        "epoch_steps": epoch_steps,
        "val_loss": scale * np.linspace(1, 0.5, epochs),
        "accuracy": np.linspace(0.5, 0.8, epochs),
        "f1": np.linspace(0.4, 0.7, epochs),
    }


def test_overlays_appear_dimmed_with_a_legend_and_clear(plots):
    plots.reset("classification")
    feed(plots, epochs=(20,))
    plots.refresh()
    plots.set_overlays([("run A", overlay_run()), ("run B", overlay_run(scale=2.0))])
    items = plots.overlay_items
    # per run: smoothed train loss, val loss, accuracy and f1 (no precision/recall given)
    assert len(items) == 8
    assert all(item.zValue() < plots.raw_curve.zValue() for item in items)
    assert legend_labels(plots.loss_legend)[-2:] == ["run A", "run B"]
    assert legend_labels(plots.metrics_legend)[-2:] == ["run A", "run B"]
    train_a = items[0]
    x, y = data(train_a)
    np.testing.assert_array_equal(x, overlay_run()["steps"])
    np.testing.assert_allclose(y, reference_ema(overlay_run()["losses"], 0.9))
    assert train_a in plots.loss_plot.items
    metric_items = [i for i in items if i in plots.metrics_plot.items]
    assert len(metric_items) == 4
    # dimmed: the pen is the run colour blended into the background
    assert train_a.opts["pen"].color() != plots.raw_curve.opts["pen"].color()

    plots.reset("regression")  # overlays stay, with the new task's metrics (none given here)
    assert len(plots.overlay_items) == 4
    plots.set_overlays([])
    assert plots.overlay_items == []
    assert not any(item in plots.loss_plot.items for item in items)
    assert not any(item in plots.metrics_plot.items for item in items)
    assert "run A" not in legend_labels(plots.loss_legend)


def test_adding_data_does_not_draw_the_timer_does(plots, qtbot, monkeypatch):
    plots.reset("classification")
    assert plots.timer_interval_ms == 50
    calls = []
    original = plots.refresh
    monkeypatch.setattr(plots, "refresh", lambda: (calls.append(1), original())[1])
    for start in range(1, 1001, 10):  # 100 add calls
        feed(plots, n=10, start=start)
    plots.add_epoch(1000, 1, 0.5, 0.4, {"accuracy": 0.9})
    # nothing drawn yet: no refresh per add
    assert calls == []
    assert len(data(plots.raw_curve)[0]) == 0
    assert len(data(plots.val_curve)[0]) == 0
    qtbot.waitUntil(lambda: len(data(plots.raw_curve)[0]) == 1000, timeout=3000)
    assert len(data(plots.val_curve)[0]) == 1
    assert 1 <= len(calls) <= 2
    # idle: the timer stops instead of ticking for nothing
    qtbot.waitUntil(lambda: not plots._timer.isActive(), timeout=3000)
    count = len(calls)
    qtbot.wait(200)
    assert len(calls) == count


def test_a_hidden_widget_draws_when_shown(plots, qtbot):
    plots.reset("classification")
    plots.hide()
    feed(plots, n=30)
    qtbot.wait(150)
    assert len(data(plots.raw_curve)[0]) == 0
    plots.show()
    qtbot.waitUntil(lambda: len(data(plots.raw_curve)[0]) == 30, timeout=3000)


def test_many_points_are_decimated_with_their_extremes(plots, qtbot):
    plots.reset("regression")
    n = 300_000
    rng = np.random.default_rng(3)
    steps = np.arange(1, n + 1, dtype=float)
    losses = 1 + rng.random(n)
    losses[123_456] = 50.0  # a spike must survive decimation
    for i in range(0, n, 50_000):
        plots.add_steps(steps[i : i + 50_000], losses[i : i + 50_000], np.full(50_000, 0.1))
    plots.refresh()
    assert plots.point_count == n
    x, y = data(plots.raw_curve)
    assert len(x) < 5000
    assert x[0] == 1 and x[-1] == n  # the whole run, ending on the last step
    assert y.max() == 50.0 and y.min() == losses.min()
    # zoomed in: the visible slice at full resolution
    plots.loss_plot.vb.setXRange(1000, 1400, padding=0)
    qtbot.wait(10)
    x, y = data(plots.raw_curve)
    assert x[0] <= 1000 and x[-1] >= 1400 and len(x) <= 410
    np.testing.assert_array_equal(y, losses[int(x[0]) - 1 : int(x[-1])])
    # auto-range follows the whole run again
    plots.autorange_button.click()
    assert plots.loss_plot.vb.autoRangeEnabled()[0]
    qtbot.waitUntil(
        lambda: data(plots.raw_curve)[0][-1] == n and len(data(plots.raw_curve)[0]) < 5000,
        timeout=3000,
    )


def test_smoothing_box_recomputes_the_smoothed_curves(plots):
    plots.reset("classification")
    _, losses, _ = feed(plots, n=40)
    plots.set_overlays([("old", overlay_run())])
    plots.refresh()
    plots.smoothing_box.setValue(0.5)
    assert plots.smoothing == 0.5
    np.testing.assert_allclose(data(plots.smooth_curve)[1], reference_ema(losses, 0.5))
    np.testing.assert_allclose(
        data(plots.overlay_items[0])[1], reference_ema(overlay_run()["losses"], 0.5)
    )
    assert "smoothed (0.50)" in legend_labels(plots.loss_legend)
    plots.set_smoothing(0.0)
    np.testing.assert_allclose(data(plots.smooth_curve)[1], losses)
    # later steps continue with the new factor
    more = feed(plots, n=5, start=41)[1]
    plots.refresh()
    np.testing.assert_allclose(data(plots.smooth_curve)[1][-5:], more)


def test_missing_and_non_finite_values_draw_without_warnings(plots):
    plots.reset("classification")
    plots.add_steps([1, 2, 3, 4], [1.0, math.nan, math.inf, 0.5], [0.1, 0.1, 0.0, 0.1])
    plots.add_epoch(4, 1, math.nan, None, {"accuracy": None, "precision": "n/a"})
    plots.set_log_scale(True)
    plots.refresh()
    assert len(data(plots.val_curve)[0]) == 0
    assert len(data(plots.metric_curves["accuracy"])[0]) == 0
    plots.show_values_at(3)
    plots.grab()


def test_crosshair_readout_follows_the_mouse(plots, qtbot):
    plots.reset("classification")
    steps, losses, _ = feed(plots, n=20, epochs=(10, 20))
    plots.refresh()
    qtbot.wait(20)
    scene_pos = plots.loss_plot.vb.mapViewToScene(QPointF(12.2, 1.0))
    plots.graphics.scene().sigMouseMoved.emit(scene_pos)
    text = plots.readout.text()
    assert text.startswith("step 12 (epoch 2)")
    assert f"loss {losses[11]:.4g}" in text
    assert "epoch 1: val loss 1.2" in text and "acc 0.600" in text
    assert all(line.isVisible() for line in plots._crosshair if line.parentItem().isVisible())
    assert plots._crosshair[0].value() == pytest.approx(12.2)
    plots.graphics.scene().sigMouseMoved.emit(QPointF(-50, -50))  # outside every plot
    assert not any(line.isVisible() for line in plots._crosshair)


def test_creating_and_closing_five_in_a_row(qtbot):
    for k in range(5):
        widget = LivePlots()
        widget.resize(600, 400)
        widget.show()
        qtbot.waitExposed(widget)
        widget.reset("regression" if k % 2 else "classification")
        feed(widget, n=100, epochs=(50, 100))
        widget.set_overlays([("old", overlay_run())])
        widget.refresh()
        widget.grab()
        widget.close()
        widget.deleteLater()
        qtbot.wait(10)
        del widget
        gc.collect()


def test_steady_range_holds_while_the_data_fits_and_snaps_when_it_leaves():
    assert steady_range((0.03, 2.31), (0.0, 1.0)) == pytest.approx((0.0, 2.5))
    assert steady_range((0.2, 2.31), (0.0, 2.5)) == (0.0, 2.5)  # fits, fills most: kept
    assert steady_range((0.2, 0.9), (0.0, 2.5)) == pytest.approx((0.2, 0.9))  # fills < half
    # left the view below: snapped to steps of 0.5 (about an eighth of the span), then padded
    assert steady_range((-0.1, 2.3), (0.0, 2.5), padding=0.1) == pytest.approx((-0.8, 2.8))
    assert steady_range((1e-3, 1e-3), (0.0, 1.0)) != (1e-3, 1e-3)  # constant: a real span
    lo, hi = steady_range((1e-3, 1e-3), (0.0, 1.0))
    assert lo < 1e-3 < hi and hi - lo < 1e-3


def test_followed_axes_move_a_few_times_per_run_not_at_every_refresh(plots, qtbot):
    """A changed view range regenerates axes, tick labels and grid: the costly part of a repaint
    that competes with training. While following a run the ranges move in steps."""
    total = 3000
    plots.reset("classification", ["a", "b"], steps=(0, total))
    changes = []
    for plot in plots.plots:
        plot.vb.sigRangeChanged.connect(lambda *_a: changes.append(1))
    rng = np.random.default_rng(0)
    refreshes = 0
    for start in range(1, total, 20):
        steps = np.arange(start, start + 20, dtype=float)
        plots.add_steps(
            steps, 2 * np.exp(-steps / 300) + 0.1 * rng.random(20), 1e-3 * 0.99 ** (steps // 50)
        )
        if start % 100 == 1:
            plots.add_epoch(
                int(steps[-1]),
                start // 100,
                1.0,
                0.9,
                dict.fromkeys(CLASSIFICATION, 0.5 + start / (2 * total)),
            )
        plots.refresh()
        plots.graphics.viewport().repaint()  # auto-range runs before a paint
        refreshes += 1
    assert refreshes == 150
    assert len(changes) <= 15, len(changes)
    x0, x1 = plots.loss_plot.vb.viewRange()[0]
    assert x0 <= 0 and total <= x1 < 1.1 * total  # the whole run from its first step
    y0, y1 = plots.loss_plot.vb.viewRange()[1]
    x, y = data(plots.raw_curve)
    assert y0 <= y.min() and y.max() <= y1  # everything in view
    assert plots.lr_plot.vb.viewRange()[1][0] <= 0.0  # the schedule against zero
    # zoomed by the user, then auto-range: follows the whole run again
    plots.loss_plot.vb.setXRange(100, 200, padding=0)
    assert not plots.loss_plot.vb.autoRangeEnabled()[0]
    plots.autorange_button.click()
    plots.graphics.viewport().repaint()
    assert plots.loss_plot.vb.viewRange()[0][1] >= total


def test_the_lr_axis_label_stays_short_with_small_rates(plots, qtbot):
    """Rates of 1e-3 once made the label "lr (x0.001)", longer than the short lr plot is
    tall, so it ran over the metrics plot's label above it; the ticks say 0.001 instead."""
    plots.reset("classification", [str(i) for i in range(10)])
    feed(plots, n=20, epochs=(10, 20))
    plots.refresh()
    axis = plots.lr_plot.getAxis("left")
    qtbot.wait(50)  # the axes take their ranges when the view repaints
    assert axis.autoSIPrefixScale == 1.0 and "(x" not in axis.labelString()
    label = axis.label.boundingRect().width()  # the label is drawn turned: width is its length
    assert label <= axis.height(), (label, axis.height())
