"""The alerting engine, its handler, the desk and the AlertDesk API, over constructed events.

The store is a dict that keeps values as JSON text, as the changelog of the stream application's
table does, so every test also checks that the state survives serialisation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from vigie.v1 import alerts_pb2, services_pb2
from vigie_alerting.books import AlertBooks
from vigie_alerting.desk import ReplicaDesk
from vigie_alerting.engine import AlertEngine
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.policy_file import LoadedPolicy, PolicyFile, load_policy
from vigie_alerting.policy_watch import PolicyWatch
from vigie_alerting.routing import DeskRouter, OneReplica
from vigie_alerting.service import InProcessCalls
from vigie_alerting.watch import WatchHub
from vigie_core.ids import stable_id
from vigie_core.types import (
    Alert,
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    Verdict,
    VerdictAction,
)
from vigie_runtime import codec
from vigie_runtime.auth import Authenticator, Caller, Role, TokenEntry, digest
from vigie_runtime.bus import DeliveryError, Message, Output
from vigie_runtime.stage import Reject
from vigie_runtime.topics import ALERTS, ALERTS_JSON, AUDIT, EVENTS, VERDICTS

CAMERA = "cam-gate"
T0 = 1_700_000_000.0
ALICE = Caller("alice", Role.OPERATOR)
DPO = Caller("dpo", Role.AUDITOR)

POLICY = {
    "version": "test-7",
    "cooldown_s": 60,
    "cameras": {
        CAMERA: {
            "zone_intrusion": {"severity": "high", "retention_days": 90},
            "loitering": {"severity": "low"},
        }
    },
    "escalation": {"after_s": {"high": 30, "critical": 60}},
    "routes": [
        {"topic": "vigie.alerts.security.v1", "min_severity": "high"},
        {"topic": "vigie.alerts.loiter.v1", "kinds": ["loitering"]},
    ],
}


class JsonStore(MutableMapping[str, Any]):
    """Values kept as JSON text, as the changelog topic keeps them."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def __getitem__(self, key: str) -> Any:
        return json.loads(self.data[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = json.dumps(value)

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def policy(**changes: Any) -> LoadedPolicy:
    return LoadedPolicy(
        file=PolicyFile.model_validate({**POLICY, **changes}), source="test", sha256="0" * 64
    )


def engine(store: MutableMapping[str, Any] | None = None, **changes: Any) -> AlertEngine:
    return AlertEngine(policy(**changes), JsonStore() if store is None else store)


def event(
    t: float,
    track: str = "t1",
    kind: EventKind = EventKind.ZONE_INTRUSION,
    zone: str = "restricted",
    camera: str = CAMERA,
) -> Event:
    return Event(
        event_id=stable_id("test-event", camera, kind, zone, track, t),
        kind=kind,
        frame=FrameRef(camera, int(t - T0), t, 640, 480),
        zone=zone,
        class_name="person",
        track_ids=(f"{camera}/{track}",),
    )


def topics(outputs: Sequence[Output]) -> list[str]:
    return [o.topic for o in outputs]


def alerts_in(outputs: Sequence[Output]) -> list[Alert]:
    return [codec.decode_alert(o.value) for o in outputs if o.topic == ALERTS]


def audit_in(outputs: Sequence[Output]) -> list[Any]:
    return [codec.decode_audit(o.value) for o in outputs if o.topic == AUDIT]


# -- events ---------------------------------------------------------------------------------------


def test_a_burst_of_repeats_becomes_one_alert_with_a_count() -> None:
    e = engine()
    outputs = [o for i in range(10) for o in e.on_event(event(T0 + i, f"t{i}"), T0 + i)]
    alerts = alerts_in(outputs)
    assert len({a.alert_id for a in alerts}) == 1
    assert [a.count for a in alerts] == list(range(1, 11))
    assert alerts[-1].last_seen == T0 + 9
    assert [r.action for r in audit_in(outputs)] == ["alert.raised"]
    (queued,) = e.alerts()
    assert (queued.count, queued.policy_version, queued.retention_days) == (10, "test-7", 90)


def test_a_kind_the_policy_does_not_allow_raises_nothing_and_is_journaled() -> None:
    e = engine()
    outputs = e.on_event(event(T0, kind=EventKind.CROWD_DENSITY), T0)
    assert topics(outputs) == [AUDIT]
    (record,) = audit_in(outputs)
    assert record.action == "alert.refused"
    assert record.reason == f"crowd_density is not an authorised alert at camera {CAMERA}"
    assert record.details["policy_version"] == "test-7"
    assert record.camera_id == CAMERA and record.actor == "system:alerting"
    assert e.alerts() == []


def test_a_camera_without_policy_signals_nothing() -> None:
    outputs = engine().on_event(event(T0, camera="cam-elsewhere"), T0)
    (record,) = audit_in(outputs)
    assert record.reason == "camera cam-elsewhere has no alert policy"


def test_a_replayed_refusal_journals_the_same_record_id() -> None:
    e = engine()
    first = audit_in(e.on_event(event(T0, kind=EventKind.FIRE), T0))
    again = audit_in(e.on_event(event(T0, kind=EventKind.FIRE), T0 + 5))
    assert first[0].record_id == again[0].record_id


def test_alerts_go_to_the_audience_topics_their_route_selects() -> None:
    e = engine()
    intrusion = e.on_event(event(T0), T0)
    loitering = e.on_event(event(T0, kind=EventKind.LOITERING), T0)
    assert topics(intrusion)[:2] == [ALERTS, "vigie.alerts.security.v1"]
    assert topics(loitering)[:2] == [ALERTS, "vigie.alerts.loiter.v1"]


def test_a_suppression_refuses_with_its_reason() -> None:
    window = {"start": "2023-11-14T22:00:00Z", "end": "2023-11-14T23:00:00Z"}
    e = engine(suppressions=[{**window, "reason": "lens cleaning", "cameras": [CAMERA]}])
    (record,) = audit_in(e.on_event(event(T0 + 60), T0 + 60))  # 22:14:20 UTC
    assert record.reason == "suppressed: lens cleaning"
    assert alerts_in(e.on_event(event(T0 + 3600, "t2"), T0 + 3600)) != []


# -- escalation -----------------------------------------------------------------------------------


def test_an_unacknowledged_alert_escalates_and_is_notified_again() -> None:
    e = engine()
    e.on_event(event(T0), T0)
    assert e.tick(T0 + 29) == []
    outputs = e.tick(T0 + 30)
    (alert,) = alerts_in(outputs)
    assert (alert.severity, alert.escalation_level) == (Severity.CRITICAL, 1)
    assert "vigie.alerts.security.v1" in topics(outputs)
    (record,) = audit_in(outputs)
    assert record.action == "alert.escalated"
    assert record.reason == "not acknowledged in time; severity now critical"
    # At critical it is re-notified at critical's own limit, without rising further.
    assert e.tick(T0 + 89) == []
    (again,) = alerts_in(e.tick(T0 + 90))
    assert (again.severity, again.escalation_level) == (Severity.CRITICAL, 2)


def test_an_acknowledged_alert_does_not_escalate() -> None:
    e = engine()
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    e.decide(alert.alert_id, VerdictAction.ACKNOWLEDGE, ALICE, "", T0 + 10)
    assert e.tick(T0 + 3600) == []


# -- verdicts -------------------------------------------------------------------------------------


def test_a_dismissal_carries_the_operator_role_and_reason() -> None:
    e = engine()
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    decision = e.decide(alert.alert_id, VerdictAction.DISMISS, ALICE, "a shadow", T0 + 5, "req-1")
    assert topics(decision.outputs)[0] == VERDICTS
    verdict = codec.decode_verdict(decision.outputs[0].value)
    assert (verdict.operator, verdict.role, verdict.reason) == ("alice", "operator", "a shadow")
    assert decision.alert.status is AlertStatus.DISMISSED
    (record,) = audit_in(decision.outputs)
    assert (record.action, record.actor, record.request_id) == (
        "verdict.dismiss",
        "alice",
        "req-1",
    )


def test_an_auditor_decides_nothing() -> None:
    e = engine()
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    with pytest.raises(PermissionError, match="dpo"):
        e.decide(alert.alert_id, VerdictAction.DISMISS, DPO, "not mine to say", T0 + 5)
    assert e.alerts()[0].status is AlertStatus.RAISED


def test_a_verdict_read_back_from_its_topic_changes_nothing_twice() -> None:
    e = engine()
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    decision = e.decide(alert.alert_id, VerdictAction.CONFIRM, ALICE, "seen on site", T0 + 5)
    assert e.on_verdict(decision.verdict, CAMERA) == []
    elsewhere = engine()  # another replica that only reads the topics
    elsewhere.on_event(event(T0), T0)
    (applied,) = alerts_in(elsewhere.on_verdict(decision.verdict, CAMERA))
    assert applied.status is AlertStatus.CONFIRMED
    assert elsewhere.on_verdict(decision.verdict, CAMERA) == []


def test_a_verdict_for_an_alert_the_camera_does_not_hold_is_rejected_not_dropped() -> None:
    e = engine()
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    decision = e.decide(alert.alert_id, VerdictAction.CONFIRM, ALICE, "seen on site", T0 + 5)
    unknown = Verdict("vrd-x", "alr-nowhere", VerdictAction.DISMISS, "mallory", "no", T0 + 6)
    with pytest.raises(Reject, match=r"^verdict vrd-x is for alert alr-nowhere, which camera "):
        e.on_verdict(unknown, CAMERA)
    with pytest.raises(Reject, match="which camera 'cam-other' does not hold"):
        e.on_verdict(decision.verdict, "cam-other")  # keyed by another camera
    assert e.alerts(include_closed=True)[0].status is AlertStatus.CONFIRMED


def test_precision_counts_survive_in_the_store() -> None:
    store = JsonStore()
    e = engine(store)
    for i, action in enumerate([VerdictAction.CONFIRM, VerdictAction.DISMISS] * 2):
        (alert,) = alerts_in(e.on_event(event(T0 + 1000 * i, f"t{i}"), T0 + 1000 * i))
        e.decide(alert.alert_id, action, ALICE, "checked", T0 + 1000 * i + 1)
    tally = engine(store).evaluations()[CAMERA].tallies[(EventKind.ZONE_INTRUSION, "restricted")]
    assert (tally.raised, tally.confirmed, tally.dismissed, tally.precision) == (4, 2, 2, 0.5)


def test_a_new_engine_on_the_same_store_continues_dedup() -> None:
    store = JsonStore()
    first = engine(store)
    first.on_event(event(T0, "a"), T0)
    first.on_event(event(T0 + 1, "b"), T0 + 1)
    second = engine(store)  # a restart: the table is read back from its changelog
    assert second.on_event(event(T0 + 1, "b"), T0 + 2) == []  # a replay: already counted
    (merged,) = alerts_in(second.on_event(event(T0 + 2, "c"), T0 + 3))
    assert merged.count == 3


# -- the handler -----------------------------------------------------------------------------------


def handler_over(
    clock: Any = lambda: T0, tick_s: float = 1.0
) -> tuple[AlertingHandler, AlertEngine, AlertBooks]:
    books = AlertBooks()
    e = engine(books)
    return AlertingHandler(e, books, clock, tick_s), e, books


def test_the_handler_reads_events_and_verdicts_by_topic() -> None:
    handler, e, books = handler_over()
    message = Message(EVENTS, 0, 0, CAMERA.encode(), codec.encode(event(T0)))
    (alert,) = alerts_in(handler.handle(handler.decode(message), message))
    assert books.take_changed() == {CAMERA}  # the keeper will save the camera's book
    decision = e.decide(alert.alert_id, VerdictAction.CONFIRM, ALICE, "seen", T0 + 1)
    verdict_msg = Message(VERDICTS, 0, 0, CAMERA.encode(), codec.encode(decision.verdict))
    assert handler.handle(handler.decode(verdict_msg), verdict_msg) == []


def test_the_handler_journals_its_policy_then_ticks_at_most_every_tick_s() -> None:
    now = [T0]
    handler, e, _ = handler_over(clock=lambda: now[0], tick_s=5.0)
    e.on_event(event(T0), T0)
    assert [r.action for r in audit_in(handler.tick())] == ["policy.loaded"]
    now[0] = T0 + 1
    assert handler.tick() == []
    now[0] = T0 + 31
    assert alerts_in(handler.tick()) != []
    now[0] = T0 + 32
    assert handler.tick() == []  # within tick_s of the last tick


class RecordingPublisher:
    """Keeps what was published; ``flush`` raises DeliveryError while ``broker_down``."""

    def __init__(self, broker_down: bool = False) -> None:
        self.broker_down = broker_down
        self.published: list[Output] = []

    def publish(self, output: Output) -> None:
        self.published.append(output)

    def flush(self, timeout_s: float) -> None:
        if self.broker_down:
            raise DeliveryError("1 message(s) not delivered: broker transport failure")

    def close(self) -> None:
        return None


def local_desk(
    publisher: RecordingPublisher | None = None,
) -> tuple[ReplicaDesk, AlertEngine, WatchHub, str]:
    handler, e, books = handler_over(clock=lambda: T0 + 60)
    hub = WatchHub()
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    desk = ReplicaDesk(handler, InProcessCalls(books, publisher or RecordingPublisher()))
    return desk, e, hub, alert.alert_id


def test_a_verdict_is_delivered_before_the_desk_answers() -> None:
    publisher = RecordingPublisher()
    desk, e, _, alert_id = local_desk(publisher)
    alert = desk.decide(alert_id, VerdictAction.CONFIRM, ALICE, "seen on site", "req")
    assert alert.status is AlertStatus.CONFIRMED
    assert e.alerts(include_closed=True)[0].status is AlertStatus.CONFIRMED
    assert topics(publisher.published) == [VERDICTS, ALERTS, "vigie.alerts.security.v1", AUDIT]


def test_a_verdict_waits_for_the_broker_and_fails_only_when_the_service_stops() -> None:
    publisher = RecordingPublisher(broker_down=True)
    desk, _, _, alert_id = local_desk(publisher)
    calls = desk.calls
    assert isinstance(calls, InProcessCalls)
    threading.Timer(0.7, calls.stop.set).start()
    with pytest.raises(TimeoutError):
        desk.decide(alert_id, VerdictAction.CONFIRM, ALICE, "seen on site", "req")
    assert VERDICTS in topics(publisher.published)  # tried, and retried, not dropped


# -- the gRPC API ---------------------------------------------------------------------------------


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class FakeContext:
    """Just enough of ``grpc.ServicerContext``: metadata, ``abort`` raising as the real one."""

    def __init__(self, token: str | None = None, active_polls: int = 0) -> None:
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.active_polls = active_polls

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)

    def is_active(self) -> bool:
        self.active_polls -= 1
        return self.active_polls >= 0


AUTH = Authenticator(
    [
        TokenEntry(sha256=digest("alice-token"), operator="alice", role=Role.OPERATOR),
        TokenEntry(sha256=digest("sup-token"), operator="sam", role=Role.SUPERVISOR),
        TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR),
    ]
)


def servicer() -> tuple[AlertDeskServicer, str, ReplicaDesk]:
    desk, _, hub, alert_id = local_desk()
    api = AlertDeskServicer(DeskRouter(desk, OneReplica()), hub, AUTH)
    return api, alert_id, desk


def aborted(call: Any, *args: Any) -> Aborted:
    with pytest.raises(Aborted) as caught:
        call(*args)
    return caught.value


def test_a_call_without_a_known_token_is_unauthenticated() -> None:
    api, _, _ = servicer()
    for context in (FakeContext(), FakeContext("forged")):
        failure = aborted(api.ListAlerts, services_pb2.ListAlertsRequest(), context)
        assert failure.code is grpc.StatusCode.UNAUTHENTICATED


def test_roles_decide_what_a_caller_may_do() -> None:
    api, alert_id, _ = servicer()
    dismiss = services_pb2.VerdictRequest(alert_id=alert_id, reason="a shadow")
    failure = aborted(api.Dismiss, dismiss, FakeContext("dpo-token"))
    assert failure.code is grpc.StatusCode.PERMISSION_DENIED
    history = services_pb2.ListAlertsRequest(include_closed=True)
    failure = aborted(api.ListAlerts, history, FakeContext("alice-token"))
    assert failure.code is grpc.StatusCode.PERMISSION_DENIED
    assert len(api.ListAlerts(history, FakeContext("dpo-token")).alerts) == 1
    reply = api.Dismiss(dismiss, FakeContext("sup-token"))
    assert reply.status == alerts_pb2.ALERT_STATUS_DISMISSED


def test_nobody_decides_in_another_operators_name() -> None:
    api, alert_id, _ = servicer()
    request = services_pb2.VerdictRequest(alert_id=alert_id, operator="bob", reason="x")
    failure = aborted(api.Confirm, request, FakeContext("alice-token"))
    assert failure.code is grpc.StatusCode.PERMISSION_DENIED and "bob" in failure.details


def test_refused_verdicts_say_why() -> None:
    api, alert_id, _ = servicer()
    no_reason = services_pb2.VerdictRequest(alert_id=alert_id, reason="  ")
    assert aborted(api.Confirm, no_reason, FakeContext("alice-token")).code is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    unknown = services_pb2.VerdictRequest(alert_id="nope", reason="seen")
    assert aborted(api.Confirm, unknown, FakeContext("alice-token")).code is (
        grpc.StatusCode.NOT_FOUND
    )
    api.Confirm(
        services_pb2.VerdictRequest(alert_id=alert_id, reason="seen"), FakeContext("alice-token")
    )
    again = services_pb2.VerdictRequest(alert_id=alert_id, reason="seen")
    assert aborted(api.Dismiss, again, FakeContext("alice-token")).code is (
        grpc.StatusCode.FAILED_PRECONDITION
    )


def test_watch_sends_the_open_alerts_then_each_change() -> None:
    api, alert_id, desk = servicer()
    stream = api.WatchAlerts(services_pb2.WatchAlertsRequest(), FakeContext("alice-token", 20))
    first = next(stream)
    assert (first.alert_id, first.status) == (alert_id, alerts_pb2.ALERT_STATUS_RAISED)
    acknowledged = desk.decide(alert_id, VerdictAction.ACKNOWLEDGE, ALICE, "", "req")
    api.hub.publish(acknowledged)  # as the service's feed does when it reads it back
    change = next(stream)
    assert (change.alert_id, change.status) == (alert_id, alerts_pb2.ALERT_STATUS_ACKNOWLEDGED)


# -- policy changes -------------------------------------------------------------------------------


def test_a_changed_policy_file_is_put_in_force_and_journaled(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY))
    e = AlertEngine(load_policy(path), JsonStore())
    watch = PolicyWatch(path, e)
    assert watch.poll(T0) == []  # unchanged
    assert audit_in(e.on_event(event(T0, kind=EventKind.FIRE), T0))[0].action == "alert.refused"
    cameras = {CAMERA: {**POLICY["cameras"][CAMERA], "fire": {"severity": "critical"}}}
    path.write_text(yaml.safe_dump({**POLICY, "version": "test-8", "cameras": cameras}))
    (record,) = audit_in(watch.poll(T0 + 1))
    assert record.action == "policy.changed"
    assert record.reason.startswith("alert policy test-7 replaced by test-8")
    (fire,) = alerts_in(e.on_event(event(T0 + 2, kind=EventKind.FIRE), T0 + 2))
    assert (fire.severity, fire.policy_version) == (Severity.CRITICAL, "test-8")


def test_an_invalid_policy_file_is_refused_with_its_line_and_the_old_one_stays(
    tmp_path: Path,
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY))
    e = AlertEngine(load_policy(path), JsonStore())
    watch = PolicyWatch(path, e)
    path.write_text('version: "test-9"\ncameras:\n  gate:\n    fire: {severity: severe}\n')
    (record,) = audit_in(watch.poll(T0))
    assert record.action == "policy.refused"
    assert f"{path}:4:" in record.reason
    assert e.policy.file.version == "test-7"
    assert watch.poll(T0 + 1) == []  # refused once, not at every tick


def test_the_evaluation_is_exported_as_metrics() -> None:
    from prometheus_client import REGISTRY

    e = engine()
    (alert,) = alerts_in(e.on_event(event(T0, camera=CAMERA, zone="metrics-zone"), T0))
    e.decide(alert.alert_id, VerdictAction.DISMISS, ALICE, "a cat", T0 + 1)
    labels = {"camera": CAMERA, "kind": "zone_intrusion", "zone": "metrics-zone"}
    assert REGISTRY.get_sample_value("vigie_alerts", {**labels, "outcome": "raised"}) == 1
    assert REGISTRY.get_sample_value("vigie_alerts", {**labels, "outcome": "dismissed"}) == 1
    assert REGISTRY.get_sample_value("vigie_alert_precision", labels) == 0.0


def test_a_webhook_added_to_a_running_site_does_not_replay_old_alert_states() -> None:
    import asyncio

    from vigie_alerting.policy_file import WebhookConfig
    from vigie_alerting.webhooks import Failure, Webhook, WebhookSender

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    config = WebhookConfig(
        name="soc", url="http://127.0.0.1:9/hook", secret_env="X", max_age_s=60, attempts=2
    )
    sender = WebhookSender([Webhook(config, b"s")], clock=lambda: T0 + 3600, sleep=sleep)
    (alert,) = alerts_in(engine().on_event(event(T0), T0))

    async def deliver() -> tuple[list[Failure], list[Failure]]:
        try:
            old = await sender.deliver(alert, published_at=T0)
            fresh = await sender.deliver(alert, published_at=T0 + 3590)
        finally:
            await sender.close()
        return old, fresh

    old, fresh = asyncio.run(deliver())
    assert old == [] and len(fresh) == 1  # the fresh one was tried (port 9: refused), then DLQ
    assert waits == [1.0]


# -- bounds ---------------------------------------------------------------------------------------


def test_an_alert_flood_from_one_camera_is_capped_merged_and_journaled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = JsonStore()
    e = AlertEngine(policy(), store, max_open_alerts=5)
    outputs: list[Output] = []
    with caplog.at_level("WARNING"):
        for i in range(300):  # a new zone every event: nothing merges by itself
            outputs += e.on_event(event(T0 + i, zone=f"z{i}"), T0 + i)
    book = store[CAMERA]["book"]
    assert len(book["alerts"]) == 5 and len(book["windows"]) == 5  # memory held at the cap
    assert len({a.alert_id for a in alerts_in(outputs)}) == 5
    refused = [r for r in audit_in(outputs) if r.action == "alert.refused"]
    assert len(refused) == 295 and "5 open alerts" in refused[0].reason
    warnings = [r for r in caplog.records if "maximum of open alerts" in r.getMessage()]
    assert len(warnings) == 1  # once per episode, not once per event
    # At the cap, a repeat of an open alert's key merges into it, even past the cooldown.
    (merged,) = alerts_in(e.on_event(event(T0 + 1_000, zone="z0"), T0 + 1_000))
    assert merged.count == 2 and merged.first_seen == T0
    # Deciding one lets the next new one through.
    first = e.alerts()[-1]
    e.decide(first.alert_id, VerdictAction.DISMISS, ALICE, "test flood", T0 + 1_001)
    (raised,) = alerts_in(e.on_event(event(T0 + 1_002, zone="new"), T0 + 1_002))
    assert raised.zone == "new" and raised.count == 1


def test_decided_alerts_are_kept_keep_closed_s_then_forgotten() -> None:
    store = JsonStore()
    e = AlertEngine(policy(), store, keep_closed_s=100.0)
    (alert,) = alerts_in(e.on_event(event(T0), T0))
    e.decide(alert.alert_id, VerdictAction.DISMISS, ALICE, "false alarm", T0 + 1)
    e.tick(T0 + 100)
    assert [a.alert_id for a in e.alerts(include_closed=True)] == [alert.alert_id]
    e.tick(T0 + 102)
    assert e.alerts(include_closed=True) == []
    assert store[CAMERA]["book"]["windows"] == []  # its quiet period is over too


def test_the_json_mirror_carries_every_alert_state_as_json_when_asked() -> None:
    import json

    quiet = engine()
    assert ALERTS_JSON not in topics(quiet.on_event(event(T0), T0))
    mirrored = AlertEngine(policy(), JsonStore(), json_mirror=True)
    outputs = mirrored.on_event(event(T0), T0) + mirrored.on_event(event(T0 + 1, "t2"), T0 + 1)
    protobuf = alerts_in(outputs)
    copies = [json.loads(o.value) for o in outputs if o.topic == ALERTS_JSON]
    assert [(c["alert_id"], c["count"]) for c in copies] == [
        (a.alert_id, a.count) for a in protobuf
    ]
    assert copies[0]["kind"] == "EVENT_KIND_ZONE_INTRUSION"
    assert copies[0]["status"] == "ALERT_STATUS_RAISED"
    assert all(o.key == CAMERA for o in outputs if o.topic == ALERTS_JSON)
