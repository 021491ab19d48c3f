"""The archive on Cassandra, the production store: the same port as the SQLite adapter.

- **Layout** (``schema.cql``): searchable tables partitioned by ``(camera_id, day)`` and clustered
  by time, so a search for cameras and a time range reads a few bounded partitions in order.
- **Prepared statements** only, each with the configured consistency (``LOCAL_QUORUM`` by
  default); the journal's compare-and-set uses ``LOCAL_SERIAL``.
- **Retention by TTL**, set per write from the retention settings (an alert with its own
  ``retention_days`` from the alert policy gets that). ``expire`` therefore deletes nothing for
  events, alerts and tracks (Cassandra does it) and only lists snapshots, whose files must go too.
- **Idempotent writes**: keys are the pipeline's deterministic ids; a replay rewrites the same
  cells. An alert's copies arrive in any order, so each is written with a timestamp that grows
  with its state (the lifecycle's ``progress_key``: last sighting, then status, escalation,
  count): the most advanced copy wins whatever the order. Verdicts live in their own table and
  move the status at read time (the lifecycle's ``settle``).
- **Batches** are not atomic across partitions here: every item is checked before any is
  written, then each is written; a failure raises, the batch is redelivered and rewritten.

Differences with SQLite, on purpose: searches filter zones, kinds, class and colour on the
client after reading the camera-day partitions in range (bounded by ``limit``); a search with no
camera reads the camera list first; alerts are found by the day they started, scanning from one
day before ``since``, so an alert open for more than a day before the window is not found; a
listing of the journal walks its one partition newest first and filters on the client, at most
``AUDIT_SCAN_MAX`` records per page asked for (``audit_page``); and
the row of an alert is one whole copy, the furthest along, where SQLite combines the copies field
by field (``most_advanced``). Both give the same alert for copies made one after another, as one
alerting replica makes them; only copies from two diverging histories (two replicas briefly
owning one camera) can differ, and then the status is still recovered from the verdicts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from vigie_core.alerting.lifecycle import progress_key, settle
from vigie_core.journal import (
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
from vigie_runtime.settings import StrictModel
from vigie_storage.adapters.batches import SavesOneAsBatch, checked_batch
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

log = logging.getLogger(__name__)

SCHEMA = Path(__file__).with_name("schema.cql")
CHAIN = "main"
CAMERA_BUCKET = 0
ALERT_SCAN_BACK_DAYS = 1
DAY_S = 86_400
# Listing the journal walks its partition newest first, in chunks, filtering here: at most this
# many records are read per page asked for (a page cut short says where to continue).
AUDIT_SCAN_CHUNK = 500
AUDIT_SCAN_MAX = 20_000
NEWEST_SEQ = 2**63 - 1  # above every seq (a bigint): "before" the newest record
CONSISTENCY_NAMES = ("ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL")


class CassandraSettings(StrictModel):
    """Where the cluster is and how hard to ask it. ``contact_points`` empty: not used."""

    contact_points: list[str] = []
    port: int = 9042
    keyspace: str = "vigie"
    local_dc: str | None = None
    consistency: str = "LOCAL_QUORUM"
    username: str | None = None
    password_env: str | None = None  # the password is read from this environment variable
    request_timeout_s: float = 10.0


class Session(Protocol):
    """What the adapter uses of ``cassandra.cluster.Session``."""

    def prepare(self, query: str) -> Any: ...

    def execute(self, statement: Any, parameters: Any = None) -> Iterable[Any]: ...


def schema_statements() -> list[str]:
    """The CREATE TABLE statements of ``schema.cql``, comments removed, one per item."""
    text = "\n".join(
        line for line in SCHEMA.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("--")
    )  # fmt: skip
    return [s.strip() for s in text.split(";") if s.strip()]


def _day(t: float) -> date:
    return datetime.fromtimestamp(t, UTC).date()


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def alert_version(alert: Alert) -> int:
    """The write timestamp of an alert's row: the lifecycle's :func:`progress_key` packed into one
    integer (last sighting in ms, then status rank, escalation up to 99, count up to 999), so the
    copy that went furthest wins whatever order the copies are written in."""
    last_seen, status_rank, escalation, count = progress_key(alert)
    return (
        int(last_seen * 1000) * 1_000_000
        + status_rank * 100_000
        + min(escalation, 99) * 1_000
        + min(count, 999)
    )


@dataclass(frozen=True, slots=True)
class _Ttl:
    events: int
    alerts: int
    tracks: int
    snapshots: int
    audit: int


_STATEMENTS = {
    "camera": "INSERT INTO cameras (bucket, camera_id) VALUES (?, ?)",
    "cameras": "SELECT camera_id FROM cameras WHERE bucket = ?",
    "event": (
        "INSERT INTO events_by_camera_day (camera_id, day, occurred_at, event_id, kind, zone,"
        " class_name, frame_sequence, frame_width, frame_height, occurred_s, track_ids, details)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    ),
    "events": (
        "SELECT * FROM events_by_camera_day WHERE camera_id = ? AND day = ?"
        " AND occurred_at >= ? AND occurred_at < ? LIMIT ?"
    ),
    "alert": (
        "INSERT INTO alerts_by_camera_day (camera_id, day, first_seen, alert_id, first_seen_s,"
        " last_seen_s, kind, zone, severity, status, first_event_id, count, class_name,"
        " track_ids, frame_sequence, frame_captured_s, frame_width, frame_height, reason,"
        " escalation_level, policy_version, retention_days)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " USING TTL ? AND TIMESTAMP ?"
    ),
    "alert_id": (
        "INSERT INTO alerts_by_id (alert_id, camera_id, day, first_seen_s) VALUES (?, ?, ?, ?)"
        " USING TTL ?"
    ),
    "alerts": (
        "SELECT * FROM alerts_by_camera_day WHERE camera_id = ? AND day = ?"
        " AND first_seen < ? LIMIT ?"
    ),
    "verdict": (
        "INSERT INTO verdicts_by_alert (alert_id, decided_at, verdict_id, action, operator, role,"
        " reason, decided_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    ),
    "verdicts": "SELECT * FROM verdicts_by_alert WHERE alert_id = ?",
    "track": (
        "INSERT INTO tracks_by_camera_day (camera_id, day, first_seen, track_id, first_seen_s,"
        " last_seen_s, class_name, hits, mean_confidence, path, mean_speed, max_speed, colour,"
        " seconds_in_zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    ),
    "tracks": (
        "SELECT * FROM tracks_by_camera_day WHERE camera_id = ? AND day = ?"
        " AND first_seen < ? LIMIT ?"
    ),
    "snapshot": (
        "INSERT INTO snapshots_by_alert (alert_id, camera_id, blob_key, frame_sequence,"
        " captured_s, taken_s, faces_blurred, width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " IF NOT EXISTS USING TTL ?"
    ),
    "snapshot_get": "SELECT * FROM snapshots_by_alert WHERE alert_id = ?",
    "snapshots_all": (
        "SELECT alert_id, blob_key, taken_s, clip_key, clip_taken_s FROM snapshots_by_alert"
    ),
    # A clip's cells on its snapshot's row: a plain upsert of other columns than the snapshot's
    # (no compare-and-set: save_clip reads the row first, and a second writer of one alert's
    # clip writes the same key; the clip is found by its blob's own header anyway).
    "clip": (
        "INSERT INTO snapshots_by_alert (alert_id, clip_key, clip_frames, clip_taken_s,"
        " clip_faces_blurred, clip_width, clip_height) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    ),
    "snapshot_delete": "DELETE FROM snapshots_by_alert WHERE alert_id = ?",
    "audit_known": "SELECT seq FROM audit_by_record WHERE record_id = ?",
    "audit_tip": "SELECT seq, hash FROM audit_journal WHERE chain = ? ORDER BY seq DESC LIMIT 1",
    "audit_append": (
        "INSERT INTO audit_journal (chain, seq, record_id, at, actor, role, action, subject,"
        " reason, request_id, camera_id, details, prev_hash, hash, key_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
    ),
    "audit_index": "INSERT INTO audit_by_record (record_id, seq) VALUES (?, ?)",
    "audit_read": "SELECT * FROM audit_journal WHERE chain = ? AND seq > ? LIMIT ?",
    "audit_read_back": (
        "SELECT * FROM audit_journal WHERE chain = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
    ),
    "audit_anchor": "SELECT after_seq, hash, key_id, mac FROM audit_anchor WHERE chain = ?",
    "audit_anchor_set": (
        "INSERT INTO audit_anchor (chain, after_seq, hash, key_id, mac) VALUES (?, ?, ?, ?, ?)"
    ),
    "audit_trim": "DELETE FROM audit_journal WHERE chain = ? AND seq <= ?",
    "checkpoint_set": (
        "INSERT INTO audit_checkpoints (chain, record_count, head_hash, at, key_id, mac)"
        " VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "checkpoints": "SELECT * FROM audit_checkpoints WHERE chain = ?",
    "checkpoint_last": (
        "SELECT record_count FROM audit_checkpoints WHERE chain = ?"
        " ORDER BY record_count DESC LIMIT 1"
    ),
    "checkpoint_trim": "DELETE FROM audit_checkpoints WHERE chain = ? AND record_count < ?",
}
_LWT = frozenset({"snapshot", "audit_append"})


class CassandraArchive(SavesOneAsBatch):
    """The :class:`~vigie_storage.ports.ArchiveStore` on a Cassandra session."""

    def __init__(
        self,
        session: Session,
        consistency: str,
        keep_days: Mapping[DataKind, float],
        clock: Callable[[], float] = time.time,
        keyring: Keyring | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        """``keyring`` keys the audit journal (the development key when not given)."""
        if consistency not in CONSISTENCY_NAMES:
            raise ValueError(f"unknown consistency {consistency!r}; one of {CONSISTENCY_NAMES}")
        self.session = session
        self.clock = clock
        self.keyring = keyring or Keyring.development()
        self.checkpoint_every = checkpoint_every
        self.ttl = _Ttl(*(int(keep_days[k] * DAY_S) for k in DataKind))
        self._keep_s = {k: keep_days[k] * DAY_S for k in DataKind}
        self._prepared = {
            name: self._prepare(name, cql, consistency) for name, cql in _STATEMENTS.items()
        }

    def _prepare(self, name: str, cql: str, consistency: str) -> Any:
        from cassandra import ConsistencyLevel

        prepared = self.session.prepare(cql)
        prepared.consistency_level = getattr(ConsistencyLevel, consistency)
        if name in _LWT:
            prepared.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        return prepared

    def _run(self, name: str, *values: Any) -> list[Any]:
        return list(self.session.execute(self._prepared[name], values))

    def ping(self) -> bool:
        """A local read of the coordinator's own table: the cluster is reachable."""
        return bool(list(self.session.execute("SELECT release_version FROM system.local")))

    @classmethod
    def connect(
        cls,
        settings: CassandraSettings,
        keep_days: Mapping[DataKind, float],
        keyring: Keyring | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> CassandraArchive:
        """A session on the configured cluster; the schema must have been applied."""
        import os

        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

        auth = None
        if settings.username:
            password = os.environ.get(settings.password_env or "", "")
            auth = PlainTextAuthProvider(settings.username, password)
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(settings.local_dc)),
            request_timeout=settings.request_timeout_s,
        )
        cluster = Cluster(
            settings.contact_points,
            port=settings.port,
            auth_provider=auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        session = cluster.connect(settings.keyspace)
        return cls(
            session,
            settings.consistency,
            keep_days,
            keyring=keyring,
            checkpoint_every=checkpoint_every,
        )

    # -- writes -----------------------------------------------------------------------------------

    def save_many(self, items: Iterable[Archivable]) -> int:
        batch = checked_batch(items)  # nothing is written if anything is not archivable
        cameras = {i.camera_id for i in batch if isinstance(i, Event | Alert | TrackSummary)}
        for camera_id in sorted(cameras):
            self._run("camera", CAMERA_BUCKET, camera_id)
        for item in batch:
            if isinstance(item, Event):
                self._write_event(item)
            elif isinstance(item, Alert):
                self._write_alert(item)
            elif isinstance(item, Verdict):
                self._write_verdict(item)
            else:
                self._write_track(item)
        return len(batch)

    def _write_event(self, e: Event) -> None:
        self._run(
            "event", e.camera_id, _day(e.occurred_at), _dt(e.occurred_at), e.event_id, str(e.kind),
            e.zone, e.class_name, e.frame.sequence, e.frame.width, e.frame.height, e.occurred_at,
            list(e.track_ids), dict(e.details), self.ttl.events,
        )  # fmt: skip

    def _alert_ttl(self, alert: Alert) -> int:
        return alert.retention_days * DAY_S if alert.retention_days > 0 else self.ttl.alerts

    def _write_alert(self, a: Alert) -> None:
        f = a.frame
        ttl = self._alert_ttl(a)
        self._run(
            "alert", a.camera_id, _day(a.first_seen), _dt(a.first_seen), a.alert_id, a.first_seen,
            a.last_seen, str(a.kind), a.zone, str(a.severity), str(a.status), a.first_event_id,
            a.count, a.class_name, list(a.track_ids), f.sequence if f else None,
            f.captured_at if f else None, f.width if f else None, f.height if f else None,
            a.reason, a.escalation_level, a.policy_version, a.retention_days, ttl,
            alert_version(a),
        )  # fmt: skip
        self._run("alert_id", a.alert_id, a.camera_id, _day(a.first_seen), a.first_seen, ttl)

    def _write_verdict(self, v: Verdict) -> None:
        self._run(
            "verdict", v.alert_id, _dt(v.decided_at), v.verdict_id, str(v.action), v.operator,
            v.role, v.reason, v.decided_at, self.ttl.alerts,
        )  # fmt: skip

    def _write_track(self, t: TrackSummary) -> None:
        self._run(
            "track", t.camera_id, _day(t.first_seen), _dt(t.first_seen), t.track_id,
            t.first_seen, t.last_seen, t.class_name, t.hits, t.mean_confidence,
            json.dumps([list(p) for p in t.path]), t.mean_speed, t.max_speed, t.colour,
            dict(t.seconds_in_zone), self.ttl.tracks,
        )  # fmt: skip

    # -- reads ------------------------------------------------------------------------------------

    def _cameras(self, query: SearchQuery) -> list[str]:
        if query.cameras:
            return sorted(query.cameras)
        return sorted(row.camera_id for row in self._run("cameras", CAMERA_BUCKET))

    def _days(self, query: SearchQuery, kind: DataKind, back_days: int = 0) -> list[date]:
        now = self.clock()
        since = query.since if query.since is not None else now - self._keep_s[kind]
        until = query.until if query.until is not None else now + DAY_S
        first, last = _day(since) - timedelta(days=back_days), _day(until)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def _window(self, query: SearchQuery) -> tuple[datetime, datetime]:
        since = query.since if query.since is not None else 0.0
        until = query.until if query.until is not None else self.clock() + 366 * DAY_S
        return _dt(since), _dt(until)

    def _scan(
        self,
        query: SearchQuery,
        read: Callable[[str, date], list[Any]],
        days: list[date],
        key: Callable[[Any], tuple[float, str]],
        keep: Callable[[Any], bool],
    ) -> list[Any]:
        """Rows of every camera, day by day, filtered, after the cursor, first ``limit``."""
        found: list[Any] = []
        for camera_id in self._cameras(query):
            taken = 0
            for day in days:
                for row in read(camera_id, day):
                    if query.after is not None and key(row) <= (
                        query.after.time,
                        query.after.row_id,
                    ):
                        continue
                    if keep(row):
                        found.append(row)
                        taken += 1
                if taken >= query.limit:
                    break
        found.sort(key=key)
        return found[: query.limit]

    def _colour_tracks(self, query: SearchQuery) -> set[str] | None:
        if query.colour is None:
            return None
        wide = SearchQuery(
            cameras=query.cameras, since=query.since, until=query.until, colour=query.colour,
            limit=MAX_LIMIT,
        )  # fmt: skip
        return {t.track_id for t in self.search_tracks(wide)}

    def search_events(self, query: SearchQuery) -> list[Event]:
        since, until = self._window(query)
        coloured = self._colour_tracks(query)
        rows = self._scan(
            query,
            lambda cam, day: self._run("events", cam, day, since, until, MAX_LIMIT),
            self._days(query, DataKind.EVENTS),
            key=lambda r: (r.occurred_s, r.event_id),
            keep=lambda r: (
                _keeps(query, r.zone, r.kind, r.class_name)
                and (coloured is None or bool(coloured & set(r.track_ids or ())))
            ),
        )
        return [_event_from(r) for r in rows]

    def search_alerts(self, query: SearchQuery) -> list[Alert]:
        _, until = self._window(query)
        since = query.since
        coloured = self._colour_tracks(query)
        rows = self._scan(
            query,
            lambda cam, day: self._run("alerts", cam, day, until, MAX_LIMIT),
            self._days(query, DataKind.ALERTS, back_days=ALERT_SCAN_BACK_DAYS),
            key=lambda r: (r.first_seen_s, r.alert_id),
            keep=lambda r: (
                (since is None or r.last_seen_s >= since)
                and _keeps(query, r.zone, r.kind, r.class_name)
                and (coloured is None or bool(coloured & set(r.track_ids or ())))
            ),
        )
        return [self._with_verdicts(_alert_from(r)) for r in rows]

    def _with_verdicts(self, alert: Alert) -> Alert:
        """A verdict moves the status even when the alert's own copy has not caught up."""
        return settle(alert, (v.action for v in self.verdicts_for(alert.alert_id)))

    def search_tracks(self, query: SearchQuery) -> list[TrackSummary]:
        _, until = self._window(query)
        since = query.since
        minimum = query.min_seconds_in_zone or 0.0

        def keep(r: Any) -> bool:
            if since is not None and r.last_seen_s < since:
                return False
            if query.class_name is not None and r.class_name != query.class_name:
                return False
            if query.colour is not None and r.colour != query.colour:
                return False
            zones = r.seconds_in_zone or {}
            return not query.zones or any(zones.get(z, -1.0) >= minimum for z in query.zones)

        rows = self._scan(
            query,
            lambda cam, day: self._run("tracks", cam, day, until, MAX_LIMIT),
            self._days(query, DataKind.TRACKS, back_days=ALERT_SCAN_BACK_DAYS),
            key=lambda r: (r.first_seen_s, r.track_id),
            keep=keep,
        )
        return [_track_from(r) for r in rows]

    def verdicts_for(self, alert_id: str) -> list[Verdict]:
        rows = self._run("verdicts", alert_id)
        verdicts = [
            Verdict(
                r.verdict_id,
                r.alert_id,
                VerdictAction(r.action),
                r.operator,
                r.reason,
                r.decided_s,
                role=r.role or "",
            )
            for r in rows
        ]
        return sorted(verdicts, key=lambda v: (v.decided_at, v.verdict_id))

    # -- snapshots --------------------------------------------------------------------------------

    def save_snapshot(self, s: Snapshot) -> None:
        self._run(
            "snapshot", s.alert_id, s.camera_id, s.blob_key, s.frame_sequence, s.captured_at,
            s.taken_at, s.faces_blurred, s.width, s.height, self.ttl.snapshots + DAY_S,
        )  # fmt: skip

    def snapshot_for(self, alert_id: str) -> Snapshot | None:
        rows = self._run("snapshot_get", alert_id)
        if not rows:
            return None
        r = rows[0]
        return Snapshot(
            r.alert_id, r.camera_id, r.blob_key, r.frame_sequence, r.captured_s, r.taken_s,
            r.faces_blurred, r.width or 0, r.height or 0,
        )  # fmt: skip

    def save_clip(self, clip: Clip) -> bool:
        """On the snapshot's row, with the snapshot's TTL, unless the row is missing or already
        has a clip (read first: the snapshot stage writes one alert's clip from one place)."""
        rows = self._run("snapshot_get", clip.alert_id)
        if not rows or getattr(rows[0], "clip_key", None):
            return False
        self._run(
            "clip", clip.alert_id, clip.blob_key, clip.frames, clip.taken_at, clip.faces_blurred,
            clip.width, clip.height, self.ttl.snapshots + DAY_S,
        )  # fmt: skip
        return True

    def clip_for(self, alert_id: str) -> Clip | None:
        rows = self._run("snapshot_get", alert_id)
        # Rows written before clips existed, or without one, have no clip cells at all.
        if not rows or not getattr(rows[0], "clip_key", None):
            return None
        r = rows[0]
        return Clip(
            alert_id, r.clip_key, r.clip_frames or 0, r.clip_taken_s or 0.0,
            r.clip_faces_blurred or 0, r.clip_width or 0, r.clip_height or 0,
        )  # fmt: skip

    # -- the audit journal -------------------------------------------------------------------------

    def _tip(self) -> Anchor:
        rows = self._run("audit_tip", CHAIN)
        return Anchor(rows[0].seq, rows[0].hash) if rows else self.audit_anchor()

    def append_audit(self, records: Iterable[AuditRecord]) -> int:
        """Each record claims the next seq with a compare-and-set; a writer that loses the race
        re-reads the tip and links after the winner. A checkpoint follows when one is due."""
        appended = 0
        tip = None
        for record in records:
            if self._run("audit_known", record.record_id):
                continue
            for _ in range(20):
                chained = link(self._tip(), record, self.keyring)
                data = record_data(record)
                result = self._run(
                    "audit_append", CHAIN, chained.seq, data["record_id"], data["at"],
                    data["actor"], data["role"], data["action"], data["subject"], data["reason"],
                    data["request_id"], data["camera_id"], data["details"], chained.prev_hash,
                    chained.hash, chained.key_id,
                )  # fmt: skip
                if not result or getattr(result[0], "applied", True):
                    self._run("audit_index", record.record_id, chained.seq)
                    tip = Anchor(chained.seq, chained.hash)
                    appended += 1
                    break
            else:
                raise RuntimeError("could not claim a place in the audit journal (contention)")
        if tip is not None and tip.after_seq - self._last_checkpoint() >= self.checkpoint_every:
            self._write_checkpoint(checkpoint(self.keyring, tip.after_seq, tip.hash, self.clock()))
        return appended

    def _last_checkpoint(self) -> int:
        rows = self._run("checkpoint_last", CHAIN)
        return int(rows[0].record_count) if rows else 0

    def _write_checkpoint(self, made: Checkpoint) -> None:
        self._run(
            "checkpoint_set", CHAIN, made.record_count, made.head_hash, made.at, made.key_id,
            made.mac,
        )  # fmt: skip

    def audit_checkpoint(self) -> Checkpoint | None:
        tip = self._tip()
        if tip.after_seq == 0 or tip.after_seq <= self._last_checkpoint():
            return None
        made = checkpoint(self.keyring, tip.after_seq, tip.hash, self.clock())
        self._write_checkpoint(made)
        return made

    def audit_checkpoints(self) -> list[Checkpoint]:
        rows = self._run("checkpoints", CHAIN)
        found = [Checkpoint(r.record_count, r.head_hash, r.at, r.key_id, r.mac) for r in rows]
        return sorted(found, key=lambda c: c.record_count)

    def audit_records(self, after_seq: int = 0, limit: int = MAX_LIMIT) -> list[ChainedRecord]:
        rows = self._run("audit_read", CHAIN, after_seq, limit)
        return [_chained_from(r) for r in rows]

    def audit_page(self, query: JournalQuery) -> JournalPage:
        """The journal is one partition clustered by seq, and its filters are on no key, so
        Cassandra can only walk it: newest first, :data:`AUDIT_SCAN_CHUNK` records at a time,
        filtered here, at most :data:`AUDIT_SCAN_MAX` records per call. A page the bound cuts
        short (fewer records than ``limit``, even none) says where to continue, so a rare
        filter over a long journal costs several calls rather than one unbounded read. Like
        SQLite, a full page looks for one match more, so the last page names no next one."""
        before = query.before_seq if query.before_seq is not None else NEWEST_SEQ
        found: list[ChainedRecord] = []
        scanned = 0
        while scanned < AUDIT_SCAN_MAX:
            asked = min(AUDIT_SCAN_CHUNK, AUDIT_SCAN_MAX - scanned)
            rows = self._run("audit_read_back", CHAIN, before, asked)
            for row in rows:
                scanned += 1
                before = row.seq
                chained = _chained_from(row)
                if query.matches(chained.record):
                    found.append(chained)
                    if len(found) > query.limit:  # one more than the page: another follows
                        return JournalPage(found[:-1], found[-2].seq)
            if len(rows) < asked:
                return JournalPage(found, None)  # walked back to the chain's start
        return JournalPage(found, before)

    def audit_anchor(self) -> Anchor:
        rows = self._run("audit_anchor", CHAIN)
        if not rows:
            return START
        row = rows[0]
        return Anchor(row.after_seq, row.hash, row.key_id or "", row.mac or "")

    # -- retention --------------------------------------------------------------------------------

    def expire(self, kind: DataKind, now: float, keep_s: float) -> list[str]:
        cutoff = now - keep_s
        if kind is DataKind.SNAPSHOTS:
            keys = []
            for row in self._run("snapshots_all"):
                taken = row.taken_s if row.taken_s is not None else row.clip_taken_s
                if taken is not None and taken < cutoff:
                    self._run("snapshot_delete", row.alert_id)
                    keys.extend(key for key in (row.blob_key, row.clip_key) if key)
            return keys
        if kind is DataKind.AUDIT:
            return self._trim_audit(cutoff)
        return []  # events, alerts and tracks expire by TTL

    def _trim_audit(self, cutoff: float) -> list[str]:
        removed: list[str] = []
        last: ChainedRecord | None = None
        for chained in self.audit_records(self.audit_anchor().after_seq):
            if chained.record.at >= cutoff:
                break
            removed.append(chained.record.record_id)
            last = chained
        if last is not None:
            anchor = seal_anchor(self.keyring, last.seq, last.hash)
            self._run("audit_anchor_set", CHAIN, *_anchor_values(anchor))
            self._run("audit_trim", CHAIN, last.seq)
            self._run("checkpoint_trim", CHAIN, last.seq)
        return removed

    def close(self) -> None:
        shutdown = getattr(getattr(self.session, "cluster", None), "shutdown", None)
        if shutdown is not None:
            shutdown()


def _chained_from(r: Any) -> ChainedRecord:
    """A journal row as the chain record it stores."""
    return ChainedRecord(
        r.seq,
        record_from_data(
            {
                "record_id": r.record_id,
                "at": r.at,
                "actor": r.actor,
                "role": r.role,
                "action": r.action,
                "subject": r.subject,
                "reason": r.reason,
                "request_id": r.request_id,
                "camera_id": r.camera_id,
                "details": r.details or {},
            }
        ),
        r.prev_hash,
        r.hash,
        r.key_id or "",
    )


def _anchor_values(anchor: Anchor) -> tuple[int, str, str, str]:
    return anchor.after_seq, anchor.hash, anchor.key_id, anchor.mac


def _keeps(query: SearchQuery, zone: str, kind: str, class_name: str) -> bool:
    return (
        (not query.zones or zone in query.zones)
        and (not query.kinds or EventKind(kind) in query.kinds)
        and (query.class_name is None or class_name == query.class_name)
    )


def _event_from(r: Any) -> Event:
    frame = FrameRef(r.camera_id, r.frame_sequence, r.occurred_s, r.frame_width, r.frame_height)
    return Event(
        r.event_id, EventKind(r.kind), frame, r.zone, r.class_name, tuple(r.track_ids or ()),
        dict(r.details or {}),
    )  # fmt: skip


def _alert_from(r: Any) -> Alert:
    frame = (
        FrameRef(r.camera_id, r.frame_sequence, r.frame_captured_s, r.frame_width, r.frame_height)
        if r.frame_sequence is not None
        else None
    )
    return Alert(
        alert_id=r.alert_id,
        camera_id=r.camera_id,
        kind=EventKind(r.kind),
        zone=r.zone,
        severity=Severity(r.severity),
        status=AlertStatus(r.status),
        first_event_id=r.first_event_id,
        first_seen=r.first_seen_s,
        last_seen=r.last_seen_s,
        count=r.count,
        class_name=r.class_name or "",
        track_ids=tuple(r.track_ids or ()),
        frame=frame,
        reason=r.reason or "",
        escalation_level=r.escalation_level or 0,
        policy_version=r.policy_version or "",
        retention_days=r.retention_days or 0,
    )


def _track_from(r: Any) -> TrackSummary:
    return TrackSummary(
        track_id=r.track_id,
        camera_id=r.camera_id,
        class_name=r.class_name,
        first_seen=r.first_seen_s,
        last_seen=r.last_seen_s,
        hits=r.hits,
        path=tuple(tuple(p) for p in json.loads(r.path or "[]")),
        mean_confidence=r.mean_confidence or 0.0,
        mean_speed=r.mean_speed or 0.0,
        max_speed=r.max_speed or 0.0,
        colour=r.colour or "",
        seconds_in_zone=dict(r.seconds_in_zone or {}),
    )
