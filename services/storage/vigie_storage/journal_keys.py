"""Where the journal's keys come from: a secret, never the database they protect.

A key file (``journal.key_file``, a mounted secret) or an environment variable
(``journal.key_env``, default ``VIGIE_JOURNAL_KEYS``) holds entries ``key_id:secret``, one per
line or separated by commas; ``#`` starts a comment. The first entry signs new records; the
others only verify, so a key is rotated by putting the new one first and keeping the old ones
for as long as records made under them are kept. Secrets are at least 32 bytes.

With neither, the development key (published in the source) is used and a warning is logged
at every start: a journal under it proves nothing to an auditor.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from vigie_core.journal import Keyring
from vigie_runtime.settings import StrictModel
from vigie_storage.ports import CHECKPOINT_EVERY

log = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "VIGIE_JOURNAL_KEYS"


class JournalSettings(StrictModel):
    """The journal's keys and how often a checkpoint is written."""

    key_file: Path | None = None
    key_env: str = DEFAULT_KEY_ENV
    # A checkpoint every this many records: a tail shorter than this removed right after it is
    # written is the only removal checkpoints cannot show (1: every append is checkpointed).
    checkpoint_every: int = Field(CHECKPOINT_EVERY, ge=1, le=100_000)


class JournalKeyError(ValueError):
    """The key secret is unreadable or malformed; the service refuses to start."""


def parse_keys(text: str, source: str) -> Keyring:
    entries: dict[str, bytes] = {}
    first = ""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    for raw in ",".join(lines).split(","):
        line = raw.strip()
        if not line:
            continue
        key_id, sep, secret = line.partition(":")
        key_id, secret = key_id.strip(), secret.strip()
        if not sep or not key_id or not secret:
            raise JournalKeyError(f"{source}: expected key_id:secret, got an entry without both")
        if key_id in entries:
            raise JournalKeyError(f"{source}: key id {key_id!r} given twice")
        entries[key_id] = secret.encode()
        first = first or key_id
    if not entries:
        raise JournalKeyError(f"{source}: no journal key in it")
    try:
        return Keyring(entries, first)
    except ValueError as exc:
        raise JournalKeyError(f"{source}: {exc}") from exc


def load_keyring(
    settings: JournalSettings, environ: Mapping[str, str] | None = None, *, warn: bool = True
) -> Keyring:
    """The keys from the file, else the environment variable, else the development key."""
    environ = os.environ if environ is None else environ
    if settings.key_file is not None:
        try:
            text = settings.key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise JournalKeyError(
                f"cannot read journal keys from {settings.key_file}: {exc}"
            ) from exc
        return parse_keys(text, str(settings.key_file))
    if environ.get(settings.key_env, "").strip():
        return parse_keys(environ[settings.key_env], f"${settings.key_env}")
    if warn:
        log.warning(
            "THE AUDIT JOURNAL IS KEYED WITH THE PUBLIC DEVELOPMENT KEY: anyone can forge it."
            " Set journal.key_file or $%s to a secret before production use.",
            settings.key_env,
        )
    return Keyring.development()
