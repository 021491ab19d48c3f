"""Tracks, events, alerts and verdicts in; rows out. Writes happen once per batch, in one
transaction, before the batch's offsets are committed: a crash replays rows the upserts absorb."""

from __future__ import annotations

from collections.abc import Sequence

from vigie_core.types import Alert, Event, FrameTracks, TrackSummary, Verdict
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import ALERTS, EVENTS, TRACKS, VERDICTS
from vigie_storage.ports import ArchiveStore

Row = Event | Alert | Verdict | TrackSummary
Decoded = FrameTracks | Event | Alert | Verdict

_DECODERS = {
    TRACKS: codec.decode_tracks,
    EVENTS: codec.decode_event,
    ALERTS: codec.decode_alert,
    VERDICTS: codec.decode_verdict,
}

TOPICS = tuple(_DECODERS)


class StorageHandler:
    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.pending: list[Row] = []

    def decode(self, message: Message) -> Decoded:
        decoder = _DECODERS.get(message.topic)
        if decoder is None:
            raise ValueError(f"storage does not read topic {message.topic}")
        return decoder(message.value)  # type: ignore[return-value]

    def handle(self, item: Decoded, message: Message) -> Sequence[Output]:
        if isinstance(item, FrameTracks):
            self.pending.extend(item.ended)
        else:
            self.pending.append(item)
        return []

    def flush(self) -> None:
        if self.pending:
            self.store.save_many(self.pending)
            self.pending = []
