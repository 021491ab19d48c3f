"""The whole pipeline as six processes on the real broker, replaying a real clip.

Ground truth (labelled by eye for this test, frame numbers at 10 fps): in
`one-by-one-person-detection.mp4` six people, one at a time, walk to the table, stand at it and
leave. They stand at the table during frames ~70-185, ~240-435, ~520-690, ~760-855, ~940-1180
and ~1255-1340. Each visit must raise exactly one `zone_intrusion` alert in zone `table`, raised
while that person is there, and nothing else may be raised.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
import yaml

from tests.conftest import SAMPLE_CLIP
from tests.e2e.hostile import burst
from tests.e2e.otlp_receiver import OtlpReceiver
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_cli.samples import (
    SAMPLE_SLACK_FRAMES,
    SAMPLE_VISITS,
    example_scenes,
    sample_config_dir,
)
from vigie_core.types import Alert, AlertStatus, EventKind
from vigie_runtime import codec
from vigie_runtime.auth import digest
from vigie_runtime.broker import fresh_broker
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import (
    ALERTS,
    BY_NAME,
    DEAD_LETTERS,
    DETECTIONS,
    TRACKS,
    VERDICTS,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

FPS = 10.0
CAMERA = "one-by-one"
VISITS = SAMPLE_VISITS
SLACK_FRAMES = SAMPLE_SLACK_FRAMES
# Published on every topic before the clip: each must end on the dead-letter topic.
HOSTILE = burst(CAMERA)
INJECTED = {h.value for h in HOSTILE}


@pytest.fixture()
def broker_bootstrap() -> Iterator[str]:
    """A fresh broker per test: both runs must start from empty topics and groups."""
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    with fresh_broker() as broker:
        yield broker.bootstrap


OPERATOR = [("authorization", "Bearer op1-token")]


def plan_for(bootstrap: str, work_dir: Path) -> PipelinePlan:
    tokens = work_dir / "desk-tokens.yaml"
    entry = {"sha256": digest("op1-token"), "operator": "op1", "role": "operator"}
    tokens.write_text(yaml.safe_dump({"tokens": [entry]}))
    return PipelinePlan.on_free_ports(
        bootstrap,
        work_dir,
        example_scenes(),
        session_timeout_ms=2000,
        config_dir=sample_config_dir(),  # what `make run` uses for this clip
        extra_env={"VIGIE_TOKENS_FILE": str(tokens)},
    )


def read_with_kcat(kcat: list[str], bootstrap: str, topic: str) -> list[bytes]:
    """Values on ``topic`` as read by kcat, an independent Kafka client (length-prefixed)."""
    raw = subprocess.run(
        [*kcat, "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%R%s"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    values, i = [], 0
    while i < len(raw):
        (size,) = struct.unpack(">i", raw[i : i + 4])
        values.append(raw[i + 4 : i + 4 + size])
        i += 4 + size
    return values


def latest_alerts(values: list[bytes]) -> dict[str, Alert]:
    latest: dict[str, Alert] = {}
    for value in values:
        if value in INJECTED:
            continue
        alert = codec.decode_alert(value)
        latest[alert.alert_id] = alert
    return latest


def assert_one_alert_per_visit(
    alerts: dict[str, Alert],
    visits: list[tuple[int, int]] = VISITS,
    camera: str = CAMERA,
) -> None:
    frames = sorted(a.frame.sequence for a in alerts.values() if a.frame is not None)
    assert len(frames) == len(alerts)
    for alert in alerts.values():
        assert alert.camera_id == camera
        assert alert.kind == EventKind.ZONE_INTRUSION
        assert alert.zone == "table"
        assert alert.class_name == "person"
    matched = []
    for start, end in visits:
        inside = [f for f in frames if start - SLACK_FRAMES <= f <= end]
        matched.append(inside)
    assert all(len(m) == 1 for m in matched), f"alert frames {frames} vs visits {visits}"
    assert len(frames) == len(visits), f"alert frames {frames} vs visits {visits}"


def run_clip(pipeline: LocalPipeline, kill_tracking_at: int | None = None) -> None:
    pipeline.start_consumers()
    pipeline.wait_ready()
    pipeline.start_capture(str(SAMPLE_CLIP), CAMERA, fast=True)
    if kill_tracking_at is not None:
        wait_for_tracks(pipeline.plan.bootstrap, kill_tracking_at)
        pipeline.kill("tracking")
        time.sleep(1.0)
        pipeline.start("tracking")
        pipeline.wait_ready(("tracking",))
    assert pipeline.wait_drained(timeout_s=900), pipeline.why_not_drained()


def wait_for_tracks(bootstrap: str, count: int, timeout_s: float = 600) -> None:
    """Block until ``count`` track messages exist: the tracker is then mid-clip."""
    from vigie_runtime.admin import LagProbe

    probe = LagProbe(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if probe.lag("nobody-reads-this", [TRACKS]) >= count:
                return
            time.sleep(0.2)
    finally:
        probe.close()
    raise TimeoutError(f"fewer than {count} track messages after {timeout_s}s")


def publish_hostile(bootstrap: str) -> None:
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))
    publisher = bus.publisher("hostile")
    for hostile in HOSTILE:
        publisher.publish(Output(hostile.topic, hostile.key, hostile.value))
    publisher.flush(10)


def test_clip_raises_one_alert_per_visit_end_to_end(
    broker_bootstrap: str, tmp_path: Path, kcat: list[str]
) -> None:
    receiver = OtlpReceiver()
    plan = plan_for(broker_bootstrap, tmp_path)
    plan.extra_env.update(
        {
            "VIGIE_TRACING__ENABLED": "true",
            "VIGIE_TRACING__OTLP_ENDPOINT": f"127.0.0.1:{receiver.port}",
        }
    )
    pipeline = LocalPipeline(plan)
    receiver.__enter__()
    try:
        publish_hostile(broker_bootstrap)
        run_clip(pipeline)

        alerts = latest_alerts(read_with_kcat(kcat, broker_bootstrap, ALERTS))
        assert_one_alert_per_visit(alerts)

        # Every hostile message ended on the dead-letter topic with its reason; the stages
        # went on (the clip above was processed after them, with exactly its alerts).
        letters = read_dead_letters(kcat, broker_bootstrap)
        stages = {headers["vigie.stage"] for headers, _ in letters}
        assert {"detection", "tracking", "analytics", "alerting", "storage"} <= stages
        for headers, _ in letters:
            assert headers["vigie.reason"].startswith(("decode: ", "time: ", "processing: "))
        for hostile in HOSTILE:
            reasons = [
                h["vigie.reason"]
                for h, value in letters
                if value == hostile.value and h["vigie.source.topic"] == hostile.topic
            ]
            assert reasons, f"{hostile.what} on {hostile.topic} was not dead-lettered"
        still_running = {k: p.poll() for k, p in pipeline.processes.items() if k != "capture"}
        assert all(code is None for code in still_running.values()), still_running

        # An operator dismisses one alert through AlertDesk; the verdict reaches the topic
        # and the archive, and the archive holds every alert.
        target = sorted(alerts.values(), key=lambda a: a.first_seen)[0]
        desk_port = pipeline.plan.grpc_ports["alerting"]
        with grpc.insecure_channel(f"127.0.0.1:{desk_port}") as channel:
            desk = services_pb2_grpc.AlertDeskStub(channel)
            listed = desk.ListAlerts(
                services_pb2.ListAlertsRequest(camera_id=CAMERA), metadata=OPERATOR
            )
            assert {a.alert_id for a in listed.alerts} == set(alerts)
            with pytest.raises(grpc.RpcError) as refused:
                desk.Dismiss(
                    services_pb2.VerdictRequest(alert_id=target.alert_id), metadata=OPERATOR
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            dismissed = desk.Dismiss(
                services_pb2.VerdictRequest(
                    alert_id=target.alert_id, reason="staff member at the table"
                ),
                metadata=OPERATOR,
            )
            assert codec.alert_from_proto(dismissed).status == AlertStatus.DISMISSED
        assert pipeline.wait_drained(timeout_s=60), pipeline.why_not_drained()
        verdicts = [
            codec.decode_verdict(v)
            for v in read_with_kcat(kcat, broker_bootstrap, VERDICTS)
            if v not in INJECTED
        ]
        assert [(v.alert_id, v.operator, v.reason) for v in verdicts if v.operator == "op1"] == [
            (target.alert_id, "op1", "staff member at the table")
        ]

        with sqlite3.connect(pipeline.plan.database) as db:
            stored = dict(db.execute("SELECT alert_id, status FROM alerts").fetchall())
            assert set(stored) == set(alerts)
            assert stored[target.alert_id] == "dismissed"
            assert db.execute("SELECT count(*) FROM events").fetchone()[0] >= len(VISITS)
            assert db.execute("SELECT count(*) FROM track_summaries").fetchone()[0] >= len(VISITS)
            # The injected verdict for an alert that never existed is archived as it came
            # (storage cannot tell it from a verdict whose alert is still on its way); the
            # desk dead-letters it, so no alert of the clip changed.
            decided = "SELECT alert_id FROM verdicts WHERE operator = 'op1'"
            assert [r[0] for r in db.execute(decided)] == [target.alert_id]
        with grpc.insecure_channel(f"127.0.0.1:{pipeline.plan.grpc_ports['storage']}") as channel:
            archive = services_pb2_grpc.ArchiveStub(channel)
            found = archive.SearchAlerts(
                services_pb2.SearchRequest(camera_id=CAMERA, purpose="end-to-end check"),
                metadata=OPERATOR,
            )
            assert {a.alert_id for a in found.alerts} == set(alerts)
            # Each alert comes with the snapshot of its frame, taken out through the API.
            assert set(found.snapshots) == set(alerts)
            image = archive.GetSnapshot(
                services_pb2.GetSnapshotRequest(alert_id=target.alert_id, purpose="review"),
                metadata=OPERATOR,
            )
            decoded = cv2.imdecode(np.frombuffer(image.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert decoded is not None and decoded.shape[:2] == (
                image.info.height,
                image.info.width,
            )
        with sqlite3.connect(pipeline.plan.database) as db:
            journal = db.execute("SELECT actor, action, reason FROM audit_journal").fetchall()
        assert ("op1", "search.alerts", "end-to-end check") in journal
        assert ("op1", "export.snapshot", "review") in journal
        assert ("op1", "verdict.dismiss", "staff member at the table") in journal
        assert any(action == "alert.raised" for _, action, _ in journal)
    finally:
        codes = pipeline.stop_all()
        receiver.__exit__()
    assert all(code == 0 for code in codes.values()), codes
    assert_one_trace_from_frame_to_alert(broker_bootstrap, receiver)


def assert_one_trace_from_frame_to_alert(bootstrap: str, receiver: OtlpReceiver) -> None:
    """The first alert's record names its trace: that trace holds the frame's capture, its
    detection and tracking, the analysis that raised the event, the alerting stage that made it
    an alert, and the archive storing them, each the child of the one before."""
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap))
    first = next(m for m in bus.read_all(ALERTS) if m.value not in INJECTED)
    traceparent = first.headers["traceparent"].decode()
    trace_id = traceparent.split("-")[1]
    spans = receiver.of_trace(trace_id)
    services = {s.service for s in spans}
    assert services >= {
        "vigie-capture",
        "vigie-detection",
        "vigie-tracking",
        "vigie-analytics",
        "vigie-alerting",
        "vigie-storage",
    }, sorted((s.service, s.name) for s in spans)
    by_id = {s.span_id: s for s in spans}
    alerting = next(s for s in spans if s.name == "alerting process")  # events to alerts
    chain = [alerting.service]
    span = alerting
    while span.parent_span_id:
        span = by_id[span.parent_span_id]  # a parent outside the trace would fail here
        chain.append(span.service)
    assert chain == [
        "vigie-alerting",
        "vigie-analytics",
        "vigie-tracking",
        "vigie-detection",
        "vigie-capture",
    ], chain
    assert all(s.attributes.get("vigie.camera_id") == CAMERA for s in spans)


def read_dead_letters(kcat: list[str], bootstrap: str) -> list[tuple[dict[str, str], bytes]]:
    """Each dead letter's headers and value, read partition by partition (so the two kcat
    passes, one for headers and one for values, see the records in the same order)."""
    letters = []
    for partition in range(BY_NAME[DEAD_LETTERS].partitions):
        common = [*kcat, "-b", bootstrap, "-C", "-t", DEAD_LETTERS, "-p", str(partition), "-e"]
        lines = subprocess.run(
            [*common, "-q", "-f", "%h\n"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.splitlines()
        values = read_with_kcat([*kcat, "-p", str(partition)], bootstrap, DEAD_LETTERS)
        assert len(lines) == len(values), (partition, len(lines), len(values))
        for line, value in zip(lines, values, strict=True):
            # Header values may hold commas; every header name starts with "vigie.".
            pairs = re.split(r",(?=vigie\.)", line)
            letters.append((dict(p.split("=", 1) for p in pairs if "=" in p), value))
    return letters


@pytest.mark.parametrize("interval", [1, 2], ids=["every-frame", "every-2nd-frame"])
def test_killing_tracking_mid_clip_loses_and_duplicates_no_alert(
    broker_bootstrap: str, tmp_path: Path, kcat: list[str], interval: int
) -> None:
    """At detection interval 2 too: half the frames reach the tracker carried, and the
    restarted tracker resumes mid-interval from its snapshot; the alerts must not change."""
    plan = plan_for(broker_bootstrap, tmp_path)
    plan.extra_env["VIGIE_INTERVAL__FRAMES"] = str(interval)
    pipeline = LocalPipeline(plan)
    try:
        run_clip(pipeline, kill_tracking_at=600)
        alerts = latest_alerts(read_with_kcat(kcat, broker_bootstrap, ALERTS))
        assert_one_alert_per_visit(alerts)
        detections = [
            codec.decode_detections(v) for v in read_with_kcat(kcat, broker_bootstrap, DETECTIONS)
        ]
        carried = sum(d.carried for d in detections)
        assert carried == pytest.approx(len(detections) * (interval - 1) / interval, abs=3)
        with sqlite3.connect(pipeline.plan.database) as db:
            stored = {row[0] for row in db.execute("SELECT alert_id FROM alerts")}
        assert stored == set(alerts)
    finally:
        pipeline.stop_all()
