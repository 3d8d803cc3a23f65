"""torch.nn layers: linear, convolution, pooling, normalisation, recurrent, attention, shape."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import auto, layer, p
from torchcanvas.graph.spec import NodeSpec, PortSpec

BIAS = p("bias", "bool", True, "learn an additive bias")
PADDING_MODE = p("padding_mode", "choice", "zeros", "how to pad",
                 choices=("zeros", "reflect", "replicate", "circular"))
EPS = p("eps", "float", 1e-5, "added to the variance for numerical stability", minimum=0.0,
        min_exclusive=True)
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
        p("padding", "size", 0, "trims this much from each side of the output" if transpose
          else "zero padding on each side", minimum=0, **size),
    ]
    if transpose:
        params.append(p("output_padding", "size", 0, "extra size added to one side of the "
                        "output (must be smaller than stride or dilation)", minimum=0, **size))
        params += [
            p("groups", "int", 1, "blocked connections from input to output channels",
              minimum=1),
            BIAS,
            p("dilation", "size", 1, "spacing between kernel elements", minimum=1, **size),
        ]
    else:
        params += [
            p("dilation", "size", 1, "spacing between kernel elements", minimum=1, **size),
            p("groups", "int", 1, "blocked connections from input to output channels",
              minimum=1),
            BIAS,
            PADDING_MODE,
        ]
    return params


def max_pool(n: int) -> tuple:
    size = {"length": (n, n)}
    return (
        p("kernel_size", "size", 2, "window size", minimum=1, required=True, **size),
        p("stride", "size", None, "window step (default: kernel_size)", minimum=1,
          optional=True, **size),
        p("padding", "size", 0, "implicit negative-infinity padding on each side", minimum=0,
          **size),
        p("dilation", "size", 1, "spacing between window elements", minimum=1, **size),
        p("ceil_mode", "bool", False, "use ceil instead of floor for the output size"),
    )


def avg_pool(n: int) -> tuple:
    size = {"length": (n, n)}
    params = (
        p("kernel_size", "size", 2, "window size", minimum=1, required=True, **size),
        p("stride", "size", None, "window step (default: kernel_size)", minimum=1,
          optional=True, **size),
        p("padding", "size", 0, "implicit zero padding on each side", minimum=0, **size),
        p("ceil_mode", "bool", False, "use ceil instead of floor for the output size"),
        p("count_include_pad", "bool", True, "count the zero padding in the average"),
    )
    if n == 2:
        params += (p("divisor_override", "int", None, "divide by this instead of the window "
                     "size (empty: the window size)", minimum=1, optional=True),)
    return params


def adaptive(n: int) -> tuple:
    return (p("output_size", "size", 1, "output size whatever the input size (1 = global "
              "pooling)", minimum=1, length=(n, n), required=True),)


def batch_norm() -> tuple:
    return (
        auto("num_features", dim=1, help="channels/features of the input (dim 1)"),
        EPS,
        p("momentum", "float", 0.1, "weight of the newest batch in the running statistics "
          "(empty: a cumulative average)", minimum=0.0, maximum=1.0, optional=True),
        p("affine", "bool", True, "learn a per-channel scale and shift"),
        p("track_running_stats", "bool", True, "keep running mean/variance for evaluation"),
    )


def recurrent(type_id: str, title: str, *, label: str, help: str) -> NodeSpec:
    """RNN, LSTM and GRU share torch's RNNBase signature; RNN adds ``nonlinearity``."""
    nonlinearity = (p("nonlinearity", "choice", "tanh", "activation of the hidden state",
                      choices=("tanh", "relu")),) if type_id == "nn.RNN" else ()
    return layer(type_id, title, (
        auto("input_size", dim=-1, help="features per time step (last dim)"),
        p("hidden_size", "int", 64, "features of the hidden state", minimum=1, required=True),
        p("num_layers", "int", 1, "stacked recurrent layers", minimum=1),
        *nonlinearity,
        BIAS,
        p("batch_first", "bool", True, "input is [B, T, F] (torch's default is [T, B, F])",
          torch_default=False),
        p("dropout", "float", 0.0, "dropout between stacked layers (needs num_layers > 1)",
          minimum=0.0, maximum=1.0),
        p("bidirectional", "bool", False, "run in both directions (doubles the features)"),
        p("output", "choice", "sequence", "what to pass on: the output at every step, the "
          "output at the last step, or the final hidden state of the last layer",
          choices=("sequence", "last_step", "hidden"), ctor=False),
    ), label=label, help=help)


register([
    # ------------------------------------------------------------------ linear
    layer("nn.Linear", "Linear", (
        auto("in_features", dim=-1, help="size of each input sample (last dim)"),
        p("out_features", "int", 10, "size of each output sample", minimum=1, required=True),
        BIAS,
    ), label="fc", help="Fully connected layer: y = x Wᵀ + b over the last dimension."),
    layer("nn.Bilinear", "Bilinear", (
        auto("in1_features", port="x1", dim=-1, help="features of the first input (last dim)"),
        auto("in2_features", port="x2", dim=-1, help="features of the second input (last dim)"),
        p("out_features", "int", 10, "size of each output sample", minimum=1, required=True),
        BIAS,
    ), inputs=(PortSpec("x1"), PortSpec("x2")), label="bilinear",
        help="Bilinear map of two inputs: y = x1ᵀ A x2 + b, e.g. to mix two feature vectors."),
    # ------------------------------------------------------------------ convolution
    layer("nn.Conv1d", "Conv1d", tuple(conv(1)), label="conv",
          help="1-D convolution over [B, C, L] sequences or signals."),
    layer("nn.Conv2d", "Conv2d", tuple(conv(2)), label="conv",
          help="2-D convolution over [B, C, H, W] images."),
    layer("nn.Conv3d", "Conv3d", tuple(conv(3)), label="conv",
          help="3-D convolution over [B, C, D, H, W] volumes or video clips."),
    layer("nn.ConvTranspose2d", "ConvTranspose2d", tuple(conv(2, transpose=True)),
          label="deconv", help="Transposed 2-D convolution: learnable upsampling of images "
          "(decoders, GAN generators)."),
    # ------------------------------------------------------------------ pooling
    layer("nn.MaxPool1d", "MaxPool1d", max_pool(1), label="pool",
          help="1-D max pooling over [B, C, L]."),
    layer("nn.MaxPool2d", "MaxPool2d", max_pool(2), label="pool",
          help="2-D max pooling over [B, C, H, W]."),
    layer("nn.AvgPool1d", "AvgPool1d", avg_pool(1), label="pool",
          help="1-D average pooling over [B, C, L]."),
    layer("nn.AvgPool2d", "AvgPool2d", avg_pool(2), label="pool",
          help="2-D average pooling over [B, C, H, W]."),
    layer("nn.AdaptiveAvgPool1d", "AdaptiveAvgPool1d", adaptive(1), label="pool",
          help="Average-pool [B, C, L] to a fixed length (1 = global average pooling)."),
    layer("nn.AdaptiveAvgPool2d", "AdaptiveAvgPool2d", adaptive(2), label="pool",
          help="Average-pool [B, C, H, W] to a fixed size (1 = global average pooling)."),
    layer("nn.AdaptiveMaxPool2d", "AdaptiveMaxPool2d", adaptive(2), label="pool",
          help="Max-pool [B, C, H, W] to a fixed size (1 = global max pooling)."),
    # ------------------------------------------------------------------ normalisation
    layer("nn.BatchNorm1d", "BatchNorm1d", batch_norm(), label="bn",
          help="Batch normalisation of [B, C] features or [B, C, L] sequences."),
    layer("nn.BatchNorm2d", "BatchNorm2d", batch_norm(), label="bn",
          help="Batch normalisation of each channel of [B, C, H, W] images."),
    layer("nn.LayerNorm", "LayerNorm", (
        auto("normalized_shape", "ints", dim=-1, as_list=True,
             help="trailing dims to normalise over (inferred: the last dim)"),
        EPS,
        p("elementwise_affine", "bool", True, "learn a per-element scale (and shift)"),
        p("bias", "bool", True, "learn the shift too (needs elementwise_affine)"),
    ), label="ln", help="Layer normalisation over the last dimension of each sample."),
    layer("nn.GroupNorm", "GroupNorm", (
        p("num_groups", "int", 8, "groups the channels are split into (must divide "
          "num_channels)", minimum=1, required=True),
        auto("num_channels", dim=1, help="channels of the input (dim 1)"),
        EPS,
        p("affine", "bool", True, "learn a per-channel scale and shift"),
    ), label="gn", help="Group normalisation: normalise groups of channels within each sample; "
        "works with any batch size."),
    layer("nn.InstanceNorm2d", "InstanceNorm2d", (
        auto("num_features", dim=1, help="channels of the input (dim 1)"),
        EPS,
        p("momentum", "float", 0.1, "weight of the newest batch in the running statistics",
          minimum=0.0, maximum=1.0),
        p("affine", "bool", False, "learn a per-channel scale and shift"),
        p("track_running_stats", "bool", False, "keep running mean/variance for evaluation"),
    ), label="norm", help="Instance normalisation: normalise each channel of each image "
        "separately (style transfer)."),
    # ------------------------------------------------------------------ dropout
    layer("nn.Dropout", "Dropout", (DROP_P, DROP_INPLACE), label="drop",
          help="Randomly zero elements with probability p while training (regularisation)."),
    layer("nn.Dropout2d", "Dropout2d", (
        p("p", "float", 0.5, "probability of zeroing a channel", minimum=0.0, maximum=1.0),
        DROP_INPLACE,
    ), label="drop", help="Randomly zero whole channels of [B, C, H, W] while training."),
    # ------------------------------------------------------------------ embedding, recurrent
    layer("nn.Embedding", "Embedding", (
        auto("num_embeddings", from_data="vocab_size",
             help="size of the vocabulary (inferred from the data when auto)"),
        p("embedding_dim", "int", 32, "size of each embedding vector", minimum=1,
          required=True),
        p("padding_idx", "int", None, "index whose vector stays zero and gets no gradient "
          "(empty: none)", optional=True),
        p("max_norm", "float", None, "renormalise vectors longer than this (empty: never)",
          minimum=0.0, min_exclusive=True, optional=True),
        p("norm_type", "float", 2.0, "p of the p-norm used with max_norm", minimum=0.0,
          min_exclusive=True),
        p("scale_grad_by_freq", "bool", False, "scale gradients by inverse word frequency "
          "in the batch"),
    ), label="emb", help="Lookup table: integer token ids [B, T] → vectors [B, T, embedding_dim]."),
    recurrent("nn.RNN", "RNN", label="rnn", help="Elman recurrent layer (tanh or ReLU)."),
    recurrent("nn.LSTM", "LSTM", label="lstm", help="Long short-term memory recurrent layer."),
    recurrent("nn.GRU", "GRU", label="gru", help="Gated recurrent unit layer."),
    # ------------------------------------------------------------------ attention
    layer("nn.MultiheadAttention", "MultiheadAttention", (
        auto("embed_dim", port="query", dim=-1, help="features of the query (last dim)"),
        p("num_heads", "int", 4, "parallel attention heads (must divide embed_dim)",
          minimum=1, required=True),
        p("dropout", "float", 0.0, "dropout on the attention weights", minimum=0.0,
          maximum=1.0),
        p("bias", "bool", True, "learn biases in the input and output projections"),
        p("add_bias_kv", "bool", False, "add a learned bias to the key and value sequences"),
        p("add_zero_attn", "bool", False, "add a zero position to the key and value sequences"),
        p("batch_first", "bool", True, "inputs are [B, T, E] (torch's default is [T, B, E])",
          torch_default=False),
    ), inputs=(
        PortSpec("query", help="[B, T, E] queries"),
        PortSpec("key", optional=True, help="[B, S, E] keys (unconnected: the query, i.e. "
                 "self-attention)"),
        PortSpec("value", optional=True, help="[B, S, E] values (unconnected: the key)"),
    ), label="attn",
        help="Multi-head scaled dot-product attention; passes on the attended output only."),
    layer("nn.TransformerEncoderLayer", "TransformerEncoderLayer", (
        auto("d_model", dim=-1, help="features per position (last dim)"),
        p("nhead", "int", 4, "attention heads (must divide d_model)", minimum=1, required=True),
        p("dim_feedforward", "int", 2048, "hidden size of the feed-forward block", minimum=1),
        p("dropout", "float", 0.1, "dropout probability", minimum=0.0, maximum=1.0),
        p("activation", "choice", "relu", "activation of the feed-forward block",
          choices=("relu", "gelu")),
        p("layer_norm_eps", "float", 1e-5, "eps of the layer norms", minimum=0.0,
          min_exclusive=True),
        p("batch_first", "bool", True, "input is [B, T, E] (torch's default is [T, B, E])",
          torch_default=False),
        p("norm_first", "bool", False, "layer norm before attention and feed-forward "
          "(pre-LN, trains more stably)"),
        BIAS,
    ), label="encoder",
        help="One transformer encoder block: self-attention and a feed-forward network."),
    # ------------------------------------------------------------------ shape
    layer("nn.Flatten", "Flatten", (
        p("start_dim", "int", 1, "first dim to flatten"),
        p("end_dim", "int", -1, "last dim to flatten"),
    ), label="flatten", help="Flatten a range of dims into one, e.g. [B, C, H, W] → [B, C·H·W]."),
    layer("nn.Unflatten", "Unflatten", (
        p("dim", "int", 1, "dim to split", required=True),
        p("unflattened_size", "ints", [1, -1], "sizes it becomes (one may be -1)", minimum=-1,
          length=(1, 8), required=True),
    ), label="unflatten", help="Split one dim into several, e.g. [B, 784] → [B, 1, 28, 28]."),
    layer("nn.Identity", "Identity", (), label="identity",
          help="Passes its input on unchanged (a placeholder or a named tap point)."),
    layer("nn.Upsample", "Upsample", (
        p("size", "size", None, "output size of the spatial dims (empty: use scale_factor)",
          minimum=1, length=(1, 3), optional=True),
        p("scale_factor", "float", 2.0, "multiplier of the spatial size (empty: use size)",
          minimum=0.0, min_exclusive=True, optional=True, torch_default=None),
        p("mode", "choice", "nearest", "interpolation: nearest, nearest-exact, linear (3-D "
          "input), bilinear/bicubic (4-D), trilinear (5-D)",
          choices=("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")),
        p("align_corners", "bool", None, "align corner pixels (linear modes only; empty: "
          "torch's choice)", optional=True),
    ), label="up", help="Upsample images or sequences by a scale factor or to a fixed size "
        "(set exactly one of size and scale_factor)."),
])
