"""The Cassandra adapter, checked by the CQL it sends: prepared statements with the configured
consistency, camera-and-day partitions, TTLs from the retention policy, write timestamps that
make the most advanced copy of an alert win, and idempotent replays."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from cassandra import ConsistencyLevel

from tests.contract.recording_session import KEYS, RecordingSession
from vigie_core.types import (
    Alert,
    AlertStatus,
    AuditRecord,
    Event,
    EventKind,
    FrameRef,
    Severity,
    TrackSummary,
)
from vigie_storage.adapters.cassandra.store import (
    CassandraArchive,
    alert_version,
    schema_statements,
)
from vigie_storage.ports import DataKind

DAY = 86_400
NOW = 1_795_000_000.0  # 2026-11-18T09:06:40Z
KEEP = {DataKind.EVENTS: 30, DataKind.ALERTS: 90, DataKind.TRACKS: 7, DataKind.SNAPSHOTS: 30,
        DataKind.AUDIT: 400}  # fmt: skip


def archive(consistency: str = "LOCAL_QUORUM") -> tuple[CassandraArchive, RecordingSession]:
    session = RecordingSession()
    return CassandraArchive(session, consistency, KEEP, clock=lambda: NOW), session


def event(t: float = NOW) -> Event:
    return Event("ev-1", EventKind.FIRE, FrameRef("cam-1", 9, t, 640, 360), "", "", (), {"a": "1"})


def alert(count: int = 1, status: AlertStatus = AlertStatus.RAISED, retention: int = 0) -> Alert:
    return Alert(
        "al-1", "cam-1", EventKind.FIRE, "", Severity.CRITICAL, status, "ev-1", NOW, NOW + count,
        count, retention_days=retention,
    )  # fmt: skip


def test_every_statement_is_prepared_once_with_the_configured_consistency() -> None:
    _, session = archive("LOCAL_QUORUM")
    assert len(session.prepared) == len({p.query_string for p in session.prepared}) >= 20
    assert {p.consistency_level for p in session.prepared} == {ConsistencyLevel.LOCAL_QUORUM}
    lwt = [p for p in session.prepared if "IF NOT EXISTS" in p.query_string]
    assert len(lwt) == 2
    assert all(p.serial_consistency_level == ConsistencyLevel.LOCAL_SERIAL for p in lwt)
    _, one = archive("ONE")
    assert {p.consistency_level for p in one.prepared} == {ConsistencyLevel.ONE}


def test_an_unknown_consistency_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown consistency 'SOMETIMES'"):
        archive("SOMETIMES")


def test_an_event_goes_to_its_camera_and_utc_day_with_the_events_ttl() -> None:
    store, session = archive()
    store.save_many([event(NOW)])
    (write,) = session.executed("INSERT INTO events_by_camera_day")
    camera, day, occurred, event_id, kind = write.values[:5]
    assert (camera, day, event_id, kind) == ("cam-1", date(2026, 11, 18), "ev-1", "fire")
    assert isinstance(occurred, datetime) and occurred.timestamp() == NOW
    assert write.values[-1] == 30 * DAY  # USING TTL
    assert write.values[-3:-1] == ([], {"a": "1"})
    (camera_row,) = session.executed("INSERT INTO cameras")
    assert camera_row.values == (0, "cam-1")


def test_a_replay_sends_the_very_same_values() -> None:
    store, session = archive()
    store.save_many([event(), alert(), TrackSummary("cam-1/1", "cam-1", "car", NOW, NOW + 4, 7)])
    first = [(e.cql, e.values) for e in session.executions]
    session.executions.clear()
    store.save_many([event(), alert(), TrackSummary("cam-1/1", "cam-1", "car", NOW, NOW + 4, 7)])
    assert [(e.cql, e.values) for e in session.executions] == first


def test_alert_rows_expire_by_their_policy_and_carry_a_growing_timestamp() -> None:
    store, session = archive()
    store.save_many([alert(retention=10)])
    (write,) = session.executed("INSERT INTO alerts_by_camera_day")
    ttl, timestamp = write.values[-2:]
    assert ttl == 10 * DAY and timestamp == alert_version(alert(retention=10))
    session.executions.clear()
    store.save_many([alert()])
    assert session.executed("INSERT INTO alerts_by_camera_day")[0].values[-2] == 90 * DAY
    states = [
        alert(1),
        alert(1, AlertStatus.ACKNOWLEDGED),
        alert(2, AlertStatus.ACKNOWLEDGED),
        alert(2, AlertStatus.DISMISSED),
    ]
    versions = [alert_version(a) for a in states]
    assert versions == sorted(versions) and len(set(versions)) == 4


def test_the_journal_claims_each_place_with_a_compare_and_set() -> None:
    store, session = archive()
    store.append_audit([AuditRecord("r-1", NOW, "ana", "operator", "search.events", "events")])
    (claim,) = session.executed("INSERT INTO audit_journal")
    assert claim.cql.endswith("IF NOT EXISTS") and claim.values[:3] == ("main", 1, "r-1")
    assert claim.values[-3] == "0" * 64  # the first record follows the genesis
    assert claim.values[-1] == "dev"  # the key that MACed it: the development key here


def test_events_alerts_and_tracks_expire_by_ttl_not_by_deletes() -> None:
    store, session = archive()
    for kind in (DataKind.EVENTS, DataKind.ALERTS, DataKind.TRACKS):
        assert store.expire(kind, NOW, 30 * DAY) == []
    assert session.executed("DELETE") == []


def test_the_schema_partitions_searched_tables_by_camera_and_day() -> None:
    statements = schema_statements()
    tables = {s.split("EXISTS ")[1].split()[0]: s for s in statements}
    assert set(tables) == set(KEYS)
    for name in ("events_by_camera_day", "alerts_by_camera_day", "tracks_by_camera_day"):
        assert "PRIMARY KEY ((camera_id, day)," in tables[name]
        assert "WITH CLUSTERING ORDER BY" in tables[name]
