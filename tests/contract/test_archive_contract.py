"""One contract for every archive adapter: SQLite always; the Cassandra adapter over the
recording stand-in always; and a real Cassandra cluster when ``CASSANDRA_CONTACT_POINTS`` is
set (``CASSANDRA_KEYSPACE``, default ``vigie_contract``, is created if missing and emptied).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from itertools import permutations
from pathlib import Path

import pytest

from tests.contract.recording_session import RecordingSession
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
from vigie_storage.adapters.cassandra.store import CassandraArchive, schema_statements
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.ports import ArchiveStore, Cursor, DataKind, SearchQuery, Snapshot

NOW = 1_795_000_000.0  # a fixed "now" for adapters that bound searches by retention
T0 = NOW - 6 * 3600.0
KEEP = {DataKind.EVENTS: 30, DataKind.ALERTS: 90, DataKind.TRACKS: 7, DataKind.SNAPSHOTS: 30,
        DataKind.AUDIT: 400}  # fmt: skip


def _cluster_archive() -> Iterator[ArchiveStore]:
    from cassandra.cluster import Cluster

    points = os.environ["CASSANDRA_CONTACT_POINTS"].split(",")
    keyspace = os.environ.get("CASSANDRA_KEYSPACE", "vigie_contract")
    cluster = Cluster(points)
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication ="
        " {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.set_keyspace(keyspace)
    for statement in schema_statements():
        session.execute(statement)
        table = statement.split("EXISTS ")[1].split()[0]
        session.execute(f"TRUNCATE {table}")
    yield CassandraArchive(session, "ONE", KEEP, clock=lambda: NOW)
    cluster.shutdown()


@pytest.fixture(params=["sqlite", "cassandra-recorded", "cassandra-cluster"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    if request.param == "sqlite":
        store = SqliteArchive(tmp_path / "archive.sqlite")
        yield store
        store.close()
    elif request.param == "cassandra-recorded":
        yield CassandraArchive(RecordingSession(), "LOCAL_QUORUM", KEEP, clock=lambda: NOW)
    else:
        if not os.environ.get("CASSANDRA_CONTACT_POINTS"):
            pytest.skip("no Cassandra cluster: set CASSANDRA_CONTACT_POINTS to run against one")
        yield from _cluster_archive()


def event(n: int, t: float, camera: str = "cam-1", zone: str = "gate",
          kind: EventKind = EventKind.ZONE_INTRUSION, cls: str = "person") -> Event:  # fmt: skip
    return Event(
        f"ev-{camera}-{n}", kind, FrameRef(camera, n, t, 640, 360), zone, cls, (f"{camera}/{n}",),
        {"dwell_s": "2.0"},
    )  # fmt: skip


def alert(n: int, t: float, count: int = 1, status: AlertStatus = AlertStatus.RAISED,
          camera: str = "cam-1") -> Alert:  # fmt: skip
    return Alert(
        f"al-{n}", camera, EventKind.ZONE_INTRUSION, "gate", Severity.HIGH, status, f"ev-{n}", t,
        t + count, count, "person", (f"{camera}/{n}",), FrameRef(camera, n, t, 640, 360), "why",
        policy_version="p-1", retention_days=30,
    )  # fmt: skip


ALL = SearchQuery(since=T0 - 3600, until=NOW, limit=1000)


def test_events_are_found_by_camera_and_window_in_time_order(archive: ArchiveStore) -> None:
    archive.save_many([event(3, T0 + 30), event(1, T0 + 10), event(2, T0 + 10, camera="cam-2")])
    found = archive.search_events(ALL)
    assert [e.event_id for e in found] == ["ev-cam-1-1", "ev-cam-2-2", "ev-cam-1-3"]
    assert found[0] == event(1, T0 + 10)
    window = replace(ALL, since=T0 + 20, until=T0 + 40)
    assert [e.event_id for e in archive.search_events(window)] == ["ev-cam-1-3"]
    one = SearchQuery(camera_id="cam-2", since=T0, until=NOW)
    assert [e.event_id for e in archive.search_events(one)] == ["ev-cam-2-2"]
    assert len(archive.search_events(replace(ALL, limit=2))) == 2


def test_a_replayed_batch_writes_the_same_rows(archive: ArchiveStore) -> None:
    batch = [event(1, T0), alert(1, T0), TrackSummary("cam-1/1", "cam-1", "car", T0, T0 + 5, 9)]
    archive.save_many(batch)
    archive.save_many(batch)
    assert len(archive.search_events(ALL)) == 1
    assert len(archive.search_alerts(ALL)) == 1
    assert len(archive.search_tracks(ALL)) == 1


def test_an_alert_never_moves_backwards(archive: ArchiveStore) -> None:
    newest = alert(1, T0, count=3, status=AlertStatus.ACKNOWLEDGED)
    archive.save_many([newest])
    archive.save_many([alert(1, T0, count=1)])  # an older copy arriving late
    (stored,) = archive.search_alerts(ALL)
    assert (stored.count, stored.status, stored.last_seen) == (3, AlertStatus.ACKNOWLEDGED, T0 + 3)


def test_a_verdict_stored_before_its_alert_still_closes_it(archive: ArchiveStore) -> None:
    verdict = Verdict("vd-1", "al-1", VerdictAction.DISMISS, "ana", "a cat", T0 + 60, "operator")
    archive.save_many([verdict])
    archive.save_many([alert(1, T0)])
    (stored,) = archive.search_alerts(ALL)
    assert stored.status is AlertStatus.DISMISSED
    assert archive.verdicts_for("al-1") == [verdict]


def test_copies_and_verdicts_in_any_order_give_the_same_alert(archive: ArchiveStore) -> None:
    # One alert's life as the alerting stage publishes it, then every order of arrival, each
    # under its own alert id so one store holds them all.
    raised = alert(1, T0, count=1)
    acknowledged = replace(alert(1, T0, count=2), status=AlertStatus.ACKNOWLEDGED)
    merged = replace(acknowledged, count=3, last_seen=T0 + 3, track_ids=("cam-1/1", "cam-1/2"))
    ack = Verdict("vd-ack", "al-1", VerdictAction.ACKNOWLEDGE, "ana", "", T0 + 2, "operator")
    dismiss = Verdict("vd-dis", "al-1", VerdictAction.DISMISS, "ana", "a cat", T0 + 4, "operator")
    items = [raised, acknowledged, merged, ack, dismiss]
    orders = list(permutations(items))
    for n, order in enumerate(orders):
        archive.save_many([replace(item, alert_id=f"al-{n}") for item in order])
    found = archive.search_alerts(ALL)
    assert len(found) == len(orders)
    assert {replace(a, alert_id="al-1") for a in found} == {
        replace(merged, status=AlertStatus.DISMISSED)
    }


def test_filters_by_cameras_zones_kinds_and_class(archive: ArchiveStore) -> None:
    archive.save_many(
        [
            event(1, T0 + 1),
            event(2, T0 + 2, camera="cam-2", zone="hall", kind=EventKind.LOITERING),
            event(3, T0 + 3, camera="cam-3", cls="car"),
        ]
    )

    def ids(**changes: object) -> list[str]:
        return [e.event_id for e in archive.search_events(replace(ALL, **changes))]

    assert ids(cameras=frozenset({"cam-2", "cam-3"})) == ["ev-cam-2-2", "ev-cam-3-3"]
    assert ids(zones=frozenset({"hall"})) == ["ev-cam-2-2"]
    assert ids(kinds=frozenset({EventKind.ZONE_INTRUSION})) == ["ev-cam-1-1", "ev-cam-3-3"]
    assert ids(class_name="car") == ["ev-cam-3-3"]


def test_tracks_by_colour_and_time_in_zone(archive: ArchiveStore) -> None:
    archive.save_many(
        [
            TrackSummary(
                "cam-1/a",
                "cam-1",
                "car",
                T0,
                T0 + 50,
                9,
                colour="red",
                seconds_in_zone={"bay": 40.0},
            ),
            TrackSummary(
                "cam-1/b",
                "cam-1",
                "car",
                T0 + 1,
                T0 + 50,
                9,
                colour="red",
                seconds_in_zone={"bay": 4.0},
            ),
            TrackSummary(
                "cam-1/c",
                "cam-1",
                "car",
                T0 + 2,
                T0 + 50,
                9,
                colour="blue",
                seconds_in_zone={"bay": 45.0},
            ),
        ]
    )
    red = archive.search_tracks(replace(ALL, colour="red"))
    assert [t.track_id for t in red] == ["cam-1/a", "cam-1/b"]
    long = replace(ALL, zones=frozenset({"bay"}), min_seconds_in_zone=30.0)
    assert [t.track_id for t in archive.search_tracks(long)] == ["cam-1/a", "cam-1/c"]
    assert red[0].seconds_in_zone == {"bay": 40.0}


def test_keyset_pages_cover_every_row_once(archive: ArchiveStore) -> None:
    archive.save_many([event(n, T0 + (n // 3)) for n in range(10)])  # ties in time
    seen: list[str] = []
    query = replace(ALL, limit=3)
    while True:
        page = archive.search_events(query)
        seen.extend(e.event_id for e in page)
        if len(page) < 3:
            break
        query = replace(query, after=Cursor(page[-1].occurred_at, page[-1].event_id))
    assert len(seen) == len(set(seen)) == 10


def test_a_snapshot_is_kept_once_per_alert(archive: ArchiveStore) -> None:
    first = Snapshot("al-1", "cam-1", "cam-1/day/al-1.jpg", 7, T0, T0 + 1, 2, 640, 360)
    archive.save_snapshot(first)
    archive.save_snapshot(replace(first, blob_key="other.jpg"))
    assert archive.snapshot_for("al-1") == first
    assert archive.snapshot_for("al-2") is None


def test_the_journal_is_chained_and_replays_append_nothing(archive: ArchiveStore) -> None:
    records = [
        AuditRecord(f"r-{n}", T0 + n, "ana", "operator", "search.events", "events", "why")
        for n in range(4)
    ]
    assert archive.append_audit(records) == 4
    assert archive.append_audit(records[1:3]) == 0
    chained = archive.audit_records()
    assert [c.seq for c in chained] == [1, 2, 3, 4]
    assert verify(chained, archive.audit_anchor()).ok
    assert archive.expire(DataKind.AUDIT, now=T0 + 2, keep_s=0) == ["r-0", "r-1"]
    assert verify(archive.audit_records(), archive.audit_anchor()).ok
    assert [c.record.record_id for c in archive.audit_records()] == ["r-2", "r-3"]


def test_a_batch_with_something_unarchivable_keeps_nothing(archive: ArchiveStore) -> None:
    with pytest.raises(TypeError, match="cannot archive a str"):
        archive.save_many([event(1, T0), "not an event"])  # type: ignore[list-item]
    assert archive.search_events(ALL) == []
