"""Two detection replicas share the frames topic; one is SIGKILLed mid-stream and the other
takes its partitions over: every published frame still ends with a Detections message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import cv2
import numpy as np
import pytest

from tests.conftest import REPO
from vigie.v1 import frames_pb2
from vigie_detection.service import DetectionService
from vigie_detection.settings import DetectionSettings
from vigie_runtime import codec
from vigie_runtime.broker import free_port
from vigie_runtime.bus import Output
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import GrpcSettings, KafkaSettings
from vigie_runtime.topics import DETECTIONS, FRAMES

pytestmark = pytest.mark.integration

CAMERAS = [f"cam-{i}" for i in range(6)]
PER_CAMERA = 25


def kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        single_record_batches=True,
    )


def start_victim(bootstrap: str, group: str, http_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIGIE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "VIGIE_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "VIGIE_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "VIGIE_KAFKA__SINGLE_RECORD_BATCHES": "true",
        "VIGIE_GROUP_ID": group,
        "VIGIE_HTTP__PORT": str(http_port),
        "VIGIE_HTTP__HOST": "127.0.0.1",
        "VIGIE_GRPC__PORT": "0",
        "VIGIE_GRPC__HOST": "127.0.0.1",
        "VIGIE_GRPC__PLAINTEXT": "true",
        "VIGIE_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "vigie_detection"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(process: subprocess.Popen[bytes], http_port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"replica exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise AssertionError("the replica never became ready")


def test_a_killed_replica_loses_no_frame(bootstrap: str) -> None:
    group = f"detection-{uuid.uuid4().hex[:6]}"
    settings = DetectionSettings(
        kafka=kafka(bootstrap),
        group_id=group,
        grpc=GrpcSettings(host="127.0.0.1", port=0, plaintext=True),
        batching={"max_batch": 4, "max_wait_ms": 5},
    )
    bus = KafkaBus(settings.kafka)
    ok, jpeg = cv2.imencode(".jpg", np.full((96, 128, 3), 90, dtype=np.uint8))
    assert ok

    http_port = free_port()
    victim = start_victim(bootstrap, group, http_port)
    survivor_health = Health()
    survivor = DetectionService(settings, bus, survivor_health)
    stop = threading.Event()
    thread = threading.Thread(target=survivor.run, args=(stop,), daemon=True)
    try:
        wait_ready(victim, http_port)
        thread.start()
        deadline = time.monotonic() + 30
        while not survivor_health.ready() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert survivor_health.ready()

        expected: set[tuple[str, int]] = set()
        publisher = bus.publisher("test-capture")
        reader = bus.subscriber(f"reader-{uuid.uuid4().hex[:6]}", [DETECTIONS], "reader")
        seen: set[tuple[str, int]] = set()

        def drain(timeout_s: float) -> None:
            for m in reader.poll(500, timeout_s):
                ref = codec.decode_detections(m.value).frame
                seen.add((ref.camera_id, ref.sequence))

        start = time.time() - PER_CAMERA / 10  # recent: stages bound message times
        for seq in range(PER_CAMERA):
            for camera in CAMERAS:
                frame = frames_pb2.Frame(
                    camera_id=camera,
                    sequence=seq,
                    width=128,
                    height=96,
                    jpeg=jpeg.tobytes(),
                    replay=True,
                    session_id="s1",
                )
                frame.captured_at.CopyFrom(codec.time_to_proto(start + seq / 10))
                publisher.publish(Output(FRAMES, camera, codec.encode(frame)))
                expected.add((camera, seq))
        publisher.flush(10)

        # Both members hold partitions (each was ready, i.e. assigned, before publishing):
        # once work is under way, crash one: nothing committed since its last commit survives.
        deadline = time.monotonic() + 60
        while len(seen) < len(CAMERAS) * 4 and time.monotonic() < deadline:
            drain(0.1)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert len(CAMERAS) * 4 <= len(seen) < len(expected), "not killed mid-stream"

        deadline = time.monotonic() + 90
        while not expected <= seen and time.monotonic() < deadline:
            drain(0.5)
        reader.close()
        assert thread.is_alive()
        missing = sorted(expected - seen)
        assert not missing, f"{len(missing)} frames lost, e.g. {missing[:5]}"
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        stop.set()
        thread.join(30)
