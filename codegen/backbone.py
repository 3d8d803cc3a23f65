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

from torchcanvas.codegen.emit import CodegenError, doc_text, quote
from torchcanvas.graph.catalogue.backbones import ARCHS, Arch

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


@dataclass(frozen=True)
class BackboneCode:
    name: str  # the build function's name
    lines: list[str]  # its source
    loads_weights: bool
    frozen: bool  # anything frozen


def resolve_weights(value: str, project_dir: Path | None) -> str:
    """A weights path made absolute against the project's folder, never the working
    directory while there is one ("" stays "")."""
    if not value:
        return ""
    path = Path(value).expanduser()
    if not path.is_absolute():  # an unsaved project has no folder: the working directory
        path = Path(project_dir) / path if project_dir is not None else path.absolute()
    return str(path)


def weights_expr(weights: str) -> str:
    """The file as model.py names it: an absolute path as it is, a relative one (an exported
    folder's copy) next to model.py, so the folder works wherever it is moved."""
    if Path(weights).is_absolute():
        return quote(weights)
    return f"Path(__file__).parent / {quote(Path(weights).as_posix())}"


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


def backbone_code(
    name: str,
    params: dict[str, Any],
    node_id: str | None = None,
    label: str = "",
    *,
    load: bool = True,
) -> BackboneCode:
    """The ``def <name>() -> nn.Module`` building this backbone. ``params["weights"]`` is used
    as given (the runtime passes it resolved against the project's folder; an export passes
    the name of its copy beside model.py); ``load`` off
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
    kwargs = a.weights_kwargs if weights and a.weights_kwargs else a.kwargs
    args = "".join(f", {k}={v!r}" for k, v in kwargs)
    lines = [
        f"def {name}() -> nn.Module:",
        f'    """{doc_text(", ".join(what), 90)}."""',
    ]
    build = f"    model = models.{a.name}(weights=None{args})"
    if len(build) <= 99:
        lines.append(build)
    else:  # the layout ruff format keeps
        lines += [f"    model = models.{a.name}(", f"        weights=None{args}", "    )"]
    if weights and load:  # a state_dict saved with torch.save; nothing is downloaded
        where = weights_expr(weights)
        call = f'    state = torch.load({where}, map_location="cpu", weights_only=True)'
        if len(call) <= 99:
            lines.append(call)
        else:  # the layout ruff format keeps
            lines += [
                "    state = torch.load(",
                f"        {where},",
                '        map_location="cpu",',
                "        weights_only=True,",
                "    )",
            ]
        lines.append("    model.load_state_dict(state)")
    elif not weights:
        lines.append("    # no weights file chosen: the network starts from random weights")
    if weights and a.drop_after_load:  # used in the original training only
        flag = a.weights_kwargs[0][0]
        lines.append(f"    model.{flag} = False  # the auxiliary heads: not used here")
        lines.append(f"    {' = '.join(f'model.{p}' for p in a.drop_after_load)} = None")
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
