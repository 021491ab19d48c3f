"""Resources that a ``with`` block closes, written once.

A camera, an archive connection: each has its own ``close`` (idempotent, so both a shutdown hook
and a ``with`` block may call it) and nothing else to do on entering or leaving a block.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """``with resource:`` yields the resource and calls its ``close`` on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
