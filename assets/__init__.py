"""Bundled examples and small data sets; ``assets_dir()`` finds them wherever torchcanvas is
installed. No torch, no Qt."""

from __future__ import annotations

from pathlib import Path


def assets_dir() -> Path:
    return Path(__file__).resolve().parent


def examples() -> list[Path]:
    return sorted((assets_dir() / "examples").glob("*.json"))
