"""The Sweep dock: the project's sweep (its dimensions, objective, strategy, budget, pruner),
run off the window's thread, watched live, and its best trial applied.

The sweep itself is the headless one (``runtime.sweep``, Optuna and the ordinary trainer),
run by ``runtime.sweep_worker.sweep_process`` in a process of its own, so the window stays
responsive and nothing a trial does can take it down; a timer reads its news from a queue.
Each sweep is a folder ``sweep-DATE-TIME`` in the project's runs folder, with every trial a
normal run folder under ``trials/``; Pause holds the running trials (between two steps) until
Continue; Resume continues the shown sweep, after a Stop, until its budget.

Every change to the sweep's set-up is one undo step on the project (``Document.set_sweep``),
and so is "Apply best" (all of the best trial's values at once).
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import queue as queues
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.sweep import PRUNERS, STRATEGIES
from torchcanvas.gui import theme
from torchcanvas.gui.lazy import LazyTab
from torchcanvas.gui.panels.param_row import set_small, set_subtle
from torchcanvas.gui.training.sweep_edit import (
    DEFAULT_SPACE,
    KIND_TITLES,
    default_objective,
    is_type_target,
    open_dimension_dialog,
    target_title,
    type_title,
    value_title,
)

STRATEGY_TITLES = {"tpe": "Optuna TPE", "random": "random", "grid": "grid"}
PRUNER_TITLES = {"none": "none", "median": "median", "halving": "successive halving"}
STATE_TEXT = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}
STATE_COLORS = {
    "COMPLETE": "#16a34a",
    "PRUNED": "#d97706",
    "FAIL": "#dc2626",
    "RUNNING": "#2563eb",
}
EMPTY_HINT = (
    "No dimensions yet: right-click a node param in the Inspector, or a training setting, "
    "and choose “Sweep this…”."
)
POLL_MS = 100


def sweep_folders(root: Path | None) -> list[Path]:
    """The sweep folders in a runs folder (those with a space.json), newest first."""
    if root is None:
        return []
    try:
        found = [p for p in Path(root).glob("sweep-*") if (p / "space.json").is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def read_results(folder: Path) -> dict[str, Any] | None:
    """A sweep folder's results.json (the trials and the best), or None when unreadable."""
    try:
        data = json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _counts(trial: dict[str, Any]) -> bool:
    """A trial that used up the budget (as the headless sweep counts it)."""
    from torchcanvas.runtime.sweep import INTERRUPTED

    state = trial.get("state")
    return state in ("COMPLETE", "PRUNED") or (
        state == "FAIL" and trial.get("message") != INTERRUPTED
    )


# ---------------------------------------------------------------------------- the runner
class SweepRunner(QObject):
    """Starts one sweep at a time in its own process and turns its messages into signals."""

    started = Signal(object)  # {"out_dir", "budget"}
    trialStarted = Signal(object)  # {"number", "params"}
    trialsUpdated = Signal(object)  # {"trials": [...], "best": ...}
    finished = Signal(object)  # the same, with "stopped"
    failed = Signal(str)
    pausedChanged = Signal(bool)  # the sweep's process holds its trials (True) or goes on

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process = None
        self.out_dir: Path | None = None
        self._queue = None
        self._stop = None
        self._go = None  # set while the sweep may run; cleared to pause it
        self.paused = False
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(
        self,
        project: dict[str, Any],
        project_path: Path,
        space: dict[str, Any],
        out_dir: Path,
        *,
        resume: bool = False,
        jobs: int = 1,
    ) -> None:
        from torchcanvas.runtime.spawn import SPAWN, SpawnProcess
        from torchcanvas.runtime.sweep_worker import sweep_process

        if self.running:
            raise RuntimeError("a sweep is running already")
        self.out_dir = Path(out_dir)
        self._queue, self._stop, self._go = SPAWN.Queue(), SPAWN.Event(), SPAWN.Event()
        self._go.set()
        self.paused = False
        setup = {
            "project": project,
            "project_path": str(project_path),
            "space": space,
            "out_dir": str(out_dir),
            "resume": resume,
            "jobs": jobs,
        }
        # not a daemon: with parallel trials it starts processes of its own
        self.process = SpawnProcess(
            target=sweep_process, args=(setup, self._queue, self._stop, self._go), daemon=False
        )
        self.process.start()
        _RUNNERS.add(self)
        self._timer.start()

    def stop(self) -> None:
        """Stop the running trial (retried on resume) and start no more."""
        if self._stop is not None:
            self._stop.set()

    def pause(self, on: bool = True) -> None:
        """Hold the running trials between two steps and start no new one (``on``), or let
        them go on. ``pausedChanged`` says when the sweep's process has done it."""
        if self._go is not None:
            self._go.clear() if on else self._go.set()

    def _poll(self) -> None:
        ended = False
        while True:
            try:
                kind, payload = self._queue.get_nowait()
            except queues.Empty:
                break
            except (OSError, EOFError, ValueError):
                break
            if kind == "started":
                self.started.emit(payload)
            elif kind == "trial_started":
                self.trialStarted.emit(payload)
            elif kind == "trials":
                self.trialsUpdated.emit(payload)
            elif kind == "paused":
                self.paused = bool(payload)
                self.pausedChanged.emit(self.paused)
            elif kind in ("finished", "failed"):
                self._end()
                ended = True
                if kind == "finished":
                    self.finished.emit(payload)
                else:
                    self.failed.emit(payload["message"])
                return
        if not ended and self.process is not None and not self.process.is_alive():
            from torchcanvas.runtime.worker import death_message

            code = self.process.exitcode
            self._end()
            self.failed.emit(f"the sweep's process ended: {death_message(code)}")

    def _end(self) -> None:
        self._timer.stop()
        if self.process is not None:
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5)
        self.process = None
        self.paused = False
        _RUNNERS.discard(self)

    def shutdown(self, timeout_s: float = 20.0) -> None:
        """Stop a running sweep and wait for it (the finished trials stay; the running one is
        retried on resume)."""
        if self.process is None:
            return
        self.stop()
        self.process.join(timeout=timeout_s)
        if self.process.is_alive():
            self.process.terminate()
        self._end()


_RUNNERS: set[SweepRunner] = set()


def _end_runners() -> None:
    for runner in list(_RUNNERS):
        with contextlib.suppress(Exception):
            runner.shutdown(5.0)


atexit.register(_end_runners)


# ---------------------------------------------------------------------------- table items
class _Item(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers, missing values last)."""

    def __init__(self, text: str, key: Any):
        super().__init__(text)
        self.key = key
        self.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.key, getattr(other, "key", None)
        if a is None or b is None:
            return a is not None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


# ---------------------------------------------------------------------------- the panel
class SweepPanel(QWidget):
    """The Sweep dock's widget: set-up on the left, trials and plots on the right."""

    # trials' curves to draw beside the current run: [(name, overlay data)] (LivePlots form)
    compareRequested = Signal(object)

    def __init__(self, doc=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = None
        self.runner = SweepRunner(self)
        self.runner.started.connect(self._sweep_started)
        self.runner.trialStarted.connect(self._trial_started)
        self.runner.trialsUpdated.connect(self._trials_updated)
        self.runner.finished.connect(self._sweep_finished)
        self.runner.failed.connect(self._sweep_failed)
        self.runner.pausedChanged.connect(self._paused_changed)
        self.out_dir: Path | None = None  # the sweep shown (and resumed)
        self.trials: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.budget = 0
        self._running: dict[int, dict[str, Any]] = {}  # trials started, not yet reported
        self._space_shown: dict[str, Any] | None = None  # the space of the sweep shown
        self._updating = False
        self._build()
        if doc is not None:
            self.set_document(doc)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.dims = QTreeWidget()
        self.dims.setObjectName("sweepDimensions")
        self.dims.setHeaderLabels(["param", "search"])
        self.dims.setRootIsDecorated(False)
        self.dims.setUniformRowHeights(True)
        self.dims.itemDoubleClicked.connect(lambda *_: self.edit_dimension())
        self.dims.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.dims.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.dims.setMinimumHeight(70)
        self.dims.setMaximumHeight(96)
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setWordWrap(True)
        set_small(self.empty_hint)
        set_subtle(self.empty_hint)
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        self.edit_button.clicked.connect(self.edit_dimension)
        self.remove_button.clicked.connect(self.remove_dimension)
        dim_buttons = QVBoxLayout()
        dim_buttons.addWidget(self.edit_button)
        dim_buttons.addWidget(self.remove_button)
        dim_buttons.addStretch(1)
        dims_row = QHBoxLayout()
        dims_row.addWidget(self.dims, 1)
        dims_row.addLayout(dim_buttons)

        self.metric = QComboBox()
        self.metric.setToolTip("the figure each trial is judged by: its value after the last epoch")
        self.direction = QComboBox()
        self.direction.addItem("min", "minimize")
        self.direction.addItem("max", "maximize")
        self.strategy = QComboBox()
        for s in STRATEGIES:
            self.strategy.addItem(STRATEGY_TITLES[s], s)
        self.trials_box = QSpinBox(minimum=1, maximum=100_000)
        self.trials_box.setKeyboardTracking(False)
        self.minutes = QDoubleSpinBox(minimum=0.0, maximum=100_000.0, decimals=1)
        self.minutes.setSpecialValueText("no limit")
        self.minutes.setSuffix(" min")
        self.minutes.setKeyboardTracking(False)
        self.minutes.setToolTip("start no trial after this long (0: no limit)")
        self.pruner = QComboBox()
        for p in PRUNERS:
            self.pruner.addItem(PRUNER_TITLES[p], p)
        self.pruner.setToolTip("stop poor trials early, judged after each epoch")
        self.jobs = QSpinBox(minimum=1, maximum=64)
        self.jobs.setToolTip("trials at a time, each in its own process (the CPUs are shared)")
        objective = QHBoxLayout()
        objective.addWidget(self.metric, 1)
        objective.addWidget(self.direction)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("objective", objective)
        form.addRow("strategy", self.strategy)
        budget = QHBoxLayout()
        budget.addWidget(self.trials_box)
        budget.addWidget(QLabel("trials, at most"))
        budget.addWidget(self.minutes, 1)
        form.addRow("budget", budget)
        pruner = QHBoxLayout()
        pruner.addWidget(self.pruner, 1)
        pruner.addWidget(QLabel("parallel"))
        pruner.addWidget(self.jobs)
        form.addRow("pruner", pruner)
        self.metric.activated.connect(lambda _i: self._edit_objective())
        self.direction.activated.connect(lambda _i: self._edit_objective())
        self.strategy.activated.connect(
            lambda _i: self._edit("strategy", self.strategy.currentData(), "Sweep strategy")
        )
        self.pruner.activated.connect(
            lambda _i: self._edit("pruner", self.pruner.currentData(), "Sweep pruner")
        )
        self.trials_box.valueChanged.connect(lambda v: self._edit("trials", int(v), "Sweep trials"))
        self.minutes.valueChanged.connect(
            lambda v: self._edit("timeout_s", round(v * 60, 3) if v > 0 else None, "Sweep time")
        )

        self.start_button = QPushButton("▶  Start")
        self.start_button.setObjectName("sweepStart")
        self.stop_button = QPushButton("■  Stop")
        self.pause_button = QPushButton("❚❚  Pause")
        self.pause_button.setObjectName("sweepPause")
        self.pause_button.setToolTip(
            "hold the running trials between two steps and start no new one; press again to "
            "go on (time paused counts neither in durations nor in the time budget)"
        )
        self.pause_button.clicked.connect(lambda: self.pause(not self.runner.paused))
        self.resume_button = QPushButton("▶  Resume")
        self.apply_button = QPushButton("Apply best")
        self.apply_button.setToolTip("write the best trial's values into the project (one undo)")
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.resume())
        self.apply_button.clicked.connect(lambda: self.apply_best())
        self.curves_button = QPushButton("Show in Curves")
        self.curves_button.setToolTip(
            "draw the selected trials (or the best one) beside the current run on the "
            "Training dock's Curves tab"
        )
        self.curves_button.clicked.connect(lambda: self.show_in_curves())
        run_buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button, self.resume_button):
            run_buttons.addWidget(b)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label = QLabel("")  # the sweep folder, beside the Trials and Plots tabs
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setContentsMargins(0, 0, 6, 0)
        set_small(self.folder_label, 0.82)
        set_subtle(self.folder_label)

        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addLayout(dims_row)
        lay.addWidget(self.empty_hint)
        lay.addLayout(form)
        lay.addLayout(run_buttons)
        result_buttons = QHBoxLayout()
        result_buttons.addWidget(self.apply_button)
        result_buttons.addWidget(self.curves_button)
        lay.addLayout(result_buttons)
        lay.addWidget(self.status)
        lay.addStretch(1)

        self.table = QTableWidget(0, 0)
        self.table.setObjectName("sweepTrials")
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setToolTip("double-click a trial to draw its curves on the Curves tab")
        self.table.itemDoubleClicked.connect(lambda _item: self.show_in_curves())
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Trials")
        self._plots = LazyTab(self.tabs, "Plots", self._make_plots)
        self.tabs.setCornerWidget(self.folder_label, Qt.Corner.TopRightCorner)

        # the set-up scrolls when the dock is short, so the canvas above keeps its height
        scroll = QScrollArea()
        scroll.setObjectName("sweepSetupScroll")
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(
            left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 880])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(split)
        self._update_buttons()

    def _make_plots(self):
        from torchcanvas.gui.training.sweep_plots import SweepPlots

        plots = SweepPlots()
        QTimer.singleShot(0, self, self._update_plots)  # once it is in the tab's place
        return plots

    @property
    def plots(self):
        """The parallel-coordinates and objective plots (built on first use)."""
        return self._plots.widget()

    # ------------------------------------------------------------------ document
    def set_document(self, doc) -> None:
        if self.doc is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                self.doc.sweepChanged.disconnect(self._sweep_changed)
                self.doc.nodeChanged.disconnect(self._labels_changed)
        self.doc = doc
        doc.sweepChanged.connect(self._sweep_changed)
        doc.nodeChanged.connect(self._labels_changed)
        self._sweep_changed()
        if not self.runner.running:
            self.show_sweep(next(iter(sweep_folders(doc.runs_root())), None))

    def space(self) -> dict[str, Any]:
        """The project's sweep, or a new one (no dimensions, the default objective)."""
        graph = self.doc.graph
        if graph.sweep is not None:
            return copy.deepcopy(graph.sweep)
        return {"dimensions": [], "objective": default_objective(graph), **DEFAULT_SPACE}

    def _edit(self, key: str, value: Any, text: str) -> None:
        if self._updating or self.doc is None:
            return
        space = self.space()
        if space.get(key) == value:
            return
        space[key] = value
        self.doc.set_sweep(space, text)

    def _edit_objective(self) -> None:
        objective = {"metric": self.metric.currentText(), "direction": self.direction.currentData()}
        self._edit("objective", objective, "Sweep objective")

    def _labels_changed(self, _node_id: str) -> None:
        if self.doc.graph.sweep:
            self._fill_dimensions(self.space())

    def _sweep_changed(self) -> None:
        from torchcanvas.runtime.sweep import SweepError, objective_metrics

        space = self.space()
        self._updating = True
        try:
            self._fill_dimensions(space)
            try:
                metrics = list(objective_metrics(self.doc.graph))
            except SweepError:
                metrics = ["val_loss"]
            objective = space.get("objective", {})
            metric = objective.get("metric", "val_loss")
            if metric not in metrics:
                metrics.append(metric)
            self.metric.clear()
            self.metric.addItems(metrics)
            self.metric.setCurrentText(metric)
            self.direction.setCurrentIndex(
                0 if objective.get("direction", "minimize") == "minimize" else 1
            )
            self.strategy.setCurrentIndex(STRATEGIES.index(space.get("strategy", "tpe")))
            self.pruner.setCurrentIndex(PRUNERS.index(space.get("pruner", "median")))
            self.trials_box.setValue(space.get("trials", 20))
            timeout = space.get("timeout_s")
            self.minutes.setValue(timeout / 60 if timeout else 0.0)
        finally:
            self._updating = False
        self._update_buttons()

    def _fill_dimensions(self, space: dict[str, Any]) -> None:
        current = self.dims.currentItem()
        keep = current.data(0, Qt.ItemDataRole.UserRole) if current is not None else None
        self.dims.clear()
        for dim in space.get("dimensions", []):
            item = QTreeWidgetItem([target_title(self.doc.graph, dim["target"]), _describe(dim)])
            item.setData(0, Qt.ItemDataRole.UserRole, dim["target"])
            item.setToolTip(0, dim["target"])
            item.setToolTip(1, _describe(dim))
            self.dims.addTopLevelItem(item)
            if dim["target"] == keep:
                self.dims.setCurrentItem(item)
        has = self.dims.topLevelItemCount() > 0
        self.empty_hint.setVisible(not has)

    def _current_target(self) -> str | None:
        item = self.dims.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def edit_dimension(self):
        target = self._current_target()
        if target is None:
            return None
        return open_dimension_dialog(self, self.doc, target)

    def remove_dimension(self) -> bool:
        target = self._current_target()
        if target is None:
            return False
        space = self.space()
        space["dimensions"] = [d for d in space["dimensions"] if d["target"] != target]
        return self.doc.set_sweep(
            space, f"Remove {target_title(self.doc.graph, target)} from sweep"
        )

    # ------------------------------------------------------------------ running
    def _project_path(self) -> Path:
        doc = self.doc
        if doc.path is not None:
            return doc.path
        return Path.cwd() / f"{doc.unsaved_name}.json"  # relative paths: the working folder

    def start(self, out_dir: Path | None = None) -> bool:
        """Start a new sweep of the project as it is now, in a new folder of its runs."""
        if self.runner.running or self.doc is None:
            return False
        problem = self._check()
        if problem:
            self._say(problem, error=True)
            return False
        if out_dir is None:
            root = self.doc.runs_root(create=True)
            stamp = datetime.now().strftime("sweep-%Y%m%d-%H%M%S")
            out_dir, k = root / stamp, 2
            while out_dir.exists():
                out_dir, k = root / f"{stamp}-{k}", k + 1
        return self._launch(Path(out_dir), resume=False)

    def resume(self) -> bool:
        """Continue the sweep shown until its budget (the project's trials and time)."""
        if self.runner.running or self.out_dir is None:
            return False
        problem = self._check() or self._differs(self.out_dir)
        if problem:
            self._say(problem, error=True)
            return False
        return self._launch(self.out_dir, resume=True)

    def _differs(self, folder: Path) -> str:
        """Why the project's sweep cannot resume the one in ``folder`` ("" when it can): only
        its budget (trials, minutes) may have changed since it started."""
        from torchcanvas.runtime.sweep import parse_space

        try:
            saved = json.loads((folder / "space.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"Cannot resume: {folder} holds no readable space.json"
        budget = {"trials": None, "timeout_s": None}
        now = parse_space(self.space(), self.doc.graph).to_dict()
        if saved | budget != now | budget:
            return (
                "Cannot resume: the project's sweep has changed since this sweep started "
                "(only trials and minutes may change). Undo the change, or Start a new sweep."
            )
        return ""

    def _check(self) -> str:
        """What stops the sweep from starting, in the headless sweep's words ("" if nothing)."""
        from torchcanvas.runtime.sweep import SweepError, parse_space

        if self.doc.graph.sweep is None or not self.doc.graph.sweep.get("dimensions"):
            return "Add a dimension first: right-click a param or setting, “Sweep this…”."
        try:
            parse_space(self.space(), self.doc.graph)
        except SweepError as exc:
            return f"Cannot start: {exc}"
        return ""

    def _launch(self, out_dir: Path, resume: bool) -> bool:
        from torchcanvas.graph.serialize import to_dict

        space = self.space()
        self.runner.start(
            to_dict(self.doc.graph),
            self._project_path(),
            space,
            out_dir,
            resume=resume,
            jobs=self.jobs.value(),
        )
        self.out_dir = out_dir
        self._space_shown = space
        self.budget = space.get("trials", 20)
        if not resume:
            self.trials, self.best = [], None
        self._running = {}
        self._fill_table()
        self._say("Starting the sweep…")
        self.folder_label.setText(str(out_dir))
        self._update_buttons()
        return True

    def pause(self, on: bool = True) -> bool:
        """Pause the running sweep (``on``) or let it go on; False when none runs."""
        if not self.runner.running or self.runner.paused == on:
            return False
        self.runner.pause(on)
        self.pause_button.setEnabled(False)  # until the sweep's process has done it
        self._say("Pausing…" if on else "Going on…")
        return True

    def _paused_changed(self, paused: bool) -> None:
        if paused:
            held = sorted(self._running)
            holding = (
                f" (holding trial{'s' if len(held) > 1 else ''} {', '.join(str(n) for n in held)})"
                if held
                else ""
            )
            self._say(
                f"Paused: {self._progress_text()}{holding}. Continue goes on where it stopped."
            )
        else:
            self._say(f"Sweeping: {self._progress_text()}")
        self._fill_table()
        self._update_buttons()

    def stop(self) -> None:
        if self.runner.running:
            self.runner.stop()
            self._say("Stopping: the running trials end; Resume continues them later…")
            self.stop_button.setEnabled(False)

    def shutdown(self) -> None:
        self.runner.shutdown()

    def _sweep_started(self, info: dict[str, Any]) -> None:
        self.budget = info["budget"]
        self._say(f"Sweeping: {self._progress_text()}")

    def _trial_started(self, info: dict[str, Any]) -> None:
        self._running[info["number"]] = {
            "number": info["number"],
            "params": info["params"],
            "state": "RUNNING",
            "objective": None,
            "duration_s": None,
        }
        self._fill_table()
        if not self.runner.paused:
            running = ", ".join(str(n) for n in sorted(self._running))
            self._say(f"Sweeping: trial {running} · {self._progress_text()}")

    def _trials_updated(self, info: dict[str, Any]) -> None:
        self.trials, self.best = info["trials"], info["best"]
        ended = {t["number"] for t in self.trials if t.get("state") != "RUNNING"}
        self._running = {n: t for n, t in self._running.items() if n not in ended}
        self._fill_table()
        self._update_plots()
        if not self.runner.paused:
            self._say(f"Sweeping: {self._progress_text()}")

    def _sweep_finished(self, info: dict[str, Any]) -> None:
        self.trials, self.best = info["trials"], info["best"]
        self._running = {}
        self._fill_table()
        self._update_plots()
        best = self._best_text()
        if info.get("stopped"):
            self._say(f"Stopped: {self._progress_text()}. Resume continues it. {best}")
        else:
            self._say(f"Finished: {self._progress_text()}. {best}")
        self._update_buttons()

    def _sweep_failed(self, message: str) -> None:
        self._running = {}
        self._fill_table()
        self._say(f"The sweep failed: {message}", error=True)
        self._update_buttons()

    def _progress_text(self) -> str:
        done = sum(1 for t in self.trials if _counts(t))
        return f"{done} of {self.budget} trials done"

    def _best_text(self) -> str:
        if self.best is None:
            return "No trial completed."
        metric = (self._space_shown or self.space()).get("objective", {}).get("metric", "")
        return f"Best: trial {self.best['number']}, {metric} {_short(self.best['objective'])}."

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        color = theme.current().error.name() if error else ""
        self.status.setStyleSheet(f"color: {color};" if color else "")

    def _update_buttons(self) -> None:
        running = self.runner.running
        has_dims = self.dims.topLevelItemCount() > 0
        self.start_button.setEnabled(not running and has_dims)
        self.stop_button.setEnabled(running)
        self.pause_button.setEnabled(running)
        paused = running and self.runner.paused
        self.pause_button.setText("▶  Continue" if paused else "❚❚  Pause")
        unfinished = self.out_dir is not None and (
            sum(1 for t in self.trials if _counts(t)) < self.budget
        )
        self.resume_button.setEnabled(not running and unfinished)
        self.apply_button.setEnabled(self.best is not None)
        self.curves_button.setEnabled(self.best is not None)
        selected = self.dims.currentItem() is not None
        self.edit_button.setEnabled(selected)
        self.remove_button.setEnabled(selected)

    # ------------------------------------------------------------------ using the result
    def apply_best(self) -> bool:
        """Write the best trial's values into the project: one undo step for all of them."""
        from torchcanvas.graph.errors import GraphError
        from torchcanvas.runtime.sweep import apply_values

        if self.best is None or self.doc is None:
            return False
        if self.out_dir is not None and self.out_dir.parent != self.doc.runs_root():
            self._say(
                "This sweep belongs to another project (its folder is not in this project's "
                "runs); open that project to apply it.",
                error=True,
            )
            return False
        values = dict(self.best["params"])
        try:  # on a copy first: a removed node or a refused value changes nothing
            apply_values(self.doc.graph.copy(), values)
        except (GraphError, ValueError) as exc:
            self._say(f"Cannot apply trial {self.best['number']}: {exc}", error=True)
            return False
        number = self.best["number"]

        def apply(graph) -> bool:
            apply_values(graph, values)
            return True

        if not self.doc.change(f"Apply sweep trial {number}", apply):
            return False
        shown = ", ".join(
            f"{target_title(self.doc.graph, k)} = {value_title(k, v)}" for k, v in values.items()
        )
        self._say(f"Applied trial {number}: {shown}")
        return True

    def selected_trials(self) -> list[dict[str, Any]]:
        """The trials whose rows are selected in the table."""
        rows = {t["number"]: t for t in self.rows()}
        numbers = []
        for index in self.table.selectionModel().selectedRows():
            item = self.table.item(index.row(), 0)
            if isinstance(item, _Item) and item.key in rows and item.key not in numbers:
                numbers.append(item.key)
        return [rows[n] for n in numbers]

    def show_in_curves(self) -> list[str]:
        """Draw the selected trials (the best one when none is selected) on the Curves tab,
        per epoch like compared runs; the names drawn."""
        trials = [t for t in self.selected_trials() if t.get("run_dir")] or (
            [self.best] if self.best is not None else []
        )
        overlays = []
        for trial in trials[:6]:
            data = trial_overlay(Path(trial["run_dir"]))
            if data is not None:
                overlays.append((f"trial {trial['number']}", data))
        if overlays:
            self.compareRequested.emit(overlays)
        else:
            self._say("No finished epoch to draw for those trials yet.")
        return [name for name, _ in overlays]

    # ------------------------------------------------------------------ showing a sweep
    def show_sweep(self, folder: Path | None) -> None:
        """Show a sweep folder's trials (the latest of the project when it opens)."""
        self.out_dir = Path(folder) if folder is not None else None
        self.trials, self.best, self.budget = [], None, 0
        self._space_shown = None
        if folder is not None:
            results = read_results(folder) or {}
            trials = results.get("trials")
            self.trials = [t for t in trials if isinstance(t, dict)] if trials else []
            self.best = results.get("best") if isinstance(results.get("best"), dict) else None
            self.budget = results.get("budget", 0) or 0
            with contextlib.suppress(OSError, ValueError):
                self._space_shown = json.loads((folder / "space.json").read_text("utf-8"))
            self.folder_label.setText(str(folder))
            self._say(f"{self._progress_text()}. {self._best_text()}")
        else:
            self.folder_label.setText("")
            self._say("")
        self._fill_table()
        self._update_plots()
        self._update_buttons()

    def rows(self) -> list[dict[str, Any]]:
        """The trials shown, by number (with the running one)."""
        rows = {t["number"]: t for t in self.trials}
        for number, trial in self._running.items():
            rows.setdefault(number, trial)
        return [rows[k] for k in sorted(rows)]

    def _targets(self) -> list[str]:
        space = self._space_shown or self.space()
        targets = [d["target"] for d in space.get("dimensions", [])]
        for t in self.rows():
            for k in t.get("params", {}):
                if k not in targets:
                    targets.append(k)
        return targets

    def _fill_table(self) -> None:
        space = self._space_shown or self.space()
        metric = space.get("objective", {}).get("metric", "objective")
        targets = self._targets()
        headers = [
            "trial",
            "status",
            *(target_title(self.doc.graph, t) if self.doc else t for t in targets),
            metric,
            "duration",
        ]
        table = self.table
        header = table.horizontalHeader()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        table.setSortingEnabled(False)
        table.clear()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        rows = self.rows()
        table.setRowCount(len(rows))
        best = self.best["number"] if self.best else None
        bold = QFont(table.font())
        bold.setBold(True)
        for r, trial in enumerate(rows):
            state = trial.get("state", "")
            cells = [
                _Item(
                    str(trial["number"]) + (" ★" if trial["number"] == best else ""),
                    trial["number"],
                ),
                _Item(self._state_text(trial), state),
            ]
            params = trial.get("params", {})
            for t in targets:
                value = params.get(t)
                text = "" if value is None else value_title(t, value)
                key = value if isinstance(value, (int, float)) else text
                cells.append(_Item(text, key))
            objective = trial.get("objective")
            cells.append(_Item("-" if objective is None else f"{objective:.6g}", objective))
            duration = trial.get("duration_s")
            cells.append(_Item("-" if duration is None else f"{duration:.1f} s", duration))
            if trial.get("message"):
                for cell in cells:
                    cell.setToolTip(trial["message"])
            color = STATE_COLORS.get(state)
            if color:
                cells[1].setForeground(QColor(color))
            for c, cell in enumerate(cells):
                if trial["number"] == best:
                    cell.setFont(bold)
                table.setItem(r, c, cell)
        table.setSortingEnabled(True)
        if column < len(headers) and column >= 0 and header.isSortIndicatorShown():
            table.sortItems(column, order)
        table.resizeColumnsToContents()

    def _state_text(self, trial: dict[str, Any]) -> str:
        """A trial's status in words; one the sweep stopped (or a closed window left) says it
        is retried on resume."""
        from torchcanvas.runtime.sweep import INTERRUPTED

        state = trial.get("state", "")
        if state == "RUNNING" and not self.runner.running:
            return "stopped"
        if state == "RUNNING" and self.runner.paused:
            return "paused"
        if state == "FAIL" and trial.get("message") == INTERRUPTED:
            return "interrupted"
        return STATE_TEXT.get(state, state.lower())

    def _update_plots(self) -> None:
        if not self._plots.built or self.doc is None:
            return
        space = self._space_shown or self.space()
        objective = space.get("objective", {})
        self.plots.show_trials(
            self.trials,
            space.get("dimensions", []),
            objective.get("metric", "objective"),
            objective.get("direction", "minimize"),
            {t: target_title(self.doc.graph, t) for t in self._targets()},
        )


def trial_overlay(run_dir: Path) -> dict[str, list[float]] | None:
    """A trial's curves per epoch (from its metrics.json), as the Runs tab draws a compared
    run; None when no epoch has finished."""
    from torchcanvas.gui.training.runs import RunInfo, overlay_data

    try:
        metrics = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    history = metrics.get("history") if isinstance(metrics, dict) else None
    if not isinstance(history, list) or not history:
        return None
    info = RunInfo(folder=Path(run_dir), name=Path(run_dir).name)
    info.status = str(metrics.get("status") or "unknown")
    info.history = [h for h in history if isinstance(h, dict)]
    with contextlib.suppress(TypeError, ValueError):
        info.epochs = int(metrics.get("epochs") or len(info.history))
        info.global_step = int(metrics.get("global_step") or 0)
    return overlay_data(info)


def _describe(dim: dict[str, Any]) -> str:
    kind = dim.get("kind")
    if kind == "choice" and is_type_target(str(dim.get("target", ""))):
        return "type: " + ", ".join(type_title(c) for c in dim.get("choices", []))
    if kind == "choice":
        return "choice: " + ", ".join(_short(c) for c in dim.get("choices", []))
    low, high = _short(dim.get("low")), _short(dim.get("high"))
    text = f"{KIND_TITLES.get(kind, kind).split(' (')[0]} {low} … {high}"
    if dim.get("step") is not None:
        text += f", step {_short(dim['step'])}"
    return text
