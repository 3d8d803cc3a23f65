"""Shared test configuration.

Qt must run offscreen before anything imports it. torch is deliberately not imported here: the
graph and codegen tests must stay fast, so tests that need torch ask for ``torch_deterministic``.
"""

from __future__ import annotations

import os
import random

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Deterministic cuBLAS needs this before CUDA starts; harmless without a GPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import pytest


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory):
    """Bundled data sets are materialised once per session, in a private folder (subprocesses
    inherit it); nothing touches the user's cache. Tests about caching override it."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("data_cache")
        mp.setenv("TORCHCANVAS_DATA_DIR", str(path))
        yield path


@pytest.fixture
def torch_deterministic():
    """Seed torch, numpy and random, and ask torch for deterministic kernels; yields torch."""
    import torch

    old_flag = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    random.seed(0)
    torch.manual_seed(0)
    try:
        import numpy as np

        np.random.seed(0)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    torch.use_deterministic_algorithms(True)
    yield torch
    torch.use_deterministic_algorithms(old_flag, warn_only=old_warn)


@pytest.fixture
def tmp_project(tmp_path):
    """A path for a project file in an empty temporary folder."""
    return tmp_path / "project.json"
