"""What every Archive call shares: the journaling of refusals and failures, the limits of a
request, and page tokens. The calls themselves are grouped by concern (searches in
:mod:`grpc_api`, media in :mod:`grpc_media`, the journal and reports in :mod:`grpc_audit`) and
put together in :class:`grpc_api.ArchiveServicer`."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import grpc

from vigie_runtime.grpc_auth import WatchedContext
from vigie_runtime.grpc_journal import call_record_id
from vigie_storage.blobs import BlobStore
from vigie_storage.ports import Cursor

log = logging.getLogger(__name__)

MAX_PURPOSE = 500

Method = Callable[[Any, Any, Any], Any]


def new_record_id() -> str:
    """A journal id of the archive's own making: never the client's request id, so two calls
    are two records whatever the client claims."""
    return call_record_id()


def journaled(action: str, subject: Callable[[Any], str]) -> Callable[[Method], Method]:
    """Journal the call's refusal or failure (the servicer journals an answered call itself):
    the status it was aborted with, or ``internal`` for an exception of ours, which the caller
    sees as INTERNAL without its details."""

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        def call(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            watched = WatchedContext(context)
            try:
                return method(self, request, watched)
            except Exception as exc:
                if watched.refused is not None:
                    code, details = watched.refused
                    self._journal_refusal(context, request, action, subject(request), code, details)
                    raise
                log.exception("archive call failed", extra={"action": action})
                self._journal_refusal(
                    context, request, action, subject(request), grpc.StatusCode.INTERNAL, str(exc)
                )
                context.abort(grpc.StatusCode.INTERNAL, "the archive failed to answer")

        return call

    return wrap


def stored_blob(blobs: BlobStore | None, key: str) -> bytes | None:
    """The bytes under ``key``; None when this archive keeps no blobs or the blob is gone
    (never written, or removed by retention), which every media call answers with NOT_FOUND."""
    if blobs is None:
        return None
    try:
        return blobs.get(key)
    except KeyError:
        return None


class BadRequest(ValueError):
    """A search the servicer answers with INVALID_ARGUMENT and this message."""


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.time, cursor.row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(token: str) -> Cursor | None:
    if not token:
        return None
    try:
        time_, row_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return Cursor(float(time_), str(row_id))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest("page_token is not one this archive gave") from exc
