"""A drained pipeline owes no snapshot: an alert waiting for its frame holds no offset, so the
groups reach zero lag before storage has taken it. The local pipeline reads what storage owes
from its metrics (a real HTTP server on loopback here) and does not call the run drained until
it is nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from vigie_cli.pipeline import DrainStatus, DrainWatch, LocalPipeline, PipelinePlan, _gauge_value
from vigie_runtime.broker import free_port

pytestmark = pytest.mark.integration


class Metrics:
    """What storage's /metrics says, changed by the test as storage would."""

    def __init__(self) -> None:
        self.text = ""
        port = free_port()
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = metrics.text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.port = port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[tuple[LocalPipeline, Metrics]]:
    metrics = Metrics()
    plan = PipelinePlan("127.0.0.1:1", tmp_path, None)
    plan.http_ports["storage"] = metrics.port
    pipeline = LocalPipeline(plan)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pipeline.processes["storage"] = alive
    try:
        yield pipeline, metrics
    finally:
        alive.kill()
        alive.wait()
        metrics.server.shutdown()


def test_snapshots_and_clips_owed_are_read_from_storage_s_metrics(
    storage: tuple[LocalPipeline, Metrics],
) -> None:
    pipeline, metrics = storage
    metrics.text = "# HELP x\nvigie_snapshots_pending 2.0\nvigie_clips_pending 0.0\n"
    assert pipeline.owed() == {"storage: snapshots owed": 2}
    metrics.text = "vigie_snapshots_pending 0.0\nvigie_clips_pending 1.0\n"
    assert pipeline.owed() == {"storage: clips owed": 1}
    metrics.text = "vigie_snapshots_pending 0.0\n"
    assert pipeline.owed() == {}


def test_a_storage_that_does_not_answer_owes_until_it_does(
    storage: tuple[LocalPipeline, Metrics],
) -> None:
    pipeline, metrics = storage
    metrics.server.shutdown()
    metrics.server.server_close()
    assert pipeline.owed() == {"storage: metrics unanswered": 1}


def test_a_storage_that_is_not_running_owes_nothing(
    storage: tuple[LocalPipeline, Metrics],
) -> None:
    pipeline, metrics = storage
    metrics.text = "vigie_snapshots_pending 3.0\n"
    pipeline.processes["storage"].kill()
    pipeline.processes["storage"].wait()
    assert pipeline.owed() == {}


def test_the_drain_waits_for_owed_snapshots_once_every_group_is_done(
    storage: tuple[LocalPipeline, Metrics], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, metrics = storage
    monkeypatch.setattr(LocalPipeline, "lags", staticmethod(lambda probe, groups: {"g": 0}))
    monkeypatch.setattr("vigie_cli.pipeline.LagProbe", lambda bootstrap: None)
    watch = DrainWatch(pipeline, settle_s=0)
    metrics.text = "vigie_snapshots_pending 1.0\n"
    status = watch.look()
    assert not status.drained and status.owed == {"storage: snapshots owed": 1}
    assert "waiting for storage: snapshots owed 1" in status.describe()
    metrics.text = "vigie_snapshots_pending 0.0\n"
    assert watch.look().drained


def test_gauge_lines() -> None:
    text = "vigie_snapshots_pending_total 9\nvigie_snapshots_pending 4.0\n"
    assert _gauge_value(text, "vigie_snapshots_pending") == 4
    assert _gauge_value("", "vigie_snapshots_pending") == 0
    assert _gauge_value("vigie_snapshots_pending x\n", "vigie_snapshots_pending") == 1
    assert DrainStatus(False, {}, False, {"s: snapshots owed": 1}).left == 0
