"""Graph → readable PyTorch source (model.py, train.py).

Pure text out; imports neither torch nor Qt.
"""

from torchcanvas.codegen import ops as _ops  # noqa: F401  (registers op emitters)
from torchcanvas.codegen.emit import CodegenError

__all__ = ["CodegenError"]
