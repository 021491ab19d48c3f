"""The Archive gRPC API: forensic search by time, cameras, zones, class, vehicle colour and type,
event type; alerts with their blurred snapshots.

Every call names who asks (a bearer token) and why (``purpose``), and is journaled before it is
answered: an auditor can list every search ever made, by whom, for what. A call refused or failed
(no or an unknown token, a role without the permission, no purpose, a bad filter, nothing found,
an internal error) is journaled too, with its outcome: trying is a fact worth keeping. Each call
is its own record, whatever request id the client sends. There is no search by face or
identity, because nothing that could answer one is stored.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc

from vigie.v1 import events_pb2, services_pb2, services_pb2_grpc
from vigie_core.colours import COLOUR_NAMES
from vigie_core.journal import entry
from vigie_core.types import EventKind
from vigie_runtime import codec
from vigie_runtime.auth import Authenticator, Caller, Permission
from vigie_runtime.grpc_auth import (
    caller_of,
    outcome,
    request_id_of,
)
from vigie_runtime.grpc_journal import refusal_record
from vigie_storage.blobs import BlobStore
from vigie_storage.grpc_audit import AuditCalls
from vigie_storage.grpc_common import (
    MAX_PURPOSE,
    BadRequest,
    Method,
    decode_cursor,
    encode_cursor,
    journaled,
    new_record_id,
    stored_blob,
)
from vigie_storage.grpc_media import MediaCalls
from vigie_storage.ports import ArchiveStore, Cursor, SearchQuery, Snapshot

log = logging.getLogger(__name__)

T = TypeVar("T")


def _kinds(request: services_pb2.SearchRequest) -> frozenset[EventKind]:
    kinds = set()
    for value in request.kinds:
        name = events_pb2.EventKind.Name(value) if value in events_pb2.EventKind.values() else ""
        if not name or value == 0:
            raise BadRequest(f"unknown event kind {value}")
        kinds.add(EventKind(name.removeprefix("EVENT_KIND_").lower()))
    return frozenset(kinds)


def _query(request: services_pb2.SearchRequest, *, tracks: bool) -> SearchQuery:
    """The store's query for ``request``; ``tracks`` says whether the track-only filter may be
    set. A filter a search cannot apply is refused rather than ignored: an operator asking for
    time spent in a zone must not get every alert back."""
    since = request.since.ToNanoseconds() / 1e9 if request.HasField("since") else None
    until = request.until.ToNanoseconds() / 1e9 if request.HasField("until") else None
    if since is not None and until is not None and until <= since:
        raise BadRequest("until must be after since")
    colour = request.colour.strip().lower() or None
    min_seconds = request.min_seconds_in_zone
    if not tracks and min_seconds != 0.0:
        raise BadRequest("min_seconds_in_zone only applies to SearchTracks")
    if tracks and request.kinds:
        raise BadRequest("kinds only apply to events and alerts")
    if colour is not None and colour not in COLOUR_NAMES:
        raise BadRequest(
            f"unknown colour {request.colour!r}; one of {', '.join(sorted(COLOUR_NAMES))}"
        )
    if not (math.isfinite(min_seconds) and min_seconds >= 0.0):
        raise BadRequest(f"min_seconds_in_zone must be a number >= 0, got {min_seconds}")
    zones = frozenset(z for z in (request.zone, *request.zones) if z)
    if min_seconds > 0.0 and not zones:
        raise BadRequest("min_seconds_in_zone needs a zone")
    return SearchQuery(
        cameras=frozenset(c for c in (request.camera_id, *request.cameras) if c),
        since=since,
        until=until,
        zones=zones,
        class_name=request.class_name or None,
        limit=request.limit or 500,
        colour=colour,
        min_seconds_in_zone=min_seconds if min_seconds > 0.0 else None,
        kinds=_kinds(request),
        after=decode_cursor(request.page_token),
    )


def _filters(query: SearchQuery) -> dict[str, str]:
    """What was asked, for the journal: every filter that was set."""
    found: dict[str, Any] = {
        "cameras": sorted(query.cameras),
        "zones": sorted(query.zones),
        "kinds": sorted(str(k) for k in query.kinds),
        "since": query.since,
        "until": query.until,
        "class_name": query.class_name,
        "colour": query.colour,
        "min_seconds_in_zone": query.min_seconds_in_zone,
        "page": "next" if query.after else "first",
    }
    return {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in found.items() if v}


def _next_token(
    rows: Sequence[Any], limit: int, time_of: Callable[[Any], float], id_of: str
) -> str:
    if len(rows) < limit or not rows:
        return ""
    return encode_cursor(Cursor(time_of(rows[-1]), getattr(rows[-1], id_of)))


def _search_action(request: services_pb2.SearchRequest, what: str) -> str:
    """``export.<what>`` when the results leave the archive (a download), else
    ``search.<what>``: an auditor tells a look from a copy by the action alone."""
    return f"{'export' if request.export else 'search'}.{what}"


def _journaled_search(what: str) -> Callable[[Method], Method]:
    """:func:`journaled` with the action the request makes (:func:`_search_action`), so a
    refused or failed export is journaled as ``export.<what>`` like an answered one."""

    def wrap(method: Method) -> Method:
        as_search = journaled(f"search.{what}", lambda _: what)(method)
        as_export = journaled(f"export.{what}", lambda _: what)(method)

        @functools.wraps(method)
        def call(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            return (as_export if request.export else as_search)(self, request, context)

        return call

    return wrap


def _snapshot_info(snapshot: Snapshot) -> services_pb2.SnapshotInfo:
    return services_pb2.SnapshotInfo(
        alert_id=snapshot.alert_id,
        taken_at=codec.time_to_proto(snapshot.taken_at),
        faces_blurred=snapshot.faces_blurred,
        width=snapshot.width,
        height=snapshot.height,
    )


class ArchiveServicer(MediaCalls, AuditCalls, services_pb2_grpc.ArchiveServicer):
    def __init__(
        self,
        store: ArchiveStore,
        auth: Authenticator,
        blobs: BlobStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.auth = auth
        self.blobs = blobs
        self.clock = clock

    # -- who asks, and why ------------------------------------------------------------------------

    def _caller(self, context: grpc.ServicerContext, permission: Permission) -> Caller:
        return caller_of(context, self.auth, permission)

    @staticmethod
    def _purpose(purpose: str, context: grpc.ServicerContext) -> str:
        purpose = purpose.strip()
        if not purpose:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "state the purpose of this search (purpose); it is journaled",
            )
        if len(purpose) > MAX_PURPOSE:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"purpose longer than {MAX_PURPOSE} characters"
            )
        return purpose

    def _journal(
        self,
        context: grpc.ServicerContext,
        caller: Caller,
        action: str,
        subject: str,
        purpose: str,
        details: dict[str, str],
    ) -> None:
        """Written before the answer: a search the journal cannot record is not answered."""
        request_id = request_id_of(context)
        now = self.clock()
        record = entry(
            action,
            subject,
            now,
            actor=caller.operator,
            role=str(caller.role),
            reason=purpose,
            request_id=request_id,
            details={**details, "outcome": outcome(grpc.StatusCode.OK)},
            record_id=new_record_id(),
        )
        self.store.append_audit([record])
        log.info(
            "archive access journaled",
            extra={"action": action, "actor": caller.operator, "request_id": request_id},
        )

    def _journal_refusal(
        self,
        context: grpc.ServicerContext,
        request: Any,
        action: str,
        subject: str,
        code: grpc.StatusCode,
        details: str,
    ) -> None:
        """Who tried (as far as the token says: an unknown token by its fingerprint, never
        itself), why they said, and how it ended (:mod:`vigie_runtime.grpc_journal`, shared
        with the AlertDesk). A journal that cannot take the record is logged: the call is
        refused anyway."""
        record = refusal_record(
            context,
            self.auth,
            action,
            subject,
            code,
            details,
            self.clock(),
            reason=str(getattr(request, "purpose", "")).strip()[:MAX_PURPOSE],
        )
        try:
            self.store.append_audit([record])
        except Exception:
            log.exception("a refused archive call could not be journaled", extra={"action": action})

    def _checked(
        self,
        request: services_pb2.SearchRequest,
        context: grpc.ServicerContext,
        tracks: bool = False,
    ) -> tuple[Caller, str, SearchQuery]:
        caller = self._caller(context, Permission.SEARCH)
        if request.export:  # the results leave the archive: a copy, not only a look
            self._caller(context, Permission.EXPORT)
        purpose = self._purpose(request.purpose, context)
        try:
            return caller, purpose, _query(request, tracks=tracks)
        except (BadRequest, ValueError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises

    # -- searches ---------------------------------------------------------------------------------

    def _search(
        self,
        request: services_pb2.SearchRequest,
        context: grpc.ServicerContext,
        what: str,
        search: Callable[[SearchQuery], list[T]],
        tracks: bool = False,
    ) -> tuple[list[T], SearchQuery]:
        """Every search alike: check the caller and the request, search, and journal the
        search (``export.<what>`` for an export) with its number of results before answering."""
        caller, purpose, query = self._checked(request, context, tracks=tracks)
        found = search(query)
        details = {**_filters(query), "results": str(len(found))}
        self._journal(context, caller, _search_action(request, what), what, purpose, details)
        return found, query

    @_journaled_search("events")
    def SearchEvents(self, request, context):  # type: ignore[no-untyped-def]
        events, query = self._search(request, context, "events", self.store.search_events)
        return services_pb2.SearchEventsResponse(
            events=[codec.event_to_proto(e) for e in events],
            next_page_token=_next_token(events, query.limit, lambda e: e.occurred_at, "event_id"),
        )

    @_journaled_search("alerts")
    def SearchAlerts(self, request, context):  # type: ignore[no-untyped-def]
        alerts, query = self._search(request, context, "alerts", self.store.search_alerts)
        snapshots = {
            a.alert_id: _snapshot_info(s)
            for a in alerts
            if (s := self.store.snapshot_for(a.alert_id)) is not None
        }
        return services_pb2.SearchAlertsResponse(
            alerts=[codec.alert_to_proto(a) for a in alerts],
            next_page_token=_next_token(alerts, query.limit, lambda a: a.first_seen, "alert_id"),
            snapshots=snapshots,
        )

    @_journaled_search("tracks")
    def SearchTracks(self, request, context):  # type: ignore[no-untyped-def]
        tracks, query = self._search(
            request, context, "tracks", self.store.search_tracks, tracks=True
        )
        return services_pb2.SearchTracksResponse(
            tracks=[codec.track_summary_to_proto(t) for t in tracks],
            next_page_token=_next_token(tracks, query.limit, lambda t: t.first_seen, "track_id"),
        )

    @journaled("search.verdicts", lambda request: str(request.alert_id)[:200])
    def GetVerdicts(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._caller(context, Permission.SEARCH)
        purpose = self._purpose(request.purpose, context)
        if not request.alert_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "alert_id is required")
        verdicts = self.store.verdicts_for(request.alert_id)
        self._journal(
            context,
            caller,
            "search.verdicts",
            request.alert_id,
            purpose,
            {"results": str(len(verdicts))},
        )
        return services_pb2.GetVerdictsResponse(
            verdicts=[codec.verdict_to_proto(v) for v in verdicts]
        )

    @journaled("export.snapshot", lambda request: str(request.alert_id)[:200])
    def GetSnapshot(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._caller(context, Permission.EXPORT)
        purpose = self._purpose(request.purpose, context)
        snapshot = self.store.snapshot_for(request.alert_id) if request.alert_id else None
        if snapshot is None or self.blobs is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no snapshot of alert {request.alert_id!r}")
        jpeg = stored_blob(self.blobs, snapshot.blob_key)
        if jpeg is None:
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"the snapshot of alert {request.alert_id!r} is gone (retention)",
            )
        self._journal(
            context,
            caller,
            "export.snapshot",
            request.alert_id,
            purpose,
            {"faces_blurred": str(snapshot.faces_blurred), "bytes": str(len(jpeg))},
        )
        return services_pb2.Snapshot(info=_snapshot_info(snapshot), jpeg=jpeg)
