"""Detect over a real gRPC server on loopback, sent a small PNG that declares 30000x30000 pixels.

Decoded, that PNG is 2.7 GB of pixels; it must be refused from its header, INVALID_ARGUMENT with
the reason, while this process (server and client alike) grows by less than 100 MB.
"""

from __future__ import annotations

import os
import threading
import time

import grpc
import pytest

from tests.integration.detection.test_grpc_detector import SMALL, SlowDetector, serve
from tests.oversized import black_png, jpeg_declaring
from vigie.v1 import services_pb2, services_pb2_grpc

pytestmark = pytest.mark.integration

PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_GROWTH = 100 * 1024 * 1024


def rss() -> int:
    """Resident bytes of this process, from /proc/self/statm (second field, in pages)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakRss:
    """Samples the resident size every millisecond: a decode that allocated and freed gigabytes
    between two readings would still show."""

    def __init__(self) -> None:
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def test_a_30000_by_30000_png_is_refused_with_little_memory() -> None:
    png = black_png(30000, 30000)  # built before measuring: under a megabyte
    assert len(png) < 1_000_000
    detector = SlowDetector(0)
    server, channel = serve(detector)
    try:
        stub = services_pb2_grpc.DetectorStub(channel)
        stub.Detect(services_pb2.DetectRequest(image=SMALL), timeout=10)  # warm the channel
        before = rss()
        with PeakRss() as peak:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as error:
                stub.Detect(services_pb2.DetectRequest(image=png), timeout=30)
            elapsed = time.monotonic() - started
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details() == (
            "PNG image of 30000x30000 pixels is above the limit of 16777216 pixels"
        )
        assert peak.peak - before < MAX_GROWTH, f"grew by {(peak.peak - before) >> 20} MB"
        assert elapsed < 5.0
        assert detector.calls == 1  # the warm-up only: the model never saw the big image
        # And the same through the stream, and as a JPEG.
        with pytest.raises(grpc.RpcError) as error:
            stream = iter([services_pb2.DetectRequest(image=jpeg_declaring(30000, 30000))])
            list(stub.StreamDetect(stream, timeout=30))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "request 0: JPEG image of 30000x30000 pixels" in error.value.details()
        assert stub.Detect(services_pb2.DetectRequest(image=SMALL), timeout=10).detections
    finally:
        channel.close()
        server.stop()
