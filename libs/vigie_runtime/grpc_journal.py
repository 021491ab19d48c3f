"""The journal record of a refused or failed gRPC call, for the servers that journal every call
(AlertDesk, Archive), and a journal writer that never holds a call up.

A refusal names who tried as far as the token says: the operator and role of a known token,
else ``anonymous`` with the fingerprint of the token presented (the first characters of its
SHA-256, what a tokens file stores), never the token. Authentication is checked by the
servicers themselves (:func:`vigie_runtime.grpc_auth.caller_of`), so a call refused for no or
an unknown token goes through the same journaling as any other refusal, on both servers.

Every record of a call has an id of the server's making, never derived from what the client
sent (its ``x-request-id`` is kept as a field, bounded): two calls are two records, whatever
the client claims.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence

import grpc

from vigie_core.journal import entry
from vigie_core.types import AuditRecord
from vigie_runtime.auth import Authenticator, digest
from vigie_runtime.grpc_auth import known_caller, outcome, request_id_of

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
MAX_ERROR = 500  # characters of a refusal's message kept in the journal
MAX_SUBJECT = 200
FINGERPRINT_CHARS = 12


def call_record_id() -> str:
    """A journal id of the server's own making, unique to one call."""
    return f"audit-{uuid.uuid4().hex}"


def token_fingerprint(context: grpc.ServicerContext) -> str:
    """The first characters of the SHA-256 of the token presented ("" when none): enough for an
    auditor to tell repeated tries with one token apart from others, nothing to log in with."""
    header = str(dict(context.invocation_metadata()).get("authorization") or "").strip()
    if not header:
        return ""
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" and token.strip() else header
    return digest(presented)[:FINGERPRINT_CHARS]


def refusal_record(
    context: grpc.ServicerContext,
    auth: Authenticator,
    action: str,
    subject: str,
    code: grpc.StatusCode,
    error: str,
    at: float,
    *,
    reason: str = "",
    details: Mapping[str, str] | None = None,
) -> AuditRecord:
    """The record of a call refused (or failed) with ``code`` and ``error``."""
    caller = known_caller(context, auth)
    found = dict(details or {})
    if caller is None and (fingerprint := token_fingerprint(context)):
        found["token"] = fingerprint
    return entry(
        action,
        subject[:MAX_SUBJECT],
        at,
        actor=caller.operator if caller else ANONYMOUS,
        role=str(caller.role) if caller else "",
        reason=reason,
        request_id=request_id_of(context),
        details={**found, "outcome": outcome(code), "error": error[:MAX_ERROR]},
        record_id=call_record_id(),
    )


Write = Callable[[Sequence[AuditRecord]], None]


class _Pending:
    __slots__ = ("done", "record", "written")

    def __init__(self, record: AuditRecord) -> None:
        self.record = record
        self.done = threading.Event()
        self.written = False


class BackgroundJournal:
    """Writes records with ``write`` in a thread of its own; :meth:`write` waits for its record
    at most ``wait_s``. A journal that is slow or away (the broker down) delays a call by that
    much at most, and never fails it: what cannot be written is logged. At most ``backlog``
    records wait; beyond, a record is dropped with an error in the log rather than held."""

    def __init__(self, write: Write, name: str, wait_s: float = 2.0, backlog: int = 1000) -> None:
        self._write = write
        self.name = name
        self.wait_s = wait_s
        self._queue: queue.Queue[_Pending] = queue.Queue(maxsize=backlog)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def write(self, record: AuditRecord) -> bool:
        """True once the record is written; False when it is late, dropped or failed."""
        pending = _Pending(record)
        self._start()
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            log.error(
                "journal backlog full: a record is dropped",
                extra={
                    "journal": self.name,
                    "action": record.action,
                    "record_id": record.record_id,
                },
            )
            return False
        if not pending.done.wait(self.wait_s):
            log.warning(
                "journal slow: the call goes on without waiting for its record",
                extra={
                    "journal": self.name,
                    "action": record.action,
                    "record_id": record.record_id,
                },
            )
            return False
        return pending.written

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            pending = self._queue.get()
            try:
                self._write([pending.record])
                pending.written = True
            except Exception:
                log.exception(
                    "a record could not be journaled",
                    extra={"journal": self.name, "action": pending.record.action},
                )
            finally:
                pending.done.set()
