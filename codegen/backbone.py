"""Code for a pretrained backbone node: a small ``build_<name>()`` function in model.py.

The function builds ``torchvision.models.<arch>(weights=None)`` (nothing downloads), loads the
state_dict from the node's weights file, then drops the head (replaced by ``nn.Identity`` after
loading, so the original file loads unchanged) and freezes the chosen stages
(``requires_grad_(False)``). A model with frozen parts also gets a ``train`` method that keeps
frozen batch norm layers in eval mode: their running statistics stay those of the weights file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchcanvas.codegen.emit import CodegenError, doc_text, layer_call, quote
from torchcanvas.graph.catalogue.backbones import ARCHS, Arch, vgg_layer_names

FROZEN_BN_TRAIN = '''
    def train(self, mode: bool = True):
        """Training mode, except for frozen batch norm layers: their statistics stay fixed."""
        super().train(mode)
        for module in self.modules():
            weight = module.weight if isinstance(module, nn.BatchNorm2d) else None
            if weight is not None and not weight.requires_grad:
                module.eval()
        return self
'''.strip("\n").split("\n")


FEATURE_TAPS = '''
class FeatureTaps(nn.Module):
    """Runs ``layers`` in order and returns the outputs of the layers at ``taps``."""

    def __init__(self, layers: nn.Sequential, taps: list[int]) -> None:
        super().__init__()
        self.layers = layers[: max(taps) + 1]
        self.taps = taps

    def forward(self, x):
        found = {}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                found[i] = x
        return tuple(found[i] for i in self.taps)
'''.strip("\n").split("\n")


@dataclass(frozen=True)
class BackboneCode:
    name: str  # the build function's name
    lines: list[str]  # its source
    loads_weights: bool
    frozen: bool  # anything frozen
    taps: bool = False  # uses FeatureTaps


def resolve_weights(value: str, project_dir: Path | None) -> str:
    """A weights path made absolute against the project's folder ("" stays "")."""
    if not value:
        return ""
    path = Path(value).expanduser()
    if not path.is_absolute() and project_dir is not None:
        path = Path(project_dir) / path
    return str(path)


def module_ref(root: str, path: str) -> str:
    """``features.0:5`` → ``model.features[0:5]``; ``layer1`` → ``model.layer1``."""
    out = root
    for part in path.split("."):
        out += f"[{part}]" if part[:1].isdigit() else f".{part}"
    return out


def merge_slices(paths: tuple[str, ...]) -> list[str]:
    """Join slices that follow each other: ``features.0:5``, ``features.5:10`` → ``0:10``."""
    out: list[str] = []
    for path in paths:
        base, _, last = path.rpartition(".")
        if out and ":" in last:
            pbase, _, plast = out[-1].rpartition(".")
            if pbase == base and ":" in plast and plast.split(":")[1] == last.split(":")[0]:
                out[-1] = f"{base}.{plast.split(':')[0]}:{last.split(':')[1]}"
                continue
        out.append(path)
    return out


def arch(params: dict[str, Any], node_id: str | None = None, label: str = "") -> Arch:
    try:
        return ARCHS[params["arch"]]
    except KeyError:
        raise CodegenError(
            f"{label}: unknown architecture {params['arch']!r}", node_id, "arch"
        ) from None


def frozen_paths(
    params: dict[str, Any], node_id: str | None = None, label: str = ""
) -> tuple[str, ...] | None:
    """The frozen module paths (None: everything), or a ``CodegenError`` naming the field."""
    a = arch(params, node_id, label)
    try:
        return a.frozen_paths(params["freeze"])
    except KeyError:
        raise CodegenError(
            f"{label}: freeze {params['freeze']!r} is not a stage of {a.name}; use none, all "
            f"or one of {', '.join(a.stage_names)}",
            node_id,
            "freeze",
        ) from None


def _load_lines(weights: str) -> list[str]:
    """Load a state_dict saved with torch.save (nothing is downloaded)."""
    call = f'    state = torch.load({quote(weights)}, map_location="cpu", weights_only=True)'
    if len(call) <= 99:
        return [call, "    model.load_state_dict(state)"]
    return [  # the layout ruff format keeps
        "    state = torch.load(",
        f"        {quote(weights)},",
        '        map_location="cpu",',
        "        weights_only=True,",
        "    )",
        "    model.load_state_dict(state)",
    ]


def vgg_taps(params: dict[str, Any], node_id: str | None = None, label: str = "") -> list[int]:
    """Indices in ``features`` of the chosen layers, or a ``CodegenError`` naming the field."""
    names = vgg_layer_names(params["arch"])
    layers = params["layers"]
    for layer in layers:
        if layer not in names:
            raise CodegenError(
                f"{label}: {params['arch']} has no layer {layer!r}; choose among "
                f"{', '.join(names)}",
                node_id,
                "layers",
            )
    if len(set(layers)) != len(layers):
        raise CodegenError(f"{label}: a layer is listed twice", node_id, "layers")
    return [names[layer] for layer in layers]


def vgg_features_code(
    name: str,
    params: dict[str, Any],
    node_id: str | None = None,
    label: str = "",
    *,
    load: bool = True,
) -> BackboneCode:
    """``def <name>() -> nn.Module``: a VGG's feature layers returning the chosen activations."""
    a = arch(params, node_id, label)
    taps = vgg_taps(params, node_id, label)
    weights = params.get("weights") or ""
    what = f"{a.title} (torchvision) layers {', '.join(params['layers'])}"
    lines = [
        f"def {name}() -> nn.Module:",
        f'    """{doc_text(what + (", frozen" if params["freeze"] else ""), 90)}."""',
        f"    model = models.{a.name}(weights=None)",
    ]
    if weights and load:
        lines += _load_lines(weights)
    elif not weights:
        lines.append("    # no weights file chosen: the network starts from random weights")
    taps_text = ", ".join(str(t) for t in taps)
    lines.append(f"    features = FeatureTaps(model.features, [{taps_text}])")
    if params["freeze"]:
        lines.append("    features.requires_grad_(False)  # frozen: not trained")
    lines.append("    return features")
    return BackboneCode(name, lines, bool(weights) and load, bool(params["freeze"]), taps=True)


@layer_call("tv.VGGFeatures")
def _one_tap(plain: str, spec, params: dict[str, Any], inputs: dict[str, str]) -> str:
    """FeatureTaps returns a tuple; with one layer chosen the node's output is its tensor."""
    return f"{plain}[0]" if len(set(params["layers"])) == 1 else plain


def build_code(
    name: str,
    spec_extra: dict[str, Any],
    params: dict[str, Any],
    node_id: str | None = None,
    label: str = "",
    *,
    load: bool = True,
) -> BackboneCode:
    """The build function of either backbone node type."""
    if spec_extra.get("backbone") == "vgg_features":
        return vgg_features_code(name, params, node_id, label, load=load)
    return backbone_code(name, params, node_id, label, load=load)


def backbone_code(
    name: str,
    params: dict[str, Any],
    node_id: str | None = None,
    label: str = "",
    *,
    load: bool = True,
) -> BackboneCode:
    """The ``def <name>() -> nn.Module`` building this backbone. ``params["weights"]`` is used
    as given (the runtime passes it resolved against the project's folder); ``load`` off
    leaves the loading out (shape inference builds the network on the meta device)."""
    a = arch(params, node_id, label)
    frozen = frozen_paths(params, node_id, label)
    weights = params.get("weights") or ""
    what = [f"{a.title} (torchvision)"]
    what.append(f"head dropped: {a.features} features" if params["drop_head"] else "with head")
    if frozen is None:
        what.append("frozen")
    elif frozen:
        what.append(f"frozen up to {params['freeze']}")
    lines = [
        f"def {name}() -> nn.Module:",
        f'    """{doc_text(", ".join(what), 90)}."""',
        f"    model = models.{a.name}(weights=None)",
    ]
    if weights and load:
        lines += _load_lines(weights)
    elif not weights:
        lines.append("    # no weights file chosen: the network starts from random weights")
    if params["drop_head"]:
        lines.append(f"    {module_ref('model', a.head)} = nn.Identity()  # the head")
    if frozen is None:
        lines.append("    model.requires_grad_(False)  # frozen: not trained")
    elif frozen:
        refs = [module_ref("model", p) for p in merge_slices(frozen)]
        if len(refs) == 1:
            lines.append(f"    {refs[0]}.requires_grad_(False)  # frozen: not trained")
        else:
            head = "    for part in ("
            one = f"{head}{', '.join(refs)}):"
            if len(one) <= 99:
                lines.append(one + "  # frozen: not trained" if len(one) + 23 <= 99 else one)
            else:
                lines.append(head)
                lines += [f"        {r}," for r in refs]
                lines.append("    ):")
            lines.append("        part.requires_grad_(False)")
    lines.append("    return model")
    return BackboneCode(name, lines, bool(weights) and load, frozen != ())
