"""The runs list: reading run folders (real and broken), rename, delete, resume and compare."""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from torchcanvas.gui.training.run_folders import (
    MAX_NAME,
    RunInfo,
    delete_run,
    load_runs,
    overlay_data,
    rename_run,
)
from torchcanvas.gui.training.runs import EMPTY_HINT, RunsWidget

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support")

T0 = datetime(2025, 3, 4, 9, 15, 0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Two short real trainings, the way the window keeps them: linear regression (older)
    and the iris MLP (newer), each in a folder made by gui.training.new_run_dir."""
    from torchcanvas.assets import assets_dir
    from torchcanvas.graph import load
    from torchcanvas.gui.training.controller import new_run_dir
    from torchcanvas.runtime.compile import compile_project
    from torchcanvas.runtime.trainer import RunFinished, Trainer, TrainOptions

    base = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHCANVAS_DATA_DIR", str(base / "data"))
        mp.setenv("TORCHCANVAS_RUNS_DIR", str(base / "runs"))
        for minutes, example in ((0, "linear_regression"), (5, "iris_mlp")):
            path = assets_dir() / "examples" / f"{example}.json"
            folder = new_run_dir(path)
            (folder / "project.json").write_text(path.read_text(), encoding="utf-8")
            (folder / "run.json").write_text(
                json.dumps(
                    {
                        "name": folder.name,
                        "project": str(path),
                        "started": (T0 + timedelta(minutes=minutes)).isoformat(timespec="seconds"),
                        "resumed_from": None,
                    },
                    indent=2,
                ),
                encoding="utf-8",
            )
            events = Trainer(
                compile_project(load(path)), TrainOptions(out_dir=folder, epochs=2)
            ).run()
            assert isinstance(events[-1], RunFinished), events[-1]
            (folder / "example").write_text(example)  # for the tests to tell them apart
    return base / "runs"


@pytest.fixture
def root(trained, isolated, monkeypatch) -> Path:
    """A fresh copy of the trained runs folder, as TORCHCANVAS_RUNS_DIR."""
    path = isolated / "runs"
    shutil.copytree(trained, path)
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(path))
    return path


def _by_example(root: Path) -> dict[str, Path]:
    return {(f / "example").read_text(): f for f in root.iterdir() if (f / "example").exists()}


@pytest.fixture
def widget(qtbot, root):
    w = RunsWidget()
    qtbot.addWidget(w)
    w.resize(900, 300)
    w.show()
    w.set_root(root)
    return w


def _rows(w: RunsWidget) -> list[list[str]]:
    tree = w.tree
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]


def _headers(w: RunsWidget) -> list[str]:
    return [w.tree.headerItem().text(c) for c in range(w.tree.columnCount())]


# ------------------------------------------------------------------------------- data
def test_load_runs_reads_real_run_folders(root):
    folders = _by_example(root)
    runs = load_runs(root)
    assert [r.folder for r in runs] == [folders["iris_mlp"], folders["linear_regression"]]
    iris, linear = runs
    for info in runs:
        assert info.status == "completed" and info.epochs == 2 and info.has_checkpoint
        assert info.name == info.folder.name  # run.json's name
        assert len(info.history) == 2 and info.final["epoch"] == 2
        assert info.checkpoint == info.folder / "checkpoint.pt"
    assert iris.started == "2025-03-04T09:20:00" and iris.started_text() == "2025-03-04 09:20"
    assert 0 <= iris.final["accuracy"] <= 1 and "mae" in linear.final and "r2" in linear.final
    metrics = json.loads((iris.folder / "metrics.json").read_text())
    assert iris.global_step == metrics["global_step"] and iris.final == metrics["final"]

    data = overlay_data(iris)
    per_epoch = metrics["global_step"] / 2
    assert data["epoch_steps"] == [per_epoch, 2 * per_epoch]  # where the epochs ended
    assert data["epochs"] == [1, 2]
    assert data["val_loss"] == [h["val_loss"] for h in metrics["history"]]
    assert data["train_loss"] == [h["train_loss"] for h in metrics["history"]]
    assert data["accuracy"] == [h["accuracy"] for h in metrics["history"]]
    assert "confusion_matrix" not in data and "steps" not in data  # scalars only
    assert set(overlay_data(linear)) >= {"mae", "r2", "val_loss", "epoch_steps"}


def test_load_runs_tolerates_broken_folders(root):
    def folder(name: str, **files: str) -> Path:
        path = root / name
        path.mkdir()
        for file, text in files.items():
            (path / file.replace("_", ".")).write_text(text)
        return path

    ok_meta = json.dumps({"name": "fine", "started": "2025-03-04T10:00:00"})
    broken_run = folder("a", run_json='{"name": "half wri')
    list_run = folder("b", run_json="[1, 2]")
    broken_metrics = folder("c", run_json=ok_meta, metrics_json="{not json")
    no_metrics = folder("d", run_json=json.dumps({"name": "starting", "started": "???"}))
    odd_types = folder(
        "e",
        run_json=json.dumps({"name": "", "started": 5}),
        metrics_json=json.dumps(
            {"status": 3, "epochs": "x", "global_step": None, "final": [], "history": {"a": 1}}
        ),
    )
    folder("not-a-run", metrics_json="{}")  # no run.json: skipped
    folder("empty")
    (root / "notes.txt").write_text("not a folder")
    (root / "link").symlink_to(no_metrics, target_is_directory=True)

    runs = {r.folder.name: r for r in load_runs(root)}
    assert set(runs) == {"a", "b", "c", "d", "e", *(f.name for f in _by_example(root).values())}
    assert runs["a"].status == runs["b"].status == "unreadable"
    assert runs["a"].name == "a" and "run.json" in runs["a"].problem
    assert runs["c"].status == "unreadable" and runs["c"].name == "fine"
    assert "metrics.json" in runs["c"].problem
    assert runs["d"].status == "unknown" and runs["d"].epochs == 0 and runs["d"].history == []
    assert not runs["d"].has_checkpoint and overlay_data(runs["d"])["epoch_steps"] == []
    e = runs["e"]
    assert (e.name, e.status, e.epochs, e.final, e.history) == ("e", "unknown", 0, {}, [])
    order = [r.folder.name for r in load_runs(root)]  # by started time, else folder time
    folders = _by_example(root)
    assert set(order[:4]) == {"a", "b", "d", "e"}  # no usable started time: just made
    assert order[4:] == ["c", folders["iris_mlp"].name, folders["linear_regression"].name]
    assert broken_run.exists() and list_run.exists() and broken_metrics.exists()
    assert odd_types.exists()
    assert load_runs(root / "missing") == [] and load_runs(None) == []


def test_a_run_stopped_mid_epoch_uses_its_siblings_steps_per_epoch(root):
    iris = load_runs(root)[0]
    per_epoch = iris.global_step // 2
    stopped = root / "stopped"
    stopped.mkdir()
    (stopped / "run.json").write_text(json.dumps({"name": "s", "started": "2025-03-05T00:00"}))
    metrics = json.loads((iris.folder / "metrics.json").read_text())
    metrics.update(
        status="stopped", epochs=1, global_step=per_epoch + 3, history=metrics["history"][:1]
    )
    (stopped / "metrics.json").write_text(json.dumps(metrics))
    info = next(r for r in load_runs(root) if r.folder == stopped)
    assert info.steps_per_epoch == per_epoch
    assert overlay_data(info)["epoch_steps"] == [per_epoch]
    alone = RunInfo(stopped, "s", status="stopped", epochs=1, global_step=per_epoch + 3)
    assert alone.steps_per_epoch == per_epoch + 3  # no sibling: the estimate


def test_rename_run_writes_run_json_and_validates(root):
    info = load_runs(root)[0]
    before = json.loads((info.folder / "run.json").read_text())
    rename_run(info, "  lr 0.01\n baseline  ")
    after = json.loads((info.folder / "run.json").read_text())
    assert info.name == after["name"] == "lr 0.01 baseline"
    assert {k: v for k, v in after.items() if k != "name"} == {
        k: v for k, v in before.items() if k != "name"
    }
    assert info.folder.exists() and load_runs(root)[0].name == "lr 0.01 baseline"
    for bad in ("", "   \n ", "x" * (MAX_NAME + 1)):
        with pytest.raises(ValueError):
            rename_run(info, bad)
    rename_run(info, "y" * MAX_NAME)
    assert load_runs(root)[0].name == "y" * MAX_NAME


def test_delete_run_refuses_anything_but_a_run_folder_in_the_root(root, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="not inside"):
        delete_run(RunInfo(outside, "x"), root)
    with pytest.raises(ValueError, match="unknown"):
        delete_run(RunInfo(outside, "x"))
    bare = root / "bare"
    bare.mkdir()
    with pytest.raises(ValueError, match=r"run\.json"):
        delete_run(RunInfo(bare, "bare"), root)
    link = root / "link"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="not a folder"):
        delete_run(RunInfo(link, "link"), root)
    (root / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="not inside"):
        delete_run(RunInfo(root, "root"), root)
    assert outside.exists() and bare.exists() and link.exists() and root.exists()
    info = load_runs(root)[0]
    delete_run(info)  # the root it was loaded from
    assert not info.folder.exists() and len(load_runs(root)) == 1


# ------------------------------------------------------------------------------- widget
def test_the_tree_lists_runs_newest_first_with_final_figures(widget, root):
    folders = _by_example(root)
    assert widget.tree.objectName() == "runsTree" and widget.pages.currentWidget() is widget.tree
    assert _headers(widget) == [
        "Name",
        "Started",
        "Status",
        "Epochs",
        "val loss",
        "accuracy",
        "MAE",
        "R²",
    ]
    iris, linear = load_runs(root)
    rows = _rows(widget)
    assert [r[0] for r in rows] == [folders["iris_mlp"].name, folders["linear_regression"].name]
    assert rows[0][1:4] == ["2025-03-04 09:20", "completed", "2"]
    assert rows[0][4] == f"{iris.final['val_loss']:.4g}"
    assert rows[0][5] == f"{iris.final['accuracy']:.3f}" and rows[0][6:] == ["–", "–"]
    assert rows[1][5] == "–" and rows[1][7] == f"{linear.final['r2']:.3f}"
    assert widget.tree.topLevelItem(0).checkState(0) == Qt.CheckState.Unchecked
    assert widget.current_run().folder == iris.folder

    widget.tree.sortItems(4, Qt.SortOrder.AscendingOrder)  # by val loss, kept on reload
    order = [r[0] for r in _rows(widget)]
    assert order == [r.name for r in sorted((iris, linear), key=lambda r: r.final["val_loss"])]
    widget.reload()
    assert [r[0] for r in _rows(widget)] == order
    for direction in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        widget.tree.sortItems(6, direction)  # MAE: the run without one goes last either way
        assert [r[0] for r in _rows(widget)] == [linear.name, iris.name]


def test_rename_inline_persists_and_survives_reload(qtbot, widget, root):
    info = widget.runs[0]
    widget.rename_current()
    editor = widget.tree.viewport().findChild(QLineEdit)
    assert editor is not None and editor.maxLength() == MAX_NAME
    editor.selectAll()
    qtbot.keyClicks(editor, "wider hidden layer")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the view commits it from the event loop
    qtbot.waitUntil(lambda: info.name == "wider hidden layer", timeout=5_000)
    assert json.loads((info.folder / "run.json").read_text())["name"] == "wider hidden layer"
    widget.reload()
    assert widget.tree.topLevelItem(0).text(0) == "wider hidden layer"
    assert load_runs(root)[0].name == "wider hidden layer" and info.folder.exists()

    widget.tree.topLevelItem(0).setText(0, "   ")  # refused: reverted, with a message
    assert widget.tree.topLevelItem(0).text(0) == "wider hidden layer"
    assert "empty" in widget.message.text() and widget.message.isVisible()
    assert json.loads((info.folder / "run.json").read_text())["name"] == "wider hidden layer"


def test_delete_asks_first_and_removes_the_folder(qtbot, widget, root, monkeypatch):
    asked = []
    answer = False
    monkeypatch.setattr(
        RunsWidget, "confirm_delete", lambda self, info: asked.append(info.name) or answer
    )
    first = widget.runs[0]
    assert not widget.delete_current()
    assert asked == [first.name] and first.folder.exists() and len(widget.runs) == 2
    answer = True
    widget.tree.setFocus()
    qtbot.keyClick(widget.tree, Qt.Key.Key_Delete)  # the Delete key asks too
    assert asked == [first.name, first.name] and not first.folder.exists()
    assert widget.tree.topLevelItemCount() == 1 and len(load_runs(root)) == 1
    assert widget.current_run() is not None and "Deleted" in widget.message.text()
    assert widget.delete_current()
    assert load_runs(root) == [] and widget.pages.currentIndex() == 0  # the empty state


def test_ticking_runs_emits_their_overlay_data(qtbot, widget, root):
    seen: list[list] = []
    widget.compareChanged.connect(seen.append)
    iris, linear = widget.runs
    with qtbot.waitSignal(widget.compareChanged) as blocker:
        widget.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Checked)
    assert [name for name, _ in blocker.args[0]] == [iris.name]
    widget.tree.topLevelItem(1).setCheckState(0, Qt.CheckState.Checked)
    names = [name for name, _ in seen[-1]]
    assert names == [iris.name, linear.name]
    data = dict(seen[-1])
    assert data[iris.name] == overlay_data(iris) and "accuracy" in data[iris.name]
    assert "r2" in data[linear.name] and not any(
        math.isnan(v) for v in data[linear.name]["val_loss"]
    )
    assert "2 runs" in widget.compare_label.text() and widget.clear_button.isVisibleTo(widget)

    count = len(seen)
    widget.reload()  # ticks survive; nothing new to draw, so no signal
    assert len(seen) == count and len(widget.checked_runs()) == 2
    rename_run(widget.runs[1], "renamed")  # elsewhere: the next reload sends the new name
    widget.reload()
    assert [name for name, _ in seen[-1]] == [iris.name, "renamed"]

    widget.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Unchecked)
    assert [name for name, _ in seen[-1]] == ["renamed"]
    widget.clear_comparison()
    assert seen[-1] == [] and widget.checked_runs() == []
    widget.set_checked(iris.folder)
    widget.set_root(root.parent)  # another project's runs: the comparison goes
    assert seen[-1] == []


def test_resume_emits_the_checkpoint_path(qtbot, widget, root):
    info = widget.runs[1]
    widget.select_run(info.folder)
    assert info.status == "completed" and widget.buttons["resume"].isEnabled()
    with qtbot.waitSignal(widget.resumeRequested) as blocker:
        widget.buttons["resume"].click()
    assert blocker.args == [info.folder / "checkpoint.pt"] and blocker.args[0].is_file()

    widget.set_active(info.folder)  # while a run trains: no resume, no deleting it
    assert not widget.buttons["resume"].isEnabled() and not widget.resume_current()
    assert not widget.buttons["delete"].isEnabled()
    widget.set_active(None)
    (info.folder / "checkpoint.pt").unlink()
    widget.reload()
    assert not widget.buttons["resume"].isEnabled()
    assert "no checkpoint" in widget.buttons["resume"].toolTip()


def test_a_run_without_metrics_shows_as_running_while_it_trains(widget, root):
    new = root / "20250304-100000"
    new.mkdir()
    (new / "run.json").write_text(json.dumps({"name": new.name, "started": "2025-03-04T10:00:00"}))
    widget.set_active(new)
    assert _rows(widget)[0][:3] == [new.name, "2025-03-04 10:00", "running"]
    widget.set_active(None)
    assert _rows(widget)[0][2] == "unknown"


def test_open_folder_and_context_menu(widget, monkeypatch):
    opened = []
    monkeypatch.setattr(RunsWidget, "open_url", lambda self, url: opened.append(url) or True)
    widget.buttons["open"].click()
    assert [Path(u.toLocalFile()) for u in opened] == [widget.runs[0].folder]
    menu = widget.context_menu()
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Rename…", "Delete…", "Resume", "Open folder", "Compare", "Refresh"]
    compare = next(a for a in menu.actions() if a.text() == "Compare")
    compare.setChecked(True)
    assert widget.checked_runs() == [widget.runs[0]]
    menu.deleteLater()


def test_empty_state(qtbot, isolated):
    w = RunsWidget()
    qtbot.addWidget(w)
    w.show()
    assert w.pages.currentIndex() == 0 and w.empty_label.text() == EMPTY_HINT
    assert not w.buttons["resume"].isVisible() and not w.tree.isVisible()
    empty = isolated / "runs"
    empty.mkdir()
    w.set_root(empty)
    assert w.pages.currentIndex() == 0 and w.empty_label.isVisible()
    assert EMPTY_HINT == "No runs yet: press Train"
    assert load_runs(empty) == []
