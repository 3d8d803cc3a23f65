"""What a model costs: multiply-accumulates (MACs) per node, the memory its outputs and
parameters take, and an estimate of the memory one training step needs.

MACs are counted during shape inference, on the ``meta`` device (no data, no memory). The
reference is ``torch.utils.flop_counter.FlopCounterMode``: MACs are its FLOPs / 2. It counts
matrix products and convolutions (``mm``, ``addmm``, ``bmm``, ``baddbmm``, convolutions,
scaled-dot-product attention), and nothing else: element-wise work (activations, bias adds,
normalisation, pooling, softmax, losses) counts 0 — as in torchinfo and fvcore, where such
work is small beside the products. Running a node under the counter makes meta execution
1.3-3x slower (every op goes through Python; an LSTM decomposes step by step), so:

- the commonest layers have exact formulas (``fast_macs`` for the shape rules that skip meta
  execution, ``module_macs`` for modules that run), each checked against FlopCounterMode by
  tests/test_cost.py;
- node types that issue no counted op (``NO_MACS``) are 0 without counting; a test runs each
  under FlopCounterMode too;
- every other node (transformer layers, backbones, model.py support classes) runs under
  FlopCounterMode, once per type, params and input shapes (``MACS_CACHE``): a stack of equal
  layers is counted once.

A code node's code never runs here, so its MACs are unknown (absent from the result).

The training-memory estimate (``training_memory``) adds parameters, their gradients, the
optimizer's state (by optimizer type) and the activations autograd keeps for backward (each
node's new output, for the batch size), plus the batch itself. It leaves out what depends on
the kernels chosen (cuDNN/oneDNN workspaces) and the allocator's caching.
"""

from __future__ import annotations

import math
import os
from typing import Any

from torchcanvas.graph.document import Graph
from torchcanvas.runtime.shape_result import MemoryEstimate, Problem, ShapeResult

# ---------------------------------------------------------------------------- MACs
# layer and op types whose forward issues no op FlopCounterMode counts
NO_MACS = frozenset(
    {
        # activations
        "nn.ReLU",
        "nn.ReLU6",
        "nn.LeakyReLU",
        "nn.ELU",
        "nn.SELU",
        "nn.GELU",
        "nn.SiLU",
        "nn.Sigmoid",
        "nn.Tanh",
        "nn.Softplus",
        "nn.Softsign",
        "nn.Hardswish",
        "nn.Hardsigmoid",
        "nn.Hardtanh",
        "nn.Mish",
        "nn.Threshold",
        "nn.CELU",
        "nn.RReLU",
        "nn.LogSigmoid",
        "nn.Hardshrink",
        "nn.Softshrink",
        "nn.Tanhshrink",
        "nn.GLU",
        "nn.PReLU",
        "nn.Softmax",
        "nn.Softmax2d",
        "nn.LogSoftmax",
        "nn.Softmin",
        # normalisation
        "nn.BatchNorm1d",
        "nn.BatchNorm2d",
        "nn.BatchNorm3d",
        "nn.LayerNorm",
        "nn.GroupNorm",
        "nn.InstanceNorm1d",
        "nn.InstanceNorm2d",
        "nn.InstanceNorm3d",
        "nn.RMSNorm",
        # pooling, dropout, padding, reshaping, lookup
        "nn.MaxPool1d",
        "nn.MaxPool2d",
        "nn.MaxPool3d",
        "nn.AvgPool1d",
        "nn.AvgPool2d",
        "nn.AvgPool3d",
        "nn.AdaptiveAvgPool1d",
        "nn.AdaptiveAvgPool2d",
        "nn.AdaptiveAvgPool3d",
        "nn.AdaptiveMaxPool1d",
        "nn.AdaptiveMaxPool2d",
        "nn.AdaptiveMaxPool3d",
        "nn.Dropout",
        "nn.Dropout1d",
        "nn.Dropout2d",
        "nn.Dropout3d",
        "nn.AlphaDropout",
        "nn.FeatureAlphaDropout",
        "nn.ZeroPad1d",
        "nn.ZeroPad2d",
        "nn.ZeroPad3d",
        "nn.ConstantPad1d",
        "nn.ConstantPad2d",
        "nn.ConstantPad3d",
        "nn.ReflectionPad1d",
        "nn.ReflectionPad2d",
        "nn.ReflectionPad3d",
        "nn.ReplicationPad1d",
        "nn.ReplicationPad2d",
        "nn.ReplicationPad3d",
        "nn.CircularPad1d",
        "nn.CircularPad2d",
        "nn.CircularPad3d",
        "nn.Flatten",
        "nn.Unflatten",
        "nn.Identity",
        "nn.PixelShuffle",
        "nn.PixelUnshuffle",
        "nn.ChannelShuffle",
        "nn.Upsample",
        "nn.UpsamplingNearest2d",
        "nn.UpsamplingBilinear2d",
        "nn.Embedding",
        # element-wise and shape ops
        "op.add",
        "op.sub",
        "op.multiply",
        "op.divide",
        "op.scale",
        "op.pow",
        "op.clamp",
        "op.concat",
        "op.stack",
        "op.detach",
        "op.max",
        "op.min",
        "op.mean",
        "op.sum",
        "op.permute",
        "op.transpose",
        "op.reshape",
        "op.select",
        "op.slice",
        "op.squeeze",
        "op.unsqueeze",
        # losses that compare element by element
        "loss.MSE",
        "loss.L1",
        "loss.Huber",
        "loss.SmoothL1",
        "loss.CrossEntropy",
        "loss.NLL",
        "loss.BCE",
        "loss.BCEWithLogits",
        "loss.KLDiv",
        "loss.PoissonNLL",
        "loss.GaussianNLL",
        "loss.CTC",
        "loss.SoftMargin",
        "loss.MultiLabelSoftMargin",
        "loss.HingeEmbedding",
    }
)

# layers whose output is a view of their input: no new memory
VIEWS = frozenset({"nn.Flatten", "nn.Identity", "nn.Unflatten"})


FAST_MACS = frozenset({"nn.Linear", "nn.Conv2d"})  # the shape rules' layers with MACs


def fast_macs(type_id: str, params: dict[str, Any], shape: tuple[int, ...], out: tuple) -> int:
    """The MACs of a node that a shape rule computed (``shapes.fast_rule``): input ``shape``,
    output ``out``."""
    if type_id == "nn.Linear":
        return math.prod(shape) * params["out_features"]
    if type_id == "nn.Conv2d":
        kh, kw = _pair(params["kernel_size"])
        return math.prod(out) * (params["in_channels"] // params["groups"]) * kh * kw
    return 0


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


OP_FORMULAS = frozenset({"op.matmul", "op.gram"})


def op_macs(type_id: str, inputs: list, out) -> int:
    """Exact MACs of a matrix-product op: each output value sums ``k`` products."""
    if type_id == "op.gram":  # [B, C, H, W] -> [B, C, C]: C x C dot products of length H*W
        x = inputs[0]
        return out.numel() * math.prod(x.shape[2:])
    return out.numel() * inputs[0].shape[-1]  # a @ b, broadcast over leading dims


def has_formula(module) -> bool:
    """Whether ``module_macs`` knows ``module``'s MACs."""
    if module is None:
        return False
    from torch import nn

    if isinstance(module, nn.MultiheadAttention):
        return module.bias_k is None and not module.add_zero_attn
    return isinstance(module, nn.Linear | nn.modules.conv._ConvNd | nn.RNNBase | nn.RNNCellBase)


def module_macs(module, inputs: list, outputs: list) -> int:
    """Exact MACs of ``module`` (one that ``has_formula``) run on ``inputs`` (meta tensors)
    giving ``outputs``."""
    from torch import nn

    x = inputs[0]
    if isinstance(module, nn.Linear):
        return x.numel() * module.out_features
    if isinstance(module, nn.modules.conv._ConvNd):
        w = module.weight.shape
        if module.transposed:  # per input position: Cin x Cout/groups x kernel
            return x.numel() * math.prod(w[1:])
        return outputs[0].numel() * math.prod(w[1:])
    if isinstance(module, nn.RNNBase):
        gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
        steps = x.numel() // module.input_size  # time steps x batch
        hidden, proj = module.hidden_size, module.proj_size
        state = proj or hidden
        dirs = 2 if module.bidirectional else 1
        total = 0
        for layer in range(module.num_layers):
            width = module.input_size if layer == 0 else state * dirs
            total += dirs * steps * (gates * hidden * (width + state) + hidden * proj)
        return total
    if isinstance(module, nn.RNNCellBase):
        gates = {nn.LSTMCell: 4, nn.GRUCell: 3}.get(type(module), 1)
        rows = x.numel() // module.input_size
        return rows * gates * module.hidden_size * (module.input_size + module.hidden_size)
    if isinstance(module, nn.MultiheadAttention):
        e = module.embed_dim
        q = inputs[0]
        k = inputs[1] if len(inputs) > 1 else q  # self-attention: key and value are the query
        n_q, n_k = q.numel() // e, k.numel() // module.kdim
        # per batch, L query and S key positions: L*S*E for the scores, L*S*E for the sum
        batch = 1 if q.dim() == 2 else q.shape[0 if module.batch_first else 1]
        length, source = n_q // batch, n_k // batch
        projections = n_q * e * e + n_k * module.kdim * e + n_k * module.vdim * e + n_q * e * e
        return projections + 2 * batch * length * source * e
    raise TypeError(f"no MACs formula for {type(module).__name__}")


MACS_CACHE: dict[str, tuple[int, int]] = {}  # node key → MACs at the two probe batch sizes
MACS_CACHE_SIZE = 4096


class MacCounter:
    """``FlopCounterMode`` around a node's forward: MACs = its FLOPs / 2."""

    def __init__(self) -> None:
        from torch.utils.flop_counter import FlopCounterMode

        self._mode = FlopCounterMode(display=False)

    def __enter__(self) -> MacCounter:
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)

    @property
    def macs(self) -> int:
        return self._mode.get_total_flops() // 2


# ---------------------------------------------------------------------------- memory
def optimizer_state_factor(type_id: str, params: dict[str, Any]) -> tuple[float, str]:
    """How many copies of the trainable parameters ``type_id`` keeps as state, and why."""
    if type_id == "optim.SGD":
        if params.get("momentum", 0.0) > 0:
            return 1.0, "SGD with momentum: a momentum buffer (1x the parameters)"
        return 0.0, "SGD without momentum: no state"
    if type_id in ("optim.Adam", "optim.AdamW"):
        if params.get("amsgrad"):
            return 3.0, "AMSGrad: two running averages and their maximum (3x the parameters)"
        return 2.0, "two running averages (2x the parameters)"
    if type_id == "optim.RMSprop":
        k = 1.0 + (params.get("momentum", 0.0) > 0) + bool(params.get("centered"))
        return k, f"squared-gradient average{' and more' if k > 1 else ''} ({k:g}x)"
    if type_id == "optim.Adagrad":
        return 1.0, "squared-gradient sums (1x the parameters)"
    if type_id == "optim.LBFGS":
        k = 2.0 * params.get("history_size", 100) + 3
        return k, f"L-BFGS history of {params.get('history_size', 100)} updates ({k:g}x)"
    return 0.0, "unknown optimizer: no state counted"


def _optimizer(graph: Graph):
    return next((n for n in graph.nodes() if n.kind == "optimizer"), None)


def training_memory(graph: Graph, result: ShapeResult) -> MemoryEstimate:
    """Peak memory of one training step at the project's batch size, in bytes: parameters,
    gradients, optimizer state, the activations kept for backward, and the batch."""
    batch = int(graph.settings.get("batch_size", 1) or 1)
    params = sum(result.param_bytes.values())
    counts = result.param_counts
    trainable = sum(
        b * result.trainable_counts.get(nid, 0) // counts[nid]
        for nid, b in result.param_bytes.items()
        if counts.get(nid)
    )
    opt = _optimizer(graph)
    factor, why = optimizer_state_factor(opt.type_id, opt.params) if opt else (0.0, "none")
    state = int(trainable * factor)
    activations = batch * sum(result.activation_bytes.values())
    device = str(graph.settings.get("device", "auto"))
    return MemoryEstimate(
        batch_size=batch,
        device=device,
        params=params,
        grads=trainable,
        optimizer_state=state,
        optimizer=why,
        activations=activations,
    )


_CAPACITY: dict[str, tuple[int, str] | None] = {}


def device_capacity(device: str) -> tuple[int, str] | None:
    """(bytes, name) of the memory a run on ``device`` has: a CUDA device's memory (when CUDA
    is here), else the machine's physical memory for the CPU; None where unknown (MPS, an
    absent device). "auto" is what the trainer would pick."""
    if device in _CAPACITY:
        return _CAPACITY[device]
    import torch

    found: tuple[int, str] | None = None
    kind = device.split(":")[0]
    if device == "auto":
        kind = (
            "cuda"
            if torch.cuda.is_available()
            else ("mps" if torch.backends.mps.is_available() else "cpu")
        )
    if kind == "cuda" and torch.cuda.is_available():
        index = int(device.split(":")[1]) if ":" in device else 0
        if index < torch.cuda.device_count():
            props = torch.cuda.get_device_properties(index)
            found = (int(props.total_memory), f"{props.name} (cuda:{index})")
    elif kind == "cpu":
        try:
            found = (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's RAM")
        except (ValueError, OSError, AttributeError):
            found = None
    _CAPACITY[device] = found
    return found


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    return ""  # pragma: no cover - the loop always returns


def format_macs(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000 or unit == "T":
            return f"{int(n)}" if unit == "" else f"{n:.3g} {unit}"
        n /= 1000
    return ""  # pragma: no cover - the loop always returns


def add_memory_estimate(graph: Graph, result: ShapeResult, capacity=None) -> bool:
    """Put the training-memory estimate on ``result`` and, when it will not fit the device's
    memory (``capacity(device)``, default ``device_capacity``), a warning (not an error: the
    estimate is an estimate). True when it warned."""
    capacity = capacity or device_capacity
    if not result.ok or (not result.param_bytes and not result.activation_bytes):
        result.memory = None
        return False
    estimate = training_memory(graph, result)
    room = capacity(estimate.device)
    if room is not None:
        estimate = estimate.with_capacity(*room)
    result.memory = estimate
    if room is None or estimate.total <= room[0]:
        return False
    result.problems.append(
        Problem(
            None,
            f"training needs about {format_bytes(estimate.total)} for a batch of "
            f"{estimate.batch_size} (parameters, gradients, optimizer state and "
            f"{format_bytes(estimate.activations)} of activations), more than the "
            f"{format_bytes(room[0])} of {room[1]}; lower the batch size or the model's size",
            "warning",
        )
    )
    return True
