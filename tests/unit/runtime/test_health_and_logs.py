"""Probes, metrics endpoint, JSON log lines and the per-camera frame rate."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from vigie_runtime import health as health_module
from vigie_runtime import metrics
from vigie_runtime.health import Health, ProbeServer
from vigie_runtime.logs import JsonFormatter, for_camera

# -- Health ---------------------------------------------------------------------------------------


class FakeClock:
    """Stands in for the ``time`` module inside ``vigie_runtime.health``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(health_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_alive_while_the_heartbeat_is_recent(clock: FakeClock) -> None:
    health = Health(liveness_timeout_s=60)
    assert health.alive()
    clock.now += 59.9
    assert health.alive()
    clock.now += 0.1
    assert not health.alive()
    health.beat()
    assert health.alive()


def test_a_named_loop_that_stops_turning_fails_liveness_while_others_turn(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A service runs a loop per stage: one stuck in a call while its neighbours keep the
    process beat fresh is a half service, and liveness must fail for it."""
    health = Health(liveness_timeout_s=60)
    health.beat("main-stage")
    health.beat("side-stage")
    for _ in range(7):  # the main stage turns every 10 s, the side stage is stuck
        clock.now += 10
        health.beat("main-stage")
    assert health.stuck() == {"side-stage": 70.0}
    assert not health.alive() and not health.ready()
    said = [r for r in caplog.records if r.getMessage().startswith("loop stopped turning")]
    assert [getattr(r, "loop", None) for r in said] == ["side-stage"], "logged once per episode"

    health.beat("side-stage")
    assert health.alive() and health.stuck() == {}


def test_a_loop_with_a_limit_of_its_own_is_judged_by_it(clock: FakeClock) -> None:
    """A stage on idle cores only may wait minutes on a busy node: its own, longer limit."""
    health = Health(liveness_timeout_s=60)
    health.allow("idle-stage", 900)
    health.beat("idle-stage")
    for _ in range(89):
        clock.now += 10
        health.beat("main-stage")
    assert health.alive(), "890 s without a turn is within its limit"
    clock.now += 10
    health.beat("main-stage")
    assert health.stuck() == {"idle-stage": 900.0}


def test_a_loop_forgotten_on_purpose_is_no_longer_watched(clock: FakeClock) -> None:
    health = Health(liveness_timeout_s=60)
    health.beat("side-stage")
    health.forget("side-stage")
    clock.now += 30
    health.beat("main-stage")
    clock.now += 40
    health.beat("main-stage")
    assert health.alive()


def test_ready_without_checks_when_alive(clock: FakeClock) -> None:
    health = Health(liveness_timeout_s=60)
    assert health.readiness() == {}
    assert health.ready()
    clock.now += 120
    assert not health.ready(), "a wedged loop is not ready either"


def _raises() -> bool:
    raise ConnectionError("database locked")


@pytest.mark.parametrize(
    ("checks", "expected", "ready"),
    [
        ({"broker": lambda: True, "model": lambda: True}, {"broker": True, "model": True}, True),
        ({"broker": lambda: True, "model": lambda: False}, {"broker": True, "model": False}, False),
        ({"broker": lambda: True, "db": _raises}, {"broker": True, "db": False}, False),
        ({"count": lambda: 0, "name": lambda: "x"}, {"count": False, "name": True}, False),
    ],
    ids=["all-ready", "one-not-ready", "raising-check", "truthiness"],
)
def test_readiness_reports_every_check(
    clock: FakeClock, checks: dict[str, Any], expected: dict[str, bool], ready: bool
) -> None:
    health = Health()
    for name, check in checks.items():
        health.add_check(name, check)
    assert health.readiness() == expected
    assert health.ready() is ready


def test_a_check_added_again_under_the_same_name_replaces_the_first() -> None:
    health = Health()
    health.add_check("model", lambda: False)
    health.add_check("model", lambda: True)
    assert health.readiness() == {"model": True}


# -- ProbeServer ----------------------------------------------------------------------------------


class _SwitchableHealth:
    """Lets one server (stopping one costs half a second) answer for each test's own Health."""

    def __init__(self) -> None:
        self.current = Health()

    def alive(self) -> bool:
        return self.current.alive()

    def stuck(self) -> dict[str, float]:
        return self.current.stuck()

    def readiness(self) -> dict[str, bool]:
        return self.current.readiness()


@pytest.fixture(scope="module")
def probe_server() -> Iterator[tuple[_SwitchableHealth, int]]:
    switch = _SwitchableHealth()
    server = ProbeServer(switch, "127.0.0.1", 0).start()  # type: ignore[arg-type]
    try:
        yield switch, server.port
    finally:
        server.stop()


@pytest.fixture
def probes(probe_server: tuple[_SwitchableHealth, int], clock: FakeClock) -> tuple[Health, str]:
    switch, port = probe_server
    assert port != 0
    switch.current = Health(liveness_timeout_s=60)
    return switch.current, f"http://127.0.0.1:{port}"


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def test_healthz_answers_200_while_alive_and_503_when_wedged(
    probes: tuple[Health, str], clock: FakeClock
) -> None:
    health, base = probes
    status, content_type, body = get(f"{base}/healthz")
    assert (status, content_type, json.loads(body)) == (200, "application/json", {"alive": True})

    clock.now += 61
    status, content_type, body = get(f"{base}/healthz")
    assert (status, content_type) == (503, "application/json")
    assert json.loads(body) == {"alive": False, "stuck_s": {"process": 61.0}}

    health.beat()
    assert get(f"{base}/healthz")[0] == 200


def test_readyz_answers_200_when_every_check_passes(probes: tuple[Health, str]) -> None:
    health, base = probes
    health.add_check("stage.assigned", lambda: True)
    status, content_type, body = get(f"{base}/readyz")
    assert status == 200
    assert content_type == "application/json"
    assert json.loads(body) == {"ready": True, "checks": {"stage.assigned": True}}


@pytest.mark.parametrize(
    ("check", "wedged", "model_ready"),
    [(lambda: False, False, False), (_raises, False, False), (lambda: True, True, True)],
    ids=["failing-check", "raising-check", "not-alive"],
)
def test_readyz_answers_503_with_the_checks(
    probes: tuple[Health, str], clock: FakeClock, check: Any, wedged: bool, model_ready: bool
) -> None:
    health, base = probes
    health.add_check("stage.assigned", lambda: True)
    health.add_check("model", check)
    if wedged:
        clock.now += 61
    status, content_type, body = get(f"{base}/readyz")
    assert status == 503
    assert content_type == "application/json"
    assert json.loads(body) == {
        "ready": False,
        "checks": {"stage.assigned": True, "model": model_ready},
    }


def test_metrics_serves_prometheus_text(probes: tuple[Health, str]) -> None:
    _, base = probes
    metrics.MESSAGES_IN.labels("probe-test", "vigie.frames.v1").inc(3)
    status, content_type, body = get(f"{base}/metrics")
    text = body.decode()
    assert status == 200
    assert content_type.startswith("text/plain")
    assert "# TYPE vigie_messages_in_total counter" in text
    assert re.search(
        r'^vigie_messages_in_total\{stage="probe-test",topic="vigie\.frames\.v1"\} \d+\.0$',
        text,
        re.MULTILINE,
    )


def test_an_unknown_path_is_a_404(probes: tuple[Health, str]) -> None:
    _, base = probes
    status, content_type, body = get(f"{base}/nope")
    assert (status, content_type) == (404, "application/json")
    assert "/nope" in json.loads(body)["error"]


# -- JSON logs ------------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("vigie-test"))
    logger = logging.getLogger("vigie.test.json-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_one_json_object_per_line_with_service_severity_and_message(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = json_log
    log.info("frame %d of %s", 7, "cam-1")
    log.warning("two\nlines in one message")
    first, second = entries(stream)
    assert first["service"] == "vigie-test"
    assert first["severity"] == "INFO"
    assert first["logger"] == "vigie.test.json-logs"
    assert first["message"] == "frame 7 of cam-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert "camera_id" not in first
    assert second["severity"] == "WARNING"
    assert second["message"] == "two\nlines in one message"


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_severity_is_the_level_name(
    json_log: tuple[logging.Logger, io.StringIO], level: str
) -> None:
    log, stream = json_log
    log.log(getattr(logging, level), "something")
    assert entries(stream)[0]["severity"] == level


def test_camera_id_is_set_inside_for_camera_only(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = json_log
    with for_camera("cam-3"):
        log.info("outer")
        with for_camera("cam-4"):
            log.info("inner")
        log.info("outer again")
        with for_camera(None):
            log.info("no camera")
    log.info("after")
    assert [e.get("camera_id") for e in entries(stream)] == ["cam-3", "cam-4", "cam-3", None, None]


def test_for_camera_restores_the_context_when_the_block_raises(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = json_log
    with pytest.raises(RuntimeError), for_camera("cam-5"):
        raise RuntimeError("boom")
    log.info("after")
    assert "camera_id" not in entries(stream)[0]


def test_camera_context_does_not_leak_into_other_threads(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = json_log
    with for_camera("cam-main"):
        worker = threading.Thread(target=lambda: log.info("from worker"))
        worker.start()
        worker.join(5)
    assert "camera_id" not in entries(stream)[0]


def test_extra_fields_are_emitted(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = json_log
    with for_camera("cam-1"):
        log.info(
            "batch done",
            extra={"stage": "tracking", "offset": 42, "lag": None, "path": Path("/data/x")},
        )
    [entry] = entries(stream)
    assert entry["stage"] == "tracking"
    assert entry["offset"] == 42
    assert entry["lag"] is None
    assert entry["path"] == "/data/x"  # not JSON by nature: written as its string
    assert entry["camera_id"] == "cam-1"
    for internal in ("args", "msg", "levelno", "pathname", "thread", "exc_info"):
        assert internal not in entry


def test_exceptions_are_in_the_same_line(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = json_log
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("handler failed", extra={"offset": 3})
    [entry] = entries(stream)
    assert entry["severity"] == "ERROR"
    assert entry["offset"] == 3
    assert entry["exception"].startswith("Traceback")
    assert "ZeroDivisionError: division by zero" in entry["exception"]


# -- FrameRate ------------------------------------------------------------------------------------


def unique(name: str) -> str:
    """A stage name of its own, so the process-wide metrics start from zero for this test."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def fps(stage: str, camera: str) -> float | None:
    return REGISTRY.get_sample_value("vigie_camera_fps", {"stage": stage, "camera": camera})


def frames(stage: str, camera: str) -> float | None:
    return REGISTRY.get_sample_value(
        "vigie_camera_frames_total", {"stage": stage, "camera": camera}
    )


def test_a_single_frame_has_no_rate_yet() -> None:
    stage = unique("fr-single")
    rate = metrics.FrameRate(stage)
    rate.tick("cam-1", now=50.0)
    assert fps(stage, "cam-1") == 0.0
    assert frames(stage, "cam-1") == 1


@pytest.mark.parametrize("per_second", [1, 5, 12.5, 25, 30])
def test_a_steady_stream_gives_its_frame_rate(per_second: float) -> None:
    stage = unique("fr-steady")
    rate = metrics.FrameRate(stage)
    count = int(4 * per_second) + 1
    for i in range(count):
        rate.tick("cam-1", now=100.0 + i / per_second)
    assert fps(stage, "cam-1") == pytest.approx(per_second)
    assert frames(stage, "cam-1") == count


def test_only_the_window_counts() -> None:
    stage = unique("fr-window")
    rate = metrics.FrameRate(stage, window_s=10.0)
    for i in range(251):  # 25 frames/s for 10 s
        rate.tick("cam-1", now=i / 25)
    assert fps(stage, "cam-1") == pytest.approx(25)
    for t in range(20, 41):  # then a gap, then 1 frame/s for 20 s
        rate.tick("cam-1", now=float(t))
    assert fps(stage, "cam-1") == pytest.approx(1.0)
    assert frames(stage, "cam-1") == 251 + 21


def test_after_a_gap_longer_than_the_window_the_rate_starts_over() -> None:
    stage = unique("fr-gap")
    rate = metrics.FrameRate(stage, window_s=10.0)
    for i in range(51):
        rate.tick("cam-1", now=i / 10)
    rate.tick("cam-1", now=500.0)
    assert fps(stage, "cam-1") == 0.0


def test_cameras_have_their_own_rates() -> None:
    stage = unique("fr-cameras")
    rate = metrics.FrameRate(stage)
    for i in range(41):  # 4 s: cam-a at 10 frames/s, cam-b at 2 frames/s
        t = i / 10
        rate.tick("cam-a", now=t)
        if i % 5 == 0:
            rate.tick("cam-b", now=t)
    assert fps(stage, "cam-a") == pytest.approx(10)
    assert fps(stage, "cam-b") == pytest.approx(2)
    assert (frames(stage, "cam-a"), frames(stage, "cam-b")) == (41, 9)
