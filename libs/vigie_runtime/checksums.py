"""File checksums, computed once per file version per process.

Every detector verifies its files at start-up; a process that builds several detectors (the
service with a fallback, the tests) should not hash the same 24 MB again each time. A file
rewritten in place gets a new size or modification time and is hashed again.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

_lock = threading.Lock()
_known: dict[tuple[str, int, int], str] = {}


def sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so a large weights file never sits twice in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def cached_sha256(path: Path) -> str:
    """``sha256`` remembered by (resolved path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        known = _known.get(key)
    if known is not None:
        return known
    digest = sha256(path)
    with _lock:
        _known[key] = digest
    return digest
