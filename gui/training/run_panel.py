"""The run panel: Train / Pause / Resume / Stop, the device, the project's training settings
(edited through the document, so undoable), and progress with speed and time left.

The settings scroll when the panel is short; the buttons above them and the status below them
(progress, speed, notices, the last message) stay in view."""

from __future__ import annotations

import math
import time
from html import escape

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.catalogue.style import STYLE_NOTE, optimises_image
from torchcanvas.graph.errors import ParamError
from torchcanvas.graph.settings import COMPILE_MODES, PRECISIONS, SETTINGS
from torchcanvas.gui import theme
from torchcanvas.gui.panels.fields import CheckedDoubleSpinBox, CheckedSpinBox, parse_typed
from torchcanvas.gui.training.sweep_edit import (
    install_sweep_menu,
    open_dimension_dialog,
    setting_target,
)


class _SettingsScroll(QScrollArea):
    """The settings, scrolling: as tall as they are when there is room (the status follows
    right below them), shorter with a scroll bar when there is not."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.setObjectName("runSettingsScroll")
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setMinimumHeight(60)

    def sizeHint(self) -> QSize:
        hint = self.widget().sizeHint()
        return QSize(hint.width() + self.verticalScrollBar().sizeHint().width(), hint.height())

    def minimumSizeHint(self) -> QSize:
        width = self.widget().minimumSizeHint().width()
        return QSize(width + self.verticalScrollBar().sizeHint().width(), 60)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunPanel(QWidget):
    trainRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    nodeClicked = Signal(str)

    def __init__(self, doc=None, parent=None):
        super().__init__(parent)
        self.doc = None
        self._total_steps = 0
        self._started_at = 0.0
        self._fault_node: str | None = None
        self._run_notices = ""  # what the run said when it started (e.g. no weights file)

        self.train_button = QPushButton("▶  Train")
        self.train_button.setObjectName("trainButton")
        self.pause_button = QPushButton("❚❚  Pause")
        self.resume_button = QPushButton("▶  Resume")
        self.stop_button = QPushButton("■  Stop")
        self.train_button.clicked.connect(self.trainRequested)
        self.pause_button.clicked.connect(self.pauseRequested)
        self.resume_button.clicked.connect(self.resumeRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)

        self.device = QComboBox()
        self.device.setEditable(False)
        self.device.setToolTip(SETTINGS["device"].help)
        self.device.addItem("auto")
        self.device.activated.connect(self._device_chosen)
        self.epochs = CheckedSpinBox(minimum=1, maximum=100_000)
        self.batch_size = CheckedSpinBox(minimum=1, maximum=1_000_000)
        self.seed = CheckedSpinBox(minimum=0, maximum=2**31 - 1)
        self.val_split = CheckedDoubleSpinBox(minimum=0.0, maximum=0.9, singleStep=0.05, decimals=2)
        self._fields = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "val_split": self.val_split,
        }
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("device", self.device)
        for name, box in self._fields.items():
            box.setToolTip(SETTINGS[name].help)
            box.setKeyboardTracking(False)  # apply on Enter / focus-out / arrows, not per key
            box.valueChanged.connect(lambda value, n=name: self._setting_edited(n, value))
            box.refused.connect(lambda text, n=name: self._setting_refused(n, text))
            form.addRow(name.replace("_", " "), box)
        # why a typed setting was refused (the field keeps the project's value)
        self.settings_error = QLabel("")
        self.settings_error.setWordWrap(True)
        self.settings_error.setStyleSheet(f"color: {theme.current().error.name()};")
        form.addRow("", self.settings_error)
        self._form = form
        form.setRowVisible(self.settings_error, False)
        # a style transfer has no batches and no validation: those rows give way to a note
        self.style_note = QLabel(STYLE_NOTE)
        self.style_note.setObjectName("styleNote")
        self.style_note.setWordWrap(True)
        self.style_note.setStyleSheet("color: palette(mid);")
        form.insertRow(2, "", self.style_note)
        form.setRowVisible(self.style_note, False)

        # speed settings: a choice box each for precision and the compile mode, a check box for
        # each switch; every edit is a document command (undoable)
        self.precision = QComboBox()
        self.precision.addItems(PRECISIONS)
        self.compile_mode = QComboBox()
        self.compile_mode.addItems(COMPILE_MODES)
        self._choices = {"precision": self.precision, "compile_mode": self.compile_mode}
        for name, combo in self._choices.items():
            combo.setToolTip(SETTINGS[name].help)
            combo.activated.connect(
                lambda _i, n=name, c=combo: self._setting_edited(n, c.currentText())
            )
        self.compile = QCheckBox("compile")
        self.channels_last = QCheckBox("channels last")
        self.pin_memory = QCheckBox("pinned memory")
        self.cudnn_benchmark = QCheckBox("cuDNN benchmark")
        self._switches = {
            "compile": self.compile,
            "channels_last": self.channels_last,
            "pin_memory": self.pin_memory,
            "cudnn_benchmark": self.cudnn_benchmark,
        }
        for name, check in self._switches.items():
            check.setToolTip(SETTINGS[name].help)
            check.toggled.connect(lambda on, n=name: self._setting_edited(n, on))
        form.addRow("precision", self.precision)
        compile_row = QHBoxLayout()
        compile_row.addWidget(self.compile)
        compile_row.addWidget(self.compile_mode, 1)
        form.addRow("", compile_row)
        memory_row = QHBoxLayout()
        memory_row.addWidget(self.channels_last)
        memory_row.addWidget(self.pin_memory)
        form.addRow("", memory_row)
        form.addRow("", self.cudnn_benchmark)
        # right-click a setting: "Sweep this…" adds it to the project's sweep
        for name, widget in (*self._fields.items(), ("precision", self.precision)):
            install_sweep_menu(widget, lambda n=name: self.sweep_setting(n))

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.position = QLabel("")
        self.speed = QLabel("")
        for label in (self.position, self.speed):
            # Text that changes several times a second must not resize the panel (a relayout
            # of the window) or repaint what is behind it: a width that ignores the text, and
            # an opaque background.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setAutoFillBackground(True)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: palette(mid);")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.linkActivated.connect(
            lambda _: self._fault_node and self.nodeClicked.emit(self._fault_node)
        )

        settings = QWidget()
        settings.setObjectName("runSettings")
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        settings_layout.addLayout(form)
        settings_layout.addStretch(1)
        self.settings_scroll = _SettingsScroll(settings)
        # the status: never inside the scrolling part, so its last line is always in view
        self.status_box = QWidget()
        self.status_box.setObjectName("runStatus")
        status = QVBoxLayout(self.status_box)
        status.setContentsMargins(0, 0, 0, 0)
        for w in (self.progress, self.position, self.speed, self.notice, self.message):
            status.addWidget(w)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(buttons)
        layout.addWidget(self.settings_scroll)
        layout.addWidget(self.status_box)
        layout.addStretch(1)
        if doc is not None:
            self.set_document(doc)
        self.set_state("idle")
        self._latest = None
        self._tick = QTimer(self, singleShot=True, interval=250)
        self._tick.timeout.connect(self._show_latest)
        # the shape process, where torch is loaded, tells the devices: importing torch here
        # would hold the window for seconds at start-up
        from torchcanvas.gui.project import ShapeService

        ShapeService.instance().when_devices(self._fill_devices)

    # ------------------------------------------------------------------ document
    def set_document(self, doc) -> None:
        if self.doc is not None:
            self.doc.settingsChanged.disconnect(self._settings_changed)
            for signal in (self.doc.nodeAdded, self.doc.nodeRemoved, self.doc.graphReset):
                signal.disconnect(self._structure_changed)
        self.doc = doc
        doc.settingsChanged.connect(self._settings_changed)
        for signal in (doc.nodeAdded, doc.nodeRemoved, doc.graphReset):
            signal.connect(self._structure_changed)
        self._settings_changed("")
        self._structure_changed()

    def _structure_changed(self, *_args) -> None:
        """Show batch size and val split unless the project is a style transfer."""
        style = optimises_image(self.doc.graph)
        self._form.setRowVisible(self.batch_size, not style)
        self._form.setRowVisible(self.val_split, not style)
        self._form.setRowVisible(self.style_note, style)
        self.settings_scroll.updateGeometry()

    def _settings_changed(self, _name: str) -> None:
        settings = self.doc.graph.settings
        for name, box in self._fields.items():
            if box.value() != settings[name]:
                box.blockSignals(True)
                box.setValue(settings[name])
                box.blockSignals(False)
        for name, combo in self._choices.items():
            if combo.currentText() != settings[name]:
                combo.setCurrentText(settings[name])
        for name, check in self._switches.items():
            if check.isChecked() != settings[name]:
                check.blockSignals(True)
                check.setChecked(settings[name])
                check.blockSignals(False)
        self.compile_mode.setEnabled(settings["compile"])
        device = settings["device"]
        if self.device.findText(device) < 0:
            self.device.addItem(device)
        self.device.setCurrentText(device)

    def sweep_setting(self, name: str):
        """ "Sweep this…" on a training setting: the dimension dialog (see ``sweep_edit``)."""
        if self.doc is None:
            return None
        return open_dimension_dialog(self, self.doc, setting_target(name))

    def _show_settings_error(self, text: str) -> None:
        self.settings_error.setText(text)
        self._form.setRowVisible(self.settings_error, bool(text))
        self.settings_scroll.updateGeometry()

    def _setting_edited(self, name: str, value) -> None:
        self._show_settings_error("")
        if not self.doc.set_setting(name, value):
            self._settings_changed(name)  # refused: show the project's value again

    def _setting_refused(self, name: str, text: str) -> None:
        """A spin box kept the project's value: say why the typed one was refused."""
        spec = SETTINGS[name]
        try:
            spec.validate(parse_typed(text, integer=spec.type == "int"))
        except ValueError as exc:
            reason = exc.reason if isinstance(exc, ParamError) else "type a number"
            self._show_settings_error(f"{name}: {reason}")
        else:  # allowed, but more than the box holds (a seed beyond 2**31 - 1)
            self._show_settings_error(
                f"{name}: {text} is out of range; must be ≤ {self._fields[name].maximum()} here"
            )

    def _device_chosen(self, _index: int) -> None:
        if not self.doc.set_setting("device", self.device.currentText()):
            self._settings_changed("device")

    def _fill_devices(self, devices: list[str]) -> None:
        current = self.doc.graph.settings["device"] if self.doc is not None else "auto"
        self.device.blockSignals(True)
        self.device.clear()
        for d in devices:
            self.device.addItem(d)
        if self.device.findText(current) < 0:
            self.device.addItem(current)
        self.device.setCurrentText(current)
        self.device.blockSignals(False)

    # ------------------------------------------------------------------ run state
    def set_state(self, state: str) -> None:
        """idle, starting, running, paused or stopping."""
        busy = state != "idle"
        self.train_button.setEnabled(not busy)
        self.pause_button.setVisible(state != "paused")
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setVisible(state == "paused")
        self.stop_button.setEnabled(state in ("running", "paused", "starting"))
        if state == "starting":
            self._forget_run()  # what the previous run said is not about this one
            self.progress.setRange(0, 0)  # busy: compiling, loading data
            self.progress.setFormat("preparing…")
        elif state == "paused":
            self.progress.setFormat("paused · %p%")
        elif state == "stopping":
            self.progress.setFormat("stopping…")
        elif state == "running":
            self.progress.setFormat("%p%")

    def _forget_run(self) -> None:
        self._tick.stop()
        self._latest = None
        self._total_steps = 0
        self._fault_node = None
        self._run_notices = ""
        for label in (self.position, self.speed, self.notice, self.message):
            label.setText("")
        self.message.setTextFormat(Qt.TextFormat.AutoText)

    def clear_run(self) -> None:
        """Back to idle with nothing shown about a run (another project was opened)."""
        self._forget_run()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")

    def show_countdown(self, seconds: float) -> None:
        """A step that has not answered Stop is ended in ``seconds`` (0: now; -1: it answered)."""
        if seconds < 0:
            self.progress.setFormat("stopping…")
            self.message.setText("")
        elif seconds == 0:
            self.progress.setFormat("ending the step…")
            self.message.setText(
                "The current step did not answer Stop: ending the training "
                "process (the last checkpoint is kept)."
            )
        else:
            left = math.ceil(seconds)
            self.progress.setFormat(f"stopping… {left} s")
            self.message.setText(
                f"Waiting for the current step to finish: it is ended in "
                f"{left} s unless it answers Stop."
            )

    def run_started(self, event) -> None:
        self._total_steps = max(1, event.epochs * event.steps_per_epoch)
        self._started_at = time.monotonic()
        self._epochs, self._per_epoch = event.epochs, event.steps_per_epoch
        self.progress.setRange(0, self._total_steps)
        self.progress.setValue(event.start_epoch * event.steps_per_epoch + event.start_batch)
        self.position.setText(
            f"on {event.device} · {event.n_train:,} training samples · {event.params:,} parameters"
        )
        self._run_notices = " · ".join(getattr(event, "notices", ()))
        self.notice.setText(self._run_notices)

    def steps(self, events: list) -> None:
        """Note the latest step; the widgets follow at ~4 Hz (text relayouts are not free, and
        the UI thread shares the GIL with training)."""
        self._latest = events[-1]
        if not self._tick.isActive():
            self._tick.start()

    def _show_latest(self) -> None:
        last, self._latest = self._latest, None
        if last is None:
            return
        self.progress.setValue(last.global_step)
        elapsed = time.monotonic() - self._started_at
        done = last.global_step - (self.progress.minimum())
        left = (self._total_steps - last.global_step) * elapsed / max(done, 1)
        self.position.setText(
            f"epoch {last.epoch + 1}/{self._epochs} · step {last.step}/"
            f"{self._per_epoch} · loss {last.loss:.4g}"
        )
        self.speed.setText(
            f"{last.samples_per_s:,.0f} samples/s · {_clock(elapsed)} elapsed · {_clock(left)} left"
        )

    def run_ended(self, event) -> None:
        from torchcanvas.runtime.events import RunFailed

        self._tick.stop()
        self._show_latest()
        self.notice.setText(self._run_notices)  # "the graph changed" was about this run
        self.progress.setRange(0, max(self._total_steps, 1))
        if not self._total_steps:  # it ended before it started training
            self.progress.setValue(0)
        if isinstance(event, RunFailed):
            self._fault_node = event.node_id
            self.progress.setFormat("failed")
            link = " <a href='#node'>show the node</a>" if event.node_id else ""
            self.message.setText(
                f"<span style='color:#dc2626'>{escape(event.message)}</span>{link}"
            )
            self.message.setTextFormat(Qt.TextFormat.RichText)
            self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        else:
            self.progress.setFormat(f"{event.status} · {event.epochs_done} epochs")
            self.message.setText(
                f"{event.status} after {event.global_step:,} steps in {_clock(event.elapsed)}"
            )

    def graph_edited_during_run(self) -> None:
        self.notice.setText(
            "The graph changed: edits apply to the next run; this run trains "
            "the graph as it was when it started."
        )
