"""Colours and fonts, light or dark following the system.

``current()`` is called from paint methods, so the theme is built once and kept until the
application's palette, font or colour scheme changes; ``notifier().changed`` then tells the
views to repaint.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette

CATEGORY_COLORS = {
    "Data": "#3b82f6",
    "Layers": "#10b981",
    "Activations": "#f59e0b",
    "Ops": "#8b5cf6",
    "Losses": "#ef4444",
    "Optimizers": "#ec4899",
    "Schedulers": "#6366f1",
    "Pretrained": "#0ea5e9",
    "Blocks": "#14b8a6",
    "Code": "#475569",  # imported code: slate, set apart from every catalogue colour
}
PORT_COLORS = {"tensor": "#60a5fa", "loss": "#f97316", "optimizer": "#d946ef"}


@dataclass(frozen=True)
class Theme:
    dark: bool
    background: QColor
    grid_minor: QColor
    grid_major: QColor
    node_body: QColor
    node_border: QColor
    node_text: QColor
    node_subtext: QColor
    selection: QColor
    error: QColor
    warning: QColor
    wire: QColor
    label_bg: QColor
    label_text: QColor


def is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


class _Notifier(QObject):
    """Drops the cached theme when the palette, font or colour scheme changes; ``changed``
    follows, so views repaint with the new colours."""

    changed = Signal()

    def __init__(self, app: QGuiApplication) -> None:
        super().__init__(app)  # lives as long as the application
        self.app = app
        app.paletteChanged.connect(self._invalidate)
        app.fontChanged.connect(self._invalidate)
        app.styleHints().colorSchemeChanged.connect(self._invalidate)

    def _invalidate(self, *_args) -> None:
        invalidate()


_cached: Theme | None = None
_notifier: _Notifier | None = None


def notifier() -> _Notifier | None:
    """The object whose ``changed`` signal says the theme changed (None without an app)."""
    global _notifier
    app = QGuiApplication.instance()
    if app is None:
        return None
    if _notifier is None or _notifier.app is not app:
        _notifier = _Notifier(app)
    return _notifier


def invalidate() -> None:
    """Forget the cached theme (the palette or scheme changed) and tell the views."""
    global _cached
    _cached = None
    if _notifier is not None:
        _notifier.changed.emit()


def current() -> Theme:
    """The theme for the current palette and colour scheme, built once and cached."""
    global _cached
    theme = _cached
    if theme is None:
        theme = _build(is_dark())
        if notifier() is not None:  # without an application nothing would invalidate it
            _cached = theme
    return theme


def _build(dark: bool) -> Theme:
    if dark:
        return Theme(
            True,
            QColor("#1e1f22"),
            QColor("#26282c"),
            QColor("#30333a"),
            QColor("#2b2d31"),
            QColor("#45484f"),
            QColor("#e8e8ea"),
            QColor("#9a9ca3"),
            QColor("#f5c542"),
            QColor("#f04646"),
            QColor("#f97316"),
            QColor("#8a93a6"),
            QColor("#33363c"),
            QColor("#d7dae0"),
        )
    return Theme(
        False,
        QColor("#f6f7f9"),
        QColor("#eceef2"),
        QColor("#dfe2e8"),
        QColor("#ffffff"),
        QColor("#c5c9d2"),
        QColor("#1f2328"),
        QColor("#6b7280"),
        QColor("#e0a100"),
        QColor("#dc2626"),
        QColor("#ea580c"),
        QColor("#7b8497"),
        QColor("#ffffff"),
        QColor("#374151"),
    )


def category_color(category: str) -> QColor:
    return QColor(CATEGORY_COLORS.get(category, "#64748b"))


def apply_palette(app) -> None:
    """Fusion style with a palette matching the system's light or dark preference."""
    app.setStyle("Fusion")
    if not is_dark():
        return
    p = QPalette()
    roles = {
        # fields (Base) a little lighter than the window, so Fusion's outlines of empty check
        # boxes and inputs, drawn darker than the window, stay visible
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8e8ea",
        QPalette.ColorRole.Base: "#2d2f34",
        QPalette.ColorRole.AlternateBase: "#33363c",
        QPalette.ColorRole.ToolTipBase: "#2b2d31",
        QPalette.ColorRole.ToolTipText: "#e8e8ea",
        QPalette.ColorRole.Text: "#e8e8ea",
        QPalette.ColorRole.Button: "#2b2d31",
        QPalette.ColorRole.ButtonText: "#e8e8ea",
        QPalette.ColorRole.Highlight: "#3b82f6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#7c7f87",
        QPalette.ColorRole.Link: "#60a5fa",
    }
    for role, color in roles.items():
        p.setColor(role, QColor(color))
    app.setPalette(p)
