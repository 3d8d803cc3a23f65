"""A data node's samples in the inspector: read in the shape process after the node's transforms
and augmentation, drawn as an image grid, table rows or text snippets, read again after an edit
that changes them, and an unreadable file named. The window survives a read it no longer
waits for (another document opened, the window closed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication
from torchvision import transforms

from torchcanvas.assets import assets_dir
from torchcanvas.graph import Graph
from torchcanvas.gui.commands import SetLabel, SetParam
from torchcanvas.runtime.data import materialize
from torchcanvas.runtime.preview import data_samples

EXAMPLES = assets_dir() / "examples"
TIMEOUT = 120_000  # ms: the shape process reads on a busy machine


def by_label(graph, label: str) -> str:
    return next(n.id for n in graph.nodes() if n.label == label)


def read(qtbot, window, node_id: str):
    """Select ``node_id`` and wait for its samples (or the reason they cannot be read)."""
    window.scene.select_nodes([node_id])
    view = window.inspector.samples_view
    assert view is not None
    assert "Reading samples" in view.status.text()
    qtbot.waitUntil(
        lambda: view.samples is not None or "Cannot" in view.status.text(), timeout=TIMEOUT
    )
    return view


def hand_digits(graph, node_id: str, n: int, degrees: float) -> list[torch.Tensor]:
    """The first ``n`` training digits, rotated as the training loader rotates them."""
    node = graph.node(node_id)
    data = torch.load(materialize(node) / "digits.pt", weights_only=True)
    seed = graph.settings["seed"]
    order = torch.randperm(len(data["x"]), generator=torch.Generator().manual_seed(seed))
    train_idx = order[round(len(order) * graph.settings["val_split"]) :]
    plain = data["x"].reshape(-1, 1, 8, 8)[train_idx[:n]] / 16.0
    if not degrees:
        return list(plain)
    torch.manual_seed(seed)
    rotate = transforms.RandomRotation(degrees)
    return [rotate(img) for img in plain]


def shown_pixels(label, size: int = 8) -> np.ndarray:
    """The grey levels of a sample's picture, one per data pixel (read at each cell's centre)."""
    image = label.pixmap().toImage()
    step = image.height() // size
    return np.array(
        [
            [
                image.pixelColor(step * c + step // 2, step * r + step // 2).red()
                for c in range(size)
            ]
            for r in range(size)
        ]
    )


def expected_pixels(x: torch.Tensor) -> np.ndarray:
    a = x[0].double().numpy()
    lo, hi = a.min(), a.max()
    return np.round((a - lo) / (hi - lo) * 255).astype(int)


def test_digits_samples_are_the_augmented_pixels_and_follow_an_edit(qtbot, window):
    doc = window.doc
    digits = by_label(doc.graph, "digits")
    view = read(qtbot, window, digits)
    assert view.samples.kind == "image" and len(view.images) == 8
    plain = hand_digits(doc.graph, digits, 8, 0.0)
    for picture, x in zip(view.images, plain, strict=True):
        assert np.array_equal(shown_pixels(picture), expected_pixels(x))
    assert set(view.samples.labels) <= set("0123456789")

    # a label edit changes nothing the samples depend on: no new read
    token = window.inspector._samples_token
    assert doc.push(SetLabel(doc.graph, digits, "images"))
    qtbot.wait(2 * 300)
    assert window.inspector._samples_token == token and view.samples is not None

    # an augmentation edit reads them again: the rotated digits, pixel for pixel
    before = view.samples
    assert doc.push(SetParam(doc.graph, digits, "rotation_degrees", 30.0))
    assert "Reading samples again" in view.status.text()
    qtbot.waitUntil(
        lambda: view.samples is not before and view.samples is not None, timeout=TIMEOUT
    )
    rotated = hand_digits(doc.graph, digits, 8, 30.0)
    assert any(not torch.equal(r, p) for r, p in zip(rotated, plain, strict=True))
    for shown, x in zip(view.samples.inputs, rotated, strict=True):
        assert torch.equal(torch.from_numpy(shown), x)
    for picture, x in zip(view.images, rotated, strict=True):
        assert np.array_equal(shown_pixels(picture), expected_pixels(x))

    # undo reads them back as they were
    doc.undo_stack.undo()
    rotated_view = view.samples
    qtbot.waitUntil(lambda: view.samples is not rotated_view, timeout=TIMEOUT)
    for shown, x in zip(view.samples.inputs, plain, strict=True):
        assert torch.equal(torch.from_numpy(shown), x)


def test_iris_rows_and_text_snippets(qtbot, window):
    assert window.open_example(EXAMPLES / "iris_mlp.json")
    graph = window.doc.graph
    iris = by_label(graph, "iris")
    view = read(qtbot, window, iris)
    table = view.table
    assert table is not None and table.rowCount() == 8
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == [
        "target",
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    expected = data_samples(graph.node(iris), graph.settings, n=8)
    for r in range(8):
        assert table.item(r, 0).text() == expected.labels[r]
        assert [float(table.item(r, c).text()) for c in range(1, 5)] == pytest.approx(
            expected.inputs[r].tolist(), rel=1e-3, abs=1e-3
        )

    assert window.open_example(EXAMPLES / "sentiment_cnn.json")
    graph = window.doc.graph
    reviews = by_label(graph, "reviews")
    view = read(qtbot, window, reviews)
    expected = data_samples(graph.node(reviews), graph.settings, n=8)
    assert view.samples.kind == "text" and len(view.snippets) == 8
    first = view.snippets[0].text()
    assert expected.texts[0] in first and expected.labels[0] in first
    words = [t for t in expected.tokens[0] if t != "<pad>"]
    assert f"[{len(words)} tokens" in first
    assert " · ".join(words[:5]) in first


def test_an_unreadable_file_is_named_not_a_crash(qtbot, window, tmp_path):
    bad = tmp_path / "table.csv"
    bad.write_bytes(b"\x00\x01\xff\xfe not a table\n")
    graph = Graph()
    graph.add_node("data.CSV", params={"path": str(bad)}, label="houses")
    window.set_document(type(window.doc)(graph))
    view = read(qtbot, window, by_label(window.doc.graph, "houses"))
    text = view.status.text()
    assert text.startswith("Cannot read samples: houses: cannot read")
    assert str(bad) in text and "(param 'path')" in text
    assert view.samples is None and not view.images and view.table is None

    # fixed on disk and the path edited: the rows come
    good = tmp_path / "good.csv"
    good.write_text("a,b,target\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n")
    doc = window.doc
    assert doc.push(SetParam(doc.graph, by_label(doc.graph, "houses"), "path", str(good)))
    qtbot.waitUntil(lambda: view.table is not None, timeout=TIMEOUT)
    assert view.table.columnCount() == 3 and view.table.rowCount() >= 1


@pytest.mark.parametrize("how", ["another document", "close the window"])
def test_a_read_under_way_never_takes_the_window_down(qtbot, isolated, how):
    """The samples are read in the shape process: when the inspector goes (another document,
    the window closed) while a read is under way, its answer is dropped, no thread is left
    running, nothing aborts."""
    from torchcanvas.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    assert win.open_example(EXAMPLES / "digits_cnn.json")
    assert win.wait_for_shapes()
    digits = by_label(win.doc.graph, "digits")
    win.scene.select_nodes([digits])
    inspector = win.inspector
    qtbot.waitUntil(lambda: inspector._samples_token is not None, timeout=TIMEOUT)  # asked
    old = win.doc
    if how == "another document":
        assert win.open_example(EXAMPLES / "iris_mlp.json")
        assert win.inspector is not inspector
        qtbot.wait(1500)  # the old read's answer arrives and is dropped
        assert old._closed
        win.scene.select_nodes([by_label(win.doc.graph, "iris")])
        view = win.inspector.samples_view
        qtbot.waitUntil(lambda: view.table is not None, timeout=TIMEOUT)
        win.doc.undo_stack.setClean()
        win.close()
    else:
        win.doc.undo_stack.setClean()
        win.close()
        qtbot.wait(1500)
    for _ in range(5):
        QApplication.processEvents()
    assert old._closed
