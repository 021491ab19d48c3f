"""The alert wall (open alerts, live), an alert's page, and the verdicts given from it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from vigie.v1 import services_pb2
from vigie_console.backend import CallFailed
from vigie_console.i18n import translator
from vigie_console.present import (
    KINDS,
    SEVERITY_RANK,
    AlertView,
    alert_view,
    kind_number,
    verdict_view,
)
from vigie_console.web import check_csrf, console_of, language_of, render, require
from vigie_runtime import codec

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
MAX_REASON = 500


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    severity = q.get("severity", "")
    kind = q.get("kind", "")
    return {
        "camera": q.get("camera", "")[:200],
        "kind": kind if kind in KINDS else "",
        "severity": severity if severity in SEVERITY_RANK else "",
    }


async def _open_alerts(request: Request, token: str) -> list[AlertView]:
    console = console_of(request)
    answer = await console.api.call(
        console.api.desk.ListAlerts, services_pb2.ListAlertsRequest(), token
    )
    return [alert_view(a) for a in answer.alerts]


def _flash(request: Request) -> str:
    """The verdict just given, said on the wall (only a known one: it comes from the URL)."""
    done = request.query_params.get("done", "")
    return done if done in VERDICTS else ""


async def wall(request: Request) -> Response:
    session = require(request, "watch")
    filters = _filters(request)
    alerts = [a for a in await _open_alerts(request, session.token) if a.matches(**filters)]
    alerts.sort(key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -(a.first_seen or 0)))
    cameras = sorted({a.camera_id for a in alerts} | set(console_of(request).board.camera_ids()))
    return render(
        request,
        "wall.html",
        {
            "alerts": alerts,
            "filters": filters,
            "kinds": KINDS,
            "severities": list(SEVERITY_RANK),
            "cameras": cameras,
            "flash": _flash(request),
        },
        session=session,
    )


def _row_html(request: Request, alert: AlertView) -> str:
    console = console_of(request)
    template = console.templates.get_template("_alert_row.html")
    return template.render(alert=alert, t=translator(language_of(request)))


async def events(request: Request) -> Response:
    """Server-sent events: every change of an alert within a second of the desk's, as the row
    to put on the wall (or the id to take off it, once decided)."""
    console = console_of(request)
    session = require(request, "watch")
    filters = _filters(request)
    limit = console.settings.web
    with session.lock:
        if session.streams >= limit.max_streams_per_session or console.streams >= limit.max_streams:
            return Response("too many live feeds open", status_code=429)
        session.streams += 1
        console.streams += 1

    async def feed() -> AsyncIterator[str]:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)

        async def pump() -> None:
            try:
                async for alert in console.api.watch(session.token):
                    await queue.put(alert)
                await queue.put(None)
            except CallFailed as exc:
                await queue.put(exc)

        task = asyncio.create_task(pump())
        try:
            yield "retry: 2000\n\n"
            while console.sessions.alive(session):
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item is None:
                    yield "event: ended\ndata: {}\n\n"
                    return
                if isinstance(item, CallFailed):
                    code = "signin" if item.code == grpc.StatusCode.UNAUTHENTICATED else "error"
                    yield f"event: {code}\ndata: {json.dumps({'error': item.details})}\n\n"
                    return
                alert = alert_view(item)
                if alert.open and alert.matches(**filters):
                    payload = {
                        "id": alert.alert_id,
                        "open": True,
                        "high": alert.high,
                        "html": _row_html(request, alert),
                    }
                else:  # decided, or no longer matching: off the wall
                    payload = {"id": alert.alert_id, "open": False}
                yield f"event: alert\ndata: {json.dumps(payload)}\n\n"
            yield "event: signin\ndata: {}\n\n"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with session.lock:
                session.streams -= 1
                console.streams -= 1

    return StreamingResponse(
        feed(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _purpose(alert_id: str) -> str:
    return f"review of alert {alert_id} in the operator console"


async def _find(request: Request, alert_id: str, token: str, history: bool) -> AlertView | None:
    """The alert, from whichever replica holds it; None when none does, or when it is decided
    and the caller may not see history (the desk says which: both read as "not found"). A desk
    older than GetAlert (a rolling upgrade) is asked for the whole list, as before."""
    console = console_of(request)
    try:
        alert = await console.api.call(
            console.api.desk.GetAlert, services_pb2.GetAlertRequest(alert_id=alert_id), token
        )
    except CallFailed as exc:
        if exc.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return None
        if exc.code is not grpc.StatusCode.UNIMPLEMENTED:
            raise
        everything = services_pb2.ListAlertsRequest(include_closed=history)
        listed = await console.api.call(console.api.desk.ListAlerts, everything, token)
        return next((alert_view(a) for a in listed.alerts if a.alert_id == alert_id), None)
    return alert_view(alert)


async def alert_page(request: Request) -> Response:
    console = console_of(request)
    session = require(request, "watch")
    alert_id = request.path_params["alert_id"]
    alert = await _find(request, alert_id, session.token, session.may("history"))
    if alert is None:
        return render(request, "error.html", {"message": "alert.not_found"}, 404, session)
    api, purpose = console.api, _purpose(alert_id)
    details: dict[str, str] = {}
    verdicts: list[dict[str, Any]] = []
    journal: list[Any] = []
    problems: list[str] = []
    if session.may("search"):
        try:
            found = await api.call(
                api.archive.SearchEvents,
                services_pb2.SearchRequest(
                    cameras=[alert.camera_id],
                    kinds=[kind_number(alert.kind)],
                    since=codec.time_to_proto((alert.first_seen or 0) - 5),
                    until=codec.time_to_proto((alert.first_seen or 0) + 5),
                    purpose=purpose,
                    limit=200,
                ),
                session.token,
            )
            for event in found.events:
                if event.event_id == alert.first_event_id:
                    details = dict(sorted(event.details.items()))
            verdicts = [
                verdict_view(v)
                for v in (
                    await api.call(
                        api.archive.GetVerdicts,
                        services_pb2.GetVerdictsRequest(alert_id=alert_id, purpose=purpose),
                        session.token,
                    )
                ).verdicts
            ]
        except CallFailed as exc:
            problems.append(exc.details)
    if session.may("audit"):
        try:
            listed = await api.call(
                api.archive.ListJournal,
                services_pb2.ListJournalRequest(subject=alert_id, purpose=purpose, limit=50),
                session.token,
            )
            journal = list(listed.entries)
        except CallFailed as exc:
            problems.append(exc.details)
    geometry = console.scenes.geometry(alert.camera_id) if console.scenes.path else {}
    zone = next((z for z in geometry.get("zones", []) if z["name"] == alert.zone), None)
    line = next((ln for ln in geometry.get("lines", []) if ln["name"] == alert.zone), None)
    return render(
        request,
        "alert.html",
        {
            "alert": alert,
            "details": details,
            "verdicts": verdicts,
            "journal": journal,
            "zone": zone,
            "line": line,
            "problems": problems,
            "error": request.query_params.get("error", ""),
        },
        session=session,
    )


async def snapshot(request: Request) -> Response:
    console = console_of(request)
    session = require(request, "export")
    alert_id = request.path_params["alert_id"]
    api = console.api
    shot = await api.call(
        api.archive.GetSnapshot,
        services_pb2.GetSnapshotRequest(alert_id=alert_id, purpose=_purpose(alert_id)),
        session.token,
    )
    return Response(
        shot.jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=300"}
    )


async def clip(request: Request) -> Response:
    """The clip's frames in one answer (one journaled call), played by the page."""
    console = console_of(request)
    session = require(request, "export")
    alert_id = request.path_params["alert_id"]
    api = console.api
    answer = await api.call(
        api.archive.GetClip,
        services_pb2.GetClipRequest(alert_id=alert_id, purpose=_purpose(alert_id)),
        session.token,
    )
    frames = [
        {
            "at": codec.time_from_proto(f.captured_at),
            "alert_frame": f.alert_frame,
            "src": "data:image/jpeg;base64," + base64.b64encode(f.jpeg).decode(),
        }
        for f in answer.frames
    ]
    return JSONResponse(
        {
            "alert_id": alert_id,
            "frames": frames,
            "width": answer.width,
            "height": answer.height,
            "faces_blurred": answer.faces_blurred,
        }
    )


VERDICTS = {"acknowledge": "Acknowledge", "confirm": "Confirm", "dismiss": "Dismiss"}


async def verdict(request: Request) -> Response:
    """A verdict as the person gave it. The desk checks the role and journals the verdict, or
    the refusal: the console does not pre-judge, so an attempt the role forbids is journaled."""
    console = console_of(request)
    session = require(request, "watch")
    form = await request.form()
    check_csrf(request, session, form)
    alert_id = request.path_params["alert_id"]
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "").strip()
    if action not in VERDICTS:
        return render(request, "error.html", {"message": "verdict.unknown"}, 400, session)
    if action != "acknowledge" and not reason:
        return RedirectResponse(f"/alerts/{alert_id}?error=verdict.reason_required", 303)
    if len(reason) > MAX_REASON:
        return RedirectResponse(f"/alerts/{alert_id}?error=verdict.reason_too_long", 303)
    api = console.api
    await api.call(
        getattr(api.desk, VERDICTS[action]),
        services_pb2.VerdictRequest(alert_id=alert_id, reason=reason),
        session.token,
    )
    if action == "acknowledge":
        return RedirectResponse(f"/alerts/{alert_id}", 303)
    return RedirectResponse(f"/?done={action}", 303)
