"""AlertDesk on any replica answers for every camera.

Each camera belongs to the replica that owns its events' partition, and only that replica's
engine holds its alerts. :class:`DeskRouter` sends each call where the answer is:

- the alerts of one camera: asked of its owner (here, or forwarded);
- the alerts of every camera: this replica's and every other replica's, merged;
- a verdict: taken by this replica's engine if it knows the alert, else offered to the other
  replicas in turn until one does (alert ids do not name their camera). Only the owner applies
  and journals it, once.

A call another replica forwarded is answered from this replica's cameras only, never forwarded
again. :class:`Replicas` says who owns what; with one replica everything is local.
"""

from __future__ import annotations

from typing import Protocol

from vigie_alerting.desk import Desk
from vigie_alerting.peers import Metadata, PeerDesks, forwarded_metadata, is_forwarded
from vigie_core.alerting import UnknownAlert
from vigie_core.types import Alert, VerdictAction
from vigie_runtime.auth import Caller


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


def newest_first(alerts: list[Alert]) -> list[Alert]:
    """The operator queue's order (as the engine sorts), one copy of each alert."""
    unique = {a.alert_id: a for a in reversed(alerts)}
    return sorted(unique.values(), key=lambda a: (a.first_seen, a.alert_id), reverse=True)


class DeskRouter:
    def __init__(self, local: Desk, replicas: Replicas, peers: PeerDesks | None = None) -> None:
        self.local = local
        self.replicas = replicas
        self.peers = peers

    def for_call(self, metadata: Metadata) -> Desk:
        """The desk that answers a call with this metadata."""
        if self.peers is None or is_forwarded(metadata):
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
        unreachable: list[str] = []
        # The journal keeps the request id this replica gave the call, wherever it is applied.
        metadata = [(k, v) for k, v in self.metadata if k != "x-request-id"]
        metadata.append(("x-request-id", request_id))
        for address in self.replicas.others():
            try:
                return self.peers.decide(address, alert_id, action, reason, metadata)
            except UnknownAlert:
                continue
            except TimeoutError:
                unreachable.append(address)
        if unreachable:  # it may be there: not "unknown", but "try again"
            raise TimeoutError(f"replicas {', '.join(unreachable)} did not answer")
        raise UnknownAlert(alert_id)
