"""The archive port: what the storage service and the Archive search API need from a store.

The embedded SQLite adapter is the default; the Cassandra adapter implements the same port, and
one contract test suite runs against both.
Delivery upstream is at-least-once, so every write is an idempotent upsert keyed by the
deterministic id the producing stage computed: replaying a batch rewrites the same rows.

Alerts arrive from two places (the alerting stage republishes an alert whenever it merges or a
verdict moves it, and verdicts arrive on their own topic), in no guaranteed order relative to
each other. A store therefore never lets an alert move backwards: it keeps what the lifecycle
(``vigie_core.alerting.lifecycle``) makes of the copies it received (``most_advanced``), with
the status moved on by the verdicts stored for the alert (``settle``), so the same copies and
verdicts give the same row in any order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeAlias, runtime_checkable

from vigie_core.journal import Anchor, ChainedRecord, Checkpoint
from vigie_core.types import (
    Alert,
    AuditRecord,
    Event,
    EventKind,
    TrackSummary,
    Verdict,
)

DEFAULT_LIMIT = 500
CHECKPOINT_EVERY = 16  # journal records between two checkpoints, by default
MAX_LIMIT = 10_000
JOURNAL_PAGE = 100  # journal records per page, by default
MAX_JOURNAL_PAGE = 1_000

Archivable: TypeAlias = Event | Alert | Verdict | TrackSummary


class DataKind(StrEnum):
    """What retention applies to, each with its own limit in the storage settings."""

    EVENTS = "events"
    ALERTS = "alerts"  # with their verdicts
    TRACKS = "tracks"
    SNAPSHOTS = "snapshots"
    AUDIT = "audit"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the picture of an alert's frame is kept: boxes drawn, every face blurred."""

    alert_id: str
    camera_id: str
    blob_key: str
    frame_sequence: int
    captured_at: float
    taken_at: float
    faces_blurred: int
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class Clip:
    """Where the few seconds of camera around an alert are kept (one blob, see
    :mod:`vigie_storage.clips`), every frame redacted like the snapshot.

    Recorded on the alert's snapshot row rather than apart: the clip is removed with its
    snapshot, under the snapshots' retention, by the same ``expire`` in both adapters.
    """

    alert_id: str
    blob_key: str
    frames: int
    taken_at: float
    faces_blurred: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: its last row's time and id. Keyset paging, so a page is
    stable however many rows arrive meanwhile."""

    time: float
    row_id: str


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One forensic search; ``None`` means "no filter" for every field.

    The time window is half-open, ``[since, until)``, so consecutive windows never return the same
    row twice. Events match on when they occurred; alerts and tracks, which span time, match when
    their ``[first_seen, last_seen]`` overlaps the window. ``limit`` 0 means the default (as in
    the gRPC request, where 0 is "server default") and is capped so one request cannot pull the
    whole archive into memory.

    ``zone`` picks events and alerts raised in that zone, and tracks that were in it; for tracks,
    ``min_seconds_in_zone`` asks for at least that long in it. ``colour`` picks tracks whose
    vehicle was named that colour. Events and alerts have no colour and no time in a zone, so
    ``colour`` and ``min_seconds_in_zone`` do not narrow those searches.
    """

    camera_id: str | None = None
    since: float | None = None
    until: float | None = None
    zone: str | None = None
    class_name: str | None = None
    limit: int = DEFAULT_LIMIT
    colour: str | None = None
    min_seconds_in_zone: float | None = None
    # Several values of one filter: any of them (empty: no filter).
    cameras: frozenset[str] = frozenset()
    zones: frozenset[str] = frozenset()
    kinds: frozenset[EventKind] = frozenset()
    after: Cursor | None = None

    def __post_init__(self) -> None:
        cameras = set(self.cameras) | ({self.camera_id} if self.camera_id else set())
        zones = set(self.zones) | ({self.zone} if self.zone else set())
        object.__setattr__(self, "cameras", frozenset(cameras))
        object.__setattr__(self, "zones", frozenset(zones))
        object.__setattr__(self, "kinds", frozenset(EventKind(k) for k in self.kinds))
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")
        seconds = self.min_seconds_in_zone
        if seconds is not None:
            if not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError(f"min_seconds_in_zone must be a number >= 0, got {seconds}")
            if not self.zones:
                raise ValueError("min_seconds_in_zone needs a zone: time in which zone?")
        limit = min(self.limit or DEFAULT_LIMIT, MAX_LIMIT)
        object.__setattr__(self, "limit", limit)


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """One page of the audit journal, newest first (by ``seq``, the chain's order, which is
    the order records were journaled in; ``at`` is the time each record gives itself).

    ``None`` or empty means "no filter". ``[since, until)`` is half-open on ``at``;
    ``action_prefix`` matches the start of the action, case-sensitive ("verdict." or
    "search."); ``before_seq`` continues a listing: records strictly older than that place.
    """

    since: float | None = None
    until: float | None = None
    actor: str = ""
    action_prefix: str = ""
    subject: str = ""
    camera_id: str = ""
    limit: int = JOURNAL_PAGE
    before_seq: int | None = None

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")
        if self.before_seq is not None and self.before_seq < 1:
            raise ValueError(f"before_seq must be >= 1, got {self.before_seq}")
        object.__setattr__(self, "limit", min(self.limit or JOURNAL_PAGE, MAX_JOURNAL_PAGE))

    def matches(self, record: AuditRecord) -> bool:
        """The filters, for an adapter that can only scan (the SQL adapter filters in SQL)."""
        return (
            (self.since is None or record.at >= self.since)
            and (self.until is None or record.at < self.until)
            and (not self.actor or record.actor == self.actor)
            and record.action.startswith(self.action_prefix)
            and (not self.subject or record.subject == self.subject)
            and (not self.camera_id or record.camera_id == self.camera_id)
        )


@dataclass(frozen=True, slots=True)
class JournalPage:
    """Records matching a :class:`JournalQuery`, newest first, and where the next page starts
    (``next_before_seq``; None: nothing older matches). An adapter that scans may stop after a
    bounded number of records and return fewer than ``limit`` (even none) with a
    ``next_before_seq``: a short page is then not the last one, the next one continues."""

    records: list[ChainedRecord]
    next_before_seq: int | None


@runtime_checkable
class ArchiveStore(Protocol):
    """Durable home of events, alerts, verdicts and ended tracks, searchable by camera and time.

    Searches return rows ordered by time ascending (events by ``occurred_at``, alerts and tracks
    by ``first_seen``, ties by id so pages are stable), at most ``query.limit`` of them.
    """

    def save_event(self, event: Event) -> None: ...

    def save_alert(self, alert: Alert) -> None:
        """Upsert that never moves the stored alert backwards (see the module docstring)."""
        ...

    def save_verdict(self, verdict: Verdict) -> None:
        """Record the verdict and advance its alert's status if that alert is already stored."""
        ...

    def save_track_summary(self, summary: TrackSummary) -> None: ...

    def save_many(self, items: Iterable[Archivable]) -> int:
        """Write a whole batch atomically and return how many items it held.

        The storage service commits its Kafka offsets only after this returns, so either every
        item is durable or none is and the batch is redelivered. An item of any other type raises
        ``TypeError`` and nothing of the batch is kept.
        """
        ...

    def search_events(self, query: SearchQuery) -> list[Event]: ...

    def search_alerts(self, query: SearchQuery) -> list[Alert]: ...

    def search_tracks(self, query: SearchQuery) -> list[TrackSummary]:
        """Tracks that were in ``query.zone`` (for at least ``min_seconds_in_zone``) and whose
        colour is ``query.colour``, when given, besides the filters every search has."""
        ...

    def verdicts_for(self, alert_id: str) -> list[Verdict]:
        """Every verdict given on one alert, oldest first."""
        ...

    # -- snapshots --------------------------------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Idempotent: a second snapshot of the same alert replaces nothing."""
        ...

    def snapshot_for(self, alert_id: str) -> Snapshot | None: ...

    def save_clip(self, clip: Clip) -> bool:
        """Record the clip on its alert's snapshot row (saved first). Idempotent: an alert's
        first clip is kept and a second replaces nothing. False when nothing was recorded now
        (a clip was already, or the alert has no snapshot)."""
        ...

    def clip_for(self, alert_id: str) -> Clip | None: ...

    # -- the audit journal ------------------------------------------------------------------------

    def append_audit(self, records: Iterable[AuditRecord]) -> int:
        """Chain (under the store's current journal key) and append, in order; a record id
        already journaled is skipped (replays). Returns how many were appended."""
        ...

    def audit_records(self, after_seq: int = 0, limit: int = MAX_LIMIT) -> list[ChainedRecord]:
        """Records in journal order from ``after_seq + 1``."""
        ...

    def audit_page(self, query: JournalQuery) -> JournalPage:
        """Records matching ``query``, newest first, one page (see :class:`JournalPage`)."""
        ...

    def audit_anchor(self) -> Anchor:
        """Where the chain starts: the genesis, or the last record retention removed (MACed)."""
        ...

    def audit_checkpoints(self) -> list[Checkpoint]:
        """The journal's checkpoints (record count and head MAC, MACed), oldest first; written
        every few records by ``append_audit``, and stored apart from the records."""
        ...

    def audit_checkpoint(self) -> Checkpoint | None:
        """Checkpoint the journal as it is now (None if the last checkpoint already does)."""
        ...

    # -- retention --------------------------------------------------------------------------------

    def expire(self, kind: DataKind, now: float, keep_s: float) -> list[str]:
        """Delete what of ``kind`` ended more than ``keep_s`` before ``now`` (an alert with its
        own ``retention_days`` from the alert policy is kept that long instead); returns the ids
        deleted (snapshots: their blob keys and those of their clips, so the caller removes
        the files)."""
        ...

    def ping(self) -> bool:
        """True when the database answers a trivial query now (readiness); raises otherwise."""
        ...

    def close(self) -> None: ...
