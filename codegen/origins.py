"""The original model's state_dict keys, for a model imported from PyTorch.

An imported node remembers its module path in the original model (``Node.origin``, such as
``layer1.0.conv1``); its attribute in model.py is a Python name (``layer1_0_conv1``). When any
path differs from its attribute, model.py gets a module-level ``ORIGINAL_NAMES`` mapping and a
``load_state_dict`` pre-hook that renames keys of the original form
(``layer1.0.conv1.weight``) to the attribute form before loading, so both the original weights
and the model's own ``state_dict()`` load. ``state_dict()`` itself keeps the attribute form.

A path that is also an attribute name of the class is left out: a key in the model's own form
always means that attribute.
"""

from __future__ import annotations

from torchcanvas.codegen.emit import quote

MAPPING = "ORIGINAL_NAMES"
HOOK = "load_original_names"
REGISTER = f"self.register_load_state_dict_pre_hook({HOOK})"

HOOK_LINES = (
    f"def {HOOK}(module, state_dict, prefix, *_):",
    '    """load_state_dict pre-hook: keys named after the original model\'s modules (the',
    '    keys of ORIGINAL_NAMES) are renamed to this model\'s attributes; others stay."""',
    "    for key in list(state_dict):",
    "        if not key.startswith(prefix):",
    "            continue",
    '        parts = key.removeprefix(prefix).split(".")',
    "        for i in range(len(parts), 0, -1):",
    f'            attr = {MAPPING}.get(".".join(parts[:i]))',
    "            if attr is not None:",
    '                state_dict[".".join([prefix + attr, *parts[i:]])] = state_dict.pop(key)',
    "                break",
)


def renames(origins: dict[str, str], attrs: set[str]) -> dict[str, str]:
    """``origins`` (original path → attribute) without the paths that need no renaming: those
    equal to their attribute, and those that are some attribute's name."""
    return {path: attr for path, attr in origins.items() if path != attr and path not in attrs}


def mapping_lines(names: dict[str, str]) -> list[tuple[str, str | None]]:
    """``ORIGINAL_NAMES = {...}``, one entry per line as ruff formats it: (line, the attribute
    the line is about or None)."""
    return [
        ("# module paths in the original model and their attributes here, so that its", None),
        ("# state_dict loads as it is (see load_original_names)", None),
        (f"{MAPPING} = {{", None),
        *((f"    {quote(path)}: {quote(attr)},", attr) for path, attr in names.items()),
        ("}", None),
    ]
