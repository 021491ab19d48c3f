"""``python -m vigie_console``: the operator console in the browser (alert wall, alert review,
search, cameras and their scenes, audit, reports)."""

from __future__ import annotations

import sys

from vigie_console.service import build
from vigie_console.settings import ConsoleSettings
from vigie_runtime.app import service_main


def main(argv: list[str] | None = None) -> int:
    return service_main("console", ConsoleSettings, build, argv)


if __name__ == "__main__":
    sys.exit(main())
