"""Reading a Darknet ``.weights`` file: a small header, then every layer's floats in cfg order.

The file has no layer boundaries of its own; only walking the cfg tells where one layer's
numbers end and the next begin. So the reader is a cursor the model builder draws from, and a
file that runs out early (truncated) or has numbers left over (built for another cfg) is an
error naming both files rather than a network that silently computes garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigie_detection.models.errors import ModelCorrupt

_HEADER_INTS = 3


@dataclass(frozen=True, slots=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int  # images seen in training; informative only


class WeightsCursor:
    """Hands out consecutive float32 arrays from a weights file."""

    def __init__(self, path: Path, cfg: Path | None = None) -> None:
        self.path = path
        self.cfg = cfg
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelCorrupt(f"Darknet weights {path} cannot be read: {exc}") from None
        self.header, offset = _read_header(data, path)
        usable = (len(data) - offset) // 4 * 4
        self._values = np.frombuffer(data, dtype="<f4", count=usable // 4, offset=offset)
        self._used = 0

    @property
    def remaining(self) -> int:
        return len(self._values) - self._used

    def take(self, count: int, what: str) -> np.ndarray:
        """The next ``count`` floats, for the layer described by ``what``."""
        if count > self.remaining:
            raise ModelCorrupt(
                f"Darknet weights {self.path} end {count - self.remaining} values short of "
                f"{what}: the file is truncated or does not belong to {self.cfg}"
            )
        chunk = self._values[self._used : self._used + count]
        self._used += count
        return chunk.astype(np.float32)

    def finish(self) -> None:
        """Every number must have been used: leftovers mean a cfg/weights mismatch."""
        if self.remaining:
            raise ModelCorrupt(
                f"Darknet weights {self.path} hold {self.remaining} values more than {self.cfg} "
                f"uses: the weights belong to another network"
            )


def _read_header(data: bytes, path: Path) -> tuple[WeightsHeader, int]:
    if len(data) < _HEADER_INTS * 4 + 4:
        raise ModelCorrupt(f"Darknet weights {path} are too short to hold a header")
    major, minor, revision = (int(v) for v in np.frombuffer(data, "<i4", _HEADER_INTS))
    offset = _HEADER_INTS * 4
    # Darknet widened the "seen" counter to 64 bits in format 0.2.
    if major * 10 + minor >= 2 and major < 1000 and minor < 1000:
        seen = int(np.frombuffer(data, "<u8", 1, offset)[0])
        offset += 8
    else:
        seen = int(np.frombuffer(data, "<i4", 1, offset)[0])
        offset += 4
    return WeightsHeader(major, minor, revision, seen), offset
