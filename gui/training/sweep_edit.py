"""Setting up a sweep from the window: "Sweep this…" on a node param or a training setting
opens :class:`DimensionDialog` (a log or linear range, an integer range with a step, or a list
of choices), and "Sweep this node's type…" on a canvas node opens :class:`TypeDimensionDialog`
(the types its wiring allows, to check); the dimension joins the project's sweep
(``graph.sweep``, the JSON that ``torchcanvas sweep`` reads) as one undo step.

A dimension is checked against the graph with the headless sweep's own rules
(``runtime.sweep``), so the dialog refuses what the sweep would refuse, naming the field.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QWidget,
)

from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.document import Graph
from torchcanvas.graph.spec import AUTO, ParamSpec
from torchcanvas.gui import theme

SWEEP_TEXT = "Sweep this…"
TYPE_SWEEP_TEXT = "Sweep this node's type…"
# the types first checked when a node's type is swept, by palette category (those the node's
# wiring allows); other categories start with the node's own type only
SUGGESTED_TYPES = {
    "Activations": ("nn.ReLU", "nn.GELU", "nn.Tanh", "nn.SiLU", "nn.LeakyReLU", "nn.ELU"),
    "Optimizers": ("optim.SGD", "optim.Adam", "optim.AdamW", "optim.RMSprop"),
}
KIND_TITLES = {
    "log": "log range (float)",
    "linear": "linear range (float)",
    "int": "integer range",
    "choice": "list of choices",
}
# which kinds fit a param of each type (as the headless sweep allows them)
KINDS_FOR_TYPE = {"float": ("log", "linear", "choice"), "int": ("int", "choice")}
SWEEPABLE_TYPES = ("float", "int", "choice", "bool")
DEFAULT_SPACE = {
    "strategy": "tpe",
    "trials": 20,
    "timeout_s": None,
    "pruner": "median",
    "seed": 0,
}


def sweepable(spec: ParamSpec | None) -> bool:
    return spec is not None and spec.type in SWEEPABLE_TYPES and spec.name != "flow"


def setting_target(name: str) -> str:
    return f"settings.{name}"


def node_target(node_id: str, name: str) -> str:
    return f"nodes.{node_id}.params.{name}"


def type_target(node_id: str) -> str:
    return f"nodes.{node_id}.type"


def is_type_target(target: str) -> bool:
    from torchcanvas.runtime.sweep import is_type_target as is_type

    return is_type(target)


def type_title(type_id: Any) -> str:
    """A node type as people call it: its title ("Adam"), or the id of an unknown one."""
    spec = CATALOGUE.get(type_id) if isinstance(type_id, str) else None
    return spec.title if spec is not None else str(type_id)


def value_title(target: str, value: Any) -> str:
    """A swept value as the dock shows it: a node type by its title, a float in 4 digits."""
    if is_type_target(target):
        return type_title(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def target_spec(graph: Graph, target: str) -> ParamSpec | None:
    """The ``ParamSpec`` a target names, or None when it names nothing (a removed node)."""
    from torchcanvas.runtime.sweep import param_spec

    try:
        return param_spec(graph, target)
    except ValueError:
        return None


def target_title(graph: Graph, target: str) -> str:
    """How a target reads: ``optimizer1.lr``, ``batch_size``."""
    from torchcanvas.runtime.sweep import split_target

    try:
        where, node_id, name = split_target(target)
    except ValueError:
        return target
    if where == "settings":
        return name
    label = graph.node(node_id).label if node_id in graph else f"{node_id} (removed)"
    return f"{label} type" if where == "type" else f"{label}.{name}"


def current_value(graph: Graph, target: str) -> Any:
    from torchcanvas.runtime.sweep import split_target

    where, node_id, name = split_target(target)
    if where == "settings":
        return graph.settings.get(name)
    if node_id not in graph:
        return None
    node = graph.node(node_id)
    return node.type_id if where == "type" else node.params.get(name)


def default_objective(graph: Graph) -> dict[str, str]:
    """Accuracy (maximised) when the project records it, else the validation loss."""
    from torchcanvas.runtime.sweep import SweepError, objective_metrics

    try:
        metrics = objective_metrics(graph)
    except SweepError:
        metrics = ("val_loss",)
    if "accuracy" in metrics:
        return {"metric": "accuracy", "direction": "maximize"}
    return {"metric": "val_loss", "direction": "minimize"}


def with_dimension(graph: Graph, dim: dict[str, Any]) -> dict[str, Any]:
    """The project's sweep with ``dim`` added (or put in place of the one with its target); a
    new sweep when the project has none."""
    space = copy.deepcopy(graph.sweep) if graph.sweep is not None else {}
    if not space:
        space = {"dimensions": [], "objective": default_objective(graph), **DEFAULT_SPACE}
    dims = list(space.get("dimensions", []))
    for i, old in enumerate(dims):
        if old.get("target") == dim["target"]:
            dims[i] = dim
            break
    else:
        dims.append(dim)
    space["dimensions"] = dims
    return space


def _swept_types(graph: Graph, dims: list[Any], but: str) -> dict[str, tuple[str, ...]]:
    """Node id → the types the sweep's valid type dimensions (other than ``but``) give it."""
    from torchcanvas.runtime.sweep import SweepError, parse_dimension, split_target

    types: dict[str, tuple[str, ...]] = {}
    for d in dims:
        target = d.get("target") if isinstance(d, dict) else None
        if target == but or not isinstance(target, str) or not is_type_target(target):
            continue
        try:
            dim = parse_dimension(graph, d, 0, "random")
        except SweepError:
            continue  # the sweep names it when it runs
        types.setdefault(split_target(target)[1], dim.choices)
    return types


def check_dimension(graph: Graph, dim: dict[str, Any]) -> str:
    """What is wrong with ``dim`` for this graph ("" when nothing), in the sweep's words; a
    param of a node whose type the sweep changes must fit each type, and a node's types each
    param dimension of that node."""
    from torchcanvas.runtime.sweep import SweepError, parse_dimension, split_target

    others = [
        d
        for d in (graph.sweep or {}).get("dimensions", [])
        if isinstance(d, dict) and d.get("target") != dim.get("target")
    ]
    try:
        parse_dimension(graph, dim, 0, "random", _swept_types(graph, others, dim["target"]))
    except SweepError as exc:
        return str(exc).removeprefix("dimensions[0].")
    if not is_type_target(dim["target"]):
        return ""
    node_id = split_target(dim["target"])[1]
    types = {node_id: tuple(dim["choices"])}
    for d in others:
        target = d.get("target")
        if not isinstance(target, str) or is_type_target(target):
            continue
        try:
            if split_target(target)[1] != node_id:
                continue
            parse_dimension(graph, d, 0, "random")
        except (SweepError, ValueError):
            continue  # already wrong for the node's own type: not this dialog's to say
        try:
            parse_dimension(graph, d, 0, "random", types)
        except SweepError as exc:
            why = str(exc).removeprefix("dimensions[0].")
            return f"the sweep's {target_title(graph, target)} does not fit every type: {why}"
    return ""


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse_value(spec: ParamSpec, text: str) -> Any:
    t = text.strip()
    if spec.type == "bool":
        if t.lower() in ("true", "yes", "1", "on"):
            return True
        if t.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"{t!r} is not true or false")
    if spec.type == "int":
        try:
            return int(t)
        except ValueError:
            raise ValueError(f"{t!r} is not a whole number") from None
    if spec.type == "float":
        try:
            value = float(t)
        except ValueError:
            raise ValueError(f"{t!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{t!r} is not a finite number")
        return value
    for choice in spec.choices:  # choice params: the text of one of its choices
        if _fmt(choice) == t:
            return choice
    return t


def _parse_number(text: str, integer: bool, field: str) -> int | float:
    t = text.strip()
    try:
        value = int(t) if integer else float(t)
    except ValueError:
        kind = "a whole number" if integer else "a number such as 0.001"
        raise ValueError(f"{field}: expected {kind}, got {t!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{field}: expected a finite number, got {t!r}")
    return value


def default_dimension(spec: ParamSpec, target: str, value: Any) -> dict[str, Any]:
    """A first guess for a new dimension, around the current value."""
    if spec.type == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        if v > 0 and (spec.minimum is None or spec.minimum <= v / 10):
            low, high = v / 10, v * 10
            if spec.maximum is not None and high > spec.maximum:
                high = float(spec.maximum)
            return {"target": target, "kind": "log", "low": low, "high": high}
        low = float(spec.minimum) if spec.minimum is not None else v - 1.0
        high = float(spec.maximum) if spec.maximum is not None else v + 1.0
        return {"target": target, "kind": "linear", "low": low, "high": high}
    if spec.type == "int":
        v = value if isinstance(value, int) and not isinstance(value, bool) else None
        if v is None:  # auto or unset: the spec's range or a small one
            v = spec.default if isinstance(spec.default, int) else 16
        low = max(1, v // 2) if v > 0 else v
        if spec.minimum is not None:
            low = max(low, math.ceil(spec.minimum))
        high = max(low, v * 2)
        if spec.maximum is not None:
            high = min(high, math.floor(spec.maximum))
        return {"target": target, "kind": "int", "low": low, "high": high, "step": 1}
    if spec.type == "bool":
        return {"target": target, "kind": "choice", "choices": [False, True]}
    if spec.type == "choice":
        return {"target": target, "kind": "choice", "choices": list(spec.choices)}
    return {"target": target, "kind": "choice", "choices": [value]}


class DimensionDialog(QDialog):
    """Set one dimension of the sweep: its kind, range or choices. ``dimension()`` is what the
    user set (checked against the graph when OK is pressed)."""

    def __init__(
        self,
        graph: Graph,
        target: str,
        spec: ParamSpec,
        existing: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.graph, self.target, self.spec = graph, target, spec
        title = target_title(graph, target)
        self.setWindowTitle(f"Sweep {title}")
        value = current_value(graph, target)
        dim = existing or default_dimension(spec, target, value)
        form = QFormLayout(self)
        now = "auto" if value == AUTO else _fmt(value)
        intro = QLabel(f"<b>{title}</b> · now {now}")
        intro.setToolTip(target)
        form.addRow(intro)
        self.kind = QComboBox()
        self._kinds = KINDS_FOR_TYPE.get(spec.type, ("choice",))
        for kind in self._kinds:
            self.kind.addItem(KIND_TITLES[kind], kind)
        self.kind.setCurrentIndex(max(0, self._kinds.index(dim["kind"])))
        form.addRow("search", self.kind)
        self.low = QLineEdit(_fmt(dim.get("low", "")))
        self.high = QLineEdit(_fmt(dim.get("high", "")))
        self.step = QLineEdit(_fmt(dim.get("step", "")))
        self.step.setPlaceholderText("1" if spec.type == "int" else "none: any value")
        default_choices = dim.get("choices") or default_dimension(spec, target, value).get(
            "choices", [value] if value not in (None, AUTO) else []
        )
        self.choices = QLineEdit(", ".join(_fmt(c) for c in default_choices))
        self.choices.setPlaceholderText("values separated by commas")
        self.grid = QLineEdit(", ".join(_fmt(c) for c in dim.get("grid", [])))
        self.grid.setPlaceholderText("optional: the values a grid search tries")
        form.addRow("from", self.low)
        form.addRow("to", self.high)
        form.addRow("step", self.step)
        form.addRow("choices", self.choices)
        form.addRow("grid values", self.grid)
        self._form = form
        if spec.type in ("choice", "bool"):
            allowed = ", ".join(_fmt(c) for c in (spec.choices or (False, True)))
            self.choices.setToolTip(f"any of: {allowed}")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.current().error.name()};")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to sweep")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()
        self._dimension: dict[str, Any] | None = None

    @property
    def current_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self._kinds.index(kind))

    def _kind_changed(self, *_args) -> None:
        kind = self.current_kind
        ranged = kind != "choice"
        for field in (self.low, self.high):
            self._form.setRowVisible(field, ranged)
        self._form.setRowVisible(self.step, kind in ("int", "linear"))
        self._form.setRowVisible(self.choices, not ranged)
        self._form.setRowVisible(self.grid, kind in ("log", "linear"))
        self.error.setText("")
        self.adjustSize()

    def read(self) -> dict[str, Any]:
        """The dimension the fields describe; ValueError naming the field when one is not a
        value at all."""
        kind = self.current_kind
        dim: dict[str, Any] = {"target": self.target, "kind": kind}
        if kind == "choice":
            parts = [p for p in self.choices.text().split(",") if p.strip()]
            if not parts:
                raise ValueError("choices: list at least one value")
            try:
                dim["choices"] = [_parse_value(self.spec, p) for p in parts]
            except ValueError as exc:
                raise ValueError(f"choices: {exc}") from None
            return dim
        integer = kind == "int"
        dim["low"] = _parse_number(self.low.text(), integer, "from")
        dim["high"] = _parse_number(self.high.text(), integer, "to")
        if kind in ("int", "linear") and self.step.text().strip():
            dim["step"] = _parse_number(self.step.text(), integer, "step")
        if kind in ("log", "linear") and self.grid.text().strip():
            dim["grid"] = [
                _parse_number(p, False, "grid values")
                for p in self.grid.text().split(",")
                if p.strip()
            ]
        return dim

    def dimension(self) -> dict[str, Any] | None:
        """The checked dimension after OK; None before."""
        return self._dimension

    def _accept(self) -> None:
        try:
            dim = self.read()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        problem = check_dimension(self.graph, dim)
        if problem:
            self.error.setText(problem)
            return
        self._dimension = json.loads(json.dumps(dim))
        self.accept()


class TypeDimensionDialog(QDialog):
    """Sweep a node's type: the types of its palette category that its wiring allows, each
    to check (the node's own type first; a dimension being edited keeps its choices).
    ``dimension()`` is what the user set, checked against the graph when OK is pressed."""

    def __init__(
        self,
        graph: Graph,
        node_id: str,
        existing: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.graph, self.node_id = graph, node_id
        self.target = type_target(node_id)
        node = graph.node(node_id)
        self.setWindowTitle(f"Sweep {node.label}'s type")
        self.setMinimumWidth(380)
        form = QFormLayout(self)
        intro = QLabel(f"<b>{node.label}</b> · now {type_title(node.type_id)}")
        intro.setToolTip(f"{self.target} (now {node.type_id})")
        form.addRow(intro)
        hint = QLabel(
            "Each trial trains one of the checked types. Params a type shares with the node "
            "now (such as lr) keep their values; the others take the type's defaults."
        )
        hint.setWordWrap(True)
        form.addRow(hint)
        types = graph.type_alternatives(node_id)
        chosen = list((existing or {}).get("choices") or [])
        types += [t for t in chosen if t not in types]  # listed in the file, kept
        if not chosen:
            suggested = SUGGESTED_TYPES.get(node.spec.category, ())
            chosen = [t for t in types if t == node.type_id or t in suggested]
        self.types = QListWidget()
        self.types.setObjectName("sweepTypes")
        for type_id in types:
            spec = CATALOGUE.get(type_id)
            item = QListWidgetItem(type_title(type_id))
            item.setData(Qt.ItemDataRole.UserRole, type_id)
            item.setToolTip(f"{type_id}: {spec.help}" if spec is not None else type_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if type_id in chosen else Qt.CheckState.Unchecked
            )
            self.types.addItem(item)
        rows = min(max(len(types), 4), 12)
        self.types.setMinimumHeight(self.types.sizeHintForRow(0) * rows + 6)
        form.addRow("types", self.types)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.current().error.name()};")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to sweep")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self._dimension: dict[str, Any] | None = None

    def listed(self) -> list[str]:
        """Every type offered, in the list's order."""
        return [
            self.types.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.types.count())
        ]

    def checked(self) -> list[str]:
        items = (self.types.item(i) for i in range(self.types.count()))
        return [
            item.data(Qt.ItemDataRole.UserRole)
            for item in items
            if item.checkState() == Qt.CheckState.Checked
        ]

    def set_checked(self, type_ids: list[str]) -> None:
        for i in range(self.types.count()):
            item = self.types.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in type_ids
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def read(self) -> dict[str, Any]:
        choices = self.checked()
        if not choices:
            raise ValueError("types: check at least one type")
        return {"target": self.target, "kind": "choice", "choices": choices}

    def dimension(self) -> dict[str, Any] | None:
        """The checked dimension after OK; None before."""
        return self._dimension

    def _accept(self) -> None:
        try:
            dim = self.read()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        problem = check_dimension(self.graph, dim)
        if problem:
            self.error.setText(problem)
            return
        self._dimension = json.loads(json.dumps(dim))
        self.accept()


def _existing(graph: Graph, target: str) -> dict[str, Any] | None:
    existing = None
    for dim in (graph.sweep or {}).get("dimensions", []):
        if dim.get("target") == target:
            existing = dim
    return existing


def _add_when_accepted(dialog: QDialog, doc, graph: Graph, target: str) -> None:
    def accepted() -> None:
        dim = dialog.dimension()
        if dim is not None and doc.graph is graph:
            title = target_title(graph, target)
            if doc.set_sweep(with_dimension(graph, dim), f"Sweep {title}"):
                doc.message.emit(f"{title} added to the sweep (View ▸ Sweep)")

    dialog.accepted.connect(accepted)


def open_type_dialog(parent: QWidget, doc, node_id: str) -> TypeDimensionDialog | None:
    """Open the dialog sweeping node ``node_id``'s type (window-modal, not blocking); on OK
    the dimension joins the project's sweep as one undo step. Kept as ``parent.sweep_dialog``."""
    graph = doc.graph
    if node_id not in graph or getattr(doc, "block_name", None) is not None:
        return None
    if len(graph.type_alternatives(node_id)) < 2:
        doc.message.emit(f"{graph.node(node_id).label}: no other type fits its wires")
        return None
    target = type_target(node_id)
    dialog = TypeDimensionDialog(graph, node_id, _existing(graph, target), parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _add_when_accepted(dialog, doc, graph, target)
    parent.sweep_dialog = dialog
    dialog.open()
    return dialog


def open_dimension_dialog(parent: QWidget, doc, target: str) -> DimensionDialog | None:
    """Open the dialog for ``target`` (window-modal, not blocking); on OK the dimension joins
    the project's sweep as one undo step. The dialog is kept as ``parent.sweep_dialog``."""
    graph = doc.graph
    if is_type_target(target):
        from torchcanvas.runtime.sweep import split_target

        return open_type_dialog(parent, doc, split_target(target)[1])
    spec = target_spec(graph, target)
    if not sweepable(spec):
        doc.message.emit(f"{target_title(graph, target)} cannot be swept")
        return None
    dialog = DimensionDialog(graph, target, spec, _existing(graph, target), parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _add_when_accepted(dialog, doc, graph, target)
    parent.sweep_dialog = dialog
    dialog.open()
    return dialog


def sweep_menu(widget: QWidget, trigger) -> QMenu:
    """The context menu of a field that can be swept: its own edit actions (a text field's),
    then "Sweep this…"."""
    line = widget if isinstance(widget, QLineEdit) else None
    if line is None and hasattr(widget, "lineEdit") and widget.lineEdit() is not None:
        line = widget.lineEdit()
    menu = line.createStandardContextMenu() if line is not None else QMenu(widget)
    if line is not None:
        menu.addSeparator()
    action = menu.addAction(SWEEP_TEXT)
    action.setObjectName("sweepThis")
    action.triggered.connect(lambda _checked=False: trigger())
    return menu


def install_sweep_menu(widget: QWidget, trigger) -> None:
    """Right-click on ``widget`` (and its text field) offers "Sweep this…"."""
    targets = [widget]
    if hasattr(widget, "lineEdit") and widget.lineEdit() is not None:
        targets.append(widget.lineEdit())

    def show(pos, w: QWidget) -> None:
        menu = sweep_menu(widget, trigger)
        menu.exec(w.mapToGlobal(pos))
        menu.deleteLater()

    for w in targets:
        w.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        w.customContextMenuRequested.connect(lambda pos, w=w: show(pos, w))
