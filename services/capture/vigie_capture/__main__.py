"""``python -m vigie_capture``: cameras in, JPEG frames out on ``vigie.frames.v1``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vigie_capture.service import build
from vigie_capture.settings import CaptureSettings
from vigie_runtime.app import service_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-fast-as-possible", action="store_true", help="replay without real-time pacing"
    )
    parser.add_argument("--source", help="a single camera's source (file path or URL)")
    parser.add_argument("--camera-id", help="camera id for --source (default: the file's stem)")
    parser.add_argument("--loop", action="store_true", help="with --source: loop at end of file")
    parser.add_argument("--max-frames", type=int, help="with --source: stop after this many frames")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if args.as_fast_as_possible:
        values["pacing"] = "fast"
    if args.source:
        from pathlib import Path

        camera_id = args.camera_id or Path(args.source).stem.replace(" ", "-")[:64]
        values["cameras"] = [
            {
                "id": camera_id,
                "source": args.source,
                "on_end": "loop" if args.loop else "stop",
                "max_frames": args.max_frames,
            }
        ]
    return values


def main(argv: list[str] | None = None) -> int:
    return service_main("capture", CaptureSettings, build, argv, add_arguments, overrides)


if __name__ == "__main__":
    sys.exit(main())
