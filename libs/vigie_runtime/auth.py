"""Who is calling the alert desk or the archive: bearer tokens mapped to operator ids and roles.

Tokens are never stored: the tokens file holds their SHA-256 digests, so a leaked configuration
lets nobody in. Roles say what a caller may do; an auditor reads everything and decides nothing.

Tokens file::

    tokens:
      - {sha256: "<hex digest of the token>", operator: alice, role: operator}
      - {sha256: "...", operator: bob, role: supervisor}
      - {sha256: "...", operator: dpo, role: auditor}

``vigie desk-token`` prints a new random token and the line to add for it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigie_runtime.yamlconf import load_model


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


class Permission(StrEnum):
    WATCH = "watch"  # see open alerts
    HISTORY = "history"  # see decided alerts too
    DECIDE = "decide"  # acknowledge, confirm, dismiss
    SEARCH = "search"  # forensic search of the archive, with a stated purpose
    EXPORT = "export"  # take a snapshot image out of the archive


GRANTS: Mapping[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {Permission.WATCH, Permission.DECIDE, Permission.SEARCH, Permission.EXPORT}
    ),
    Role.SUPERVISOR: frozenset(Permission),
    Role.AUDITOR: frozenset(
        {Permission.WATCH, Permission.HISTORY, Permission.SEARCH, Permission.EXPORT}
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
    def __init__(self, entries: list[TokenEntry]) -> None:
        self._by_digest = {e.sha256: Caller(e.operator, e.role) for e in entries}

    @classmethod
    def from_file(cls, path: Path | None) -> Authenticator:
        """No file: nobody can call the desk (it never runs open)."""
        return cls([] if path is None else load_model(path, TokensFile).tokens)

    def caller(self, authorization: str | None) -> Caller:
        """The caller behind an ``authorization: Bearer <token>`` header."""
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


def new_token(operator: str, role: Role) -> tuple[str, str]:
    """A fresh token and the tokens-file line that admits it."""
    token = secrets.token_urlsafe(32)
    return token, f'  - {{sha256: "{digest(token)}", operator: {operator}, role: {role}}}'
