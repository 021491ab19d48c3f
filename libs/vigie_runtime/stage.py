"""The consume → handle → deliver → commit loop every consuming service runs.

Written once so that every stage has the same guarantees:
- at-least-once: a batch's offsets are marked done only after its outputs are acknowledged;
- bad input never stops a stage: a message that cannot be decoded or handled, or whose time is
  out of bounds (:mod:`vigie_runtime.timebounds`), goes to the dead-letter topic with the
  original bytes and the reason in headers, and the loop goes on;
- a broker that goes away is waited for (delivery retried with back-off), not crashed on;
- SIGTERM finishes the batch in hand, commits, and leaves the group;
- a stage that declares per-camera state (:mod:`vigie_runtime.state`) has it saved with every
  batch, read back when partitions are assigned and dropped when they are revoked.

:class:`MessageContract` is the part of the loop that concerns one message (decode, handle,
dead-letter any failure with its reason, metrics): the stream application's driver runs the
same contract, so a stage behaves the same whatever consumes for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from vigie_runtime import headers as record_headers
from vigie_runtime import metrics, tracing
from vigie_runtime.bus import Bus, DeliveryError, Message, Output, Publisher, RebalanceListener
from vigie_runtime.health import Health
from vigie_runtime.logs import for_camera
from vigie_runtime.priority import lower_thread_priority
from vigie_runtime.settings import ServiceSettings, TimeBounds
from vigie_runtime.state import StateKeeper, StateSpec, TopicStateStore
from vigie_runtime.timebounds import TimeGuard, TimeRefused, time_of

log = logging.getLogger(__name__)

T = TypeVar("T")


class Reject(ValueError):
    """Raised by a handler for an input it can never process; the message is dead-lettered."""


@dataclass
class Stage(Generic[T]):
    """What a service plugs into the loop. ``decode`` and ``handle`` are pure of Kafka.

    ``handle`` returns the outputs for one input; ``before_commit`` runs once per batch after
    every input is handled and before delivery (a database transaction commits there);
    ``on_idle`` lets time-based logic run when no message arrives; ``state`` declares the
    stage's per-camera state, saved with each batch and restored on assignment. ``time_of``
    gives a decoded input's time (None: it carries none), checked against ``time_bounds``
    before ``handle`` sees it; the default knows every Vigie message.
    """

    name: str
    topics: Sequence[str]
    group_id: str
    decode: Callable[[Message], T]
    handle: Callable[[T, Message], Sequence[Output]]
    before_commit: Callable[[], Sequence[Output] | None] | None = None
    on_idle: Callable[[], Sequence[Output]] | None = None
    counts_frames: bool = False
    extra_ready: list[Callable[[], bool]] = field(default_factory=list)
    state: StateSpec | None = None
    # topic -> messages re-read before the committed position when a partition is assigned:
    # for in-memory windows of recent input that are not worth saving as state.
    rewind: Mapping[str, int] | None = None
    # A group that never committed starts at the end of its topics (a live feed, not a replay).
    from_end: bool = False
    time_of: Callable[[T], float | None] | None = time_of
    time_bounds: TimeBounds = field(default_factory=TimeBounds)
    # Told of partitions assigned and revoked, for a stage that keeps per-partition memory
    # without declaring a state (a stage with a state has the state's keeper instead).
    listener: RebalanceListener | None = None
    # False for a group every replica runs on its own (it reads every partition): a bad
    # message is logged and left out there, since dead-lettering it would put one letter per
    # replica on the topic; the topic's own reader dead-letters it once.
    dead_letters: bool = True
    # Added to the nice value of the stage's thread (0: unchanged): a stage whose work may wait
    # yields the cores to the live path (vigie_runtime.priority).
    nice: int = 0
    # The stage's thread runs only on a core nothing else wants (SCHED_IDLE).
    idle: bool = False
    # How long the stage may go without a turn before liveness fails (None: the service's).
    liveness_timeout_s: float | None = None
    # Off the path to the alert (the topology's ``live``): fetches may wait longer.
    background: bool = False


def dead_letter(
    message: Message,
    topic: str,
    stage: str,
    reason: str,
    headers: Mapping[str, str] | None = None,
) -> Output:
    """The original bytes, untouched, with where they came from and why they failed.

    ``headers`` adds what a stage knows beyond the reason (which receiver refused, which
    delivery), without overriding the headers every dead letter has. Its schema headers are
    those of the message it carries.
    """
    return Output(
        topic=topic,
        key=message.key.decode("utf-8", "replace") if message.key else "",
        value=message.value,
        headers={
            **record_headers.for_source(message.topic),
            **(headers or {}),
            "vigie.reason": reason[:2000],
            "vigie.stage": stage,
            "vigie.source.topic": message.topic,
            "vigie.source.partition": str(message.partition),
            "vigie.source.offset": str(message.offset),
        },
    )


def deliver(
    publisher: Publisher,
    outputs: Sequence[Output],
    stop: threading.Event,
    stage: str,
    timeout_s: float = 30.0,
    health: Health | None = None,
) -> bool:
    """Publish and wait for acknowledgement, retrying with back-off until done or stopped.

    Re-publishing after a partial failure may duplicate some outputs; consumers are idempotent
    by design, and losing an output would not be.
    """
    backoff = 0.5
    while True:
        try:
            for output in outputs:
                publisher.publish(output)
            publisher.flush(timeout_s)
        except DeliveryError as exc:
            metrics.ERRORS.labels(stage, "delivery").inc()
            log.warning(
                "delivery failed; retrying", extra={"error": str(exc), "retry_in_s": backoff}
            )
            if health is not None:
                health.beat(stage)  # waiting for the broker is not being stuck: stay alive
            if stop.wait(backoff):
                return False
            backoff = min(backoff * 2, 10.0)
            continue
        for output in outputs:
            metrics.MESSAGES_OUT.labels(stage, output.topic).inc()
        return True


class MessageContract(Generic[T]):
    """One message through a stage: decode, handle, and on any failure a dead letter with the
    reason, never an exception; metrics and the camera in every log line on the way."""

    def __init__(self, stage: Stage[T], dead_letter_topic: str) -> None:
        self.stage = stage
        self.dead_letter_topic = dead_letter_topic
        self.frame_rate = metrics.FrameRate(stage.name)
        self.time_guard = TimeGuard(stage.time_bounds)
        self.message_age = metrics.MESSAGE_AGE.labels(stage.name)

    def process(self, message: Message) -> list[Output]:
        name = self.stage.name
        metrics.MESSAGES_IN.labels(name, message.topic).inc()
        camera = message.camera_id
        with (
            for_camera(camera),
            metrics.PROCESSING_SECONDS.labels(name).time(),
            tracing.consuming(name, message) as span,
        ):
            try:
                decoded = self.stage.decode(message)
            except Exception as exc:
                tracing.record_failure(span, f"decode: {exc}")
                return self.reject(message, "decode", exc)
            stamp = None
            if self.stage.time_of is not None:
                try:
                    stamp = self.stage.time_of(decoded)
                    if stamp is not None:
                        self.time_guard.check(stamp, message.timestamp_ms)
                except TimeRefused as exc:
                    tracing.record_failure(span, f"time: {exc}")
                    return self.reject(message, "time", exc)
            tracing.set_attribute(span, "vigie.frame_time", stamp)
            if stamp is not None:
                self.message_age.observe(max(time.time() - stamp, 0.0))
            try:
                outputs = tracing.stamp(list(self.stage.handle(decoded, message)))
            except Exception as exc:
                tracing.record_failure(span, f"processing: {exc}")
                return self.reject(message, "processing", exc)
        if self.stage.counts_frames and camera:
            self.frame_rate.tick(camera)
        return outputs

    def reject(self, message: Message, kind: str, exc: Exception) -> list[Output]:
        """The message's dead letter; none for a stage that does not dead-letter (see
        ``Stage.dead_letters``), where the message is logged and left out."""
        reason = f"{kind}: {type(exc).__name__}: {exc}"
        metrics.ERRORS.labels(self.stage.name, kind).inc()
        level = logging.WARNING if isinstance(exc, ValueError) else logging.ERROR
        extra = {"reason": reason, "topic": message.topic, "offset": message.offset}
        if not self.stage.dead_letters:
            log.log(level, "message left out", extra=extra, exc_info=level == logging.ERROR)
            return []
        metrics.DEAD_LETTERS.labels(self.stage.name, message.topic).inc()
        log.log(level, "message dead-lettered", extra=extra, exc_info=level == logging.ERROR)
        return [dead_letter(message, self.dead_letter_topic, self.stage.name, reason)]


class StageRunner(Generic[T]):
    def __init__(
        self,
        stage: Stage[T],
        bus: Bus,
        health: Health,
        dead_letter_topic: str,
        max_batch: int = 64,
        poll_timeout_s: float = 0.5,
    ) -> None:
        self.stage = stage
        self.bus = bus
        self.health = health
        self.dead_letter_topic = dead_letter_topic
        self.max_batch = max_batch
        self.poll_timeout_s = poll_timeout_s
        self.contract = MessageContract(stage, dead_letter_topic)
        self.keeper: StateKeeper | None = None
        if stage.state is not None:
            spec = stage.state
            store = TopicStateStore(bus, spec.topic)
            self.keeper = StateKeeper(stage.name, spec.state, store, spec.follows)

    @classmethod
    def for_service(
        cls, stage: Stage[T], bus: Bus, health: Health, settings: ServiceSettings
    ) -> StageRunner[T]:
        """The runner with the service's dead-letter topic and batch size."""
        return cls(stage, bus, health, settings.dead_letter_topic, max_batch=settings.max_batch)

    def _check_state_partitions(self) -> None:
        """A camera's state is read back from its input's partition number: both topics must
        have as many partitions, or a replica would restore other replicas' cameras."""
        spec = self.stage.state
        if spec is None:
            return
        ours = self.bus.partition_count(spec.topic)
        theirs = self.bus.partition_count(spec.follows)
        if ours is not None and theirs is not None and ours != theirs:
            raise RuntimeError(
                f"state topic {spec.topic} has {ours} partitions but {spec.follows} has {theirs};"
                f" recreate {spec.topic} with {theirs} partitions"
            )

    def _batch_state(self, batch: Sequence[Message]) -> list[Output]:
        """The state of every camera this batch touched, delivered with its outputs."""
        keeper = self.keeper
        if keeper is None:
            return []
        for message in batch:
            camera = message.camera_id
            if camera and message.topic == keeper.follows:
                keeper.touched(camera, message.partition)
        return keeper.outputs()

    def run(self, stop: threading.Event) -> None:
        name = self.stage.name
        lower_thread_priority(self.stage.nice, idle=self.stage.idle)
        if self.stage.liveness_timeout_s is not None:
            self.health.allow(name, self.stage.liveness_timeout_s)
        self._check_state_partitions()
        if self.keeper is not None and self.stage.listener is not None:
            raise ValueError(f"{name}: a stage with a state cannot have a listener of its own")
        options: dict[str, Any] = {"listener": self.keeper or self.stage.listener}
        if self.stage.rewind:  # only asked of buses that must honour it
            options["rewind"] = self.stage.rewind
        if self.stage.from_end:
            options["from_end"] = True
        if self.stage.background:
            options["background"] = True
        subscriber = self.bus.subscriber(
            self.stage.group_id, self.stage.topics, client_id=name, **options
        )
        publisher = self.bus.publisher(client_id=name)
        self.health.add_check(f"{name}.assigned", subscriber.assigned)
        for i, check in enumerate(self.stage.extra_ready):
            self.health.add_check(f"{name}.ready{i}", check)
        log.info("stage started", extra={"stage": name, "topics": list(self.stage.topics)})
        try:
            while not stop.is_set():
                self.health.beat(name)
                batch = subscriber.poll(self.max_batch, self.poll_timeout_s)
                if not batch:
                    if self.stage.on_idle is not None:
                        idle_outputs = [*self.stage.on_idle(), *self._batch_state(())]
                        if idle_outputs and not deliver(
                            publisher, idle_outputs, stop, name, health=self.health
                        ):
                            break
                    continue
                outputs: list[Output] = []
                for message in batch:
                    outputs.extend(self.contract.process(message))
                if self.stage.before_commit is not None:
                    outputs.extend(self.stage.before_commit() or ())
                outputs.extend(self._batch_state(batch))
                if not deliver(publisher, outputs, stop, name, health=self.health):
                    break  # stopped while the broker was away: leave offsets uncommitted
                subscriber.mark_done(batch)
        finally:
            log.info("stage stopping", extra={"stage": name})
            self.health.forget(name)
            try:
                publisher.close()
            finally:
                subscriber.close()
