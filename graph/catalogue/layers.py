"""torch.nn layers: linear, convolution, pooling, normalisation, recurrent, attention, shape."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import auto, layer, p
from torchcanvas.graph.spec import AutoRule, NodeSpec, PortSpec

BIAS = p("bias", "bool", True, "learn an additive bias")
PADDING_MODE = p(
    "padding_mode",
    "choice",
    "zeros",
    "how to pad",
    choices=("zeros", "reflect", "replicate", "circular"),
)
EPS = p(
    "eps",
    "float",
    1e-5,
    "added to the variance for numerical stability",
    minimum=0.0,
    min_exclusive=True,
)
DROP_P = p("p", "float", 0.5, "probability of zeroing an element", minimum=0.0, maximum=1.0)
DROP_INPLACE = p("inplace", "bool", False, "modify the input in place")


def conv(n: int, *, transpose: bool = False) -> list:
    """Params of Conv{n}d / ConvTranspose{n}d, in torch's order."""
    size = {"length": (n, n)}
    params = [
        auto("in_channels", dim=1, help="channels of the input (dim 1)"),
        p("out_channels", "int", 16, "number of filters", minimum=1, required=True),
        p("kernel_size", "size", 3, "filter size", minimum=1, required=True, **size),
        p("stride", "size", 1, "step between filter positions", minimum=1, **size),
        p(
            "padding",
            "size",
            0,
            "trims this much from each side of the output"
            if transpose
            else "zero padding on each side",
            minimum=0,
            **size,
        ),
    ]
    if transpose:
        params.append(
            p(
                "output_padding",
                "size",
                0,
                "extra size added to one side of the "
                "output (must be smaller than stride or dilation)",
                minimum=0,
                **size,
            )
        )
        params += [
            p("groups", "int", 1, "blocked connections from input to output channels", minimum=1),
            BIAS,
            p("dilation", "size", 1, "spacing between kernel elements", minimum=1, **size),
        ]
    else:
        params += [
            p("dilation", "size", 1, "spacing between kernel elements", minimum=1, **size),
            p("groups", "int", 1, "blocked connections from input to output channels", minimum=1),
            BIAS,
            PADDING_MODE,
        ]
    return params


def max_pool(n: int) -> tuple:
    size = {"length": (n, n)}
    return (
        p("kernel_size", "size", 2, "window size", minimum=1, required=True, **size),
        p(
            "stride",
            "size",
            None,
            "window step (default: kernel_size)",
            minimum=1,
            optional=True,
            **size,
        ),
        p(
            "padding",
            "size",
            0,
            "implicit negative-infinity padding on each side",
            minimum=0,
            **size,
        ),
        p("dilation", "size", 1, "spacing between window elements", minimum=1, **size),
        p(
            "return_indices",
            "bool",
            False,
            "also give where each maximum came from (the indices output, for MaxUnpool)",
        ),
        p("ceil_mode", "bool", False, "use ceil instead of floor for the output size"),
    )


MAX_POOL_OUT = (
    PortSpec("out", help="the pooled maxima"),
    PortSpec(
        "indices",
        help="flat position of each maximum in its input plane (int64); needs return_indices",
    ),
)


def max_unpool(n: int) -> tuple:
    size = {"length": (n, n)}
    return (
        p("kernel_size", "size", 2, "the max pool's window size", minimum=1, required=True, **size),
        p(
            "stride",
            "size",
            None,
            "the max pool's window step (default: kernel_size)",
            minimum=1,
            optional=True,
            **size,
        ),
        p("padding", "size", 0, "the max pool's padding", minimum=0, **size),
    )


def avg_pool(n: int) -> tuple:
    size = {"length": (n, n)}
    params = (
        p("kernel_size", "size", 2, "window size", minimum=1, required=True, **size),
        p(
            "stride",
            "size",
            None,
            "window step (default: kernel_size)",
            minimum=1,
            optional=True,
            **size,
        ),
        p("padding", "size", 0, "implicit zero padding on each side", minimum=0, **size),
        p("ceil_mode", "bool", False, "use ceil instead of floor for the output size"),
        p("count_include_pad", "bool", True, "count the zero padding in the average"),
    )
    if n >= 2:
        params += (
            p(
                "divisor_override",
                "int",
                None,
                "divide by this instead of the window size (empty: the window size)",
                minimum=1,
                optional=True,
            ),
        )
    return params


def adaptive(n: int) -> tuple:
    return (
        p(
            "output_size",
            "size",
            1,
            "output size whatever the input size (1 = global pooling)",
            minimum=1,
            length=(n, n),
            required=True,
        ),
    )


def batch_norm() -> tuple:
    return (
        auto("num_features", dim=1, help="channels/features of the input (dim 1)"),
        EPS,
        p(
            "momentum",
            "float",
            0.1,
            "weight of the newest batch in the running statistics (empty: a cumulative average)",
            minimum=0.0,
            maximum=1.0,
            optional=True,
        ),
        p("affine", "bool", True, "learn a per-channel scale and shift"),
        p("track_running_stats", "bool", True, "keep running mean/variance for evaluation"),
    )


def recurrent(type_id: str, title: str, *, label: str, help: str) -> NodeSpec:
    """RNN, LSTM and GRU share torch's RNNBase signature; RNN adds ``nonlinearity``."""
    nonlinearity = (
        (
            p(
                "nonlinearity",
                "choice",
                "tanh",
                "activation of the hidden state",
                choices=("tanh", "relu"),
            ),
        )
        if type_id == "nn.RNN"
        else ()
    )
    return layer(
        type_id,
        title,
        (
            auto("input_size", dim=-1, help="features per time step (last dim)"),
            p("hidden_size", "int", 64, "features of the hidden state", minimum=1, required=True),
            p("num_layers", "int", 1, "stacked recurrent layers", minimum=1),
            *nonlinearity,
            BIAS,
            p(
                "batch_first",
                "bool",
                True,
                "input is [B, T, F] (torch's default is [T, B, F])",
                torch_default=False,
            ),
            p(
                "dropout",
                "float",
                0.0,
                "dropout between stacked layers (needs num_layers > 1)",
                minimum=0.0,
                maximum=1.0,
            ),
            p("bidirectional", "bool", False, "run in both directions (doubles the features)"),
            p(
                "output",
                "choice",
                "sequence",
                "what the out port passes on: the output at every step, the "
                "output at the last step, or the final hidden state of the last layer",
                choices=("sequence", "last_step", "hidden"),
                ctor=False,
            ),
        ),
        outputs=RECURRENT_OUT[:3] if type_id == "nn.LSTM" else RECURRENT_OUT[:2],
        returns=("out", ("h", "c")) if type_id == "nn.LSTM" else ("out", "h"),
        label=label,
        help=help,
        group="Recurrent",
    )


RECURRENT_OUT = (
    PortSpec("out", help="what 'output' picks: every step, the last step, or the final hidden"),
    PortSpec("h", help="[layers × directions, B, H] final hidden state of every layer"),
    PortSpec("c", help="[layers × directions, B, H] final cell state of every layer"),
)


DIMS = {
    1: "[B, C, L] sequences or signals",
    2: "[B, C, H, W] images",
    3: "[B, C, D, H, W] volumes or video clips",
}


def lp_pool(n: int) -> tuple:
    size = {"length": (n, n)}
    return (
        p(
            "norm_type",
            "float",
            2.0,
            "p of the power average (1: sum pooling, large: max pooling)",
            minimum=0.0,
            min_exclusive=True,
            required=True,
        ),
        p("kernel_size", "size", 2, "window size", minimum=1, required=True, **size),
        p(
            "stride",
            "size",
            None,
            "window step (default: kernel_size)",
            minimum=1,
            optional=True,
            **size,
        ),
        p("ceil_mode", "bool", False, "use ceil instead of floor for the output size"),
    )


def fractional_pool(n: int) -> tuple:
    size = {"length": (n, n)}
    return (
        p("kernel_size", "size", 2, "window size", minimum=1, required=True, **size),
        p(
            "output_size",
            "size",
            None,
            "output size (empty: use output_ratio)",
            minimum=1,
            optional=True,
            **size,
        ),
        p(
            "output_ratio",
            "float",
            0.5,
            "output size as a fraction of the input size, in (0, 1) (empty: use output_size)",
            minimum=0.0,
            maximum=1.0,
            min_exclusive=True,
            max_exclusive=True,
            optional=True,
            torch_default=None,
        ),
    )


def instance_norm() -> tuple:
    return (
        auto("num_features", dim=1, help="channels of the input (dim 1)"),
        EPS,
        p(
            "momentum",
            "float",
            0.1,
            "weight of the newest batch in the running statistics",
            minimum=0.0,
            maximum=1.0,
        ),
        p("affine", "bool", False, "learn a per-channel scale and shift"),
        p("track_running_stats", "bool", False, "keep running mean/variance for evaluation"),
    )


def cell(type_id: str, title: str, *, label: str, help: str) -> NodeSpec:
    """RNNCell and GRUCell: one time step, [B, F] (and the previous hidden [B, H]) → [B, H]."""
    nonlinearity = (
        (
            p(
                "nonlinearity",
                "choice",
                "tanh",
                "activation of the hidden state",
                choices=("tanh", "relu"),
            ),
        )
        if type_id == "nn.RNNCell"
        else ()
    )
    return layer(
        type_id,
        title,
        (
            auto("input_size", dim=-1, help="features of the input (last dim)"),
            p("hidden_size", "int", 64, "features of the hidden state", minimum=1, required=True),
            BIAS,
            *nonlinearity,
        ),
        inputs=(
            PortSpec("x", help="[B, F] input of this step"),
            PortSpec(
                "hx",
                optional=True,
                help="[B, H] hidden state of the previous step (unconnected: zeros)",
            ),
        ),
        label=label,
        help=help,
        group="Recurrent",
    )


# the shared params of Transformer, TransformerEncoderLayer and TransformerDecoderLayer
TRANSFORMER_FF = (
    p("dim_feedforward", "int", 2048, "hidden size of the feed-forward block", minimum=1),
    p("dropout", "float", 0.1, "dropout probability", minimum=0.0, maximum=1.0),
    p(
        "activation",
        "choice",
        "relu",
        "activation of the feed-forward block",
        choices=("relu", "gelu"),
    ),
)
TRANSFORMER_TAIL = (
    p("layer_norm_eps", "float", 1e-5, "eps of the layer norms", minimum=0.0, min_exclusive=True),
    p(
        "batch_first",
        "bool",
        True,
        "input is [B, T, E] (torch's default is [T, B, E])",
        torch_default=False,
    ),
    p(
        "norm_first",
        "bool",
        False,
        "layer norm before attention and feed-forward (pre-LN, trains more stably)",
    ),
    BIAS,
)


def pad(kind: str, n: int, help: str) -> NodeSpec:
    """ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and CircularPad in 1-3 d."""
    value = (
        (p("value", "float", 0.0, "the value padded with", required=True),)
        if kind == "Constant"
        else ()
    )
    return layer(
        f"nn.{kind}Pad{n}d",
        f"{kind}Pad{n}d",
        (
            p(
                "padding",
                "size",
                1,
                f"padding per side: one number for all, or {2 * n} values "
                f"(left, right{', top, bottom' if n > 1 else ''}"
                f"{', front, back' if n > 2 else ''})",
                minimum=0,
                length=(2 * n, 2 * n),
                required=True,
            ),
            *value,
        ),
        label="pad",
        group="Padding",
        help=f"{help} ({DIMS[n].split(' ', 1)[0]} input).",
    )


PADS = {
    "Zero": "Pad the last dims with zeros",
    "Constant": "Pad the last dims with a constant value",
    "Reflection": "Pad the last dims with their reflection (the edge not repeated)",
    "Replication": "Pad the last dims by repeating the edge values",
    "Circular": "Pad the last dims by wrapping around (periodic boundary)",
}


def upsampling(kind: str, mode: str) -> NodeSpec:
    return layer(
        f"nn.Upsampling{kind}2d",
        f"Upsampling{kind}2d",
        (
            p(
                "size",
                "size",
                None,
                "output height and width (empty: use scale_factor)",
                minimum=1,
                length=(2, 2),
                optional=True,
            ),
            p(
                "scale_factor",
                "float",
                2.0,
                "multiplier of height and width (empty: use size)",
                minimum=0.0,
                min_exclusive=True,
                optional=True,
                torch_default=None,
            ),
        ),
        label="up",
        group="Resize",
        help=f"{mode} upsampling of [B, C, H, W] images (set exactly one of size and "
        "scale_factor).",
    )


register(
    [
        # ------------------------------------------------------------------ linear
        layer(
            "nn.Linear",
            "Linear",
            (
                auto("in_features", dim=-1, help="size of each input sample (last dim)"),
                p(
                    "out_features",
                    "int",
                    10,
                    "size of each output sample (auto: one score per class of the data, or "
                    "per token of a text corpus's vocabulary)",
                    minimum=1,
                    required=True,
                    auto=AutoRule(from_data="target_classes"),
                ),
                BIAS,
            ),
            label="fc",
            group="Linear",
            help="Fully connected layer: y = x Wᵀ + b over the last dimension.",
        ),
        layer(
            "nn.Bilinear",
            "Bilinear",
            (
                auto(
                    "in1_features", port="x1", dim=-1, help="features of the first input (last dim)"
                ),
                auto(
                    "in2_features",
                    port="x2",
                    dim=-1,
                    help="features of the second input (last dim)",
                ),
                p(
                    "out_features",
                    "int",
                    10,
                    "size of each output sample",
                    minimum=1,
                    required=True,
                ),
                BIAS,
            ),
            inputs=(PortSpec("x1"), PortSpec("x2")),
            label="bilinear",
            group="Linear",
            help="Bilinear map of two inputs: y = x1ᵀ A x2 + b, e.g. to mix two feature vectors.",
        ),
        layer(
            "nn.Identity",
            "Identity",
            (),
            label="identity",
            group="Linear",
            help="Passes its input on unchanged (a placeholder or a named tap point).",
        ),
        # ------------------------------------------------------------------ convolution
        *(
            layer(
                f"nn.Conv{n}d",
                f"Conv{n}d",
                tuple(conv(n)),
                label="conv",
                group="Convolution",
                help=f"{n}-D convolution over {DIMS[n]}.",
            )
            for n in (1, 2, 3)
        ),
        layer(
            "nn.ConvTranspose1d",
            "ConvTranspose1d",
            tuple(conv(1, transpose=True)),
            label="deconv",
            group="Convolution",
            help="Transposed 1-D convolution: learnable upsampling of [B, C, L] sequences.",
        ),
        layer(
            "nn.ConvTranspose2d",
            "ConvTranspose2d",
            tuple(conv(2, transpose=True)),
            label="deconv",
            group="Convolution",
            help="Transposed 2-D convolution: learnable "
            "upsampling of images (decoders, GAN generators).",
        ),
        layer(
            "nn.ConvTranspose3d",
            "ConvTranspose3d",
            tuple(conv(3, transpose=True)),
            label="deconv",
            group="Convolution",
            help="Transposed 3-D convolution: learnable upsampling of [B, C, D, H, W] volumes.",
        ),
        # ------------------------------------------------------------------ pooling
        *(
            layer(
                f"nn.MaxPool{n}d",
                f"MaxPool{n}d",
                max_pool(n),
                outputs=MAX_POOL_OUT,
                returns=("out", "indices"),
                label="pool",
                group="Pooling",
                help=f"{n}-D max pooling over {DIMS[n].split(' ', 1)[0]}; with return_indices, "
                "also where each maximum came from (for MaxUnpool).",
            )
            for n in (1, 2, 3)
        ),
        *(
            layer(
                f"nn.MaxUnpool{n}d",
                f"MaxUnpool{n}d",
                max_unpool(n),
                inputs=(
                    PortSpec("x", help="the max pool's output (or what a decoder made of it)"),
                    PortSpec("indices", help="the max pool's indices output"),
                ),
                label="unpool",
                group="Pooling",
                help=f"Undo a {n}-D max pool: each value back at the position its maximum came "
                "from, zeros elsewhere (SegNet-style decoders). Wire the max pool's indices "
                "output (return_indices on) and use the same window.",
            )
            for n in (1, 2, 3)
        ),
        *(
            layer(
                f"nn.AvgPool{n}d",
                f"AvgPool{n}d",
                avg_pool(n),
                label="pool",
                group="Pooling",
                help=f"{n}-D average pooling over {DIMS[n].split(' ', 1)[0]}.",
            )
            for n in (1, 2, 3)
        ),
        *(
            layer(
                f"nn.AdaptiveAvgPool{n}d",
                f"AdaptiveAvgPool{n}d",
                adaptive(n),
                label="pool",
                group="Pooling",
                help=f"Average-pool {DIMS[n].split(' ', 1)[0]} to a fixed size "
                "(1 = global average pooling).",
            )
            for n in (1, 2, 3)
        ),
        *(
            layer(
                f"nn.AdaptiveMaxPool{n}d",
                f"AdaptiveMaxPool{n}d",
                adaptive(n),
                label="pool",
                group="Pooling",
                help=f"Max-pool {DIMS[n].split(' ', 1)[0]} to a fixed size "
                "(1 = global max pooling).",
            )
            for n in (1, 2, 3)
        ),
        *(
            layer(
                f"nn.LPPool{n}d",
                f"LPPool{n}d",
                lp_pool(n),
                label="pool",
                group="Pooling",
                help=f"Power-average pooling over {DIMS[n].split(' ', 1)[0]}: "
                "(sum of x^p over the window)^(1/p).",
            )
            for n in (1, 2, 3)
        ),
        *(
            layer(
                f"nn.FractionalMaxPool{n}d",
                f"FractionalMaxPool{n}d",
                fractional_pool(n),
                label="pool",
                group="Pooling",
                help=f"Max pooling over {DIMS[n].split(' ', 1)[0]} "
                "with randomly placed windows, to a size that need not be an integer fraction.",
            )
            for n in (2, 3)
        ),
        # ------------------------------------------------------------------ normalisation
        layer(
            "nn.BatchNorm1d",
            "BatchNorm1d",
            batch_norm(),
            label="bn",
            group="Normalization",
            help="Batch normalisation of [B, C] features or [B, C, L] sequences.",
        ),
        layer(
            "nn.BatchNorm2d",
            "BatchNorm2d",
            batch_norm(),
            label="bn",
            group="Normalization",
            help="Batch normalisation of each channel of [B, C, H, W] images.",
        ),
        layer(
            "nn.BatchNorm3d",
            "BatchNorm3d",
            batch_norm(),
            label="bn",
            group="Normalization",
            help="Batch normalisation of each channel of [B, C, D, H, W] volumes.",
        ),
        layer(
            "nn.SyncBatchNorm",
            "SyncBatchNorm",
            batch_norm(),
            label="bn",
            group="Normalization",
            help="Batch normalisation whose statistics are computed over the whole batch of a "
            "multi-GPU (torchrun) run; on one device it is BatchNorm.",
        ),
        layer(
            "nn.LayerNorm",
            "LayerNorm",
            (
                auto(
                    "normalized_shape",
                    "ints",
                    dim=-1,
                    as_list=True,
                    help="trailing dims to normalise over (inferred: the last dim)",
                ),
                EPS,
                p("elementwise_affine", "bool", True, "learn a per-element scale (and shift)"),
                p("bias", "bool", True, "learn the shift too (needs elementwise_affine)"),
            ),
            label="ln",
            group="Normalization",
            help="Layer normalisation over the last dimension of each sample.",
        ),
        layer(
            "nn.RMSNorm",
            "RMSNorm",
            (
                auto(
                    "normalized_shape",
                    "ints",
                    dim=-1,
                    as_list=True,
                    help="trailing dims to normalise over (inferred: the last dim)",
                ),
                p(
                    "eps",
                    "float",
                    None,
                    "added for numerical stability (empty: the dtype's machine epsilon)",
                    minimum=0.0,
                    min_exclusive=True,
                    optional=True,
                ),
                p("elementwise_affine", "bool", True, "learn a per-element scale"),
            ),
            label="norm",
            group="Normalization",
            help="Root-mean-square normalisation over the last dimension (no mean subtracted): "
            "the norm of recent language models.",
        ),
        layer(
            "nn.GroupNorm",
            "GroupNorm",
            (
                p(
                    "num_groups",
                    "int",
                    8,
                    "groups the channels are split into (must divide num_channels)",
                    minimum=1,
                    required=True,
                ),
                auto("num_channels", dim=1, help="channels of the input (dim 1)"),
                EPS,
                p("affine", "bool", True, "learn a per-channel scale and shift"),
            ),
            label="gn",
            group="Normalization",
            help="Group normalisation: normalise groups of channels within each sample; "
            "works with any batch size.",
        ),
        layer(
            "nn.InstanceNorm1d",
            "InstanceNorm1d",
            instance_norm(),
            label="norm",
            group="Normalization",
            help="Instance normalisation: normalise each channel of each "
            "[B, C, L] sequence separately.",
        ),
        layer(
            "nn.InstanceNorm2d",
            "InstanceNorm2d",
            instance_norm(),
            label="norm",
            group="Normalization",
            help="Instance normalisation: normalise each channel of each "
            "image separately (style transfer).",
        ),
        layer(
            "nn.InstanceNorm3d",
            "InstanceNorm3d",
            instance_norm(),
            label="norm",
            group="Normalization",
            help="Instance normalisation: normalise each channel of each "
            "[B, C, D, H, W] volume separately.",
        ),
        layer(
            "nn.LocalResponseNorm",
            "LocalResponseNorm",
            (
                p(
                    "size",
                    "int",
                    5,
                    "neighbouring channels to normalise over",
                    minimum=1,
                    required=True,
                ),
                p("alpha", "float", 1e-4, "multiplicative factor", minimum=0.0),
                p("beta", "float", 0.75, "exponent", minimum=0.0),
                p("k", "float", 1.0, "additive factor", minimum=0.0),
            ),
            label="lrn",
            group="Normalization",
            help="Local response normalisation across neighbouring channels (AlexNet).",
        ),
        layer(
            "nn.CrossMapLRN2d",
            "CrossMapLRN2d",
            (
                p(
                    "size",
                    "int",
                    5,
                    "neighbouring channels to normalise over",
                    minimum=1,
                    required=True,
                ),
                p("alpha", "float", 1e-4, "multiplicative factor", minimum=0.0),
                p("beta", "float", 0.75, "exponent", minimum=0.0),
                p("k", "float", 1.0, "additive factor", minimum=0.0),
            ),
            label="lrn",
            group="Normalization",
            help="Local response normalisation across channels of [B, C, H, W] images, the Lua "
            "Torch variant (LocalResponseNorm is the usual one).",
        ),
        # ------------------------------------------------------------------ dropout
        layer(
            "nn.Dropout",
            "Dropout",
            (DROP_P, DROP_INPLACE),
            label="drop",
            group="Dropout",
            help="Randomly zero elements with probability p while training (regularisation).",
        ),
        *(
            layer(
                f"nn.Dropout{n}d",
                f"Dropout{n}d",
                (
                    p(
                        "p",
                        "float",
                        0.5,
                        "probability of zeroing a channel",
                        minimum=0.0,
                        maximum=1.0,
                    ),
                    DROP_INPLACE,
                ),
                label="drop",
                group="Dropout",
                help=f"Randomly zero whole channels of {DIMS[n].split(' ', 1)[0]} while training.",
            )
            for n in (1, 2, 3)
        ),
        layer(
            "nn.AlphaDropout",
            "AlphaDropout",
            (DROP_P, DROP_INPLACE),
            label="drop",
            group="Dropout",
            help="Dropout that keeps the mean and variance of its input: pairs with SELU.",
        ),
        layer(
            "nn.FeatureAlphaDropout",
            "FeatureAlphaDropout",
            (
                p("p", "float", 0.5, "probability of masking a channel", minimum=0.0, maximum=1.0),
                DROP_INPLACE,
            ),
            label="drop",
            group="Dropout",
            help="Alpha dropout of whole channels: masked channels take SELU's negative "
            "saturation value, keeping mean and variance.",
        ),
        # ------------------------------------------------------------------ embedding, recurrent
        layer(
            "nn.Embedding",
            "Embedding",
            (
                auto(
                    "num_embeddings",
                    from_data="vocab_size",
                    help="size of the vocabulary (inferred from the data when auto)",
                ),
                p(
                    "embedding_dim",
                    "int",
                    32,
                    "size of each embedding vector",
                    minimum=1,
                    required=True,
                ),
                p(
                    "padding_idx",
                    "int",
                    None,
                    "index whose vector stays zero and gets no gradient (empty: none)",
                    optional=True,
                ),
                p(
                    "max_norm",
                    "float",
                    None,
                    "renormalise vectors longer than this (empty: never)",
                    minimum=0.0,
                    min_exclusive=True,
                    optional=True,
                ),
                p(
                    "norm_type",
                    "float",
                    2.0,
                    "p of the p-norm used with max_norm",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                p(
                    "scale_grad_by_freq",
                    "bool",
                    False,
                    "scale gradients by inverse word frequency in the batch",
                ),
            ),
            label="emb",
            group="Embedding",
            help="Lookup table: integer token ids [B, T] → vectors [B, T, embedding_dim].",
        ),
        layer(
            "nn.EmbeddingBag",
            "EmbeddingBag",
            (
                auto(
                    "num_embeddings",
                    from_data="vocab_size",
                    help="size of the vocabulary (inferred from the data when auto)",
                ),
                p(
                    "embedding_dim",
                    "int",
                    32,
                    "size of each embedding vector",
                    minimum=1,
                    required=True,
                ),
                p(
                    "max_norm",
                    "float",
                    None,
                    "renormalise vectors longer than this (empty: never)",
                    minimum=0.0,
                    min_exclusive=True,
                    optional=True,
                ),
                p(
                    "norm_type",
                    "float",
                    2.0,
                    "p of the p-norm used with max_norm",
                    minimum=0.0,
                    min_exclusive=True,
                ),
                p(
                    "scale_grad_by_freq",
                    "bool",
                    False,
                    "scale gradients by inverse word frequency in the batch",
                ),
                p(
                    "mode",
                    "choice",
                    "mean",
                    "how each bag's vectors are reduced",
                    choices=("sum", "mean", "max"),
                ),
                p(
                    "include_last_offset",
                    "bool",
                    False,
                    "offsets has one more entry: the end of the last bag",
                ),
                p(
                    "padding_idx",
                    "int",
                    None,
                    "index whose vector is left out of the reduction (empty: none)",
                    optional=True,
                ),
            ),
            inputs=(
                PortSpec("x", help="token ids: [B, N] bags of N, or flat [N] with offsets"),
                PortSpec("offsets", optional=True, help="[B] start of each bag in a flat x"),
            ),
            label="emb",
            group="Embedding",
            help="Embedding lookup reduced per bag (sum, mean or max) without the intermediate "
            "[B, N, dim] tensor: [B, N] ids → [B, embedding_dim].",
        ),
        recurrent("nn.RNN", "RNN", label="rnn", help="Elman recurrent layer (tanh or ReLU)."),
        recurrent("nn.LSTM", "LSTM", label="lstm", help="Long short-term memory recurrent layer."),
        recurrent("nn.GRU", "GRU", label="gru", help="Gated recurrent unit layer."),
        cell(
            "nn.RNNCell",
            "RNNCell",
            label="cell",
            help="One step of an Elman recurrent layer: (x, h) → the next h.",
        ),
        cell(
            "nn.GRUCell",
            "GRUCell",
            label="cell",
            help="One step of a gated recurrent unit: (x, h) → the next h.",
        ),
        layer(
            "nn.LSTMCell",
            "LSTMCell",
            (
                auto("input_size", dim=-1, help="features of the input (last dim)"),
                p(
                    "hidden_size",
                    "int",
                    64,
                    "features of the hidden state",
                    minimum=1,
                    required=True,
                ),
                BIAS,
            ),
            inputs=(
                PortSpec("x", help="[B, F] input of this step"),
                PortSpec(
                    "hx",
                    optional=True,
                    help="[B, H] hidden state of the previous step (unconnected: zeros)",
                ),
                PortSpec(
                    "cx",
                    optional=True,
                    help="[B, H] cell state of the previous step (unconnected: zeros)",
                ),
            ),
            outputs=(
                PortSpec("h", help="[B, H] the next hidden state"),
                PortSpec("c", help="[B, H] the next cell state"),
            ),
            returns=("h", "c"),
            label="cell",
            group="Recurrent",
            help="One step of a long short-term memory layer: (x, h, c) → the next h and c.",
        ),
        # ------------------------------------------------------------------ attention
        layer(
            "nn.MultiheadAttention",
            "MultiheadAttention",
            (
                auto("embed_dim", port="query", dim=-1, help="features of the query (last dim)"),
                p(
                    "num_heads",
                    "int",
                    4,
                    "parallel attention heads (must divide embed_dim)",
                    minimum=1,
                    required=True,
                ),
                p(
                    "dropout",
                    "float",
                    0.0,
                    "dropout on the attention weights",
                    minimum=0.0,
                    maximum=1.0,
                ),
                p("bias", "bool", True, "learn biases in the input and output projections"),
                p(
                    "add_bias_kv",
                    "bool",
                    False,
                    "add a learned bias to the key and value sequences",
                ),
                p(
                    "add_zero_attn",
                    "bool",
                    False,
                    "add a zero position to the key and value sequences",
                ),
                p(
                    "batch_first",
                    "bool",
                    True,
                    "inputs are [B, T, E] (torch's default is [T, B, E])",
                    torch_default=False,
                ),
            ),
            inputs=(
                PortSpec("query", help="[B, T, E] queries"),
                PortSpec(
                    "key",
                    optional=True,
                    help="[B, S, E] keys (unconnected: the query, i.e. self-attention)",
                ),
                PortSpec("value", optional=True, help="[B, S, E] values (unconnected: the key)"),
            ),
            outputs=(
                PortSpec("out", help="[B, T, E] the attended output"),
                PortSpec("weights", help="[B, T, S] attention weights, averaged over the heads"),
            ),
            returns=("out", "weights"),
            label="attn",
            group="Transformer",
            help="Multi-head scaled dot-product attention: the attended output and the "
            "attention weights.",
        ),
        layer(
            "nn.TransformerEncoderLayer",
            "TransformerEncoderLayer",
            (
                auto("d_model", dim=-1, help="features per position (last dim)"),
                p(
                    "nhead",
                    "int",
                    4,
                    "attention heads (must divide d_model)",
                    minimum=1,
                    required=True,
                ),
                *TRANSFORMER_FF,
                *TRANSFORMER_TAIL,
            ),
            label="encoder",
            group="Transformer",
            help="One transformer encoder block: self-attention and a feed-forward network.",
        ),
        layer(
            "nn.TransformerDecoderLayer",
            "TransformerDecoderLayer",
            (
                auto("d_model", port="tgt", dim=-1, help="features per position (last dim)"),
                p(
                    "nhead",
                    "int",
                    4,
                    "attention heads (must divide d_model)",
                    minimum=1,
                    required=True,
                ),
                *TRANSFORMER_FF,
                *TRANSFORMER_TAIL,
            ),
            inputs=(
                PortSpec("tgt", help="[B, T, E] the sequence being decoded"),
                PortSpec("memory", help="[B, S, E] the encoder's output"),
            ),
            label="decoder",
            group="Transformer",
            help="One transformer decoder block: self-attention, attention over the encoder's "
            "output (memory), and a feed-forward network.",
        ),
        layer(
            "nn.Transformer",
            "Transformer",
            (
                auto(
                    "d_model",
                    port="src",
                    dim=-1,
                    required=False,
                    torch_default=512,
                    help="features per position (last dim of src and tgt)",
                ),
                p("nhead", "int", 8, "attention heads (must divide d_model)", minimum=1),
                p("num_encoder_layers", "int", 6, "encoder blocks", minimum=0),
                p("num_decoder_layers", "int", 6, "decoder blocks", minimum=0),
                *TRANSFORMER_FF,
                *TRANSFORMER_TAIL,
            ),
            inputs=(
                PortSpec("src", help="[B, S, E] the source sequence"),
                PortSpec("tgt", help="[B, T, E] the target sequence"),
            ),
            label="transformer",
            group="Transformer",
            help="A whole encoder-decoder transformer: src and tgt in, [B, T, E] out "
            "(no masks: every position attends to every other).",
        ),
        # ------------------------------------------------------------------ distance
        layer(
            "nn.CosineSimilarity",
            "CosineSimilarity",
            (
                p("dim", "int", 1, "dim along which the similarity is computed"),
                p(
                    "eps",
                    "float",
                    1e-8,
                    "lower bound of the norms (no division by zero)",
                    minimum=0.0,
                    min_exclusive=True,
                ),
            ),
            inputs=(PortSpec("x1"), PortSpec("x2")),
            label="cos",
            group="Distance",
            help="Cosine similarity of two inputs along a dim: [B, D] and [B, D] → [B].",
        ),
        layer(
            "nn.PairwiseDistance",
            "PairwiseDistance",
            (
                p("p", "float", 2.0, "the norm degree (2: Euclidean)"),
                p("eps", "float", 1e-6, "added to the difference (no zero norms)", minimum=0.0),
                p("keepdim", "bool", False, "keep the reduced last dim"),
            ),
            inputs=(PortSpec("x1"), PortSpec("x2")),
            label="dist",
            group="Distance",
            help="p-norm distance between two inputs over the last dim: [B, D] and [B, D] → [B].",
        ),
        # ------------------------------------------------------------------ shape
        layer(
            "nn.Flatten",
            "Flatten",
            (
                p("start_dim", "int", 1, "first dim to flatten"),
                p("end_dim", "int", -1, "last dim to flatten"),
            ),
            label="flatten",
            group="Shape",
            help="Flatten a range of dims into one, e.g. [B, C, H, W] → [B, C·H·W].",
        ),
        layer(
            "nn.Unflatten",
            "Unflatten",
            (
                p("dim", "int", 1, "dim to split", required=True),
                p(
                    "unflattened_size",
                    "ints",
                    [1, -1],
                    "sizes it becomes (one may be -1)",
                    minimum=-1,
                    length=(1, 8),
                    required=True,
                ),
            ),
            label="unflatten",
            group="Shape",
            help="Split one dim into several, e.g. [B, 784] → [B, 1, 28, 28].",
        ),
        layer(
            "nn.PixelShuffle",
            "PixelShuffle",
            (
                p(
                    "upscale_factor",
                    "int",
                    2,
                    "factor r: [B, C·r², H, W] → [B, C, H·r, W·r]",
                    minimum=1,
                    required=True,
                ),
            ),
            label="shuffle",
            group="Shape",
            help="Rearrange channels into space: [B, C·r², H, W] → [B, C, H·r, W·r] "
            "(sub-pixel convolution upsampling).",
        ),
        layer(
            "nn.PixelUnshuffle",
            "PixelUnshuffle",
            (
                p(
                    "downscale_factor",
                    "int",
                    2,
                    "factor r: [B, C, H·r, W·r] → [B, C·r², H, W]",
                    minimum=1,
                    required=True,
                ),
            ),
            label="unshuffle",
            group="Shape",
            help="Rearrange space into channels: [B, C, H·r, W·r] → [B, C·r², H, W].",
        ),
        layer(
            "nn.ChannelShuffle",
            "ChannelShuffle",
            (
                p(
                    "groups",
                    "int",
                    2,
                    "groups the channels are split into (must divide them)",
                    minimum=1,
                    required=True,
                ),
            ),
            label="shuffle",
            group="Shape",
            help="Interleave the channels of groups (ShuffleNet): same shape, channels reordered.",
        ),
        layer(
            "nn.Unfold",
            "Unfold",
            (
                p(
                    "kernel_size",
                    "size",
                    3,
                    "size of the sliding blocks",
                    minimum=1,
                    length=(2, 2),
                    required=True,
                ),
                p(
                    "dilation",
                    "size",
                    1,
                    "spacing between block elements",
                    minimum=1,
                    length=(2, 2),
                ),
                p("padding", "size", 0, "zero padding on each side", minimum=0, length=(2, 2)),
                p("stride", "size", 1, "step between blocks", minimum=1, length=(2, 2)),
            ),
            label="unfold",
            group="Shape",
            help="Extract sliding blocks of [B, C, H, W] as columns: [B, C·kh·kw, blocks] "
            "(im2col).",
        ),
        layer(
            "nn.Fold",
            "Fold",
            (
                p(
                    "output_size",
                    "size",
                    8,
                    "height and width of the output image",
                    minimum=1,
                    length=(2, 2),
                    required=True,
                ),
                p(
                    "kernel_size",
                    "size",
                    3,
                    "size of the sliding blocks",
                    minimum=1,
                    length=(2, 2),
                    required=True,
                ),
                p(
                    "dilation",
                    "size",
                    1,
                    "spacing between block elements",
                    minimum=1,
                    length=(2, 2),
                ),
                p("padding", "size", 0, "zero padding on each side", minimum=0, length=(2, 2)),
                p("stride", "size", 1, "step between blocks", minimum=1, length=(2, 2)),
            ),
            label="fold",
            group="Shape",
            help="Sum columns of sliding blocks [B, C·kh·kw, blocks] back into an image "
            "[B, C, H, W] (col2im, the inverse of Unfold).",
        ),
        # ------------------------------------------------------------------ resize, padding
        layer(
            "nn.Upsample",
            "Upsample",
            (
                p(
                    "size",
                    "size",
                    None,
                    "output size of the spatial dims (empty: use scale_factor)",
                    minimum=1,
                    length=(1, 3),
                    optional=True,
                ),
                p(
                    "scale_factor",
                    "float",
                    2.0,
                    "multiplier of the spatial size (empty: use size)",
                    minimum=0.0,
                    min_exclusive=True,
                    optional=True,
                    torch_default=None,
                ),
                p(
                    "mode",
                    "choice",
                    "nearest",
                    "interpolation: nearest, nearest-exact, linear (3-D "
                    "input), bilinear/bicubic (4-D), trilinear (5-D)",
                    choices=(
                        "nearest",
                        "nearest-exact",
                        "linear",
                        "bilinear",
                        "bicubic",
                        "trilinear",
                    ),
                ),
                p(
                    "align_corners",
                    "bool",
                    None,
                    "align corner pixels (linear modes only; empty: torch's choice)",
                    optional=True,
                ),
            ),
            label="up",
            group="Resize",
            help="Upsample images or sequences by a scale factor or to a fixed size "
            "(set exactly one of size and scale_factor).",
        ),
        upsampling("Nearest", "Nearest-neighbour"),
        upsampling("Bilinear", "Bilinear (align_corners=True)"),
        *(pad(kind, n, help) for kind, help in PADS.items() for n in (1, 2, 3)),
    ]
)
