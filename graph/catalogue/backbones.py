"""Pretrained backbones: torchvision's classification networks as one node.

The architectures are described here as data (no torch): the builder name in
``torchvision.models``, the attribute path of the final classifier layer (the "head", a Linear
with 1000 outputs), the width of the feature vector that layer reads (the node's output when the
head is dropped), the stages that can be frozen (input first, each a tuple of module paths), and
the file names torchvision gives its weights (``$TORCH_HOME/hub/checkpoints/<file>``), so weights
already in the hub cache can be offered. ``tests/test_catalogue_torch.py`` checks all of it
against real torchvision models built with ``weights=None``.

Module paths: ``layer1``, ``features.denseblock1``, ``features.3`` (an index) or
``features.0:5`` (a slice of a Sequential).
"""

from __future__ import annotations

from dataclasses import dataclass

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import p
from torchcanvas.graph.spec import NodeSpec, PortSpec

Stage = tuple[str, tuple[str, ...]]  # (name, module paths)


@dataclass(frozen=True)
class Arch:
    name: str  # torchvision.models.<name>
    title: str
    family: str
    head: str  # module path of the final classifier layer
    features: int  # in_features of the head: the output width when the head is dropped
    stages: tuple[Stage, ...]  # freezable stages, from the input on
    weight_files: tuple[str, ...]  # torchvision's weight file names for this architecture
    # builder keyword arguments for a random start, and for loading a weights file (where they
    # differ: GoogLeNet and Inception v3 are built with their auxiliary heads to load the file,
    # and take inputs scaled as their weights expect)
    kwargs: tuple[tuple[str, bool], ...] = ()
    weights_kwargs: tuple[tuple[str, bool], ...] = ()
    # attributes set to None after loading (auxiliary heads, used in the original training
    # only; the flag named first in ``kwargs`` is turned off with them)
    drop_after_load: tuple[str, ...] = ()

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stages)

    def frozen_paths(self, freeze: str) -> tuple[str, ...] | None:
        """Module paths frozen by ``freeze`` ("none", "all" or a stage name); None means the
        whole network. Raises ``KeyError`` for an unknown stage."""
        if freeze == "all":
            return None
        if freeze == "none":
            return ()
        names = self.stage_names
        if freeze not in names:
            raise KeyError(freeze)
        return tuple(path for _, paths in self.stages[: names.index(freeze) + 1] for path in paths)


# ---------------------------------------------------------------------------- stage layouts
RESNET_STAGES: tuple[Stage, ...] = (
    ("stem", ("conv1", "bn1")),
    *((f"layer{i}", (f"layer{i}",)) for i in range(1, 5)),
)
SHUFFLENET_STAGES: tuple[Stage, ...] = tuple(
    (name, (name,)) for name in ("conv1", "stage2", "stage3", "stage4", "conv5")
)
DENSENET_STAGES: tuple[Stage, ...] = (
    ("stem", ("features.conv0", "features.norm0")),
    *(
        (f"{kind}{i}", (f"features.{kind}{i}",))
        for i in range(1, 5)
        for kind in ("denseblock", "transition")
        if (kind, i) != ("transition", 4)
    ),
    ("norm5", ("features.norm5",)),
)

# torchvision's VGG configurations: convolution widths, "M" for max pooling
VGG_CFGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}
VGG_FC: tuple[Stage, ...] = (("fc6", ("classifier.0",)), ("fc7", ("classifier.3",)))


def vgg_stages(depth: int, bn: bool) -> tuple[Stage, ...]:
    """block1..block5 (each ends with its max pooling), then fc6 and fc7."""
    stages: list[Stage] = []
    start = index = 0
    for item in VGG_CFGS[depth]:
        index += 1 if item == "M" else 3 if bn else 2  # conv (+ bn) + relu
        if item == "M":
            stages.append((f"block{len(stages) + 1}", (f"features.{start}:{index}",)))
            start = index
    return (*stages, *VGG_FC)


ALEXNET_STAGES: tuple[Stage, ...] = (
    ("conv1", ("features.0:3",)),
    ("conv2", ("features.3:6",)),
    ("conv3", ("features.6:8",)),
    ("conv4", ("features.8:10",)),
    ("conv5", ("features.10:13",)),
    ("fc6", ("classifier.1",)),
    ("fc7", ("classifier.4",)),
)


# MNASNet's ``layers``: a stem (convolutions 0..7), six stacks of inverted residual blocks, and
# the final 1x1 convolution (14..16)
MNASNET_STAGES: tuple[Stage, ...] = (
    ("stem", ("layers.0:8",)),
    *((f"stack{i}", (f"layers.{7 + i}",)) for i in range(1, 7)),
    ("conv_head", ("layers.14:17",)),
)


def feature_stages(n: int) -> tuple[Stage, ...]:
    """features.0 .. features.<n-1>: the blocks of MobileNet, EfficientNet and ConvNeXt."""
    return tuple((f"features.{i}", (f"features.{i}",)) for i in range(n))


def _resnets() -> list[Arch]:
    rows = (
        ("resnet18", "ResNet-18", 512, ("resnet18-f37072fd.pth",)),
        ("resnet34", "ResNet-34", 512, ("resnet34-b627a593.pth",)),
        ("resnet50", "ResNet-50", 2048, ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")),
        ("resnet101", "ResNet-101", 2048, ("resnet101-63fe2227.pth", "resnet101-cd907fc2.pth")),
        ("resnet152", "ResNet-152", 2048, ("resnet152-394f9c45.pth", "resnet152-f82ba261.pth")),
        (
            "resnext50_32x4d",
            "ResNeXt-50 32×4d",
            2048,
            ("resnext50_32x4d-7cdf4587.pth", "resnext50_32x4d-1a0047aa.pth"),
        ),
        (
            "resnext101_32x8d",
            "ResNeXt-101 32×8d",
            2048,
            ("resnext101_32x8d-8ba56ff5.pth", "resnext101_32x8d-110c445d.pth"),
        ),
        ("resnext101_64x4d", "ResNeXt-101 64×4d", 2048, ("resnext101_64x4d-173b62eb.pth",)),
        (
            "wide_resnet50_2",
            "Wide ResNet-50-2",
            2048,
            ("wide_resnet50_2-95faca4d.pth", "wide_resnet50_2-9ba9bcbe.pth"),
        ),
        (
            "wide_resnet101_2",
            "Wide ResNet-101-2",
            2048,
            ("wide_resnet101_2-32ee1156.pth", "wide_resnet101_2-d733dc28.pth"),
        ),
    )
    return [
        Arch(name, title, "ResNet", "fc", width, RESNET_STAGES, files)
        for name, title, width, files in rows
    ]


def _vggs() -> list[Arch]:
    files = {
        "vgg11": ("vgg11-8a719046.pth",),
        "vgg11_bn": ("vgg11_bn-6002323d.pth",),
        "vgg13": ("vgg13-19584684.pth",),
        "vgg13_bn": ("vgg13_bn-abd245e5.pth",),
        "vgg16": ("vgg16-397923af.pth", "vgg16_features-amdegroot-88682ab5.pth"),
        "vgg16_bn": ("vgg16_bn-6c64b313.pth",),
        "vgg19": ("vgg19-dcbb9e9d.pth",),
        "vgg19_bn": ("vgg19_bn-c79401a0.pth",),
    }
    out = []
    for depth in (11, 13, 16, 19):
        for bn in (False, True):
            name = f"vgg{depth}" + ("_bn" if bn else "")
            title = f"VGG-{depth}" + (" (batch norm)" if bn else "")
            out.append(
                Arch(name, title, "VGG", "classifier.6", 4096, vgg_stages(depth, bn), files[name])
            )
    return out


def _features_archs() -> list[Arch]:
    rows = (
        # name, title, family, head, width, number of feature blocks, weight files
        (
            "mobilenet_v2",
            "MobileNet V2",
            "MobileNet",
            "classifier.1",
            1280,
            19,
            ("mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth"),
        ),
        (
            "mobilenet_v3_small",
            "MobileNet V3 small",
            "MobileNet",
            "classifier.3",
            1024,
            13,
            ("mobilenet_v3_small-047dcff4.pth",),
        ),
        (
            "mobilenet_v3_large",
            "MobileNet V3 large",
            "MobileNet",
            "classifier.3",
            1280,
            17,
            ("mobilenet_v3_large-8738ca79.pth", "mobilenet_v3_large-5c1a4163.pth"),
        ),
        (
            "efficientnet_b0",
            "EfficientNet-B0",
            "EfficientNet",
            "classifier.1",
            1280,
            9,
            ("efficientnet_b0_rwightman-7f5810bc.pth",),
        ),
        (
            "efficientnet_b1",
            "EfficientNet-B1",
            "EfficientNet",
            "classifier.1",
            1280,
            9,
            ("efficientnet_b1_rwightman-bac287d4.pth", "efficientnet_b1-c27df63c.pth"),
        ),
        (
            "efficientnet_b2",
            "EfficientNet-B2",
            "EfficientNet",
            "classifier.1",
            1408,
            9,
            ("efficientnet_b2_rwightman-c35c1473.pth",),
        ),
        (
            "efficientnet_b3",
            "EfficientNet-B3",
            "EfficientNet",
            "classifier.1",
            1536,
            9,
            ("efficientnet_b3_rwightman-b3899882.pth",),
        ),
        (
            "efficientnet_b4",
            "EfficientNet-B4",
            "EfficientNet",
            "classifier.1",
            1792,
            9,
            ("efficientnet_b4_rwightman-23ab8bcd.pth",),
        ),
        (
            "efficientnet_b5",
            "EfficientNet-B5",
            "EfficientNet",
            "classifier.1",
            2048,
            9,
            ("efficientnet_b5_lukemelas-1a07897c.pth",),
        ),
        (
            "efficientnet_b6",
            "EfficientNet-B6",
            "EfficientNet",
            "classifier.1",
            2304,
            9,
            ("efficientnet_b6_lukemelas-24a108a5.pth",),
        ),
        (
            "efficientnet_b7",
            "EfficientNet-B7",
            "EfficientNet",
            "classifier.1",
            2560,
            9,
            ("efficientnet_b7_lukemelas-c5b4e57e.pth",),
        ),
        (
            "efficientnet_v2_s",
            "EfficientNet V2-S",
            "EfficientNet",
            "classifier.1",
            1280,
            8,
            ("efficientnet_v2_s-dd5fe13b.pth",),
        ),
        (
            "efficientnet_v2_m",
            "EfficientNet V2-M",
            "EfficientNet",
            "classifier.1",
            1280,
            9,
            ("efficientnet_v2_m-dc08266a.pth",),
        ),
        (
            "efficientnet_v2_l",
            "EfficientNet V2-L",
            "EfficientNet",
            "classifier.1",
            1280,
            9,
            ("efficientnet_v2_l-59c71312.pth",),
        ),
        (
            "convnext_tiny",
            "ConvNeXt tiny",
            "ConvNeXt",
            "classifier.2",
            768,
            8,
            ("convnext_tiny-983f1562.pth",),
        ),
        (
            "convnext_small",
            "ConvNeXt small",
            "ConvNeXt",
            "classifier.2",
            768,
            8,
            ("convnext_small-0c510722.pth",),
        ),
        (
            "convnext_base",
            "ConvNeXt base",
            "ConvNeXt",
            "classifier.2",
            1024,
            8,
            ("convnext_base-6075fbad.pth",),
        ),
        (
            "convnext_large",
            "ConvNeXt large",
            "ConvNeXt",
            "classifier.2",
            1536,
            8,
            ("convnext_large-ea097f82.pth",),
        ),
    )
    return [
        Arch(name, title, family, head, width, feature_stages(n), files)
        for name, title, family, head, width, n, files in rows
    ]


def _others() -> list[Arch]:
    dense = (
        ("densenet121", "DenseNet-121", 1024, "densenet121-a639ec97.pth"),
        ("densenet161", "DenseNet-161", 2208, "densenet161-8d451a50.pth"),
        ("densenet169", "DenseNet-169", 1664, "densenet169-b2777c0a.pth"),
        ("densenet201", "DenseNet-201", 1920, "densenet201-c1103571.pth"),
    )
    shuffle = (
        ("shufflenet_v2_x0_5", "ShuffleNet V2 ×0.5", 1024, "shufflenetv2_x0.5-f707e7126e.pth"),
        ("shufflenet_v2_x1_0", "ShuffleNet V2 ×1.0", 1024, "shufflenetv2_x1-5666bf0f80.pth"),
        ("shufflenet_v2_x1_5", "ShuffleNet V2 ×1.5", 1024, "shufflenetv2_x1_5-3c479a10.pth"),
        ("shufflenet_v2_x2_0", "ShuffleNet V2 ×2.0", 2048, "shufflenetv2_x2_0-8be3c8ee.pth"),
    )
    mnasnet = (
        ("mnasnet0_5", "MNASNet 0.5", "mnasnet0.5_top1_67.823-3ffadce67e.pth"),
        ("mnasnet0_75", "MNASNet 0.75", "mnasnet0_75-7090bc5f.pth"),
        ("mnasnet1_0", "MNASNet 1.0", "mnasnet1.0_top1_73.512-f206786ef8.pth"),
        ("mnasnet1_3", "MNASNet 1.3", "mnasnet1_3-a4c69d6f.pth"),
    )
    return [
        *(Arch(n, t, "MNASNet", "classifier.1", 1280, MNASNET_STAGES, (f,)) for n, t, f in mnasnet),
        Arch(
            "alexnet",
            "AlexNet",
            "AlexNet",
            "classifier.6",
            4096,
            ALEXNET_STAGES,
            ("alexnet-owt-7be5be79.pth",),
        ),
        *(Arch(n, t, "DenseNet", "classifier", w, DENSENET_STAGES, (f,)) for n, t, w, f in dense),
        *(Arch(n, t, "ShuffleNet", "fc", w, SHUFFLENET_STAGES, (f,)) for n, t, w, f in shuffle),
    ]


def vit_stages(layers: int) -> tuple[Stage, ...]:
    """stem (patch projection, class token, position embedding), encoder_layer_0.., ln."""
    return (
        ("stem", ("conv_proj", "class_token", "encoder.pos_embedding")),
        *((f"encoder_layer_{i}", (f"encoder.layers.encoder_layer_{i}",)) for i in range(layers)),
        ("ln", ("encoder.ln",)),
    )


def _regnets() -> list[Arch]:
    rows = (  # name, feature width, weight files
        ("regnet_y_400mf", 440, ("regnet_y_400mf-c65dace8.pth", "regnet_y_400mf-e6988f5f.pth")),
        ("regnet_y_800mf", 784, ("regnet_y_800mf-1b27b58c.pth", "regnet_y_800mf-58fc7688.pth")),
        ("regnet_y_1_6gf", 888, ("regnet_y_1_6gf-0d7bc02a.pth", "regnet_y_1_6gf-b11a554e.pth")),
        ("regnet_y_3_2gf", 1512, ("regnet_y_3_2gf-9180c971.pth", "regnet_y_3_2gf-b5a9779c.pth")),
        ("regnet_y_8gf", 2016, ("regnet_y_8gf-d0d0e4a8.pth", "regnet_y_8gf-dc2b1b54.pth")),
        (
            "regnet_y_16gf",
            3024,
            (
                "regnet_y_16gf-3e4a00f9.pth",
                "regnet_y_16gf-9e6ed7dd.pth",
                "regnet_y_16gf_lc_swag-f3ec0043.pth",
                "regnet_y_16gf_swag-43afe44d.pth",
            ),
        ),
        (
            "regnet_y_32gf",
            3712,
            (
                "regnet_y_32gf-4dee3f7a.pth",
                "regnet_y_32gf-8db6d4b5.pth",
                "regnet_y_32gf_lc_swag-e1583746.pth",
                "regnet_y_32gf_swag-04fdfa75.pth",
            ),
        ),
        (
            "regnet_y_128gf",
            7392,
            ("regnet_y_128gf_lc_swag-cbe8ce12.pth", "regnet_y_128gf_swag-c8ce3e52.pth"),
        ),
        ("regnet_x_400mf", 400, ("regnet_x_400mf-62229a5f.pth", "regnet_x_400mf-adf1edd5.pth")),
        ("regnet_x_800mf", 672, ("regnet_x_800mf-94a99ebd.pth", "regnet_x_800mf-ad17e45c.pth")),
        ("regnet_x_1_6gf", 912, ("regnet_x_1_6gf-a12f2b72.pth", "regnet_x_1_6gf-e3633e7f.pth")),
        ("regnet_x_3_2gf", 1008, ("regnet_x_3_2gf-7071aa85.pth", "regnet_x_3_2gf-f342aeae.pth")),
        ("regnet_x_8gf", 1920, ("regnet_x_8gf-03ceed89.pth", "regnet_x_8gf-2b70d774.pth")),
        ("regnet_x_16gf", 2048, ("regnet_x_16gf-2007eb11.pth", "regnet_x_16gf-ba3796d7.pth")),
        ("regnet_x_32gf", 2520, ("regnet_x_32gf-6eb8fdc6.pth", "regnet_x_32gf-9d47f8d0.pth")),
    )
    stages = (
        ("stem", ("stem",)),
        *((f"block{i}", (f"trunk_output.block{i}",)) for i in range(1, 5)),
    )

    def title(name: str) -> str:
        _, kind, size = name.split("_", 2)
        return f"RegNet{kind.upper()} {size.replace('_', '.').upper()}"

    return [Arch(n, title(n), "RegNet", "fc", w, stages, f) for n, w, f in rows]


def _inceptions() -> list[Arch]:
    # random start: no auxiliary heads, torchvision's own initialisation; a weights file: built
    # as torchvision builds it for its pretrained weights (auxiliary heads to load them, dropped
    # after; transform_input, which rescales ImageNet-normalised inputs as the weights expect)
    start = (("aux_logits", False), ("init_weights", True))
    weights = (("aux_logits", True), ("transform_input", True), ("init_weights", False))
    googlenet_stages = (
        ("stem", ("conv1", "conv2", "conv3")),
        ("inception3", ("inception3a", "inception3b")),
        ("inception4", tuple(f"inception4{c}" for c in "abcde")),
        ("inception5", ("inception5a", "inception5b")),
    )
    inception_stages = (
        (
            "stem",
            ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"),
        ),
        ("mixed5", tuple(f"Mixed_5{c}" for c in "bcd")),
        ("mixed6", tuple(f"Mixed_6{c}" for c in "abcde")),
        ("mixed7", tuple(f"Mixed_7{c}" for c in "abc")),
    )
    return [
        Arch(
            "googlenet",
            "GoogLeNet",
            "GoogLeNet",
            "fc",
            1024,
            googlenet_stages,
            ("googlenet-1378be20.pth",),
            start,
            weights,
            ("aux1", "aux2"),
        ),
        Arch(
            "inception_v3",
            "Inception v3",
            "Inception",
            "fc",
            2048,
            inception_stages,
            ("inception_v3_google-0cc3c7bd.pth",),
            start,
            weights,
            ("AuxLogits",),
        ),
    ]


def _transformers() -> list[Arch]:
    vits = (
        # name, title, width, encoder layers, weight files
        (
            "vit_b_16",
            "ViT-B/16",
            768,
            12,
            (
                "vit_b_16-c867db91.pth",
                "vit_b_16_swag-9ac1b537.pth",
                "vit_b_16_lc_swag-4e70ced5.pth",
            ),
        ),
        ("vit_b_32", "ViT-B/32", 768, 12, ("vit_b_32-d86f8d99.pth",)),
        (
            "vit_l_16",
            "ViT-L/16",
            1024,
            24,
            (
                "vit_l_16-852ce7e3.pth",
                "vit_l_16_swag-4f3808c9.pth",
                "vit_l_16_lc_swag-4d563306.pth",
            ),
        ),
        ("vit_l_32", "ViT-L/32", 1024, 24, ("vit_l_32-c7638314.pth",)),
    )
    swins = (
        ("swin_t", "Swin-T", 768, "swin_t-704ceda3.pth"),
        ("swin_s", "Swin-S", 768, "swin_s-5e29d889.pth"),
        ("swin_b", "Swin-B", 1024, "swin_b-68c6b09e.pth"),
        ("swin_v2_t", "Swin V2-T", 768, "swin_v2_t-b137f0e2.pth"),
        ("swin_v2_s", "Swin V2-S", 768, "swin_v2_s-637d8ceb.pth"),
        ("swin_v2_b", "Swin V2-B", 1024, "swin_v2_b-781e5279.pth"),
    )
    swin_stages = (*feature_stages(8), ("norm", ("norm",)))
    maxvit_stages = (("stem", ("stem",)), *((f"blocks.{i}", (f"blocks.{i}",)) for i in range(4)))
    return [
        *(Arch(n, t, "ViT", "heads.head", w, vit_stages(k), f) for n, t, w, k, f in vits),
        *(Arch(n, t, "Swin", "head", w, swin_stages, (f,)) for n, t, w, f in swins),
        Arch(
            "maxvit_t",
            "MaxViT-T",
            "MaxViT",
            "classifier.5",
            512,
            maxvit_stages,
            ("maxvit_t-bc5ab103.pth",),
        ),
    ]


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        *_resnets(),
        *_vggs(),
        *_features_archs(),
        *_others(),
        *_regnets(),
        *_inceptions(),
        *_transformers(),
    )
}

FREEZE_HELP = (
    "what to exclude from training: none, all, or every stage up to and including "
    "the one named (ResNet: stem, layer1..layer4; VGG: block1..block5, fc6, fc7; "
    "AlexNet: conv1..conv5, fc6, fc7; MobileNet, EfficientNet, ConvNeXt: "
    "features.0, features.1, ...; DenseNet: stem, denseblock1, transition1, ..., "
    "norm5; ShuffleNet: conv1, stage2..stage4, conv5; MNASNet: stem, stack1..stack6, "
    "conv_head; ViT: stem, encoder_layer_0, ..., ln; Swin: features.0, ..., features.7, norm; "
    "MaxViT: stem, blocks.0..blocks.3; RegNet: stem, block1..block4; GoogLeNet: stem, "
    "inception3..inception5; Inception v3: stem, mixed5..mixed7)"
)

BACKBONE = NodeSpec(
    "tv.Backbone",
    "Pretrained backbone",
    "Pretrained",
    "layer",
    inputs=(PortSpec("x", help="images [B, 3, H, W]"),),
    outputs=(PortSpec("out", help="features [B, F] with the head dropped, else logits [B, 1000]"),),
    params=(
        p(
            "arch",
            "choice",
            "resnet18",
            "torchvision classification architecture",
            choices=tuple(ARCHS),
        ),
        p(
            "weights",
            "path",
            "",
            "a local state_dict file (.pth) for this architecture, e.g. "
            "from the torch hub cache; relative paths start at the project's folder. Empty: "
            "random initial weights (nothing is downloaded)",
        ),
        p(
            "drop_head",
            "bool",
            True,
            "replace the final classifier layer by identity: the "
            "output is the feature vector after pooling, for a new head",
        ),
        p(
            "freeze",
            "str",
            "all",
            FREEZE_HELP,
            pattern=r"[A-Za-z_][A-Za-z0-9_.]{0,39}",
            pattern_hint="none, all or a stage name such as layer3",
        ),
    ),
    help="A torchvision classification network (ResNet, VGG, AlexNet, MobileNet, "
    "EfficientNet, ConvNeXt, DenseNet, ShuffleNet, MNASNet, RegNet, GoogLeNet, Inception v3, "
    "ViT, Swin, MaxViT; ViT and MaxViT take 224 × 224 images, Inception v3 at least 75 × 75) "
    "with weights from a local file, its "
    "head optionally dropped and its first stages frozen (not trained; their batch norm "
    "statistics stay fixed).",
    label_base="backbone",
    extra={"backbone": True},
)

register([BACKBONE])


def arch_of(params: dict) -> Arch:
    return ARCHS[params["arch"]]
