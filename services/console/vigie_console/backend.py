"""The console's calls to the alert desk and the archive, made with the signed-in person's token.

The console holds no data and no authority of its own: every call carries the person's bearer
token, so the desk and the archive decide what they may see and do, and journal it under their
name. A refusal comes back as :class:`CallFailed` with the server's words, which the page shows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from vigie.v1 import alerts_pb2, services_pb2, services_pb2_grpc
from vigie_console.settings import ConsoleSettings
from vigie_runtime.tls import aio_channel


class CallFailed(Exception):
    """A desk or archive call that did not succeed: its status and what the server said."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details

    @property
    def http_status(self) -> int:
        return {
            grpc.StatusCode.UNAUTHENTICATED: 401,
            grpc.StatusCode.PERMISSION_DENIED: 403,
            grpc.StatusCode.NOT_FOUND: 404,
            grpc.StatusCode.INVALID_ARGUMENT: 400,
            grpc.StatusCode.FAILED_PRECONDITION: 409,
            grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        }.get(self.code, 502)


def metadata(token: str) -> tuple[tuple[str, str], ...]:
    # A request id per call, journaled by the server with the action: a page's calls can be
    # found in the journal and in the logs by it.
    return (("authorization", f"Bearer {token}"), ("x-request-id", f"console-{uuid.uuid4()}"))


class Backend:
    """Stubs of the desk and the archive over channels made on the web server's event loop."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self._desk_channel = aio_channel(settings.desk_address, settings.grpc)
        self._archive_channel = aio_channel(settings.archive_address, settings.grpc)
        self.desk = services_pb2_grpc.AlertDeskStub(self._desk_channel)
        self.archive = services_pb2_grpc.ArchiveStub(self._archive_channel)

    async def close(self) -> None:
        await self._desk_channel.close()
        await self._archive_channel.close()

    async def call(self, method: Any, request: Any, token: str) -> Any:
        try:
            return await method(
                request, metadata=metadata(token), timeout=self.settings.call_timeout_s
            )
        except aio.AioRpcError as exc:
            raise CallFailed(exc.code(), exc.details() or str(exc.code())) from exc

    async def who_am_i(self, token: str) -> services_pb2.WhoAmIResponse:
        return await self.call(self.desk.WhoAmI, services_pb2.WhoAmIRequest(), token)

    async def watch(self, token: str) -> AsyncIterator[alerts_pb2.Alert]:
        """The open alerts, then every change, until the caller stops iterating."""
        call = self.desk.WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=metadata(token))
        try:
            async for alert in call:
                yield alert
        except aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise CallFailed(exc.code(), exc.details() or str(exc.code())) from exc
        finally:
            call.cancel()
