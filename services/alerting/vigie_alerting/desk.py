"""What the AlertDesk API asks of a replica, and the one desk that answers from its cameras.

The engine is not thread-safe and, under the stream application, lives on its event loop; gRPC
handlers run on their own threads. :class:`ReplicaDesk` runs the handler's desk methods through
an :class:`EngineCalls` of the mode: it executes the work where the engine lives and delivers
what a verdict publishes, with the state it changed, before the call returns. The journal
records of refused calls go out the same way (:meth:`ReplicaDesk.journal`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from vigie_alerting.handler import AlertingHandler
from vigie_core.types import Alert, AuditRecord, VerdictAction
from vigie_runtime import codec
from vigie_runtime.auth import Caller
from vigie_runtime.bus import Output
from vigie_runtime.topics import AUDIT

log = logging.getLogger(__name__)

T = TypeVar("T")


class Desk(Protocol):
    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]: ...

    def alert(self, alert_id: str) -> Alert:
        """Raises ``UnknownAlert`` when the alert is not held."""
        ...

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Alert: ...


@runtime_checkable
class JournalingDesk(Protocol):
    def journal(self, records: Sequence[AuditRecord]) -> None:
        """Records of the desk's own making (a refused call) onto the journal's topic."""
        ...


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

    def alert(self, alert_id: str) -> Alert:
        return self.calls.run(lambda: self.handler.alert(alert_id))

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

    def journal(self, records: Sequence[AuditRecord]) -> None:
        """Delivered as a verdict's records are, by the mode's calls: in the stream application
        on its loop, bounded by the desk's timeout (``TimeoutError`` beyond); in the single
        process over the in-memory bus, at once. The API writes them from a thread of its own
        (:class:`vigie_runtime.grpc_journal.BackgroundJournal`), so no call waits long."""
        outputs = [Output(AUDIT, r.camera_id, codec.encode(r)) for r in records]
        self.calls.run(lambda: None, lambda _: outputs)
