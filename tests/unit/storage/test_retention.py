"""Retention enforced on the SQLite archive: expired rows and snapshot files are gone, unexpired
ones remain, an alert keeps the retention its policy gave it, and the deletion is journaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie_core.journal import verify
from vigie_core.types import (
    Alert,
    AlertStatus,
    AuditRecord,
    Event,
    EventKind,
    FrameRef,
    Severity,
    TrackSummary,
    Verdict,
    VerdictAction,
)
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.ports import SearchQuery, Snapshot
from vigie_storage.retention import RetentionJob
from vigie_storage.settings import RetentionSettings

DAY = 86_400.0
NOW = 1_800_000_000.0
ALL = SearchQuery(limit=10_000)


def event(n: int, age_days: float) -> Event:
    t = NOW - age_days * DAY
    return Event(f"ev-{n}", EventKind.LOITERING, FrameRef("cam", n, t), "hall", "person", ())


def alert(n: int, age_days: float, retention_days: int = 0) -> Alert:
    t = NOW - age_days * DAY
    return Alert(
        f"al-{n}", "cam", EventKind.ZONE_INTRUSION, "gate", Severity.HIGH, AlertStatus.RAISED,
        f"ev-{n}", t - 10, t, 1, retention_days=retention_days,
    )  # fmt: skip


def track(n: int, age_days: float) -> TrackSummary:
    t = NOW - age_days * DAY
    return TrackSummary(f"cam/{n}", "cam", "car", t - 5, t, 10, seconds_in_zone={"bay": 3.0})


@pytest.fixture
def setup(tmp_path: Path) -> tuple[SqliteArchive, FileBlobStore, RetentionJob]:
    store = SqliteArchive(tmp_path / "archive.sqlite")
    blobs = FileBlobStore(tmp_path / "snapshots")
    settings = RetentionSettings(
        events_days=30, alerts_days=90, tracks_days=7, snapshots_days=30, audit_days=400
    )
    return store, blobs, RetentionJob(store, blobs, settings, clock=lambda: NOW)


def test_expired_rows_and_files_are_gone_and_the_rest_remains(
    setup: tuple[SqliteArchive, FileBlobStore, RetentionJob],
) -> None:
    store, blobs, job = setup
    store.save_many(
        [
            event(1, age_days=31), event(2, age_days=29),
            alert(1, age_days=91), alert(2, age_days=89),
            alert(3, age_days=91, retention_days=365),  # its policy keeps it a year
            alert(4, age_days=20, retention_days=10),   # its policy keeps it ten days only
            Verdict("vd-1", "al-1", VerdictAction.DISMISS, "ana", "a cat", NOW - 91 * DAY),
            track(1, age_days=8), track(2, age_days=6),
        ]
    )  # fmt: skip
    for n, age in ((1, 31.0), (2, 29.0)):
        key = f"cam/day/al-{n}.jpg"
        blobs.put(key, b"\xff\xd8jpeg")
        store.save_snapshot(Snapshot(f"al-{n}", "cam", key, n, NOW - age * DAY, NOW - age * DAY, 1))
    store.append_audit(
        [
            AuditRecord("old", NOW - 401 * DAY, "ana", "operator", "search.events", "events"),
            AuditRecord("new", NOW - 1 * DAY, "ana", "operator", "search.events", "events"),
        ]
    )

    deleted = job.run(NOW)

    assert {k.value: n for k, n in deleted.items()} == {
        "events": 1, "alerts": 2, "tracks": 1, "snapshots": 1, "audit": 1,
    }  # fmt: skip
    assert [e.event_id for e in store.search_events(ALL)] == ["ev-2"]
    assert sorted(a.alert_id for a in store.search_alerts(ALL)) == ["al-2", "al-3"]
    assert store.verdicts_for("al-1") == []
    assert [t.track_id for t in store.search_tracks(ALL)] == ["cam/2"]
    assert store.search_tracks(SearchQuery(zone="bay")) == store.search_tracks(ALL)
    assert store.snapshot_for("al-1") is None and store.snapshot_for("al-2") is not None
    with pytest.raises(KeyError):
        blobs.get("cam/day/al-1.jpg")
    assert blobs.get("cam/day/al-2.jpg") == b"\xff\xd8jpeg"
    journal = store.audit_records()
    assert journal[0].record.record_id == "new"
    assert journal[-1].record.action == "retention.deleted"
    assert journal[-1].record.details["events"] == "1"
    assert verify(journal, store.audit_anchor()).ok
    assert job.run(NOW) == {}  # nothing left to delete: nothing journaled
    assert len(store.audit_records()) == 2


def test_the_job_runs_at_most_every_interval(
    setup: tuple[SqliteArchive, FileBlobStore, RetentionJob],
) -> None:
    store, _, job = setup
    store.save_many([event(1, age_days=31)])
    assert job.maybe_run() != {}
    store.save_many([event(2, age_days=31)])
    assert job.maybe_run() == {}  # within the hour
    assert len(store.search_events(ALL)) == 1
