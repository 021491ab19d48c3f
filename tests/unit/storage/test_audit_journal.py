"""The audit journal in the SQLite archive: chained on append, replays skipped, and tampering
found by `vigie audit verify` and named (every case on every adapter: tests/contract), keys read
from a secret, and a journal written before it was keyed taken over.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from vigie_cli.main import main as vigie
from vigie_core.journal import GENESIS, ChainedRecord, legacy_hash, verify
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
        result = verify(
            archive.audit_records(),
            archive.audit_anchor(),
            checkpoints=archive.audit_checkpoints(),
        )
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
    assert problems == ["record 4 (rec-4): modified: its content does not give its MAC"]


def test_a_modified_detail_is_named(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            """UPDATE audit_journal SET details = '{"kind":"fire","n":"2"}' WHERE seq = 2"""
        )
    assert verified(db)[1] == ["record 2 (rec-2): modified: its content does not give its MAC"]


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


KEY_FILE_TEXT = (
    "k2: second-secret-of-at-least-32-bytes\n"
    "# retired, kept to verify\n"
    "k1: first-secret-of-at-least-32-bytes!\n"
)


def test_the_cli_reads_the_keys_from_a_file_and_names_each_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vigie_storage.journal_keys import JournalSettings, load_keyring

    keys = tmp_path / "journal.keys"
    keys.write_text(KEY_FILE_TEXT)
    keyring = load_keyring(JournalSettings(key_file=keys))
    assert (keyring.current, sorted(keyring.keys)) == ("k2", ["k1", "k2"])
    db = tmp_path / "keyed.sqlite"
    with SqliteArchive(db, keyring, checkpoint_every=2) as archive:
        archive.append_audit(record(n) for n in range(1, 5))
    argv = ["audit", "verify", "--database", str(db), "--key-file", str(keys)]
    assert vigie(argv) == 0
    assert (
        "intact: 4 record(s) checked from the beginning, 1 checkpoint(s)" in capsys.readouterr().out
    )
    # Without the keys, every record is under a key verification was not given.
    assert vigie(["audit", "verify", "--database", str(db), "--key-env", "NO_SUCH_VAR"]) == 1
    captured = capsys.readouterr()
    assert "public development key" in captured.err
    assert "record 1 (rec-1): unknown key: made under key 'k2'" in captured.out
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_journal WHERE seq = 4")
    assert vigie(argv) == 1
    assert "journal: truncated: the journal ends at record 3" in capsys.readouterr().out


def test_keys_come_from_the_environment_and_bad_keys_are_refused(tmp_path: Path) -> None:
    from vigie_storage.journal_keys import JournalKeyError, JournalSettings, load_keyring

    settings = JournalSettings()
    keyring = load_keyring(settings, {"VIGIE_JOURNAL_KEYS": KEY_FILE_TEXT.replace("\n", ",")})
    assert keyring.current == "k2" and not keyring.is_development
    assert load_keyring(settings, {}).is_development
    with pytest.raises(JournalKeyError, match="at least 32"):
        load_keyring(settings, {"VIGIE_JOURNAL_KEYS": "k1:short"})
    with pytest.raises(JournalKeyError, match="key_id:secret"):
        load_keyring(settings, {"VIGIE_JOURNAL_KEYS": "no-colon-here"})
    with pytest.raises(JournalKeyError, match="cannot read"):
        load_keyring(JournalSettings(key_file=tmp_path / "missing"), {})


def _write_unkeyed(conn: sqlite3.Connection, n: int, prev: str) -> str:
    """A record as the journal chained it before it was keyed: plain SHA-256, no key id."""
    r = record(n)
    digest = legacy_hash(prev, r)
    data = ChainedRecord(n, r, prev, digest).to_data()
    data["details"] = json.dumps(data["details"])
    columns = ", ".join(data)
    conn.execute(
        f"INSERT INTO audit_journal ({columns}) VALUES ({', '.join('?' for _ in data)})",
        list(data.values()),
    )
    return digest


def test_a_journal_written_before_keying_is_vouched_for_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    SqliteArchive(path).close()  # the schema
    with sqlite3.connect(path) as conn:
        prev = GENESIS
        for n in (1, 2, 3):
            prev = _write_unkeyed(conn, n, prev)
    with SqliteArchive(path) as archive:  # opened with a key: one checkpoint vouches for them
        assert [c.record_count for c in archive.audit_checkpoints()] == [3]
        archive.append_audit([record(4)])
    assert verified(path) == (True, [])
    # An unkeyed record after that is a forgery, however well its SHA-256 chains.
    with sqlite3.connect(path) as conn:
        last = conn.execute("SELECT hash FROM audit_journal WHERE seq = 4").fetchone()[0]
        _write_unkeyed(conn, 5, last)
    with SqliteArchive(path) as archive:
        assert len(archive.audit_checkpoints()) == 1  # not vouched for again
    assert verified(path)[1] == ["record 5 (rec-5): modified: its content does not give its MAC"]
