"""What shape inference reports, as plain data: nothing here imports torch, so the window can
receive, keep and show a result (or the one saved with a project) before torch is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

Value = tuple[str, str]  # (node id, output port)
Dim = int | str


@dataclass(frozen=True)
class DataSummary:
    """What the window shows of a data source (``runtime.data.DataInfo`` without tensors'
    dtypes, which would need torch to load)."""

    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]
    x_dtype: str
    y_dtype: str
    classes: tuple[str, ...] | None
    n_train: int
    n_val: int
    vocab_size: int | None = None
    ports: tuple[str, str] = ("x", "y")
    batched: bool = True

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.classes else None

    def fact(self, name: str) -> Any:
        facts = {"num_classes": self.num_classes, "vocab_size": self.vocab_size}
        facts["target_classes"] = self.num_classes or self.vocab_size  # scores a classifier gives
        return facts.get(name)


@dataclass(frozen=True)
class Problem:
    node_id: str | None
    message: str
    severity: str = "error"  # or "warning"
    # inside a block instance: (the block's definition, the node in its body it concerns)
    inner: tuple[str, str] | None = None


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of one training step (``runtime.cost.training_memory``), in bytes."""

    batch_size: int
    device: str  # the project's device setting
    params: int
    grads: int
    optimizer_state: int
    optimizer: str  # what the optimizer keeps, in words
    activations: int  # kept for backward, for the whole batch (and the batch itself)
    capacity: int | None = None  # the device's memory, where known
    capacity_name: str = ""

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer_state + self.activations

    @property
    def fits(self) -> bool | None:
        return None if self.capacity is None else self.total <= self.capacity

    def with_capacity(self, capacity: int, name: str) -> MemoryEstimate:
        return replace(self, capacity=capacity, capacity_name=name)


@dataclass
class ShapeResult:
    shapes: dict[Value, tuple[Dim, ...]] = field(default_factory=dict)  # "B" marks the batch
    dtypes: dict[Value, str] = field(default_factory=dict)
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)  # auto params filled
    # (by node id; inside block definitions by block_key(name, node_id))
    param_counts: dict[str, int] = field(default_factory=dict)
    trainable_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # cost, for a batch of one (runtime/cost.py): MACs by node (absent where unknown: code
    # nodes), the new memory each node's outputs take, its parameters' memory, in bytes
    macs: dict[str, int] = field(default_factory=dict)
    activation_bytes: dict[str, int] = field(default_factory=dict)
    param_bytes: dict[str, int] = field(default_factory=dict)
    memory: MemoryEstimate | None = None  # one training step at the project's batch size
    data_info: Any = None  # DataInfo where inferred; a DataSummary once sent to the window
    # inside block instances: instance path ("n5", nested "n5/n3") → shapes of inner values
    block_shapes: dict[str, dict[Value, tuple[Dim, ...]]] = field(default_factory=dict)
    # the nodes whose shapes, problems, auto values or counts differ from the previous result
    # of the same inferencer (their out-wires' shapes with them); None: take everything anew
    changed: set[str] | None = None
    saved: bool = False  # read from the project file, not inferred yet

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def total_params(self) -> int:
        return sum(self.param_counts.values())

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())

    @property
    def total_activation_bytes(self) -> int:
        return sum(self.activation_bytes.values())

    @property
    def total_param_bytes(self) -> int:
        return sum(self.param_bytes.values())

    def first_error(self) -> Problem | None:
        return next((p for p in self.problems if p.severity == "error"), None)

    def errors_for(self, node_id: str) -> list[Problem]:
        return [p for p in self.problems if p.node_id == node_id]


def format_shape(shape: tuple[Dim, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


@dataclass
class DataSamples:
    """What a data node yields, after its transforms and augmentation (numpy arrays and
    text: the window shows it without torch)."""

    node_id: str
    kind: str  # "image", "table", "text" or "tensor"
    inputs: list[Any]  # each sample as the model reads it (numpy arrays)
    labels: list[str]  # each sample's target, as text (a class name when there are classes)
    feature_names: list[str] = field(default_factory=list)  # tables
    tokens: list[list[str]] = field(default_factory=list)  # text: each sample's tokens
    texts: list[str] = field(default_factory=list)  # text: the tokens joined, padding left out
