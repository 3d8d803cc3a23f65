"""The palette dock: every node type grouped by category, a search box, drag to the canvas.

A category whose types carry ``extra["group"]`` (Layers: Convolution, Pooling, Padding...) shows
them in sub-groups, which start collapsed; a search opens every sub-group with a hit.

Double-click or Enter on a type (or Enter in the search box) emits ``activated(type_id)``;
dragging a type starts a ``QDrag`` whose mime data holds the type id under ``MIME_NODE_TYPE``.

The project's own blocks come first, under "Blocks" (``set_blocks``, kept live by the window):
their rows carry ``BLOCK_PREFIX`` + the block's name, and adding one adds a use of it.
The search and ranking helpers here are shared with the quick-add popup.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QEvent, QMimeData, QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from torchcanvas.graph.catalogue import CATALOGUE, grouped, specs_by_category
from torchcanvas.graph.spec import NodeSpec, PortSpec
from torchcanvas.gui import icons, theme

MIME_NODE_TYPE = "application/x-torchcanvas-node-type"
BLOCK_PREFIX = "block:"  # a palette row for one of the project's blocks: "block:ConvBlock"
BLOCKS = "Blocks"

TYPE_ROLE = Qt.ItemDataRole.UserRole
_SEARCH_PLACEHOLDER = "Search layers, losses… (Ctrl+F)"


# ---------------------------------------------------------------------------- shared helpers
def mime_for(type_id: str) -> QMimeData:
    """The drag payload for one node type: its id as UTF-8 under ``MIME_NODE_TYPE``."""
    mime = QMimeData()
    mime.setData(MIME_NODE_TYPE, type_id.encode("utf-8"))
    return mime


def palette_specs() -> dict[str, list[NodeSpec]]:
    """Specs shown to the user, grouped in palette order and sorted by title; internal ones
    (``extra["internal"]``) are left out."""
    out = {}
    for category, specs in specs_by_category().items():
        shown = [s for s in specs if not s.extra.get("internal")]
        if shown:
            out[category] = shown
    return out


def _fold(text: str) -> str:
    """Lower case without punctuation: "Cross-entropy" and "crossentropy" meet."""
    return re.sub(r"[^0-9a-z]+", "", text.lower())


_haystacks: dict[str, tuple[str, str]] = {}


def _haystack(spec: NodeSpec) -> tuple[str, str]:
    key = spec.type_id
    hay = _haystacks.get(key)
    if hay is None or CATALOGUE.get(key) is not spec:
        text = " ".join(
            (spec.title, spec.type_id, spec.category, spec.extra.get("group", ""), spec.help)
        ).lower()
        hay = (text, _fold(text))
        _haystacks[key] = hay
    return hay


def query_words(query: str) -> list[str]:
    return query.lower().split()


def matches(spec: NodeSpec, words: list[str]) -> bool:
    """True when every word occurs in the spec's title, type id, category, group or help text
    (case-insensitive; a word also matches with punctuation ignored)."""
    text, folded = _haystack(spec)
    for word in words:
        if word in text:
            continue
        fw = _fold(word)
        if not fw or fw not in folded:
            return False
    return True


def match_rank(spec: NodeSpec, query: str) -> int:
    """How well ``query`` names ``spec`` (lower is better): 0 exact title or type name, 1 title
    prefix, 2 a word of the title starts with it, 3 the title contains it, 4 the type id
    contains it, 5 anything else (help text, or several words)."""
    q = query.strip().lower()
    if not q:
        return 5
    title = spec.title.lower()
    short = spec.type_id.rsplit(".", 1)[-1].lower()
    fq = _fold(q)
    if q in (title, short) or fq in (_fold(title), _fold(short)):
        return 0
    if title.startswith(q) or short.startswith(q):
        return 1
    if any(w.startswith(q) for w in re.split(r"[^0-9a-z]+", title) if w):
        return 2
    if q in title or (fq and fq in _fold(title)):
        return 3
    if q in spec.type_id.lower() or (fq and fq in _fold(spec.type_id)):
        return 4
    return 5


def spec_tooltip(spec: NodeSpec) -> str:
    """Rich-text tooltip: title, type id, help, and the ports with their kinds."""
    esc = html.escape

    def ports(items) -> str:
        if not items:
            return "—"
        return ", ".join(
            f"{esc(p.name)} <span style='color:gray'>({esc(p.kind)}"
            f"{', optional' if p.optional else ''}{', many' if p.multi else ''})</span>"
            for p in items
        )

    text = f"<b>{esc(spec.title)}</b> &nbsp;<code>{esc(spec.type_id)}</code>"
    if spec.help:
        text += f"<br>{esc(spec.help)}"
    text += f"<br><br><i>Inputs:</i> {ports(spec.inputs)}<br><i>Outputs:</i> {ports(spec.outputs)}"
    return f"<qt>{text}</qt>"


def drag_pixmap(spec: NodeSpec, widget: QWidget) -> QPixmap:
    """A small node-like chip shown under the cursor while dragging a type."""
    font = QFont(widget.font())
    font.setBold(True)
    fm = QFontMetrics(font)
    dpr = widget.devicePixelRatioF()
    w = fm.horizontalAdvance(spec.title) + 34
    h = fm.height() + 12
    pm = QPixmap(int(w * dpr), int(h * dpr))
    pm.setDevicePixelRatio(dpr)
    pm.fill(Qt.GlobalColor.transparent)
    t = theme.current()
    color = theme.category_color(spec.category)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    rect = QRectF(0.5, 0.5, w - 1, h - 1)
    p.setPen(QPen(color, 1.2))
    body = QColor(t.node_body)
    body.setAlpha(235)
    p.setBrush(body)
    p.drawRoundedRect(rect, 6, 6)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawRoundedRect(QRectF(6, h / 2 - 5, 10, 10), 3, 3)
    p.setPen(t.node_text)
    p.setFont(font)
    p.drawText(QRectF(24, 0, w - 28, h), Qt.AlignmentFlag.AlignVCenter, spec.title)
    p.end()
    return pm


# ---------------------------------------------------------------------------- the tree
class _PaletteTree(QTreeWidget):
    """Two columns (name, count); only type rows can be dragged; Enter activates."""

    typeActivated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("paletteTree")
        self.setColumnCount(2)
        self.setHeaderHidden(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(8)
        self.setRootIsDecorated(True)
        self.setIndentation(12)
        self.setUniformRowHeights(True)
        self.setIconSize(QSize(16, 16))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setAnimated(False)
        self.setExpandsOnDoubleClick(True)
        self.itemDoubleClicked.connect(self._double_clicked)

    # drag
    def mimeTypes(self) -> list[str]:
        return [MIME_NODE_TYPE]

    def mimeData(self, items) -> QMimeData | None:
        for item in items:
            type_id = item.data(0, TYPE_ROLE)
            if type_id:
                return mime_for(type_id)
        return None

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def startDrag(self, supported_actions) -> None:
        item = self.currentItem()
        type_id = item.data(0, TYPE_ROLE) if item is not None else None
        owner = self.parent()
        spec = owner.spec_for(type_id) if type_id and isinstance(owner, PaletteWidget) else None
        if spec is None:
            return
        drag = QDrag(self)
        drag.setMimeData(mime_for(type_id))
        pm = drag_pixmap(spec, self)
        drag.setPixmap(pm)
        drag.setHotSpot(QPoint(14, int(pm.height() / pm.devicePixelRatio() / 2)))
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)

    # activation
    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.typeActivated.emit(type_id)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            item = self.currentItem()
            if item is not None:
                type_id = item.data(0, TYPE_ROLE)
                if type_id:
                    self.typeActivated.emit(type_id)
                else:
                    item.setExpanded(not item.isExpanded())
                event.accept()
                return
        super().keyPressEvent(event)


class _SearchEdit(QLineEdit):
    """Up/Down move the palette's current item without leaving the search box; Escape clears."""

    moveRequested = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        steps = {
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_PageDown: 10,
            Qt.Key.Key_PageUp: -10,
        }
        if key in steps:
            self.moveRequested.emit(steps[key])
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self.text():
            self.clear()
            event.accept()
            return
        super().keyPressEvent(event)


# ---------------------------------------------------------------------------- the widget
class PaletteWidget(QWidget):
    """Search box above a tree of node types grouped by category."""

    activated = Signal(str)  # type id

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = _SearchEdit(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText(_SEARCH_PLACEHOLDER)
        self.search.setClearButtonEnabled(True)
        self.tree = _PaletteTree(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)

        self._categories: dict[str, QTreeWidgetItem] = {}
        self._items: dict[str, QTreeWidgetItem] = {}
        # sub-group rows by (category, group), and the type rows under each category/sub-group
        self._subgroups: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._members: dict[int, list[QTreeWidgetItem]] = {}  # id(group row) -> type rows
        self._collapsed: set[str] = set()  # categories the user collapsed, kept across reloads
        self._opened: set[tuple[str, str]] = set()  # sub-groups the user opened
        self.search.textChanged.connect(self._apply_filter)
        self.search.returnPressed.connect(self._activate_current)
        self.search.moveRequested.connect(self._move_current)
        self.tree.typeActivated.connect(self.activated)
        self.tree.itemExpanded.connect(lambda item: self._remember(item, True))
        self.tree.itemCollapsed.connect(lambda item: self._remember(item, False))
        self._updating = False
        self._block_specs: dict[str, NodeSpec] = {}  # by row id ("block:Name")
        self.reload()

    # ------------------------------------------------------------------ building
    def reload(self) -> None:
        """Rebuild the tree from the catalogue (after plugins register new types)."""
        self.tree.clear()
        self._categories.clear()
        self._items.clear()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        self._subgroups.clear()
        self._members.clear()
        categories = palette_specs()
        if self._block_specs:
            categories = {BLOCKS: list(self._block_specs.values()), **categories}
        for category, specs in categories.items():
            group = QTreeWidgetItem(self.tree, [category, str(len(specs))])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setIcon(0, icons.category_icon(category))
            group.setFont(0, bold)
            group.setForeground(1, muted)
            group.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            group.setToolTip(0, f"{len(specs)} {category.lower()}")
            self._categories[category] = group
            self._members[id(group)] = []
            for name, members in grouped(specs):
                parent = group
                if name is not None:
                    parent = QTreeWidgetItem(group, [name, str(len(members))])
                    parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
                    parent.setForeground(1, muted)
                    parent.setTextAlignment(
                        1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                    parent.setToolTip(0, f"{len(members)} {category.lower()}: {name.lower()}")
                    self._subgroups[(category, name)] = parent
                    self._members[id(parent)] = []
                for spec in members:
                    item = QTreeWidgetItem(parent, [spec.title, ""])
                    item.setFlags(
                        Qt.ItemFlag.ItemIsEnabled
                        | Qt.ItemFlag.ItemIsSelectable
                        | Qt.ItemFlag.ItemIsDragEnabled
                    )
                    item.setData(0, TYPE_ROLE, spec.type_id)
                    item.setIcon(0, icons.type_icon(category))
                    item.setToolTip(0, spec_tooltip(spec))
                    self._items[spec.type_id] = item
                    self._members[id(group)].append(item)
                    if parent is not group:
                        self._members[id(parent)].append(item)
        self._apply_filter(self.search.text())

    def set_blocks(self, blocks: dict[str, tuple[list[str], list[str], int]]) -> None:
        """List the project's blocks under "Blocks": name → (inputs, outputs, uses)."""
        specs = {
            f"{BLOCK_PREFIX}{name}": NodeSpec(
                f"{BLOCK_PREFIX}{name}",
                name,
                BLOCKS,
                "block",
                inputs=tuple(PortSpec(n) for n in ins),
                outputs=tuple(PortSpec(n) for n in outs),
                help=f"Your block {name} ({uses} use{'s' * (uses != 1)} in the model). "
                "Drag it in to use it again; double-click a use (or Ctrl+B) to edit its "
                "layers, which changes every use.",
            )
            for name, (ins, outs, uses) in sorted(blocks.items())
        }
        if specs != self._block_specs:
            self._block_specs = specs
            self.reload()

    def spec_for(self, type_id: str) -> NodeSpec | None:
        """The spec of a row: a catalogue type, or one of the project's blocks."""
        return self._block_specs.get(type_id) or CATALOGUE.get(type_id)

    # ------------------------------------------------------------------ queries
    def type_items(self) -> list[QTreeWidgetItem]:
        """Every type row, in tree order."""
        return list(self._items.values())

    def item_for(self, type_id: str) -> QTreeWidgetItem | None:
        return self._items.get(type_id)

    def visible_type_ids(self) -> list[str]:
        return [tid for tid, item in self._items.items() if not item.isHidden()]

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # ------------------------------------------------------------------ filtering
    def _apply_filter(self, text: str) -> None:
        self._updating = True
        try:
            self._filter(text)
        finally:
            self._updating = False

    def _filter(self, text: str) -> None:
        words = query_words(text)
        filtering = bool(words)
        best: tuple[int, int, QTreeWidgetItem] | None = None
        for order, item in enumerate(self._items.values()):
            spec = self.spec_for(item.data(0, TYPE_ROLE))
            hit = spec is not None and (not filtering or matches(spec, words))
            item.setHidden(not hit)
            if hit and filtering:
                key = (match_rank(spec, text), order)
                if best is None or key < best[:2]:
                    best = (*key, item)
        for key, sub in self._subgroups.items():
            shown = self._count(sub, filtering)
            sub.setHidden(filtering and shown == 0)
            sub.setExpanded(shown > 0 if filtering else key in self._opened)
        for category, group in self._categories.items():
            shown = self._count(group, filtering)
            group.setHidden(filtering and shown == 0)
            if filtering:
                group.setExpanded(shown > 0)
            else:
                group.setExpanded(category not in self._collapsed)
        if filtering:
            if best is not None:
                self.tree.setCurrentItem(best[2])
                self.tree.scrollToItem(best[2])
            else:
                self.tree.setCurrentItem(None)
        else:
            self.tree.setCurrentItem(None)
            self.tree.clearSelection()
            self.tree.scrollToTop()

    def _count(self, row: QTreeWidgetItem, filtering: bool) -> int:
        """Show "hits/total" (searching) or "total" beside a category or sub-group row."""
        members = self._members[id(row)]
        shown = sum(not item.isHidden() for item in members)
        row.setText(1, f"{shown}/{len(members)}" if filtering else str(len(members)))
        return shown

    def _visible_items(self) -> list[QTreeWidgetItem]:
        return [
            item
            for item in self._items.values()
            if not item.isHidden()
            and not item.parent().isHidden()
            and not (item.parent().parent() and item.parent().parent().isHidden())
        ]

    @staticmethod
    def _reveal(item: QTreeWidgetItem) -> None:
        parent = item.parent()
        while parent is not None:
            parent.setExpanded(True)
            parent = parent.parent()

    def _move_current(self, steps: int) -> None:
        visible = self._visible_items()
        if not visible:
            return
        current = self.tree.currentItem()
        try:
            index = visible.index(current) + steps
        except ValueError:
            index = 0 if steps > 0 else len(visible) - 1
        item = visible[max(0, min(len(visible) - 1, index))]
        self._reveal(item)
        self.tree.setCurrentItem(item)
        self.tree.scrollToItem(item)

    def _activate_current(self) -> None:
        """Enter in the search box: activate the highlighted match, else the first visible."""
        visible = self._visible_items()
        if not visible:
            return
        current = self.tree.currentItem()
        item = current if current in visible else visible[0]
        self.activated.emit(item.data(0, TYPE_ROLE))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_items"):
            muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
            for group in [*self._categories.values(), *self._subgroups.values()]:
                group.setForeground(1, muted)  # the counts follow a light/dark switch

    def _remember(self, item: QTreeWidgetItem, expanded: bool) -> None:
        """Remember which groups the user collapsed by hand (not while searching)."""
        if self._updating or self.search.text().strip():
            return
        parent = item.parent()
        if parent is not None:
            if item.data(0, TYPE_ROLE) is None:  # a sub-group
                key = (parent.text(0), item.text(0))
                if expanded:
                    self._opened.add(key)
                else:
                    self._opened.discard(key)
            return
        category = item.text(0)
        if expanded:
            self._collapsed.discard(category)
        else:
            self._collapsed.add(category)
