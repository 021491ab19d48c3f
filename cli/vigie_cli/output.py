"""What every `vigie` command shares about its output: the version, ``--json``, ``--quiet``,
progress lines and exit codes.

- ``--json``: one JSON document on stdout and nothing else there; what a person would read
  (start-up notes, alert lines, progress) goes to stderr instead. Keys are stable: new ones may
  be added, none renamed or removed.
- Progress on long work goes to stderr: on a terminal one line rewritten in place at most once a
  second, otherwise (a pipe, a CI log) a full line every five seconds; nothing with ``--quiet``.
- Exit codes (:data:`EXIT_CODES`): 0 done, 1 the work failed (a service died, tampering found,
  the broker refused), 2 a usage or configuration error (a bad flag or file, a port taken, no
  clip, no archive), 130 interrupted by Ctrl-C (after stopping cleanly).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

OK = 0
FAILED = 1
USAGE = 2
INTERRUPTED = 130

EXIT_CODES = {
    OK: "done",
    FAILED: "the work failed (a service exited, the journal is tampered with, the broker refused)",
    USAGE: "usage or configuration error (bad flag or file, port taken, no clip, no archive)",
    INTERRUPTED: "interrupted by Ctrl-C, after a clean stop",
}


def vigie_version() -> str:
    """The installed distribution's version, else the one pyproject.toml declares."""
    from importlib import metadata

    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return _pyproject_version() or "unknown"


def _pyproject_version() -> str | None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, ValueError):
        return None


def schema_version() -> str | None:
    """The protobuf package the generated messages belong to (``vigie.v1``), if generated."""
    try:
        from vigie.v1 import common_pb2
    except ImportError:
        return None
    return str(common_pb2.DESCRIPTOR.package)


def version_text() -> str:
    schema = schema_version()
    return f"vigie {vigie_version()}" + (f" (schema {schema})" if schema else "")


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (everything else goes to stderr)",
    )


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def print_json(document: Any, stream: TextIO | None = None) -> None:
    stream = sys.stdout if stream is None else stream
    stream.write(json.dumps(document, indent=2, sort_keys=True, default=str, ensure_ascii=False))
    stream.write("\n")
    stream.flush()


def notes_stream(as_json: bool) -> TextIO:
    """Where lines meant for a person go: stdout, or stderr when stdout carries JSON."""
    return sys.stderr if as_json else sys.stdout


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Status lines about long work, on stderr unless told otherwise.

    ``update(text)`` shows ``text`` if enough time has passed since the last line, or since the
    start for the first (1 s on a terminal, where the line is rewritten in place; 5 s otherwise,
    each a line of its own): quick work shows none.
    ``text`` may be a callable, only called when the line is due. ``clear()`` before printing
    anything else on the terminal; ``done(text)`` always prints (unless quiet) and ends the line.
    """

    TTY_INTERVAL_S = 1.0
    PIPE_INTERVAL_S = 5.0

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        tty: bool | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        prefix: str = "",
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.tty = _is_tty(self.stream) if tty is None else tty
        if interval_s is None:
            interval_s = self.TTY_INTERVAL_S if self.tty else self.PIPE_INTERVAL_S
        self.interval_s = interval_s
        self.clock = clock
        self.prefix = prefix
        # Work done within the first interval shows no progress at all.
        self._last: float = clock()
        self._shown = False  # a terminal line is on screen, not ended

    def due(self) -> bool:
        return self.clock() - self._last >= self.interval_s

    def update(self, text: str | Callable[[], str], force: bool = False) -> bool:
        """Show ``text`` if a line is due (or ``force``); True if it was shown."""
        if self.quiet or not (force or self.due()):
            return False
        self._last = self.clock()
        line = self.prefix + (text() if callable(text) else text)
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        return True

    def clear(self) -> None:
        """Remove the terminal line, so other output starts at the left margin."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def done(self, text: str | None = None) -> None:
        if self.quiet:
            return
        self.clear()
        if text is not None:
            self.stream.write(self.prefix + text + "\n")
            self.stream.flush()
        self._last = self.clock()


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}/s" if seconds > 0 else "-"
