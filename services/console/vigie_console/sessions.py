"""Sign-ins held by the console: a random id in an HttpOnly cookie, the person's token here.

The bearer token a person signs in with is what the desk and the archive check on every call;
the console keeps it server-side and never sends it back to the browser, so a script on the page
cannot read it. Each session has its own CSRF token, an absolute lifetime and an idle timeout.
Sessions live in this process's memory (bounded): several replicas need sticky sessions (the
Kubernetes Service sets ``sessionAffinity: ClientIP``), and a restart signs everyone out, which
for a console whose every action is journaled by the desk is the safe default.

Sign-in is behind :class:`IdentityProvider`: today a desk token, checked by the desk's WhoAmI.
An OpenID Connect provider would implement the same protocol (exchange the authorisation code,
map the ID token's subject and groups to a desk token and role) without touching the views.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vigie_console.settings import SessionSettings


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in, as the desk names them, and what their role lets them do."""

    operator: str
    role: str
    permissions: frozenset[str]


class IdentityProvider(Protocol):
    async def identify(self, token: str) -> Identity:
        """The identity behind ``token``; raises :class:`SignInRefused` when there is none."""
        ...


class SignInRefused(Exception):
    """The credentials name nobody, or the desk cannot say who they name."""


@dataclass(slots=True)
class Session:
    session_id: str
    token: str
    identity: Identity
    csrf: str
    created_at: float
    last_seen: float
    streams: int = 0  # live alert feeds open under this sign-in
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def operator(self) -> str:
        return self.identity.operator

    @property
    def role(self) -> str:
        return self.identity.role

    def may(self, permission: str) -> bool:
        return permission in self.identity.permissions

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


class Sessions:
    """Open sessions by id, least recently used first; expired ones go when looked at, and the
    least recently used when the cap is reached."""

    def __init__(
        self, settings: SessionSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings, self.clock = settings, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, token: str, identity: Identity) -> Session:
        now = self.clock()
        session = Session(
            secrets.token_urlsafe(32), token, identity, secrets.token_urlsafe(32), now, now
        )
        with self._lock:
            self._sessions[session.session_id] = session
            while len(self._sessions) > self.settings.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session named by the cookie, its idle clock reset; None when unknown or
        expired (and then forgotten)."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self.expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            self._sessions.move_to_end(session_id)
            return session

    def expired(self, session: Session, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return (
            now - session.created_at >= self.settings.max_age_s
            or now - session.last_seen >= self.settings.idle_s
        )

    def alive(self, session: Session) -> bool:
        """Whether a long request (a live feed) may go on: not expired nor signed out. A feed
        does not reset the idle clock: a screen left open is not a person at it."""
        with self._lock:
            known = self._sessions.get(session.session_id) is session
        return known and not self.expired(session)

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
