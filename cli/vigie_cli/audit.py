"""``vigie audit``: check the journal's hash chain, and export it for an auditor.

``verify`` walks the chain stored in the archive and names every record that was modified,
removed or moved, exiting 1 if there is any. ``export`` writes the records as JSON lines (each
with its seq, prev_hash and hash, so the auditor can re-check the chain on their side) and
journals the export itself: who exported, why, how many records.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vigie_core.journal import ChainedRecord, entry, verify

PAGE = 5000


def add_parser(sub: Any) -> None:
    p = sub.add_parser("audit", help="verify or export the audit journal")
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser("verify", help="check the hash chain; name what was tampered with")
    check.add_argument("--database", type=Path, default=Path("var/vigie.sqlite"))
    check.set_defaults(func=verify_main)
    export = actions.add_parser("export", help="write the journal as JSON lines")
    export.add_argument("--database", type=Path, default=Path("var/vigie.sqlite"))
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--purpose", required=True, help="why it is exported (journaled)")
    export.add_argument("--actor", default=None, help="who exports (default: the OS user)")
    export.set_defaults(func=export_main)


def _records(archive: Any) -> Iterator[ChainedRecord]:
    after = 0
    while True:
        page = archive.audit_records(after_seq=after, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].seq


def _open(database: Path) -> Any:
    from vigie_storage.adapters.sqlite_store import SqliteArchive

    if not database.exists():
        print(f"vigie audit: no archive at {database}", file=sys.stderr)
        return None
    return SqliteArchive(database)


def verify_main(args: argparse.Namespace) -> int:
    archive = _open(args.database)
    if archive is None:
        return 2
    with archive:
        anchor = archive.audit_anchor()
        result = verify(_records(archive), anchor)
    start = "the beginning" if anchor.after_seq == 0 else f"record {anchor.after_seq + 1}"
    if result.ok:
        print(f"audit journal intact: {result.checked} record(s) checked from {start}")
        return 0
    print(
        f"audit journal TAMPERED: {len(result.problems)} problem(s) in {result.checked} record(s)"
    )
    for problem in result.problems:
        print(f"  {problem}")
    return 1


def export_main(args: argparse.Namespace) -> int:
    archive = _open(args.database)
    if archive is None:
        return 2
    actor = args.actor or getpass.getuser()
    with archive:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with args.out.open("w", encoding="utf-8") as out:
            for chained in _records(archive):
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
    print(f"{args.out}: {written} record(s); the export is journaled")
    return 0
