"""The audit journal in the SQLite archive: chained on append, replays skipped, and every kind
of tampering (a modified, removed or reordered record) found by `vigie audit verify` and named.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from vigie_cli.main import main as vigie
from vigie_core.journal import verify
from vigie_core.types import AuditRecord
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.ports import DataKind

T0 = 1_700_000_000.0


def record(n: int, at: float | None = None) -> AuditRecord:
    return AuditRecord(
        record_id=f"rec-{n}",
        at=T0 + n if at is None else at,
        actor="alice" if n % 2 else "system:alerting",
        role="operator" if n % 2 else "system",
        action="verdict.dismiss" if n % 2 else "alert.raised",
        subject=f"alert-{n}",
        reason=f"reason {n}",
        request_id=f"req-{n}",
        camera_id="gate",
        details={"kind": "zone_intrusion", "n": str(n)},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "archive.sqlite"
    with SqliteArchive(path) as archive:
        assert archive.append_audit(record(n) for n in range(1, 7)) == 6
    return path


def verified(db: Path) -> tuple[bool, list[str]]:
    with SqliteArchive(db) as archive:
        result = verify(archive.audit_records(), archive.audit_anchor())
    return result.ok, [str(p) for p in result.problems]


def test_records_are_chained_in_order_and_a_replay_appends_nothing(db: Path) -> None:
    with SqliteArchive(db) as archive:
        assert archive.append_audit([record(3), record(6)]) == 0
        chained = archive.audit_records()
    assert [c.seq for c in chained] == [1, 2, 3, 4, 5, 6]
    assert chained[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chained))
    assert chained[2].record == record(3)
    assert verified(db) == (True, [])


def test_a_modified_record_is_named(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_journal SET reason = 'nothing to see' WHERE seq = 4")
    ok, problems = verified(db)
    assert not ok
    assert problems == ["record 4 (rec-4): modified: its content does not give its hash"]


def test_a_modified_detail_is_named(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            """UPDATE audit_journal SET details = '{"kind":"fire","n":"2"}' WHERE seq = 2"""
        )
    assert verified(db)[1] == ["record 2 (rec-2): modified: its content does not give its hash"]


def test_a_removed_record_is_named_by_the_gap_it_leaves(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_journal WHERE seq = 3")
    assert verified(db)[1] == ["record 4 (rec-4): removed: record(s) 3 missing before it"]


def test_a_removed_record_with_the_rest_renumbered_is_still_found(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_journal WHERE seq = 3")
        conn.execute("UPDATE audit_journal SET seq = seq - 1 WHERE seq > 3")
    assert verified(db)[1] == [
        "record 3 (rec-4): removed: the record it was chained to is missing from the journal"
    ]


def test_two_swapped_records_are_named(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_journal SET seq = -1 WHERE seq = 2")
        conn.execute("UPDATE audit_journal SET seq = 2 WHERE seq = 5")
        conn.execute("UPDATE audit_journal SET seq = 5 WHERE seq = -1")
    ok, problems = verified(db)
    assert not ok
    assert problems[0].startswith("record 2 (rec-5): reordered: it follows record 4")
    assert any(p.startswith("record 5 (rec-2): reordered") for p in problems)


def test_retention_removes_the_oldest_records_and_the_rest_still_verifies(db: Path) -> None:
    with SqliteArchive(db) as archive:
        removed = archive.expire(DataKind.AUDIT, now=T0 + 3.5, keep_s=0)
        assert removed == ["rec-1", "rec-2", "rec-3"]
        assert archive.audit_anchor().after_seq == 3
        archive.append_audit([record(7)])
        assert [c.seq for c in archive.audit_records()] == [4, 5, 6, 7]
    assert verified(db) == (True, [])


def test_the_cli_verifies_names_tampering_and_exports(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vigie(["audit", "verify", "--database", str(db)]) == 0
    assert "intact: 6 record(s)" in capsys.readouterr().out
    out = tmp_path / "journal.jsonl"
    code = vigie(
        ["audit", "export", "--database", str(db), "--out", str(out), "--purpose", "yearly audit"]
    )
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[1]["record_id"] == "rec-2" and len(lines[1]["hash"]) == 64
    with SqliteArchive(db) as archive:
        last = archive.audit_records()[-1]
    assert (last.record.action, last.record.reason) == ("journal.export", "yearly audit")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_journal SET actor = 'mallory' WHERE seq = 5")
    capsys.readouterr()
    assert vigie(["audit", "verify", "--database", str(db)]) == 1
    printed = capsys.readouterr().out
    assert "TAMPERED" in printed and "record 5 (rec-5): modified" in printed
