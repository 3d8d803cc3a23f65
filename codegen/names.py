"""One namespace helper makes every identifier in generated code: legal, unique and readable.

A label can never become code: it is reduced to ``[a-z0-9_]`` and checked against keywords,
builtins and names the generated module already uses.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

RESERVED = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | {
        "self",
        "torch",
        "nn",
        "F",
        "math",
        "Path",
        "model",
        "data",
        "args",
        "main",
        "forward",
        "training",
        "parameters",
        "modules",
        "children",
        "state_dict",
        "to",
        "cuda",
        "cpu",
        "eval",
        "train",
        "device",
        "dtype",
        "register_buffer",
        "register_parameter",
        "apply",
        "zero_grad",
        "half",
        "float",
        "double",
        "type",
        "extra_repr",
        "named_parameters",
    }
)


def snake(text: str, fallback: str = "node") -> str:
    """``"Conv 1 (3×3)"`` → ``"conv_1_3_3"``; never empty, never starts with a digit."""
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(ch)
    )  # é → e
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    text = re.sub(r"_+", "_", text)
    if not text:
        text = fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    return text[:40].rstrip("_")


def camel(text: str, fallback: str = "Net") -> str:
    """A class name: kept as written when it already is one (``DigitsCNN``), else CamelCased."""
    if text.isidentifier() and text[:1].isupper() and text not in RESERVED:
        return text
    parts = snake(text, fallback.lower()).split("_")
    name = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return name if name.isidentifier() else fallback


class Namespace:
    """Hands out unique identifiers; asking twice for the same key gives the same name."""

    def __init__(self, reserved: frozenset[str] | set[str] = RESERVED):
        self._reserved = set(reserved)
        self._used: set[str] = set()
        self._by_key: dict[object, str] = {}

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def name(self, label: str, key: object = None, fallback: str = "node") -> str:
        if key is not None and key in self._by_key:
            return self._by_key[key]
        base = snake(label, fallback)
        candidate = base
        k = 2
        while candidate in self._used or candidate in self._reserved:
            candidate = f"{base}_{k}"
            k += 1
        self._used.add(candidate)
        if key is not None:
            self._by_key[key] = candidate
        return candidate

    def __contains__(self, name: str) -> bool:
        return name in self._used
