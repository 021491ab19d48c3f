"""The AlertDesk gRPC API: operators watch open alerts and record their verdicts.

Callers authenticate with a bearer token that names them and their role; the verdict is recorded
under that name, never under one the request claims. Every verdict is published on
``vigie.verdicts.v1`` with the alert's new state, and journaled with the caller's request id.

Any replica answers for every camera (:mod:`vigie_alerting.routing`): a call is checked here,
then answered here or by the replica that owns the camera, which checks the caller again.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator

import grpc

from vigie.v1 import alerts_pb2, services_pb2, services_pb2_grpc
from vigie_alerting.desk import Desk
from vigie_alerting.peers import PeerRefused
from vigie_alerting.routing import DeskRouter
from vigie_alerting.watch import TooManyStreams, WatchHub
from vigie_core.alerting import UnknownAlert, VerdictError
from vigie_core.types import Alert, VerdictAction
from vigie_runtime import codec
from vigie_runtime.auth import Authenticator, Caller, Permission
from vigie_runtime.grpc_auth import caller_of, request_id_of

log = logging.getLogger(__name__)

WATCH_POLL_S = 0.5  # how often a quiet stream checks that its caller is still there


class AlertDeskServicer(services_pb2_grpc.AlertDeskServicer):
    def __init__(self, router: DeskRouter, hub: WatchHub, auth: Authenticator) -> None:
        self.router = router
        self.hub = hub
        self.auth = auth

    def _caller(self, context: grpc.ServicerContext, permission: Permission) -> Caller:
        return caller_of(context, self.auth, permission)

    def _desk(self, context: grpc.ServicerContext) -> Desk:
        return self.router.for_call(list(context.invocation_metadata()))

    def _alerts(
        self, context: grpc.ServicerContext, camera_id: str | None, include_closed: bool
    ) -> list[Alert]:
        try:
            return self._desk(context).alerts(camera_id, include_closed)
        except PeerRefused as exc:
            context.abort(exc.code, exc.details)
        except TimeoutError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the alert desk is busy; try again ({exc})")

    # -- queries --------------------------------------------------------------------------------

    def ListAlerts(
        self, request: services_pb2.ListAlertsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAlertsResponse:
        self._caller(context, Permission.HISTORY if request.include_closed else Permission.WATCH)
        alerts = self._alerts(context, request.camera_id or None, request.include_closed)
        return services_pb2.ListAlertsResponse(alerts=[codec.alert_to_proto(a) for a in alerts])

    def WatchAlerts(
        self, request: services_pb2.WatchAlertsRequest, context: grpc.ServicerContext
    ) -> Iterator[alerts_pb2.Alert]:
        caller = self._caller(context, Permission.WATCH)
        camera = request.camera_id or None
        try:
            subscription = self.hub.subscribe(caller.operator)
        except TooManyStreams as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        with subscription as changes:
            # Subscribed before the snapshot: a change in between is sent twice, never lost.
            for alert in reversed(self._alerts(context, camera, False)):
                yield codec.alert_to_proto(alert)
            while context.is_active():
                try:
                    alert = changes.get(timeout=WATCH_POLL_S)
                except queue.Empty:
                    continue
                if alert is None:  # server stopping, or this watcher fell too far behind
                    return
                if camera is None or alert.camera_id == camera:
                    yield codec.alert_to_proto(alert)

    # -- verdicts -------------------------------------------------------------------------------

    def _decide(
        self,
        action: VerdictAction,
        request: services_pb2.VerdictRequest,
        context: grpc.ServicerContext,
    ) -> alerts_pb2.Alert:
        caller = self._caller(context, Permission.DECIDE)
        if request.operator.strip() and request.operator.strip() != caller.operator:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{caller.operator} cannot decide in the name of {request.operator.strip()}",
            )
        if len(request.reason) > codec.MAX_TEXT_CHARS:  # what every consumer of verdicts takes
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"reason: {len(request.reason)} characters, at most {codec.MAX_TEXT_CHARS}",
            )
        request_id = request_id_of(context)
        try:
            desk = self._desk(context)
            alert = desk.decide(request.alert_id, action, caller, request.reason, request_id)
        except PeerRefused as exc:
            context.abort(exc.code, exc.details)
        except UnknownAlert:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no open alert {request.alert_id!r}")
        except VerdictError as exc:
            code = (
                grpc.StatusCode.INVALID_ARGUMENT
                if not request.reason.strip()
                else grpc.StatusCode.FAILED_PRECONDITION
            )
            context.abort(code, str(exc))
        except TimeoutError:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the alert desk is busy; try again")
        log.info(
            "verdict recorded",
            extra={
                "alert_id": alert.alert_id,
                "action": action.value,
                "operator": caller.operator,
                "request_id": request_id,
            },
        )
        return codec.alert_to_proto(alert)

    def Acknowledge(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.ACKNOWLEDGE, request, context)

    def Confirm(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.CONFIRM, request, context)

    def Dismiss(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.DISMISS, request, context)
