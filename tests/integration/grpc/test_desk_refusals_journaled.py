"""Every refused AlertDesk call leaves one record on the journal (issue 13, point 5).

A real AlertDesk server on loopback over the in-memory bus, as ``vigie alerting`` builds its
desk: a role that may not decide, an unknown alert, a call without a known token, each refused
and journaled once on ``vigie.audit.v1`` with who, what, the status and its message; two calls
with one request id are two records; a forwarded call's refusal is journaled once across two
replicas; a journal that does not answer delays a refusal by a bounded wait, no more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import grpc
import pytest

from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_alerting.books import AlertBooks
from vigie_alerting.desk import ReplicaDesk
from vigie_alerting.engine import AlertEngine
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.peers import FORWARDED, PeerDesks
from vigie_alerting.policy_file import LoadedPolicy, PolicyFile
from vigie_alerting.routing import DeskRouter, OneReplica
from vigie_alerting.service import InProcessCalls
from vigie_alerting.watch import WatchHub
from vigie_core.ids import stable_id
from vigie_core.types import AuditRecord, Event, EventKind, FrameRef
from vigie_runtime import codec
from vigie_runtime.auth import Authenticator, Role, TokenEntry, digest
from vigie_runtime.grpc_journal import BackgroundJournal
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.topics import AUDIT

pytestmark = pytest.mark.integration

LOOPBACK = GrpcSettings(host="127.0.0.1", port=0, grace_s=1, plaintext=True)
AUTH = Authenticator(
    [
        TokenEntry(sha256=digest("ana-token"), operator="ana", role=Role.OPERATOR),
        TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR),
    ]
)
ANA = [("authorization", "Bearer ana-token")]
DPO = [("authorization", "Bearer dpo-token")]
POLICY = LoadedPolicy(
    file=PolicyFile.model_validate(
        {"version": "t-1", "cooldown_s": 30, "default": {"zone_intrusion": {"severity": "high"}}}
    ),
    source="test",
    sha256="0" * 64,
)


def _intrusion(camera: str, t: float) -> Event:
    frame = FrameRef(camera, int(t * 10), t, 768, 432)
    return Event(
        stable_id(camera, t), EventKind.ZONE_INTRUSION, frame, "table", "person", (f"{camera}/a",)
    )


def replica_desk(bus: InMemoryBus, cameras: Sequence[str] = ()) -> tuple[ReplicaDesk, list[str]]:
    """A replica's desk over ``bus``, with one open alert per camera; their ids."""
    books = AlertBooks()
    engine = AlertEngine(POLICY, books)
    now = time.time()
    raised = []
    for camera in cameras:
        (first, *_) = engine.on_event(_intrusion(camera, now), now)
        raised.append(codec.decode_alert(first.value).alert_id)
    handler = AlertingHandler(engine, books, clock=time.time)
    return ReplicaDesk(handler, InProcessCalls(books, bus.publisher("desk"))), raised


Serve = Callable[[AlertDeskServicer], tuple[services_pb2_grpc.AlertDeskStub, str]]


@pytest.fixture()
def serve() -> Iterator[Serve]:
    servers: list[GrpcServer] = []
    channels: list[grpc.Channel] = []

    def start(servicer: AlertDeskServicer) -> tuple[services_pb2_grpc.AlertDeskStub, str]:
        registration = Registration(
            services_pb2_grpc.add_AlertDeskServicer_to_server, servicer, "vigie.v1.AlertDesk"
        )
        server = GrpcServer(LOOPBACK, [registration]).start()
        servers.append(server)
        address = f"127.0.0.1:{server.port}"
        channel = grpc.insecure_channel(address)
        channels.append(channel)
        return services_pb2_grpc.AlertDeskStub(channel), address

    yield start
    for channel in channels:
        channel.close()
    for server in servers:
        server.stop()


def journal(bus: InMemoryBus) -> list[AuditRecord]:
    return [codec.decode_audit(m.value, key=m.key) for m in bus.messages(AUDIT)]


def refused(call: Callable[..., object], request: object, metadata: list[tuple[str, str]]) -> str:
    with pytest.raises(grpc.RpcError) as error:
        call(request, metadata=metadata, timeout=10)
    return str(error.value.code().name).lower()


@pytest.fixture()
def one_replica(serve: Serve) -> tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str]:
    bus = InMemoryBus()
    desk, (alert_id,) = replica_desk(bus, ["cam-1"])
    stub, _ = serve(AlertDeskServicer(DeskRouter(desk, OneReplica()), WatchHub(), AUTH))
    return stub, bus, alert_id


def test_a_role_that_may_not_decide_is_refused_and_journaled_once(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    stub, bus, alert_id = one_replica
    request = services_pb2.VerdictRequest(alert_id=alert_id, reason="a shadow")
    metadata = [*DPO, ("x-request-id", "req-dpo")]
    assert refused(stub.Dismiss, request, metadata) == "permission_denied"
    (record,) = journal(bus)
    assert (record.action, record.subject, record.actor, record.role) == (
        "desk.dismiss",
        alert_id,
        "dpo",
        "auditor",
    )
    assert (record.reason, record.request_id) == ("a shadow", "req-dpo")
    assert record.details["outcome"] == "permission_denied"
    assert "may not" in record.details["error"]
    assert "req-dpo" not in record.record_id

    history = services_pb2.ListAlertsRequest(include_closed=True)
    assert refused(stub.ListAlerts, history, ANA) == "permission_denied"
    listed = journal(bus)[-1]
    assert (listed.action, listed.actor, listed.details["outcome"]) == (
        "desk.list_alerts",
        "ana",
        "permission_denied",
    )
    assert len(journal(bus)) == 2


def test_a_verdict_for_an_unknown_alert_is_journaled_once(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    stub, bus, _ = one_replica
    request = services_pb2.VerdictRequest(alert_id="no-such-alert", reason="seen")
    assert refused(stub.Confirm, request, ANA) == "not_found"
    (record,) = journal(bus)
    assert (record.action, record.subject, record.actor) == ("desk.confirm", "no-such-alert", "ana")
    assert record.details["outcome"] == "not_found"
    assert "no-such-alert" in record.details["error"]


def test_two_calls_with_one_request_id_leave_two_records(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    stub, bus, alert_id = one_replica
    metadata = [*ANA, ("x-request-id", "same-id")]
    too_long = services_pb2.VerdictRequest(alert_id=alert_id, reason="x" * 5000)
    for _ in range(2):
        assert refused(stub.Acknowledge, too_long, metadata) == "invalid_argument"
    first, second = journal(bus)
    assert first.record_id != second.record_id
    assert first.request_id == second.request_id == "same-id"  # a field, never the identity
    assert not any("same-id" in r.record_id for r in (first, second))
    assert len(first.reason) <= 500  # an over-long reason is kept bounded


def test_a_call_without_a_known_token_is_journaled_without_the_token(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    stub, bus, _ = one_replica
    assert refused(stub.ListAlerts, services_pb2.ListAlertsRequest(), []) == "unauthenticated"
    forged = [("authorization", "Bearer forged-secret")]
    watch = services_pb2.WatchAlertsRequest(camera_id="cam-1")
    assert refused(lambda r, **kw: list(stub.WatchAlerts(r, **kw)), watch, forged) == (
        "unauthenticated"
    )
    nobody, forger = journal(bus)
    assert (nobody.action, nobody.actor, nobody.role) == ("desk.list_alerts", "anonymous", "")
    assert "token" not in nobody.details
    assert (forger.action, forger.subject, forger.actor) == (
        "desk.watch_alerts",
        "cam-1",
        "anonymous",
    )
    assert forger.details["token"] == digest("forged-secret")[:12]
    assert "forged-secret" not in repr(forger)


def test_an_answered_call_leaves_no_refusal(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    stub, bus, alert_id = one_replica
    stub.ListAlerts(services_pb2.ListAlertsRequest(), metadata=ANA, timeout=10)
    stub.Acknowledge(services_pb2.VerdictRequest(alert_id=alert_id), metadata=ANA, timeout=10)
    assert [r.action for r in journal(bus)] == ["verdict.acknowledge"]  # the engine's record


def test_a_journal_that_does_not_answer_delays_a_refusal_by_a_bounded_wait(
    serve: Serve,
) -> None:
    bus = InMemoryBus()
    desk, _ = replica_desk(bus, ["cam-1"])
    stuck = threading.Event()

    def write(records: object) -> None:
        stuck.wait(30)  # the broker away
        raise RuntimeError("broker down")

    slow = BackgroundJournal(write, "test-journal", wait_s=0.3)
    stub, _ = serve(AlertDeskServicer(DeskRouter(desk, OneReplica()), WatchHub(), AUTH, slow))
    started = time.monotonic()
    request = services_pb2.VerdictRequest(alert_id="nope", reason="seen")
    assert refused(stub.Confirm, request, ANA) == "not_found"
    assert time.monotonic() - started < 3.0
    assert stub.ListAlerts(services_pb2.ListAlertsRequest(), metadata=ANA, timeout=10).alerts
    stuck.set()


class KnownReplicas:
    """A replica's view of the others: who owns which camera, and their desk addresses
    (filled in once they are served)."""

    def __init__(self, owners: dict[str, str] | None = None) -> None:
        self.owners = owners or {}
        self.addresses: list[str] = []

    def owner(self, camera_id: str) -> str | None:
        return self.owners.get(camera_id)

    def others(self) -> list[str]:
        return self.addresses


@pytest.fixture()
def two_replicas(
    serve: Serve,
) -> Iterator[tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str]]:
    """Replica A (no alerts; its stub) and B, the owner of camera cam-b's open alert (its
    id), each knowing the other's address; one bus for both journals."""
    bus = InMemoryBus()
    owner_desk, (alert_id,) = replica_desk(bus, ["cam-b"])
    b_view = KnownReplicas()
    _, owner = serve(AlertDeskServicer(DeskRouter(owner_desk, b_view), WatchHub(), AUTH))
    a_view = KnownReplicas({"cam-b": owner})
    a_view.addresses.append(owner)
    peers = PeerDesks(10.0, channel=grpc.insecure_channel)
    local, _ = replica_desk(bus)
    stub, address_of_a = serve(
        AlertDeskServicer(DeskRouter(local, a_view, peers), WatchHub(), AUTH)
    )
    b_view.addresses.append(address_of_a)
    try:
        yield stub, bus, alert_id
    finally:
        peers.close()


def test_a_forwarded_call_is_journaled_once_by_the_replica_that_refuses_it(
    two_replicas: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    """Replica A (no alerts) offers verdicts to B (the alert's owner). B's refusal is B's
    record, passed on by A unjournaled; B's "not mine" for an unknown alert is no refusal,
    and A, having asked every replica, journals the unknown alert."""
    stub, bus, alert_id = two_replicas
    no_reason = services_pb2.VerdictRequest(alert_id=alert_id)
    assert refused(stub.Confirm, no_reason, ANA) == "invalid_argument"
    (by_owner,) = journal(bus)
    assert (by_owner.action, by_owner.details["forwarded"]) == ("desk.confirm", "true")

    unknown = services_pb2.VerdictRequest(alert_id="nope", reason="seen")
    assert refused(stub.Dismiss, unknown, ANA) == "not_found"
    (by_caller,) = journal(bus)[1:]
    assert (by_caller.action, by_caller.details["outcome"]) == ("desk.dismiss", "not_found")
    assert "forwarded" not in by_caller.details

    history = services_pb2.ListAlertsRequest(camera_id="cam-b", include_closed=True)
    assert refused(stub.ListAlerts, history, ANA) == "permission_denied"
    assert len(journal(bus)) == 3  # refused by A before any forwarding
    forwarded = [*ANA, (FORWARDED, "1")]
    assert refused(stub.Dismiss, unknown, forwarded) == "not_found"
    # Marked, from a replica's address (loopback here, as both replicas are): "not mine",
    # left to the replica that asked to journal.
    assert len(journal(bus)) == 3


def test_a_client_that_marks_its_call_forwarded_is_still_journaled(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    """The mark is only believed from another replica's address: a client writing it to
    probe alert ids without a trace gets its "not found" journaled like any other."""
    stub, bus, _ = one_replica
    marked = [*ANA, (FORWARDED, "1")]
    unknown = services_pb2.VerdictRequest(alert_id="probe-1", reason="seen")
    assert refused(stub.Dismiss, unknown, marked) == "not_found"
    (record,) = journal(bus)
    assert (record.action, record.subject, record.details["outcome"]) == (
        "desk.dismiss",
        "probe-1",
        "not_found",
    )
    assert "forwarded" not in record.details


def test_one_alert_by_id_open_for_an_operator_decided_only_with_history(
    one_replica: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    """GetAlert answers what ListAlerts would: an open alert to whoever may watch, a decided
    one only to whoever may see history; an unknown id is "not found". Each refusal is
    journaled like any other desk call's."""
    stub, bus, alert_id = one_replica
    got = stub.GetAlert(services_pb2.GetAlertRequest(alert_id=alert_id), metadata=ANA, timeout=10)
    assert (got.alert_id, got.camera_id) == (alert_id, "cam-1")
    stub.Dismiss(
        services_pb2.VerdictRequest(alert_id=alert_id, reason="a shadow"), metadata=ANA, timeout=10
    )
    decided = services_pb2.GetAlertRequest(alert_id=alert_id)
    assert refused(stub.GetAlert, decided, ANA) == "permission_denied"
    assert stub.GetAlert(decided, metadata=DPO, timeout=10).alert_id == alert_id
    unknown = services_pb2.GetAlertRequest(alert_id="nope")
    assert refused(stub.GetAlert, unknown, DPO) == "not_found"
    refusals = [r for r in journal(bus) if r.action == "desk.get_alert"]
    assert [(r.subject, r.actor, r.details["outcome"]) for r in refusals] == [
        (alert_id, "ana", "permission_denied"),
        ("nope", "dpo", "not_found"),
    ]


def test_one_alert_is_fetched_from_the_replica_that_holds_it(
    two_replicas: tuple[services_pb2_grpc.AlertDeskStub, InMemoryBus, str],
) -> None:
    stub, _, alert_id = two_replicas
    request = services_pb2.GetAlertRequest(alert_id=alert_id)
    assert stub.GetAlert(request, metadata=ANA, timeout=10).camera_id == "cam-b"
