"""The palette dock and the quick-add popup, with real widgets offscreen."""

from __future__ import annotations

import html

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit, QTreeWidget

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.spec import CATEGORIES
from torchcanvas.gui.canvas.palette import (
    MIME_NODE_TYPE,
    PaletteWidget,
    match_rank,
    mime_for,
)
from torchcanvas.gui.canvas.quickadd import QuickAddPopup, compatible_types, ranked_specs

PUBLIC = {tid for tid, spec in CATALOGUE.items() if not spec.extra.get("internal")}


@pytest.fixture
def palette(qtbot):
    widget = PaletteWidget()
    qtbot.addWidget(widget)
    widget.resize(260, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def popup(qtbot):
    widget = QuickAddPopup()
    qtbot.addWidget(widget)
    return widget


def _visible(palette: PaletteWidget) -> set[str]:
    return set(palette.visible_type_ids())


def _group_of(palette: PaletteWidget, category: str):
    tree = palette.tree
    for i in range(tree.topLevelItemCount()):
        if tree.topLevelItem(i).text(0) == category:
            return tree.topLevelItem(i)
    raise AssertionError(category)


# ---------------------------------------------------------------------------- palette
def test_widgets_have_the_names_the_window_uses(palette):
    search = palette.findChild(QLineEdit, "paletteSearch")
    tree = palette.findChild(QTreeWidget, "paletteTree")
    assert search is palette.search and tree is palette.tree
    assert search.placeholderText() == "Search layers, losses… (Ctrl+F)"


def _type_rows(row):
    """The type rows under a category row, through its sub-groups."""
    for i in range(row.childCount()):
        child = row.child(i)
        if child.data(0, Qt.ItemDataRole.UserRole):
            yield child
        else:
            yield from _type_rows(child)


def test_every_public_type_appears_once_under_its_category(palette):
    tree = palette.tree
    seen: list[str] = []
    categories = []
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        categories.append(group.text(0))
        assert group.font(0).bold()
        rows = list(_type_rows(group))
        assert group.text(1) == str(len(rows))
        assert not group.icon(0).isNull()
        for item in rows:
            type_id = item.data(0, Qt.ItemDataRole.UserRole)
            spec = CATALOGUE[type_id]
            assert spec.category == group.text(0)
            if item.parent() is not group:  # in a sub-group: the spec's group
                assert item.parent().text(0) == spec.extra["group"]
                assert item.parent().text(1) == str(item.parent().childCount())
            assert item.text(0) == spec.title
            assert html.escape(spec.help[:20], quote=False) in item.toolTip(0)
            assert "Inputs:" in item.toolTip(0)
            seen.append(type_id)
    assert len(seen) == len(set(seen))
    assert set(seen) == PUBLIC
    # palette order: the order of graph.spec.CATEGORIES
    assert categories == [c for c in CATEGORIES if c in categories]
    assert categories[:3] == ["Data", "Layers", "Activations"]


def test_layers_sit_in_collapsed_sub_groups_that_a_search_opens(palette, qtbot):
    layers = _group_of(palette, "Layers")
    subs = [layers.child(i) for i in range(layers.childCount())]
    names = [s.text(0) for s in subs]
    assert names[:4] == ["Linear", "Convolution", "Pooling", "Normalization"]
    assert {"Padding", "Transformer", "Recurrent", "Dropout"} <= set(names)
    assert layers.isExpanded() and not any(s.isExpanded() for s in subs)
    padding = subs[names.index("Padding")]
    assert {
        padding.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(padding.childCount())
    } >= {"nn.ZeroPad2d", "nn.ReflectionPad1d"}
    # a search opens the sub-groups with hits and hides the rest; clearing it closes them
    qtbot.keyClicks(palette.search, "reflection")
    assert padding.isExpanded() and not padding.isHidden()
    assert padding.text(1) == f"3/{padding.childCount()}"
    assert subs[names.index("Convolution")].isHidden()
    palette.search.setText("pooling")  # a group's name finds its members
    assert "nn.LPPool2d" in _visible(palette)
    palette.search.setText("")
    assert not padding.isExpanded() and not padding.isHidden()
    # a sub-group the user opens stays open after a search
    padding.setExpanded(True)
    palette.search.setText("adam")
    assert padding.isHidden()
    palette.search.setText("")
    assert padding.isExpanded()
    assert not subs[names.index("Convolution")].isExpanded()


def test_internal_specs_are_hidden(palette, monkeypatch):
    from torchcanvas.graph.spec import NodeSpec, PortSpec

    hidden = NodeSpec(
        "op._internal_test",
        "Zz internal",
        "Ops",
        "op",
        inputs=(PortSpec("x"),),
        outputs=(PortSpec("out"),),
        extra={"internal": True},
    )
    monkeypatch.setitem(CATALOGUE, hidden.type_id, hidden)
    palette.reload()
    assert palette.item_for("op._internal_test") is None
    assert "nn.Linear" in _visible(palette)


def test_search_conv_shows_conv_layers_and_hides_linear(palette, qtbot):
    qtbot.keyClicks(palette.search, "conv")
    visible = _visible(palette)
    assert {"nn.Conv1d", "nn.Conv2d", "nn.Conv3d", "nn.ConvTranspose2d"} <= visible
    assert "nn.Linear" not in visible
    assert _group_of(palette, "Layers").isExpanded()
    assert _group_of(palette, "Data").isHidden()  # no hits: the whole group hides
    layers = _group_of(palette, "Layers")
    rows = list(_type_rows(layers))
    hits = sum(not item.isHidden() for item in rows)
    assert layers.text(1) == f"{hits}/{len(rows)}"


def test_search_needs_every_word_case_insensitive(palette):
    palette.search.setText("LOSS cross")
    assert "loss.CrossEntropy" in _visible(palette)
    assert "loss.MSE" not in _visible(palette)
    palette.search.setText("crossentropy")  # punctuation ignored: matches "Cross-entropy"
    assert "loss.CrossEntropy" in _visible(palette)
    palette.search.setText("")
    assert _visible(palette) == PUBLIC


def test_search_matches_help_text_and_type_id(palette):
    palette.search.setText("swish")  # only in help texts
    assert "nn.SiLU" in _visible(palette)
    palette.search.setText("optim.")
    assert {"optim.Adam", "optim.SGD"} <= _visible(palette)
    assert "nn.Linear" not in _visible(palette)


def test_enter_in_search_activates_best_visible_match(palette, qtbot):
    qtbot.keyClicks(palette.search, "relu")
    # LeakyReLU sorts first in the tree, but the exact title is highlighted and wins
    with qtbot.waitSignal(palette.activated) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["nn.ReLU"]
    palette.search.setText("")
    qtbot.keyClicks(palette.search, "conv")
    with qtbot.waitSignal(palette.activated) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["nn.Conv1d"]  # prefix ties: the first visible


def test_arrow_keys_in_search_move_the_highlight(palette, qtbot):
    qtbot.keyClicks(palette.search, "conv")
    qtbot.keyClick(palette.search, Qt.Key.Key_Down)
    assert palette.tree.currentItem().data(0, Qt.ItemDataRole.UserRole) == "nn.Conv2d"
    with qtbot.waitSignal(palette.activated) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Enter)
    assert blocker.args == ["nn.Conv2d"]


def test_enter_with_no_match_does_nothing(palette, qtbot):
    palette.search.setText("no such layer anywhere")
    assert not _visible(palette)
    with qtbot.assertNotEmitted(palette.activated):
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)


def test_double_click_emits_activated(palette, qtbot):
    item = palette.item_for("nn.Linear")
    item.parent().setExpanded(True)  # its sub-group, Linear, starts collapsed
    palette.tree.scrollToItem(item)
    rect = palette.tree.visualItemRect(item)
    viewport = palette.tree.viewport()
    with qtbot.waitSignal(palette.activated) as blocker:
        # a real double-click: press/release, then the double-click press/release
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["nn.Linear"]


def test_enter_in_tree_emits_activated(palette, qtbot):
    item = palette.item_for("optim.Adam")
    palette.tree.setCurrentItem(item)
    palette.tree.setFocus()
    with qtbot.waitSignal(palette.activated) as blocker:
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert blocker.args == ["optim.Adam"]


def test_category_rows_do_not_activate_or_drag(palette, qtbot):
    group = _group_of(palette, "Layers")
    assert not group.flags() & Qt.ItemFlag.ItemIsDragEnabled
    assert palette.tree.mimeData([group]) is None
    palette.tree.setCurrentItem(group)
    with qtbot.assertNotEmitted(palette.activated):
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert not group.isExpanded()  # Enter toggles a group instead
    qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert group.isExpanded()


def test_drag_mime_data_carries_the_type_id(palette):
    item = palette.item_for("nn.Conv2d")
    assert item.flags() & Qt.ItemFlag.ItemIsDragEnabled
    mime = palette.tree.mimeData([item])
    assert mime.hasFormat(MIME_NODE_TYPE)
    assert bytes(mime.data(MIME_NODE_TYPE)).decode("utf-8") == "nn.Conv2d"
    assert palette.tree.mimeTypes() == [MIME_NODE_TYPE]
    assert bytes(mime_for("loss.MSE").data(MIME_NODE_TYPE)) == b"loss.MSE"


def test_same_mime_type_as_the_canvas_view():
    view = pytest.importorskip("torchcanvas.gui.canvas.view")
    assert view.MIME_NODE_TYPE == MIME_NODE_TYPE


def test_focus_search_selects_the_text(palette, qtbot):
    palette.search.setText("adam")
    palette.tree.setFocus()
    palette.focus_search()
    qtbot.waitUntil(palette.search.hasFocus)
    assert palette.search.selectedText() == "adam"


def test_collapsed_groups_stay_collapsed_after_a_search(palette):
    group = _group_of(palette, "Data")
    group.setExpanded(False)
    palette.search.setText("iris")
    assert group.isExpanded()
    palette.search.setText("")
    assert not group.isExpanded()
    assert _group_of(palette, "Layers").isExpanded()


def test_match_rank_orders_exact_prefix_word_contains():
    relu, relu6, leaky = (CATALOGUE[t] for t in ("nn.ReLU", "nn.ReLU6", "nn.LeakyReLU"))
    assert match_rank(relu, "relu") < match_rank(relu6, "relu") < match_rank(leaky, "relu")
    assert match_rank(CATALOGUE["loss.CrossEntropy"], "entropy") == 2  # a word of the title


# ---------------------------------------------------------------------------- quick add
def test_compatible_types_predicate():
    takes_loss = compatible_types("loss", True)
    assert takes_loss(CATALOGUE["optim.Adam"])
    assert not takes_loss(CATALOGUE["nn.Linear"])
    gives_tensor = compatible_types("tensor", False)
    assert gives_tensor(CATALOGUE["nn.Linear"]) and gives_tensor(CATALOGUE["data.Iris"])
    assert not gives_tensor(CATALOGUE["loss.MSE"])
    takes_optimizer = compatible_types("optimizer", True)
    assert takes_optimizer(CATALOGUE["sched.StepLR"])
    assert not takes_optimizer(CATALOGUE["optim.Adam"])


def test_empty_search_lists_common_types_first(popup, qtbot):
    popup.popup(QPoint(50, 50))
    qtbot.waitUntil(popup.isVisible)
    ids = popup.type_ids()
    assert ids[:3] == ["nn.Linear", "nn.Conv2d", "nn.ReLU"]
    assert set(ids) == PUBLIC and len(ids) == len(PUBLIC)
    assert popup.current_type_id() == "nn.Linear"
    assert popup.search.hasFocus()


def test_popup_filters_by_predicate(popup, qtbot):
    popup.popup(QPoint(50, 50), compatible_types("loss", True), hint="connect to mse.loss")
    qtbot.waitUntil(popup.isVisible)
    ids = popup.type_ids()
    assert ids and all(CATALOGUE[t].kind == "optimizer" for t in ids)
    assert set(ids) == {t for t in PUBLIC if CATALOGUE[t].kind == "optimizer"}
    assert ids[:2] == ["optim.Adam", "optim.SGD"]
    assert popup.hint_label.isVisibleTo(popup)
    assert "connect to mse.loss" in popup.hint_label.text()


def test_typing_then_enter_emits_chosen(popup, qtbot):
    popup.popup(QPoint(50, 50))
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClicks(popup.search, "conv2")
    assert popup.current_type_id() == "nn.Conv2d"
    with qtbot.waitSignal(popup.chosen) as blocker, qtbot.assertNotEmitted(popup.cancelled):
        qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert blocker.args == ["nn.Conv2d"]
    assert not popup.isVisible()


def test_exact_and_prefix_title_rank_first(popup, qtbot):
    popup.popup(QPoint(50, 50))
    qtbot.keyClicks(popup.search, "relu")
    ids = popup.type_ids()
    assert ids[:2] == ["nn.ReLU", "nn.ReLU6"]
    assert ids.index("nn.LeakyReLU") < ids.index("nn.Hardswish")  # title beats help text
    popup.search.setText("adam")
    assert popup.type_ids()[:2] == ["optim.Adam", "optim.AdamW"]
    assert ranked_specs("mse")[0].type_id == "loss.MSE"


def test_arrow_keys_then_enter(popup, qtbot):
    popup.popup(QPoint(50, 50), compatible_types("loss", True))
    qtbot.keyClick(popup.search, Qt.Key.Key_Down)
    assert popup.current_type_id() == "optim.SGD"
    qtbot.keyClick(popup.search, Qt.Key.Key_Up)
    qtbot.keyClick(popup.search, Qt.Key.Key_Up)  # wraps to the last
    assert popup.current_type_id() == popup.type_ids()[-1]
    with qtbot.waitSignal(popup.chosen) as blocker:
        qtbot.keyClick(popup.search, Qt.Key.Key_Enter)
    assert blocker.args == [popup.type_ids()[-1]]


def test_escape_emits_cancelled_and_hides(popup, qtbot):
    popup.popup(QPoint(50, 50))
    qtbot.waitUntil(popup.isVisible)
    with qtbot.waitSignal(popup.cancelled), qtbot.assertNotEmitted(popup.chosen):
        qtbot.keyClick(popup.search, Qt.Key.Key_Escape)
    assert not popup.isVisible()


def test_cancelled_is_emitted_once_per_showing(popup, qtbot):
    count = []
    popup.cancelled.connect(lambda: count.append(1))
    popup.popup(QPoint(50, 50))
    popup.hide()
    popup.hide()
    assert count == [1]
    popup.popup(QPoint(50, 50))
    popup.close()  # e.g. a click outside closes a Qt.Popup
    assert count == [1, 1]


def test_click_chooses(popup, qtbot):
    popup.popup(QPoint(50, 50))
    qtbot.waitUntil(popup.isVisible)
    lst = popup.list
    rect = lst.visualItemRect(lst.item(1))
    with qtbot.waitSignal(popup.chosen) as blocker:
        qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [popup.type_ids()[1]] == ["nn.Conv2d"]


def test_no_match_keeps_the_popup_open_and_enter_does_nothing(popup, qtbot):
    popup.popup(QPoint(50, 50))
    qtbot.keyClicks(popup.search, "qqqqzz")
    assert popup.type_ids() == []
    with qtbot.assertNotEmitted(popup.chosen):
        qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert popup.isVisible()


def test_popup_stays_on_screen(popup, qtbot):
    from PySide6.QtGui import QGuiApplication

    area = QGuiApplication.primaryScreen().availableGeometry()
    popup.popup(area.bottomRight())
    assert area.contains(popup.frameGeometry())
    popup.hide()
    popup.popup(area.topLeft() + QPoint(10, 10))
    assert popup.frameGeometry().topLeft() == area.topLeft() + QPoint(10, 10)


def test_counts_follow_a_palette_change(palette):
    from PySide6.QtGui import QColor, QPalette

    pal = palette.palette()
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor("#123456"))
    palette.setPalette(pal)
    assert _group_of(palette, "Layers").foreground(1).color() == QColor("#123456")
