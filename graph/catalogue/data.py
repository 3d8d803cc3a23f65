"""Data sources. Each has outputs ``x`` (inputs) and ``y`` (targets); the runtime reads them."""

from __future__ import annotations
