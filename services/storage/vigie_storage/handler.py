"""Tracks, events, alerts, verdicts and audit records in; rows out. Writes happen once per batch,
before the batch's offsets are committed: a crash replays rows the upserts absorb, and journal
records already chained are recognised by their id and skipped."""

from __future__ import annotations

from collections.abc import Sequence

from vigie_core.types import Alert, AuditRecord, Event, FrameTracks, TrackSummary, Verdict
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import ALERTS, AUDIT, EVENTS, TRACKS, VERDICTS
from vigie_storage.ports import ArchiveStore

Row = Event | Alert | Verdict | TrackSummary
Decoded = FrameTracks | Event | Alert | Verdict | AuditRecord

_DECODERS = {
    TRACKS: codec.decode_tracks,
    EVENTS: codec.decode_event,
    ALERTS: codec.decode_alert,
    VERDICTS: codec.decode_verdict,
    AUDIT: codec.decode_audit,
}

TOPICS = tuple(_DECODERS)


class StorageHandler:
    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.pending: list[Row] = []
        self.journal: list[AuditRecord] = []

    def decode(self, message: Message) -> Decoded:
        decoder = _DECODERS.get(message.topic)
        if decoder is None:
            raise ValueError(f"storage does not read topic {message.topic}")
        return decoder(message.value, key=message.key)  # type: ignore[return-value]

    def handle(self, item: Decoded, message: Message) -> Sequence[Output]:
        if isinstance(item, FrameTracks):
            self.pending.extend(item.ended)
        elif isinstance(item, AuditRecord):
            self.journal.append(item)
        else:
            self.pending.append(item)
        return []

    def flush(self) -> None:
        if self.pending:
            self.store.save_many(self.pending)
            self.pending = []
        if self.journal:
            self.store.append_audit(self.journal)
            self.journal = []
