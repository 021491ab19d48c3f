"""Dynamic batching across cameras, and skipping frames too old to be worth detecting.

The stage loop hands the service one message at a time; a network call costs much less per
frame on several frames at once. So ``collect`` (the stage's per-message handler) only decodes
the JPEG and keeps the image, and ``flush`` (the stage's ``before_commit``, run once per polled
batch before delivery) runs the model over what was collected, ``max_batch`` frames per call,
and returns one Detections message per frame in the order the frames arrived. Offsets are still
committed only after those outputs are delivered: batching changes nothing about at-least-once.

Bad input stays per message: a frame that does not parse or whose image does not decode raises
from ``decode``/``collect`` and the stage dead-letters that message alone. A model failure on a
batch is retried frame by frame so only the frames that fail again are dead-lettered.

``FillingBus`` gives the batch time to fill: the bus's poll returns as soon as one message is
there, so with ``max_wait_ms`` it keeps polling until a model batch is full or the wait is over.

Detection interval (:mod:`vigie_detection.interval`): a frame the camera's interval skips is
not decoded and not detected; it gets a ``carried`` Detections message, in its place in the
arrival order, over which the tracker moves its tracks by prediction.

Freshness: a live frame (``replay`` false) whose ``captured_at`` is older than its camera's
limit when it is about to be detected is skipped, counted in ``vigie_frames_skipped_total`` and
logged at debug. It produces *no* Detections message: an empty one would tell the tracker the
scene was seen empty at that time and make it age tracks out as unseen. Without a message the
tracker sees a longer gap between two analysed frames, exactly as when capture drops frames,
which it already handles (tracks are kept for its ``lost_buffer_s``). Replays are never skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import Histogram

from vigie.v1 import frames_pb2
from vigie_detection.handler import DetectionHandler
from vigie_detection.interval import DetectionInterval, IntervalSettings
from vigie_runtime import metrics, tracing
from vigie_runtime.bus import Bus, Message, Output, Publisher, RebalanceListener, Subscriber
from vigie_runtime.freshness import FreshnessSettings, age_of, is_stale, is_stale_at
from vigie_runtime.stage import dead_letter

log = logging.getLogger(__name__)

BATCH_FRAMES = Histogram(
    "vigie_detection_batch_frames",
    "Frames per network call",
    ["stage"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
BATCH_SECONDS = Histogram(
    "vigie_detection_batch_seconds",
    "Time of one network call over a batch, pre- and post-processing included",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


@dataclass(slots=True)
class _Pending:
    frame: frames_pb2.Frame
    message: Message
    image: np.ndarray | None  # None for a carried frame: never decoded
    # The frame's span in this stage, so the detections flushed later continue its trace.
    trace: Any = None


class BatchingDetection:
    """``collect`` per message, ``flush`` per polled batch; see the module docstring."""

    def __init__(
        self,
        handler: DetectionHandler,
        *,
        max_batch: int,
        freshness: FreshnessSettings,
        dead_letter_topic: str,
        interval: IntervalSettings | None = None,
        stage: str = "detection",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handler = handler
        self.max_batch = max_batch
        self.freshness = freshness
        self.interval = DetectionInterval(interval or IntervalSettings(), stage)
        self.dead_letter_topic = dead_letter_topic
        self.stage = stage
        self.clock = clock
        self._pending: list[_Pending] = []

    def decode(self, message: Message) -> frames_pb2.Frame:
        return self.handler.decode(message)

    def _stale(self, frame: frames_pb2.Frame) -> bool:
        return is_stale(frame, self.freshness, self.stage, self.clock())

    def _looked_at(self, frame: frames_pb2.Frame, age: float | None, now: float) -> bool:
        if age is None:
            return self.interval.look(frame.camera_id, frame.sequence, now=now)
        return self.interval.look(
            frame.camera_id,
            frame.sequence,
            now=now,
            age_s=age,
            limit_s=self.freshness.limit_for(frame.camera_id),
        )

    def collect(self, frame: frames_pb2.Frame, message: Message) -> Sequence[Output]:
        """Decode the image now (a bad one is this message's fault alone); detect at flush."""
        now = self.clock()
        age = age_of(frame, now)  # one age for both judgements of this frame
        if is_stale_at(frame, age, self.freshness, self.stage):
            return []  # already too old: not even worth decoding
        looked_at = self._looked_at(frame, age, now)
        image = self.handler.decode_image(frame.jpeg) if looked_at else None
        self._pending.append(_Pending(frame, message, image, tracing.current()))
        return []

    def flush(self) -> list[Output]:
        """Detections for every frame collected since the last flush, in arrival order."""
        pending, self._pending = self._pending, []
        slots: list[Output | None] = [
            None if p.image is not None else self._traced(p, self.handler.carried_output(p.frame))
            for p in pending
        ]
        looked = [row for row, p in enumerate(pending) if p.image is not None]
        for start in range(0, len(looked), self.max_batch):
            # Judged per model call: under overload, later chunks wait behind earlier ones.
            rows = [
                r
                for r in looked[start : start + self.max_batch]
                if not self._stale(pending[r].frame)
            ]
            for row, output in zip(rows, self._detect([pending[r] for r in rows]), strict=True):
                slots[row] = output
        return [output for output in slots if output is not None]

    def _detect(self, chunk: list[_Pending]) -> list[Output]:
        if not chunk:
            return []
        detector = self.handler.detector
        started = time.perf_counter()
        try:
            found = detector.detect_batch([p.image for p in chunk])
        except Exception as exc:
            log.warning(
                "batch detection failed; detecting its frames one by one",
                extra={"frames": len(chunk), "error": f"{type(exc).__name__}: {exc}"},
            )
            return [self._detect_one(p) for p in chunk]
        BATCH_SECONDS.labels(self.stage).observe(time.perf_counter() - started)
        BATCH_FRAMES.labels(self.stage).observe(len(chunk))
        return [
            self._traced(p, self.handler.output_for(p.frame, p.image, f))
            for p, f in zip(chunk, found, strict=True)
        ]

    @staticmethod
    def _traced(pending: _Pending, output: Output) -> Output:
        return tracing.stamp([output], pending.trace)[0]

    def _detect_one(self, pending: _Pending) -> Output:
        try:
            found = self.handler.detector.detect_batch([pending.image])[0]
        except Exception as exc:
            reason = f"processing: {type(exc).__name__}: {exc}"
            metrics.ERRORS.labels(self.stage, "processing").inc()
            metrics.DEAD_LETTERS.labels(self.stage, pending.message.topic).inc()
            log.error(
                "message dead-lettered",
                extra={"reason": reason, "offset": pending.message.offset},
                exc_info=True,
            )
            return dead_letter(pending.message, self.dead_letter_topic, self.stage, reason)
        return self._traced(pending, self.handler.output_for(pending.frame, pending.image, found))


class FillingSubscriber:
    """A subscriber whose poll waits up to ``max_wait_s`` after the first message for more."""

    def __init__(self, inner: Subscriber, fill_to: int, max_wait_s: float) -> None:
        self._inner = inner
        self._fill_to = fill_to
        self._max_wait_s = max_wait_s

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        batch = self._inner.poll(max_messages, timeout_s)
        target = min(max_messages, self._fill_to)
        if not batch or self._max_wait_s <= 0:
            return batch
        deadline = time.monotonic() + self._max_wait_s
        while len(batch) < target and (left := deadline - time.monotonic()) > 0:
            batch.extend(self._inner.poll(target - len(batch), left))
        return batch

    def mark_done(self, messages: Sequence[Message]) -> None:
        self._inner.mark_done(messages)

    def assigned(self) -> bool:
        return self._inner.assigned()

    def close(self) -> None:
        self._inner.close()


class FillingBus:
    """The service's bus with subscribers that wait briefly to fill a model batch."""

    def __init__(self, inner: Bus, fill_to: int, max_wait_s: float) -> None:
        self._inner = inner
        self._fill_to = fill_to
        self._max_wait_s = max_wait_s

    def publisher(self, client_id: str) -> Publisher:
        return self._inner.publisher(client_id)

    def subscriber(
        self,
        group_id: str,
        topics: Sequence[str],
        client_id: str,
        listener: RebalanceListener | None = None,
    ) -> Subscriber:
        inner = self._inner.subscriber(group_id, topics, client_id, listener)
        return FillingSubscriber(inner, self._fill_to, self._max_wait_s)

    def read_all(self, topic: str, timeout_s: float = 30.0) -> list[Message]:
        return self._inner.read_all(topic, timeout_s)

    def read_partitions(
        self, topic: str, partitions: Collection[int] | None, timeout_s: float = 30.0
    ) -> list[Message]:
        return self._inner.read_partitions(topic, partitions, timeout_s)

    def partition_count(self, topic: str) -> int | None:
        return self._inner.partition_count(topic)
