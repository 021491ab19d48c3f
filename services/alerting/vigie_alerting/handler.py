"""The in-process driver: events and verdicts into the engine through a runtime stage.

Used where no broker runs (``vigie demo``, the scenario tests on the in-memory bus). Production
runs the same engine in the stream application of ``streaming.py``, whose state survives
restarts; here the state is a dict, shared with the desk under a lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from vigie_alerting.engine import AlertEngine
from vigie_alerting.policy_watch import PolicyWatch
from vigie_core.types import Event, Verdict
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import VERDICTS

log = logging.getLogger(__name__)


class AlertingHandler:
    def __init__(
        self,
        engine: AlertEngine,
        lock: threading.Lock,
        clock: Callable[[], float],
        tick_s: float = 1.0,
        policy_watch: PolicyWatch | None = None,
    ) -> None:
        self.policy_watch = policy_watch
        self.engine = engine
        self.lock = lock
        self.clock = clock
        self.tick_s = tick_s
        self._next_tick = float("-inf")

    def decode(self, message: Message) -> Event | Verdict:
        if message.topic == VERDICTS:
            return codec.decode_verdict(message.value)
        return codec.decode_event(message.value)

    def handle(self, item: Event | Verdict, message: Message) -> Sequence[Output]:
        with self.lock:
            if isinstance(item, Verdict):
                return self.engine.on_verdict(item, message.camera_id or "")
            return self.engine.on_event(item, self.clock())

    def tick(self) -> list[Output]:
        """Policy changes, escalations and housekeeping, at most every ``tick_s``."""
        now = self.clock()
        if now < self._next_tick:
            return []
        self._next_tick = now + self.tick_s
        with self.lock:
            changes = self.policy_watch.poll(now) if self.policy_watch else []
            return [*changes, *self.engine.tick(now)]
