"""The desk's routing across replicas, over stand-in desks: who answers which call, with which
credentials, and that a forwarded call is never forwarded again."""

from __future__ import annotations

import pytest

from vigie_alerting.peers import FORWARDED, Metadata, forwarded_metadata
from vigie_alerting.routing import DeskRouter
from vigie_core.alerting import UnknownAlert
from vigie_core.types import Alert, AlertStatus, EventKind, Severity, VerdictAction
from vigie_runtime.auth import Caller, Role

ALICE = Caller("alice", Role.OPERATOR)
CALL = [("authorization", "Bearer alice-token"), ("x-request-id", "r-1"), ("other", "x")]


def alert(alert_id: str, camera: str, first_seen: float) -> Alert:
    return Alert(
        alert_id=alert_id,
        camera_id=camera,
        kind=EventKind.ZONE_INTRUSION,
        zone="z",
        severity=Severity.HIGH,
        status=AlertStatus.RAISED,
        first_event_id="e",
        first_seen=first_seen,
        last_seen=first_seen,
    )


class StandIn:
    """A replica's own desk: the alerts it holds."""

    def __init__(self, *alerts: Alert) -> None:
        self.held = list(alerts)

    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]:
        return [a for a in self.held if camera_id in (None, a.camera_id)]

    def decide(
        self, alert_id: str, action: VerdictAction, caller: Caller, reason: str, request_id: str
    ) -> Alert:
        for a in self.held:
            if a.alert_id == alert_id:
                return a
        raise UnknownAlert(alert_id)


class Peers:
    """The other replicas, reached as :class:`PeerDesks` would; records what was forwarded."""

    def __init__(self, desks: dict[str, StandIn | None]) -> None:
        self.desks = desks
        self.calls: list[tuple[str, str, Metadata]] = []

    def alerts(
        self, address: str, camera_id: str | None, include_closed: bool, metadata: Metadata
    ) -> list[Alert]:
        self.calls.append((address, "alerts", metadata))
        return self._desk(address).alerts(camera_id, include_closed)

    def decide(
        self, address: str, alert_id: str, action: VerdictAction, reason: str, metadata: Metadata
    ) -> Alert:
        self.calls.append((address, "decide", metadata))
        return self._desk(address).decide(alert_id, action, ALICE, reason, "")

    def _desk(self, address: str) -> StandIn:
        desk = self.desks[address]
        if desk is None:
            raise TimeoutError(f"replica {address} did not answer")
        return desk


class Owners:
    def __init__(self, owners: dict[str, str], others: list[str]) -> None:
        self.owners, self._others = owners, others

    def owner(self, camera_id: str) -> str | None:
        return self.owners.get(camera_id)

    def others(self) -> list[str]:
        return self._others


def router(peer: StandIn | None = None) -> tuple[DeskRouter, Peers]:
    here = StandIn(alert("a1", "gate", 10.0))
    peers = Peers({"b:1": peer or StandIn(alert("b1", "dock", 20.0), alert("b2", "hall", 5.0))})
    owners = Owners({"dock": "b:1", "hall": "b:1"}, ["b:1"])
    return DeskRouter(here, owners, peers), peers  # type: ignore[arg-type]


def test_a_camera_is_asked_of_its_owner_with_the_caller_s_credentials() -> None:
    desk, peers = router()
    assert [a.alert_id for a in desk.for_call(CALL).alerts("dock", False)] == ["b1"]
    assert [a.alert_id for a in desk.for_call(CALL).alerts("gate", False)] == ["a1"]
    ((address, _, metadata),) = peers.calls
    assert address == "b:1"
    assert metadata == [*CALL[:2], (FORWARDED, "1")]  # credentials and request id, marked


def test_every_camera_is_every_replica_s_answer_merged_newest_first() -> None:
    desk, _ = router()
    assert [a.alert_id for a in desk.for_call(CALL).alerts(None, False)] == ["b1", "a1", "b2"]


def test_a_forwarded_call_is_answered_here_only() -> None:
    desk, peers = router()
    assert [a.alert_id for a in desk.for_call(forwarded_metadata(CALL)).alerts(None, False)] == [
        "a1"
    ]
    with pytest.raises(UnknownAlert):
        desk.for_call(forwarded_metadata(CALL)).decide("b1", VerdictAction.CONFIRM, ALICE, "x", "r")
    assert peers.calls == []


def test_a_verdict_goes_to_the_replica_that_knows_the_alert() -> None:
    desk, peers = router()
    routed = desk.for_call(CALL)
    assert routed.decide("a1", VerdictAction.CONFIRM, ALICE, "x", "r-9").alert_id == "a1"
    assert peers.calls == []  # known here: never forwarded
    assert routed.decide("b2", VerdictAction.CONFIRM, ALICE, "x", "r-9").alert_id == "b2"
    ((_, _, metadata),) = peers.calls
    assert ("x-request-id", "r-9") in metadata  # journaled under this call's request id
    with pytest.raises(UnknownAlert):
        routed.decide("zz", VerdictAction.CONFIRM, ALICE, "x", "r-9")


def test_an_unknown_alert_is_not_reported_missing_while_a_replica_does_not_answer() -> None:
    desk, _ = router()
    desk.peers.desks["b:1"] = None  # type: ignore[union-attr]
    with pytest.raises(TimeoutError):
        desk.for_call(CALL).decide("zz", VerdictAction.CONFIRM, ALICE, "x", "r")
