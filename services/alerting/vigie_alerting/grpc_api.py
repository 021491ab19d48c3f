"""The AlertDesk gRPC API: operators watch open alerts and record their verdicts.

Callers authenticate with a bearer token that names them and their role; the verdict is recorded
under that name, never under one the request claims. Every verdict is published on
``vigie.verdicts.v1`` with the alert's new state, and journaled with the caller's request id.

Any replica answers for every camera (:mod:`vigie_alerting.routing`): a call is checked here,
then answered here or by the replica that owns the camera, which checks the caller again.

A call refused or failed (no or an unknown token, a role that may not, a missing or over-long
reason, an unknown alert, a decided one, a busy desk, an error of ours) leaves one record on
the journal (``desk.<call>``, with its outcome and message), as the Archive's do. Its id is of
this replica's making, never the client's request id, so two calls are two records. Who
journals a forwarded call's refusal: the replica that refuses it. A refusal a peer answered is
passed on to the caller unjournaled here (the peer journaled it); a peer's "not found" for a
verdict forwarded to it is not a refusal but "not mine", and only the replica the client
called, having asked them all, journals the unknown alert. A journal that cannot take the
record delays the answer by a bounded wait at most, and the call is refused anyway.
"""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import grpc

from vigie.v1 import alerts_pb2, services_pb2, services_pb2_grpc
from vigie_alerting.desk import Desk, JournalingDesk
from vigie_alerting.peers import PeerRefused
from vigie_alerting.routing import DeskRouter
from vigie_alerting.watch import TooManyStreams, WatchHub
from vigie_core.alerting import OPEN_STATUSES, UnknownAlert, VerdictError
from vigie_core.types import Alert, VerdictAction
from vigie_runtime import codec
from vigie_runtime.auth import GRANTS, Authenticator, Caller, Permission
from vigie_runtime.grpc_auth import WatchedContext, caller_of, request_id_of
from vigie_runtime.grpc_journal import BackgroundJournal, refusal_record

log = logging.getLogger(__name__)

WATCH_POLL_S = 0.5  # how often a quiet stream checks that its caller is still there
MAX_REASON = 500  # characters of a refused verdict's reason kept in the journal


class DeskContext(WatchedContext):
    """A watched context that also knows whether its refusal is a peer's, passed on."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        super().__init__(context)
        self.relayed = False

    def relay(self, refused: PeerRefused) -> NoReturn:
        self.relayed = True
        self.abort(refused.code, refused.details)


Subject = Callable[[Any], str]


def _cameras(request: Any) -> str:
    return str(request.camera_id) or "alerts"


def _alert(request: Any) -> str:
    return str(request.alert_id)


def journaled(action: str, subject: Subject) -> Callable[[Any], Any]:
    """Journal the call's refusal or failure, then let it end as it did (INTERNAL, without its
    details, for an exception of ours)."""

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def call(self: AlertDeskServicer, request: Any, context: grpc.ServicerContext) -> Any:
            watched = DeskContext(context)
            try:
                return method(self, request, watched)
            except Exception as exc:
                self._refused(watched, context, request, action, subject(request), exc)
                raise

        return call

    return wrap


def journaled_stream(action: str, subject: Subject) -> Callable[[Any], Any]:
    """:func:`journaled` for a server stream: a refusal at any point of the stream."""

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def call(
            self: AlertDeskServicer, request: Any, context: grpc.ServicerContext
        ) -> Iterator[Any]:
            watched = DeskContext(context)
            try:
                yield from method(self, request, watched)
            except Exception as exc:
                self._refused(watched, context, request, action, subject(request), exc)
                raise

        return call

    return wrap


class AlertDeskServicer(services_pb2_grpc.AlertDeskServicer):
    def __init__(
        self,
        router: DeskRouter,
        hub: WatchHub,
        auth: Authenticator,
        journal: BackgroundJournal | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``journal``: where refusals are written; by default this replica's desk's own journal
        (:meth:`vigie_alerting.desk.ReplicaDesk.journal`), through a thread of its own."""
        self.router = router
        self.hub = hub
        self.auth = auth
        self.clock = clock
        if journal is None and isinstance(router.local, JournalingDesk):
            journal = BackgroundJournal(router.local.journal, "alerting-desk-journal")
        if journal is None:
            log.warning("this desk has no journal: refused calls are logged only")
        self.journal = journal

    # -- refusals ---------------------------------------------------------------------------------

    def _refused(
        self,
        watched: DeskContext,
        context: grpc.ServicerContext,
        request: Any,
        action: str,
        subject: str,
        exc: Exception,
    ) -> None:
        """Journal a refusal of this replica's (see the module's note on forwarded calls); for
        an exception of ours, journal it and abort with INTERNAL."""
        if watched.refused is None:
            log.exception("desk call failed", extra={"action": action})
            self._journal_refusal(
                context,
                request,
                action,
                subject,
                grpc.StatusCode.INTERNAL,
                str(exc),
                self._forwarded(context),
            )
            context.abort(grpc.StatusCode.INTERNAL, "the alert desk failed to answer")
        code, details = watched.refused
        if watched.relayed:
            return  # the peer that refused journaled it
        forwarded = self._forwarded(context)
        if code is grpc.StatusCode.NOT_FOUND and forwarded:
            return  # "not mine", asked by a replica that journals the outcome
        self._journal_refusal(context, request, action, subject, code, details, forwarded)

    def _forwarded(self, context: grpc.ServicerContext) -> bool:
        return self.router.is_forwarded(list(context.invocation_metadata()), context.peer())

    def _journal_refusal(
        self,
        context: grpc.ServicerContext,
        request: Any,
        action: str,
        subject: str,
        code: grpc.StatusCode,
        details: str,
        forwarded: bool,
    ) -> None:
        extra = {"forwarded": "true"} if forwarded else {}
        try:
            record = refusal_record(
                context,
                self.auth,
                action,
                subject,
                code,
                details,
                self.clock(),
                reason=str(getattr(request, "reason", "")).strip()[:MAX_REASON],
                details=extra,
            )
        except Exception:
            log.exception("a refused desk call could not be journaled", extra={"action": action})
            return
        if self.journal is None or not self.journal.write(record):
            log.warning(
                "a refused desk call is not journaled (yet)",
                extra={
                    "action": action,
                    "actor": record.actor,
                    "outcome": record.details["outcome"],
                    "record_id": record.record_id,
                },
            )

    def _caller(self, context: grpc.ServicerContext, permission: Permission) -> Caller:
        return caller_of(context, self.auth, permission)

    def _desk(self, context: grpc.ServicerContext) -> Desk:
        return self.router.for_call(list(context.invocation_metadata()), context.peer())

    def _alerts(
        self, context: DeskContext, camera_id: str | None, include_closed: bool
    ) -> list[Alert]:
        try:
            return self._desk(context).alerts(camera_id, include_closed)
        except PeerRefused as exc:
            context.relay(exc)
        except TimeoutError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the alert desk is busy; try again ({exc})")

    # -- queries --------------------------------------------------------------------------------

    @journaled("desk.list_alerts", _cameras)
    def ListAlerts(
        self, request: services_pb2.ListAlertsRequest, context: DeskContext
    ) -> services_pb2.ListAlertsResponse:
        self._caller(context, Permission.HISTORY if request.include_closed else Permission.WATCH)
        alerts = self._alerts(context, request.camera_id or None, request.include_closed)
        return services_pb2.ListAlertsResponse(alerts=[codec.alert_to_proto(a) for a in alerts])

    @journaled("desk.get_alert", _alert)
    def GetAlert(
        self, request: services_pb2.GetAlertRequest, context: DeskContext
    ) -> alerts_pb2.Alert:
        caller = self._caller(context, Permission.WATCH)
        try:
            alert = self._desk(context).alert(request.alert_id)
        except PeerRefused as exc:
            context.relay(exc)
        except UnknownAlert:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no alert {request.alert_id!r} held")
        except TimeoutError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the alert desk is busy; try again ({exc})")
        if alert.status not in OPEN_STATUSES and not caller.may(Permission.HISTORY):
            # What ListAlerts without history would not show: a decided alert is history.
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"alert {request.alert_id!r} is decided: seeing it needs {Permission.HISTORY}",
            )
        return codec.alert_to_proto(alert)

    @journaled_stream("desk.watch_alerts", _cameras)
    def WatchAlerts(
        self, request: services_pb2.WatchAlertsRequest, context: DeskContext
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

    @journaled("desk.who_am_i", lambda _: "caller")
    def WhoAmI(
        self, request: services_pb2.WhoAmIRequest, context: DeskContext
    ) -> services_pb2.WhoAmIResponse:
        caller = self._caller(context, Permission.WATCH)
        return services_pb2.WhoAmIResponse(
            operator=caller.operator,
            role=str(caller.role),
            permissions=sorted(str(p) for p in GRANTS[caller.role]),
        )

    # -- verdicts -------------------------------------------------------------------------------

    def _decide(
        self,
        action: VerdictAction,
        request: services_pb2.VerdictRequest,
        context: DeskContext,
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
            context.relay(exc)
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

    @journaled("desk.acknowledge", _alert)
    def Acknowledge(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.ACKNOWLEDGE, request, context)

    @journaled("desk.confirm", _alert)
    def Confirm(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.CONFIRM, request, context)

    @journaled("desk.dismiss", _alert)
    def Dismiss(self, request, context):  # type: ignore[no-untyped-def]
        return self._decide(VerdictAction.DISMISS, request, context)
