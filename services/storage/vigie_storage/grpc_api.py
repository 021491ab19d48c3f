"""The Archive gRPC API: search what was stored by camera, time range, zone and class, and
tracks by vehicle colour and time spent in a zone."""

from __future__ import annotations

import math

import grpc

from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_core.colours import COLOUR_NAMES
from vigie_runtime import codec
from vigie_storage.ports import ArchiveStore, SearchQuery


class _BadRequest(ValueError):
    """A search the servicer answers with INVALID_ARGUMENT and this message."""


def _query(request: services_pb2.SearchRequest, *, tracks: bool) -> SearchQuery:
    """The store's query for ``request``; ``tracks`` says whether the track-only filters may be
    set. A filter a search cannot apply is refused rather than ignored: an operator asking for
    red vehicles' alerts must not get every alert back."""
    since = request.since.ToNanoseconds() / 1e9 if request.HasField("since") else None
    until = request.until.ToNanoseconds() / 1e9 if request.HasField("until") else None
    if since is not None and until is not None and until <= since:
        raise _BadRequest("until must be after since")
    colour = request.colour.strip().lower() or None
    min_seconds = request.min_seconds_in_zone
    if not tracks and (colour is not None or min_seconds != 0.0):
        raise _BadRequest("colour and min_seconds_in_zone only apply to SearchTracks")
    if colour is not None and colour not in COLOUR_NAMES:
        raise _BadRequest(
            f"unknown colour {request.colour!r}; one of {', '.join(sorted(COLOUR_NAMES))}"
        )
    if not (math.isfinite(min_seconds) and min_seconds >= 0.0):
        raise _BadRequest(f"min_seconds_in_zone must be a number >= 0, got {min_seconds}")
    if min_seconds > 0.0 and not request.zone:
        raise _BadRequest("min_seconds_in_zone needs a zone")
    return SearchQuery(
        camera_id=request.camera_id or None,
        since=since,
        until=until,
        zone=request.zone or None,
        class_name=request.class_name or None,
        limit=request.limit or 500,
        colour=colour,
        min_seconds_in_zone=min_seconds if min_seconds > 0.0 else None,
    )


class ArchiveServicer(services_pb2_grpc.ArchiveServicer):
    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def _checked(
        self,
        request: services_pb2.SearchRequest,
        context: grpc.ServicerContext,
        tracks: bool = False,
    ) -> SearchQuery:
        try:
            return _query(request, tracks=tracks)
        except _BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises

    def SearchEvents(self, request, context):  # type: ignore[no-untyped-def]
        events = self.store.search_events(self._checked(request, context))
        return services_pb2.SearchEventsResponse(events=[codec.event_to_proto(e) for e in events])

    def SearchAlerts(self, request, context):  # type: ignore[no-untyped-def]
        alerts = self.store.search_alerts(self._checked(request, context))
        return services_pb2.SearchAlertsResponse(alerts=[codec.alert_to_proto(a) for a in alerts])

    def SearchTracks(self, request, context):  # type: ignore[no-untyped-def]
        tracks = self.store.search_tracks(self._checked(request, context, tracks=True))
        return services_pb2.SearchTracksResponse(
            tracks=[codec.track_summary_to_proto(t) for t in tracks]
        )

    def GetVerdicts(self, request, context):  # type: ignore[no-untyped-def]
        if not request.alert_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "alert_id is required")
        verdicts = self.store.verdicts_for(request.alert_id)
        return services_pb2.GetVerdictsResponse(
            verdicts=[codec.verdict_to_proto(v) for v in verdicts]
        )
