"""``vigie audit``: check the journal's keyed chain, and export it for an auditor.

``verify`` walks the chain stored in the archive with the journal keys (``--key-file`` or the
variable named by ``--key-env``, as the storage service reads them), holds it against the
anchor and the checkpoints, and names every record modified, removed, reordered or recomputed,
a truncated tail, a moved anchor, a forged checkpoint and anything made under a key it was not
given, exiting 1 if there is any. ``export`` writes the records as JSON lines (each with its
seq, prev_hash, hash and key id, so an auditor holding the keys can re-check the chain on their
side) and journals the export itself: who exported, why, how many records.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any

from vigie_cli.output import add_json_argument, print_json
from vigie_core.journal import Keyring, entry, stored_records, verify_stored


def add_parser(sub: Any) -> None:
    p = sub.add_parser("audit", help="verify or export the audit journal")
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser("verify", help="check the hash chain; name what was tampered with")
    check.add_argument("--database", type=Path, default=Path("var/vigie.sqlite"))
    _key_arguments(check)
    add_json_argument(check)
    check.set_defaults(func=verify_main)
    export = actions.add_parser("export", help="write the journal as JSON lines")
    export.add_argument("--database", type=Path, default=Path("var/vigie.sqlite"))
    _key_arguments(export)
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--purpose", required=True, help="why it is exported (journaled)")
    export.add_argument("--actor", default=None, help="who exports (default: the OS user)")
    add_json_argument(export)
    export.set_defaults(func=export_main)


def _key_arguments(parser: Any) -> None:
    from vigie_storage.journal_keys import DEFAULT_KEY_ENV

    parser.add_argument(
        "--key-file", type=Path, default=None, help="the journal keys (key_id:secret per line)"
    )
    parser.add_argument(
        "--key-env", default=DEFAULT_KEY_ENV, help="variable holding the keys without a file"
    )


def _keyring(args: argparse.Namespace) -> Keyring:
    from vigie_storage.journal_keys import JournalSettings, load_keyring

    keyring = load_keyring(
        JournalSettings(key_file=args.key_file, key_env=args.key_env), warn=False
    )
    if keyring.is_development:
        print(
            "vigie audit: WARNING: no journal key given (--key-file or"
            f" ${args.key_env}); using the public development key, which proves nothing",
            file=sys.stderr,
        )
    return keyring


def _open(database: Path, keyring: Keyring) -> Any:
    from vigie_storage.adapters.sqlite_store import SqliteArchive

    if not database.exists():
        print(f"vigie audit: no archive at {database}", file=sys.stderr)
        return None
    return SqliteArchive(database, keyring)


def _open_keyed(args: argparse.Namespace) -> tuple[Any, Keyring] | None:
    """The archive of ``--database`` with the journal keys of the arguments, and those keys;
    None (after saying why on stderr) when the keys cannot be read or there is no archive."""
    try:
        keyring = _keyring(args)
    except ValueError as exc:
        print(f"vigie audit: {exc}", file=sys.stderr)
        return None
    archive = _open(args.database, keyring)
    if archive is None:
        return None
    return archive, keyring


def verify_main(args: argparse.Namespace) -> int:
    as_json = bool(getattr(args, "json", False))
    opened = _open_keyed(args)
    if opened is None:
        if as_json:
            print_json({"ok": False, "error": f"cannot open the journal of {args.database}"})
        return 2
    archive, keyring = opened
    with archive:
        anchor, result = verify_stored(archive, keyring)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "from_seq": anchor.after_seq + 1,
                "checkpoints": result.checkpoints,
                "keys": sorted(keyring.keys),
                "development_key": keyring.is_development,
                "problems": [str(problem) for problem in result.problems],
            }
        )
        return 0 if result.ok else 1
    start = "the beginning" if anchor.after_seq == 0 else f"record {anchor.after_seq + 1}"
    if result.ok:
        print(
            f"audit journal intact: {result.checked} record(s) checked from {start},"
            f" {result.checkpoints} checkpoint(s), keys {', '.join(sorted(keyring.keys))}"
        )
        return 0
    print(
        f"audit journal TAMPERED: {len(result.problems)} problem(s) in {result.checked} record(s)"
    )
    for problem in result.problems:
        print(f"  {problem}")
    return 1


def export_main(args: argparse.Namespace) -> int:
    opened = _open_keyed(args)
    if opened is None:
        if getattr(args, "json", False):
            print_json({"ok": False, "error": f"cannot open the journal of {args.database}"})
        return 2
    archive, _ = opened
    actor = args.actor or getpass.getuser()
    with archive:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with args.out.open("w", encoding="utf-8") as out:
            for chained in stored_records(archive):
                out.write(json.dumps(chained.to_data(), ensure_ascii=False, sort_keys=True))
                out.write("\n")
                written += 1
        now = time.time()
        archive.append_audit(
            [
                entry(
                    "journal.export",
                    str(args.out),
                    now,
                    actor=actor,
                    role="auditor",
                    reason=args.purpose,
                    details={"records": str(written)},
                )
            ]
        )
    if getattr(args, "json", False):
        print_json({"ok": True, "out": str(args.out), "records": written, "journaled": True})
    else:
        print(f"{args.out}: {written} record(s); the export is journaled")
    return 0
