"""Who is calling the alert desk or the archive: bearer tokens mapped to operator ids and roles.

Tokens are never stored: the tokens file holds their SHA-256 digests, so a leaked configuration
lets nobody in. Roles say what a caller may do; an auditor reads everything and decides nothing.

Tokens file::

    tokens:
      - {sha256: "<hex digest of the token>", operator: alice, role: operator}
      - {sha256: "...", operator: bob, role: supervisor}
      - {sha256: "...", operator: dpo, role: auditor}

``vigie desk-token`` prints a new random token and the line to add for it. The file is
re-read when it changes, without a restart (see :class:`Authenticator`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigie_runtime.yamlconf import ConfigError, load_model

log = logging.getLogger(__name__)

# How often, at most, a call looks whether the tokens file changed.
RELOAD_CHECK_S = 5.0


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


class Permission(StrEnum):
    WATCH = "watch"  # see open alerts
    HISTORY = "history"  # see decided alerts too
    DECIDE = "decide"  # acknowledge, confirm, dismiss
    SEARCH = "search"  # forensic search of the archive, with a stated purpose
    EXPORT = "export"  # take a snapshot, a clip or search results out of the archive
    AUDIT = "audit"  # read and verify the audit journal
    CONFIGURE = "configure"  # change a camera's scene (zones and lines)


GRANTS: Mapping[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {Permission.WATCH, Permission.DECIDE, Permission.SEARCH, Permission.EXPORT}
    ),
    Role.SUPERVISOR: frozenset(Permission),
    Role.AUDITOR: frozenset(
        {
            Permission.WATCH,
            Permission.HISTORY,
            Permission.SEARCH,
            Permission.EXPORT,
            Permission.AUDIT,
        }
    ),
}


class Unauthenticated(Exception):
    """No token, or one nobody issued."""


@dataclass(frozen=True, slots=True)
class Caller:
    operator: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise PermissionError(f"{self.operator} ({self.role}) may not {permission}")


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    operator: str = Field(min_length=1, max_length=128)
    role: Role


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: list[TokenEntry] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[TokenEntry]) -> list[TokenEntry]:
        digests = [t.sha256 for t in tokens]
        if len(set(digests)) != len(digests):
            raise ValueError("a token digest is listed twice")
        return tokens


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Callers by token digest; with a tokens file, that file as it is now.

    Issuing or revoking a token is an edit of the file (in Kubernetes, of the secret mounted
    as it), taken without a restart: at most once every ``reload_check_s`` a call looks at
    the file's digest and reloads it when it changed. A file that does not load (a typo, a
    half-written copy) keeps the previous tokens and is logged with its line, so a bad edit
    neither locks everyone out nor lets anyone in. A file missing at start is an error; one
    that disappears later is logged and the previous tokens kept.
    """

    def __init__(
        self,
        entries: list[TokenEntry],
        source: Path | None = None,
        reload_check_s: float = RELOAD_CHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._by_digest = self._index(entries)
        self._source = source
        self._reload_check_s = reload_check_s
        self._clock = clock
        self._checked_at = clock()
        self._file_digest = _file_digest(source) if source is not None else ""
        self._lock = threading.Lock()

    @staticmethod
    def _index(entries: list[TokenEntry]) -> dict[str, Caller]:
        return {e.sha256: Caller(e.operator, e.role) for e in entries}

    @classmethod
    def from_file(cls, path: Path | None, reload_check_s: float = RELOAD_CHECK_S) -> Authenticator:
        """No file: nobody can call the desk (it never runs open)."""
        if path is None:
            return cls([])
        return cls(load_model(path, TokensFile).tokens, path, reload_check_s)

    def reload_if_changed(self) -> bool:
        """Look at the tokens file if the last look is old enough; True when reloaded."""
        if self._source is None:
            return False
        with self._lock:
            now = self._clock()
            if now - self._checked_at < self._reload_check_s:
                return False
            self._checked_at = now
            try:
                seen = _file_digest(self._source)
            except OSError as exc:
                log.error(
                    "tokens file unreadable; the previous tokens are kept",
                    extra={"path": str(self._source), "error": exc.strerror},
                )
                return False
            if seen == self._file_digest:
                return False
            self._file_digest = seen  # a bad file is reported once, not at every call
            try:
                entries = load_model(self._source, TokensFile).tokens
            except ConfigError as exc:
                log.error(
                    "tokens file rejected; the previous tokens are kept",
                    extra={"path": str(self._source), "error": str(exc)},
                )
                return False
            self._by_digest = self._index(entries)
        log.info("tokens reloaded", extra={"path": str(self._source), "tokens": len(entries)})
        return True

    def caller(self, authorization: str | None) -> Caller:
        """The caller behind an ``authorization: Bearer <token>`` header."""
        self.reload_if_changed()
        if not authorization:
            raise Unauthenticated("missing bearer token (authorization: Bearer <token>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization header must be 'Bearer <token>'")
        wanted = digest(token.strip())
        for known, caller in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                return caller
        raise Unauthenticated("unknown token")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_token(operator: str, role: Role) -> tuple[str, str]:
    """A fresh token and the tokens-file line that admits it."""
    token = secrets.token_urlsafe(32)
    return token, f'  - {{sha256: "{digest(token)}", operator: {operator}, role: {role}}}'
