"""A tab that holds the place of its widget until the widget is first needed.

The Training dock's plot and results tabs use it: their widgets load pyqtgraph and numpy,
which would otherwise be paid before the window's first paint."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTabWidget, QWidget


class LazyTab(QWidget):
    """Adds itself to ``tabs`` as ``title``; ``widget()`` (or the tab's first show) builds
    ``factory()`` and puts it in the tab's place, so the real widget is the tab's page."""

    def __init__(self, tabs: QTabWidget, title: str, factory: Callable[[], QWidget]) -> None:
        super().__init__()
        self._tabs = tabs
        self._title = title
        self._factory = factory
        self._widget: QWidget | None = None
        tabs.addTab(self, title)

    @property
    def built(self) -> bool:
        return self._widget is not None

    def widget(self) -> QWidget:
        if self._widget is None:
            widget = self._widget = self._factory()
            tabs = self._tabs
            index = tabs.indexOf(self)
            current = tabs.currentIndex() == index
            blocked = tabs.blockSignals(True)  # one page for another: not a change of tab
            tabs.insertTab(index, widget, self._title)
            tabs.removeTab(index + 1)
            tabs.setCurrentIndex(tabs.currentIndex() if not current else index)
            tabs.blockSignals(blocked)
            if current:
                tabs.currentChanged.emit(index)  # what follows the tab sees the real page
        return self._widget

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._widget is None:  # the tab is looked at: build right after this paint
            QTimer.singleShot(0, self, self._build_if_shown)

    def _build_if_shown(self) -> None:
        # still the tab in view: a neighbour's swap shows this one for a moment only
        if self._widget is None and self._tabs.currentWidget() is self and self.isVisible():
            self.widget()
