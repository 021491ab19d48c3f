"""Who calls a gRPC API, for the servicers that need to know (AlertDesk, Archive).

The caller's bearer token names them and their role; a call without a known token is
UNAUTHENTICATED, one the role does not allow is PERMISSION_DENIED, each with a sentence the
caller can act on. The request id a client sends (``x-request-id``) is kept for the journal, or
one is made up so every journaled action still has one.
"""

from __future__ import annotations

import uuid

import grpc

from vigie_runtime.auth import Authenticator, Caller, Permission, Unauthenticated


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


def request_id_of(context: grpc.ServicerContext) -> str:
    metadata = dict(context.invocation_metadata())
    return str(metadata.get("x-request-id") or uuid.uuid4())
