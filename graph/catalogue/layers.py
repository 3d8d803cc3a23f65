"""torch.nn layers: linear, convolution, pooling, normalisation, recurrent, attention, shape."""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import auto, layer, p

BIAS = p("bias", "bool", True, "learn an additive bias")

register([
    layer("nn.Linear", "Linear", (
        auto("in_features", dim=-1, help="size of each input sample (last dim)"),
        p("out_features", "int", 10, "size of each output sample", minimum=1),
        BIAS,
    ), label="fc", help="Fully connected layer: y = x Wᵀ + b over the last dimension."),
    layer("nn.Conv2d", "Conv2d", (
        auto("in_channels", dim=1, help="channels of the input image (dim 1)"),
        p("out_channels", "int", 16, "number of filters", minimum=1),
        p("kernel_size", "size", 3, "filter size", minimum=1, length=(2, 2)),
        p("stride", "size", 1, "step between filter positions", minimum=1, length=(2, 2)),
        p("padding", "size", 0, "zero padding on each side", minimum=0, length=(2, 2)),
        p("dilation", "size", 1, "spacing between kernel elements", minimum=1, length=(2, 2)),
        p("groups", "int", 1, "blocked connections from input to output channels", minimum=1),
        BIAS,
        p("padding_mode", "choice", "zeros", "how to pad",
          choices=("zeros", "reflect", "replicate", "circular")),
    ), label="conv", help="2-D convolution over [B, C, H, W] images."),
    layer("nn.MaxPool2d", "MaxPool2d", (
        p("kernel_size", "size", 2, "window size", minimum=1, length=(2, 2)),
        p("stride", "size", None, "window step (default: kernel_size)", minimum=1,
          length=(2, 2), optional=True),
        p("padding", "size", 0, "implicit negative-infinity padding", minimum=0, length=(2, 2)),
        p("dilation", "size", 1, "spacing between window elements", minimum=1, length=(2, 2)),
        p("return_indices", "bool", False, "also return the max indices", choices=(False,)),
        p("ceil_mode", "bool", False, "use ceil instead of floor for the output size"),
    ), label="pool", help="2-D max pooling."),
    layer("nn.Flatten", "Flatten", (
        p("start_dim", "int", 1, "first dim to flatten"),
        p("end_dim", "int", -1, "last dim to flatten"),
    ), label="flatten", help="Flatten a range of dims into one, e.g. [B, C, H, W] → [B, C·H·W]."),
    layer("nn.LSTM", "LSTM", (
        auto("input_size", dim=-1, help="features per time step (last dim)"),
        p("hidden_size", "int", 64, "features of the hidden state", minimum=1),
        p("num_layers", "int", 1, "stacked recurrent layers", minimum=1),
        BIAS,
        p("batch_first", "bool", True, "input is [B, T, F] (torch's default is [T, B, F])",
          torch_default=False),
        p("dropout", "float", 0.0, "dropout between stacked layers", minimum=0.0, maximum=1.0),
        p("bidirectional", "bool", False, "run in both directions"),
        p("output", "choice", "sequence", "what to pass on: the output at every step, the "
          "output at the last step, or the final hidden state of the last layer",
          choices=("sequence", "last_step", "hidden"), ctor=False),
    ), label="lstm", help="Long short-term memory recurrent layer."),
])
