"""The quick-add popup: type a few letters, press Enter, get a node.

Opened by Tab or a double-click on empty canvas, and when a wire is dropped on empty canvas
(then only types with a compatible port are offered). The search box keeps the keyboard focus;
Up/Down/PageUp/PageDown move through the list, Enter chooses, Escape cancels; a click chooses.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
)

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.spec import CATEGORIES, NodeSpec
from torchcanvas.gui import theme
from torchcanvas.gui.canvas.palette import (
    match_rank,
    matches,
    palette_specs,
    query_words,
    spec_tooltip,
)

TYPE_ROLE = Qt.ItemDataRole.UserRole
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 1

# What people reach for most, in this order, when nothing is typed yet.
COMMON_TYPES = (
    "nn.Linear",
    "nn.Conv2d",
    "nn.ReLU",
    "nn.MaxPool2d",
    "nn.Flatten",
    "nn.Dropout",
    "nn.BatchNorm2d",
    "nn.BatchNorm1d",
    "nn.LayerNorm",
    "nn.GELU",
    "nn.Sigmoid",
    "nn.Tanh",
    "nn.Softmax",
    "nn.Embedding",
    "nn.LSTM",
    "op.add",
    "op.concat",
    "op.reshape",
    "loss.CrossEntropy",
    "loss.MSE",
    "loss.BCEWithLogits",
    "optim.Adam",
    "optim.SGD",
    "optim.AdamW",
    "sched.StepLR",
    "sched.CosineAnnealingLR",
    "clip.GradNorm",
    "data.Digits",
    "data.Iris",
    "data.CSV",
)
_COMMON_RANK = {type_id: i for i, type_id in enumerate(COMMON_TYPES)}


def compatible_types(kind: str, want_input: bool) -> Callable[[NodeSpec], bool]:
    """A predicate: true for specs with an input (``want_input``) or output port of ``kind``."""

    def accept(spec: NodeSpec) -> bool:
        ports = spec.inputs if want_input else spec.outputs
        return any(p.kind == kind for p in ports)

    accept.__doc__ = f"has an {'input' if want_input else 'output'} port of kind {kind!r}"
    return accept


def _category_order(category: str) -> int:
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def ranked_specs(
    query: str = "", accept: Callable[[NodeSpec], bool] | None = None
) -> list[NodeSpec]:
    """The specs the popup offers for ``query``, best first.

    Empty query: the common types (``COMMON_TYPES``), then the rest by category and title.
    Otherwise every spec whose text holds all the words, ranked by how well the query names it
    (exact title, title prefix, title word prefix, …), then commonness, category and title.
    """
    specs = [s for group in palette_specs().values() for s in group]
    if accept is not None:
        specs = [s for s in specs if accept(s)]
    words = query_words(query)
    if words:
        specs = [s for s in specs if matches(s, words)]

    def key(spec: NodeSpec):
        common = _COMMON_RANK.get(spec.type_id, len(_COMMON_RANK))
        base = (_category_order(spec.category), spec.title.lower())
        if not words:
            return (common, *base)
        return (match_rank(spec, query), common, *base)

    return sorted(specs, key=key)


class _RowDelegate(QStyledItemDelegate):
    """One compact row: a coloured marker, the title, and the category right-aligned."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(200, option.fontMetrics.height() + 8)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        title, category = opt.text, index.data(CATEGORY_ROLE) or ""
        opt.text = ""
        opt.icon = type(opt.icon)()
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        pal = opt.palette
        text_color = pal.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = QColor(text_color)
        muted.setAlphaF(0.7 if selected else 0.55)
        rect = opt.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = theme.category_color(category)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        h = 9
        painter.drawRoundedRect(rect.left() + 8, rect.center().y() - h // 2 + 1, h, h, 2.5, 2.5)
        fm = opt.fontMetrics
        cat_w = fm.horizontalAdvance(category)
        right = rect.right() - 8
        painter.setPen(muted)
        painter.drawText(
            QRect(right - cat_w, rect.top(), cat_w, rect.height()),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            category,
        )
        left = rect.left() + 8 + h + 8
        avail = right - cat_w - 12 - left
        painter.setPen(text_color)
        painter.drawText(
            QRect(left, rect.top(), max(0, avail), rect.height()),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            fm.elidedText(title, Qt.TextElideMode.ElideRight, max(0, avail)),
        )
        painter.restore()


class _TypeList(QListWidget):
    """The result list; says so when nothing matches instead of staying blank."""

    placeholder = "No matching node types"

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.count():
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        painter.end()


class _SearchEdit(QLineEdit):
    """Forwards navigation keys to the popup; everything else edits the text."""

    navigate = Signal(int)  # a Qt.Key value
    _KEYS = (
        Qt.Key.Key_Up,
        Qt.Key.Key_Down,
        Qt.Key.Key_PageUp,
        Qt.Key.Key_PageDown,
        Qt.Key.Key_Return,
        Qt.Key.Key_Enter,
        Qt.Key.Key_Escape,
        Qt.Key.Key_Tab,
        Qt.Key.Key_Backtab,
    )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in self._KEYS:
            self.navigate.emit(event.key())
            event.accept()
            return
        super().keyPressEvent(event)

    def focusNextPrevChild(self, _next: bool) -> bool:
        return False  # Tab moves through the list, not out of the popup


class QuickAddPopup(QFrame):
    """A small search-and-pick popup for node types."""

    chosen = Signal(str)  # type id
    cancelled = Signal()

    VISIBLE_ROWS = 12
    WIDTH = 300

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("quickAdd")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Plain)

        self.hint_label = QLabel(self)
        self.hint_label.setObjectName("quickAddHint")
        self.hint_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hint_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint_font = self.hint_label.font()
        hint_font.setPointSizeF(hint_font.pointSizeF() * 0.9)
        self.hint_label.setFont(hint_font)
        self.hint_label.setContentsMargins(2, 0, 2, 0)
        self.hint_label.hide()
        self.search = _SearchEdit(self)
        self.search.setObjectName("quickAddSearch")
        self.search.setPlaceholderText("Add a node…")
        self.search.setClearButtonEnabled(False)
        self.list = _TypeList(self)
        self.list.setObjectName("quickAddList")
        self.list.setItemDelegate(_RowDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setMouseTracking(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setFrameShape(QFrame.Shape.NoFrame)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)

        self._accept: Callable[[NodeSpec], bool] | None = None
        self._done = True  # chosen or cancelled already reported for this showing
        self.search.textChanged.connect(self._refill)
        self.search.navigate.connect(self._navigate)
        self.list.itemClicked.connect(self._choose_item)
        self.list.itemEntered.connect(self.list.setCurrentItem)
        self.setFocusProxy(self.search)
        self.resize(self.WIDTH, 360)

    # ------------------------------------------------------------------ API
    def popup(
        self, global_pos: QPoint, accept: Callable[[NodeSpec], bool] | None = None, hint: str = ""
    ) -> None:
        """Show at ``global_pos`` (top-left, kept on screen) offering the types ``accept``
        allows (all when None); ``hint`` is a short line above the search box."""
        self._accept = accept
        self._done = False
        self.hint_label.setText(f"↳ {hint}" if hint else "")
        self.hint_label.setVisible(bool(hint))
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._refill()
        self._place(global_pos)
        self.show()
        self._keep_on_screen(global_pos)  # after show: the frame size is known
        self.search.setFocus(Qt.FocusReason.PopupFocusReason)

    def type_ids(self) -> list[str]:
        """The type ids currently listed, in order."""
        return [self.list.item(i).data(TYPE_ROLE) for i in range(self.list.count())]

    def current_type_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(TYPE_ROLE) if item is not None else None

    # ------------------------------------------------------------------ contents
    def _refill(self, _text: str = "") -> None:
        specs = ranked_specs(self.search.text(), self._accept)
        self.list.clear()
        for spec in specs:
            item = QListWidgetItem(spec.title)
            item.setData(TYPE_ROLE, spec.type_id)
            item.setData(CATEGORY_ROLE, spec.category)
            item.setToolTip(spec_tooltip(spec))
            self.list.addItem(item)
        if specs:
            self.list.setCurrentRow(0)
            self.list.scrollToTop()
        self.list.viewport().update()

    def _place(self, global_pos: QPoint) -> None:
        """Size for the offer before any typing (the height then stays put while the user
        types, so the list does not jump), and keep the popup on the screen."""
        row_h = self.list.sizeHintForRow(0) if self.list.count() else 22
        rows = max(3, min(self.VISIBLE_ROWS, self.list.count()))
        list_h = rows * max(row_h, 1) + 2 * self.list.frameWidth()
        self.list.setFixedHeight(list_h)
        layout = self.layout()
        layout.invalidate()
        layout.activate()
        self.resize(self.WIDTH, layout.sizeHint().height())
        self.move(global_pos)

    def _keep_on_screen(self, global_pos: QPoint) -> None:
        """Shift left, or flip above ``global_pos``, so the whole frame is on its screen."""
        screen = QGuiApplication.screenAt(global_pos) or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        frame = self.frameGeometry()
        x, y = frame.x(), frame.y()
        if frame.right() > area.right():
            x = max(area.left(), area.right() - frame.width() + 1)
        if frame.bottom() > area.bottom():
            y = max(area.top(), global_pos.y() - frame.height())
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    # ------------------------------------------------------------------ keys and choosing
    def _navigate(self, key: int) -> None:
        n = self.list.count()
        if key == Qt.Key.Key_Escape:
            self.hide()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            item = self.list.currentItem()
            if item is not None:
                self._choose_item(item)
            return
        if not n:
            return
        step = {
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_Tab: 1,
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_Backtab: -1,
            Qt.Key.Key_PageDown: self.VISIBLE_ROWS - 1,
            Qt.Key.Key_PageUp: -(self.VISIBLE_ROWS - 1),
        }[key]
        row = self.list.currentRow()
        # single steps wrap around; page steps stop at the ends
        row = (row + step) % n if abs(step) == 1 else max(0, min(n - 1, row + step))
        self.list.setCurrentRow(row)
        self.list.scrollToItem(self.list.currentItem())

    def _choose_item(self, item: QListWidgetItem) -> None:
        type_id = item.data(TYPE_ROLE)
        if not type_id or type_id not in CATALOGUE:
            return
        self._done = True
        self.hide()
        self.chosen.emit(type_id)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        if not self._done:  # Escape, a click outside, or the window closing
            self._done = True
            self.cancelled.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            event.accept()
            return
        super().keyPressEvent(event)
