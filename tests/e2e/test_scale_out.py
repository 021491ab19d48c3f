"""Scale-out under crashes: four cameras, two replicas of every per-camera stage, one storage,
on the real broker; one replica of each stage is killed with SIGKILL at a different moment of
the replay and restarted later. The alerts must be those of an undisturbed run: one per visit
per camera, none duplicated, none lost, each with its snapshot; and the AlertDesk of either
alerting replica lists and decides the alerts of every camera.

The cameras are the sample clip under four camera ids, started a few seconds apart, so the
kills land at different moments of each camera's visits.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
import yaml

from tests.conftest import SAMPLE_CLIP
from tests.e2e.test_pipeline import (
    OPERATOR,
    VISITS,
    assert_one_alert_per_visit,
    broker_bootstrap,  # noqa: F401 - fixture
    plan_for,
)
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_cli.pipeline import LocalPipeline
from vigie_cli.samples import example_scenes
from vigie_core.types import Alert, AlertStatus
from vigie_runtime import codec
from vigie_runtime.admin import LagProbe
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.streams import key_partition
from vigie_runtime.topics import ALERTS, PARTITIONS, TRACKS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

# Two visits of the clip per camera (frames ~70-185 and ~240-435).
FRAMES = 470
CAMERAS = ("gate-a", "gate-b", "gate-c", "gate-d")
STAGES = ("detection", "tracking", "analytics", "alerting")
# When (tracks published, over all cameras: 4 x 470 in all) each stage loses a replica, spread
# over the replay; storage, which runs one replica, is killed and restarted too.
KILLS = {
    "detection-0": 250,
    "tracking-1": 550,
    "analytics-0": 850,
    "alerting-1": 1150,
    "storage-0": 1450,
}
RESTART_AFTER_S = 3.0


def scenes_for(cameras: tuple[str, ...], path: Path) -> Path:
    """The sample scene, once per camera id."""
    sample = yaml.safe_load(example_scenes().read_text())
    (scene,) = sample["cameras"].values()
    path.write_text(yaml.safe_dump({"cameras": {camera: scene for camera in cameras}}))
    return path


def tracks_published(probe: LagProbe) -> int:
    return probe.lag("nobody-reads-this", [TRACKS])


def latest_alerts(bus: KafkaBus) -> dict[str, Alert]:
    alerts: dict[str, Alert] = {}
    for message in bus.read_all(ALERTS):
        alert = codec.decode_alert(message.value)
        alerts[alert.alert_id] = alert
    return alerts


def test_two_replicas_per_stage_survive_a_kill_each_and_raise_exactly_the_alerts(
    broker_bootstrap: str,  # noqa: F811 - fixture
    tmp_path: Path,
) -> None:
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    partitions = {key_partition(camera, PARTITIONS) for camera in CAMERAS}
    assert len(partitions) >= 3, "the cameras must spread over partitions to share the work"
    plan = plan_for(broker_bootstrap, tmp_path)
    plan.scenes = scenes_for(CAMERAS, tmp_path / "scenes.yaml")
    pipeline = LocalPipeline(plan)
    probe = LagProbe(broker_bootstrap)
    try:
        for stage in STAGES:
            for replica in (0, 1):
                pipeline.start_replica(stage, replica)
        pipeline.start_replica("storage", 0)
        pipeline.wait_ready(tuple(pipeline.processes))
        for n, camera in enumerate(CAMERAS):
            if n:
                time.sleep(3.0)  # offset in time
            pipeline.start_capture(
                str(SAMPLE_CLIP), camera, fast=True, max_frames=FRAMES, key=f"capture-{camera}"
            )
        pending = dict(KILLS)
        killed: dict[str, float] = {}
        deadline = time.monotonic() + 900
        while (pending or killed) and time.monotonic() < deadline:
            published = tracks_published(probe)
            for victim, at in list(pending.items()):
                if published >= at:
                    pipeline.kill(victim)
                    killed[victim] = time.monotonic()
                    del pending[victim]
            for key, when in list(killed.items()):
                if time.monotonic() - when >= RESTART_AFTER_S:
                    stage, replica = key.rsplit("-", 1)
                    pipeline.start_replica(stage, int(replica))
                    del killed[key]
            time.sleep(0.2)
        assert not pending and not killed, f"kills not done: {pending} {killed}"
        assert pipeline.wait_drained(timeout_s=900), pipeline.why_not_drained()

        bus = KafkaBus(KafkaSettings(bootstrap_servers=broker_bootstrap))
        alerts = latest_alerts(bus)
        for camera in CAMERAS:
            mine = {i: a for i, a in alerts.items() if a.camera_id == camera}
            assert_one_alert_per_visit(mine, VISITS[:2], camera)

        # Either alerting replica's desk lists every camera's alerts, and decides any of them.
        desks = [pipeline.grpc_port(f"alerting-{replica}") for replica in (0, 1)]
        for port in desks:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                desk = services_pb2_grpc.AlertDeskStub(channel)
                listed = desk.ListAlerts(services_pb2.ListAlertsRequest(), metadata=OPERATOR)
                assert {a.alert_id for a in listed.alerts} == set(alerts)
        for n, camera in enumerate(CAMERAS):
            target = min((a for a in alerts.values() if a.camera_id == camera), key=str)
            with grpc.insecure_channel(f"127.0.0.1:{desks[n % 2]}") as channel:
                desk = services_pb2_grpc.AlertDeskStub(channel)
                decided = desk.Confirm(
                    services_pb2.VerdictRequest(alert_id=target.alert_id, reason="seen on site"),
                    metadata=OPERATOR,
                )
                assert codec.alert_from_proto(decided).status == AlertStatus.CONFIRMED
        assert pipeline.wait_drained(timeout_s=120), pipeline.why_not_drained()

        # Each alert has its snapshot in the archive.
        with grpc.insecure_channel(f"127.0.0.1:{pipeline.grpc_port('storage-0')}") as channel:
            archive = services_pb2_grpc.ArchiveStub(channel)
            found = archive.SearchAlerts(
                services_pb2.SearchRequest(purpose="scale-out check"), metadata=OPERATOR
            )
            assert {a.alert_id for a in found.alerts} == set(alerts)
            assert set(found.snapshots) == set(alerts)
            statuses = [codec.alert_from_proto(a).status for a in found.alerts]
            assert statuses.count(AlertStatus.CONFIRMED) == len(CAMERAS)
    finally:
        probe.close()
        codes = pipeline.stop_all()
    assert all(code == 0 for code in codes.values() if code is not None), codes
