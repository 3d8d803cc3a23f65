"""The "Try it" tab of the Training dock: use a trained text model.

For a language model (a text-corpus project) the user types a prompt, picks the length,
temperature and top-k, and reads the generated continuation; for a text classifier (a
labelled-text project) the user types a sentence and sees the predicted label and its
probability. It uses the run selected in the Runs tab when that run has weights, else the
latest run. Loading a run and generating run in a worker thread (``runtime.text``, which calls
the generated train.py functions), so the window never stalls.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

NOT_TEXT = (
    "Try it works with text projects: a Text corpus data source (a language model that "
    "continues a prompt) or Labelled text (a classifier). Open char_rnn, sentiment_lstm or "
    "sentiment_cnn from the examples to see it."
)
NO_RUN = "No trained run yet: press Train, and try the model here after its first epoch."


class _Worker(QObject):
    """Lives in the panel's thread: loads runs (cached by weights file and time) and runs jobs."""

    done = Signal(object, object)  # (job, result)
    failed = Signal(object, str)  # (job, message)

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[Any, Any] = {}

    @Slot(object)
    def run(self, job: dict) -> None:
        from torchcanvas.runtime.text import TextModelError, load_trained

        try:
            run_dir: Path = job["run"]
            stamp = tuple(
                (p.name, p.stat().st_mtime_ns)
                for p in (run_dir / "checkpoint.pt", run_dir / "weights.pt")
                if p.is_file()
            )
            key = (str(run_dir), stamp)
            trained = self._cache.get(key)
            if trained is None:
                trained = load_trained(run_dir, project_dir=job["project_dir"])
                self._cache = {key: trained}  # one run at a time stays loaded
            if job["kind"] == "generate":
                result = trained.generate(
                    job["prompt"], job["length"], job["temperature"], job["top_k"]
                )
            else:
                result = trained.predict(job["text"])
            self.done.emit(job, (result, trained.epochs))
        except TextModelError as exc:
            self.failed.emit(job, str(exc))
        except Exception as exc:  # a user's model can raise anything; show it, do not crash
            self.failed.emit(job, f"{type(exc).__name__}: {exc}")


class TryItPanel(QWidget):
    """Generate text or classify a sentence with the latest (or selected) trained run."""

    _go = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task: str | None = None
        self.root: Path | None = None
        self.project_dir: Path | None = None
        self.selected_run: Callable[[], Path | None] = lambda: None
        self._busy = False
        self._build()
        self._thread = QThread(self)
        self._thread.setObjectName("try-it")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._go.connect(self._worker.run)
        self._worker.done.connect(self._done)
        self._worker.failed.connect(self._failed)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        self.set_project(None, None)

    def _build(self) -> None:
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("tryItStatus")
        self.pages = QStackedWidget()

        # language model
        gen = QWidget()
        self.prompt = QLineEdit("The ")
        self.prompt.setPlaceholderText("Text to continue")
        self.prompt.returnPressed.connect(self.generate)
        self.length = QSpinBox()
        self.length.setRange(1, 5000)
        self.length.setValue(200)
        self.length.setToolTip("Tokens to generate (characters or words)")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.05, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.temperature.setToolTip("Below 1: safer, more repetitive; above 1: more surprising")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 100_000)
        self.top_k.setSpecialValueText("all")
        self.top_k.setToolTip("Sample only from the k likeliest tokens (all: no limit)")
        self.generate_button = QPushButton("Generate")
        self.generate_button.clicked.connect(self.generate)
        knobs = QHBoxLayout()
        for label, widget in (
            ("Length", self.length),
            ("Temperature", self.temperature),
            ("Top-k", self.top_k),
        ):
            knobs.addWidget(QLabel(label))
            knobs.addWidget(widget)
        knobs.addStretch(1)
        knobs.addWidget(self.generate_button)
        self.output = QTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("Generated text appears here.")
        layout = QVBoxLayout(gen)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Prompt", self.prompt)
        layout.addLayout(form)
        layout.addLayout(knobs)
        layout.addWidget(self.output, 1)

        # classifier
        cls = QWidget()
        self.sentence = QLineEdit()
        self.sentence.setPlaceholderText("Type a sentence to classify")
        self.sentence.returnPressed.connect(self.predict)
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self.predict)
        row = QHBoxLayout()
        row.addWidget(self.sentence, 1)
        row.addWidget(self.predict_button)
        self.label = QLabel()
        self.label.setObjectName("tryItLabel")
        font = self.label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.label.setFont(font)
        self.probability = QProgressBar()
        self.probability.setRange(0, 1000)
        self.probability.setTextVisible(True)
        self.probability.hide()
        layout = QVBoxLayout(cls)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.label)
        layout.addWidget(self.probability)
        layout.addStretch(1)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(gen)
        self.pages.addWidget(cls)
        self.pages.addWidget(self.message)
        main = QVBoxLayout(self)
        main.addWidget(self.status)
        main.addWidget(self.pages, 1)

    # ------------------------------------------------------------------ state
    def set_project(
        self, task: str | None, root: Path | None, project_dir: Path | None = None
    ) -> None:
        """The open project's text task ("generate", "classify" or None) and its runs folder."""
        self.task, self.root, self.project_dir = task, root, project_dir
        if task == "generate":
            self.pages.setCurrentIndex(0)
        elif task == "classify":
            self.pages.setCurrentIndex(1)
        else:
            self.message.setText(NOT_TEXT)
            self.pages.setCurrentIndex(2)
        self.refresh()

    def run_dir(self) -> Path | None:
        """The selected run when it has weights, else the latest run with weights."""
        from torchcanvas.runtime.text import has_weights, latest_run

        selected = self.selected_run()
        if selected is not None and has_weights(selected):
            return selected
        return latest_run(self.root) if self.root is not None else None

    def refresh(self) -> None:
        """Say which run will be used (after a run ends, or another is selected)."""
        if self.task is None:
            self.status.setText("")
            return
        run = self.run_dir()
        self.status.setText(f"Using run {run.name}" if run else NO_RUN)
        self._enable()

    def _enable(self) -> None:
        ready = not self._busy and self.task is not None
        self.generate_button.setEnabled(ready)
        self.predict_button.setEnabled(ready)

    def _start(self, job: dict) -> bool:
        run = self.run_dir()
        if run is None:
            self.status.setText(NO_RUN)
            return False
        self._busy = True
        self._enable()
        self.status.setText(f"Using run {run.name}: working…")
        self._go.emit({**job, "run": run, "project_dir": self.project_dir})
        return True

    # ------------------------------------------------------------------ actions
    def generate(self) -> bool:
        if self._busy or self.task != "generate":
            return False
        return self._start(
            {
                "kind": "generate",
                "prompt": self.prompt.text(),
                "length": self.length.value(),
                "temperature": self.temperature.value(),
                "top_k": self.top_k.value(),
            }
        )

    def predict(self) -> bool:
        if self._busy or self.task != "classify":
            return False
        return self._start({"kind": "classify", "text": self.sentence.text()})

    def _done(self, job: dict, outcome: tuple) -> None:
        result, epochs = outcome
        self._busy = False
        trained = f" (after {epochs} epochs)" if epochs else ""
        self.status.setText(f"Using run {job['run'].name}{trained}")
        if job["kind"] == "generate":
            self.output.setHtml(
                "<div style='white-space: pre-wrap'><b>"
                + html.escape(job["prompt"])
                + "</b>"
                + html.escape(result)
                + "</div>"
            )
        else:
            label, probability = result
            self.label.setText(label)
            self.probability.setValue(round(probability * 1000))
            self.probability.setFormat(f"{probability:.1%} sure")
            self.probability.show()
        self._enable()

    def _failed(self, job: dict, message: str) -> None:
        self._busy = False
        self.status.setText(message)
        self._enable()

    def shutdown(self) -> None:
        """Stop the worker thread (the window closes)."""
        self._thread.quit()
        self._thread.wait()
