"""The blob-store port, for snapshot images, clips and stills, and its filesystem adapter (the
default).

Keys are relative paths chosen by the storage service (``<camera>/<day>/<alert id>.jpg`` for a
snapshot, ``.clip`` beside it for its clip, ``stills/<camera>.still`` for a camera's still; see
:mod:`vigie_storage.clips`), so an operator can find a file by hand and a retention job can walk
a day at a time. Writes go to
a temporary file renamed into place: a reader never sees half an image, and a crash leaves at
worst a stray temporary file. Object stores (S3, GCS) fit the same three calls.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """Raises ``KeyError`` when there is no such blob."""
        ...

    def delete(self, key: str) -> bool:
        """True when something was deleted; deleting twice is not an error."""
        ...


def check_key(key: str) -> str:
    if not _SAFE_KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe blob key {key!r}")
    return key


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True
