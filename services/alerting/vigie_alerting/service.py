"""Wiring of the alerting service: one alerting stage, driven by the mode's driver.

On a real broker the stream application of ``streaming.py`` drives it, with its state in a
changelog-backed table and the desk routed across replicas. On the in-memory bus of the
single-process demo and the tests, a stage runner drives the same stage, its state in a
compacted topic of that bus, and there is one replica. The handler, its state, the desk, the
webhooks and the watch feed are the same in both (``replica.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from vigie_alerting.books import AlertBooks
from vigie_alerting.desk import ReplicaDesk
from vigie_alerting.policy_file import load_policy
from vigie_alerting.replica import AlertingReplica
from vigie_alerting.routing import OneReplica
from vigie_alerting.settings import AlertingSettings
from vigie_runtime.bus import Bus, Output, Publisher
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.stage import StageRunner, deliver
from vigie_runtime.topics import ALERTING_STATE  # the topology's state topic for this mode

log = logging.getLogger(__name__)

T = TypeVar("T")


class InProcessCalls:
    """Desk work in the calling thread, under the books' lock, its outputs delivered before the
    lock is released: the stage cannot save the state a verdict changed before the verdict
    itself is out."""

    def __init__(self, books: AlertBooks, publisher: Publisher) -> None:
        self.books = books
        self.publisher = publisher
        self.stop = threading.Event()

    def run(
        self, work: Callable[[], T], outputs: Callable[[T], Sequence[Output]] | None = None
    ) -> T:
        with self.books.lock:
            result = work()
            made = list(outputs(result)) if outputs is not None else []
            if made and not deliver(self.publisher, made, self.stop, "alerting-desk"):
                raise TimeoutError("the service is stopping; the verdict was not delivered")
            return result


class InProcessAlertingService(AlertingReplica):
    """A stage runner drives the alerting stage; its state is saved in a compacted topic."""

    def __init__(self, settings: AlertingSettings, bus: Bus, health: Health) -> None:
        policy = load_policy(settings.policy_file, settings.policy)
        super().__init__(settings, bus, health, policy)
        stage = self.handler.stage(settings.group_id, ALERTING_STATE, self.handler.tick)
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        self.calls = InProcessCalls(self.books, bus.publisher("alerting-desk"))
        desk = ReplicaDesk(self.handler, self.calls)
        self.grpc = self.desk_server(desk, OneReplica(), None)

    def run(self, stop: threading.Event) -> None:
        self.calls.stop = stop
        self.run_beside(stop, self.grpc, lambda: self.runner.run(stop))


def build(settings: AlertingSettings, bus: Bus, health: Health) -> AlertingReplica:
    if isinstance(bus, KafkaBus):
        from vigie_alerting.streaming import StreamingAlertingService

        return StreamingAlertingService(settings, bus, health)
    return InProcessAlertingService(settings, bus, health)
