"""Calls to the AlertDesk of another replica, on behalf of the caller.

A forwarded call carries the caller's own credentials (the replica that answers checks them
again) and :data:`FORWARDED`, so the replica that answers does so from its own cameras and never
forwards again. What the peer answers comes back as the exceptions the local desk raises, so
the API reports a forwarded refusal exactly as a local one.

The mark is only believed from another replica (see :class:`vigie_alerting.routing.DeskRouter`):
anyone can write a metadata key, and a marked call's "not mine" goes unjournaled, so a client
that marked its own calls could probe alert ids without a trace.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence

import grpc

from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_core.alerting import UnknownAlert
from vigie_core.types import Alert, VerdictAction
from vigie_runtime import codec, tls
from vigie_runtime.settings import GrpcSettings

log = logging.getLogger(__name__)

FORWARDED = "x-vigie-forwarded"
# What a forwarded call takes from the caller's metadata.
CARRIED = ("authorization", "x-request-id")

Metadata = Sequence[tuple[str, str]]


def peer_channel(address: str, settings: GrpcSettings) -> grpc.Channel:
    """The one place a channel to another replica is made: with the replica's own gRPC
    transport settings, so TLS (with the configured CA, and this replica's certificate under
    mutual TLS) whenever the desks serve TLS, plaintext only where they do."""
    return tls.channel(address, settings)


class PeerRefused(Exception):
    """The peer answered with an error the caller must see as it is (its code and details)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


def forwarded_metadata(metadata: Metadata) -> list[tuple[str, str]]:
    """The caller's credentials and request id, marked as forwarded."""
    carried = [(k, v) for k, v in metadata if k in CARRIED]
    return [*carried, (FORWARDED, "1")]


def marked_forwarded(metadata: Metadata) -> bool:
    """The call says another replica forwarded it (whether to believe it is the router's)."""
    return any(k == FORWARDED for k, _ in metadata)


def peer_host(peer: str) -> str | None:
    """The IP address a gRPC peer string names (``ipv4:10.0.0.7:41234``,
    ``ipv6:[::1]:41234``, an IPv4-mapped IPv6 as its IPv4); None for anything else."""
    scheme, _, rest = peer.partition(":")
    if scheme not in ("ipv4", "ipv6"):
        return None
    host = rest.rsplit(":", 1)[0].strip("[]")
    try:
        return normal_ip(host)
    except ValueError:
        return None


def normal_ip(ip: str) -> str:
    """One spelling per address, so a peer's address and a resolved name compare equal: an
    IPv4-mapped IPv6 as its IPv4, an IPv6 zone dropped. Raises ValueError for a non-address."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


_ACTIONS = {
    VerdictAction.ACKNOWLEDGE: "Acknowledge",
    VerdictAction.CONFIRM: "Confirm",
    VerdictAction.DISMISS: "Dismiss",
}
_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class PeerDesks:
    """The other replicas' desks, one channel each, kept while the replica runs."""

    def __init__(
        self,
        timeout_s: float,
        settings: GrpcSettings | None = None,
        channel: Callable[[str], grpc.Channel] | None = None,
    ) -> None:
        """``settings``: the replica's gRPC settings, whose transport the channels use;
        ``channel``: a factory of channels instead (tests)."""
        self.timeout_s = timeout_s
        if channel is None:
            if settings is None:
                raise ValueError("PeerDesks needs the gRPC settings or a channel factory")
            settings.require_transport()
            channel = functools.partial(peer_channel, settings=settings)
        self._channel = channel
        self._stubs: dict[str, services_pb2_grpc.AlertDeskStub] = {}
        self._channels: list[grpc.Channel] = []
        self._lock = threading.Lock()

    def _stub(self, address: str) -> services_pb2_grpc.AlertDeskStub:
        with self._lock:
            stub = self._stubs.get(address)
            if stub is None:
                channel = self._channel(address)
                self._channels.append(channel)
                stub = self._stubs[address] = services_pb2_grpc.AlertDeskStub(channel)
            return stub

    def alerts(
        self, address: str, camera_id: str | None, include_closed: bool, metadata: Metadata
    ) -> list[Alert]:
        request = services_pb2.ListAlertsRequest(
            camera_id=camera_id or "", include_closed=include_closed
        )
        reply = self._call(address, "ListAlerts", request, metadata)
        return [codec.alert_from_proto(a) for a in reply.alerts]

    def alert(self, address: str, alert_id: str, metadata: Metadata) -> Alert:
        request = services_pb2.GetAlertRequest(alert_id=alert_id)
        return codec.alert_from_proto(self._call(address, "GetAlert", request, metadata))

    def decide(
        self, address: str, alert_id: str, action: VerdictAction, reason: str, metadata: Metadata
    ) -> Alert:
        request = services_pb2.VerdictRequest(alert_id=alert_id, reason=reason)
        return codec.alert_from_proto(self._call(address, _ACTIONS[action], request, metadata))

    def _call(self, address: str, method: str, request: object, metadata: Metadata) -> object:
        call = getattr(self._stub(address), method)
        try:
            return call(request, metadata=list(metadata), timeout=self.timeout_s)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code is grpc.StatusCode.NOT_FOUND:
                raise UnknownAlert(details) from exc
            if code in _UNREACHABLE:
                log.warning(
                    "replica did not answer",
                    extra={"peer": address, "method": method, "error": details},
                )
                raise TimeoutError(f"replica {address} did not answer: {details}") from exc
            raise PeerRefused(code, details) from exc

    def close(self) -> None:
        with self._lock:
            channels, self._channels, self._stubs = self._channels, [], {}
        for channel in channels:
            channel.close()
