"""The start card: shown in the middle of an empty canvas, it says how to begin (drag from the
palette, Tab to add a node by name, open an example) and offers each as a button."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

# small examples that open and check in a moment, in this order; the File menu lists them all
START_EXAMPLES = ("digits_cnn", "mlp_regression", "iris_mlp")


class StartCard(QFrame):
    """A card over the canvas's viewport; the window shows it while the graph is empty.
    Drags from the palette pass through it to the canvas (it accepts no drops itself)."""

    paletteRequested = Signal()
    addRequested = Signal()
    exampleRequested = Signal(Path)

    def __init__(self, viewport: QWidget, examples: list[Path]):
        super().__init__(viewport)
        self.setObjectName("startCard")
        self.setAcceptDrops(False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setStyleSheet(
            "QFrame#startCard { background: palette(base); "
            "border: 1px solid palette(mid); border-radius: 8px; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(8)
        title = QLabel("Start a model")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        self.steps = QLabel(
            "• Drag a layer, a loss or a dataset from the <b>Palette</b> onto the canvas<br>"
            "• or press <b>Tab</b> (or double-click the canvas) to add a node by name<br>"
            "• or open an example and change it"
        )
        self.steps.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.steps)

        actions = QHBoxLayout()
        self.palette_button = QPushButton("Show palette")
        self.palette_button.setToolTip("Show the palette and search it (Ctrl+F)")
        self.palette_button.clicked.connect(self.paletteRequested)
        self.add_button = QPushButton("Add a node…  (Tab)")
        self.add_button.setToolTip("Search every node type by name")
        self.add_button.clicked.connect(self.addRequested)
        actions.addWidget(self.palette_button)
        actions.addWidget(self.add_button)
        actions.addStretch(1)
        layout.addLayout(actions)

        layout.addWidget(QLabel("Examples (all of them under File ▸ Examples):"))
        row = QHBoxLayout()
        self.example_buttons: dict[str, QPushButton] = {}
        by_name = {p.stem: p for p in examples}
        for name in START_EXAMPLES:
            path = by_name.get(name)
            if path is None:
                continue
            button = QPushButton(name.replace("_", " "))
            button.setToolTip(f"Open the {name.replace('_', ' ')} example as a new project")
            button.clicked.connect(lambda _=False, p=path: self.exampleRequested.emit(p))
            row.addWidget(button)
            self.example_buttons[name] = button
        row.addStretch(1)
        layout.addLayout(row)
        self.adjustSize()
        self._placing = False
        viewport.installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.parentWidget():
            self._place()
        return False

    def moveEvent(self, event) -> None:
        """Panning scrolls the viewport's children with the scene: the card stays put."""
        super().moveEvent(event)
        if not self._placing:
            self._place()

    def _place(self) -> None:
        """In the middle of the viewport, and no wider than it."""
        parent = self.parentWidget()
        hint = self.sizeHint()
        w = min(hint.width(), max(parent.width() - 20, 100))
        h = min(hint.height(), max(parent.height() - 20, 60))
        self._placing = True
        try:
            self.setGeometry((parent.width() - w) // 2, (parent.height() - h) // 2, w, h)
        finally:
            self._placing = False
