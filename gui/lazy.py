"""A widget that holds the place of another, built the first time it is shown or asked for.

Docks whose widgets load heavy modules (pyqtgraph's plots) use it so the window paints first."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyWidget(QWidget):
    """Builds ``factory()`` into itself on its first show or on ``widget()``."""

    def __init__(self, factory: Callable[[], QWidget], parent=None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._widget: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._widget is not None

    def widget(self) -> QWidget:
        if self._widget is None:
            self._widget = self._factory()
            self.layout().addWidget(self._widget)
            self._widget.show()  # a child added to a shown widget stays hidden until told
        return self._widget

    def showEvent(self, event) -> None:
        self.widget()
        super().showEvent(event)
