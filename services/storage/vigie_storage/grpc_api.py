"""The Archive gRPC API: search what was stored by camera, time range, zone and class."""

from __future__ import annotations

import grpc

from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_runtime import codec
from vigie_storage.ports import ArchiveStore, SearchQuery


def _query(request: services_pb2.SearchRequest) -> SearchQuery:
    since = request.since.ToNanoseconds() / 1e9 if request.HasField("since") else None
    until = request.until.ToNanoseconds() / 1e9 if request.HasField("until") else None
    return SearchQuery(
        camera_id=request.camera_id or None,
        since=since,
        until=until,
        zone=request.zone or None,
        class_name=request.class_name or None,
        limit=request.limit or 500,
    )


class ArchiveServicer(services_pb2_grpc.ArchiveServicer):
    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def _checked(
        self, request: services_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> SearchQuery:
        query = _query(request)
        if query.since is not None and query.until is not None and query.until <= query.since:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "until must be after since")
        return query

    def SearchEvents(self, request, context):  # type: ignore[no-untyped-def]
        events = self.store.search_events(self._checked(request, context))
        return services_pb2.SearchEventsResponse(events=[codec.event_to_proto(e) for e in events])

    def SearchAlerts(self, request, context):  # type: ignore[no-untyped-def]
        alerts = self.store.search_alerts(self._checked(request, context))
        return services_pb2.SearchAlertsResponse(alerts=[codec.alert_to_proto(a) for a in alerts])

    def SearchTracks(self, request, context):  # type: ignore[no-untyped-def]
        tracks = self.store.search_tracks(self._checked(request, context))
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
