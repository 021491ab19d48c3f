"""Storage handler: tracks, events, alerts and verdicts held per batch, written on flush."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import pytest

from vigie_core.ids import stable_id
from vigie_core.types import (
    Alert,
    AlertStatus,
    Box,
    Event,
    EventKind,
    FrameRef,
    FrameTracks,
    Severity,
    Track,
    TrackState,
    TrackSummary,
    Verdict,
    VerdictAction,
)
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.topics import ALERTS, AUDIT, DETECTIONS, EVENTS, FRAMES, TRACKS, VERDICTS
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.handler import TOPICS, StorageHandler
from vigie_storage.ports import Archivable, SearchQuery

CAMERA = "cam-lobby"
T0 = 1_700_000_000.0
EVERYTHING = SearchQuery()


class CountingArchive(SqliteArchive):
    """The real archive, remembering each batch it was asked to write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[list[Archivable]] = []

    def save_many(self, items: Iterable[Archivable]) -> int:
        batch = list(items)
        self.batches.append(batch)
        return super().save_many(batch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingArchive]:
    archive = CountingArchive(tmp_path / "a.sqlite")
    try:
        yield archive
    finally:
        archive.close()


@pytest.fixture
def handler(store: CountingArchive) -> StorageHandler:
    return StorageHandler(store)


# -- inputs ---------------------------------------------------------------------------------------


def summary(track: str, first: float, last: float) -> TrackSummary:
    return TrackSummary(
        track_id=f"{CAMERA}/{track}",
        camera_id=CAMERA,
        class_name="person",
        first_seen=first,
        last_seen=last,
        hits=int((last - first) * 10) + 1,
        path=((first, 0.25, 0.75), (last, 0.5, 0.75)),
        mean_confidence=0.75,
    )


def frame_tracks(t: float, ended: Sequence[TrackSummary] = ()) -> FrameTracks:
    live = Track(
        track_id=f"{CAMERA}/live",
        class_name="person",
        box=Box(0.25, 0.25, 0.5, 0.75),
        confidence=0.875,
        state=TrackState.TRACKED,
        first_seen=T0,
        hits=5,
    )
    return FrameTracks(frame=FrameRef(CAMERA, 10, t, 640, 480), tracks=(live,), ended=tuple(ended))


def event(t: float) -> Event:
    return Event(
        event_id=stable_id("test-event", CAMERA, t),
        kind=EventKind.ZONE_INTRUSION,
        frame=FrameRef(CAMERA, 20, t, 640, 480),
        zone="restricted",
        class_name="person",
        track_ids=(f"{CAMERA}/live",),
        details={"dwell_s": "1.000", "min_dwell_s": "1.000"},
    )


def alert(first_event: Event, count: int = 1) -> Alert:
    return Alert(
        alert_id=stable_id("test-alert", first_event.event_id),
        camera_id=CAMERA,
        kind=first_event.kind,
        zone=first_event.zone,
        severity=Severity.HIGH,
        status=AlertStatus.RAISED,
        first_event_id=first_event.event_id,
        first_seen=first_event.occurred_at,
        last_seen=first_event.occurred_at + count - 1,
        count=count,
        class_name="person",
        track_ids=first_event.track_ids,
        frame=first_event.frame,
        reason="person in zone restricted",
    )


def verdict(of: Alert, action: VerdictAction, at: float) -> Verdict:
    return Verdict(
        verdict_id=stable_id("test-verdict", of.alert_id, action, at),
        alert_id=of.alert_id,
        action=action,
        operator="alice",
        reason="seen on the frame",
        decided_at=at,
    )


def message(topic: str, value: bytes, offset: int = 0) -> Message:
    return Message(topic, 0, offset, CAMERA.encode(), value)


def feed(handler: StorageHandler, messages: Sequence[Message]) -> None:
    for m in messages:
        assert handler.handle(handler.decode(m), m) == []  # storage publishes nothing


class Batch(NamedTuple):
    """One batch of each kind of input, and the values it holds."""

    messages: list[Message]
    summaries: list[TrackSummary]
    event: Event
    alert: Alert  # the latest copy of the alert in the batch
    ack: Verdict


def batch() -> Batch:
    first, second = summary("a", T0, T0 + 2), summary("b", T0 + 1, T0 + 4)
    ev = event(T0 + 3)
    raised = alert(ev)
    merged = alert(ev, count=2)
    ack = verdict(raised, VerdictAction.ACKNOWLEDGE, T0 + 10)
    messages = [
        message(TRACKS, codec.encode(frame_tracks(T0 + 2.1)), 0),  # nothing ended yet
        message(TRACKS, codec.encode(frame_tracks(T0 + 4.1, ended=[first, second])), 1),
        message(EVENTS, codec.encode(ev), 0),
        message(ALERTS, codec.encode(raised), 0),
        message(ALERTS, codec.encode(merged), 1),
        message(VERDICTS, codec.encode(ack), 0),
    ]
    return Batch(messages, [first, second], ev, merged, ack)


# -- held until flush, then searchable ------------------------------------------------------------


def test_rows_are_held_until_flush_then_searchable(
    handler: StorageHandler, store: CountingArchive
) -> None:
    expected = batch()

    feed(handler, expected.messages)

    assert store.batches == []
    assert store.search_tracks(EVERYTHING) == []
    assert store.search_events(EVERYTHING) == []
    assert store.search_alerts(EVERYTHING) == []

    handler.flush()

    assert len(store.batches) == 1
    assert handler.pending == []
    assert store.search_tracks(EVERYTHING) == expected.summaries
    assert store.search_events(EVERYTHING) == [expected.event]
    (stored_alert,) = store.search_alerts(EVERYTHING)
    assert stored_alert.alert_id == expected.alert.alert_id
    assert stored_alert.count == 2
    assert stored_alert.status is AlertStatus.ACKNOWLEDGED  # advanced by the verdict
    assert store.verdicts_for(stored_alert.alert_id) == [expected.ack]


def test_only_ended_summaries_of_tracks_are_kept(
    handler: StorageHandler, store: CountingArchive
) -> None:
    feed(handler, [message(TRACKS, codec.encode(frame_tracks(T0)))])
    assert handler.pending == []

    ended = summary("gone", T0, T0 + 1)
    feed(handler, [message(TRACKS, codec.encode(frame_tracks(T0 + 3, ended=[ended])), 1)])
    assert handler.pending == [ended]

    handler.flush()
    assert store.search_tracks(SearchQuery(camera_id=CAMERA)) == [ended]


def test_verdict_before_its_alert_still_advances_it(
    handler: StorageHandler, store: CountingArchive
) -> None:
    ev = event(T0)
    raised = alert(ev)
    dismissed = verdict(raised, VerdictAction.DISMISS, T0 + 30)
    feed(
        handler,
        [message(VERDICTS, codec.encode(dismissed)), message(ALERTS, codec.encode(raised))],
    )

    handler.flush()

    (stored,) = store.search_alerts(EVERYTHING)
    assert stored.status is AlertStatus.DISMISSED


def test_flush_with_nothing_pending_writes_nothing(
    handler: StorageHandler, store: CountingArchive
) -> None:
    handler.flush()
    assert store.batches == []


# -- topics storage does not read -----------------------------------------------------------------


@pytest.mark.parametrize("topic", [FRAMES, DETECTIONS, "vigie.unknown.v1"])
def test_message_from_an_unread_topic_raises_from_decode(
    handler: StorageHandler, topic: str
) -> None:
    value = codec.encode(event(T0))  # well-formed bytes: the topic alone is refused

    with pytest.raises(ValueError, match="storage does not read topic"):
        handler.decode(message(topic, value))


def test_reads_exactly_its_five_topics() -> None:
    assert set(TOPICS) == {TRACKS, EVENTS, ALERTS, VERDICTS, AUDIT}


@pytest.mark.parametrize("topic", [TRACKS, EVENTS, ALERTS, VERDICTS, AUDIT])
def test_malformed_message_raises_from_decode(handler: StorageHandler, topic: str) -> None:
    with pytest.raises(codec.DecodeError):
        handler.decode(message(topic, b"\xff\xff garbage"))


# -- idempotence ----------------------------------------------------------------------------------


def counts(store: SqliteArchive) -> tuple[int, int, int, int]:
    alerts = store.search_alerts(EVERYTHING)
    return (
        len(store.search_tracks(EVERYTHING)),
        len(store.search_events(EVERYTHING)),
        len(alerts),
        sum(len(store.verdicts_for(a.alert_id)) for a in alerts),
    )


def test_flushing_twice_writes_nothing_twice(
    handler: StorageHandler, store: CountingArchive
) -> None:
    messages = batch().messages
    feed(handler, messages)

    handler.flush()
    handler.flush()

    assert len(store.batches) == 1
    assert counts(store) == (2, 1, 1, 1)


def test_replayed_batch_rewrites_the_same_rows(
    handler: StorageHandler, store: CountingArchive
) -> None:
    messages = batch().messages
    feed(handler, messages)
    handler.flush()
    first = (
        store.search_tracks(EVERYTHING),
        store.search_events(EVERYTHING),
        store.search_alerts(EVERYTHING),
    )

    # Redelivered after a crash before the offsets were committed.
    feed(handler, messages)
    handler.flush()

    assert len(store.batches) == 2
    assert counts(store) == (2, 1, 1, 1)
    again = (
        store.search_tracks(EVERYTHING),
        store.search_events(EVERYTHING),
        store.search_alerts(EVERYTHING),
    )
    assert again == first


def test_older_copy_of_an_alert_does_not_move_it_back(
    handler: StorageHandler, store: CountingArchive
) -> None:
    expected = batch()
    feed(handler, expected.messages)
    handler.flush()

    raised_again = message(ALERTS, codec.encode(alert(expected.event)), 2)
    feed(handler, [raised_again])
    handler.flush()

    (stored,) = store.search_alerts(EVERYTHING)
    assert stored.count == 2
    assert stored.status is AlertStatus.ACKNOWLEDGED


def test_audit_records_are_chained_into_the_journal_on_flush(
    handler: StorageHandler, store: CountingArchive
) -> None:
    from vigie_core.journal import verify
    from vigie_core.types import AuditRecord

    records = [
        AuditRecord(f"r-{n}", 1000.0 + n, "system:alerting", "system", "alert.raised", f"al-{n}")
        for n in range(3)
    ]
    for offset, record in enumerate([*records, records[1]]):  # the last is a redelivery
        msg = message(AUDIT, codec.encode(record), offset)
        handler.handle(handler.decode(msg), msg)
    assert store.audit_records() == []  # nothing before the batch is flushed
    handler.flush()
    chained = store.audit_records()
    assert [c.record.record_id for c in chained] == ["r-0", "r-1", "r-2"]
    assert verify(chained).ok
