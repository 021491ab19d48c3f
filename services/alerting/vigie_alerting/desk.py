"""What the AlertDesk API asks of a replica, and the one desk that answers from its cameras.

The engine is not thread-safe and, under the stream application, lives on its event loop; gRPC
handlers run on their own threads. :class:`ReplicaDesk` runs the handler's desk methods through
an :class:`EngineCalls` of the mode: it executes the work where the engine lives and delivers
what a verdict publishes, with the state it changed, before the call returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from vigie_alerting.handler import AlertingHandler
from vigie_core.types import Alert, VerdictAction
from vigie_runtime.auth import Caller
from vigie_runtime.bus import Output

log = logging.getLogger(__name__)

T = TypeVar("T")


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


class EngineCalls(Protocol):
    def run(
        self, work: Callable[[], T], outputs: Callable[[T], Sequence[Output]] | None = None
    ) -> T:
        """``work()`` where the engine lives; then ``outputs(result)`` and the state the work
        changed are delivered. Raises ``TimeoutError`` when that cannot be done in time."""
        ...


class ReplicaDesk:
    """The desk of one replica: the alerts of the cameras it owns, verdicts on them."""

    def __init__(self, handler: AlertingHandler, calls: EngineCalls) -> None:
        self.handler = handler
        self.calls = calls

    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]:
        return self.calls.run(lambda: self.handler.alerts(camera_id, include_closed))

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Alert:
        decision = self.calls.run(
            lambda: self.handler.decide(alert_id, action, caller, reason, request_id),
            lambda made: made.outputs,
        )
        return decision.alert
