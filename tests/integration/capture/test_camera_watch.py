"""Cameras are watched: a real HTTP MJPEG stream (multipart/x-mixed-replace JPEG frames from a
real clip, served on loopback) that OpenCV opens like a network camera.

The stream flows (online), stops sending while keeping the connection (stalled, a technical
event, readiness failing), comes back (online again, a new session from sequence 0); a dead URL
raises the offline status and event; a missing file is given up after its attempts with a
failure, and a file that ends as configured ends capture normally without an alert.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import pytest
from prometheus_client import REGISTRY

from tests.conftest import SAMPLE_CLIP
from vigie.v1 import cameras_pb2
from vigie_capture.service import CaptureService
from vigie_capture.settings import CaptureSettings
from vigie_core.types import EventKind
from vigie_runtime import codec
from vigie_runtime.app import ServiceFailed
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.topics import CAMERA_STATUS, EVENTS, FRAMES

pytestmark = pytest.mark.integration

FPS = 10.0
STALL_MIN_S = 1.0
RECONNECT_AFTER_S = 2.0


class MjpegServer:
    """Serves JPEG frames as multipart/x-mixed-replace at FPS while ``sending``; when not, keeps
    every connection open and sends nothing (a stalled camera)."""

    def __init__(self, jpegs: list[bytes]) -> None:
        self.jpegs = jpegs
        self.sending = threading.Event()
        self.sending.set()
        self.closed = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while not server.closed.is_set():
                        if server.sending.is_set():
                            jpeg = server.jpegs[index % len(server.jpegs)]
                            index += 1
                            self.wfile.write(
                                b"--frame\r\nContent-Type: image/jpeg\r\n"
                                + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                                + jpeg
                                + b"\r\n"
                            )
                            self.wfile.flush()
                        time.sleep(1.0 / FPS)
                except OSError:
                    return  # the client went away (capture reconnecting)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/camera.mjpg"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()


def clip_jpegs(count: int = 30) -> list[bytes]:
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    video = cv2.VideoCapture(str(SAMPLE_CLIP))
    jpegs = []
    try:
        while len(jpegs) < count:
            ok, image = video.read()
            if not ok:
                break
            small = cv2.resize(image, (320, 180))
            jpegs.append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    finally:
        video.release()
    assert jpegs, "no frame read from the sample clip"
    return jpegs


@pytest.fixture
def mjpeg() -> Iterator[MjpegServer]:
    server = MjpegServer(clip_jpegs())
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on leaving: nothing listens there


def settings(camera: dict[str, Any], **extra: Any) -> CaptureSettings:
    return CaptureSettings(
        cameras=[camera],
        pacing="realtime",
        stall={"intervals": 5, "min_s": STALL_MIN_S, "reconnect_after_s": RECONNECT_AFTER_S},
        reconnect={"initial_s": 0.2, "max_s": 1.0, "open_timeout_s": 2.0},
        status={"heartbeat_s": 1.0},
        **extra,
    )


class Running:
    def __init__(self, service: CaptureService) -> None:
        self.service = service
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.service.run(self.stop)
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive(), "capture did not stop"


def statuses(bus: InMemoryBus, camera: str) -> list[cameras_pb2.CameraStatus]:
    return [
        codec.decode_camera_status(m.value, m.key)
        for m in bus.messages(CAMERA_STATUS)
        if m.camera_id == camera
    ]


def events(bus: InMemoryBus, camera: str, kind: EventKind) -> list[Any]:
    decoded = [codec.decode_event(m.value, m.key) for m in bus.messages(EVENTS)]
    return [e for e in decoded if e.camera_id == camera and e.kind is kind]


def frames(bus: InMemoryBus, camera: str) -> list[Any]:
    return [
        codec.decode_frame(m.value, m.key) for m in bus.messages(FRAMES) if m.camera_id == camera
    ]


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds it took; fails naming ``what`` after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def latest_state(bus: InMemoryBus, camera: str) -> int:
    found = statuses(bus, camera)
    return found[-1].state if found else cameras_pb2.CAMERA_STATE_UNSPECIFIED


def metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_stalled_stream_raises_the_camera_alert_and_capture_resumes(mjpeg: MjpegServer) -> None:
    camera = "mjpeg-cam"
    bus = InMemoryBus()
    health = Health()
    service = CaptureService(
        settings({"id": camera, "source": mjpeg.url, "replay": False}), bus, health
    )
    running = Running(service)
    try:
        # (a) Frames flow: online.
        wait_until(
            "online status",
            lambda: latest_state(bus, camera) == cameras_pb2.CAMERA_STATE_ONLINE,
            10,
        )
        wait_until("frames flowing", lambda: len(frames(bus, camera)) >= 10, 10)
        first_sessions = {f.session_id for f in frames(bus, camera)}
        assert len(first_sessions) == 1
        assert all(health.readiness().values())
        online = statuses(bus, camera)[-1]
        assert online.session_id in first_sessions and online.HasField("last_frame_at")

        # (b) The server keeps the connection but stops sending: stalled, within the threshold
        # (min_s, as 5 intervals at the reported rate are less) plus the monitor's tick.
        mjpeg.sending.clear()
        took = wait_until(
            "stalled status",
            lambda: any(s.state == cameras_pb2.CAMERA_STATE_STALLED for s in statuses(bus, camera)),
            STALL_MIN_S + 1.5,
        )
        assert took >= STALL_MIN_S - 0.3
        (stalled,) = events(bus, camera, EventKind.CAMERA_STALLED)
        assert stalled.zone == "" and stalled.details["status"] == "stalled"
        assert float(stalled.details["threshold_s"]) == STALL_MIN_S
        assert float(stalled.details["last_frame_age_s"]) >= STALL_MIN_S
        readiness = health.readiness()
        assert readiness["capture.cameras"] is False
        assert readiness[f"capture.camera.{camera}"] is False
        assert health.alive(), "liveness must stay up while a camera is away"
        assert service.camera_states()[camera] in ("stalled", "offline")
        age = metric("vigie_camera_last_frame_age_seconds", stage="capture", camera=camera)
        assert age is not None and age >= STALL_MIN_S
        assert metric("vigie_camera_status", stage="capture", camera=camera, state="online") == 0
        # Past the read timeout the reader reconnects, which fails while the server is silent.
        wait_until(
            "offline after the reconnection failed",
            lambda: latest_state(bus, camera) == cameras_pb2.CAMERA_STATE_OFFLINE,
            RECONNECT_AFTER_S + 2.0 + 3.0,
        )

        # (c) The stream comes back: online again, with a new session from sequence 0.
        before = len(frames(bus, camera))
        mjpeg.sending.set()
        wait_until(
            "online again",
            lambda: latest_state(bus, camera) == cameras_pb2.CAMERA_STATE_ONLINE,
            10,
        )
        wait_until("frames again", lambda: len(frames(bus, camera)) >= before + 10, 10)
        after = frames(bus, camera)[before:]
        new_sessions = {f.session_id for f in after} - first_sessions
        assert new_sessions, "frames after the stall must carry a new session"
        first_of_new = next(f for f in after if f.session_id in new_sessions)
        assert first_of_new.sequence == 0
        wait_until("ready again", lambda: all(health.readiness().values()), 3)
        assert metric("vigie_camera_status", stage="capture", camera=camera, state="online") == 1
    finally:
        running.close()
    assert running.error is None, running.error
    # Stopping capture says so, without an alert.
    assert statuses(bus, camera)[-1].state == cameras_pb2.CAMERA_STATE_OFFLINE
    assert len(events(bus, camera, EventKind.CAMERA_STALLED)) == 1


def test_a_dead_url_raises_the_offline_alert_and_is_retried() -> None:
    camera = "dead-cam"
    bus = InMemoryBus()
    health = Health()
    url = f"http://user:secret@127.0.0.1:{closed_port()}/camera.mjpg"
    running = Running(
        CaptureService(settings({"id": camera, "source": url, "replay": False}), bus, health)
    )
    try:
        wait_until(
            "offline status",
            lambda: latest_state(bus, camera) == cameras_pb2.CAMERA_STATE_OFFLINE,
            3.0,
        )
        wait_until("offline event", lambda: bool(events(bus, camera, EventKind.CAMERA_OFFLINE)), 1)
        (event,) = events(bus, camera, EventKind.CAMERA_OFFLINE)
        assert event.details["status"] == "offline"
        assert "secret" not in event.details["reason"] and "***@" in event.details["reason"]
        status = statuses(bus, camera)[-1]
        assert "secret" not in status.reason
        assert health.readiness()[f"capture.camera.{camera}"] is False
        time.sleep(1.5)  # still retried (a URL is retried for ever), still one alert
        assert running.thread.is_alive()
        assert len(events(bus, camera, EventKind.CAMERA_OFFLINE)) == 1
        assert len(statuses(bus, camera)) >= 2  # heartbeats
    finally:
        running.close()
    assert running.error is None, running.error


def test_a_missing_file_is_retried_then_given_up_with_a_failure(tmp_path: Path) -> None:
    camera = "missing-file"
    bus = InMemoryBus()
    service = CaptureService(
        CaptureSettings(
            cameras=[{"id": camera, "source": str(tmp_path / "not-yet.mp4")}],
            reconnect={"initial_s": 0.05, "max_s": 0.1, "max_attempts_for_files": 3},
        ),
        bus,
        Health(),
    )
    with pytest.raises(ServiceFailed, match=camera):
        service.run(threading.Event())
    assert service.failed[camera]
    assert statuses(bus, camera)[-1].state == cameras_pb2.CAMERA_STATE_OFFLINE
    assert len(events(bus, camera, EventKind.CAMERA_OFFLINE)) == 1


def test_a_file_that_ends_as_configured_ends_capture_without_an_alert() -> None:
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    camera = "ending-file"
    bus = InMemoryBus()
    service = CaptureService(
        CaptureSettings(
            cameras=[{"id": camera, "source": str(SAMPLE_CLIP), "max_frames": 5}], pacing="fast"
        ),
        bus,
        Health(),
    )
    service.run(threading.Event())  # returns: no failure
    assert len(frames(bus, camera)) == 5
    assert statuses(bus, camera)[-1].state == cameras_pb2.CAMERA_STATE_OFFLINE
    assert not events(bus, camera, EventKind.CAMERA_OFFLINE)
    assert not service.failed
