"""``python -m vigie_tracking``: detections in, tracks out."""

from __future__ import annotations

import sys

from vigie_runtime.app import service_main
from vigie_tracking.service import build
from vigie_tracking.settings import TrackingSettings


def main(argv: list[str] | None = None) -> int:
    return service_main("tracking", TrackingSettings, build, argv)


if __name__ == "__main__":
    sys.exit(main())
