"""The desk's routing across replicas, over stand-in desks: who answers which call, with which
credentials, and that a forwarded call is never forwarded again."""

from __future__ import annotations

import pytest

from vigie_alerting.peers import FORWARDED, Metadata, forwarded_metadata, normal_ip, peer_host
from vigie_alerting.routing import (
    UNTRUSTED_MARKS,
    DeskRouter,
    ReplicaHosts,
    address_host,
    resolve,
)
from vigie_core.alerting import UnknownAlert
from vigie_core.types import Alert, AlertStatus, EventKind, Severity, VerdictAction
from vigie_runtime.auth import Caller, Role

ALICE = Caller("alice", Role.OPERATOR)
CALL = [("authorization", "Bearer alice-token"), ("x-request-id", "r-1"), ("other", "x")]
CLIENT = "ipv4:192.168.1.20:51000"  # an operator's console
REPLICA_B = "ipv4:10.0.0.2:41234"  # replica b:1, calling from its pod IP


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

    def alert(self, alert_id: str) -> Alert:
        for a in self.held:
            if a.alert_id == alert_id:
                return a
        raise UnknownAlert(alert_id)

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

    def alert(self, address: str, alert_id: str, metadata: Metadata) -> Alert:
        self.calls.append((address, "alert", metadata))
        return self._desk(address).alert(alert_id)

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
    hosts = ReplicaHosts(owners, resolver=lambda host: {"b": ["10.0.0.2"]}[host])
    return DeskRouter(here, owners, peers, hosts), peers  # type: ignore[arg-type]


def test_a_camera_is_asked_of_its_owner_with_the_caller_s_credentials() -> None:
    desk, peers = router()
    assert [a.alert_id for a in desk.for_call(CALL, CLIENT).alerts("dock", False)] == ["b1"]
    assert [a.alert_id for a in desk.for_call(CALL, CLIENT).alerts("gate", False)] == ["a1"]
    ((address, _, metadata),) = peers.calls
    assert address == "b:1"
    assert metadata == [*CALL[:2], (FORWARDED, "1")]  # credentials and request id, marked


def test_every_camera_is_every_replica_s_answer_merged_newest_first() -> None:
    desk, _ = router()
    merged = desk.for_call(CALL, CLIENT).alerts(None, False)
    assert [a.alert_id for a in merged] == ["b1", "a1", "b2"]


def test_a_forwarded_call_is_answered_here_only() -> None:
    desk, peers = router()
    here = desk.for_call(forwarded_metadata(CALL), REPLICA_B)
    assert [a.alert_id for a in here.alerts(None, False)] == ["a1"]
    with pytest.raises(UnknownAlert):
        here.decide("b1", VerdictAction.CONFIRM, ALICE, "x", "r")
    assert peers.calls == []


def test_a_verdict_goes_to_the_replica_that_knows_the_alert() -> None:
    desk, peers = router()
    routed = desk.for_call(CALL, CLIENT)
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
        desk.for_call(CALL, CLIENT).decide("zz", VerdictAction.CONFIRM, ALICE, "x", "r")


def test_a_mark_is_believed_only_from_another_replica_s_address() -> None:
    """Anyone can write the mark; a forwarded call's "not mine" goes unjournaled, so a client
    marking its own calls could probe alert ids without a trace. From a client, the mark is
    not believed (the API journals its refusals as the caller's own) and counted; the call is
    still answered here only, as every marked call is, so no call goes round the replicas."""
    desk, peers = router()
    marked = forwarded_metadata(CALL)
    assert desk.is_forwarded(marked, REPLICA_B)
    assert not desk.is_forwarded(CALL, REPLICA_B), "unmarked: the replica's own call"
    before = UNTRUSTED_MARKS._value.get()
    assert not desk.is_forwarded(marked, CLIENT)
    here = desk.for_call(marked, CLIENT)
    assert [a.alert_id for a in here.alerts(None, False)] == ["a1"]
    assert peers.calls == [], "a marked call is never forwarded"
    assert UNTRUSTED_MARKS._value.get() - before == 1
    assert not desk.is_forwarded(marked, "unix:/run/desk.sock")


def test_replica_hosts_are_resolved_once_per_ttl_and_a_failure_believes_nobody() -> None:
    looked_up: list[str] = []
    now = [0.0]

    def resolver(host: str) -> list[str]:
        looked_up.append(host)
        if host == "gone":
            raise OSError("no such host")
        return ["10.0.0.7"]

    class Two:
        def owner(self, camera_id: str) -> str | None:
            return None

        def others(self) -> list[str]:
            return ["alerting-1.vigie:50052", "gone:50052"]

    hosts = ReplicaHosts(Two(), resolver=resolver, ttl_s=60, clock=lambda: now[0])
    assert "10.0.0.7" in hosts
    assert "10.0.0.8" not in hosts
    assert sorted(set(looked_up)) == ["alerting-1.vigie", "gone"]
    count = len(looked_up)
    now[0] = 59.0
    assert "10.0.0.7" in hosts
    assert len(looked_up) == count, "cached within the ttl"
    now[0] = 61.0
    assert "10.0.0.7" in hosts
    assert len(looked_up) > count


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.0.0.7:41234", "10.0.0.7"),
        ("ipv6:[::1]:41234", "::1"),
        ("ipv6:[::ffff:10.0.0.7]:41234", "10.0.0.7"),
        ("unix:/tmp/desk.sock", None),
        ("ipv4:not-an-ip:1", None),
    ],
)
def test_the_host_of_a_grpc_peer(peer: str, host: str | None) -> None:
    assert peer_host(peer) == host


def test_the_host_of_a_desk_address() -> None:
    assert address_host("10.0.0.7:50052") == "10.0.0.7"
    assert address_host("[::1]:50052") == "::1"
    assert address_host("alerting-0.vigie:50052") == "alerting-0.vigie"


def test_one_alert_is_found_here_or_at_the_replica_that_holds_it() -> None:
    desk, peers = router()
    routed = desk.for_call(CALL, CLIENT)
    assert routed.alert("a1").camera_id == "gate"
    assert peers.calls == []  # held here: nobody else asked
    assert routed.alert("b2").camera_id == "hall"
    ((address, what, metadata),) = peers.calls
    assert (address, what) == ("b:1", "alert")
    assert (FORWARDED, "1") in metadata and ("authorization", "Bearer alice-token") in metadata
    with pytest.raises(UnknownAlert):
        routed.alert("zz")
    desk.peers.desks["b:1"] = None  # type: ignore[union-attr]
    with pytest.raises(TimeoutError):  # it may be there: "try again", not "unknown"
        desk.for_call(CALL, CLIENT).alert("zz")


def test_the_cache_of_replica_names_stays_bounded_however_many_names_come_and_go() -> None:
    """Replicas come and go under new names (a rolling upgrade renames pods): the cache of
    looked-up names must not grow with every name ever seen."""
    names = [f"alerting-{n}.vigie:50052" for n in range(3 * ReplicaHosts.MAX_NAMES)]
    current: list[str] = []

    class Renamed:
        def owner(self, camera_id: str) -> str | None:
            return None

        def others(self) -> list[str]:
            return current

    hosts = ReplicaHosts(Renamed(), resolver=lambda host: ["10.0.0.7"])
    for name in names:
        current[:] = [name]
        assert "10.0.0.7" in hosts
        assert len(hosts._cache) <= ReplicaHosts.MAX_NAMES
    assert "10.0.0.7" in hosts, "the replica of now is still recognised after the cap"


@pytest.mark.parametrize(
    ("ip", "normal"),
    [
        ("10.0.0.7", "10.0.0.7"),
        ("::ffff:10.0.0.7", "10.0.0.7"),
        ("fe80::1%eth0", "fe80::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
    ],
)
def test_a_peer_and_a_resolved_name_spell_one_address_alike(ip: str, normal: str) -> None:
    assert normal_ip(ip) == normal
    assert resolve(ip) == {normal}
    assert peer_host(f"ipv6:[{ip}]:41234" if ":" in ip else f"ipv4:{ip}:41234") == normal
