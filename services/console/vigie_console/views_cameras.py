"""Cameras: their status and a still of each scene with its zones and lines, and the editor
that draws them and saves the scene file through the journal."""

from __future__ import annotations

import hashlib
import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vigie.v1 import services_pb2
from vigie_console.journal import JournalUnavailable
from vigie_console.scene_file import SceneRefused
from vigie_console.web import check_csrf, console_of, render, require
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)

MAX_SCENE_BYTES = 256 * 1024
STILL_PURPOSE = "camera overview in the operator console"


def _scene_cameras(request: Request) -> tuple[dict[str, dict[str, object]], str]:
    """Camera id -> its zones and lines; and the scene file's error, when it does not load."""
    scenes = console_of(request).scenes
    try:
        return scenes.geometries(), ""
    except (ConfigError, SceneRefused, OSError) as exc:
        return {}, str(exc)


async def cameras(request: Request) -> Response:
    session = require(request, "watch")
    console = console_of(request)
    geometry, scene_error = _scene_cameras(request)
    ids = sorted(set(console.board.camera_ids()) | set(geometry))
    views = [(console.board.view(c), geometry.get(c, {"zones": [], "lines": []})) for c in ids]
    return render(
        request, "cameras.html", {"cameras": views, "scene_error": scene_error}, session=session
    )


async def still(request: Request) -> Response:
    session = require(request, "search")
    console = console_of(request)
    camera_id = request.path_params["camera_id"]
    api = console.api
    shot = await api.call(
        api.archive.GetCameraStill,
        services_pb2.GetCameraStillRequest(camera_id=camera_id, purpose=STILL_PURPOSE),
        session.token,
    )
    return Response(
        shot.jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=30"}
    )


async def editor(request: Request) -> Response:
    session = require(request, "configure")
    console = console_of(request)
    camera_id = request.path_params["camera_id"]
    try:
        geometry = console.scenes.geometry(camera_id)
        error = ""
    except (ConfigError, SceneRefused, OSError) as exc:
        geometry, error = {"zones": [], "lines": []}, str(exc)
    return render(
        request,
        "editor.html",
        {
            "camera_id": camera_id,
            "geometry": json.dumps(geometry).replace("<", "\\u003c"),
            "writable": console.scenes.writable and console.scenes.path is not None,
            "error": error,
        },
        session=session,
    )


async def save_scene(request: Request) -> Response:
    """Check the edited scene with the checker of ``vigie check-config``, journal who saved
    what (before and after digests), then replace the file; analytics and tracking reload it."""
    session = require(request, "configure")
    console = console_of(request)
    check_csrf(request, session, None)
    camera_id = request.path_params["camera_id"]
    body = await request.body()
    if len(body) > MAX_SCENE_BYTES:
        return JSONResponse({"ok": False, "error": "scene too large"}, status_code=413)
    try:
        edited = json.loads(body)
        data, current, zones, lines = console.scenes.candidate(camera_id, edited)
        console.scenes.check(data)
    except json.JSONDecodeError:
        return JSONResponse({"ok": False, "error": "the scene is not JSON"}, status_code=400)
    except SceneRefused as exc:
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=422)
    try:
        console.journal.record(
            "config.scene_saved",
            camera_id,
            actor=session.operator,
            role=session.role,
            camera_id=camera_id,
            reason=str(edited.get("reason") or "")[:500],
            details={
                "previous_sha256": hashlib.sha256(current).hexdigest(),
                "sha256": hashlib.sha256(data).hexdigest(),
                "zones": str(zones),
                "lines": str(lines),
            },
        )
    except JournalUnavailable as exc:
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=503)
    try:
        saved = console.scenes.write(camera_id, data, current, zones, lines)
    except SceneRefused as exc:
        # Journaled as saved a moment ago: say it was not, so the journal stays true.
        try:
            console.journal.record(
                "config.scene_not_saved",
                camera_id,
                actor=session.operator,
                role=session.role,
                camera_id=camera_id,
                reason=str(exc),
            )
        except JournalUnavailable:
            log.error(
                "scene not saved, and the journal could not say so", extra={"camera": camera_id}
            )
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=409)
    log.warning(
        "scene saved from the console",
        extra={"camera": camera_id, "actor": session.operator, "sha256": saved.sha256[:12]},
    )
    return JSONResponse(
        {
            "ok": True,
            "sha256": saved.sha256,
            "zones": zones,
            "lines": lines,
            "file": str(console.scenes.path),
        }
    )
