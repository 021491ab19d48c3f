"""The embedded archive: one SQLite file, no server to run.

One connection serves the whole process behind a lock: the consumer loop writes batches while
gRPC threads search, and SQLite serialises writers anyway. WAL lets other processes (a backup, a
second reader) read while a batch is written; ``synchronous=NORMAL`` is durable across process
crashes in WAL mode and only risks the last transactions on power loss, which redelivery from the
broker covers because offsets are committed after the batch is.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from enum import Enum
from functools import cache, reduce
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from vigie_core.alerting.lifecycle import most_advanced, settle
from vigie_core.journal import (
    LEGACY_KEY_ID,
    START,
    Anchor,
    ChainedRecord,
    Checkpoint,
    Keyring,
    checkpoint,
    link,
    record_data,
    record_from_data,
    seal_anchor,
)
from vigie_core.types import (
    Alert,
    AuditRecord,
    Event,
    FrameRef,
    TrackSummary,
    Verdict,
    VerdictAction,
)
from vigie_runtime.closing import ClosedOnExit
from vigie_storage.adapters.batches import SavesOneAsBatch, checked_batch
from vigie_storage.adapters.migrations import applied_versions, migrate
from vigie_storage.ports import (
    CHECKPOINT_EVERY,
    MAX_LIMIT,
    Archivable,
    Clip,
    DataKind,
    JournalPage,
    JournalQuery,
    SearchQuery,
    Snapshot,
)

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5_000

Params = dict[str, Any]


class SqliteArchive(SavesOneAsBatch, ClosedOnExit):
    """The :class:`~vigie_storage.ports.ArchiveStore` on SQLite; ``":memory:"`` for tests.

    ``keyring`` keys the audit journal (the development key when not given); a checkpoint is
    written every ``checkpoint_every`` journal records.
    """

    def __init__(
        self,
        path: str | Path,
        keyring: Keyring | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.path = str(path)
        self.keyring = keyring or Keyring.development()
        self.checkpoint_every = checkpoint_every
        self._lock = threading.RLock()
        self._closed = False
        self._conn = _connect(self.path)
        try:
            migrate(self._conn)
            self._vouch_for_unkeyed_journal()
        except BaseException:
            self._conn.close()
            raise

    # -- writes ---------------------------------------------------------------------------------

    def save_many(self, items: Iterable[Archivable]) -> int:
        """One transaction for the whole batch: all of it is stored, or none of it."""
        batch = checked_batch(items)
        with self._transaction() as conn:
            for item in batch:
                _WRITERS[type(item)](conn, item)
        return len(batch)

    # -- reads ----------------------------------------------------------------------------------

    def search_events(self, query: SearchQuery) -> list[Event]:
        rows = self._search_signals(query, "events", "occurred_at", "occurred_at", "event_id")
        return [_event_from(row) for row in rows]

    def search_alerts(self, query: SearchQuery) -> list[Alert]:
        rows = self._search_signals(query, "alerts", "first_seen", "last_seen", "alert_id")
        return [_alert_from(row) for row in rows]

    def _search_signals(
        self, query: SearchQuery, table: str, start: str, end: str, row_id: str
    ) -> list[sqlite3.Row]:
        """Events and alerts are searched alike: the common filters, zones and kinds, ordered
        by when they started, after the cursor."""
        where = _common_filter(query, table, start=start, end=end)
        where.add_in("zone", query.zones)
        where.add_in("kind", {str(k) for k in query.kinds})
        where.after(query, start, row_id)
        return self._select(
            f"SELECT * FROM {table} WHERE {where.sql} ORDER BY {start}, {row_id} LIMIT ?",
            [*where.params, query.limit],
        )

    def search_tracks(self, query: SearchQuery) -> list[TrackSummary]:
        where = _common_filter(query, "track_summaries", start="first_seen", end="last_seen")
        if query.zones:
            where.add(
                _WAS_IN_ZONE.format(marks=_marks(query.zones)),
                *sorted(query.zones),
                query.min_seconds_in_zone or 0.0,
            )
        if query.colour is not None:
            where.add("colour = ?", query.colour)
        where.after(query, "first_seen", "track_id")
        with self._lock, self._read_transaction() as conn:
            rows = conn.execute(
                f"SELECT * FROM track_summaries WHERE {where.sql}"
                " ORDER BY first_seen, track_id LIMIT ?",
                [*where.params, query.limit],
            ).fetchall()
            zones = _zone_times(conn, [row["track_id"] for row in rows])
        return [_track_from(row, zones.get(row["track_id"], {})) for row in rows]

    def verdicts_for(self, alert_id: str) -> list[Verdict]:
        rows = self._select(
            "SELECT * FROM verdicts WHERE alert_id = ? ORDER BY decided_at, verdict_id",
            [alert_id],
        )
        return [_verdict_from(row) for row in rows]

    # -- snapshots ------------------------------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._transaction() as conn:
            conn.execute(
                f"INSERT INTO snapshots ({', '.join(_SNAPSHOT_COLUMNS)})"
                f" VALUES ({', '.join(':' + c for c in _SNAPSHOT_COLUMNS)})"
                " ON CONFLICT (alert_id) DO NOTHING",
                asdict(snapshot),
            )

    def snapshot_for(self, alert_id: str) -> Snapshot | None:
        rows = self._select("SELECT * FROM snapshots WHERE alert_id = ?", [alert_id])
        return Snapshot(**{c: rows[0][c] for c in _SNAPSHOT_COLUMNS}) if rows else None

    def save_clip(self, clip: Clip) -> bool:
        """Set on the snapshot's row only while it has no clip: the first clip stays."""
        with self._transaction() as conn:
            cursor = conn.execute(
                f"UPDATE snapshots SET {', '.join(f'{c} = :{c}' for c in _CLIP_COLUMNS)}"
                " WHERE alert_id = :alert_id AND clip_key IS NULL",
                {"alert_id": clip.alert_id, **_clip_params(clip)},
            )
            return cursor.rowcount == 1

    def clip_for(self, alert_id: str) -> Clip | None:
        rows = self._select(
            f"SELECT {', '.join(_CLIP_COLUMNS)} FROM snapshots"
            " WHERE alert_id = ? AND clip_key IS NOT NULL",
            [alert_id],
        )
        return _clip_from(alert_id, rows[0]) if rows else None

    # -- the audit journal ----------------------------------------------------------------------

    def append_audit(self, records: Iterable[AuditRecord]) -> int:
        """One writer at a time (the write transaction), so the chain has one order; the
        checkpoint, when one is due, is written in the same transaction."""
        appended = 0
        with self._transaction() as conn:
            tip = _tip(conn)
            for record in records:
                known = conn.execute(
                    "SELECT 1 FROM audit_journal WHERE record_id = ?", (record.record_id,)
                ).fetchone()
                if known:
                    continue
                chained = link(tip, record, self.keyring)
                conn.execute(_INSERT_AUDIT, _audit_params(chained))
                tip = Anchor(chained.seq, chained.hash)
                appended += 1
            if appended and tip.after_seq - _last_checkpoint(conn) >= self.checkpoint_every:
                _write_checkpoint(conn, checkpoint(self.keyring, tip.after_seq, tip.hash, _now()))
        return appended

    def audit_checkpoint(self) -> Checkpoint | None:
        """A checkpoint of the journal as it is now, unless the last one already is."""
        with self._transaction() as conn:
            tip = _tip(conn)
            if tip.after_seq == 0 or tip.after_seq <= _last_checkpoint(conn):
                return None
            made = checkpoint(self.keyring, tip.after_seq, tip.hash, _now())
            _write_checkpoint(conn, made)
            return made

    def audit_checkpoints(self) -> list[Checkpoint]:
        rows = self._select("SELECT * FROM audit_checkpoints ORDER BY record_count", [])
        return [Checkpoint(*(row[c] for c in _CHECKPOINT_COLUMNS)) for row in rows]

    def _vouch_for_unkeyed_journal(self) -> None:
        """A journal written before it was keyed (records under no key, no checkpoint) gets one
        checkpoint now, which vouches for what it holds from here on. Never again after: a
        record under no key written later is a forgery."""
        with self._lock:
            seen = self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM audit_checkpoints),"
                " EXISTS (SELECT 1 FROM audit_journal WHERE key_id != ?),"
                " EXISTS (SELECT 1 FROM audit_journal)",
                (LEGACY_KEY_ID,),
            ).fetchone()
        if not seen[0] and not seen[1] and seen[2]:
            self.audit_checkpoint()

    def audit_records(self, after_seq: int = 0, limit: int = MAX_LIMIT) -> list[ChainedRecord]:
        rows = self._select(
            "SELECT * FROM audit_journal WHERE seq > ? ORDER BY seq LIMIT ?", [after_seq, limit]
        )
        return [_audit_from(row) for row in rows]

    def audit_page(self, query: JournalQuery) -> JournalPage:
        """Filtered in SQL, newest first by ``seq`` (the primary key: a page is read in order
        and stops at its limit rather than sorting every match; a time filter may use the
        ``at`` index instead). One row more than the page says whether another follows, so
        the last page carries no token to an empty one."""
        where = _Filter()
        if query.before_seq is not None:
            where.add("seq < ?", query.before_seq)
        if query.since is not None:
            where.add("at >= ?", query.since)
        if query.until is not None:
            where.add("at < ?", query.until)
        for column, value in (
            ("actor", query.actor),
            ("subject", query.subject),
            ("camera_id", query.camera_id),
        ):
            if value:
                where.add(f"{column} = ?", value)
        if query.action_prefix:
            # Not LIKE: it is case-insensitive and would need its wildcards escaped.
            where.add("substr(action, 1, ?) = ?", len(query.action_prefix), query.action_prefix)
        rows = self._select(
            f"SELECT * FROM audit_journal WHERE {where.sql} ORDER BY seq DESC LIMIT ?",
            [*where.params, query.limit + 1],
        )
        records = [_audit_from(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return JournalPage(records, records[-1].seq if more and records else None)

    def audit_anchor(self) -> Anchor:
        with self._lock:
            return _anchor(self._conn)

    def ping(self) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1").fetchone()
        return row is not None and row[0] == 1

    # -- retention ------------------------------------------------------------------------------

    def expire(self, kind: DataKind, now: float, keep_s: float) -> list[str]:
        with self._transaction() as conn:
            if kind is DataKind.ALERTS:
                return _expire_alerts(conn, now, keep_s)
            if kind is DataKind.AUDIT:
                return _expire_audit(conn, now - keep_s, self.keyring)
            return _EXPIRE[kind](conn, now - keep_s)

    @property
    def schema_version(self) -> int:
        """The newest migration applied; for health and admin endpoints."""
        with self._lock:
            return max(applied_versions(self._conn), default=0)

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Idempotent, so both the service's shutdown hook and a ``with`` block may call it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                # Refreshes the planner's statistics for the next open; cheap when nothing changed.
                self._conn.execute("PRAGMA optimize")
            finally:
                self._conn.close()

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; IMMEDIATE takes the write lock up front so a concurrent writer
        waits on the busy timeout at BEGIN instead of failing halfway through the batch."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read_transaction(self) -> Iterator[sqlite3.Connection]:
        """Several reads that must see one state of the file (a summary and its zone times),
        even while another process writes it. Call with the lock held."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _select(self, sql: str, params: list[Any]) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()


def _connect(path: str) -> sqlite3.Connection:
    if path != MEMORY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
        check_same_thread=False,  # shared between threads behind SqliteArchive._lock
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, waiting out other processes that are opening it too.

    Turning WAL on needs an exclusive lock, and SQLite answers "database is locked" at once
    instead of calling the busy handler when another connection is mid-open on the same file
    (two replicas starting together, a backup tool attaching). The switch is retried for as long
    as the busy timeout would have waited; once a file is in WAL mode the pragma is a no-op read.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
            continue
        if mode != "wal" and conn.execute("PRAGMA database_list").fetchone()[2]:
            raise sqlite3.OperationalError(f"the archive file refused WAL mode (stays {mode!r})")
        return


class _Filter:
    """The WHERE clause of one search, built condition by condition."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *values: object) -> None:
        self.clauses.append(clause)
        self.params.extend(values)

    def add_in(self, column: str, values: Iterable[str]) -> None:
        chosen = sorted(values)
        if chosen:
            self.add(f"{column} IN ({_marks(chosen)})", *chosen)

    def after(self, query: SearchQuery, time_column: str, id_column: str) -> None:
        """Keyset paging: rows strictly after the previous page's last (time, id)."""
        if query.after is not None:
            self.add(f"({time_column}, {id_column}) > (?, ?)", query.after.time, query.after.row_id)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "1"


def _marks(values: Iterable[object]) -> str:
    return ", ".join("?" for _ in values)


def _common_filter(query: SearchQuery, table: str, *, start: str, end: str) -> _Filter:
    """The filters every search has. A row spanning ``[start, end]`` matches the window
    ``[since, until)`` when it overlaps it; for events both columns are the same instant.
    A colour picks events and alerts through their tracks' summaries (vehicles named so)."""
    where = _Filter()
    where.add_in("camera_id", query.cameras)
    if query.colour is not None and table != "track_summaries":
        where.add(_TRACK_OF_COLOUR.format(table=table), query.colour)
    if query.since is not None:
        where.add(f"{end} >= ?", query.since)
    if query.until is not None:
        where.add(f"{start} < ?", query.until)
    if query.class_name is not None:
        where.add("class_name = ?", query.class_name)
    return where


# A track seen in one of some zones (parameters: the zones, at least this many seconds), by the
# zone-times index.
_WAS_IN_ZONE = (
    "EXISTS (SELECT 1 FROM track_zone_times AS z WHERE z.track_id = track_summaries.track_id"
    " AND z.zone IN ({marks}) AND z.seconds >= ?)"
)
# An event or alert one of whose tracks was a vehicle of a colour (parameter: the colour).
_TRACK_OF_COLOUR = (
    "EXISTS (SELECT 1 FROM json_each({table}.track_ids) AS j"
    " JOIN track_summaries AS t ON t.track_id = j.value WHERE t.colour = ?)"
)


def _zone_times(conn: sqlite3.Connection, track_ids: list[str]) -> dict[str, dict[str, float]]:
    """Track id -> zone -> seconds, for the tracks a search found (one query, however many)."""
    if not track_ids:
        return {}
    rows = conn.execute(
        "SELECT track_id, zone, seconds FROM track_zone_times"
        " WHERE track_id IN (SELECT value FROM json_each(?)) ORDER BY track_id, zone",
        [json.dumps(track_ids)],
    )
    found: dict[str, dict[str, float]] = {}
    for track_id, zone, seconds in rows:
        found.setdefault(track_id, {})[zone] = seconds
    return found


# -- statements ---------------------------------------------------------------------------------


def _upsert(table: str, key: str, columns: tuple[str, ...]) -> str:
    """Insert, or replace every column of the row with the same key: every id is derived from
    what the row holds (an alert's copies are combined before they are written), so a second
    write of one id is the same row or the newer state of it."""
    placeholders = ", ".join(f":{c}" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


_EVENT_COLUMNS = (
    "event_id",
    "camera_id",
    "kind",
    "zone",
    "class_name",
    "occurred_at",
    "frame_sequence",
    "frame_width",
    "frame_height",
    "track_ids",
    "details",
)
_UPSERT_EVENT = _upsert("events", "event_id", _EVENT_COLUMNS)

_FRAME_COLUMNS = (
    "frame_camera_id",
    "frame_sequence",
    "frame_captured_at",
    "frame_width",
    "frame_height",
)
_ALERT_COLUMNS = (
    "alert_id",
    "camera_id",
    "kind",
    "zone",
    "severity",
    "status",
    "first_event_id",
    "first_seen",
    "last_seen",
    "count",
    "class_name",
    "track_ids",
    *_FRAME_COLUMNS,
    "reason",
    "escalation_level",
    "policy_version",
    "retention_days",
)
_UPSERT_ALERT = _upsert("alerts", "alert_id", _ALERT_COLUMNS)

_VERDICT_COLUMNS = (
    "verdict_id",
    "alert_id",
    "action",
    "operator",
    "reason",
    "decided_at",
    "role",
)
_UPSERT_VERDICT = _upsert("verdicts", "verdict_id", _VERDICT_COLUMNS)

_TRACK_COLUMNS = (
    "track_id",
    "camera_id",
    "class_name",
    "first_seen",
    "last_seen",
    "hits",
    "mean_confidence",
    "path",
    "mean_speed",
    "max_speed",
    "colour",
)
_UPSERT_TRACK = _upsert("track_summaries", "track_id", _TRACK_COLUMNS)


# -- writers ------------------------------------------------------------------------------------

_Writer = Callable[[sqlite3.Connection, Any], None]


def _write_event(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute(_UPSERT_EVENT, _event_params(event))


def _write_alert(conn: sqlite3.Connection, alert: Alert) -> None:
    _settle_alert(conn, alert.alert_id, alert)


def _write_verdict(conn: sqlite3.Connection, verdict: Verdict) -> None:
    conn.execute(_UPSERT_VERDICT, _verdict_params(verdict))
    _settle_alert(conn, verdict.alert_id, None)


def _write_track(conn: sqlite3.Connection, summary: TrackSummary) -> None:
    conn.execute(_UPSERT_TRACK, _track_params(summary))
    # The summary is the whole truth about its track: its zone rows are replaced, not merged.
    conn.execute("DELETE FROM track_zone_times WHERE track_id = ?", (summary.track_id,))
    conn.executemany(
        "INSERT INTO track_zone_times (track_id, zone, seconds) VALUES (?, ?, ?)",
        [(summary.track_id, zone, seconds) for zone, seconds in summary.seconds_in_zone.items()],
    )


def _settle_alert(conn: sqlite3.Connection, alert_id: str, incoming: Alert | None) -> None:
    """Store what the lifecycle makes of the stored copy, the incoming one and every verdict
    given on the alert: the same row whatever order they arrived in. Read and write happen in
    the batch's write transaction, so no other writer comes between them."""
    row = conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
    stored = _alert_from(row) if row is not None else None
    copies = [copy for copy in (stored, incoming) if copy is not None]
    if not copies:
        return  # a verdict stored before its alert (they travel apart) counts once it arrives
    actions = conn.execute("SELECT action FROM verdicts WHERE alert_id = ?", (alert_id,))
    settled = settle(reduce(most_advanced, copies), (VerdictAction(a) for (a,) in actions))
    if settled != stored:
        conn.execute(_UPSERT_ALERT, _alert_params(settled))


_WRITERS: dict[type, _Writer] = {
    Event: _write_event,
    Alert: _write_alert,
    Verdict: _write_verdict,
    TrackSummary: _write_track,
}


# -- snapshots, journal, retention ----------------------------------------------------------------

_SNAPSHOT_COLUMNS = tuple(f.name for f in fields(Snapshot))
# A clip's columns on its snapshot's row (migration 0005), by field of Clip.
_CLIP_FIELDS = {
    "blob_key": "clip_key",
    "frames": "clip_frames",
    "taken_at": "clip_taken_at",
    "faces_blurred": "clip_faces_blurred",
    "width": "clip_width",
    "height": "clip_height",
}
_CLIP_COLUMNS = tuple(_CLIP_FIELDS.values())


def _clip_params(clip: Clip) -> Params:
    return {column: getattr(clip, name) for name, column in _CLIP_FIELDS.items()}


def _clip_from(alert_id: str, row: sqlite3.Row) -> Clip:
    return Clip(alert_id, **{name: row[column] for name, column in _CLIP_FIELDS.items()})


_AUDIT_COLUMNS = (
    "seq",
    "record_id",
    "at",
    "actor",
    "role",
    "action",
    "subject",
    "reason",
    "request_id",
    "camera_id",
    "details",
    "prev_hash",
    "hash",
    "key_id",
)
_INSERT_AUDIT = (
    f"INSERT INTO audit_journal ({', '.join(_AUDIT_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in _AUDIT_COLUMNS)})"
)


_CHECKPOINT_COLUMNS = ("record_count", "head_hash", "at", "key_id", "mac")


def _now() -> float:
    return time.time()


def _anchor(conn: sqlite3.Connection) -> Anchor:
    row = conn.execute(
        "SELECT after_seq, hash, key_id, mac FROM audit_anchor WHERE id = 1"
    ).fetchone()
    return Anchor(row["after_seq"], row["hash"], row["key_id"], row["mac"]) if row else START


def _tip(conn: sqlite3.Connection) -> Anchor:
    """The chain's last place: its newest record, or the anchor when it holds none."""
    last = conn.execute("SELECT seq, hash FROM audit_journal ORDER BY seq DESC LIMIT 1").fetchone()
    return Anchor(last["seq"], last["hash"]) if last else _anchor(conn)


def _last_checkpoint(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(record_count) FROM audit_checkpoints").fetchone()
    return int(row[0] or 0)


def _write_checkpoint(conn: sqlite3.Connection, made: Checkpoint) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO audit_checkpoints ({', '.join(_CHECKPOINT_COLUMNS)})"
        " VALUES (?, ?, ?, ?, ?)",
        (made.record_count, made.head_hash, made.at, made.key_id, made.mac),
    )


def _audit_params(chained: ChainedRecord) -> Params:
    data = record_data(chained.record)
    return {
        **data,
        "details": _json(data["details"]),
        "seq": chained.seq,
        "prev_hash": chained.prev_hash,
        "hash": chained.hash,
        "key_id": chained.key_id,
    }


def _audit_from(row: sqlite3.Row) -> ChainedRecord:
    data = {c: row[c] for c in _AUDIT_COLUMNS}
    data["details"] = json.loads(data["details"])
    return ChainedRecord(
        row["seq"], record_from_data(data), row["prev_hash"], row["hash"], row["key_id"]
    )


def _expired(conn: sqlite3.Connection, select: str, params: tuple[float, ...]) -> list[str]:
    """The ids ``select`` finds, for the deletes of :func:`_delete`."""
    return [row[0] for row in conn.execute(select, params).fetchall()]


def _delete(conn: sqlite3.Connection, ids: list[str], *targets: tuple[str, str]) -> list[str]:
    """Delete ``ids`` from each ``(table, id column)``, in one statement per table however
    many ids; returns ``ids``."""
    if ids:
        for table, column in targets:
            conn.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            )
    return ids


def _expire_events(conn: sqlite3.Connection, before: float) -> list[str]:
    ids = _expired(conn, "SELECT event_id FROM events WHERE occurred_at < ?", (before,))
    return _delete(conn, ids, ("events", "event_id"))


def _expire_alerts(conn: sqlite3.Connection, now: float, keep_s: float) -> list[str]:
    """Alerts last seen longer ago than their policy's retention (``retention_days``, or
    ``keep_s`` when the policy gave none); their verdicts go with them."""
    ids = _expired(
        conn,
        "SELECT alert_id FROM alerts WHERE last_seen"
        " < ? - CASE WHEN retention_days > 0 THEN retention_days * 86400.0 ELSE ? END",
        (now, keep_s),
    )
    return _delete(conn, ids, ("alerts", "alert_id"), ("verdicts", "alert_id"))


def _expire_tracks(conn: sqlite3.Connection, before: float) -> list[str]:
    ids = _expired(conn, "SELECT track_id FROM track_summaries WHERE last_seen < ?", (before,))
    return _delete(conn, ids, ("track_summaries", "track_id"), ("track_zone_times", "track_id"))


def _expire_snapshots(conn: sqlite3.Connection, before: float) -> list[str]:
    """The snapshots taken before ``before``, their clips with them: both files' keys."""
    keys = [
        key
        for row in conn.execute(
            "SELECT blob_key, clip_key FROM snapshots WHERE taken_at < ?", (before,)
        ).fetchall()
        for key in row
        if key
    ]
    conn.execute("DELETE FROM snapshots WHERE taken_at < ?", (before,))
    return keys


def _expire_audit(conn: sqlite3.Connection, before: float, keyring: Keyring) -> list[str]:
    """The oldest records go, and the chain's anchor moves to the last of them, MACed, so what
    stays still verifies and nobody without the key can move it further. Only a prefix is
    removed: a record is kept if any older one is. Checkpoints before the anchor go too."""
    rows = conn.execute("SELECT seq, record_id, hash FROM audit_journal ORDER BY seq").fetchall()
    removed: list[str] = []
    last = None
    for row in rows:
        at = conn.execute("SELECT at FROM audit_journal WHERE seq = ?", (row["seq"],)).fetchone()
        if at[0] >= before:
            break
        removed.append(row["record_id"])
        last = row
    if last is not None:
        anchor = seal_anchor(keyring, last["seq"], last["hash"])
        conn.execute("DELETE FROM audit_journal WHERE seq <= ?", (last["seq"],))
        conn.execute("DELETE FROM audit_checkpoints WHERE record_count < ?", (last["seq"],))
        conn.execute(
            "INSERT INTO audit_anchor (id, after_seq, hash, key_id, mac, removed_at)"
            " VALUES (1, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET after_seq = excluded.after_seq,"
            " hash = excluded.hash, key_id = excluded.key_id, mac = excluded.mac,"
            " removed_at = excluded.removed_at",
            (anchor.after_seq, anchor.hash, anchor.key_id, anchor.mac, _now()),
        )
    return removed


_EXPIRE: dict[DataKind, Callable[[sqlite3.Connection, float], list[str]]] = {
    DataKind.EVENTS: _expire_events,
    DataKind.TRACKS: _expire_tracks,
    DataKind.SNAPSHOTS: _expire_snapshots,
}


# -- rows <-> types -----------------------------------------------------------------------------

D = TypeVar("D")


def _json(value: object) -> str:
    # Sorted keys: a replayed item writes byte-identical text whatever its dict order.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@cache
def _enum_fields(kind: type) -> dict[str, type[Enum]]:
    """The fields of the dataclass ``kind`` declared as an enum, with their enum type."""
    hints = get_type_hints(kind)
    return {
        f.name: hints[f.name]
        for f in fields(kind)
        if isinstance(hints[f.name], type) and issubclass(hints[f.name], Enum)
    }


def _params(item: object, columns: tuple[str, ...], **stored: object) -> Params:
    """Each column from the item's field of the same name, an enum as its value; ``stored``
    gives the columns that hold something else (JSON text, a flattened frame)."""
    values = {c: stored[c] if c in stored else getattr(item, c) for c in columns}
    return {c: v.value if isinstance(v, Enum) else v for c, v in values.items()}


def _from_row(kind: type[D], row: sqlite3.Row, **read: object) -> D:
    """The dataclass ``kind`` from the row's columns named like its fields, enums read back
    through their type; ``read`` gives the fields stored otherwise."""
    enums = _enum_fields(kind)
    values: dict[str, object] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        if f.name in read:
            values[f.name] = read[f.name]
        else:
            values[f.name] = enums[f.name](row[f.name]) if f.name in enums else row[f.name]
    return kind(**values)


def _frame_params(
    frame: FrameRef | None, camera: str = "frame_camera_id", captured: str = "frame_captured_at"
) -> Params:
    """A frame's columns: an event's own camera and time columns, an alert's ``frame_*`` ones."""
    if frame is None:
        return dict.fromkeys((camera, "frame_sequence", captured, "frame_width", "frame_height"))
    return {
        camera: frame.camera_id,
        "frame_sequence": frame.sequence,
        captured: frame.captured_at,
        "frame_width": frame.width,
        "frame_height": frame.height,
    }


def _frame_at(
    row: sqlite3.Row, camera: str = "frame_camera_id", captured: str = "frame_captured_at"
) -> FrameRef:
    return FrameRef(
        row[camera], row["frame_sequence"], row[captured], row["frame_width"], row["frame_height"]
    )


def _event_params(event: Event) -> Params:
    return _params(
        event,
        _EVENT_COLUMNS,
        **_frame_params(event.frame, "camera_id", "occurred_at"),
        track_ids=_json(list(event.track_ids)),
        details=_json(dict(event.details)),
    )


def _event_from(row: sqlite3.Row) -> Event:
    return _from_row(
        Event,
        row,
        frame=_frame_at(row, "camera_id", "occurred_at"),
        track_ids=tuple(json.loads(row["track_ids"])),
        details=dict(json.loads(row["details"])),
    )


def _alert_params(alert: Alert) -> Params:
    return _params(
        alert,
        _ALERT_COLUMNS,
        **_frame_params(alert.frame),
        track_ids=_json(list(alert.track_ids)),
    )


def _alert_from(row: sqlite3.Row) -> Alert:
    return _from_row(
        Alert,
        row,
        frame=None if row["frame_sequence"] is None else _frame_at(row),
        track_ids=tuple(json.loads(row["track_ids"])),
    )


def _verdict_params(verdict: Verdict) -> Params:
    return _params(verdict, _VERDICT_COLUMNS)


def _verdict_from(row: sqlite3.Row) -> Verdict:
    return _from_row(Verdict, row)


def _track_params(summary: TrackSummary) -> Params:
    return _params(summary, _TRACK_COLUMNS, path=_json([list(point) for point in summary.path]))


def _track_from(row: sqlite3.Row, seconds_in_zone: dict[str, float]) -> TrackSummary:
    return _from_row(
        TrackSummary,
        row,
        path=tuple(tuple(point) for point in json.loads(row["path"])),
        seconds_in_zone=seconds_in_zone,
    )
