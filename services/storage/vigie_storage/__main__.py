"""``python -m vigie_storage``: tracks, events, alerts and verdicts into the archive,
plus the Archive gRPC API."""

from __future__ import annotations

import sys

from vigie_runtime.app import service_main
from vigie_storage.service import build
from vigie_storage.settings import StorageSettings


def main(argv: list[str] | None = None) -> int:
    return service_main("storage", StorageSettings, build, argv)


if __name__ == "__main__":
    sys.exit(main())
