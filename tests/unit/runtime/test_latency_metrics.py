"""Latency is measured where it happens: each stage observes how old its input's frame is, and
alerting how long a frame took to become an alert."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from vigie_core.types import Box, Detection, FrameDetections, FrameRef
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.stage import MessageContract, Stage
from vigie_runtime.topics import DEAD_LETTERS, DETECTIONS, TRACKS


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_each_stage_observes_the_age_of_its_input() -> None:
    contract = MessageContract(
        Stage(
            name="latency-test",
            topics=[DETECTIONS],
            group_id="g",
            decode=lambda m: codec.decode_detections(m.value),
            handle=lambda d, m: [Output(TRACKS, "cam", b"")],
        ),
        DEAD_LETTERS,
    )
    frame = FrameDetections(
        FrameRef("cam", 1, time.time() - 3.0, 640, 480),
        (Detection(Box(0.1, 0.1, 0.2, 0.3), "person", 0.9),),
        "m",
    )
    labels = {"stage": "latency-test"}
    count = sample("vigie_message_age_seconds_count", labels)
    total = sample("vigie_message_age_seconds_sum", labels)
    contract.process(Message(DETECTIONS, 0, 0, b"cam", codec.encode(frame)))
    assert sample("vigie_message_age_seconds_count", labels) == count + 1
    assert 3.0 <= sample("vigie_message_age_seconds_sum", labels) - total < 10.0
    below_5 = {**labels, "le": "5.0"}
    below_2 = {**labels, "le": "2.5"}
    assert sample("vigie_message_age_seconds_bucket", below_5) == count + 1
    assert sample("vigie_message_age_seconds_bucket", below_2) == count


def test_a_raised_alert_observes_its_frame_to_alert_latency() -> None:
    from tests.unit.services.test_alerting_engine import engine, event

    before = sample("vigie_frame_to_alert_seconds_count")
    alerting = engine()
    alerting.on_event(event(time.time() - 1.5), time.time())
    assert sample("vigie_frame_to_alert_seconds_count") == before + 1
    assert sample("vigie_frame_to_alert_seconds_bucket", {"le": "1.0"}) <= before
