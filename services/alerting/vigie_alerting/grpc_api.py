"""The AlertDesk gRPC API: operators list open alerts and record their verdicts.

Every verdict is published on ``vigie.verdicts.v1`` together with the alert's new state. If the
broker is away, the outputs wait in an outbox that the consumer loop re-delivers: a verdict a
person gave is never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import grpc

from vigie.v1 import alerts_pb2, services_pb2, services_pb2_grpc
from vigie_alerting.handler import alert_output
from vigie_core.alerting import AlertBook, UnknownAlert, VerdictError
from vigie_core.types import VerdictAction
from vigie_runtime import codec
from vigie_runtime.bus import DeliveryError, Output, Publisher
from vigie_runtime.topics import VERDICTS

log = logging.getLogger(__name__)


class Outbox:
    """Outputs whose delivery failed, kept until the loop delivers them."""

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


class AlertDeskServicer(services_pb2_grpc.AlertDeskServicer):
    def __init__(
        self,
        book: AlertBook,
        lock: threading.Lock,
        publisher: Publisher,
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self.lock = lock
        self.publisher = publisher
        self.outbox = outbox
        self.clock = clock

    def ListAlerts(
        self, request: services_pb2.ListAlertsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAlertsResponse:
        with self.lock:
            alerts = self.book.alerts(request.camera_id or None, request.include_closed)
        return services_pb2.ListAlertsResponse(alerts=[codec.alert_to_proto(a) for a in alerts])

    def _decide(
        self,
        action: VerdictAction,
        request: services_pb2.VerdictRequest,
        context: grpc.ServicerContext,
    ) -> alerts_pb2.Alert:
        try:
            with self.lock:
                alert, verdict = self.book.verdict(
                    request.alert_id, action, request.operator, request.reason, self.clock()
                )
        except UnknownAlert:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no open alert {request.alert_id!r}")
        except VerdictError as exc:
            code = (
                grpc.StatusCode.INVALID_ARGUMENT
                if not request.reason.strip() or not request.operator.strip()
                else grpc.StatusCode.FAILED_PRECONDITION
            )
            context.abort(code, str(exc))
        outputs = [
            Output(VERDICTS, alert.camera_id, codec.encode(codec.verdict_to_proto(verdict))),
            alert_output(alert),
        ]
        try:
            for output in outputs:
                self.publisher.publish(output)
            self.publisher.flush(10)
        except DeliveryError as exc:
            log.warning("verdict kept for re-delivery", extra={"error": str(exc)})
            self.outbox.add(outputs)
        log.info(
            "verdict recorded",
            extra={
                "alert_id": alert.alert_id,
                "action": action.value,
                "operator": verdict.operator,
            },
        )
        return codec.alert_to_proto(alert)

    def Acknowledge(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.ACKNOWLEDGE, request, context)

    def Confirm(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.CONFIRM, request, context)

    def Dismiss(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.DISMISS, request, context)
