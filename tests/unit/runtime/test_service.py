"""The shared shape of a stage-running service: stages built from the topology's consumer groups,
the first run in the calling thread and the others beside it, servers around them and closers
after them, over the in-memory bus."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from vigie_runtime.app import ServiceFailed
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.service import StageService
from vigie_runtime.settings import ServiceSettings
from vigie_runtime.state import DocumentState
from vigie_runtime.topology import ConsumerGroup, Read, ServiceTopology, StateTopic

MAIN_IN = "test.service-main.v1"
SIDE_IN = "test.service-side.v1"
OUT = "test.service-out.v1"
STATE = "test.service-state.v1"

TOPOLOGY = ServiceTopology(
    name="sample",
    group_id="vigie-sample",
    http_port=1,
    groups=(
        ConsumerGroup("sample", "", (Read(MAIN_IN),)),
        ConsumerGroup("sample-side", "-side", (Read(SIDE_IN),), live=False),
    ),
    state=(StateTopic(STATE, follows=MAIN_IN),),
)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def echo(value: bytes, message: Message) -> list[Output]:
    return [Output(OUT, message.camera_id or "", value)]


def decode(message: Message) -> bytes:
    return message.value


def service(bus: InMemoryBus, max_batch: int = 64, health: Health | None = None) -> StageService:
    settings = ServiceSettings(group_id="site-a", max_batch=max_batch)
    return StageService(TOPOLOGY, settings, bus, health or Health())


class Recorder:
    """A server that notes when it starts and stops, beside the closers' own notes."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @contextmanager
    def server(self) -> Iterator[None]:
        self.events.append("server started")
        try:
            yield
        finally:
            self.events.append("server stopped")


def test_a_stage_takes_its_name_topics_group_and_state_topic_from_the_topology() -> None:
    svc = service(InMemoryBus(), max_batch=7)
    main = svc.add_stage("sample", decode, echo, state=DocumentState())
    side = svc.add_stage("sample-side", decode, echo, max_batch=3)
    assert (main.stage.name, tuple(main.stage.topics), main.stage.group_id) == (
        "sample",
        (MAIN_IN,),
        "site-a",
    )
    assert (side.stage.name, side.stage.group_id) == ("sample-side", "site-a-side")
    assert main.stage.state is not None
    assert (main.stage.state.topic, main.stage.state.follows) == (STATE, MAIN_IN)
    assert (main.max_batch, side.max_batch) == (7, 3)
    # A group off the path to the alert makes a stage whose fetches may wait longer.
    assert (main.stage.background, side.stage.background) == (False, True)
    assert svc.runners == [main, side]


def test_a_stage_the_topology_does_not_declare_is_refused() -> None:
    with pytest.raises(KeyError, match="runs no stage 'other'"):
        service(InMemoryBus()).add_stage("other", decode, echo)


def test_state_without_a_state_topic_following_the_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="one state topic following"):
        service(InMemoryBus()).add_stage("sample-side", decode, echo, state=DocumentState())


def test_running_no_stage_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no stage"):
        service(InMemoryBus()).run(threading.Event())


def test_every_stage_runs_until_stopped_then_closers_run_before_the_servers_stop() -> None:
    bus = InMemoryBus()
    svc = service(bus)
    recorder = Recorder()
    svc.add_stage("sample", decode, echo)
    svc.add_stage("sample-side", decode, echo)
    svc.serve(recorder.server())
    svc.close_on_stop(lambda: recorder.events.append("closed"))
    publisher = bus.publisher("test")
    publisher.publish(Output(MAIN_IN, "cam", b"main"))
    publisher.publish(Output(SIDE_IN, "cam", b"side"))
    stop = threading.Event()
    names: list[str] = []
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: sorted(m.value for m in bus.messages(OUT)) == [b"main", b"side"])
        names = [t.name for t in threading.enumerate()]
        assert recorder.events == ["server started"]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert "sample-side" in names  # the side stage ran on a thread named after it
    assert "sample-side" not in [t.name for t in threading.enumerate()]
    assert recorder.events == ["server started", "closed", "server stopped"]


class TwoStages:
    """A service with its main and side stage, a server and a closer, all recorded."""

    def __init__(
        self,
        side_handle: Callable[[bytes, Message], list[Output]] = echo,
        health: Health | None = None,
        side_liveness_timeout_s: float | None = None,
    ) -> None:
        self.bus = InMemoryBus()
        self.service = service(self.bus, health=health)
        self.recorder = Recorder()
        self.main = self.service.add_stage("sample", decode, echo)
        self.side = self.service.add_stage(
            "sample-side", decode, side_handle, liveness_timeout_s=side_liveness_timeout_s
        )
        self.service.serve(self.recorder.server())
        self.service.close_on_stop(lambda: self.recorder.events.append("closed"))


def test_when_the_main_stage_fails_the_others_are_stopped_and_everything_released() -> None:
    two = TwoStages()
    svc, recorder, main = two.service, two.recorder, two.main

    def failing(stop: threading.Event) -> Any:
        wait_until(lambda: "sample-side" in [t.name for t in threading.enumerate()])
        raise RuntimeError("main stage broke")

    main.run = failing  # type: ignore[method-assign]
    stop = threading.Event()
    with pytest.raises(RuntimeError, match="main stage broke"):
        svc.run(stop)
    assert stop.is_set()
    assert "sample-side" not in [t.name for t in threading.enumerate()]
    assert recorder.events == ["server started", "closed", "server stopped"]


def test_when_a_side_stage_fails_the_service_stops_and_says_which() -> None:
    """A side stage's thread that died would leave the service half alive, its probes kept
    green by the main stage: the run stops every stage and fails, naming the one that broke."""
    two = TwoStages()
    svc, recorder, side = two.service, two.recorder, two.side

    def failing(stop: threading.Event) -> Any:
        raise KeyError("a bug at start")

    side.run = failing  # type: ignore[method-assign]
    stop = threading.Event()
    with pytest.raises(ServiceFailed, match="stage sample-side failed"):
        svc.run(stop)
    assert stop.is_set()
    assert recorder.events == ["server started", "closed", "server stopped"]


@pytest.mark.parametrize("own_limit_s", [None, 30.0], ids=["service-limit", "own-limit"])
def test_a_side_stage_stuck_in_a_call_fails_liveness_while_the_main_stage_turns(
    own_limit_s: float | None,
) -> None:
    """Stuck without raising, the side stage never stops the service: liveness must name it,
    so the orchestrator restarts the process, and recover if the call returns; a stage given
    a longer limit of its own (one on idle cores only) is judged by that one."""
    release = threading.Event()
    wedged = threading.Event()

    def stuck(value: bytes, message: Message) -> list[Output]:
        wedged.set()
        release.wait(30)
        return []

    health = Health(liveness_timeout_s=1.0)
    two = TwoStages(side_handle=stuck, health=health, side_liveness_timeout_s=own_limit_s)
    two.main.poll_timeout_s = two.side.poll_timeout_s = 0.01  # the main stage turns often
    stop = threading.Event()
    thread = threading.Thread(target=two.service.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: {"sample.assigned", "sample-side.assigned"} <= set(health.readiness()))
        publisher = two.bus.publisher("test")
        publisher.publish(Output(SIDE_IN, "cam", b"wedge"))
        if own_limit_s is not None:
            assert wedged.wait(5)
            time.sleep(2.0)  # twice the service's limit
            assert health.stuck() == {}
            return
        wait_until(lambda: "sample-side" in health.stuck(), timeout_s=5)
        assert set(health.stuck()) == {"sample-side"}, "the main stage still turns"
        assert not health.alive()
        release.set()
        wait_until(health.alive, timeout_s=5)
    finally:
        release.set()
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
