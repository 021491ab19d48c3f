"""Shared fixtures: the real development broker, started on a free port per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_CLIP = SHARED_DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4"


def shared_data(relative: str) -> Path:
    """A file from the shared test data, or skip with a clear reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"test data not available: {path}")
    return path


@pytest.fixture(scope="module")
def broker() -> Iterator[object]:
    """A real Tansu broker process on a free loopback port, stopped after the module."""
    from vigie_runtime.broker import free_port, start_broker

    process = start_broker(free_port())
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def bootstrap(broker: object) -> str:
    from vigie_runtime.admin import admin_client, ensure_topics

    address = broker.bootstrap  # type: ignore[attr-defined]
    ensure_topics(admin_client(address))
    return address


@pytest.fixture(scope="session")
def kcat() -> list[str]:
    """Debian's kcat, with a librdkafka new enough to talk to the development broker.

    Debian's kcat links librdkafka 2.0.2, which cannot parse the broker's ApiVersions v3 reply;
    the same kcat binary runs against the librdkafka shipped in the confluent-kafka wheel.
    """
    import confluent_kafka

    binary = shutil.which("kcat")
    if binary is None:
        pytest.skip("kcat is not installed (apt-get install kcat)")
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    candidates = sorted(libs.glob("librdkafka*.so*"))
    if not candidates:
        return [binary]
    shim = REPO / "var" / "kcat-lib"
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "librdkafka.so.1"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(candidates[0])
    return ["env", f"LD_LIBRARY_PATH={shim}", binary]
