"""Pretrained backbones on the torch side: weights already in the torch hub cache.

Nothing is downloaded: torchvision keeps the weights it once fetched in
``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``) under the file names the
catalogue lists per architecture, and those files are offered for the weights field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from torchcanvas.graph.catalogue.backbones import ARCHS


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def hub_weights(arch: str) -> list[Path]:
    """The weight files of ``arch`` found in the hub cache, by name."""
    known = ARCHS[arch].weight_files if arch in ARCHS else ()
    folder = hub_checkpoints()
    if not known or not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.pth") if p.name in known and p.is_file())


@contextlib.contextmanager
def on_meta() -> Iterator[None]:
    """``torch.device("meta")`` for building a torchvision network without memory, except
    RegNet's block widths: torchvision computes them with tensors and reads them back
    (``tolist``), which a meta tensor cannot do; that arithmetic runs on the CPU."""
    from torchvision.models import regnet

    plain = regnet.BlockParams.__dict__["from_init_params"]

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return plain.__func__(cls, *args, **kwargs)

    regnet.BlockParams.from_init_params = classmethod(on_cpu)
    try:
        with torch.device("meta"):
            yield
    finally:
        regnet.BlockParams.from_init_params = plain
