"""The results view: confusion matrix, per-class table, regression scatter, sample images."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from torchcanvas.gui.training.confusion import row_normalised
from torchcanvas.gui.training.results import EMPTY_HINT, MAX_TILES, ResultsView, confusion_matrix
from torchcanvas.gui.training.samples import image_to_qimage

# the offscreen platform warns on every show(); that is not ours to fix
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

DIGITS = [str(i) for i in range(10)]
IRIS = ["setosa", "versicolor", "virginica"]


def metrics_from(cm) -> dict:
    """What runtime.metrics reports for this confusion matrix (numpy, no torch)."""
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(float)
    pred, true = cm.sum(0), cm.sum(1)
    p = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    r = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=p + r > 0)
    present = true > 0
    return {
        "accuracy": float(tp.sum() / cm.sum()),
        "precision": float(p[present].mean()),
        "recall": float(r[present].mean()),
        "f1": float(f[present].mean()),
        "per_class_precision": p.tolist(),
        "per_class_recall": r.tolist(),
        "confusion_matrix": cm.tolist(),
    }


def digits_matrix(seed: int = 0) -> np.ndarray:
    """360 validation digits, 36 a class, a few mistakes in each row."""
    rng = np.random.default_rng(seed)
    cm = np.zeros((10, 10), dtype=np.int64)
    for i in range(10):
        wrong = int(rng.integers(0, 5))
        cm[i, i] = 36 - wrong
        for _ in range(wrong):
            cm[i, rng.choice([j for j in range(10) if j != i])] += 1
    cm[4] = 0  # a class absent from this validation split
    return cm


@pytest.fixture
def view(qtbot):
    widget = ResultsView()
    qtbot.addWidget(widget)
    widget.resize(1000, 560)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def painted(widget) -> QImage:
    """Paint everything once (paint errors fail the test through pytest-qt)."""
    return widget.grab().toImage()


# ---------------------------------------------------------------------- classification
def test_confusion_image_is_the_metrics_matrix_and_normalises_per_row(view):
    cm = digits_matrix()
    view.show_epoch("classification", DIGITS, metrics_from(cm))
    assert view.mode() == "classification"
    np.testing.assert_array_equal(view.confusion_image(), cm)
    assert not view.normalise.isChecked()
    painted(view)

    view.normalise.setChecked(True)
    shown = view.confusion_image()
    np.testing.assert_allclose(shown, cm / np.maximum(cm.sum(1, keepdims=True), 1))
    np.testing.assert_allclose(shown.sum(1), [0.0 if i == 4 else 1.0 for i in range(10)])
    assert not np.isnan(shown).any()  # the empty row stays zero
    painted(view)

    # the setting survives the next epoch; unchecking shows counts again
    view.show_epoch("classification", DIGITS, metrics_from(digits_matrix(1)))
    np.testing.assert_allclose(view.confusion_image(), row_normalised(digits_matrix(1)))
    view.normalise.setChecked(False)
    np.testing.assert_array_equal(view.confusion_image(), digits_matrix(1))


def test_per_class_rows_headline_and_sortable_table(view):
    cm = digits_matrix()
    metrics = metrics_from(cm)
    view.show_epoch("classification", DIGITS, metrics)
    rows = view.per_class_rows()
    assert [r[0] for r in rows] == DIGITS
    np.testing.assert_allclose([r[1] for r in rows], metrics["per_class_precision"])
    np.testing.assert_allclose([r[2] for r in rows], metrics["per_class_recall"])
    assert [r[3] for r in rows] == cm.sum(1).tolist()
    assert sum(r[3] for r in rows) == cm.sum() == 36 * 9

    table = view.table
    assert table.rowCount() == 10
    assert [table.item(i, 0).text() for i in range(10)] == DIGITS
    assert [table.horizontalHeaderItem(c).text() for c in range(5)] == [
        "Class",
        "Precision",
        "Recall",
        "F1",
        "Support",
    ]
    assert table.item(3, 1).text() == f"{metrics['per_class_precision'][3]:.3f}"

    # sort by recall (numbers, not strings), then back by class
    table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    recalls = [float(table.item(i, 2).text()) for i in range(10)]
    assert recalls == sorted(recalls)
    table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
    supports = [int(table.item(i, 4).text()) for i in range(10)]
    assert supports == sorted(supports, reverse=True)
    assert view.per_class_rows() == rows  # the getter stays in class order
    # a new epoch keeps the user's sort
    view.show_epoch("classification", DIGITS, metrics_from(digits_matrix(2)))
    assert table.horizontalHeader().sortIndicatorSection() == 4
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [table.item(i, 0).text() for i in range(10)] == DIGITS

    head = view.headline()
    assert head["Accuracy"] == f"{metrics_from(digits_matrix(2))['accuracy']:.1%}"
    assert set(head) == {"Accuracy", "Precision", "Recall", "F1"}
    painted(view)


def test_class_names_on_the_axes_and_in_the_table(view, qtbot):
    cm = np.array([[10, 0, 0], [0, 9, 1], [0, 2, 8]])
    view.show_epoch("classification", IRIS, metrics_from(cm))
    assert view.matrix._names == IRIS
    assert [r[0] for r in view.per_class_rows()] == IRIS
    assert [r[3] for r in view.per_class_rows()] == [10, 10, 10]
    painted(view)

    # long names: elided on the axes, whole in the table's tooltips; hovering a cell describes it
    names = [f"a_rather_long_class_name_number_{i}" for i in range(15)]
    cm = np.random.default_rng(3).integers(0, 5, (15, 15)) + np.diag(np.full(15, 40))
    view.show_epoch("classification", names, metrics_from(cm))
    assert view.matrix._names == names
    assert view.table.item(7, 0).toolTip() == names[7]
    *_, shown, rotated, _, _, _ = view.matrix._layout()
    assert rotated and all(s.endswith(str(i)) for i, s in enumerate(shown))  # middle elided
    painted(view)
    cell, x0, y0, *_ = view.matrix._layout()
    QTest.mouseMove(view.matrix, QPoint(int(x0 + 2.5 * cell), int(y0 + 1.5 * cell)))
    qtbot.waitUntil(lambda: view.matrix._hover == (1, 2))
    assert view.matrix._describe(1, 2).startswith(f"true: {names[1]}\npredicted: {names[2]}")
    painted(view)


def test_binary_without_classes_and_matrix_from_predictions(view):
    probs = np.array([0.1, 0.8, 0.6, 0.3, 0.9, 0.2], dtype=np.float32)
    target = np.array([0, 1, 0, 0, 1, 1])
    view.show_epoch("binary", None, {"accuracy": np.float32(4 / 6)}, predictions=(probs, target))
    assert view.mode() == "classification"
    np.testing.assert_array_equal(view.confusion_image(), [[2, 1], [1, 2]])
    assert [r[0] for r in view.per_class_rows()] == ["0", "1"]
    assert view.headline()["Accuracy"] == "66.7%"

    # logits [N, C] without a matrix in the metrics: argmax per sample
    logits = np.eye(3)[[0, 1, 2, 2, 1]] * 5.0
    view.show_epoch("classification", IRIS, {}, predictions=(logits, np.array([0, 1, 2, 1, 1])))
    np.testing.assert_array_equal(view.confusion_image(), [[1, 0, 0], [0, 2, 1], [0, 0, 1]])
    assert confusion_matrix("binary", np.array([-2.0, 3.0]), np.array([0, 1])).tolist() == [
        [1, 0],
        [0, 1],
    ]  # logits threshold at 0


def test_many_classes_paint_without_numbers(view, qtbot):
    cm = np.random.default_rng(0).integers(0, 3, (60, 60)) + np.diag(np.full(60, 30))
    view.show_epoch("classification", None, metrics_from(cm))
    assert view.table.rowCount() == 60
    assert view.per_class_rows()[59][0] == "59"
    painted(view)
    view.resize(260, 220)  # cramped: cells of a pixel or two
    qtbot.wait(10)
    painted(view)


# ---------------------------------------------------------------------- regression
def test_regression_scatter_has_every_point_and_the_reference_line(view):
    rng = np.random.default_rng(0)
    true = rng.normal(3.0, 2.0, 12_000).astype(np.float32)
    pred = (true + rng.normal(0, 0.5, true.size)).astype(np.float32)
    err = pred.astype(float) - true
    metrics = {
        "mae": float(np.abs(err).mean()),
        "mse": float((err**2).mean()),
        "r2": float(1 - (err**2).mean() / true.var()),
    }
    view.show_epoch("regression", None, metrics, predictions=(pred[:, None], true))
    assert view.mode() == "regression"
    xs, ys = view.scatter_points()
    np.testing.assert_allclose(xs, true)
    np.testing.assert_allclose(ys, pred)
    assert view._points.data.size == 12_000
    lx, ly = view._reference.getData()
    lo, hi = min(true.min(), pred.min()), max(true.max(), pred.max())
    np.testing.assert_allclose(lx, [lo, hi], rtol=1e-6)
    np.testing.assert_array_equal(lx, ly)  # y = x
    title = view.plot.getPlotItem().titleLabel.text
    assert f"MAE {metrics['mae']:.4g}" in title and f"R² {metrics['r2']:.3f}" in title
    assert view.headline()["MAE"] == f"{metrics['mae']:.4g}"
    assert not view.normalise.isVisible() and not view.table.isVisible()
    assert view.per_class_rows() == [] and view.confusion_image().size == 0
    painted(view)


def test_regression_drops_non_finite_points_and_computes_missing_metrics(view):
    pred = np.array([1.0, np.nan, 3.0, 4.0])
    true = np.array([1.5, 2.0, np.inf, 3.0])
    view.show_epoch("regression", None, {}, predictions=(pred, true))
    xs, ys = view.scatter_points()
    assert xs.tolist() == [1.5, 3.0] and ys.tolist() == [1.0, 4.0]
    assert view.headline()["MAE"] == "0.75"
    painted(view)


# ---------------------------------------------------------------------- sample images
def fake_digits(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    inputs = rng.random((n, 1, 8, 8)).astype(np.float32) * 16.0
    targets = rng.integers(0, 10, n)
    predicted = targets.copy()
    predicted[[1, 5, 9]] = (predicted[[1, 5, 9]] + 1) % 10
    return inputs, predicted, targets


def test_image_grid_shows_sixteen_tiles_with_captions_and_marks_wrong_ones(view):
    inputs, predicted, targets = fake_digits(20)
    view.show_epoch(
        "classification",
        DIGITS,
        metrics_from(digits_matrix()),
        samples=(inputs, predicted, targets),
    )
    assert view.image_tiles() == MAX_TILES == 16
    assert view.tile_captions() == [
        f"pred: {p} / true: {t}" for p, t in zip(predicted[:16], targets[:16], strict=True)
    ]
    wrong = view.wrong_tiles()
    assert [i for i, w in enumerate(wrong) if w] == [1, 5, 9]
    assert view.samples.isVisible()
    painted(view)

    # logits as predictions and class names in the captions; RGB images
    rgb = np.random.default_rng(1).normal(size=(5, 3, 32, 32)).astype(np.float32)
    logits = np.eye(3)[[0, 1, 2, 0, 0]]
    view.show_epoch(
        "classification",
        IRIS,
        metrics_from(np.eye(3, dtype=int) * 5),
        samples=(rgb, logits, np.array([0, 1, 2, 1, 0])),
    )
    assert view.image_tiles() == 5
    assert view.tile_captions()[3] == "pred: setosa / true: versicolor"
    assert view.wrong_tiles() == [False, False, False, True, False]
    assert view.samples._images[0].format() == QImage.Format.Format_RGB888
    painted(view)


def test_no_grid_for_inputs_that_are_not_images(view):
    features = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    view.show_epoch(
        "classification",
        IRIS,
        metrics_from(np.eye(3, dtype=int)),
        samples=(features, np.zeros(8), np.zeros(8)),
    )
    assert view.image_tiles() == 0 and not view.samples.isVisible()
    seq = np.zeros((4, 5, 8, 8), dtype=np.float32)  # 5 channels: not an image we can show
    view.show_epoch(
        "classification",
        IRIS,
        metrics_from(np.eye(3, dtype=int)),
        samples=(seq, np.zeros(4), np.zeros(4)),
    )
    assert view.image_tiles() == 0
    view.show_epoch("classification", IRIS, metrics_from(np.eye(3, dtype=int)))
    assert view.image_tiles() == 0
    # per-pixel labels (segmentation): no caption fits, so no grid, and no error
    images = np.zeros((4, 3, 8, 8), dtype=np.float32)
    view.show_epoch(
        "classification",
        IRIS,
        metrics_from(np.eye(3, dtype=int)),
        samples=(images, np.zeros((4, 3, 8, 8)), np.zeros((4, 8, 8), dtype=int)),
    )
    assert view.image_tiles() == 0 and view.mode() == "classification"
    painted(view)


def test_images_are_normalised_per_image():
    img = image_to_qimage(np.array([[[-3.0, 1.0], [5.0, 1.0]]]))
    assert img.format() == QImage.Format.Format_Grayscale8
    assert [img.pixelColor(x, y).red() for y in range(2) for x in range(2)] == [0, 128, 255, 128]
    flat = image_to_qimage(np.full((1, 3, 3), 7.0))  # constant: no division by zero
    assert {flat.pixelColor(x, y).red() for y in range(3) for x in range(3)} == {0}
    nan = image_to_qimage(np.array([[[np.nan, 1.0, 3.0, np.inf]]]))  # range from finite values
    assert [nan.pixelColor(x, 0).red() for x in range(4)] == [0, 0, 255, 0]
    rgb = image_to_qimage(np.stack([np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2))]))
    assert rgb.pixelColor(0, 0).getRgb()[:3] == (0, 255, 0)


def test_regression_samples_show_values(view):
    inputs = np.random.default_rng(0).random((3, 1, 8, 8))
    view.show_epoch(
        "regression",
        None,
        {"mae": 0.1, "mse": 0.02, "r2": 0.9},
        predictions=(np.arange(3.0), np.arange(3.0)),
        samples=(inputs, np.array([[1.234], [2.0], [3.5]]), np.array([1.0, 2, 3])),
    )
    assert view.tile_captions() == [
        "pred: 1.23 / true: 1",
        "pred: 2 / true: 2",
        "pred: 3.5 / true: 3",
    ]
    assert view.wrong_tiles() == [False] * 3
    painted(view)


# ---------------------------------------------------------------------- states
def test_clear_and_task_switches(view):
    assert view.mode() == "empty" and view.hint() == EMPTY_HINT
    painted(view)
    inputs, predicted, targets = fake_digits(16)
    view.show_epoch(
        "classification",
        DIGITS,
        metrics_from(digits_matrix()),
        samples=(inputs, predicted, targets),
    )
    assert view.mode() == "classification" and view.image_tiles() == 16
    view.clear()
    assert view.mode() == "empty" and view.hint() == EMPTY_HINT
    assert view.image_tiles() == 0 and view.per_class_rows() == []
    assert view.confusion_image().size == 0 and view.scatter_points()[0].size == 0
    painted(view)

    view.show_epoch(
        "regression",
        None,
        {"mae": 1.0, "r2": 0.5},
        predictions=(np.arange(5.0), np.arange(5.0) + 1),
    )
    assert view.mode() == "regression" and view.scatter_points()[0].size == 5
    painted(view)
    view.show_epoch("binary", ["no", "yes"], metrics_from([[3, 1], [0, 4]]))
    assert view.mode() == "classification"
    assert view.scatter_points()[0].size == 0 and [r[0] for r in view.per_class_rows()] == [
        "no",
        "yes",
    ]
    assert view.table.isVisible() and view.normalise.isVisible()
    painted(view)
    view.show_epoch(
        "regression", None, {"mae": 1.0, "r2": 0.5}, predictions=(np.arange(5.0), np.arange(5.0))
    )
    assert view.mode() == "regression" and view.confusion_image().size == 0
    view.show_epoch("classification", IRIS, metrics_from(np.eye(3, dtype=int)))
    assert view.mode() == "classification" and view.confusion_image().shape == (3, 3)

    # nothing to show: an empty validation set, or a task without a view
    view.show_epoch("classification", IRIS, {}, predictions=(np.zeros((0, 3)), np.zeros(0)))
    assert view.mode() == "empty" and "empty" in view._detail.text()
    view.show_epoch("sequence", None, {"loss": 1.0})
    assert view.mode() == "empty" and view.hint() != EMPTY_HINT
    painted(view)


def test_several_views_in_one_process(qtbot):
    views = []
    for i in range(4):
        v = ResultsView()
        qtbot.addWidget(v)
        v.resize(700, 420)
        v.show()
        if i % 2:
            v.show_epoch("regression", None, {}, predictions=(np.arange(50.0), np.arange(50.0)))
        else:
            v.show_epoch(
                "classification", DIGITS, metrics_from(digits_matrix(i)), samples=fake_digits(16, i)
            )
        painted(v)
        views.append(v)
    for v in views:
        v.close()
        v.deleteLater()
    qtbot.wait(10)
    again = ResultsView()
    qtbot.addWidget(again)
    again.show_epoch("classification", IRIS, metrics_from(np.eye(3, dtype=int)))
    assert again.mode() == "classification"


def test_module_does_not_import_torch():
    code = (
        "import sys; import torchcanvas.gui.training.results; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------- real data
def test_a_real_digits_epoch(view, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.data import materialize
    from torchcanvas.runtime.trainer import EpochEvent, RunStarted, Trainer, TrainOptions

    monkeypatch.setenv("TORCHCANVAS_DATA_DIR", str(tmp_path / "data"))
    graph = load(assets_dir() / "examples" / "digits_cnn.json")
    graph.set_setting("device", "cpu")
    project = compile_project(graph)
    trainer = Trainer(project, TrainOptions(epochs=1))
    events = trainer.run()
    started = next(e for e in events if isinstance(e, RunStarted))
    epoch = next(e for e in events if isinstance(e, EpochEvent))
    prediction, target = epoch.predictions
    assert isinstance(prediction, torch.Tensor)

    # what the trainer will send for the grid: a few validation inputs, labels, targets
    _, val_set, _ = project.fn("make_datasets")(materialize(project.plan.data, None))
    inputs = torch.stack([val_set[i][0] for i in range(16)])
    with torch.no_grad():
        trainer.model.eval()
        labels = trainer.model(inputs).argmax(1)
    targets = torch.stack([val_set[i][1] for i in range(16)])

    view.show_epoch(
        started.task,
        list(started.classes),
        epoch.metrics,
        epoch.predictions,
        (inputs, labels, targets),
    )
    assert view.mode() == "classification"
    np.testing.assert_array_equal(view.confusion_image(), epoch.metrics["confusion_matrix"])
    rows = view.per_class_rows()
    assert sum(r[3] for r in rows) == len(target) == 359
    np.testing.assert_allclose([r[1] for r in rows], epoch.metrics["per_class_precision"])
    assert view.image_tiles() == 16
    assert view.wrong_tiles() == (labels != targets).tolist()
    assert view.tile_captions()[0] == f"pred: {int(labels[0])} / true: {int(targets[0])}"
    painted(view)


def test_the_window_draws_an_epochs_results_in_a_later_turn_once_per_burst(
    window, qtbot, monkeypatch
):
    # the epoch handler itself stays short: the results are drawn from a timer, and epochs
    # that arrive together are drawn once, the latest
    from torchcanvas.runtime.trainer import EpochEvent

    drawn = []
    monkeypatch.setattr(window.results, "show_epoch", lambda *a: drawn.append(a[2]["accuracy"]))
    window.training_dock.show()
    window.training_tabs.setCurrentWidget(window.results)
    window._run_task, window._run_classes = "classification", ["a", "b"]
    for epoch in (1, 2, 3):
        cm = np.array([[epoch, 1], [0, 3]])
        window._epoch_done(
            EpochEvent(
                epoch,
                epoch * 10,
                1.0,
                1.0,
                {"accuracy": epoch / 10, "confusion_matrix": cm},
                0.1,
                0.0,
                False,
            )
        )
    assert drawn == []
    qtbot.waitUntil(lambda: bool(drawn), timeout=2_000)
    qtbot.wait(150)
    assert drawn == [0.3]
