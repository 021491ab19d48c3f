"""`vigie run`'s ports: the flags, the plan they give, a port taken refused before anything
starts; and the status lines while the pipeline drains after the clip."""

from __future__ import annotations

import argparse
import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from vigie_cli.main import build_parser, main
from vigie_cli.output import Progress
from vigie_cli.pipeline import DrainStatus, PipelinePlan
from vigie_cli.run import DrainRate, PortError, _follow, check_ports_free, port_plan, service_port
from vigie_runtime import topology


def test_by_default_the_ports_are_the_topologys() -> None:
    args = build_parser().parse_args(["run"])
    plan = port_plan(args.broker_port, args.port_offset, args.http_port, args.grpc_port)
    assert plan.broker == 19092 == port_plan().broker
    assert plan.http == {s.name: s.http_port for s in topology.SERVICES}
    assert plan.grpc == {s.name: s.grpc_port for s in topology.SERVICES if s.grpc_port}


def test_an_offset_moves_every_service_port_and_named_ports_win() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--broker-port",
            "29092",
            "--port-offset",
            "100",
            "--http-port",
            "detection=18080",
            "--grpc-port",
            "alerting=60052",
            "--http-port",
            "storage=18081",
        ]
    )
    assert args.http_port == [("detection", 18080), ("storage", 18081)]
    plan = port_plan(args.broker_port, args.port_offset, args.http_port, args.grpc_port)
    assert plan.broker == 29092
    assert plan.http["detection"] == 18080 and plan.http["storage"] == 18081
    assert plan.http["capture"] == topology.CAPTURE.http_port + 100
    assert plan.grpc["alerting"] == 60052
    assert plan.grpc["detection"] == topology.DETECTION.grpc() + 100
    assert plan.web["console"] == topology.CONSOLE.web_port + 100
    assert plan.as_dict() == {
        "broker": 29092,
        "http": plan.http,
        "grpc": plan.grpc,
        "web": plan.web,
    }


def test_the_offset_moves_the_broker_unless_its_port_is_given() -> None:
    assert port_plan(offset=100).broker == 19192
    assert port_plan(19092, offset=100).broker == 19092


def test_the_plan_reaches_every_service_environment(tmp_path: Path) -> None:
    plan = port_plan(offset=7, grpc=[("storage", 40000)])
    pipeline_plan = PipelinePlan(
        "127.0.0.1:19092", tmp_path, None, http_ports=plan.http, grpc_ports=plan.grpc
    )
    for service in topology.SERVICES:
        env = pipeline_plan.env(service.name)
        assert env["VIGIE_HTTP__PORT"] == str(service.http_port + 7)
    assert pipeline_plan.env("storage")["VIGIE_GRPC__PORT"] == "40000"
    assert "VIGIE_GRPC__PORT" not in pipeline_plan.env("tracking")


@pytest.mark.parametrize(
    "text", ["detection", "detection=", "detection=abc", "nosuch=9000", "=9000"]
)
def test_a_bad_service_port_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        service_port(text)
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["run", "--http-port", text])
    assert exited.value.code == 2


def test_grpc_for_a_service_without_grpc_is_refused() -> None:
    with pytest.raises(PortError, match="tracking serves no gRPC"):
        port_plan(grpc=[("tracking", 50099)])


def test_two_listeners_on_one_port_are_refused() -> None:
    with pytest.raises(PortError, match="both listen on port 9401"):
        port_plan(http=[("detection", 9401)])
    with pytest.raises(PortError, match="broker"):
        port_plan(broker_port=9402)
    with pytest.raises(PortError, match="out of range"):
        port_plan(offset=60000)


def test_a_taken_port_is_named_with_the_flags_that_move_it() -> None:
    plan = port_plan()
    taken = {plan.http["tracking"], plan.grpc["storage"]}
    with pytest.raises(PortError) as error:
        check_ports_free(plan, taken=lambda port: port in taken)
    message = str(error.value)
    assert f"{plan.http['tracking']} (tracking http)" in message
    assert f"{plan.grpc['storage']} (storage grpc)" in message
    assert "--port-offset" in message and "--http-port" in message
    check_ports_free(plan, taken=lambda port: False)


def test_a_really_taken_port_stops_vigie_run_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        argv = ["run", "--source", str(clip), "--work-dir", str(tmp_path / "run")]
        assert main([*argv, "--http-port", f"capture={port}", "--json"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] is False and f"{port} (capture http)" in document["error"]
    assert "already in use" in captured.err
    assert not (tmp_path / "run").exists()  # nothing was started


# -- status while draining --------------------------------------------------------------------


class FakeWatch:
    def __init__(self, looks: list[DrainStatus]) -> None:
        self.looks = looks

    def look(self) -> DrainStatus:
        return self.looks.pop(0)

    def __enter__(self) -> FakeWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakePipeline:
    def __init__(self, looks: list[DrainStatus]) -> None:
        self.watch = FakeWatch(looks)

    def drain_watch(self) -> FakeWatch:
        return self.watch

    def failed(self) -> list[str]:
        return []


class FakeWatcher:
    closed = False

    def poll(self, n: int, timeout: float) -> list[Any]:
        return []

    def close(self) -> None:
        self.closed = True


def test_after_the_clip_the_wait_for_the_drain_is_never_silent() -> None:
    looks = [
        DrainStatus(True, {"vigie-detection": 40}, False),
        DrainStatus(False, {"vigie-detection": 12, "vigie-storage": 3}, False),
        DrainStatus(False, {"vigie-detection": 2, "vigie-storage": 0}, False),
        DrainStatus(False, {"vigie-detection": 0, "vigie-storage": 0}, False),
        DrainStatus(False, {"vigie-detection": 0, "vigie-storage": 0}, True),
    ]
    stream = io.StringIO()
    progress = Progress(stream, tty=False, interval_s=0)
    watcher = FakeWatcher()
    _follow(FakePipeline(looks), watcher, {}, progress, io.StringIO())  # type: ignore[arg-type]
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("replaying the clip: 40 message(s) in flight (vigie-detection 40)")
    assert (
        "replay finished, waiting for the pipeline to drain: 15 message(s) left"
        " (vigie-detection 12, vigie-storage 3)" in lines[1]
    )
    assert any("2 message(s) left (vigie-detection 2)" in line for line in lines)
    assert "pipeline drained" in lines[-1] and "0 alert(s) raised" in lines[-1]
    assert watcher.closed


def test_drain_status_lines() -> None:
    assert DrainStatus(True, {}, False).describe() == "replaying the clip"
    assert DrainStatus(False, {"g": 0}, True).describe().startswith("pipeline drained")
    settling = DrainStatus(False, {"g": 0}, False).describe()
    assert "every message processed" in settling and DrainStatus(False, {"g": 4}, False).left == 4


def test_the_drain_rate_estimates_the_time_left() -> None:
    rate = DrainRate(window_s=10)
    assert rate.eta() == ""
    rate.add(0.0, 100)
    rate.add(5.0, 50)
    assert rate.per_s() == 10.0
    assert rate.eta() == " (10.0/s, about 5s to go)"
    rate.add(20.0, 50)  # the old samples leave the window; nothing went down since
    assert rate.per_s() is None and rate.eta() == ""
