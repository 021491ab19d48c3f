"""Archive calls for auditors and reports: the journal, its verification, and reports.

Reading the journal is an access like any other: ListJournal and VerifyJournal need the audit
permission (auditors, supervisors) and a purpose, and each leaves its own record (``audit.list``,
``audit.verify``), written after the page is read so a listing never shows itself, but before
the answer, so a listing the journal cannot record is not answered. GetReport shows aggregates
only (counts per zone and period, a density grid, precision per rule) and is journaled as
``report.view``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from vigie.v1 import events_pb2, services_pb2
from vigie_core.alerting.evaluation import evaluation_of, precision_table
from vigie_core.journal import ChainedRecord, Keyring, Problem, verify_stored
from vigie_core.reporting import (
    OccupancyPoint,
    TooManyRows,
    every_row,
    occupancy_by,
    position_grid,
)
from vigie_core.types import Alert, Event, EventKind, TrackSummary
from vigie_runtime import codec
from vigie_runtime.auth import Caller, Permission
from vigie_storage.grpc_common import BadRequest, decode_cursor, encode_cursor, journaled
from vigie_storage.ports import (
    JOURNAL_PAGE,
    MAX_JOURNAL_PAGE,
    MAX_LIMIT,
    ArchiveStore,
    Cursor,
    JournalQuery,
    SearchQuery,
)

Row = TypeVar("Row")

DAY_S = 86_400.0
MAX_REPORT_DAYS = 31
# Rows (occupancy events, person tracks and alerts together) one report may read: past it the
# report is refused with RESOURCE_EXHAUSTED rather than drawn from part of the range.
REPORT_MAX_ROWS = 200_000
HEAT_COLUMNS, HEAT_ROWS = 48, 27
MAX_HEAT_SIDE = 256
HEAT_CLASS = "person"


class AuditCalls:
    """ListJournal, VerifyJournal and GetReport, mixed into ``ArchiveServicer``.

    ``journal_keyring`` is the archive's journal keys, for VerifyJournal; the storage service
    sets it. Unset, the store's own keyring is used (the adapters sign with it), and failing
    that the development key: a servicer built without it still verifies what it can and says
    when the key proves nothing (``development_key``).
    """

    journal_keyring: Keyring | None = None
    report_max_rows: int = REPORT_MAX_ROWS

    # Provided by ArchiveServicer (see grpc_api): declared here for the type checker only.
    store: ArchiveStore
    clock: Callable[[], float]
    _caller: Callable[[grpc.ServicerContext, Permission], Caller]
    _purpose: Callable[[str, grpc.ServicerContext], str]
    _journal: Callable[
        [grpc.ServicerContext, Caller, str, str, str, dict[str, str]],
        None,
    ]

    # -- the journal ------------------------------------------------------------------------------

    @journaled("audit.list", lambda _: "journal")
    def ListJournal(
        self, request: services_pb2.ListJournalRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListJournalResponse:
        """A page newest first; the listing is journaled once the page is read, so it is not
        in its own page (the next listing shows it)."""
        caller = self._caller(context, Permission.AUDIT)
        purpose = self._purpose(request.purpose, context)
        try:
            query = _journal_query(request)
        except (BadRequest, ValueError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises
        page = self.store.audit_page(query)
        details = {
            **_journal_filters(query),
            "results": str(len(page.records)),
            "page": "next" if query.before_seq is not None else "first",
        }
        self._journal(context, caller, "audit.list", "journal", purpose, details)
        token = ""
        if page.next_before_seq is not None:
            token = encode_cursor(Cursor(float(page.next_before_seq), str(page.next_before_seq)))
        return services_pb2.ListJournalResponse(
            entries=[_entry(chained) for chained in page.records], next_page_token=token
        )

    @journaled("audit.verify", lambda _: "journal")
    def VerifyJournal(
        self, request: services_pb2.VerifyJournalRequest, context: grpc.ServicerContext
    ) -> services_pb2.JournalVerification:
        """What ``vigie audit verify`` checks (:func:`vigie_core.journal.verify_stored`), with
        the archive's keys. The whole journal is walked, as the CLI walks it."""
        caller = self._caller(context, Permission.AUDIT)
        purpose = self._purpose(request.purpose, context)
        keyring = self._keyring()
        anchor, result = verify_stored(self.store, keyring)
        details = {
            "ok": str(result.ok).lower(),
            "checked": str(result.checked),
            "checkpoints": str(result.checkpoints),
            "problems": str(len(result.problems)),
            "from_seq": str(anchor.after_seq + 1),
        }
        self._journal(context, caller, "audit.verify", "journal", purpose, details)
        return services_pb2.JournalVerification(
            ok=result.ok,
            checked=result.checked,
            checkpoints=result.checkpoints,
            problems=[_problem(p) for p in result.problems],
            verified_at=codec.time_to_proto(self.clock()),
            development_key=keyring.is_development,
        )

    def _keyring(self) -> Keyring:
        """The keys given, else the store's (it signs with them), else the development key."""
        if self.journal_keyring is not None:
            return self.journal_keyring
        store_keys = getattr(self.store, "keyring", None)
        return store_keys if isinstance(store_keys, Keyring) else Keyring.development()

    # -- reports ----------------------------------------------------------------------------------

    @journaled("report.view", lambda _: "report")
    def GetReport(
        self, request: services_pb2.ReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.Report:
        """Occupancy per camera and zone, person heat maps per camera and alert precision over
        at most 31 days. Rows are read page by page up to :attr:`report_max_rows` in all; past
        that the report is refused (RESOURCE_EXHAUSTED), never drawn from a truncated range."""
        caller = self._caller(context, Permission.SEARCH)
        purpose = self._purpose(request.purpose, context)
        try:
            since, until, cameras, columns, rows = _report_request(request)
        except BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises
        read = _Reader(self.report_max_rows)
        try:
            events: list[Event] = read.all(
                self.store.search_events,
                SearchQuery(
                    cameras=cameras,
                    since=since,
                    until=until,
                    limit=MAX_LIMIT,
                    kinds=frozenset({EventKind.OCCUPANCY}),
                ),
                lambda e: (e.occurred_at, e.event_id),
            )
            tracks: list[TrackSummary] = read.all(
                self.store.search_tracks,
                SearchQuery(
                    cameras=cameras,
                    since=since,
                    until=until,
                    limit=MAX_LIMIT,
                    class_name=HEAT_CLASS,
                ),
                lambda t: (t.first_seen, t.track_id),
            )
            alerts: list[Alert] = read.all(
                self.store.search_alerts,
                SearchQuery(cameras=cameras, since=since, until=until, limit=MAX_LIMIT),
                lambda a: (a.first_seen, a.alert_id),
            )
        except TooManyRows as exc:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this report would read more than {exc.at_most} rows (occupancy events, person"
                " tracks and alerts); narrow the time range or name fewer cameras",
            )
            raise  # unreachable: abort raises
        report = services_pb2.Report(
            occupancy=_occupancy(events),
            heat_maps=_heat_maps(tracks, cameras, columns, rows, since, until),
            precision=_precision(alerts),
            events=len(events),
            tracks=len(tracks),
            alerts=len(alerts),
        )
        details = {
            "since": str(since),
            "until": str(until),
            "cameras": ",".join(sorted(cameras)) or "all",
            "events": str(len(events)),
            "tracks": str(len(tracks)),
            "alerts": str(len(alerts)),
        }
        self._journal(context, caller, "report.view", "report", purpose, details)
        return report


class _Reader:
    """Every row of several searches, with one bound on all of them together."""

    def __init__(self, at_most: int) -> None:
        self.left = at_most
        self.at_most = at_most

    def all(
        self,
        search: Callable[[SearchQuery], list[Row]],
        query: SearchQuery,
        key: Callable[[Row], tuple[float, str]],
    ) -> list[Row]:
        """Every row of ``search``, paged by keyset (``key``: the row's time and id, as the
        search orders them), so rows spanning a page boundary are neither lost nor repeated."""
        try:
            found = list(
                every_row(
                    search,
                    query,
                    lambda row: key(row)[0],
                    at_most=self.left,
                    after=lambda row: Cursor(*key(row)),
                )
            )
        except TooManyRows:
            raise TooManyRows(self.at_most) from None
        self.left -= len(found)
        return found


# -- requests ------------------------------------------------------------------------------------


def _time(request: Any, name: str) -> float | None:
    return getattr(request, name).ToNanoseconds() / 1e9 if request.HasField(name) else None


def _journal_query(request: services_pb2.ListJournalRequest) -> JournalQuery:
    """The store's query for a listing: 0 is the default page, more than the maximum is cut to
    it (as searches cap theirs); a page token must be one a listing gave."""
    since, until = _time(request, "since"), _time(request, "until")
    if since is not None and until is not None and until <= since:
        raise BadRequest("until must be after since")
    cursor = decode_cursor(request.page_token)
    before_seq = None
    if cursor is not None:
        if not cursor.row_id.isdigit() or int(cursor.row_id) < 1:
            raise BadRequest("page_token is not one a journal listing gave")
        before_seq = int(cursor.row_id)
    return JournalQuery(
        since=since,
        until=until,
        actor=request.actor.strip(),
        action_prefix=request.action_prefix.strip(),
        subject=request.subject.strip(),
        camera_id=request.camera_id.strip(),
        limit=min(request.limit or JOURNAL_PAGE, MAX_JOURNAL_PAGE),
        before_seq=before_seq,
    )


def _journal_filters(query: JournalQuery) -> dict[str, str]:
    """What was asked, for the journal: every filter that was set."""
    found = {
        "since": query.since,
        "until": query.until,
        "actor": query.actor,
        "action_prefix": query.action_prefix,
        "subject": query.subject,
        "camera_id": query.camera_id,
    }
    return {k: str(v) for k, v in found.items() if v}


def _report_request(
    request: services_pb2.ReportRequest,
) -> tuple[float, float, frozenset[str], int, int]:
    since, until = _time(request, "since"), _time(request, "until")
    if since is None or until is None:
        raise BadRequest("a report needs since and until")
    if until <= since:
        raise BadRequest("until must be after since")
    if until - since > MAX_REPORT_DAYS * DAY_S:
        raise BadRequest(f"a report covers at most {MAX_REPORT_DAYS} days")
    columns = request.heat_columns or HEAT_COLUMNS
    rows = request.heat_rows or HEAT_ROWS
    if columns > MAX_HEAT_SIDE or rows > MAX_HEAT_SIDE:
        raise BadRequest(f"a heat map has at most {MAX_HEAT_SIDE} columns and rows")
    return since, until, frozenset(c for c in request.cameras if c), columns, rows


# -- answers -------------------------------------------------------------------------------------


def _entry(chained: ChainedRecord) -> services_pb2.JournalEntry:
    return services_pb2.JournalEntry(
        seq=chained.seq, record=codec.audit_to_proto(chained.record), hash=chained.hash
    )


def _problem(problem: Problem) -> services_pb2.JournalProblem:
    return services_pb2.JournalProblem(
        seq=max(problem.seq, 0),
        record_id=problem.record_id,
        kind=problem.kind,
        detail=problem.detail,
        where=problem.where,
    )


def _occupancy(events: list[Event]) -> Iterator[services_pb2.ZoneOccupancy]:
    """Per camera and zone: two cameras may each have a zone of the same name."""
    series = occupancy_by(events, lambda e: (e.camera_id, e.zone))
    for (camera_id, zone), points in sorted(series.items()):
        yield services_pb2.ZoneOccupancy(
            camera_id=camera_id, zone=zone, periods=[_period(p) for p in points]
        )


def _period(point: OccupancyPoint) -> services_pb2.OccupancyPeriod:
    return services_pb2.OccupancyPeriod(
        start=codec.time_to_proto(point.start),
        period_s=point.period_s,
        came_in=point.came_in,
        went_out=point.went_out,
        present=point.present,
        peak=point.peak,
    )


def _heat_maps(
    tracks: list[TrackSummary],
    cameras: frozenset[str],
    columns: int,
    rows: int,
    since: float,
    until: float,
) -> Iterator[services_pb2.HeatMap]:
    """One map per camera with person tracks, and one (empty) per camera asked for by name."""
    by_camera: dict[str, list[TrackSummary]] = defaultdict(list)
    for track in tracks:
        by_camera[track.camera_id].append(track)
    for camera_id in sorted(set(by_camera) | cameras):
        mine = by_camera.get(camera_id, [])
        grid = position_grid(mine, columns, rows, HEAT_CLASS, since=since, until=until)
        yield services_pb2.HeatMap(
            camera_id=camera_id,
            columns=columns,
            rows=rows,
            cells=[count for line in grid for count in line],
            tracks=len(mine),
        )


def _precision(alerts: list[Alert]) -> Iterator[services_pb2.Precision]:
    for camera_id, kind, zone, tally in precision_table(evaluation_of(alerts)):
        yield services_pb2.Precision(
            camera_id=camera_id,
            kind=events_pb2.EventKind.Value(f"EVENT_KIND_{kind.name}"),
            zone=zone,
            raised=tally.raised,
            confirmed=tally.confirmed,
            dismissed=tally.dismissed,
            precision=math.nan if tally.precision is None else tally.precision,
        )
