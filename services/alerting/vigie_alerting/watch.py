"""WatchAlerts' live feed: every camera's alert changes, whichever replica owns the camera.

Each replica reads ``vigie.alerts.v1`` whole, in a consumer group of its own, and fans what it
reads out to its open streams; records published before the replica started are skipped (a
watcher gets the current queue first, then changes). The engine's own listener would only see
the cameras this replica owns.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Sequence

from vigie_core.types import Alert
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.settings import TimeBounds
from vigie_runtime.stage import Stage
from vigie_runtime.topics import ALERTS

log = logging.getLogger(__name__)

STAGE = "alerting-watch"
WATCH_QUEUE = 1000  # a watcher this far behind is cut off (it reconnects and gets the queue)


class TooManyStreams(Exception):
    """The caller already has as many open streams as one caller may."""


class WatchHub:
    """Fans alert changes out to every open WatchAlerts stream, from whichever thread.

    Each caller may hold ``per_caller`` streams at once: one client opening streams in a loop
    must not take the server's stream pool from everyone else.
    """

    def __init__(self, per_caller: int = 8) -> None:
        self.per_caller = per_caller
        self._queues: set[queue.Queue[Alert | None]] = set()
        self._callers: dict[str, int] = {}
        self._lock = threading.Lock()

    def publish(self, alert: Alert) -> None:
        with self._lock:
            queues = list(self._queues)
        for q in queues:
            try:
                q.put_nowait(alert)
            except queue.Full:
                self._drop(q)

    def _drop(self, q: queue.Queue[Alert | None]) -> None:
        with self._lock:
            self._queues.discard(q)
        with contextlib.suppress(queue.Full):
            q.put_nowait(None)

    def subscribe(self, caller: str = "") -> Subscription:
        """The changes from now on, as ``with hub.subscribe(caller) as changes``; raises
        :class:`TooManyStreams` at once when ``caller`` already holds ``per_caller`` streams."""
        q: queue.Queue[Alert | None] = queue.Queue(WATCH_QUEUE)
        with self._lock:
            held = self._callers.get(caller, 0)
            if held >= self.per_caller:
                raise TooManyStreams(
                    f"{caller or 'this caller'} already has {held} open streams "
                    f"(at most {self.per_caller}); close one first"
                )
            self._callers[caller] = held + 1
            self._queues.add(q)
        return Subscription(self, caller, q)

    def _unsubscribe(self, caller: str, q: queue.Queue[Alert | None]) -> None:
        with self._lock:
            self._queues.discard(q)
            left = self._callers.get(caller, 1) - 1
            if left > 0:
                self._callers[caller] = left
            else:
                self._callers.pop(caller, None)  # the map holds open callers only

    def streams(self, caller: str) -> int:
        with self._lock:
            return self._callers.get(caller, 0)

    def close(self) -> None:
        """Ends every stream (the server is stopping)."""
        with self._lock:
            queues, self._queues = list(self._queues), set()
        for q in queues:
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)


class Subscription:
    """One stream's place in the hub, given back on leaving the ``with`` block."""

    def __init__(self, hub: WatchHub, caller: str, changes: queue.Queue[Alert | None]) -> None:
        self._hub = hub
        self._caller = caller
        self.changes = changes

    def __enter__(self) -> queue.Queue[Alert | None]:
        return self.changes

    def __exit__(self, *exc: object) -> None:
        self._hub._unsubscribe(self._caller, self.changes)


def watch_group(base: str) -> str:
    """A group of this replica's own: every replica reads every partition."""
    return f"{base}-watch-{uuid.uuid4().hex[:12]}"


def watch_stage(
    hub: WatchHub, group_id: str, started_s: float, bounds: TimeBounds | None = None
) -> Stage[Alert]:
    """The feed as a stage: alerts published from ``started_s`` on go to ``hub``. One that does
    not decode, or whose time is out of ``bounds``, is logged and not shown; it is not
    dead-lettered here: every replica reads every record, and the consumers that own the
    alerts topic (webhooks, the archive) dead-letter a bad one once."""
    started_ms = int(started_s * 1000)

    def decode(message: Message) -> Alert:
        return codec.decode_alert(message.value)

    def handle(alert: Alert, message: Message) -> Sequence[Output]:
        if message.timestamp_ms >= started_ms:
            hub.publish(alert)
        return ()

    # A new group per replica start, reading from the end: what changes from now on, never the
    # whole retention of the topic (the open alerts themselves come from the desk's list).
    return Stage(
        name=STAGE,
        topics=[ALERTS],
        group_id=group_id,
        decode=decode,
        handle=handle,
        from_end=True,
        time_bounds=bounds or TimeBounds(),
        dead_letters=False,
    )
