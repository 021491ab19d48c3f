"""Capture killed with SIGKILL and restarted on a live-paced source: the new process opens a new
session whose frames all come after every frame of the old one, so no stage downstream skips
them as stale replays, and each frame is a whole, decodable message of its camera."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CLIP
from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_runtime import codec
from vigie_runtime.broker import free_port
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import FRAMES

pytestmark = pytest.mark.integration

CAMERA = "restarted-cam"


def frames_of(bus: KafkaBus) -> list[object]:
    return [
        codec.decode_frame(m.value)
        for m in bus.read_all(FRAMES)
        if m.camera_id == CAMERA and m.value
    ]


def wait_for_frames(bus: KafkaBus, count: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(frames_of(bus)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} frames in {timeout_s} s")
        time.sleep(0.2)


def test_a_restarted_capture_continues_the_camera_s_timeline(
    bootstrap: str, tmp_path: Path
) -> None:
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    plan = PipelinePlan(
        bootstrap=bootstrap,
        work_dir=tmp_path,
        scenes=None,
        http_ports={"capture": free_port()},
        grpc_ports={},
    )
    pipeline = LocalPipeline(plan)
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap))
    try:
        pipeline.start_capture(str(SAMPLE_CLIP), CAMERA, max_frames=40)  # paced at 10 f/s
        wait_for_frames(bus, 15)
        pipeline.kill("capture")
        before = frames_of(bus)
        pipeline.start_capture(str(SAMPLE_CLIP), CAMERA, max_frames=20)
        wait_for_frames(bus, len(before) + 20)
        assert pipeline.processes["capture"].wait(30) == 0
    finally:
        pipeline.stop_all()

    after = frames_of(bus)[len(before) :]
    first_session = {f.session_id for f in before}  # type: ignore[attr-defined]
    (second_session,) = {f.session_id for f in after}  # type: ignore[attr-defined]
    assert len(first_session) == 1 and second_session not in first_session
    last_before = max(codec.time_from_proto(f.captured_at) for f in before)  # type: ignore[attr-defined]
    times_after = [codec.time_from_proto(f.captured_at) for f in after]  # type: ignore[attr-defined]
    assert min(times_after) > last_before, "the restarted capture went back in time"
    assert times_after == sorted(times_after)
    assert [f.sequence for f in after] == list(range(20))  # type: ignore[attr-defined]
