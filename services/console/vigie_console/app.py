"""The console's web application: its routes, what a refusal looks like, and its lifespan (the
gRPC channels live on the web server's event loop)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vigie_console import views_alerts, views_audit, views_auth, views_cameras, views_search
from vigie_console.backend import Backend, CallFailed
from vigie_console.web import (
    SESSION_COOKIE,
    Console,
    CsrfRefused,
    Forbidden,
    SecurityHeaders,
    SignInNeeded,
    console_of,
    render,
    session_of,
    signin_redirect,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.endswith(
        (".json", ".jpg", ".csv")
    )


def _refuse(
    request: Request, status: int, error: str, message: str, details: str = "", json: bool = False
) -> Response:
    """One shape for every refusal: JSON for scripts and the pages' own fetches, the error page
    (``message`` is its catalogue key) for a person's browser."""
    if json or _wants_json(request):
        return JSONResponse({"ok": False, "error": error}, status_code=status)
    return render(request, "error.html", {"message": message, "details": details}, status)


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    if _wants_json(request) or request.method != "GET":
        return JSONResponse({"ok": False, "error": "sign in"}, status_code=401)
    return signin_redirect(request)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return _refuse(request, 403, "not allowed for your role", "error.forbidden")


async def _csrf(request: Request, exc: Exception) -> Response:
    log.warning("request refused: no valid CSRF token or a foreign origin",
                extra={"path": request.url.path})  # fmt: skip
    fetched = request.headers.get("x-csrf-token") is not None  # the editor's own request
    return _refuse(request, 403, "CSRF check failed", "error.csrf", json=fetched)


async def _call_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CallFailed)
    if exc.http_status == 401:  # the token was revoked meanwhile: the sign-in is over
        console_of(request).sessions.close(request.cookies.get(SESSION_COOKIE))
        return await _sign_in_needed(request, exc)
    return _refuse(request, exc.http_status, exc.details, "error.backend", exc.details)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _refuse(request, exc.status_code, exc.detail, "error.http", exc.detail)


async def _home(request: Request) -> Response:
    if session_of(request) is None:
        return signin_redirect(request)
    return await views_alerts.wall(request)


def create_app(console: Console) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        console.backend = Backend(console.settings)
        try:
            yield
        finally:
            await console.backend.close()

    routes = [
        Route("/", _home),
        Route("/signin", views_auth.signin_form, methods=["GET"]),
        Route("/signin", views_auth.signin, methods=["POST"]),
        Route("/signout", views_auth.signout, methods=["POST"]),
        Route("/lang/{code}", views_auth.language),
        Route("/events", views_alerts.events),
        Route("/alerts/{alert_id}", views_alerts.alert_page),
        Route("/alerts/{alert_id}/snapshot.jpg", views_alerts.snapshot),
        Route("/alerts/{alert_id}/clip.json", views_alerts.clip),
        Route("/alerts/{alert_id}/verdict", views_alerts.verdict, methods=["POST"]),
        Route("/search", views_search.search),
        Route("/search/export.csv", views_search.export),
        Route("/cameras", views_cameras.cameras),
        Route("/cameras/{camera_id}/still.jpg", views_cameras.still),
        Route("/cameras/{camera_id}/edit", views_cameras.editor),
        Route("/cameras/{camera_id}/scene", views_cameras.save_scene, methods=["POST"]),
        Route("/audit", views_audit.audit),
        Route("/reports", views_audit.reports),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            SignInNeeded: _sign_in_needed,
            Forbidden: _forbidden,
            CsrfRefused: _csrf,
            CallFailed: _call_failed,
            HTTPException: _http,
        },
        lifespan=lifespan,
    )
    app.state.console = console
    return app
