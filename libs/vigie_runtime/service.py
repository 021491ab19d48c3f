"""What every stage-running service does the same way: build its stages from the topology, run
them until stopped, and serve and release what goes with them.

A service adds its stages (each one a consumer group the topology declares, under the service's
``group_id`` setting), the servers that run beside them and what to close once they stop; it
then runs like any other::

    class TrackingService(StageService):
        def __init__(self, settings, bus, health):
            super().__init__(TRACKING, settings, bus, health)
            handler = TrackingHandler(...)
            self.add_stage("tracking", handler.decode, handler.handle, state=handler)

The first stage added is the service's main one and runs in the calling thread; any other runs
on a thread of its own, named after it. When the main stage returns, the others are stopped and
joined before the servers stop, so nothing they hold is released under them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import Any, TypeVar

from vigie_runtime.app import ServiceFailed
from vigie_runtime.bus import Bus, Message, Output
from vigie_runtime.health import Health
from vigie_runtime.settings import ServiceSettings
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.state import CameraState, StateSpec
from vigie_runtime.timebounds import time_of as time_of_message
from vigie_runtime.topology import ConsumerGroup, ServiceTopology

log = logging.getLogger(__name__)

T = TypeVar("T")


class StageService:
    """Owns a service's stage runners, servers and closers, and ``run(stop)`` over them all."""

    def __init__(
        self, topology: ServiceTopology, settings: ServiceSettings, bus: Bus, health: Health
    ) -> None:
        self.topology = topology
        self.settings = settings
        self.bus = bus
        self.health = health
        self.runners: list[StageRunner[Any]] = []
        self._servers: list[AbstractContextManager[Any]] = []
        self._closers: list[Callable[[], None]] = []

    def add_stage(
        self,
        name: str,
        decode: Callable[[Message], T],
        handle: Callable[[T, Message], Sequence[Output]],
        *,
        before_commit: Callable[[], Sequence[Output] | None] | None = None,
        on_idle: Callable[[], Sequence[Output]] | None = None,
        counts_frames: bool = False,
        state: CameraState | None = None,
        bus: Bus | None = None,
        max_batch: int | None = None,
        rewind: Mapping[str, int] | None = None,
        time_of: Callable[[T], float | None] | None = time_of_message,
        nice: int = 0,
        idle: bool = False,
        liveness_timeout_s: float | None = None,
    ) -> StageRunner[T]:
        """Run the stage of the topology's consumer group ``name``: its name, topics and group id
        come from there, so the code cannot start a stage the deployment does not know.

        ``state`` is the stage's per-camera state, kept in the topology's state topic that
        follows one of the group's topics. ``bus`` replaces the service's bus for this stage (a
        wrapper that fills batches, say); ``max_batch`` is its poll size, by default the
        service's ``max_batch`` setting; ``rewind`` re-reads an in-memory window of recent input
        on assignment (see :class:`vigie_runtime.stage.Stage`); ``time_of`` the time of a
        decoded input, bounded by the service's ``time`` setting; ``nice`` lowers the CPU
        priority of the stage's thread (work that may wait) and ``idle`` leaves it only the
        cores nothing else wants; ``liveness_timeout_s`` how long it may go without a turn
        (by default the service's ``liveness_timeout_s``).
        """
        group = self.topology.group(name)
        group_id = group.id(self.settings.group_id)
        if group.per_replica:  # a group of this replica's own start: it reads every partition
            group_id += uuid.uuid4().hex[:12]
        stage = Stage(
            name=group.stage,
            topics=group.topics,
            group_id=group_id,
            decode=decode,
            handle=handle,
            before_commit=before_commit,
            on_idle=on_idle,
            counts_frames=counts_frames,
            state=None if state is None else self._state_spec(group, state),
            rewind=rewind,
            time_of=time_of,
            time_bounds=self.settings.time,
            dead_letters=not group.per_replica,
            nice=nice,
            idle=idle,
            liveness_timeout_s=liveness_timeout_s,
            background=not group.live,
        )
        runner = StageRunner(
            stage,
            self.bus if bus is None else bus,
            self.health,
            self.settings.dead_letter_topic,
            max_batch=self.settings.max_batch if max_batch is None else max_batch,
        )
        self.runners.append(runner)
        return runner

    def _state_spec(self, group: ConsumerGroup, state: CameraState) -> StateSpec:
        """Where the topology keeps the state of the stage reading ``group``."""
        kept = [s for s in self.topology.state if s.follows in group.topics]
        if len(kept) != 1:
            raise ValueError(
                f"{self.topology.name} must declare one state topic following {group.topics}"
            )
        return StateSpec(state, topic=kept[0].topic, follows=kept[0].follows)

    def serve(self, server: AbstractContextManager[Any]) -> None:
        """Start ``server`` (a gRPC server, say) before the stages and stop it after them."""
        self._servers.append(server)

    def close_on_stop(self, close: Callable[[], None]) -> None:
        """Call ``close`` once every stage has stopped, before the servers stop."""
        self._closers.append(close)

    def run(self, stop: threading.Event) -> None:
        """Run every stage until ``stop`` is set or the main stage returns; then stop the
        others (by setting ``stop``), join them, close, and stop the servers. A side stage
        that fails stops them all and raises :class:`ServiceFailed`, naming it, so the process
        exits 1 through :func:`vigie_runtime.app.service_main` and is restarted."""
        if not self.runners:
            raise RuntimeError(f"{self.topology.name} added no stage to run")
        main, *others = self.runners
        with ExitStack() as cleanup:
            for server in self._servers:
                cleanup.enter_context(server)
            for close in self._closers:
                cleanup.callback(close)
            failed: list[tuple[str, BaseException]] = []

            def run_or_stop_all(runner: StageRunner[Any]) -> None:
                # A stage thread that dies would leave a half service that still looks alive
                # (the other stages keep its probes green): stop them all, and fail the run.
                try:
                    runner.run(stop)
                except BaseException as exc:
                    log.exception(
                        "stage failed: the service stops", extra={"stage": runner.stage.name}
                    )
                    failed.append((runner.stage.name, exc))
                    stop.set()

            threads = [
                threading.Thread(target=run_or_stop_all, args=(runner,), name=runner.stage.name)
                for runner in others
            ]
            for thread in threads:
                thread.start()
            try:
                main.run(stop)
            finally:
                if threads:
                    stop.set()  # the main stage is done: so are the others
                for thread in threads:
                    thread.join()
            if failed:
                name, exc = failed[0]
                raise ServiceFailed(f"stage {name} failed: {exc!r}") from exc
