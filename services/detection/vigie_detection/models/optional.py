"""Imports of the heavy runtimes, which only some backends need.

PyTorch and onnxruntime are large and slow to import; the OpenCV backend needs neither. They
are imported when a backend that uses them is built, and their absence is a ``ModelError``
saying what to install, not an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vigie_detection.models.errors import ModelUnsupported

INSTALL = {
    "torch": "pip install torch==2.13.0",
    "onnxruntime": "pip install onnxruntime",
}


def require(module: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL.get(module, f"pip install {module}")
        raise ModelUnsupported(
            f"{purpose} needs {module}, which is not installed ({exc}); install it with: {hint}"
        ) from None
