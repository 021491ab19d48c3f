"""Unit tests of the SQLite archive: migrations, idempotent upserts, searches, batches."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vigie_core.types import (
    Alert,
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    TrackSummary,
    Verdict,
    VerdictAction,
)
from vigie_storage.adapters import SchemaVersionError, SqliteArchive
from vigie_storage.adapters.migrations import (
    Migration,
    applied_versions,
    load_migrations,
    migrate,
    split_statements,
)
from vigie_storage.ports import DEFAULT_LIMIT, MAX_LIMIT, ArchiveStore, SearchQuery

T0 = 1_700_000_000.0
ALL = SearchQuery()

# --- builders -----------------------------------------------------------------------------------


def event(
    n: int = 0,
    t: float = T0,
    camera: str = "cam-1",
    zone: str = "gate",
    cls: str = "person",
    **details: str,
) -> Event:
    return Event(
        event_id=f"ev-{camera}-{n}",
        kind=EventKind.ZONE_INTRUSION,
        frame=FrameRef(camera_id=camera, sequence=100 + n, captured_at=t, width=1920, height=1080),
        zone=zone,
        class_name=cls,
        track_ids=(f"{camera}/1", f"{camera}/2"),
        details=details or {"dwell_s": "3.5", "threshold_s": "2"},
    )


def alert(
    alert_id: str = "al-1",
    first: float = T0,
    last: float = T0,
    count: int = 1,
    status: AlertStatus = AlertStatus.RAISED,
    camera: str = "cam-1",
    zone: str = "gate",
    cls: str = "person",
    frame: bool = True,
) -> Alert:
    return Alert(
        alert_id=alert_id,
        camera_id=camera,
        kind=EventKind.ZONE_INTRUSION,
        zone=zone,
        severity=Severity.HIGH,
        status=status,
        first_event_id=f"ev-{alert_id}",
        first_seen=first,
        last_seen=last,
        count=count,
        class_name=cls,
        track_ids=(f"{camera}/7",),
        frame=FrameRef(camera, 42, first, 1280, 720) if frame else None,
        reason=f"{cls} in zone {zone} at camera {camera}",
    )


def verdict(
    action: VerdictAction, alert_id: str = "al-1", at: float = T0 + 60, n: int = 0
) -> Verdict:
    return Verdict(
        verdict_id=f"vd-{alert_id}-{action}-{n}",
        alert_id=alert_id,
        action=action,
        operator="op-a",
        reason="checked the camera",
        decided_at=at,
    )


def track(
    track_id: str = "cam-1/1",
    first: float = T0,
    last: float = T0 + 5,
    camera: str = "cam-1",
    cls: str = "person",
    colour: str = "",
    zones: dict[str, float] | None = None,
) -> TrackSummary:
    return TrackSummary(
        track_id=track_id,
        camera_id=camera,
        class_name=cls,
        first_seen=first,
        last_seen=last,
        hits=12,
        path=((first, 0.1, 0.9), (last, 0.4, 0.85)),
        mean_confidence=0.8125,
        mean_speed=0.0625,
        max_speed=0.15625,
        seconds_in_zone={"gate": 3.5, "hall": 0.25} if zones is None else zones,
        colour=colour,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "archive" / "vigie.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteArchive]:
    archive = SqliteArchive(db_path)
    yield archive
    archive.close()


def count_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def migration_rows(path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()


# --- migrations ---------------------------------------------------------------------------------

SHIPPED = [m.version for m in load_migrations()]


def test_shipped_migrations_are_found_in_order() -> None:
    migrations = load_migrations()
    assert migrations[0].version == 1
    assert migrations[0].name == "initial"
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})


def test_migrations_applied_once_and_recorded(store: SqliteArchive, db_path: Path) -> None:
    rows = migration_rows(db_path)
    assert [(v, name) for v, name, _ in rows] == [
        (1, "initial"),
        (2, "track_measurements"),
        (3, "snapshots_journal_retention"),
        (4, "keyed_journal"),
        (5, "clips"),
        (6, "journal_indexes"),
    ]
    assert all(applied_at for _, _, applied_at in rows)
    assert store.schema_version == 6
    with sqlite3.connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "events",
        "alerts",
        "verdicts",
        "track_summaries",
        "track_zone_times",
        "schema_migrations",
    } <= tables


@pytest.mark.parametrize("column", ["actor", "subject", "camera_id"])
def test_a_filtered_journal_page_reads_an_index_in_order(
    store: SqliteArchive, db_path: Path, column: str
) -> None:
    """Not a scan of the whole journal, nor a sort of every match: the page's own query."""
    sql = f"SELECT * FROM audit_journal WHERE {column} = ? ORDER BY seq DESC LIMIT ?"
    with sqlite3.connect(db_path) as conn:
        plan = " | ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ["x", 51]))
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_reopening_does_not_reapply(db_path: Path) -> None:
    with SqliteArchive(db_path) as first:
        first.save_event(event())
    before = migration_rows(db_path)
    with SqliteArchive(db_path) as second:
        assert second.search_events(ALL) == [event()]
    assert migration_rows(db_path) == before


def test_migrate_on_an_up_to_date_database_applies_nothing(db_path: Path) -> None:
    SqliteArchive(db_path).close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        assert migrate(conn) == []
    finally:
        conn.close()


def test_a_newer_database_is_refused_and_left_untouched(db_path: Path) -> None:
    SqliteArchive(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', 'later')")
    with pytest.raises(SchemaVersionError, match="9999"):
        SqliteArchive(db_path)
    assert [r[0] for r in migration_rows(db_path)] == [*SHIPPED, 9999]


def test_each_migration_is_one_transaction(tmp_path: Path) -> None:
    good = Migration(1, "good", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, [good, bad])
        assert applied_versions(conn) == {1: "good"}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "a" in tables
        assert "b" not in tables  # rolled back with the failing statement
        assert not conn.in_transaction
        fixed = Migration(2, "fixed", "CREATE TABLE b (x INTEGER);")
        assert migrate(conn, [good, fixed]) == [2]
    finally:
        conn.close()


def test_unknown_version_below_the_newest_is_refused_too(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    try:
        migrate(conn, [Migration(1, "one", "SELECT 1;"), Migration(2, "two", "SELECT 1;")])
        with pytest.raises(SchemaVersionError, match=r"\[2\]"):
            migrate(conn, [Migration(1, "one", "SELECT 1;"), Migration(3, "three", "SELECT 1;")])
    finally:
        conn.close()


def test_split_statements_respects_strings_comments_and_triggers() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    /* block; comment */
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d';
        DELETE FROM t WHERE 0;
    END;
    INSERT INTO t VALUES ('e;f')
    -- trailing comment
    """
    statements = list(split_statements(sql))
    assert len(statements) == 3
    assert statements[0].endswith("DEFAULT 'a;b');")
    assert statements[1].rstrip().endswith("END;")
    assert "'e;f'" in statements[2]


def test_split_statements_refuses_an_unterminated_trigger() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        list(split_statements("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;"))


def test_connection_settings(store: SqliteArchive, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn = store._conn
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_memory_database_works() -> None:
    with SqliteArchive(":memory:") as archive:
        archive.save_event(event())
        assert archive.search_events(ALL) == [event()]


def test_implements_the_port(store: SqliteArchive) -> None:
    assert isinstance(store, ArchiveStore)


# --- idempotent upserts -------------------------------------------------------------------------


def test_same_event_twice_is_one_row(store: SqliteArchive, db_path: Path) -> None:
    store.save_event(event())
    store.save_event(event())
    assert count_rows(db_path, "events") == 1


def test_every_type_saved_twice_is_one_row(store: SqliteArchive, db_path: Path) -> None:
    items = [event(), alert(), verdict(VerdictAction.ACKNOWLEDGE), track()]
    store.save_many(items)
    store.save_many(items)
    for table in ("events", "alerts", "verdicts", "track_summaries"):
        assert count_rows(db_path, table) == 1, table


def test_alert_status_never_regresses(store: SqliteArchive) -> None:
    store.save_alert(alert(status=AlertStatus.ACKNOWLEDGED))
    store.save_alert(alert(status=AlertStatus.RAISED))
    assert store.search_alerts(ALL)[0].status == AlertStatus.ACKNOWLEDGED
    store.save_alert(alert(status=AlertStatus.DISMISSED))
    store.save_alert(alert(status=AlertStatus.ACKNOWLEDGED))
    store.save_alert(alert(status=AlertStatus.RAISED))
    assert store.search_alerts(ALL)[0].status == AlertStatus.DISMISSED


@pytest.mark.parametrize("first", [AlertStatus.CONFIRMED, AlertStatus.DISMISSED])
def test_when_closed_copies_disagree_confirmed_is_kept_whichever_came_first(
    store: SqliteArchive, first: AlertStatus
) -> None:
    second = ({AlertStatus.CONFIRMED, AlertStatus.DISMISSED} - {first}).pop()
    store.save_alert(alert(status=first))
    store.save_alert(alert(status=second))
    assert store.search_alerts(ALL)[0].status == AlertStatus.CONFIRMED


@pytest.mark.parametrize(
    "actions",
    [
        (VerdictAction.CONFIRM, VerdictAction.DISMISS),
        (VerdictAction.DISMISS, VerdictAction.CONFIRM),
    ],
)
def test_when_final_verdicts_disagree_confirmed_is_kept_whichever_came_first(
    store: SqliteArchive, actions: tuple[VerdictAction, VerdictAction]
) -> None:
    store.save_alert(alert())
    for n, action in enumerate(actions):
        store.save_verdict(verdict(action, at=T0 + 60 + n, n=n))
    assert store.search_alerts(ALL)[0].status == AlertStatus.CONFIRMED
    assert len(store.verdicts_for("al-1")) == 2  # both stay on record for the audit


def test_a_replayed_alert_copy_rewrites_nothing(db_path: Path) -> None:
    with SqliteArchive(db_path) as archive:
        archive.save_alert(alert())
        before = archive._conn.total_changes
        archive.save_many([alert(), alert()])
        assert archive._conn.total_changes == before


def test_alert_count_and_times_never_move_backwards(store: SqliteArchive) -> None:
    latest = replace(alert(first=T0, last=T0 + 30, count=3), track_ids=("cam-1/7", "cam-1/8"))
    store.save_alert(latest)
    store.save_alert(alert(first=T0, last=T0 + 20, count=2))  # an older copy, arriving late
    assert store.search_alerts(ALL) == [latest]


def test_alert_newer_copy_replaces_what_describes_it(store: SqliteArchive) -> None:
    store.save_alert(alert(first=T0, last=T0, count=1))
    newer = replace(alert(first=T0, last=T0 + 9, count=4), track_ids=("cam-1/7", "cam-1/9"))
    store.save_alert(newer)
    assert store.search_alerts(ALL) == [newer]


def test_alert_keeps_the_earliest_origin(store: SqliteArchive) -> None:
    store.save_alert(alert(first=T0 + 5, last=T0 + 10))
    earlier = replace(
        alert(first=T0, last=T0 + 10), first_event_id="ev-first", frame=FrameRef("cam-1", 1, T0)
    )
    store.save_alert(earlier)
    (stored,) = store.search_alerts(ALL)
    assert stored.first_seen == T0
    assert stored.first_event_id == "ev-first"
    assert stored.frame == FrameRef("cam-1", 1, T0)


# --- verdicts -----------------------------------------------------------------------------------


def test_verdict_advances_alert_status(store: SqliteArchive) -> None:
    store.save_alert(alert())
    store.save_verdict(verdict(VerdictAction.ACKNOWLEDGE))
    assert store.search_alerts(ALL)[0].status == AlertStatus.ACKNOWLEDGED
    store.save_verdict(verdict(VerdictAction.DISMISS, at=T0 + 90))
    assert store.search_alerts(ALL)[0].status == AlertStatus.DISMISSED


def test_late_acknowledge_does_not_reopen(store: SqliteArchive) -> None:
    store.save_alert(alert())
    store.save_verdict(verdict(VerdictAction.CONFIRM, at=T0 + 90))
    store.save_verdict(verdict(VerdictAction.ACKNOWLEDGE, at=T0 + 60))
    assert store.search_alerts(ALL)[0].status == AlertStatus.CONFIRMED


def test_verdict_without_its_alert_is_kept_and_applies_when_the_alert_arrives(
    store: SqliteArchive,
) -> None:
    store.save_verdict(verdict(VerdictAction.CONFIRM))
    assert store.search_alerts(ALL) == []
    assert store.verdicts_for("al-1") == [verdict(VerdictAction.CONFIRM)]
    store.save_alert(alert(status=AlertStatus.RAISED))
    assert store.search_alerts(ALL)[0].status == AlertStatus.CONFIRMED


def test_verdicts_for_lists_one_alert_oldest_first(store: SqliteArchive) -> None:
    ack = verdict(VerdictAction.ACKNOWLEDGE, at=T0 + 10)
    dismiss = verdict(VerdictAction.DISMISS, at=T0 + 20)
    other = verdict(VerdictAction.CONFIRM, alert_id="al-2")
    store.save_many([dismiss, other, ack])
    assert store.verdicts_for("al-1") == [ack, dismiss]
    assert store.verdicts_for("nope") == []


# --- round trips --------------------------------------------------------------------------------


def test_round_trip_event(store: SqliteArchive) -> None:
    original = event(direction="in", measured="0.75")
    store.save_event(original)
    (loaded,) = store.search_events(ALL)
    assert loaded == original
    assert isinstance(loaded.kind, EventKind)
    assert isinstance(loaded.track_ids, tuple)
    assert isinstance(loaded.details, dict)


def test_round_trip_event_without_tracks_or_details(store: SqliteArchive) -> None:
    bare = Event("ev-bare", EventKind.LINE_CROSSING, FrameRef("cam-1", 0, T0), "line-a", "car")
    store.save_event(bare)
    assert store.search_events(ALL) == [bare]


@pytest.mark.parametrize("with_frame", [True, False])
def test_round_trip_alert(store: SqliteArchive, with_frame: bool) -> None:
    original = alert(first=T0, last=T0 + 12.25, count=5, frame=with_frame)
    store.save_alert(original)
    (loaded,) = store.search_alerts(ALL)
    assert loaded == original
    assert isinstance(loaded.severity, Severity)
    assert isinstance(loaded.status, AlertStatus)
    assert isinstance(loaded.kind, EventKind)


def test_round_trip_verdict(store: SqliteArchive) -> None:
    original = verdict(VerdictAction.DISMISS)
    store.save_verdict(original)
    (loaded,) = store.verdicts_for(original.alert_id)
    assert loaded == original
    assert isinstance(loaded.action, VerdictAction)


def test_round_trip_track_summary(store: SqliteArchive) -> None:
    original = track()
    store.save_track_summary(original)
    (loaded,) = store.search_tracks(ALL)
    assert loaded == original
    assert all(isinstance(point, tuple) for point in loaded.path)


def test_round_trip_survives_reopening(db_path: Path) -> None:
    items = [event(), alert(), verdict(VerdictAction.ACKNOWLEDGE), track()]
    with SqliteArchive(db_path) as archive:
        archive.save_many(items)
    with SqliteArchive(db_path) as archive:
        assert archive.search_events(ALL) == [event()]
        assert archive.search_alerts(ALL) == [replace(alert(), status=AlertStatus.ACKNOWLEDGED)]
        assert archive.verdicts_for("al-1") == [verdict(VerdictAction.ACKNOWLEDGE)]
        assert archive.search_tracks(ALL) == [track()]


# --- searches -----------------------------------------------------------------------------------


def event_ids(events: list[Event]) -> list[str]:
    return [e.event_id for e in events]


def test_search_events_by_camera_zone_and_class(store: SqliteArchive) -> None:
    store.save_many(
        [
            event(1, camera="cam-1", zone="gate", cls="person"),
            event(2, camera="cam-2", zone="gate", cls="person"),
            event(3, camera="cam-1", zone="dock", cls="car"),
        ]
    )
    assert event_ids(store.search_events(SearchQuery(camera_id="cam-2"))) == ["ev-cam-2-2"]
    assert event_ids(store.search_events(SearchQuery(zone="dock"))) == ["ev-cam-1-3"]
    assert event_ids(store.search_events(SearchQuery(class_name="car"))) == ["ev-cam-1-3"]
    both = SearchQuery(camera_id="cam-1", class_name="person")
    assert event_ids(store.search_events(both)) == ["ev-cam-1-1"]
    assert store.search_events(SearchQuery(camera_id="cam-9")) == []


def test_search_events_time_range_is_half_open(store: SqliteArchive) -> None:
    store.save_many([event(n, t=T0 + n) for n in range(5)])
    window = SearchQuery(since=T0 + 1, until=T0 + 3)
    assert event_ids(store.search_events(window)) == ["ev-cam-1-1", "ev-cam-1-2"]
    assert event_ids(store.search_events(SearchQuery(since=T0 + 4))) == ["ev-cam-1-4"]
    assert event_ids(store.search_events(SearchQuery(until=T0 + 1))) == ["ev-cam-1-0"]
    assert store.search_events(SearchQuery(since=T0 + 2, until=T0 + 2)) == []


def test_search_events_ordered_by_time_then_limited(store: SqliteArchive) -> None:
    store.save_many([event(n, t=T0 + 10 - n) for n in range(10)])  # saved newest first
    found = store.search_events(SearchQuery(limit=3))
    assert [e.occurred_at for e in found] == [T0 + 1, T0 + 2, T0 + 3]


def test_search_alerts_filters(store: SqliteArchive) -> None:
    store.save_many(
        [
            alert("a1", camera="cam-1", zone="gate", cls="person"),
            alert("a2", camera="cam-2", zone="gate", cls="person"),
            alert("a3", camera="cam-1", zone="dock", cls="car"),
        ]
    )

    def ids(query: SearchQuery) -> list[str]:
        return [a.alert_id for a in store.search_alerts(query)]

    assert ids(SearchQuery(camera_id="cam-2")) == ["a2"]
    assert ids(SearchQuery(zone="dock")) == ["a3"]
    assert ids(SearchQuery(class_name="person")) == ["a1", "a2"]
    assert ids(SearchQuery(camera_id="cam-1", zone="gate", class_name="person")) == ["a1"]


def test_search_alerts_by_overlap_with_window(store: SqliteArchive) -> None:
    store.save_alert(alert(first=T0 + 10, last=T0 + 20))

    def found(since: float | None, until: float | None) -> bool:
        return bool(store.search_alerts(SearchQuery(since=since, until=until)))

    assert found(T0 + 20, None)  # last_seen == since: inclusive
    assert not found(T0 + 20.001, None)
    assert not found(None, T0 + 10)  # first_seen == until: exclusive
    assert found(None, T0 + 10.001)
    assert found(T0 + 12, T0 + 15)  # window inside the alert
    assert found(T0, T0 + 30)  # alert inside the window


def test_search_alerts_ordered_and_limited(store: SqliteArchive) -> None:
    store.save_many([alert(f"a{n}", first=T0 + 5 - n, last=T0 + 10) for n in range(5)])
    found = store.search_alerts(SearchQuery(limit=2))
    assert [a.first_seen for a in found] == [T0 + 1, T0 + 2]


def test_search_tracks_filters_and_overlap(store: SqliteArchive) -> None:
    store.save_many(
        [
            track("cam-1/1", first=T0, last=T0 + 5, camera="cam-1", cls="person"),
            track("cam-2/1", first=T0 + 10, last=T0 + 15, camera="cam-2", cls="person"),
            track("cam-1/2", first=T0 + 20, last=T0 + 25, camera="cam-1", cls="car"),
        ]
    )

    def ids(query: SearchQuery) -> list[str]:
        return [t.track_id for t in store.search_tracks(query)]

    assert ids(ALL) == ["cam-1/1", "cam-2/1", "cam-1/2"]
    assert ids(SearchQuery(camera_id="cam-1")) == ["cam-1/1", "cam-1/2"]
    assert ids(SearchQuery(class_name="car")) == ["cam-1/2"]
    assert ids(SearchQuery(since=T0 + 5, until=T0 + 10)) == ["cam-1/1"]
    assert ids(SearchQuery(since=T0 + 14, until=T0 + 21)) == ["cam-2/1", "cam-1/2"]
    assert ids(SearchQuery(limit=1)) == ["cam-1/1"]


def test_round_trip_track_measurements(store: SqliteArchive) -> None:
    car = track("cam-1/9", cls="car", colour="red", zones={"bay 2": 31.0, "exit": 0.0})
    quiet = track("cam-1/8", first=T0 - 1, zones={})
    store.save_many([car, quiet])
    assert store.search_tracks(ALL) == [quiet, car]


def test_a_replayed_summary_replaces_its_zone_times(store: SqliteArchive, db_path: Path) -> None:
    store.save_track_summary(track(zones={"gate": 3.5, "hall": 0.25}))
    store.save_track_summary(track(zones={"gate": 4.0}))  # a later copy of the same track
    store.save_track_summary(track(zones={"gate": 4.0}))
    (loaded,) = store.search_tracks(ALL)
    assert loaded.seconds_in_zone == {"gate": 4.0}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM track_zone_times").fetchone() == (1,)


def test_search_tracks_by_colour_and_time_in_zone(store: SqliteArchive) -> None:
    store.save_many(
        [
            track("cam-1/1", first=T0, cls="car", colour="red", zones={"bay": 45.0}),
            track("cam-1/2", first=T0 + 1, cls="car", colour="white", zones={"bay": 12.0}),
            track("cam-2/1", first=T0 + 2, camera="cam-2", cls="bus", colour="red", zones={}),
            track("cam-1/3", first=T0 + 3, zones={"bay": 31.0, "door": 2.0}),
            track("cam-1/4", first=T0 + 4, cls="car", colour="red", zones={"door": 40.0}),
        ]
    )

    def ids(**filters: Any) -> list[str]:
        return [t.track_id for t in store.search_tracks(SearchQuery(**filters))]

    assert ids(colour="red") == ["cam-1/1", "cam-2/1", "cam-1/4"]
    assert ids(colour="red", camera_id="cam-1") == ["cam-1/1", "cam-1/4"]
    assert ids(colour="blue") == []
    assert ids(zone="bay") == ["cam-1/1", "cam-1/2", "cam-1/3"]
    assert ids(zone="bay", min_seconds_in_zone=30.0) == ["cam-1/1", "cam-1/3"]
    assert ids(zone="bay", min_seconds_in_zone=30.0, colour="red") == ["cam-1/1"]
    assert ids(zone="bay", min_seconds_in_zone=31.0) == ["cam-1/1", "cam-1/3"]  # at least
    assert ids(zone="door", min_seconds_in_zone=30.0, class_name="car") == ["cam-1/4"]
    assert ids(zone="nowhere") == []
    # what is found carries all of its zone times, not only the one searched for
    (found,) = store.search_tracks(SearchQuery(zone="door", min_seconds_in_zone=1.0, limit=1))
    assert found.seconds_in_zone == {"bay": 31.0, "door": 2.0}


def test_a_colour_picks_events_and_alerts_through_their_tracks(store: SqliteArchive) -> None:
    store.save_many([event(1, zone="gate"), alert(zone="gate")])
    red = SearchQuery(zone="gate", colour="red")
    assert store.search_events(red) == [] and store.search_alerts(red) == []
    store.save_many([track("cam-1/2", colour="red"), track("cam-1/7", colour="blue")])
    assert [e.event_id for e in store.search_events(red)] == [event(1).event_id]  # cam-1/2
    assert store.search_alerts(red) == []  # its track cam-1/7 was blue
    assert len(store.search_alerts(SearchQuery(colour="blue"))) == 1


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"min_seconds_in_zone": 30.0}, "needs a zone"),
        ({"zone": "bay", "min_seconds_in_zone": -1.0}, "must be a number >= 0"),
        ({"zone": "bay", "min_seconds_in_zone": math.nan}, "must be a number >= 0"),
    ],
)
def test_time_in_zone_filter_is_checked(filters: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchQuery(**filters)


def test_a_release_1_archive_is_migrated_and_keeps_its_tracks(db_path: Path) -> None:
    # An archive written before track measurements: schema 0001 only, one summary as it stored it.
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        first_release = [m for m in load_migrations() if m.version == 1]
        assert migrate(conn, first_release) == [1]
        conn.execute(
            "INSERT INTO track_summaries (track_id, camera_id, class_name, first_seen, last_seen,"
            " hits, mean_confidence, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("cam-1/old", "cam-1", "car", T0, T0 + 5, 12, 0.8125, "[[1700000000.0,0.1,0.9]]"),
        )
    finally:
        conn.close()

    with SqliteArchive(db_path) as archive:
        assert archive.schema_version == SHIPPED[-1]
        (old,) = archive.search_tracks(ALL)
        assert (old.track_id, old.class_name, old.path) == ("cam-1/old", "car", ((T0, 0.1, 0.9),))
        # never measured: no speed, no colour, no time in any zone
        assert (old.mean_speed, old.max_speed, old.colour, old.seconds_in_zone) == (0, 0, "", {})
        new = track("cam-1/new", first=T0 + 10, cls="car", colour="red", zones={"bay": 40.0})
        archive.save_track_summary(new)
        assert archive.search_tracks(ALL) == [old, new]
        assert archive.search_tracks(SearchQuery(colour="red")) == [new]
        assert archive.search_tracks(SearchQuery(zone="bay", min_seconds_in_zone=30)) == [new]


def test_search_query_limit_defaults_and_cap() -> None:
    assert SearchQuery().limit == DEFAULT_LIMIT == 500
    assert SearchQuery(limit=0).limit == DEFAULT_LIMIT
    assert SearchQuery(limit=50_000).limit == MAX_LIMIT == 10_000
    assert SearchQuery(limit=7).limit == 7
    with pytest.raises(ValueError):
        SearchQuery(limit=-1)


# --- batches ------------------------------------------------------------------------------------


def test_save_many_writes_everything_and_counts(store: SqliteArchive) -> None:
    items = (x for x in [event(1), event(2), alert(), track()])
    assert store.save_many(items) == 4
    assert len(store.search_events(ALL)) == 2
    assert store.save_many([]) == 0


def test_save_many_is_atomic(store: SqliteArchive, db_path: Path) -> None:
    store.save_event(event(0))
    batch = [event(1), alert(), "not an archivable item", track()]
    with pytest.raises(TypeError, match="str"):
        store.save_many(batch)  # type: ignore[list-item]
    for table, expected in (("events", 1), ("alerts", 0), ("track_summaries", 0)):
        assert count_rows(db_path, table) == expected, table
    # The store is still usable after the rollback.
    store.save_many([event(1), alert()])
    assert count_rows(db_path, "events") == 2


def test_save_many_rolls_back_on_a_database_error(store: SqliteArchive, db_path: Path) -> None:
    broken = replace(event(2), frame=FrameRef("cam-1", 1, float("nan")))  # NaN is stored as NULL
    with pytest.raises(sqlite3.IntegrityError):
        store.save_many([event(1), broken])
    assert count_rows(db_path, "events") == 0


def test_concurrent_writers_and_readers_share_one_store(store: SqliteArchive) -> None:
    errors: list[BaseException] = []

    def write(camera: str) -> None:
        try:
            for n in range(50):
                store.save_many([event(n, t=T0 + n, camera=camera)])
                store.search_events(SearchQuery(camera_id=camera, limit=5))
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"cam-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.search_events(ALL)) == 200


def test_close_is_idempotent(db_path: Path) -> None:
    archive = SqliteArchive(db_path)
    archive.close()
    archive.close()
    with pytest.raises(sqlite3.ProgrammingError):
        archive.search_events(ALL)


def test_two_stores_on_one_file_open_together_and_see_each_other(db_path: Path) -> None:
    opened: list[SqliteArchive] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            opened.append(SqliteArchive(db_path))
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert [r[0] for r in migration_rows(db_path)] == SHIPPED
        writer, reader = opened[0], opened[1]
        writer.save_event(event())
        assert reader.search_events(ALL) == [event()]
    finally:
        for archive in opened:
            archive.close()


def test_ping_answers_true_while_the_database_answers(store: SqliteArchive) -> None:
    """What storage's readiness asks (rows come back as ``sqlite3.Row``, not tuples)."""
    assert store.ping() is True
