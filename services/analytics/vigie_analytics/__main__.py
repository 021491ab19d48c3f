"""``python -m vigie_analytics``: tracks in, zone and line events out."""

from __future__ import annotations

import sys

from vigie_analytics.service import build
from vigie_analytics.settings import AnalyticsSettings
from vigie_runtime.app import service_main


def main(argv: list[str] | None = None) -> int:
    return service_main("analytics", AnalyticsSettings, build, argv)


if __name__ == "__main__":
    sys.exit(main())
