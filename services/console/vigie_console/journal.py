"""What the console itself journals on ``vigie.audit.v1``: sign-ins, sign-outs, and scene files
saved from the editor (the desk and the archive journal every call the console makes for a
person; these are the facts only the console sees).

A record must be acknowledged by the broker before the act it records takes effect: a scene the
journal cannot record is not saved.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping

from vigie_core.journal import entry
from vigie_runtime import codec
from vigie_runtime.bus import Output, Publisher
from vigie_runtime.topics import AUDIT

log = logging.getLogger(__name__)

FLUSH_S = 5.0


class JournalUnavailable(RuntimeError):
    """The broker did not take the record in time."""


class ConsoleJournal:
    def __init__(self, publisher: Publisher, clock: Callable[[], float] = time.time) -> None:
        self.publisher, self.clock = publisher, clock
        self._lock = threading.Lock()  # one producer, used from the web server's threads

    def record(
        self,
        action: str,
        subject: str,
        *,
        actor: str,
        role: str,
        reason: str = "",
        camera_id: str = "",
        details: Mapping[str, str] | None = None,
        request_id: str = "",
    ) -> str:
        """Journal one fact and wait for the broker; returns the record id."""
        record = entry(
            action,
            subject,
            self.clock(),
            actor=actor,
            role=role,
            reason=reason,
            camera_id=camera_id,
            details=details,
            request_id=request_id,
            record_id=f"console-{uuid.uuid4()}",
        )
        value = codec.encode(record)
        with self._lock:
            try:
                self.publisher.publish(Output(AUDIT, camera_id, value))
                self.publisher.flush(FLUSH_S)
            except Exception as exc:
                log.error("journal record not delivered", extra={"action": action})
                raise JournalUnavailable(f"the journal did not take the record: {exc}") from exc
        return record.record_id
