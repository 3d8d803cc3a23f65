"""Training settings stored in the project, checked with the same rules as node params."""

from __future__ import annotations

import keyword
import re
from typing import Any

from torchcanvas.graph.errors import ParamError
from torchcanvas.graph.spec import ParamSpec

PRECISIONS = ("off", "bf16", "fp16")
MAX_PARAMS = 2_000_000_000  # 8 GB of float32: more than one usual GPU trains
# written to the file only when they differ from the default (files without them stay as they
# were, and their saved results stay valid)
SPARSE_SETTINGS = ("max_params", "tensorboard")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
# what each setting adds to a run, for the trainer, the CLI and the generated train.py
SPEED_SETTINGS = (
    "precision",
    "compile",
    "compile_mode",
    "channels_last",
    "pin_memory",
    "cudnn_benchmark",
)

_SPECS = (
    ParamSpec("epochs", "int", 10, "passes over the training data", minimum=1, maximum=100_000),
    ParamSpec("batch_size", "int", 64, "samples per step", minimum=1, maximum=1_000_000),
    ParamSpec(
        "seed",
        "int",
        0,
        "random seed: the same seed gives the same run",
        minimum=0,
        maximum=2**32 - 1,
    ),
    ParamSpec(
        "device",
        "str",
        "auto",
        "auto (CUDA when present, else MPS, else CPU), cpu, cuda, cuda:N or mps",
    ),
    ParamSpec(
        "val_split",
        "float",
        0.2,
        "fraction of the data held out for validation",
        minimum=0.0,
        maximum=0.9,
    ),
    ParamSpec("model_name", "str", "Net", "class name of the generated model"),
    ParamSpec(
        "log_every",
        "int",
        10,
        "steps between reading metrics back from the device",
        minimum=1,
        maximum=10_000,
    ),
    ParamSpec("num_workers", "int", 0, "DataLoader worker processes", minimum=0, maximum=64),
    ParamSpec(
        "precision",
        "choice",
        "off",
        "mixed precision: off (float32), bf16 (CPU or CUDA) or fp16 (CUDA, with a gradient scaler)",
        choices=PRECISIONS,
    ),
    ParamSpec(
        "compile",
        "bool",
        False,
        "torch.compile the model (the first steps are slow while it compiles; needs a C compiler)",
    ),
    ParamSpec(
        "compile_mode",
        "choice",
        "default",
        "torch.compile mode, when compile is on",
        choices=COMPILE_MODES,
    ),
    ParamSpec(
        "channels_last",
        "bool",
        False,
        "channels-last memory format for conv nets (model and 4-d inputs)",
    ),
    ParamSpec(
        "pin_memory",
        "bool",
        False,
        "CUDA only: page-locked batches copied to the GPU without blocking",
    ),
    ParamSpec(
        "cudnn_benchmark",
        "bool",
        False,
        "CUDA only: let cuDNN time its convolution algorithms and keep the fastest "
        "(does nothing on the CPU)",
    ),
    ParamSpec(
        "max_params",
        "int",
        MAX_PARAMS,
        "size limit: the most parameters a model may have, and the most values one of "
        "its tensors may hold for a batch; check, train and export refuse a larger model "
        "(naming the node) before anything is allocated. Raise it for a larger model",
        minimum=1,
        maximum=2**63 - 1,
    ),
    ParamSpec(
        "tensorboard",
        "bool",
        False,
        "write TensorBoard event files into each run's tensorboard/ folder: losses, metrics "
        "and learning rate per step and epoch, the hyperparameters with the final metrics "
        "(HParams tab) and the model graph",
    ),
    ParamSpec(
        "flow",
        "choice",
        "TB",
        "canvas direction: top → down (TB) or left → right (LR)",
        choices=("TB", "LR"),
    ),
)
SETTINGS: dict[str, ParamSpec] = {s.name: s for s in _SPECS}

DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"  # [0-9]: \d takes any Unicode digit


def validate_settings(values: dict[str, Any], path: str = "settings") -> dict[str, Any]:
    """Complete ``values`` with defaults and check each; raises ``ParamError`` naming the field."""
    for name in values:
        if name not in SETTINGS:
            raise ParamError(name, "no such training setting")
    out = {}
    for spec in _SPECS:
        out[spec.name] = spec.validate(values.get(spec.name, spec.default))
    if not re.fullmatch(DEVICE_PATTERN, out["device"]):  # match() would let "cpu\n" through
        raise ParamError(
            "device", f"{out['device']!r} is not a device; use auto, cpu, cuda, cuda:N or mps"
        )
    name = out["model_name"]
    if not name.isidentifier() or not name[0].isupper() or keyword.iskeyword(name):
        raise ParamError("model_name", "must be a Python class name such as Net or DigitsCNN")
    return out
