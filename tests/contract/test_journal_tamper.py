"""Tampering with the audit journal, as someone who can write the database but does not hold
the journal key, on every adapter (SQLite, and Cassandra over the recording session): each
attack is found by verification and named.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.contract.recording_session import RecordingSession
from vigie_core.journal import Anchor, Keyring, Verification, link, verify
from vigie_core.types import AuditRecord
from vigie_storage.adapters.cassandra.store import CHAIN, CassandraArchive
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.ports import ArchiveStore, DataKind

T0 = 1_795_000_000.0
KEEP = dict.fromkeys(DataKind, 400.0)
KEYS = Keyring({"k2": b"k2-secret-" + b"x" * 30, "k1": b"k1-secret-" + b"y" * 30}, "k2")
ATTACKER = Keyring({"k2": b"a guess at the key, which is wrong"}, "k2")


def record(n: int) -> AuditRecord:
    return AuditRecord(
        f"rec-{n}", T0 + n, "ana", "operator", "search.events", "events", f"why {n}", "req-1",
        "gate", {"results": str(n)},
    )  # fmt: skip


class Raw(Protocol):
    """Direct writes to the journal's rows, behind the adapter's back."""

    def set(self, seq: int, **columns: Any) -> None: ...

    def delete(self, seq: int) -> None: ...

    def move(self, seq: int, to: int) -> None: ...

    def set_anchor(self, anchor: Anchor) -> None: ...

    def set_checkpoint(self, count: int, **columns: Any) -> None: ...


class SqliteRaw:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def set(self, seq: int, **columns: Any) -> None:
        if "details" in columns:
            columns["details"] = json.dumps(columns["details"], sort_keys=True)
        sets = ", ".join(f"{c} = ?" for c in columns)
        self.conn.execute(
            f"UPDATE audit_journal SET {sets} WHERE seq = ?", [*columns.values(), seq]
        )

    def delete(self, seq: int) -> None:
        self.conn.execute("DELETE FROM audit_journal WHERE seq = ?", (seq,))

    def move(self, seq: int, to: int) -> None:
        self.conn.execute("UPDATE audit_journal SET seq = ? WHERE seq = ?", (to, seq))

    def set_anchor(self, anchor: Anchor) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO audit_anchor (id, after_seq, hash, key_id, mac, removed_at)"
            " VALUES (1, ?, ?, ?, ?, 0)",
            (anchor.after_seq, anchor.hash, anchor.key_id, anchor.mac),
        )

    def set_checkpoint(self, count: int, **columns: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        self.conn.execute(
            f"UPDATE audit_checkpoints SET {sets} WHERE record_count = ?",
            [*columns.values(), count],
        )


class CassandraRaw:
    def __init__(self, session: RecordingSession) -> None:
        self.tables = session.tables

    def _rows(self, table: str) -> dict[tuple[Any, ...], tuple[int, dict[str, Any]]]:
        return self.tables[table]

    def set(self, seq: int, **columns: Any) -> None:
        stamp, row = self._rows("audit_journal")[(CHAIN, seq)]
        self._rows("audit_journal")[(CHAIN, seq)] = (stamp, {**row, **columns})

    def delete(self, seq: int) -> None:
        del self._rows("audit_journal")[(CHAIN, seq)]

    def move(self, seq: int, to: int) -> None:
        stamp, row = self._rows("audit_journal").pop((CHAIN, seq))
        self._rows("audit_journal")[(CHAIN, to)] = (stamp, {**row, "seq": to})

    def set_anchor(self, anchor: Anchor) -> None:
        row = {"chain": CHAIN, "after_seq": anchor.after_seq, "hash": anchor.hash,
               "key_id": anchor.key_id, "mac": anchor.mac}  # fmt: skip
        self.tables.setdefault("audit_anchor", {})[(CHAIN,)] = (0, row)

    def set_checkpoint(self, count: int, **columns: Any) -> None:
        rows = self._rows("audit_checkpoints")
        stamp, row = rows.pop((CHAIN, count))
        row = {**row, **columns}
        rows[(CHAIN, row["record_count"])] = (stamp, row)


@pytest.fixture(params=["sqlite", "cassandra-recorded"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ArchiveStore, Raw]]:
    """Six records appended in two calls, checkpointed every three records (at 3 and 6)."""
    store: ArchiveStore
    raw: Raw
    if request.param == "sqlite":
        path = tmp_path / "archive.sqlite"
        store = SqliteArchive(path, KEYS, checkpoint_every=3)
        raw = SqliteRaw(path)
    else:
        session = RecordingSession()
        store = CassandraArchive(
            session, "LOCAL_QUORUM", KEEP, clock=lambda: T0, keyring=KEYS, checkpoint_every=3
        )
        raw = CassandraRaw(session)
    store.append_audit(record(n) for n in range(1, 4))
    store.append_audit(record(n) for n in range(4, 7))
    yield store, raw
    store.close()


def verified(store: ArchiveStore, keyring: Keyring = KEYS) -> Verification:
    return verify(
        store.audit_records(),
        store.audit_anchor(),
        keyring=keyring,
        checkpoints=store.audit_checkpoints(),
    )


def problems(store: ArchiveStore) -> list[str]:
    result = verified(store)
    assert not result.ok
    return [str(p) for p in result.problems]


def test_an_untouched_journal_verifies_with_its_checkpoints(journal: Any) -> None:
    store, _ = journal
    result = verified(store)
    assert result.ok, result.problems
    assert (result.checked, result.checkpoints) == (6, 2)
    assert {c.key_id for c in store.audit_records()} == {"k2"}
    assert [c.record_count for c in store.audit_checkpoints()] == [3, 6]


def test_an_edited_record_is_named_modified(journal: Any) -> None:
    store, raw = journal
    raw.set(4, reason="nothing to see")
    assert problems(store) == ["record 4 (rec-4): modified: its content does not give its MAC"]


def test_an_edited_detail_is_named_modified(journal: Any) -> None:
    store, raw = journal
    raw.set(2, details={"results": "0"})
    assert problems(store) == ["record 2 (rec-2): modified: its content does not give its MAC"]


def test_a_removed_record_is_named_removed(journal: Any) -> None:
    store, raw = journal
    raw.delete(4)
    assert problems(store) == ["record 5 (rec-5): removed: record(s) 4 missing before it"]


def test_a_removed_record_with_the_rest_renumbered_is_named_removed(journal: Any) -> None:
    store, raw = journal
    raw.delete(3)
    for seq in (4, 5, 6):
        raw.move(seq, seq - 1)
    found = problems(store)
    assert (
        "record 3 (rec-4): removed: the record it was chained to is missing from the journal"
    ) in found
    assert any(p.startswith("journal: truncated") for p in found)  # the checkpoint counted 6


def test_two_swapped_records_are_named_reordered(journal: Any) -> None:
    store, raw = journal
    raw.move(2, 99)
    raw.move(5, 2)
    raw.move(99, 5)
    found = problems(store)
    assert found[0].startswith("record 2 (rec-5): reordered: it follows record 4")
    assert any(p.startswith("record 5 (rec-2): reordered") for p in found)


def test_a_truncated_tail_is_named_truncated(journal: Any) -> None:
    store, raw = journal
    raw.delete(6)
    raw.delete(5)
    assert problems(store) == [
        "journal: truncated: the journal ends at record 4, but a checkpoint (at"
        f" {store.audit_checkpoints()[-1].at!r}) counted 6 record(s): record(s) 5..6 were"
        " removed from its tail"
    ]


def test_a_moved_anchor_is_named_moved(journal: Any) -> None:
    store, raw = journal
    third = store.audit_records()[2]
    for seq in (1, 2, 3):
        raw.delete(seq)
    raw.set_anchor(Anchor(3, third.hash))  # where retention would have put it, without its MAC
    assert problems(store) == [
        "anchor: moved: the chain is said to start after record 3, but retention did not put"
        " its anchor there (its MAC does not verify)"
    ]


def test_an_anchor_moved_with_a_made_up_mac_is_named_moved(journal: Any) -> None:
    store, raw = journal
    second = store.audit_records()[1]
    raw.delete(1)
    raw.delete(2)
    raw.set_anchor(Anchor(2, second.hash, "k2", "0" * 64))
    assert [p.split(":")[:2] for p in problems(store)] == [["anchor", " moved"]]


def test_an_edit_with_the_chain_recomputed_is_named_recomputed(journal: Any) -> None:
    store, raw = journal
    chain = store.audit_records()
    tip = Anchor(chain[1].seq, chain[1].hash)
    for chained in chain[2:]:
        forged = chained.record
        if chained.seq == 3:
            forged = replace(forged, reason="routine")
        redone = link(tip, forged, ATTACKER)
        raw.set(chained.seq, reason=forged.reason, prev_hash=redone.prev_hash, hash=redone.hash)
        tip = Anchor(redone.seq, redone.hash)
    found = problems(store)
    assert found[0] == "record 3 (rec-3): modified: its content does not give its MAC"
    assert found[1].startswith(
        "record 3 (rec-3): recomputed: records 3..6 are chained to each other by hashes the"
        " journal key did not make"
    )
    assert any(p.startswith("record 3 (rec-3): recomputed: a checkpoint saw") for p in found)
    assert any(p.startswith("record 6 (rec-6): recomputed: a checkpoint saw") for p in found)


def test_a_record_under_a_key_not_given_is_named_unknown_key(journal: Any) -> None:
    store, _ = journal
    only_k1 = Keyring({"k1": KEYS.keys["k1"]}, "k1")
    found = [str(p) for p in verified(store, only_k1).problems]
    assert (
        "record 1 (rec-1): unknown key: made under key 'k2', which verification was not given"
        in found
    )


def test_a_forged_checkpoint_is_named_forged(journal: Any) -> None:
    store, raw = journal
    raw.set_checkpoint(6, record_count=9)
    assert problems(store) == ["checkpoint of 9 record(s): forged: its MAC does not verify"]


def test_retention_moves_a_sealed_anchor_and_the_rest_still_verifies(journal: Any) -> None:
    store, _ = journal
    assert store.expire(DataKind.AUDIT, now=T0 + 3.5, keep_s=0) == ["rec-1", "rec-2", "rec-3"]
    anchor = store.audit_anchor()
    assert (anchor.after_seq, anchor.key_id) == (3, "k2") and anchor.mac
    store.append_audit([record(7)])
    assert verified(store).ok


def test_records_made_before_a_key_rotation_still_verify(journal: Any) -> None:
    store, _ = journal
    rotated = Keyring({"k3": b"k3-secret-" + b"z" * 30, **KEYS.keys}, "k3")
    store.keyring = rotated
    store.append_audit([record(7)])
    assert [c.key_id for c in store.audit_records()][-2:] == ["k2", "k3"]
    assert verified(store, rotated).ok
    assert [p.kind for p in verified(store, KEYS).problems] == ["unknown key"]
