"""What a pipeline that did not drain reports, on the real broker: the groups behind and the end
of the log of each process of their services, so a failure on a remote machine names the stage
that stopped turning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import DETECTIONS

pytestmark = pytest.mark.integration


def test_a_stuck_stage_is_named_with_its_exit_code_and_last_log_lines(
    bootstrap: str, tmp_path: Path
) -> None:
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))
    publisher = bus.publisher("test")
    publisher.publish(Output(DETECTIONS, "cam-1", b"never read"))
    publisher.flush(10)
    publisher.close()
    pipeline = LocalPipeline(PipelinePlan.on_free_ports(bootstrap, tmp_path, None))
    pipeline.plan.log_path("tracking-0").write_text("starting\nKeyError: 'boom'\n")
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    pipeline.processes["tracking-0"] = dead

    report = pipeline.why_not_drained(log_lines=1)

    first = report.splitlines()[0]
    assert "vigie-tracking" in first
    # which partition is short, and by how much (the broker may carry other tests' messages)
    short = re.findall(rf"'{DETECTIONS}\[\d+\]': '(\d+)/(\d+)'", first)
    assert short and all(int(end) > int(done) for done, end in short), first
    assert "tracking-0 (exited 3)" in report
    assert "KeyError: 'boom'" in report
    assert "starting" not in report  # only the last line asked for
