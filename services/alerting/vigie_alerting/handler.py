"""Events in, alerts out. The alert book is shared with the AlertDesk API, hence the lock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from vigie_core.alerting import AlertBook
from vigie_core.types import Alert, Event
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import ALERTS

log = logging.getLogger(__name__)


def alert_output(alert: Alert) -> Output:
    return Output(ALERTS, alert.camera_id, codec.encode(codec.alert_to_proto(alert)))


class AlertingHandler:
    def __init__(self, book: AlertBook, lock: threading.Lock) -> None:
        self.book = book
        self.lock = lock

    def decode(self, message: Message) -> Event:
        return codec.decode_event(message.value)

    def handle(self, event: Event, message: Message) -> Sequence[Output]:
        with self.lock:
            outcome = self.book.on_event(event)
        if outcome.alert is None or not outcome.changed:
            log.debug("event changed no alert", extra={"why": outcome.reason})
            return []
        # Merges are published too (same alert id, higher count): consumers and the archive
        # always hold the latest state, and a restart replays no count twice.
        log.info(
            "alert raised" if outcome.is_new else "alert updated",
            extra={"alert_id": outcome.alert.alert_id, "count": outcome.alert.count},
        )
        return [alert_output(outcome.alert)]
