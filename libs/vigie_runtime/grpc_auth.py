"""Who calls a gRPC API, for the servicers that need to know (AlertDesk, Archive).

The caller's bearer token names them and their role; a call without a known token is
UNAUTHENTICATED, one the role does not allow is PERMISSION_DENIED, each with a sentence the
caller can act on. The request id a client sends (``x-request-id``) is kept for the journal, or
one is made up so every journaled action still has one; it is the client's word, so it is
bounded and never used as the identity of anything.

A refused call must leave a trace as much as an answered one: :class:`WatchedContext` remembers
how a call was aborted, so the servicer can journal the refusal with its outcome.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

import grpc

from vigie_runtime.auth import Authenticator, Caller, Permission, Unauthenticated

MAX_REQUEST_ID = 128


def caller_of(context: grpc.ServicerContext, auth: Authenticator, permission: Permission) -> Caller:
    """The authenticated caller, or the call is aborted with the right status."""
    metadata = dict(context.invocation_metadata())
    try:
        caller = auth.caller(metadata.get("authorization"))
    except Unauthenticated as exc:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
    if not caller.may(permission):
        context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"{caller.operator} ({caller.role}) may not {permission}",
        )
    return caller


def known_caller(context: grpc.ServicerContext, auth: Authenticator) -> Caller | None:
    """Who the token names, whatever they may do; None for no or an unknown token. For the
    journal of a refused call, never to let anyone in."""
    try:
        return auth.caller(dict(context.invocation_metadata()).get("authorization"))
    except Unauthenticated:
        return None


def request_id_of(context: grpc.ServicerContext) -> str:
    metadata = dict(context.invocation_metadata())
    sent = str(metadata.get("x-request-id") or "")
    return sent[:MAX_REQUEST_ID] or str(uuid.uuid4())


class WatchedContext:
    """A servicer context that remembers the status a call was aborted with."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context
        self.refused: tuple[grpc.StatusCode, str] | None = None

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.refused = (code, details)
        self._context.abort(code, details)
        raise RuntimeError(f"the call was aborted: {code.name}: {details}")  # abort raises

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def outcome(code: grpc.StatusCode) -> str:
    """How a call ended, for the journal: ``ok``, ``unauthenticated``, ``permission_denied``..."""
    return str(code.name).lower()
