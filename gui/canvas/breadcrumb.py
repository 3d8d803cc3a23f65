"""The bar above the canvas while a block's body is edited in place: "Model ▸ ConvBlock".

"Model" is a link back to the whole model (so is Esc on the canvas); the bar also says that an
edit here changes every use of the block.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from torchcanvas.gui import theme

SEPARATOR = "▸"


class BreadcrumbBar(QWidget):
    """Where the canvas is: the model, or a block inside it."""

    rootRequested = Signal()  # "Model" was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("breadcrumb")
        self.setAutoFillBackground(True)
        self.model_button = QPushButton("Model")
        self.model_button.setObjectName("breadcrumbModel")
        self.model_button.setFlat(True)
        self.model_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.model_button.setToolTip("Back to the whole model (Esc)")
        self.model_button.clicked.connect(self.rootRequested)
        self.separator = QLabel(SEPARATOR)
        self.block_label = QLabel("")
        self.block_label.setObjectName("breadcrumbBlock")
        font = self.block_label.font()
        font.setBold(True)
        self.block_label.setFont(font)
        self.hint = QLabel("")
        self.hint.setObjectName("breadcrumbHint")
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 8, 2)
        layout.setSpacing(6)
        for w in (self.model_button, self.separator, self.block_label):
            layout.addWidget(w)
        layout.addSpacing(12)
        layout.addWidget(self.hint, 1)
        self._restyle()

    def _restyle(self) -> None:
        t = theme.current()
        self.model_button.setStyleSheet(
            f"QPushButton {{ color: {t.selection.name()}; border: none; padding: 2px 4px; }}"
            "QPushButton:hover { text-decoration: underline; }"
        )
        self.hint.setStyleSheet("color: palette(placeholder-text);")

    def show_block(self, name: str, uses: int) -> None:
        """Show "Model ▸ ``name``" with how many uses an edit here changes."""
        self.block_label.setText(name)
        many = f"all {uses} uses" if uses > 1 else "its use" if uses == 1 else "every use"
        self.hint.setText(f"editing block {name}: changes apply to {many} · Esc: back to the model")
        self.show()

    def text(self) -> str:
        """The path as shown: "Model ▸ ConvBlock"."""
        return f"{self.model_button.text()} {SEPARATOR} {self.block_label.text()}"
