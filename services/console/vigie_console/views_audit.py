"""The auditor's pages: the journal with filters and its verification; and the reports
(occupancy per zone, where people stood, alert precision from the verdicts)."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vigie.v1 import services_pb2
from vigie_console.backend import CallFailed
from vigie_console.present import kind_name, precision_text, report_heat, when
from vigie_console.scene_file import SceneRefused
from vigie_console.web import console_of, local_input, parse_local_time, render, require
from vigie_runtime import codec
from vigie_runtime.yamlconf import ConfigError

DAY_S = 86_400.0


def _journal_request(request: Request) -> services_pb2.ListJournalRequest:
    q = request.query_params
    console = console_of(request)
    message = services_pb2.ListJournalRequest(
        actor=q.get("actor", "").strip()[:128],
        action_prefix=q.get("action", "").strip()[:64],
        subject=q.get("subject", "").strip()[:200],
        camera_id=q.get("camera", "").strip()[:200],
        purpose=q.get("purpose", "").strip(),
        page_token=q.get("page", "")[:500],
        limit=console.settings.page_size,
    )
    since = parse_local_time(q.get("since"), console.settings.timezone)
    until = parse_local_time(q.get("until"), console.settings.timezone)
    if since is not None:
        message.since.CopyFrom(codec.time_to_proto(since))
    if until is not None:
        message.until.CopyFrom(codec.time_to_proto(until))
    return message


def _entry(entry: Any) -> dict[str, Any]:
    record = entry.record
    return {
        "seq": entry.seq,
        "at": when(record.at),
        "actor": record.actor,
        "role": record.role,
        "action": record.action,
        "subject": record.subject,
        "reason": record.reason,
        "camera_id": record.camera_id,
        "details": dict(sorted(record.details.items())),
    }


async def audit(request: Request) -> Response:
    session = require(request, "audit")
    console = console_of(request)
    q = request.query_params
    context: dict[str, Any] = {
        "q": q,
        "entries": None,
        "next_page": "",
        "error": "",
        "verification": None,
    }
    api = console.api
    try:
        if q.get("run"):
            listed = await api.call(
                api.archive.ListJournal, _journal_request(request), session.token
            )
            context.update(
                entries=[_entry(e) for e in listed.entries], next_page=listed.next_page_token
            )
        if q.get("verify"):
            result = await api.call(
                api.archive.VerifyJournal,
                services_pb2.VerifyJournalRequest(purpose=q.get("purpose", "").strip()),
                session.token,
            )
            context["verification"] = {
                "ok": result.ok,
                "checked": result.checked,
                "checkpoints": result.checkpoints,
                "development_key": result.development_key,
                "at": when(result.verified_at),
                "problems": [
                    f"{p.where or f'record {p.seq} ({p.record_id})'}: {p.kind}: {p.detail}"
                    for p in result.problems
                ],
            }
    except ValueError as exc:
        context["error"] = str(exc)
    except CallFailed as exc:
        context["error"] = exc.details
        return render(request, "audit.html", context, exc.http_status, session)
    return render(request, "audit.html", context, session=session)


def occupancy_svg(periods: list[Any], width: int = 560, height: int = 140) -> dict[str, Any]:
    """The peak of each period as a step curve, in the SVG's own units."""
    if not periods:
        return {"path": "", "peak": 0, "width": width, "height": height}
    start = codec.time_from_proto(periods[0].start)
    end = codec.time_from_proto(periods[-1].start) + periods[-1].period_s
    span = max(end - start, 1e-6)
    peak = max(p.peak for p in periods)
    top = max(peak, 1)  # the scale; an empty zone's curve lies on the axis
    points = []
    for p in periods:
        x0 = (codec.time_from_proto(p.start) - start) / span * width
        x1 = x0 + p.period_s / span * width
        y = height - p.peak / top * (height - 10)
        points += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
    return {
        "path": "M" + " L".join(points),
        "peak": peak,
        "width": width,
        "height": height,
        "start": start,
        "end": end,
        "came_in": sum(p.came_in for p in periods),
    }


def _zones_by_camera(console: Any) -> dict[str, list[dict[str, Any]]]:
    """Each camera's zones, drawn over its heat map (none when the scene file cannot say)."""
    if not console.scenes.path:
        return {}
    try:
        return {c: list(g["zones"]) for c, g in console.scenes.geometries().items()}
    except (ConfigError, SceneRefused, OSError):
        return {}  # a broken scene file must not take the report down; the cameras page says why


async def reports(request: Request) -> Response:
    session = require(request, "search")
    console = console_of(request)
    q = request.query_params
    tz = console.settings.timezone
    now = console.clock()
    context: dict[str, Any] = {
        "q": q,
        "report": None,
        "error": "",
        "since": q.get("since") or local_input(now - DAY_S, tz),
        "until": q.get("until") or local_input(now + 60, tz),
    }
    if q.get("run"):
        try:
            since = parse_local_time(context["since"], tz) or now - DAY_S
            until = parse_local_time(context["until"], tz) or now
            message = services_pb2.ReportRequest(
                since=codec.time_to_proto(since),
                until=codec.time_to_proto(until),
                cameras=[c.strip() for c in q.get("cameras", "").split(",") if c.strip()],
                purpose=q.get("purpose", "").strip(),
            )
            api = console.api
            report = await api.call(api.archive.GetReport, message, session.token)
            zones = _zones_by_camera(console)
            context["report"] = {
                "occupancy": [
                    {
                        "camera_id": z.camera_id,
                        "zone": z.zone,
                        "curve": occupancy_svg(list(z.periods)),
                    }
                    for z in report.occupancy
                ],
                "heat_maps": [
                    {**report_heat(h), "zones": zones.get(h.camera_id, [])}
                    for h in report.heat_maps
                ],
                "precision": [
                    {
                        "camera_id": p.camera_id,
                        "kind": kind_name(p.kind),
                        "zone": p.zone,
                        "raised": p.raised,
                        "confirmed": p.confirmed,
                        "dismissed": p.dismissed,
                        "precision": precision_text(p.precision),
                        "known": not math.isnan(p.precision),
                    }
                    for p in report.precision
                ],
                "events": report.events,
                "tracks": report.tracks,
                "alerts": report.alerts,
            }
        except ValueError as exc:
            context["error"] = str(exc)
        except CallFailed as exc:
            context["error"] = exc.details
            return render(request, "reports.html", context, exc.http_status, session)
    return render(request, "reports.html", context, session=session)
