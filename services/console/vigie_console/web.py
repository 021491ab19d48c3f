"""What every page of the console shares: who is signed in, what they may do, CSRF, the
language, rendering, and the security headers of every answer."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigie_console.backend import Backend
from vigie_console.cameras import CameraBoard
from vigie_console.i18n import LANGUAGES, translator
from vigie_console.journal import ConsoleJournal
from vigie_console.scene_file import SceneFile
from vigie_console.sessions import IdentityProvider, Session, Sessions
from vigie_console.settings import ConsoleSettings

SESSION_COOKIE = "vigie_session"
SIGNIN_COOKIE = "vigie_signin"  # double-submit CSRF token of the sign-in form
LANGUAGE_COOKIE = "vigie_lang"
TEMPLATES = Path(__file__).parent / "templates"

# Nothing from elsewhere: every script, style and image is the console's own (or a data: URL
# for the clip's frames); no frame may embed the console.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with its
    # own forms, and the origin check would refuse them.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeaders:
    """Pure ASGI (the live feed streams, which a response-wrapping middleware would buffer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                if not any(n == b"cache-control" for n in present):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Console:
    """Everything a view needs, built once per process."""

    settings: ConsoleSettings
    sessions: Sessions
    board: CameraBoard
    scenes: SceneFile
    journal: ConsoleJournal
    identities: Callable[[Backend], IdentityProvider]
    clock: Callable[[], float] = time.time
    backend: Backend | None = None
    streams: int = 0  # live feeds open in all
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        zone = ZoneInfo(self.settings.timezone)

        def when(t: float | None, seconds: bool = True) -> str:
            if t is None or t <= 0:
                return "—"
            fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
            return datetime.fromtimestamp(t, zone).strftime(fmt)

        self.templates.filters["when"] = when
        self.templates.globals["timezone"] = self.settings.timezone

    @property
    def api(self) -> Backend:
        if self.backend is None:
            raise RuntimeError("the console's backend is not started")
        return self.backend


class SignInNeeded(Exception):
    """No live session: the page sends the browser to sign in, then back."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this page or action."""


class CsrfRefused(Exception):
    """A state-changing request without this session's CSRF token, or from another origin."""


def console_of(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    accepted = request.headers.get("accept-language", "")
    for part in accepted.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return console_of(request).settings.language


def session_of(request: Request) -> Session | None:
    return console_of(request).sessions.get(request.cookies.get(SESSION_COOKIE))


def require(request: Request, permission: str | None = None) -> Session:
    session = session_of(request)
    if session is None:
        raise SignInNeeded()
    if permission is not None and not session.may(permission):
        raise Forbidden(permission)
    return session


def same_origin(request: Request) -> bool:
    """A browser sends Origin on every POST; one that names another site is refused. Absent
    (some clients), the CSRF token alone decides."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    allowed |= set(console_of(request).settings.web.allowed_origins)
    host = request.headers.get("host")
    if host:  # behind a proxy that terminates TLS, the scheme seen here is http
        allowed |= {f"http://{host}", f"https://{host}"}
    return origin in allowed


def check_csrf(request: Request, session: Session, form: Mapping[str, Any] | None) -> None:
    presented = request.headers.get("x-csrf-token") or (form or {}).get("csrf")
    if not same_origin(request) or not session.csrf_ok(
        presented if isinstance(presented, str) else None
    ):
        raise CsrfRefused()


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)


def signin_token_ok(request: Request, presented: str | None) -> bool:
    expected = request.cookies.get(SIGNIN_COOKIE)
    return (
        bool(expected and presented)
        and hmac.compare_digest(str(expected), str(presented))
        and same_origin(request)
    )


def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    """Every cookie of the console: not readable by scripts, only over HTTPS (browsers treat
    localhost as secure), never sent by another site's page."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def safe_next(target: str | None) -> str:
    """A path on this console to go back to after signing in; never another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    console = console_of(request)
    language = language_of(request)
    session = session or session_of(request)
    page = console.templates.get_template(template).render(
        request=request,
        t=translator(language),
        lang=language,
        languages=LANGUAGES,
        session=session,
        csrf=session.csrf if session else "",
        path=request.url.path,
        now=console.clock(),
        **(context or {}),
    )
    return HTMLResponse(page, status_code=status_code)


def parse_local_time(text: str | None, timezone: str) -> float | None:
    """A ``datetime-local`` field (no zone: the console's timezone) as a Unix time."""
    if not text:
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date and time: {text!r}") from None
    zone = ZoneInfo(timezone) if naive.tzinfo is None else None
    return (naive.replace(tzinfo=zone) if zone else naive).astimezone(UTC).timestamp()


def local_input(t: float | None, timezone: str) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
