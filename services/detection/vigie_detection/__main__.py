"""``python -m vigie_detection``: frames in, detections out, plus the Detector gRPC API."""

from __future__ import annotations

import sys

from vigie_detection.service import build
from vigie_detection.settings import DetectionSettings
from vigie_runtime.app import service_main


def main(argv: list[str] | None = None) -> int:
    return service_main("detection", DetectionSettings, build, argv)


if __name__ == "__main__":
    sys.exit(main())
