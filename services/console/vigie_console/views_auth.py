"""Signing in with a desk token, signing out, and the language of the pages."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vigie_console.backend import Backend, CallFailed
from vigie_console.i18n import LANGUAGES
from vigie_console.journal import JournalUnavailable
from vigie_console.sessions import Identity, SignInRefused
from vigie_console.web import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    check_csrf,
    console_of,
    new_signin_token,
    render,
    require,
    safe_next,
    set_cookie,
    signin_token_ok,
)

MAX_TOKEN = 512


class DeskIdentities:
    """Sign-in by desk token: the desk's WhoAmI says whom it names and what they may do."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def identify(self, token: str) -> Identity:
        try:
            who = await self.backend.who_am_i(token)
        except CallFailed as exc:
            raise SignInRefused(exc.details) from exc
        return Identity(who.operator, who.role, frozenset(who.permissions))


async def signin_form(request: Request) -> Response:
    token = new_signin_token()
    response = render(
        request,
        "signin.html",
        {"form_token": token, "next": safe_next(request.query_params.get("next"))},
    )
    set_cookie(response, SIGNIN_COOKIE, token, max_age=900)
    return response


async def signin(request: Request) -> Response:
    console = console_of(request)
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    if not signin_token_ok(request, str(form.get("csrf") or "")):
        return render(
            request,
            "signin.html",
            {"error": "signin.expired_form", "form_token": "", "next": target},
            403,
        )
    token = str(form.get("token") or "").strip()
    if not token or len(token) > MAX_TOKEN:
        return render(
            request,
            "signin.html",
            {"error": "signin.refused", "form_token": "", "next": target},
            401,
        )
    try:
        identity = await console.identities(console.api).identify(token)
    except SignInRefused:
        return render(
            request,
            "signin.html",
            {"error": "signin.refused", "form_token": "", "next": target},
            401,
        )
    session = console.sessions.open(token, identity)
    try:
        console.journal.record(
            "console.sign_in", identity.operator, actor=identity.operator, role=identity.role
        )
    except JournalUnavailable:
        console.sessions.close(session.session_id)
        return render(
            request,
            "signin.html",
            {"error": "signin.no_journal", "form_token": "", "next": target},
            503,
        )
    response = RedirectResponse(target, status_code=303)
    set_cookie(
        response,
        SESSION_COOKIE,
        session.session_id,
        max_age=int(console.settings.sessions.max_age_s),
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


async def signout(request: Request) -> Response:
    console = console_of(request)
    session = require(request)
    check_csrf(request, session, await request.form())
    console.sessions.close(session.session_id)
    # Signing out must work even when the journal is down.
    with contextlib.suppress(JournalUnavailable):
        console.journal.record(
            "console.sign_out", session.operator, actor=session.operator, role=session.role
        )
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


async def language(request: Request) -> Response:
    code = request.path_params["code"]
    target = safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    if code in LANGUAGES:
        set_cookie(response, LANGUAGE_COOKIE, code, max_age=365 * 86400)
    return response
