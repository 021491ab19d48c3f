"""Errors about model files, each with a message an operator can act on.

A detector that cannot start must say which file is wrong and what command fixes it: the
operator reading the log is rarely the person who wrote the manifest. Every error here is a
``ModelError``, so the service can catch one type at start-up and print one line instead of a
stack trace.
"""

from __future__ import annotations


class ModelError(RuntimeError):
    """A model cannot be used; the message names the file or entry and how to fix it."""


class ModelNotFound(ModelError):
    """A file the model needs is not where the manifest says, or the model is not declared."""


class ModelCorrupt(ModelError):
    """A file is there but is not the expected one (checksum, truncation, wrong shape)."""


class ModelUnsupported(ModelError):
    """The model is valid but this code cannot run it that way (family, layer, backend)."""


class ExportMissing(ModelNotFound):
    """The ONNX file a backend needs has not been exported yet; the message gives the command."""
