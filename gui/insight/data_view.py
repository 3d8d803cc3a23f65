"""What a data node yields, drawn: an image grid with each sample's label, table rows under
their column names, or text snippets with their tokens. The samples come read already (the
shape process reads them, ``Document.request_samples``); nothing here imports torch."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.gui import theme

MAP_PIXELS = 56  # each feature map or sample image is drawn this tall
GRID_COLUMNS = 4
SNIPPET_CHARS = 160
TOKENS_SHOWN = 24


def gray_pixmap(values: np.ndarray, height: int = MAP_PIXELS) -> QPixmap:
    """A 2-d array as a grey picture scaled by its own range, ``height`` pixels tall."""
    a = np.nan_to_num(values.astype(np.float64))
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    pixels = np.ascontiguousarray((a * 255).round().astype(np.uint8))
    h, w = pixels.shape
    image = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(image).scaledToHeight(height, Qt.TransformationMode.FastTransformation)


def rgb_pixmap(chw: np.ndarray, height: int = MAP_PIXELS) -> QPixmap:
    """A [C, H, W] sample (1 or 3 channels) as a picture scaled by its own range."""
    if chw.shape[0] != 3:
        return gray_pixmap(chw.mean(0), height)
    a = np.nan_to_num(chw.astype(np.float64))
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    pixels = np.ascontiguousarray((a.transpose(1, 2, 0) * 255).round().astype(np.uint8))
    h, w, _ = pixels.shape
    image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaledToHeight(height, Qt.TransformationMode.FastTransformation)


class DataSamplesView(QWidget):
    """A data node's samples in the inspector; ``status`` says what is going on (reading, or
    why the samples cannot be read)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.samples = None
        self.status = QLabel("")
        self.status.setObjectName("samplesStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.images: list[QLabel] = []  # the image grid's pictures, in sample order
        self.table: QTableWidget | None = None
        self.snippets: list[QLabel] = []
        self._body = QWidget()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._layout.addWidget(self.status)
        self._layout.addWidget(self._body)

    # ------------------------------------------------------------------ states
    def show_reading(self) -> None:
        if self.samples is None:
            self._set_status("Reading samples…")
        else:  # the old samples stay until the new ones are in
            self._set_status("Reading samples again after the edit…")

    def show_error(self, message: str) -> None:
        self.samples = None
        self._new_body()
        self._set_status(f"Cannot read samples: {message}", error=True)

    def show_samples(self, samples) -> None:
        self.samples = samples
        body = self._new_body()
        n = len(samples.inputs)
        if n == 0:
            self._set_status("The training split yields no samples.", error=True)
            return
        self._set_status(
            f"The first {n} training samples, after transforms and augmentation:"
            if samples.kind != "tensor"
            else f"The first {n} training samples:"
        )
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        if samples.kind == "image":
            lay.addLayout(self._image_grid(samples))
        elif samples.kind == "table":
            lay.addWidget(self._table(samples))
        elif samples.kind == "text":
            for text, label, tokens in zip(
                samples.texts, samples.labels, samples.tokens or [[]] * n, strict=True
            ):
                lay.addWidget(self._snippet(text, label, tokens))
        else:
            for x, label in zip(samples.inputs, samples.labels, strict=True):
                shape = "×".join(str(d) for d in np.shape(x)) or "scalar"
                row = QLabel(f"{shape} {np.asarray(x).dtype} → {label}")
                self.snippets.append(row)
                lay.addWidget(row)

    # ------------------------------------------------------------------ parts
    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        look = theme.current()
        self.status.setStyleSheet(f"color: {look.error.name()};" if error else "")

    def _new_body(self) -> QWidget:
        old = self._body
        self._body = QWidget()
        self._layout.replaceWidget(old, self._body)
        old.hide()
        old.deleteLater()
        self.images, self.table, self.snippets = [], None, []
        return self._body

    def _image_grid(self, samples) -> QGridLayout:
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for k, (x, label) in enumerate(zip(samples.inputs, samples.labels, strict=True)):
            picture = QLabel()
            picture.setPixmap(rgb_pixmap(np.asarray(x)))
            picture.setToolTip(f"sample {k}: {label} ({'×'.join(map(str, np.shape(x)))})")
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel(label)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.images.append(picture)
            row, col = divmod(k, GRID_COLUMNS)
            grid.addWidget(picture, 2 * row, col)
            grid.addWidget(caption, 2 * row + 1, col)
        return grid

    def _table(self, samples) -> QTableWidget:
        names = ["target", *samples.feature_names]  # the target first: seen without scrolling
        table = QTableWidget(len(samples.inputs), len(names))
        table.setObjectName("samplesTable")
        table.setHorizontalHeaderLabels(names)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for r, (x, label) in enumerate(zip(samples.inputs, samples.labels, strict=True)):
            table.setItem(r, 0, QTableWidgetItem(label))
            for c, value in enumerate(np.asarray(x).reshape(-1).tolist(), start=1):
                item = QTableWidgetItem(f"{value:.4g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
        height += sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(height + table.horizontalScrollBar().sizeHint().height())
        self.table = table
        return table

    def _snippet(self, text: str, label: str, tokens: list[str]) -> QLabel:
        shown = text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"
        words = [t for t in tokens if t != "<pad>"]
        chips = " · ".join(words[:TOKENS_SHOWN]) + (" …" if len(words) > TOKENS_SHOWN else "")
        padding = len(tokens) - len(words)
        counts = f"{len(words)} tokens" + (f" + {padding} padding" if padding else "")
        row = QLabel(f"“{shown}” → {label}\n[{counts}] {chips}")
        row.setWordWrap(True)
        row.setTextFormat(Qt.TextFormat.PlainText)
        row.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.setToolTip(f"tokens: {' '.join(tokens)}")
        self.snippets.append(row)
        return row
