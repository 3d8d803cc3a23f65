"""The runs list: every training run kept beside the project, to rename, delete, resume, open
and compare. The folders themselves are read and written by :mod:`run_folders`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.gui import theme
from torchcanvas.gui.training.run_folders import (
    MAX_NAME,
    RunInfo,
    SweepInfo,
    _number,
    _sort_time,
    delete_run,
    delete_sweep,
    load_runs,
    load_sweeps,
    overlay_data,
    rename_run,
)
from torchcanvas.gui.training.tensorboard import TensorBoardLauncher

# Final figures shown as columns, in this order, when at least one listed run has them.
HEADLINE = ("val_loss", "accuracy", "mae", "r2")
HEADLINE_TITLES = {"val_loss": "val loss", "accuracy": "accuracy", "mae": "MAE", "r2": "R²"}
HEADLINE_TIPS = {
    "val_loss": "Validation loss after the last epoch",
    "accuracy": "Validation accuracy after the last epoch",
    "mae": "Validation mean absolute error after the last epoch",
    "r2": "Validation R² after the last epoch",
}
UNIT_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "r2"})

STATUS_COLORS = {
    "completed": "#16a34a",
    "running": "#2563eb",
    "stopped": "#d97706",
    "failed": "#dc2626",
    "unreadable": "#dc2626",
    "unknown": "#6b7280",
    "pruned": "#d97706",
    "finished": "#16a34a",
    "unfinished": "#d97706",
}
STATUS_TIPS = {
    "completed": "Trained every epoch it was asked for",
    "running": "Training now (or the app closed while it trained)",
    "stopped": "Stopped by hand; its checkpoint continues where it stopped",
    "failed": "Training failed; the figures are from the last finished epoch",
    "unreadable": "run.json or metrics.json in this folder cannot be read",
    "unknown": "No epoch has finished in this run (no metrics.json)",
    "pruned": "The sweep's pruner stopped this trial early: it trailed the others",
    "finished": "The sweep used its whole budget of trials",
    "unfinished": "The sweep stopped before its budget; Resume in the Sweep dock continues it",
}

EMPTY_HINT = "No runs yet: press Train"
EMPTY_DETAIL = (
    "Every training run keeps its curves, final figures and checkpoint here. Tick "
    "runs to draw them beside the current run on the Curves tab, or resume one "
    "from its checkpoint."
)
COMPARE_HINT = "Tick runs to compare their curves on the Curves tab."


# ------------------------------------------------------------------------------- widget
COLUMNS = ("name", "started", "status", "epochs")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def _format(key: str, value: Any) -> str:
    number = _number(value)
    if number is None:
        return "–"
    if not math.isfinite(number):
        return str(number)
    if key in UNIT_METRICS:
        return f"{number:.3f}"
    if number != 0 and (abs(number) >= 1e5 or abs(number) < 1e-3):
        return f"{number:.2e}"
    return f"{number:.4g}"


def _subtle() -> str:
    return f"color: {theme.current().node_subtext.name()};"


class _SortItem(QTreeWidgetItem):
    """A row; sorts by the value kept under SORT_ROLE, rows without a value last either way."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else 0
        a, b = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        if a is None or b is None:
            descending = (
                tree is not None
                and tree.header().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
            )
            return (a is None) == descending and (a is None) != (b is None)
        if isinstance(a, str) != isinstance(b, str):
            return isinstance(a, str)
        return a < b


class _RunItem(_SortItem):
    """A run, or a trial of a sweep (then a child of the sweep's row)."""

    def __init__(self, info: RunInfo):
        super().__init__()
        self.info = info


class _SweepItem(_SortItem):
    """A sweep: its trials are its children."""

    def __init__(self, sweep: SweepInfo):
        super().__init__()
        self.sweep = sweep


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def params_text(params: dict[str, Any]) -> str:
    """``lr=0.01, batch_size=32`` from a trial's values (targets shortened to their name)."""
    return ", ".join(f"{target.rsplit('.', 1)[-1]}={_short(v)}" for target, v in params.items())


class _NameDelegate(QStyledItemDelegate):
    """Only the name column edits, with a line edit of at most MAX_NAME characters."""

    def createEditor(self, parent, option, index):
        if index.column() != 0:
            return None
        editor = QLineEdit(parent)
        editor.setMaxLength(MAX_NAME)
        editor.setFrame(False)
        return editor


class RunsWidget(QWidget):
    """The runs of one project, newest first, with their final figures.

    Tick runs to compare them (``compareChanged`` sends their overlay data); rename in place
    (double-click or F2 on the name), delete, resume (``resumeRequested`` with the checkpoint
    path) or open a run's folder from the buttons or the context menu. A sweep in the runs
    folder is one row with its trials under it; a trial does what a run does, and a whole sweep
    can be opened or (after a confirmation naming its trials) deleted."""

    resumeRequested = Signal(object)  # Path of the run's checkpoint.pt
    compareChanged = Signal(list)  # list[tuple[str, dict]] for LivePlots.set_overlays
    runChosen = Signal(object)  # RunInfo (or None): the user selected a run or a trial

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._root: Path | None = None
        self._active: Path | None = None
        self._runs: list[RunInfo] = []
        self._sweeps: list[SweepInfo] = []
        self._active_sweep: Path | None = None
        self._expanded: set[Path] = set()
        self._checked: set[Path] = set()
        self._last_compare: list[tuple] = []
        self._filling = False
        self._reloading = False
        self._metric_keys: list[str] = []
        self._build()
        self._update_actions()
        self._show_empty()

    # ---------------------------------------------------------------- construction
    def _build(self) -> None:
        # The shortcuts are shown in the context menu; the keys themselves are handled by
        # the tree (eventFilter), so the window's Delete (canvas nodes) never fires here.
        self.rename_action = self._make_action(
            "Rename…", self.rename_current, "F2", "Give the selected run a name (F2)"
        )
        self.delete_action = self._make_action(
            "Delete…", self.delete_current, "Del", "Delete the selected run's folder"
        )
        self.resume_action = self._make_action(
            "Resume",
            self.resume_current,
            None,
            "Train on from the selected run's checkpoint (a new run; the epochs setting "
            "says how far)",
        )
        self.open_action = self._make_action(
            "Open folder", self.open_current, None, "Show the selected run's files"
        )
        self.reload_action = self._make_action(
            "Refresh", self.reload, "F5", "Read the runs folder again (F5)"
        )

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.setSpacing(6)
        self.buttons: dict[str, QPushButton] = {}
        for key, action in (
            ("rename", self.rename_action),
            ("delete", self.delete_action),
            ("resume", self.resume_action),
            ("open", self.open_action),
        ):
            button = QPushButton(action.text())
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            bar.addWidget(button)
            self.buttons[key] = button
        bar.addStretch(1)
        self.compare_label = QLabel(COMPARE_HINT)
        bar.addWidget(self.compare_label)
        self.clear_button = QPushButton("Clear comparison")
        self.clear_button.setToolTip("Untick every run")
        self.clear_button.clicked.connect(self.clear_comparison)
        bar.addWidget(self.clear_button)
        refresh = QPushButton("Refresh")
        refresh.setToolTip(self.reload_action.toolTip())
        refresh.clicked.connect(self.reload)
        bar.addWidget(refresh)
        self.buttons["refresh"] = refresh
        self.tensorboard = TensorBoardLauncher(self)
        self.tensorboard.open_url = lambda url: self.open_url(url)
        self.tensorboard.opened.connect(lambda url: self._say(f"TensorBoard is open at {url}"))
        self.tensorboard.failed.connect(lambda message: self._say(message, error=True))
        board = QPushButton("Open in TensorBoard")
        board.setToolTip(
            "Start TensorBoard on this project's runs folder and open it in the browser: runs "
            "that had the tensorboard setting on show their curves, hyperparameters and graph"
        )
        board.clicked.connect(self.open_tensorboard)
        bar.addWidget(board)
        self.buttons["tensorboard"] = board

        self.tree = QTreeWidget()
        self.tree.setObjectName("runsTree")
        self.tree.setRootIsDecorated(False)  # True while a sweep is listed
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.DoubleClicked
        )
        self.tree.setItemDelegate(_NameDelegate(self.tree))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu_at)
        self.tree.itemChanged.connect(self._item_changed)
        self.tree.currentItemChanged.connect(self._current_changed)
        self.tree.itemExpanded.connect(
            lambda item: isinstance(item, _SweepItem) and self._expanded.add(item.sweep.folder)
        )
        self.tree.itemCollapsed.connect(
            lambda item: isinstance(item, _SweepItem) and self._expanded.discard(item.sweep.folder)
        )
        self.tree.setSortingEnabled(True)
        self.tree.header().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        self.tree.header().setStretchLastSection(False)
        self.tree.installEventFilter(self)
        self._set_columns([])

        empty = QWidget()
        layout = QVBoxLayout(empty)
        layout.setContentsMargins(40, 0, 40, 0)
        layout.addStretch(1)
        self.empty_label = QLabel(EMPTY_HINT)
        font = QFont(self.empty_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        self.empty_label.setFont(font)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        detail = QLabel(EMPTY_DETAIL)
        detail.setWordWrap(True)
        detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_detail = detail
        layout.addWidget(self.empty_label)
        layout.addWidget(detail)
        layout.addStretch(1)

        self.pages = QStackedWidget()
        self.pages.addWidget(empty)
        self.pages.addWidget(self.tree)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setContentsMargins(6, 0, 6, 2)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message.hide()

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        outer.addLayout(bar)
        outer.addWidget(self.pages, 1)
        outer.addWidget(self.message)
        self._message_error = False
        self._apply_colors()

    def _apply_colors(self) -> None:
        for label in (self.compare_label, self.empty_detail):
            label.setStyleSheet(_subtle())
        if not self._message_error:
            self.message.setStyleSheet(_subtle())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_colors()

    def _make_action(self, text: str, slot, shortcut, tip: str) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _set_columns(self, metric_keys: list[str]) -> None:
        self._metric_keys = metric_keys
        titles = ["Name", "Started", "Status", "Epochs"]
        titles += [HEADLINE_TITLES[k] for k in metric_keys]
        self.tree.setColumnCount(len(titles))
        self.tree.setHeaderLabels(titles)
        header_item = self.tree.headerItem()
        header_item.setToolTip(
            0, "The run's name (double-click or F2 to rename); tick to compare it on the Curves tab"
        )
        header_item.setToolTip(3, "Epochs finished")
        for i, key in enumerate(metric_keys, start=len(COLUMNS)):
            header_item.setToolTip(i, HEADLINE_TIPS[key])
            header_item.setTextAlignment(
                i, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        header_item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    # ---------------------------------------------------------------- public
    @property
    def root(self) -> Path | None:
        return self._root

    @property
    def runs(self) -> list[RunInfo]:
        """The runs listed, newest first (not the sweeps' trials)."""
        return list(self._runs)

    @property
    def sweeps(self) -> list[SweepInfo]:
        """The sweeps listed, newest first, each with its trials."""
        return list(self._sweeps)

    def set_active_sweep(self, folder: Path | None) -> None:
        """The sweep running now (None when none): shown as running, cannot be deleted."""
        self._active_sweep = Path(folder) if folder is not None else None
        self.reload()

    def set_root(self, root: Path | None) -> None:
        """List the runs in ``root`` (a project's runs folder); a new root drops the
        comparison."""
        root = Path(root) if root is not None else None
        if root != self._root:
            self._root = root
            self._checked.clear()
        self.reload()

    def set_active(self, folder: Path | None) -> None:
        """The run training now (None when idle): shown as running, cannot be deleted, and
        Resume waits until it ends."""
        self._active = Path(folder) if folder is not None else None
        self.reload()

    def reload(self) -> None:
        """Read the runs folder again, keeping the ticks, the selection and the sort."""
        self._reloading = True
        try:
            self._reload()
        finally:
            self._reloading = False

    def _reload(self) -> None:
        keep = self._current_folder()
        self._runs = load_runs(self._root)
        self._sweeps = load_sweeps(self._root)
        for sweep in self._sweeps:
            if self._active_sweep is not None and sweep.folder == self._active_sweep:
                sweep.state = "running"
        for info in self._runs:
            if (
                self._active is not None
                and info.folder == self._active
                and info.status in ("unknown", "running")
            ):
                info.status = "running"
        trials = [t for sweep in self._sweeps for t in sweep.trials]
        present = {info.folder for info in self._runs + trials}
        self._checked &= present
        keys = [
            k
            for k in HEADLINE
            if any(_number(info.final.get(k)) is not None for info in self._runs + trials)
        ]
        self._fill(keys, keep)
        self._emit_compare()

    def current_run(self) -> RunInfo | None:
        item = self.tree.currentItem()
        return item.info if isinstance(item, _RunItem) else None

    def current_sweep(self) -> SweepInfo | None:
        """The sweep whose row is selected (None for a run or a trial)."""
        item = self.tree.currentItem()
        return item.sweep if isinstance(item, _SweepItem) else None

    def _current_folder(self) -> Path | None:
        item = self.tree.currentItem()
        if isinstance(item, _RunItem):
            return item.info.folder
        if isinstance(item, _SweepItem):
            return item.sweep.folder
        return None

    def select_run(self, folder: Path) -> bool:
        """Select the run, trial (its sweep opened) or sweep in ``folder``."""
        item = self.item_for(folder)
        if item is not None:
            if item.parent() is not None:
                item.parent().setExpanded(True)
            self.tree.setCurrentItem(item)
        return item is not None

    def _items(self) -> list[QTreeWidgetItem]:
        """Every row in the order shown: a sweep, then its trials."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            out.append(item)
            out.extend(item.child(j) for j in range(item.childCount()))
        return out

    def item_for(self, folder: Path) -> QTreeWidgetItem | None:
        folder = Path(folder)
        for item in self._items():
            if isinstance(item, _RunItem) and item.info.folder == folder:
                return item
            if isinstance(item, _SweepItem) and item.sweep.folder == folder:
                return item
        return None

    def checked_runs(self) -> list[RunInfo]:
        """The ticked runs and trials in the order shown."""
        return [
            item.info
            for item in self._items()
            if isinstance(item, _RunItem) and item.info.folder in self._checked
        ]

    def set_checked(self, folder: Path, on: bool = True) -> None:
        item = self.item_for(folder)
        if item is not None:
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def clear_comparison(self) -> None:
        self._filling = True
        try:
            for item in self._items():
                if isinstance(item, _RunItem):
                    item.setCheckState(0, Qt.CheckState.Unchecked)
        finally:
            self._filling = False
        self._checked.clear()
        self._emit_compare()

    def compare_data(self) -> list[tuple[str, dict]]:
        """``(name, overlay data)`` for the ticked runs, for ``LivePlots.set_overlays``."""
        return [(info.name, overlay_data(info)) for info in self.checked_runs()]

    # overridable prompts (tests patch these)
    def confirm_delete(self, info: RunInfo) -> bool:
        figures = f"{info.epochs} epochs" if info.epochs else "no finished epoch"
        answer = QMessageBox.question(
            self,
            "Delete run",
            f"Delete the run “{info.name}” ({figures}) and its folder?\n\n{info.folder}\n\n"
            "Its checkpoint and weights go too; this cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def confirm_delete_sweep(self, sweep: SweepInfo) -> bool:
        n = len(sweep.trials)
        answer = QMessageBox.question(
            self,
            "Delete sweep",
            f"Delete the sweep “{sweep.name}” with its {n} trial{'s' if n != 1 else ''} "
            f"({sweep.summary()})?\n\n{sweep.folder}\n\nEvery trial's checkpoint and weights "
            "go too, and the sweep can no longer be resumed or applied; this cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def open_url(self, url: QUrl) -> bool:
        return QDesktopServices.openUrl(url)

    # ---------------------------------------------------------------- actions
    def rename_current(self) -> None:
        item = self.tree.currentItem()
        if isinstance(item, _RunItem) and item.info.status != "unreadable":
            self.tree.scrollToItem(item)
            self.tree.editItem(item, 0)

    def rename(self, folder: Path, new_name: str) -> bool:
        """Rename the run in ``folder``; False (with a message) when refused."""
        item = self.item_for(folder)
        if not isinstance(item, _RunItem):
            return False
        try:
            rename_run(item.info, new_name)
        except (OSError, ValueError) as exc:
            self._say(f"Could not rename: {exc}", error=True)
            self._set_name_text(item)
            return False
        self._set_name_text(item)
        self._say(f"Renamed to “{item.info.name}”.")
        if item.info.folder in self._checked:
            self._emit_compare()
        return True

    def delete_current(self) -> bool:
        sweep = self.current_sweep()
        if sweep is not None:
            return self._delete_sweep(sweep)
        info = self.current_run()
        if info is None:
            return False
        if info.sweep is not None and self._in_active_sweep(info):
            self._say("Its sweep is running: stop the sweep before deleting a trial.", error=True)
            return False
        if self._active is not None and info.folder == self._active:
            self._say("This run is training: stop it before deleting it.", error=True)
            return False
        if not self.confirm_delete(info):
            return False
        try:
            delete_run(info, self._root)
        except (OSError, ValueError) as exc:
            self._say(f"Could not delete “{info.name}”: {exc}", error=True)
            self.reload()
            return False
        self._checked.discard(info.folder)
        self._reload_after_delete()
        self._say(f"Deleted “{info.name}”.")
        return True

    def _delete_sweep(self, sweep: SweepInfo) -> bool:
        if self._active_sweep is not None and sweep.folder == self._active_sweep:
            self._say("This sweep is running: stop it before deleting it.", error=True)
            return False
        if not self.confirm_delete_sweep(sweep):
            return False
        try:
            delete_sweep(sweep, self._root)
        except (OSError, ValueError) as exc:
            self._say(f"Could not delete “{sweep.name}”: {exc}", error=True)
            self.reload()
            return False
        self._checked -= {t.folder for t in sweep.trials}
        self._expanded.discard(sweep.folder)
        self._reload_after_delete()
        self._say(f"Deleted the sweep “{sweep.name}” and its {len(sweep.trials)} trials.")
        return True

    def _reload_after_delete(self) -> None:
        """Reload and select the row where the deleted one was (or its sweep)."""
        current = self.tree.currentItem()
        parent = current.parent() if current is not None else None
        index = (
            parent.indexOfChild(current)
            if parent is not None
            else self.tree.indexOfTopLevelItem(current)
        )
        parent_folder = parent.sweep.folder if isinstance(parent, _SweepItem) else None
        self.reload()
        holder = self.item_for(parent_folder) if parent_folder is not None else None
        if holder is not None and holder.childCount():
            self.tree.setCurrentItem(holder.child(min(index, holder.childCount() - 1)))
        elif holder is not None:
            self.tree.setCurrentItem(holder)
        elif self.tree.topLevelItemCount():
            count = self.tree.topLevelItemCount()
            self.tree.setCurrentItem(self.tree.topLevelItem(min(max(index, 0), count - 1)))

    def _in_active_sweep(self, info: RunInfo) -> bool:
        return (
            self._active_sweep is not None
            and info.sweep is not None
            and info.folder.parent.parent == self._active_sweep
        )

    def resume_current(self) -> bool:
        info = self.current_run()
        if info is None or not self._can_resume(info):
            return False
        self.resumeRequested.emit(info.checkpoint)
        return True

    def open_tensorboard(self) -> bool:
        """Start TensorBoard (or show the running one) on the runs folder."""
        if self._root is None or not self._root.is_dir():
            self._say("No runs yet: TensorBoard has nothing to show", error=True)
            return False
        self._say("Starting TensorBoard…")
        self.tensorboard.open(self._root)
        return True

    def open_current(self) -> bool:
        folder = self._current_folder()
        if folder is None:
            return False
        return bool(self.open_url(QUrl.fromLocalFile(str(folder))))

    def context_menu(self) -> QMenu:
        """The menu for the current run (shown at the cursor by a right-click)."""
        menu = QMenu(self)
        for action in (
            self.rename_action,
            self.delete_action,
            self.resume_action,
            self.open_action,
        ):
            menu.addAction(action)
        menu.addSeparator()
        compare = menu.addAction("Compare")
        compare.setCheckable(True)
        info = self.current_run()
        compare.setEnabled(info is not None)
        compare.setChecked(info is not None and info.folder in self._checked)
        if info is not None:
            compare.toggled.connect(lambda on, f=info.folder: self.set_checked(f, on))
        menu.addAction(self.reload_action)
        return menu

    # ---------------------------------------------------------------- internals
    def _can_resume(self, info: RunInfo) -> bool:
        return info.has_checkpoint and info.status != "unreadable" and self._active is None

    def _context_menu_at(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is not None:
            self.tree.setCurrentItem(item)
        menu = self.context_menu()
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _current_changed(self, *_args) -> None:
        self._update_actions()
        if not self._filling and not self._reloading:  # the user's choice, not a reload's
            self.runChosen.emit(self.current_run())

    def _update_actions(self) -> None:
        info = self.current_run()
        sweep = self.current_sweep()
        has = info is not None
        active = has and (
            (self._active is not None and info.folder == self._active)
            or self._in_active_sweep(info)
        )
        self.rename_action.setEnabled(has and info.status != "unreadable")
        sweep_running = sweep is not None and sweep.folder == self._active_sweep
        self.delete_action.setEnabled(
            bool((has and not active) or (sweep is not None and not sweep_running))
        )
        self.resume_action.setEnabled(has and not active and self._can_resume(info))
        self.open_action.setEnabled(has or sweep is not None)
        if sweep is not None:
            tip = "A sweep is resumed from the Sweep dock; select one of its trials to train on"
        elif has and not info.has_checkpoint:
            tip = "This run has no checkpoint to resume from"
        elif has and self._active is not None:
            tip = "A run is training; resume when it ends"
        else:
            tip = self.resume_action.statusTip()
        self.buttons["resume"].setToolTip(tip)
        for key, action in (
            ("rename", self.rename_action),
            ("delete", self.delete_action),
            ("resume", self.resume_action),
            ("open", self.open_action),
        ):
            self.buttons[key].setEnabled(action.isEnabled())
        self.clear_button.setVisible(bool(self._checked))

    def _show_empty(self) -> None:
        self.pages.setCurrentIndex(0)
        for key in ("rename", "delete", "resume", "open"):
            self.buttons[key].setVisible(False)
        self.compare_label.setVisible(False)

    def _fill(self, metric_keys: list[str], keep: Path | None) -> None:
        header = self.tree.header()
        sort_column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        if sort_column >= len(COLUMNS):  # sorted by a metric: follow its column
            at = sort_column - len(COLUMNS)
            old = self._metric_keys[at] if at < len(self._metric_keys) else None
            if old in metric_keys:
                sort_column = len(COLUMNS) + metric_keys.index(old)
            else:  # that metric has gone: newest first again
                sort_column, order = 1, Qt.SortOrder.DescendingOrder
        self._filling = True
        try:
            self.tree.setSortingEnabled(False)
            self.tree.clear()
            self._set_columns(metric_keys)
            self.tree.setRootIsDecorated(bool(self._sweeps))
            for info in self._runs:
                self.tree.addTopLevelItem(self._make_item(info))
            for sweep in self._sweeps:
                group = self._make_sweep_item(sweep)
                self.tree.addTopLevelItem(group)
                group.addChildren([self._make_item(t) for t in sweep.trials])
                group.setExpanded(sweep.folder in self._expanded)
            self.tree.setSortingEnabled(True)
            self.tree.sortItems(sort_column, order)
        finally:
            self._filling = False
        if not self._runs and not self._sweeps:
            self._show_empty()
            self._update_actions()
            return
        self.pages.setCurrentIndex(1)
        for key in ("rename", "delete", "resume", "open"):
            self.buttons[key].setVisible(True)
        self.compare_label.setVisible(True)
        item = self.item_for(keep) if keep is not None else None
        if item is not None and item.parent() is not None:
            item.parent().setExpanded(True)
        self.tree.setCurrentItem(item or self.tree.topLevelItem(0))
        self._size_columns()
        self._update_actions()

    def _size_columns(self) -> None:
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(column)
        header.resizeSection(0, min(max(header.sectionSize(0) + 16, 180), 360))
        for column in range(1, self.tree.columnCount()):
            header.resizeSection(column, header.sectionSize(column) + 12)

    def _make_item(self, info: RunInfo) -> _RunItem:
        item = _RunItem(info)
        flags = (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsUserCheckable
        )
        if info.status != "unreadable":
            flags |= Qt.ItemFlag.ItemIsEditable
        item.setFlags(flags)
        item.setCheckState(
            0, Qt.CheckState.Checked if info.folder in self._checked else Qt.CheckState.Unchecked
        )
        self._set_name_text(item)
        item.setText(1, info.started_text())
        item.setData(1, SORT_ROLE, _sort_time(info))
        item.setText(2, info.status)
        item.setData(2, SORT_ROLE, info.status)
        item.setForeground(2, QColor(STATUS_COLORS.get(info.status, "#6b7280")))
        item.setToolTip(2, info.problem or info.error or STATUS_TIPS.get(info.status, info.status))
        item.setText(3, str(info.epochs) if info.epochs or info.status != "unreadable" else "–")
        item.setData(3, SORT_ROLE, info.epochs)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        item.setTextAlignment(3, right)
        for column, key in enumerate(self._metric_keys, start=len(COLUMNS)):
            value = _number(info.final.get(key))
            item.setText(column, _format(key, value))
            item.setTextAlignment(column, right)
            item.setData(
                column, SORT_ROLE, value if value is not None and math.isfinite(value) else None
            )
        return item

    def _make_sweep_item(self, sweep: SweepInfo) -> _SweepItem:
        item = _SweepItem(sweep)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        n = len(sweep.trials)
        item.setText(0, f"{sweep.name} ({n} trial{'s' if n != 1 else ''})")
        item.setData(0, SORT_ROLE, sweep.name.casefold())
        font = QFont(item.font(0))
        font.setBold(True)
        item.setFont(0, font)
        lines = [f"Sweep {sweep.name}: {sweep.summary()}", str(sweep.folder)]
        if sweep.problem:
            lines.append(sweep.problem)
        item.setToolTip(0, "\n".join(lines))
        item.setText(1, sweep.started_text())
        item.setData(1, SORT_ROLE, _sort_time(sweep))
        item.setText(2, sweep.state)
        item.setData(2, SORT_ROLE, sweep.state)
        item.setForeground(2, QColor(STATUS_COLORS.get(sweep.state, "#6b7280")))
        item.setToolTip(2, STATUS_TIPS.get(sweep.state, sweep.summary()))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        item.setText(3, "")
        item.setData(3, SORT_ROLE, None)
        for column, key in enumerate(self._metric_keys, start=len(COLUMNS)):
            # the best trial's objective, under its metric's column
            value = sweep.best if key == sweep.metric else None
            item.setText(column, _format(key, value) if value is not None else "")
            item.setTextAlignment(column, right)
            item.setData(
                column, SORT_ROLE, value if value is not None and math.isfinite(value) else None
            )
            if value is not None:
                item.setToolTip(column, f"Best trial: {sweep.summary()}")
        return item

    def _set_name_text(self, item: _RunItem) -> None:
        blocked = self.tree.blockSignals(True)
        try:
            item.setText(0, item.info.name)
            item.setData(0, SORT_ROLE, item.info.name.casefold())
            lines = [item.info.name, str(item.info.folder)]
            if item.info.params:
                lines.insert(1, params_text(item.info.params))
            if item.info.resumed_from:
                lines.append(f"resumed from {item.info.resumed_from}")
            for why in (item.info.problem, item.info.error):
                if why:
                    lines.append(why)
            item.setToolTip(0, "\n".join(lines))
        finally:
            self.tree.blockSignals(blocked)

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0 or not isinstance(item, _RunItem):
            return
        folder = item.info.folder
        checked = item.checkState(0) == Qt.CheckState.Checked
        if checked != (folder in self._checked):
            if checked:
                self._checked.add(folder)
            else:
                self._checked.discard(folder)
            self._update_actions()
            self._emit_compare()
        if item.text(0) != item.info.name:
            self.rename(folder, item.text(0))

    def _emit_compare(self) -> None:
        runs = self.checked_runs()
        n = len(runs)
        self.compare_label.setText(
            f"Comparing {n} run{'s' if n != 1 else ''} on the Curves tab" if n else COMPARE_HINT
        )
        self.clear_button.setVisible(bool(n))
        key = [(str(r.folder), r.name, r.status, r.epochs, r.global_step) for r in runs]
        if key == self._last_compare:
            return
        self._last_compare = key
        self.compareChanged.emit(self.compare_data())

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self._message_error = error
        self.message.setStyleSheet(f"color: {STATUS_COLORS['failed']};" if error else _subtle())
        self.message.setVisible(bool(text))

    _KEYS = {
        Qt.Key.Key_Delete: "delete",
        Qt.Key.Key_Backspace: "delete",
        Qt.Key.Key_F2: "rename",
        Qt.Key.Key_F5: "reload",
    }

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.tree and event.type() in (
            QEvent.Type.ShortcutOverride,
            QEvent.Type.KeyPress,
        ):
            what = (
                self._KEYS.get(event.key())
                if event.modifiers()
                in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
                else None
            )
            if what is not None:
                event.accept()  # ShortcutOverride: the key comes here, not to the window
                if event.type() == QEvent.Type.KeyPress:
                    {
                        "delete": self.delete_current,
                        "rename": self.rename_current,
                        "reload": self.reload,
                    }[what]()
                return True
        return super().eventFilter(watched, event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._root is not None:
            self.reload()  # runs may have come or gone while hidden

    def sizeHint(self) -> QSize:
        return QSize(720, 260)
