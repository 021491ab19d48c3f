"""Forensic search with a stated purpose, paged, and its journaled CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vigie.v1 import services_pb2
from vigie_console.backend import CallFailed
from vigie_console.present import KINDS, alert_view, kind_name, kind_number, when
from vigie_console.web import console_of, parse_local_time, render, require
from vigie_core.colours import COLOUR_NAMES
from vigie_runtime import codec

WHAT = ("alerts", "events", "tracks")
MAX_EXPORT_ROWS = 10_000


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()][:50]


def search_request(
    request: Request, export: bool = False
) -> tuple[str, services_pb2.SearchRequest]:
    """The archive's request for the form's fields. Raises ValueError for a field that cannot
    be read (the page says which)."""
    q = request.query_params
    console = console_of(request)
    what = q.get("what", "alerts")
    if what not in WHAT:
        raise ValueError(f"unknown kind of search {what!r}")
    since = parse_local_time(q.get("since"), console.settings.timezone)
    until = parse_local_time(q.get("until"), console.settings.timezone)
    kinds = [k for k in q.getlist("kind") if k in KINDS]
    min_seconds = q.get("min_seconds", "").strip()
    message = services_pb2.SearchRequest(
        cameras=[c for c in q.getlist("camera") if c][:50] + _split(q.get("cameras", "")),
        zones=_split(q.get("zones", "")),
        class_name=q.get("class_name", "").strip()[:64],
        purpose=q.get("purpose", "").strip(),
        page_token=q.get("page", "")[:500],
        limit=console.settings.page_size,
        export=export,
    )
    if since is not None:
        message.since.CopyFrom(codec.time_to_proto(since))
    if until is not None:
        message.until.CopyFrom(codec.time_to_proto(until))
    if what == "tracks":
        message.colour = q.get("colour", "").strip()
        if min_seconds:
            message.min_seconds_in_zone = float(min_seconds)
    else:
        message.kinds.extend(kind_number(k) for k in kinds)
    return what, message


def _rows(what: str, answer: Any) -> list[dict[str, Any]]:
    if what == "alerts":
        return [
            {"alert": alert_view(a), "snapshot": a.alert_id in answer.snapshots}
            for a in answer.alerts
        ]
    if what == "events":
        return [
            {
                "event_id": e.event_id,
                "kind": kind_name(e.kind),
                "camera_id": e.frame.camera_id,
                "zone": e.zone,
                "class_name": e.class_name,
                "at": when(e.frame.captured_at),
                "details": dict(sorted(e.details.items())),
            }
            for e in answer.events
        ]
    return [
        {
            "track_id": t.track_id,
            "camera_id": t.camera_id,
            "class_name": t.class_name,
            "colour": t.colour,
            "first_seen": when(t.first_seen),
            "last_seen": when(t.last_seen),
            "zones": dict(t.seconds_in_zone),
        }
        for t in answer.tracks
    ]


def _method(request: Request, what: str) -> Any:
    archive = console_of(request).api.archive
    return {
        "alerts": archive.SearchAlerts,
        "events": archive.SearchEvents,
        "tracks": archive.SearchTracks,
    }[what]


async def search(request: Request) -> Response:
    session = require(request, "search")
    console = console_of(request)
    q = request.query_params
    context: dict[str, Any] = {
        "q": q,
        "kinds": KINDS,
        "colours": sorted(COLOUR_NAMES),
        "cameras": console.board.camera_ids(),
        "rows": None,
        "what": q.get("what", "alerts"),
        "error": "",
        "next_page": "",
    }
    if q.get("run"):
        try:
            what, message = search_request(request)
            answer = await console.api.call(_method(request, what), message, session.token)
            context.update(rows=_rows(what, answer), what=what, next_page=answer.next_page_token)
        except ValueError as exc:
            context["error"] = str(exc)
        except CallFailed as exc:
            context["error"] = exc.details
            return render(request, "search.html", context, exc.http_status, session)
    return render(request, "search.html", context, session=session)


def _csv_row(what: str, row: dict[str, Any]) -> list[str]:
    if what == "alerts":
        a = row["alert"]
        return [
            a.alert_id,
            a.camera_id,
            a.kind,
            a.zone,
            a.severity,
            a.status,
            a.class_name,
            str(a.first_seen or ""),
            str(a.last_seen or ""),
            str(a.count),
            a.reason,
        ]
    if what == "events":
        return [
            row["event_id"],
            row["camera_id"],
            row["kind"],
            row["zone"],
            row["class_name"],
            str(row["at"] or ""),
            ";".join(f"{k}={v}" for k, v in row["details"].items()),
        ]
    return [
        row["track_id"],
        row["camera_id"],
        row["class_name"],
        row["colour"],
        str(row["first_seen"] or ""),
        str(row["last_seen"] or ""),
        ";".join(f"{k}={v:.1f}" for k, v in row["zones"].items()),
    ]


HEADERS = {
    "alerts": [
        "alert_id",
        "camera_id",
        "kind",
        "zone",
        "severity",
        "status",
        "class_name",
        "first_seen",
        "last_seen",
        "count",
        "reason",
    ],
    "events": ["event_id", "camera_id", "kind", "zone", "class_name", "occurred_at", "details"],
    "tracks": [
        "track_id",
        "camera_id",
        "class_name",
        "colour",
        "first_seen",
        "last_seen",
        "seconds_in_zone",
    ],
}


def _cell(value: str) -> str:
    """Spreadsheets run a cell that starts like a formula; the export must not carry one."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def export(request: Request) -> Response:
    """Every page of the search as CSV; each page is an export journaled by the archive (the
    permission export is the archive's to check)."""
    session = require(request, "search")
    console = console_of(request)
    try:
        what, message = search_request(request, export=True)
    except ValueError as exc:
        return Response(str(exc), status_code=400)
    message.limit = 500
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS[what])
    rows = 0
    while True:
        answer = await console.api.call(_method(request, what), message, session.token)
        for row in _rows(what, answer):
            writer.writerow([_cell(v) for v in _csv_row(what, row)])
            rows += 1
        if not answer.next_page_token or rows >= MAX_EXPORT_ROWS:
            break
        message.page_token = answer.next_page_token
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="vigie-{what}.csv"'},
    )
