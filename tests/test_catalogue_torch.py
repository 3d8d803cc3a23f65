"""The catalogue against real torch: signatures, defaults, and generated code that runs.

Every spec with a ``torch_name`` is checked against ``inspect.signature`` of the real object, so the
catalogue cannot drift from PyTorch. What the catalogue leaves out on purpose is listed in
``SKIPPED`` below (and each skipped name must still exist in torch, so the list cannot rot).
Every layer and op is then built from its spec and run through the code that codegen writes.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from torchcanvas.codegen.backbone import backbone_code
from torchcanvas.codegen.emit import ctor_args, forward_expr, module_ctor
from torchcanvas.graph.catalogue import CATALOGUE
from torchcanvas.graph.catalogue.backbones import ARCHS
from torchcanvas.graph.document import Graph
from torchcanvas.graph.spec import NodeSpec
from torchcanvas.runtime.backbones import on_meta
from torchcanvas.runtime.shapes import NO_META_LOSSES, no_meta_loss_rule
from torchcanvas.runtime.source import run_source

SPECS = sorted(CATALOGUE.values(), key=lambda s: s.type_id)
TORCH_SPECS = [s for s in SPECS if s.torch_name]

# ---------------------------------------------------------------------------- signatures
# Constructor args that make no sense on a canvas, for every type that has them.
SKIPPED_EVERYWHERE = {
    "device",
    "dtype",  # the trainer moves the model
    "foreach",
    "fused",
    "capturable",
    "differentiable",
    "maximize",  # optimizer internals
    "last_epoch",  # schedulers start fresh; resuming restores their state dict
    "size_average",
    "reduce",  # deprecated loss args (reduction replaces them)
}
# Per type: the name and why it is left out.
SKIPPED: dict[str, dict[str, str]] = {
    **{
        t: {"return_indices": "a node has one output"}
        for t in (
            "nn.AdaptiveMaxPool1d",
            "nn.AdaptiveMaxPool2d",
            "nn.AdaptiveMaxPool3d",
        )
    },
    **{
        t: {
            "return_indices": "a node has one output",
            "_random_samples": "private: fixed window positions, a tensor",
        }
        for t in ("nn.FractionalMaxPool2d", "nn.FractionalMaxPool3d")
    },
    **{
        t: {"bias": "keyword-only, newer torch only; affine covers it"}
        for t in (
            "nn.BatchNorm1d",
            "nn.BatchNorm2d",
            "nn.BatchNorm3d",
            "nn.GroupNorm",
            "nn.InstanceNorm1d",
            "nn.InstanceNorm2d",
            "nn.InstanceNorm3d",
        )
    },
    **{
        t: {"proj_size": "LSTM-only projection; changes the hidden state's shape"}
        for t in ("nn.RNN", "nn.LSTM", "nn.GRU")
    },
    **{
        f"nn.ConvTranspose{n}d": {"padding_mode": "torch supports only 'zeros' here"}
        for n in (1, 2, 3)
    },
    "nn.Embedding": {
        "_weight": "a tensor",
        "_freeze": "private",
        "sparse": "sparse gradients break most optimizers",
    },
    "nn.EmbeddingBag": {"_weight": "a tensor", "sparse": "sparse gradients break most optimizers"},
    "nn.SyncBatchNorm": {
        "process_group": "a torch.distributed object; the run's default group is used",
        "bias": "keyword-only, newer torch only; affine covers it",
    },
    "nn.Transformer": {
        "custom_encoder": "a module, not a value",
        "custom_decoder": "a module, not a value",
    },
    "nn.MultiheadAttention": {
        "kdim": "key and value have embed_dim features",
        "vdim": "key and value have embed_dim features",
    },
    "nn.Hardtanh": {
        "min_value": "deprecated alias of min_val",
        "max_value": "deprecated alias of max_val",
    },
    "nn.Upsample": {"recompute_scale_factor": "rarely useful; torch's default is right"},
    "loss.CrossEntropy": {"weight": "a tensor"},
    "loss.NLL": {"weight": "a tensor"},
    "loss.BCE": {"weight": "a tensor"},
    "loss.BCEWithLogits": {"weight": "a tensor", "pos_weight": "a tensor"},
    "loss.MultiLabelSoftMargin": {"weight": "a tensor"},
    "loss.MultiMargin": {"weight": "a tensor"},
    "loss.TripletMarginWithDistance": {
        "distance_function": "a Python function; torch's default, the pairwise distance, is used"
    },
    "optim.Adam": {"decoupled_weight_decay": "that is AdamW, a node of its own"},
    "sched.OneCycleLR": {
        "total_steps": "the trainer passes epochs and steps_per_epoch",
        "epochs": "filled by the trainer from the run settings",
        "steps_per_epoch": "filled by the trainer from the data loader",
    },
}
# The first argument is the object being worked on, not a param.
FIRST_ARG = {"optimizer": "params", "scheduler": "optimizer", "clip": "parameters"}
# Torch defaults that are not plain values, and the choice that means the same.
SPECIAL_DEFAULTS = {
    **{
        (t, "activation"): (torch.nn.functional.relu, "relu")
        for t in ("nn.Transformer", "nn.TransformerEncoderLayer", "nn.TransformerDecoderLayer")
    },
}


def resolve(torch_name: str) -> Any:
    obj: Any = torch
    for part in torch_name.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def torch_params(spec: NodeSpec) -> list[inspect.Parameter]:
    """The torch signature's params, in order, minus self, *args/**kwargs and the first arg of
    optimizers/schedulers/clipping."""
    obj = resolve(spec.torch_name)
    if spec.type_id in ("nn.RNN", "nn.LSTM", "nn.GRU"):
        # nn.RNN/LSTM/GRU are declared (*args, **kwargs); RNNBase.__init__ has the real list.
        params = [
            p
            for p in inspect.signature(nn.RNNBase.__init__).parameters.values()
            if p.name not in ("self", "mode")
        ]
        if spec.type_id == "nn.RNN":
            # RNN takes nonlinearity after num_layers (documented; popped from kwargs)
            assert nn.RNN(2, 3).nonlinearity == "tanh"
            at = [p.name for p in params].index("num_layers") + 1
            params.insert(
                at,
                inspect.Parameter("nonlinearity", inspect.Parameter.KEYWORD_ONLY, default="tanh"),
            )
        return params
    params = [
        p
        for p in inspect.signature(obj).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if spec.kind in FIRST_ARG:
        assert params[0].name == FIRST_ARG[spec.kind], spec.type_id
        params = params[1:]
    return params


def norm(value: Any) -> Any:
    """Tuples and lists alike; ints and floats alike (bools stay bools)."""
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def same(a: Any, b: Any) -> bool:
    a, b = norm(a), norm(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("spec", TORCH_SPECS, ids=[s.type_id for s in TORCH_SPECS])
def test_matches_torch_signature(spec):
    t = spec.type_id
    theirs = {p.name: p for p in torch_params(spec)}
    skipped = SKIPPED.get(t, {})
    for name in skipped:
        assert name in theirs, f"{t}: skipped param {name!r} is not in torch's signature"
    ours = [p for p in spec.params if p.ctor]
    for p in ours:
        assert p.name in theirs, f"{t}.{p.name}: not a param of {spec.torch_name}"
        assert p.name not in skipped, f"{t}.{p.name}: both declared and skipped"
    # nothing torch offers is forgotten: it is either declared or skipped, with a reason
    declared = {p.name for p in ours}
    for name in theirs:
        assert name in declared or name in skipped or name in SKIPPED_EVERYWHERE, (
            f"{t}: torch param {name!r} is neither in the spec nor in SKIPPED"
        )
    # the same order as torch's signature
    order = [n for n in theirs if n in declared]
    assert [p.name for p in ours] == order, f"{t}: params not in torch's order {order}"
    # required exactly where torch has no default
    torch_required = {n for n, q in theirs.items() if q.default is inspect.Parameter.empty}
    for name in torch_required:
        assert name in declared, f"{t}: torch requires {name!r} but the spec lacks it"
    spec_required = {p.name for p in ours if p.required}
    assert spec_required == torch_required, (
        f"{t}: required params {sorted(spec_required)} but torch requires {sorted(torch_required)}"
    )
    # our idea of torch's default is torch's default
    for p in ours:
        if p.required:
            continue
        theirs_default = theirs[p.name].default
        special = SPECIAL_DEFAULTS.get((t, p.name))
        if special is not None:
            assert theirs_default is special[0], f"{t}.{p.name}: torch's default changed"
            theirs_default = special[1]
        assert same(p.upstream_default, theirs_default), (
            f"{t}.{p.name}: upstream default {p.upstream_default!r}, torch has {theirs_default!r}"
        )


def test_every_skip_names_a_spec():
    for t in SKIPPED:
        assert t in CATALOGUE, f"SKIPPED names {t}, which is not in the catalogue"


# ---------------------------------------------------------------------------- layers run
# type id -> cases of (param overrides, input shapes by port, expected output shape or None).
# An input shape given as ("long", shape) is an index tensor.
Case = tuple[dict[str, Any], dict[str, Any], tuple[int, ...] | None]
SEQ = {"x": (4, 7, 5)}
IMG = {"x": (2, 3, 16, 16)}
VEC = {"x": (4, 8)}


def recurrent_cases(factor: int = 1) -> list[Case]:
    return [
        ({}, SEQ, (4, 7, 64)),
        ({"output": "last_step"}, SEQ, (4, 64)),
        ({"output": "hidden"}, SEQ, (4, 64)),
        ({"output": "hidden", "num_layers": 2, "dropout": 0.1}, SEQ, (4, 64)),
        ({"output": "hidden", "bidirectional": True}, SEQ, (4, 128)),
        ({"bidirectional": True}, SEQ, (4, 7, 128)),
        ({"output": "last_step", "batch_first": False}, {"x": (7, 4, 5)}, (4, 64)),
        ({"hidden_size": 8, "bias": False}, SEQ, (4, 7, 8)),
    ]


ACT = [({}, VEC, (4, 8))]
LAYER_CASES: dict[str, list[Case]] = {
    "nn.Linear": [({}, VEC, (4, 10)), ({"out_features": 3, "bias": False}, SEQ, (4, 7, 3))],
    "nn.Bilinear": [({}, {"x1": (4, 8), "x2": (4, 6)}, (4, 10))],
    "nn.Conv1d": [
        ({}, {"x": (2, 3, 16)}, (2, 16, 14)),
        (
            {"kernel_size": 5, "padding": 2, "padding_mode": "reflect"},
            {"x": (2, 3, 16)},
            (2, 16, 16),
        ),
    ],
    "nn.Conv2d": [
        ({}, IMG, (2, 16, 14, 14)),
        (
            {"kernel_size": [3, 5], "stride": 2, "padding": [1, 2], "groups": 3, "out_channels": 6},
            IMG,
            (2, 6, 8, 8),
        ),
    ],
    "nn.Conv3d": [({}, {"x": (2, 3, 8, 8, 8)}, (2, 16, 6, 6, 6))],
    "nn.ConvTranspose2d": [
        ({}, {"x": (2, 3, 8, 8)}, (2, 16, 10, 10)),
        ({"kernel_size": 2, "stride": 2}, {"x": (2, 3, 8, 8)}, (2, 16, 16, 16)),
        (
            {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
            {"x": (2, 3, 8, 8)},
            (2, 16, 16, 16),
        ),
    ],
    "nn.MaxPool1d": [
        ({}, {"x": (2, 3, 16)}, (2, 3, 8)),
        # return_indices: the layer call still gives the pooled values (the indices: a port)
        ({"return_indices": True}, {"x": (2, 3, 16)}, (2, 3, 8)),
    ],
    "nn.MaxPool2d": [
        ({}, IMG, (2, 3, 8, 8)),
        ({"kernel_size": 3, "stride": 1, "padding": 1}, IMG, (2, 3, 16, 16)),
    ],
    "nn.MaxUnpool1d": [
        ({}, {"x": (2, 3, 8), "indices": ("long", (2, 3, 8))}, (2, 3, 16)),
        (
            {"kernel_size": 3, "stride": 2, "padding": 1},
            {"x": (2, 3, 8), "indices": ("long", (2, 3, 8))},
            (2, 3, 15),
        ),
    ],
    "nn.MaxUnpool2d": [({}, {"x": (2, 3, 4, 4), "indices": ("long", (2, 3, 4, 4))}, (2, 3, 8, 8))],
    "nn.MaxUnpool3d": [
        ({}, {"x": (2, 3, 2, 3, 4), "indices": ("long", (2, 3, 2, 3, 4))}, (2, 3, 4, 6, 8))
    ],
    "nn.AvgPool1d": [({}, {"x": (2, 3, 16)}, (2, 3, 8))],
    "nn.AvgPool2d": [({}, IMG, (2, 3, 8, 8)), ({"divisor_override": 3}, IMG, (2, 3, 8, 8))],
    "nn.AdaptiveAvgPool1d": [({}, {"x": (2, 3, 16)}, (2, 3, 1))],
    "nn.AdaptiveAvgPool2d": [
        ({}, {"x": (2, 3, 7, 9)}, (2, 3, 1, 1)),
        ({"output_size": [2, 3]}, {"x": (2, 3, 7, 9)}, (2, 3, 2, 3)),
    ],
    "nn.AdaptiveMaxPool2d": [({}, {"x": (2, 3, 7, 9)}, (2, 3, 1, 1))],
    "nn.BatchNorm1d": [({}, VEC, (4, 8)), ({"momentum": 0.2}, {"x": (4, 8, 5)}, (4, 8, 5))],
    "nn.BatchNorm2d": [({}, IMG, IMG["x"]), ({"affine": False, "eps": 1e-3}, IMG, IMG["x"])],
    "nn.LayerNorm": [({}, SEQ, SEQ["x"]), ({"normalized_shape": [7, 5]}, SEQ, SEQ["x"])],
    "nn.GroupNorm": [({}, {"x": (2, 16, 4, 4)}, (2, 16, 4, 4))],
    "nn.InstanceNorm2d": [({}, IMG, IMG["x"]), ({"affine": True}, IMG, IMG["x"])],
    "nn.Dropout": [({}, VEC, (4, 8)), ({"p": 0.1}, SEQ, SEQ["x"])],
    "nn.Dropout2d": [({}, IMG, IMG["x"])],
    "nn.Embedding": [
        ({}, {"x": ("long", (4, 7))}, (4, 7, 32)),
        ({"padding_idx": 0, "max_norm": 1.0}, {"x": ("long", (4, 7))}, (4, 7, 32)),
    ],
    "nn.RNN": [*recurrent_cases(), ({"nonlinearity": "relu"}, SEQ, (4, 7, 64))],
    "nn.LSTM": recurrent_cases(),
    "nn.GRU": recurrent_cases(),
    "nn.MultiheadAttention": [
        ({}, {"query": (4, 7, 32)}, (4, 7, 32)),
        ({}, {"query": (4, 7, 32), "key": (4, 9, 32)}, (4, 7, 32)),
        ({}, {"query": (4, 7, 32), "key": (4, 9, 32), "value": (4, 9, 32)}, (4, 7, 32)),
        ({"batch_first": False, "num_heads": 2}, {"query": (7, 4, 32)}, (7, 4, 32)),
        (
            {"add_bias_kv": True, "add_zero_attn": True, "dropout": 0.1},
            {"query": (4, 7, 32)},
            (4, 7, 32),
        ),
    ],
    "nn.TransformerEncoderLayer": [
        ({}, {"x": (4, 7, 32)}, (4, 7, 32)),
        (
            {"activation": "gelu", "norm_first": True, "dim_feedforward": 64},
            {"x": (4, 7, 32)},
            (4, 7, 32),
        ),
    ],
    "nn.Flatten": [({}, IMG, (2, 768)), ({"start_dim": 2}, IMG, (2, 3, 256))],
    "nn.Unflatten": [
        ({}, {"x": (2, 48)}, (2, 1, 48)),
        ({"unflattened_size": [3, 4, 4]}, {"x": (2, 48)}, (2, 3, 4, 4)),
    ],
    "nn.Identity": [({}, VEC, (4, 8))],
    "nn.Upsample": [
        ({}, {"x": (2, 3, 8, 8)}, (2, 3, 16, 16)),
        (
            {"size": [5, 6], "scale_factor": None, "mode": "bilinear", "align_corners": False},
            {"x": (2, 3, 8, 8)},
            (2, 3, 5, 6),
        ),
        ({"mode": "linear"}, {"x": (2, 3, 8)}, (2, 3, 16)),
    ],
    # activations
    **{
        t: ACT
        for t in (
            "nn.ReLU",
            "nn.ReLU6",
            "nn.LeakyReLU",
            "nn.ELU",
            "nn.SELU",
            "nn.GELU",
            "nn.SiLU",
            "nn.Sigmoid",
            "nn.Tanh",
            "nn.Softmax",
            "nn.LogSoftmax",
            "nn.Softplus",
            "nn.Softsign",
            "nn.Hardswish",
            "nn.Hardsigmoid",
            "nn.Hardtanh",
            "nn.Mish",
            "nn.Threshold",
        )
    },
    "nn.PReLU": [*ACT, ({"num_parameters": 3}, {"x": (2, 3, 4)}, (2, 3, 4))],
}
SIG = {"x": (2, 3, 16)}
VOL = {"x": (2, 3, 8, 8, 8)}
LAYER_CASES.update(
    {
        "nn.ConvTranspose1d": [({}, {"x": (2, 3, 8)}, (2, 16, 10))],
        "nn.ConvTranspose3d": [
            ({"kernel_size": 2, "stride": 2}, {"x": (2, 3, 4, 4, 4)}, (2, 16, 8, 8, 8))
        ],
        "nn.MaxPool3d": [({}, VOL, (2, 3, 4, 4, 4))],
        "nn.AvgPool3d": [
            ({}, VOL, (2, 3, 4, 4, 4)),
            ({"divisor_override": 2}, VOL, (2, 3, 4, 4, 4)),
        ],
        "nn.AdaptiveAvgPool3d": [
            ({}, {"x": (2, 3, 5, 6, 7)}, (2, 3, 1, 1, 1)),
            ({"output_size": [2, 3, 4]}, {"x": (2, 3, 5, 6, 7)}, (2, 3, 2, 3, 4)),
        ],
        "nn.AdaptiveMaxPool1d": [({}, SIG, (2, 3, 1)), ({"output_size": 4}, SIG, (2, 3, 4))],
        "nn.AdaptiveMaxPool3d": [({}, {"x": (2, 3, 5, 6, 7)}, (2, 3, 1, 1, 1))],
        "nn.LPPool1d": [
            ({}, SIG, (2, 3, 8)),
            ({"norm_type": 1.0, "kernel_size": 4, "stride": 2}, SIG, (2, 3, 7)),
        ],
        "nn.LPPool2d": [({}, IMG, (2, 3, 8, 8))],
        "nn.LPPool3d": [({}, VOL, (2, 3, 4, 4, 4))],
        "nn.FractionalMaxPool2d": [
            ({}, IMG, (2, 3, 8, 8)),
            ({"output_size": [5, 6], "output_ratio": None, "kernel_size": 3}, IMG, (2, 3, 5, 6)),
        ],
        "nn.FractionalMaxPool3d": [({}, VOL, (2, 3, 4, 4, 4))],
        "nn.BatchNorm3d": [({}, VOL, VOL["x"])],
        "nn.SyncBatchNorm": [({}, IMG, IMG["x"]), ({"momentum": 0.2}, SEQ, SEQ["x"])],
        "nn.RMSNorm": [
            ({}, SEQ, SEQ["x"]),
            ({"eps": 1e-6, "normalized_shape": [7, 5]}, SEQ, SEQ["x"]),
        ],
        "nn.InstanceNorm1d": [({}, SIG, SIG["x"])],
        "nn.InstanceNorm3d": [({"affine": True}, VOL, VOL["x"])],
        "nn.LocalResponseNorm": [({}, IMG, IMG["x"]), ({"size": 2, "k": 2.0}, SIG, SIG["x"])],
        "nn.CrossMapLRN2d": [({}, IMG, IMG["x"])],
        "nn.Dropout1d": [({}, SIG, SIG["x"])],
        "nn.Dropout3d": [({}, VOL, VOL["x"])],
        "nn.AlphaDropout": [({}, VEC, VEC["x"])],
        "nn.FeatureAlphaDropout": [({"p": 0.2}, IMG, IMG["x"])],
        "nn.EmbeddingBag": [
            ({}, {"x": ("long", (4, 7))}, (4, 32)),
            (
                {"mode": "sum", "embedding_dim": 8},
                {"x": ("long", (12,)), "offsets": ("long", (4,))},
                (4, 8),
            ),
            ({"mode": "max", "padding_idx": 0}, {"x": ("long", (4, 7))}, (4, 32)),
        ],
        "nn.RNNCell": [
            ({}, {"x": (4, 5)}, (4, 64)),
            ({"nonlinearity": "relu", "hidden_size": 8}, {"x": (4, 5), "hx": (4, 8)}, (4, 8)),
        ],
        "nn.LSTMCell": [  # the first output, h
            ({}, {"x": (4, 5)}, (4, 64)),
            ({"hidden_size": 8}, {"x": (4, 5), "hx": (4, 8), "cx": (4, 8)}, (4, 8)),
            ({"hidden_size": 8, "bias": False}, {"x": (4, 5), "cx": (4, 8)}, (4, 8)),
        ],
        "nn.GRUCell": [
            ({}, {"x": (4, 5)}, (4, 64)),
            ({"bias": False, "hidden_size": 8}, {"x": (4, 5), "hx": (4, 8)}, (4, 8)),
        ],
        "nn.TransformerDecoderLayer": [
            ({}, {"tgt": (4, 7, 32), "memory": (4, 9, 32)}, (4, 7, 32)),
            (
                {"norm_first": True, "dim_feedforward": 64, "batch_first": False},
                {"tgt": (7, 4, 32), "memory": (9, 4, 32)},
                (7, 4, 32),
            ),
        ],
        "nn.Transformer": [
            (
                {
                    "nhead": 4,
                    "num_encoder_layers": 1,
                    "num_decoder_layers": 1,
                    "dim_feedforward": 64,
                },
                {"src": (4, 9, 32), "tgt": (4, 7, 32)},
                (4, 7, 32),
            ),
            (
                {"num_encoder_layers": 2, "num_decoder_layers": 1, "activation": "gelu"},
                {"src": (4, 9, 16), "tgt": (4, 7, 16)},
                (4, 7, 16),
            ),
        ],
        "nn.CosineSimilarity": [
            ({}, {"x1": (4, 8), "x2": (4, 8)}, (4,)),
            ({"dim": -1}, {"x1": (4, 7, 8), "x2": (4, 7, 8)}, (4, 7)),
        ],
        "nn.PairwiseDistance": [
            ({}, {"x1": (4, 8), "x2": (4, 8)}, (4,)),
            ({"p": 1.0, "keepdim": True}, {"x1": (4, 8), "x2": (4, 8)}, (4, 1)),
        ],
        "nn.PixelShuffle": [({}, {"x": (2, 12, 4, 4)}, (2, 3, 8, 8))],
        "nn.PixelUnshuffle": [({}, {"x": (2, 3, 8, 8)}, (2, 12, 4, 4))],
        "nn.ChannelShuffle": [({}, {"x": (2, 4, 3, 3)}, (2, 4, 3, 3))],
        "nn.Unfold": [
            ({}, IMG, (2, 27, 196)),
            ({"kernel_size": [2, 4], "stride": 2}, IMG, (2, 24, 56)),
        ],
        "nn.Fold": [
            ({}, {"x": (2, 27, 36)}, (2, 3, 8, 8)),
            (
                {"output_size": [4, 6], "kernel_size": 2, "stride": 2},
                {"x": (2, 12, 6)},
                (2, 3, 4, 6),
            ),
        ],
        "nn.UpsamplingNearest2d": [
            ({}, {"x": (2, 3, 8, 8)}, (2, 3, 16, 16)),
            ({"size": [5, 6], "scale_factor": None}, {"x": (2, 3, 8, 8)}, (2, 3, 5, 6)),
        ],
        "nn.UpsamplingBilinear2d": [({}, {"x": (2, 3, 8, 8)}, (2, 3, 16, 16))],
        **{
            t: ACT
            for t in (
                "nn.CELU",
                "nn.RReLU",
                "nn.LogSigmoid",
                "nn.Softmin",
                "nn.Hardshrink",
                "nn.Softshrink",
                "nn.Tanhshrink",
            )
        },
        "nn.GLU": [({}, VEC, (4, 4)), ({"dim": 1}, {"x": (2, 6, 5)}, (2, 3, 5))],
        "nn.Softmax2d": [({}, IMG, IMG["x"])],
    }
)
PAD_CASES = {
    1: ({"x": (2, 3, 8)}, (2, 3, 10), [1, 2], (2, 3, 11)),
    2: (IMG, (2, 3, 18, 18), [1, 2, 3, 4], (2, 3, 23, 19)),
    3: ({"x": (2, 3, 4, 4, 4)}, (2, 3, 6, 6, 6), [1, 0, 0, 1, 2, 1], (2, 3, 7, 5, 5)),
}
for _kind in ("Zero", "Constant", "Reflection", "Replication", "Circular"):
    for _n, (_x, _out, _sides, _out2) in PAD_CASES.items():
        _value = {"value": 0.5} if _kind == "Constant" else {}
        LAYER_CASES[f"nn.{_kind}Pad{_n}d"] = [
            ({**_value}, _x, _out),
            ({**_value, "padding": _sides}, _x, _out2),
        ]
LAYER_CASES["nn.GELU"] = [*ACT, ({"approximate": "tanh"}, VEC, (4, 8))]
LAYER_CASES["nn.Softmax"] = [*ACT, ({"dim": 1}, SEQ, SEQ["x"])]
LAYER_CASES["nn.LeakyReLU"] = [*ACT, ({"negative_slope": 0.2, "inplace": True}, VEC, (4, 8))]
LAYER_CASES["nn.Threshold"] = [*ACT, ({"threshold": 0.5, "value": -1.0}, VEC, (4, 8))]

# what a data node would report (target_classes: the scores a classifier gives)
FACTS = {"vocab_size": 100, "num_classes": 10, "target_classes": 10}


def shape_of(spec: Any) -> tuple[tuple[int, ...], torch.dtype]:
    if spec and spec[0] == "long":
        return spec[1], torch.long
    return spec, torch.float32


def fill_params(spec: NodeSpec, overrides: dict, shapes: dict) -> dict:
    """Defaults, overrides, and auto params filled the way shape inference fills them."""
    params = {**spec.default_params(), **overrides}
    for p in spec.params:
        if p.auto is None or p.name in overrides:
            continue
        rule = p.auto
        if rule.from_data:
            value = FACTS[rule.from_data]
        else:
            value = shape_of(shapes[rule.port])[0][rule.dim]
        params[p.name] = [value] if rule.as_list else value
    return spec.validate_params(params)


def layer_cases():
    for type_id, cases in sorted(LAYER_CASES.items()):
        for i, case in enumerate(cases):
            yield pytest.param(type_id, *case, id=f"{type_id}-{i}")


def test_every_layer_and_op_has_cases():
    for spec in SPECS:
        # (torchvision backbones: test_backbone_*; model.py's own classes: test_style_transfer)
        if spec.kind == "layer" and not spec.extra.get("backbone") and not spec.extra.get("module"):
            assert spec.type_id in LAYER_CASES, f"{spec.type_id}: no sample in LAYER_CASES"
        if spec.kind == "op":
            assert spec.type_id in OP_CASES, f"{spec.type_id}: no sample in OP_CASES"


class Calls:
    """Inputs written as ``seen('x')`` calls, to count how often an expression evaluates each."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.count = dict.fromkeys(tensors, 0)

    def __call__(self, name: str) -> torch.Tensor:
        self.count[name] += 1
        return self.tensors[name]


@pytest.mark.parametrize(("type_id", "overrides", "shapes", "expected"), list(layer_cases()))
def test_layer_runs_on_meta(type_id, overrides, shapes, expected):
    spec = CATALOGUE[type_id]
    params = fill_params(spec, overrides, shapes)
    ctor = module_ctor(spec, params)
    ns = {"torch": torch, "nn": nn}
    with torch.device("meta"):
        try:
            module = eval(ctor, ns)
        except Exception as e:
            pytest.fail(f"{type_id}: {ctor} failed: {e}")
    tensors = {}
    for port, s in shapes.items():
        shape, dtype = shape_of(s)
        tensors[port] = torch.empty(shape, dtype=dtype, device="meta")
    # once with plain names, as model.py writes it, once with calls that count evaluations
    expr = forward_expr(spec, params, {p: p for p in tensors}, "m")
    out = eval(expr, {**ns, "m": module, **tensors})
    assert isinstance(out, torch.Tensor), f"{type_id}: {expr} gave {type(out).__name__}"
    assert out.device.type == "meta"
    if expected is not None:
        assert tuple(out.shape) == expected, f"{type_id}: {ctor} then {expr}: {tuple(out.shape)}"
    seen = Calls(tensors)
    expr2 = forward_expr(spec, params, {p: f"seen({p!r})" for p in tensors}, "m")
    out2 = eval(expr2, {**ns, "m": module, "seen": seen})
    assert out2.shape == out.shape
    assert all(n == 1 for n in seen.count.values()), f"{type_id}: {expr2} evaluates {seen.count}"


def test_batch_norm_cumulative_momentum():
    # momentum None reads num_batches_tracked with .item(), which meta tensors cannot do
    spec = CATALOGUE["nn.BatchNorm1d"]
    params = fill_params(spec, {"momentum": None}, VEC)
    bn = eval(module_ctor(spec, params), {"nn": nn})
    assert bn.momentum is None
    assert bn(torch.randn(4, 8)).shape == (4, 8)


# ---------------------------------------------------------------------------- ops run
AB = {"a": (4, 8), "b": (4, 8)}
X3 = {"x": (4, 7, 5)}
OP_CASES: dict[str, list[Case]] = {
    "op.add": [({}, AB, (4, 8)), ({}, {**AB, "c": (8,), "d": (4, 1)}, (4, 8))],
    "op.sub": [({}, AB, (4, 8))],
    "op.multiply": [({}, AB, (4, 8)), ({}, {**AB, "c": (4, 8)}, (4, 8))],
    "op.divide": [({}, AB, (4, 8))],
    "op.matmul": [
        ({}, {"a": (4, 3, 5), "b": (4, 5, 2)}, (4, 3, 2)),
        ({}, {"a": (4, 5), "b": (5, 2)}, (4, 2)),
    ],
    "op.scale": [({}, X3, (4, 7, 5)), ({"factor": -2.0}, X3, (4, 7, 5))],
    "op.pow": [({}, X3, (4, 7, 5)), ({"exponent": -1.0}, X3, (4, 7, 5))],
    "op.clamp": [
        ({}, X3, (4, 7, 5)),
        ({"min": None}, X3, (4, 7, 5)),
        ({"max": None, "min": -1.0}, X3, (4, 7, 5)),
    ],
    "op.detach": [({}, X3, (4, 7, 5))],
    "op.concat": [
        ({}, {"a": (4, 3), "b": (4, 5)}, (4, 8)),
        ({"dim": -1}, {"a": (4, 2, 3), "b": (4, 2, 5), "c": (4, 2, 1)}, (4, 2, 9)),
    ],
    "op.stack": [
        ({}, {"a": (4, 3), "b": (4, 3)}, (4, 2, 3)),
        ({"dim": -1}, {"a": (4, 3), "b": (4, 3), "c": (4, 3), "d": (4, 3)}, (4, 3, 4)),
    ],
    "op.reshape": [
        ({}, X3, (4, 35)),
        ({"shape": [4, 16]}, {"x": (3, 64)}, (3, 4, 16)),
        ({"shape": [-1, 8]}, {"x": (3, 64)}, (3, 8, 8)),
        ({"shape": [16, 12], "keep_batch": False}, {"x": (3, 64)}, (16, 12)),
    ],
    "op.permute": [
        ({}, X3, (4, 5, 7)),
        ({"dims": [0, 3, 1, 2]}, {"x": (2, 4, 5, 3)}, (2, 3, 4, 5)),
    ],
    "op.transpose": [({}, X3, (4, 5, 7)), ({"dim0": 0, "dim1": -1}, X3, (5, 7, 4))],
    "op.squeeze": [
        ({}, {"x": (4, 3, 1)}, (4, 3)),
        ({"dim": None}, {"x": (4, 1, 3)}, (4, 3)),
        ({"dim": 1}, {"x": (4, 1, 3)}, (4, 3)),
    ],
    "op.unsqueeze": [({}, {"x": (4, 3)}, (4, 1, 3)), ({"dim": -1}, {"x": (4, 3)}, (4, 3, 1))],
    "op.mean": [
        ({}, X3, (4, 5)),
        ({"dim": [1, 2]}, X3, (4,)),
        ({"keepdim": True}, X3, (4, 1, 5)),
        ({"dim": None}, X3, ()),
        ({"dim": None, "keepdim": True}, X3, (1, 1, 1)),
    ],
    "op.sum": [
        ({}, X3, (4, 5)),
        ({"dim": [-1], "keepdim": True}, X3, (4, 7, 1)),
        ({"dim": None}, X3, ()),
    ],
    "op.max": [({}, X3, (4, 5)), ({"dim": -1, "keepdim": True}, X3, (4, 7, 1))],
    "op.min": [({}, X3, (4, 5)), ({"dim": 2}, X3, (4, 7))],
    "op.select": [
        ({}, X3, (4, 5)),
        ({"dim": -1, "index": 0}, X3, (4, 7)),
        ({"dim": -2, "index": 2}, X3, (4, 5)),
        ({"dim": 0, "index": 1}, X3, (7, 5)),
    ],
    "op.slice": [
        ({}, X3, (4, 7, 5)),
        ({"start": 2, "end": 6, "step": 2}, X3, (4, 2, 5)),
        ({"dim": -1, "start": 1}, X3, (4, 7, 4)),
        ({"dim": -2, "start": None, "end": -1}, X3, (4, 6, 5)),
        ({"dim": 2, "start": -2}, X3, (4, 7, 2)),
    ],
    "op.gram": [({}, {"x": (2, 3, 4, 5)}, (2, 3, 3)), ({}, {"x": (2, 3, 7)}, (2, 3, 3))],
}


def op_cases():
    for type_id, cases in sorted(OP_CASES.items()):
        for i, case in enumerate(cases):
            yield pytest.param(type_id, *case, id=f"{type_id}-{i}")


@pytest.mark.parametrize(("type_id", "overrides", "shapes", "expected"), list(op_cases()))
def test_op_runs(type_id, overrides, shapes, expected):
    """Ops run for real on small CPU tensors (and on meta): values can be compared."""
    spec = CATALOGUE[type_id]
    params = spec.validate_params(overrides)
    gen = torch.Generator().manual_seed(0)
    tensors = {p: torch.randn(s, generator=gen) + 2.0 for p, s in shapes.items()}
    ns = {"torch": torch}
    expr = forward_expr(spec, params, {p: p for p in tensors}, None)
    assert "F." not in expr and "functional" not in expr, f"{type_id}: {expr}"
    try:
        out = eval(expr, {**ns, **tensors})
    except Exception as e:
        pytest.fail(f"{type_id} with {params}: {expr} failed: {e}")
    assert tuple(out.shape) == expected, f"{type_id}: {expr} gave {tuple(out.shape)}"
    meta = {p: t.to("meta") for p, t in tensors.items()}
    assert eval(expr, {**ns, **meta}).shape == out.shape
    # inputs that are expressions: evaluated once each, and precedence kept ("2 * a - a" is a,
    # but wrong parentheses around it change the result)
    seen = Calls(tensors)
    expr2 = forward_expr(spec, params, {p: f"seen({p!r})" for p in tensors}, None)
    torch.testing.assert_close(eval(expr2, {**ns, "seen": seen}), out)
    assert all(n == 1 for n in seen.count.values()), f"{type_id}: {expr2} evaluates {seen.count}"
    expr3 = forward_expr(spec, params, {p: f"2 * {p} - {p}" for p in tensors}, None)
    torch.testing.assert_close(
        eval(expr3, {**ns, **tensors}), out, msg=lambda m: f"{type_id}: {expr3}: {m}"
    )


def test_op_values():
    """A few ops checked against what they mean, not only their shapes."""
    x = torch.randn(2, 3, 4, 5)

    def run(type_id, inputs, **params):
        spec = CATALOGUE[type_id]
        expr = forward_expr(spec, spec.validate_params(params), {p: p for p in inputs}, None)
        return eval(expr, {"torch": torch, **inputs})

    f = x.flatten(2)
    torch.testing.assert_close(run("op.gram", {"x": x}), f @ f.mT / (3 * 4 * 5))
    y = torch.randn(3, 64)
    torch.testing.assert_close(run("op.reshape", {"x": y}, shape=[4, 16]), y.reshape(3, 4, 16))
    torch.testing.assert_close(run("op.max", {"x": x}), x.max(dim=1).values)
    torch.testing.assert_close(run("op.select", {"x": x}, dim=-2, index=1), x[:, :, 1])
    torch.testing.assert_close(
        run("op.slice", {"x": x}, dim=-1, start=1, end=4, step=2), x[..., 1:4:2]
    )
    torch.testing.assert_close(run("op.clamp", {"x": x}), x.clamp(0, 1))
    torch.testing.assert_close(run("op.sub", {"a": x, "b": x * 3}), -2 * x)


def test_generated_op_code_reads_well():
    def expr(type_id, inputs="x", **params):
        spec = CATALOGUE[type_id]
        ports = {p: p for p in inputs.split()}
        return forward_expr(spec, spec.validate_params(params), ports, None)

    assert expr("op.reshape", shape=[4, 16]) == "x.reshape(x.size(0), 4, 16)"
    assert expr("op.reshape", shape=[4, 16], keep_batch=False) == "x.reshape(4, 16)"
    assert expr("op.add", "a b c") == "a + b + c"
    assert expr("op.concat", "a b") == "torch.cat([a, b], dim=1)"
    assert expr("op.select") == "x[:, -1]"
    assert expr("op.slice", start=2, end=None) == "x[:, 2:]"
    assert expr("op.mean", dim=[2, 3]) == "x.mean((2, 3))"
    assert expr("op.max") == "x.amax(1)"
    assert expr("op.squeeze", dim=None) == "x.squeeze()"
    assert expr("op.scale", factor=0.5) == "x * 0.5"


def test_attention_call():
    spec = CATALOGUE["nn.MultiheadAttention"]
    params = spec.validate_params({"embed_dim": 32})
    assert (
        forward_expr(spec, params, {"query": "x"}, "self.attn")
        == "self.attn(x, x, x, need_weights=False)[0]"
    )
    assert (
        forward_expr(spec, params, {"query": "x", "key": "m"}, "self.attn")
        == "self.attn(x, m, m, need_weights=False)[0]"
    )


# ---------------------------------------------------------------------------- losses, optim
LOSS_INPUTS = {
    "classification": lambda: (torch.randn(4, 5), torch.tensor([0, 4, 2, 1])),
    "regression": lambda: (torch.randn(4, 3), torch.randn(4, 3)),
    "binary": lambda: (torch.randn(4, 1), torch.tensor([[0.0], [1.0], [1.0], [0.0]])),
    "other": lambda: (torch.randn(4, 5).log_softmax(1), torch.randn(4, 5).softmax(1)),
}
LOSSES = [s for s in SPECS if s.kind == "loss"]


def _signs() -> torch.Tensor:
    return torch.tensor([1.0, -1.0, 1.0, -1.0])


# losses whose inputs the task alone does not describe: a sample per port, in port order
LOSS_SAMPLES = {
    "loss.NLL": lambda: (torch.randn(4, 5).log_softmax(1), torch.tensor([0, 4, 2, 1])),
    "loss.BCE": lambda: (torch.rand(4, 1) * 0.9 + 0.05, torch.tensor([[0.0], [1.0], [1.0], [0.0]])),
    "loss.PoissonNLL": lambda: (torch.randn(4, 3), torch.poisson(torch.full((4, 3), 2.0))),
    "loss.GaussianNLL": lambda: (torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 3) + 0.1),
    "loss.MultiLabelSoftMargin": lambda: (torch.randn(4, 5), (torch.rand(4, 5) > 0.5).float()),
    "loss.MultiLabelMargin": lambda: (
        torch.randn(4, 5),
        torch.tensor([[0, 3, -1, 0, 0], [1, -1, 0, 0, 0], [4, 2, 1, -1, 0], [2, -1, 0, 0, 0]]),
    ),
    "loss.SoftMargin": lambda: (torch.randn(4), _signs()),
    "loss.HingeEmbedding": lambda: (torch.rand(4), _signs()),
    "loss.CosineEmbedding": lambda: (torch.randn(4, 8), torch.randn(4, 8), _signs()),
    "loss.MarginRanking": lambda: (torch.randn(4), torch.randn(4), _signs()),
    "loss.TripletMargin": lambda: (torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)),
    "loss.TripletMarginWithDistance": lambda: (
        torch.randn(4, 8),
        torch.randn(4, 8),
        torch.randn(4, 8),
    ),
    # 12 time steps, 4 sequences, 6 classes (0 the blank); targets of length 3 or 5
    "loss.CTC": lambda: (
        torch.randn(12, 4, 6).log_softmax(2),
        torch.randint(1, 6, (4, 5)),
        torch.full((4,), 12),
        torch.tensor([5, 3, 5, 3]),
    ),
}


@pytest.mark.parametrize("spec", LOSSES, ids=[s.type_id for s in LOSSES])
def test_loss_runs(spec):
    ctor = module_ctor(spec, spec.validate_params({}))
    loss_fn = eval(ctor, {"torch": torch, "nn": nn})
    sample = LOSS_SAMPLES.get(spec.type_id, LOSS_INPUTS[spec.extra["task"]])
    inputs = sample()
    assert len(inputs) == len(spec.inputs), f"{spec.type_id}: one sample per input port"
    value = loss_fn(*inputs)
    assert value.shape == () and torch.isfinite(value), f"{spec.type_id}: {ctor}"
    none_params = spec.validate_params({"reduction": "none"})
    none = eval(module_ctor(spec, none_params), {"nn": nn})
    per_item = none(*inputs)
    assert per_item.shape[0] == 4
    # and on meta, as shape inference runs it, or by the rule for losses torch cannot run there
    meta = {p.name: t.to("meta") for p, t in zip(spec.inputs, inputs, strict=True)}
    if spec.type_id in NO_META_LOSSES:
        graph = Graph()
        node = graph.node(graph.add_node(spec.type_id))
        assert no_meta_loss_rule(node, spec.validate_params({}), meta) == ()
        assert no_meta_loss_rule(node, none_params, meta) == tuple(per_item.shape)
    else:
        assert loss_fn(*meta.values()).shape == ()
        assert none(*meta.values()).shape == per_item.shape


OPTIM_CASES = [
    ("optim.SGD", {}),
    ("optim.SGD", {"momentum": 0.9, "nesterov": True, "lr": 0.1}),
    ("optim.Adam", {}),
    ("optim.Adam", {"amsgrad": True, "betas": [0.8, 0.99]}),
    ("optim.AdamW", {}),
    ("optim.RMSprop", {}),
    ("optim.RMSprop", {"centered": True, "momentum": 0.9}),
    ("optim.Adagrad", {}),
    ("optim.Adagrad", {"lr_decay": 0.01}),
]


def _param() -> nn.Parameter:
    p = nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 0.5)
    return p


@pytest.mark.parametrize(("type_id", "overrides"), OPTIM_CASES)
def test_optimizer_runs(type_id, overrides):
    spec = CATALOGUE[type_id]
    args, kwargs = ctor_args(spec, spec.validate_params(overrides))
    p = _param()
    opt = resolve(spec.torch_name)([p], *args, **kwargs)
    opt.step()
    assert not torch.equal(p.detach(), torch.ones(3)), type_id


SCHEDULERS = [s for s in SPECS if s.kind == "scheduler"]
TRAINER_ARGS = {"sched.OneCycleLR": {"epochs": 2, "steps_per_epoch": 5}}


@pytest.mark.parametrize("spec", SCHEDULERS, ids=[s.type_id for s in SCHEDULERS])
def test_scheduler_runs(spec):
    args, kwargs = ctor_args(spec, spec.validate_params({}))
    opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    sched = resolve(spec.torch_name)(opt, *args, **kwargs, **TRAINER_ARGS.get(spec.type_id, {}))
    for _ in range(3):
        opt.step()
        if spec.extra["step"] == "plateau":
            sched.step(1.0)
        else:
            sched.step()
    assert opt.param_groups[0]["lr"] > 0


@pytest.mark.parametrize("type_id", ["clip.GradNorm", "clip.GradValue"])
def test_clip_runs(type_id):
    spec = CATALOGUE[type_id]
    args, kwargs = ctor_args(spec, spec.validate_params({}))
    p = _param()
    p.grad = torch.full((3,), 10.0)
    resolve(spec.torch_name)([p], *args, **kwargs)
    assert p.grad.abs().max() <= 10.0 and p.grad.abs().max() < 10.0 - 1e-3


# ---------------------------------------------------------------------------- backbones
# The architecture table of graph/catalogue/backbones.py against real torchvision models.
def _module(model: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        if ":" in part:
            a, b = part.split(":")
            model = model[int(a) : int(b)]
        else:
            model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def _names(model: nn.Module, path: str) -> set[str]:
    """Full names of the parameters under module path ``path``."""
    module = _module(model, path)  # a module, or a parameter (ViT's class token)
    ids = {id(module)} if isinstance(module, nn.Parameter) else {id(p) for p in module.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_backbone_metadata_matches_torchvision(name):
    arch = ARCHS[name]
    with on_meta():  # built as the node builds it for a random start
        model = getattr(torchvision.models, name)(weights=None, **dict(arch.kwargs))
    head = _module(model, arch.head)
    assert isinstance(head, nn.Linear) and head.out_features == 1000, name
    assert head.in_features == arch.features, f"{name}: feature width"
    last = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    assert last == arch.head, f"{name}: the head is the last Linear"
    files = {w.url.rsplit("/", 1)[1] for w in torchvision.models.get_model_weights(name)}
    assert set(arch.weight_files) == files, f"{name}: weight file names"
    # stages: non-empty, disjoint, in forward order; with the head's container they cover all
    order = [n for n, _ in model.named_parameters()]
    seen: set[str] = set()
    last_index = -1
    for stage, paths in arch.stages:
        names = set().union(*(_names(model, p) for p in paths))
        assert names, f"{name}.{stage}: no parameters"
        assert not names & seen, f"{name}.{stage}: overlaps an earlier stage"
        first = min(order.index(n) for n in names)
        assert first > last_index, f"{name}.{stage}: out of order"
        last_index = max(order.index(n) for n in names)
        seen |= names
    container = arch.head.rpartition(".")[0]
    rest = set(order) - seen - (_names(model, container) if container else _names(model, arch.head))
    assert not rest, f"{name}: parameters in no stage: {sorted(rest)[:3]}"
    assert len(set(arch.stage_names)) == len(arch.stages)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_backbone_code_freezes_exactly_the_chosen_stages(name):
    arch = ARCHS[name]
    stage = arch.stage_names[len(arch.stages) // 2]
    cases = {stage: None}
    if name in ("resnet18", "vgg16", "densenet121"):
        cases.update({"none": set(), "all": "all"})
    for freeze, expected in cases.items():
        code = backbone_code(
            "build", {"arch": name, "weights": "", "drop_head": True, "freeze": freeze}
        )
        build = run_source(
            "\n".join(code.lines) + "\n", "backbone", {"nn": nn, "models": torchvision.models}
        )["build"]
        with on_meta():
            model = build()
        frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
        everything = {n for n, _ in model.named_parameters()}
        if expected is None:
            expected = set().union(*(_names(model, p) for p in arch.frozen_paths(stage)))
        elif expected == "all":
            expected = everything
        assert frozen == expected, f"{name}: freeze {freeze}"
        assert isinstance(_module(model, arch.head), nn.Identity)


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "vgg11_bn",
        "alexnet",
        "mobilenet_v3_small",
        "efficientnet_b0",
        "densenet121",
        "convnext_tiny",
        "shufflenet_v2_x0_5",
        "vit_b_16",
        "swin_t",
        "maxvit_t",
        "mnasnet0_5",
        "regnet_y_400mf",
        "regnet_x_400mf",
        "googlenet",
        "inception_v3",
    ],
)
@pytest.mark.parametrize("drop_head", [True, False])
def test_backbone_output_width(name, drop_head):
    code = backbone_code(
        "build", {"arch": name, "weights": "", "drop_head": drop_head, "freeze": "none"}
    )
    build = run_source(
        "\n".join(code.lines) + "\n", "backbone", {"nn": nn, "models": torchvision.models}
    )["build"]
    with on_meta():
        model = build().eval()
        out = model(torch.empty(2, 3, 224, 224))
    assert tuple(out.shape) == (2, ARCHS[name].features if drop_head else 1000)
