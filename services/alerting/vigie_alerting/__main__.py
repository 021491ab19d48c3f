"""``python -m vigie_alerting``: events in, alerts out, plus the AlertDesk gRPC API."""

from __future__ import annotations

import sys

from vigie_alerting.service import build
from vigie_alerting.settings import AlertingSettings
from vigie_runtime.app import service_main


def main(argv: list[str] | None = None) -> int:
    return service_main("alerting", AlertingSettings, build, argv)


if __name__ == "__main__":
    sys.exit(main())
