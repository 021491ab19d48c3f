"""AlertDesk on any replica answers for every camera.

Each camera belongs to the replica that owns its events' partition, and only that replica's
engine holds its alerts. :class:`DeskRouter` sends each call where the answer is:

- the alerts of one camera: asked of its owner (here, or forwarded);
- the alerts of every camera: this replica's and every other replica's, merged;
- a verdict: taken by this replica's engine if it knows the alert, else offered to the other
  replicas in turn until one does (alert ids do not name their camera). Only the owner applies
  and journals it, once.

A call marked as forwarded is answered from this replica's cameras only, never forwarded again,
whoever marked it: that alone keeps a call from going round the replicas. Whether another replica
really forwarded it (so that its "not mine" is left to that replica to journal) is judged here:
the mark must come from the address of another replica (:class:`ReplicaHosts`). A mark from
anywhere else is the caller's own doing: its refusals are journaled as any call's, and the mark
counted. :class:`Replicas` says who owns what; with one replica everything is local.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import Counter

from vigie_alerting.desk import Desk
from vigie_alerting.peers import (
    Metadata,
    PeerDesks,
    forwarded_metadata,
    marked_forwarded,
    normal_ip,
    peer_host,
)
from vigie_core.alerting import UnknownAlert
from vigie_core.types import Alert, VerdictAction
from vigie_runtime.auth import Caller

log = logging.getLogger(__name__)

UNTRUSTED_MARKS = Counter(
    "vigie_desk_untrusted_forward_marks_total",
    "Desk calls marked as forwarded by a replica that came from no replica's address",
)


class Replicas(Protocol):
    def owner(self, camera_id: str) -> str | None:
        """The desk address of the replica owning ``camera_id``; None: this one (or nobody
        knows yet, and this one answers with what it has)."""
        ...

    def others(self) -> list[str]:
        """The desk addresses of every other replica."""
        ...


class OneReplica:
    """The single process: every camera is here."""

    def owner(self, camera_id: str) -> str | None:
        return None

    def others(self) -> list[str]:
        return []


def resolve(host: str) -> set[str]:
    """Every IP address ``host`` names (itself, for an address)."""
    try:
        return {normal_ip(host)}
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return {normal_ip(str(info[4][0])) for info in infos}


def address_host(address: str) -> str:
    """The host of a desk address: ``10.0.0.7:50052``, ``[::1]:50052``, ``name:50052``."""
    return address.rsplit(":", 1)[0].strip("[]")


class ReplicaHosts:
    """The IP addresses the other replicas call from: the hosts of the desk addresses they
    advertise (in Kubernetes their pod IPs), a name looked up at most every ``ttl_s``."""

    MAX_NAMES = 1024  # names cached at most (a deployment has a few replicas)

    def __init__(
        self,
        replicas: Replicas,
        resolver: Callable[[str], Iterable[str]] = resolve,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas, self.resolver, self.ttl_s, self.clock = replicas, resolver, ttl_s, clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __contains__(self, ip: object) -> bool:
        return any(ip in self._ips(address_host(a)) for a in self.replicas.others())

    def _ips(self, host: str) -> frozenset[str]:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(host)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        try:
            ips = frozenset(self.resolver(host))
        except OSError as exc:
            log.warning("replica host unresolved", extra={"host": host, "error": str(exc)})
            ips = frozenset()
        with self._lock:
            if len(self._cache) >= self.MAX_NAMES:
                self._cache.clear()
            self._cache[host] = (now, ips)
        return ips


def newest_first(alerts: list[Alert]) -> list[Alert]:
    """The operator queue's order (as the engine sorts), one copy of each alert."""
    unique = {a.alert_id: a for a in reversed(alerts)}
    return sorted(unique.values(), key=lambda a: (a.first_seen, a.alert_id), reverse=True)


class DeskRouter:
    def __init__(
        self,
        local: Desk,
        replicas: Replicas,
        peers: PeerDesks | None = None,
        hosts: ReplicaHosts | None = None,
    ) -> None:
        """``hosts``: where the other replicas call from (by default their desks' hosts)."""
        self.local = local
        self.replicas = replicas
        self.peers = peers
        self.hosts = ReplicaHosts(replicas) if hosts is None else hosts

    def is_forwarded(self, metadata: Metadata, peer: str) -> bool:
        """The call was forwarded by another replica: marked so, from a replica's address
        (``peer`` as gRPC gives it)."""
        if not marked_forwarded(metadata):
            return False
        host = peer_host(peer)
        return host is not None and host in self.hosts

    def for_call(self, metadata: Metadata, peer: str) -> Desk:
        """The desk that answers a call with this metadata, from ``peer``: here only for a
        marked call (believed or not: never forwarded twice). Each call comes here once, so a
        mark not believed is counted and logged here."""
        marked = marked_forwarded(metadata)
        if marked and not self.is_forwarded(metadata, peer):
            UNTRUSTED_MARKS.inc()
            log.warning(
                "a desk call marked as forwarded came from no replica: journaled as its own",
                extra={"peer": peer},
            )
        if self.peers is None or marked:
            return self.local
        return _RoutedDesk(self.local, self.replicas, self.peers, forwarded_metadata(metadata))


class _RoutedDesk:
    def __init__(
        self, local: Desk, replicas: Replicas, peers: PeerDesks, metadata: Metadata
    ) -> None:
        self.local, self.replicas, self.peers, self.metadata = local, replicas, peers, metadata

    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]:
        if camera_id is not None:
            owner = self.replicas.owner(camera_id)
            if owner is None:
                return self.local.alerts(camera_id, include_closed)
            return self.peers.alerts(owner, camera_id, include_closed, self.metadata)
        found = self.local.alerts(None, include_closed)
        for address in self.replicas.others():
            found.extend(self.peers.alerts(address, None, include_closed, self.metadata))
        return newest_first(found)

    def alert(self, alert_id: str) -> Alert:
        """Here if held here, else from the replica that holds it (alert ids do not name
        their camera); unknown only once every replica has said so."""
        try:
            return self.local.alert(alert_id)
        except UnknownAlert:
            pass
        metadata = self.metadata
        return self._first_answer(
            lambda address: self.peers.alert(address, alert_id, metadata), alert_id
        )

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Alert:
        try:
            return self.local.decide(alert_id, action, caller, reason, request_id)
        except UnknownAlert:
            pass
        # The journal keeps the request id this replica gave the call, wherever it is applied.
        metadata = [(k, v) for k, v in self.metadata if k != "x-request-id"]
        metadata.append(("x-request-id", request_id))
        return self._first_answer(
            lambda address: self.peers.decide(address, alert_id, action, reason, metadata),
            alert_id,
        )

    def _first_answer(self, ask: Callable[[str], Alert], alert_id: str) -> Alert:
        """Ask each other replica in turn until one holds the alert."""
        unreachable: list[str] = []
        for address in self.replicas.others():
            try:
                return ask(address)
            except UnknownAlert:
                continue
            except TimeoutError:
                unreachable.append(address)
        if unreachable:  # it may be there: not "unknown", but "try again"
            raise TimeoutError(f"replicas {', '.join(unreachable)} did not answer")
        raise UnknownAlert(alert_id)
