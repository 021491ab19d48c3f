"""The alerting stage: events and verdicts into the engine, whatever drives it.

One handler for every mode: the stage runner drives it in the single process and over the
in-memory bus, the stream application's agents in production, each running the same message
contract. The desk and the escalation timer call it too; its state is the replica's
:class:`AlertBooks`, which the runtime saves, restores and drops per camera.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from vigie_alerting.books import AlertBooks
from vigie_alerting.engine import AlertEngine, Decision
from vigie_alerting.policy_watch import PolicyWatch
from vigie_core.types import Alert, Event, Verdict, VerdictAction
from vigie_runtime import codec
from vigie_runtime.auth import Caller
from vigie_runtime.bus import Message, Output
from vigie_runtime.settings import TimeBounds
from vigie_runtime.stage import Stage
from vigie_runtime.state import StateSpec
from vigie_runtime.topics import EVENTS, VERDICTS
from vigie_runtime.topology import ALERTING

log = logging.getLogger(__name__)

GROUP = ALERTING.group("alerting")
STAGE = GROUP.stage


class AlertingHandler:
    def __init__(
        self,
        engine: AlertEngine,
        books: AlertBooks,
        clock: Callable[[], float],
        tick_s: float = 1.0,
        policy_watch: PolicyWatch | None = None,
        time_bounds: TimeBounds | None = None,
    ) -> None:
        self.engine = engine
        self.time_bounds = time_bounds or TimeBounds()
        self.books = books
        self.clock = clock
        self.tick_s = tick_s
        self.policy_watch = policy_watch
        self._next_tick = float("-inf")
        self._policy_announced = False

    def stage(
        self,
        group_id: str,
        state_topic: str,
        housekeeping: Callable[[], Sequence[Output]] | None = None,
    ) -> Stage[Event | Verdict]:
        """The stage a driver runs; its state follows the events' partitions."""
        return Stage(
            name=STAGE,
            topics=GROUP.topics,
            group_id=GROUP.id(group_id),
            decode=self.decode,
            handle=self.handle,
            before_commit=housekeeping,
            on_idle=housekeeping,
            state=StateSpec(self.books, topic=state_topic, follows=EVENTS),
            time_bounds=self.time_bounds,
        )

    # -- messages ---------------------------------------------------------------------------------

    def decode(self, message: Message) -> Event | Verdict:
        if message.topic == VERDICTS:
            return codec.decode_verdict(message.value)
        return codec.decode_event(message.value, key=message.key)

    def handle(self, item: Event | Verdict, message: Message) -> Sequence[Output]:
        with self.books.lock:
            if isinstance(item, Verdict):
                return self.engine.on_verdict(item, message.camera_id or "")
            return self.engine.on_event(item, self.clock())

    # -- time -------------------------------------------------------------------------------------

    def tick(self) -> list[Output]:
        """At most every ``tick_s``: the journal entry of the policy in force (first call),
        policy file changes, escalations and forgetting old closed alerts."""
        now = self.clock()
        if now < self._next_tick:
            return []
        self._next_tick = now + self.tick_s
        with self.books.lock:
            outputs = []
            if not self._policy_announced:
                self._policy_announced = True
                outputs.append(self.engine.policy_record(now))
            if self.policy_watch is not None:
                outputs.extend(self.policy_watch.poll(now))
            outputs.extend(self.engine.tick(now))
            return outputs

    # -- the desk ---------------------------------------------------------------------------------

    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]:
        with self.books.lock:
            return self.engine.alerts(camera_id, include_closed)

    def alert(self, alert_id: str) -> Alert:
        """Raises ``UnknownAlert`` when no camera of this replica has the alert."""
        with self.books.lock:
            return self.engine.alert(alert_id)

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Decision:
        """Raises ``UnknownAlert`` when no camera of this replica has the alert."""
        with self.books.lock:
            return self.engine.decide(alert_id, action, caller, reason, self.clock(), request_id)
