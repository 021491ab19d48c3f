"""What the AlertDesk API needs from the service, whichever driver runs the engine.

The engine is not thread-safe and, under faust, lives on the stream application's event loop;
gRPC handlers run on their own threads. A :class:`Desk` gives them exactly three things: the
queue, a verdict, and a live feed of alert changes, each executed where the engine lives.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from vigie_alerting.engine import AlertEngine
from vigie_core.types import Alert, VerdictAction
from vigie_runtime.auth import Caller
from vigie_runtime.bus import DeliveryError, Output, Publisher

log = logging.getLogger(__name__)

WATCH_QUEUE = 1000  # a watcher this far behind is cut off (it reconnects and gets the queue)


class WatcherTooSlow(Exception):
    pass


class Desk(Protocol):
    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]: ...

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Alert: ...

    def watch(self) -> WatchHub: ...


class WatchHub:
    """Fans alert changes out to every open WatchAlerts stream, from whichever thread."""

    def __init__(self) -> None:
        self._queues: set[queue.Queue[Alert | None]] = set()
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

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[queue.Queue[Alert | None]]:
        q: queue.Queue[Alert | None] = queue.Queue(WATCH_QUEUE)
        with self._lock:
            self._queues.add(q)
        try:
            yield q
        finally:
            with self._lock:
                self._queues.discard(q)

    def close(self) -> None:
        """Ends every stream (the server is stopping)."""
        with self._lock:
            queues, self._queues = list(self._queues), set()
        for q in queues:
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)


class Outbox:
    """Outputs whose delivery failed, kept until the stage's loop delivers them."""

    def __init__(self) -> None:
        self._items: list[Output] = []
        self._lock = threading.Lock()

    def add(self, outputs: list[Output]) -> None:
        with self._lock:
            self._items.extend(outputs)

    def drain(self) -> list[Output]:
        with self._lock:
            items, self._items = self._items, []
        return items


class LocalDesk:
    """The desk of the in-process driver: a lock around the engine, the bus's publisher."""

    def __init__(
        self,
        engine: AlertEngine,
        lock: threading.Lock,
        publisher: Publisher,
        outbox: Outbox,
        hub: WatchHub,
        clock: Callable[[], float],
    ) -> None:
        self.engine, self.lock, self.publisher = engine, lock, publisher
        self.outbox, self.hub, self.clock = outbox, hub, clock

    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]:
        with self.lock:
            return self.engine.alerts(camera_id, include_closed)

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Alert:
        with self.lock:
            decision = self.engine.decide(
                alert_id, action, caller, reason, self.clock(), request_id
            )
        try:
            for output in decision.outputs:
                self.publisher.publish(output)
            self.publisher.flush(10)
        except DeliveryError as exc:
            # The decision is made and kept; its messages go out with the stage's next batch.
            log.warning("verdict kept for re-delivery", extra={"error": str(exc)})
            self.outbox.add(decision.outputs)
        return decision.alert

    def watch(self) -> WatchHub:
        return self.hub
