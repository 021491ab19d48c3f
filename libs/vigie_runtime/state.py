"""Per-camera state of a stage: one port, whatever stores it and whatever drives the stage.

A per-camera stage (tracking, analytics, alerting) owns the cameras of the partitions it is
assigned. What it remembers about a camera (tracks, zone stays, open alerts) must follow the
camera when its partition moves to another replica, and survive a crash, without ever being
applied twice or lost. The rules, written once here:

- **saved with the batch whose offsets it follows**: after a batch is handled, the state of
  every camera the batch touched is written in the same delivery as the batch's outputs, before
  the batch's offsets may be committed. A crash after the delivery and before the commit replays
  inputs the state already holds: stages skip inputs at or before a camera's saved time.
- **restored on assignment from the assigned partitions only**: a camera's state sits on the
  partition number of its input (same key, same hash, same partition count), so a replica reads
  back the cameras it now owns and no other.
- **dropped on revoke**: a camera whose partition went elsewhere is forgotten at once, so a stale
  copy can never be saved over the new owner's newer one.

Two stores implement :class:`StateStore`: :class:`TopicStateStore`, a compacted topic written by
the stage runner's own publisher, and the faust table of :mod:`vigie_runtime.streams` for the
stream application. A stage declares *what* its state is through :class:`CameraState`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from vigie_runtime.bus import Bus, Output

log = logging.getLogger(__name__)

Document = Mapping[str, Any]

STATE_RESTORED = Counter(
    "vigie_state_restored_total", "Camera states read back on partition assignment", ["stage"]
)
STATE_DISCARDED = Counter(
    "vigie_state_discarded_total",
    "Stored camera states refused as unusable (the camera starts afresh)",
    ["stage"],
)
STATE_SAVED = Counter("vigie_state_saved_total", "Camera states written", ["stage"])
STATE_CAMERAS = Gauge("vigie_state_cameras", "Cameras whose state this replica holds", ["stage"])


class CameraState(Protocol):
    """What a stateful stage declares: how one camera's state is saved, loaded and dropped.

    ``load`` raises ``ValueError`` for a document it cannot use (corrupt, another version, an
    impossible time): the keeper says so loudly and the camera starts afresh.
    """

    def save(self, camera: str) -> Document | None: ...

    def load(self, camera: str, document: Document) -> None: ...

    def drop(self, camera: str) -> None: ...


class StateStore(Protocol):
    """Where camera documents live."""

    def read(self, partitions: Collection[int]) -> dict[str, tuple[int, Document]]:
        """The newest document of every camera stored on ``partitions``, with its partition."""
        ...

    def write(self, camera: str, document: Document) -> list[Output]:
        """Store ``document``; returns what must be delivered with the batch for it to count."""
        ...


class StateUnavailable(RuntimeError):
    """The store could not be read back: the stage must not run on an empty state."""


class TopicStateStore:
    """A compacted topic, keyed by camera, JSON documents; written with the batch's outputs."""

    def __init__(self, bus: Bus, topic: str, timeout_s: float = 60.0) -> None:
        self.bus = bus
        self.topic = topic
        self.timeout_s = timeout_s

    def read(self, partitions: Collection[int]) -> dict[str, tuple[int, Document]]:
        messages = self.bus.read_partitions(self.topic, partitions, self.timeout_s)
        newest: dict[str, tuple[int, Document]] = {}
        for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
            camera = message.camera_id
            if not camera:
                continue
            if not message.value:  # a tombstone: the camera's state was deleted
                newest.pop(camera, None)
                continue
            try:
                document = json.loads(message.value)
            except ValueError:
                log.warning(
                    "unreadable camera state skipped",
                    extra={"topic": self.topic, "offset": message.offset, "camera": camera},
                )
                continue
            if isinstance(document, dict):
                newest[camera] = (message.partition, document)
        return newest

    def write(self, camera: str, document: Document) -> list[Output]:
        value = json.dumps(document, separators=(",", ":")).encode()
        return [Output(self.topic, camera, value)]


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A stage's declaration: its state, where it is stored, and the input topic it follows
    (the camera-keyed topic whose partitions decide which cameras a replica owns)."""

    state: CameraState
    topic: str
    follows: str


class StateKeeper:
    """Drives one stage's :class:`CameraState` over a :class:`StateStore` for its runner."""

    def __init__(
        self,
        stage: str,
        state: CameraState,
        store: StateStore,
        follows: str,
        attempts: int = 5,
        retry_s: float = 2.0,
    ) -> None:
        self.stage = stage
        self.state = state
        self.store = store
        self.follows = follows
        self.attempts = attempts
        self.retry_s = retry_s
        self._partition_of: dict[str, int] = {}
        self._touched: set[str] = set()

    # -- the runner's calls -----------------------------------------------------------------------

    def assigned(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Read back the cameras of the newly assigned partitions of the followed topic."""
        mine = {p for topic, p in partitions if topic == self.follows}
        if not mine:
            return
        documents = self._read(mine)
        for camera, (partition, document) in sorted(documents.items()):
            try:
                self.state.load(camera, document)
            except ValueError as exc:
                STATE_DISCARDED.labels(self.stage).inc()
                log.error(  # what the camera had measured is lost: never a quiet event
                    "stored camera state unusable; the camera starts afresh",
                    extra={"camera": camera, "stage": self.stage, "error": str(exc)},
                )
                continue
            self._partition_of[camera] = partition
            STATE_RESTORED.labels(self.stage).inc()
        STATE_CAMERAS.labels(self.stage).set(len(self._partition_of))
        log.info(
            "camera states restored",
            extra={"stage": self.stage, "partitions": sorted(mine), "cameras": len(documents)},
        )

    def revoked(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Forget the cameras of partitions that went elsewhere (their state is already saved:
        a revoke happens between batches, after the last batch was delivered)."""
        gone = {p for topic, p in partitions if topic == self.follows}
        for camera in [c for c, p in self._partition_of.items() if p in gone]:
            self.state.drop(camera)
            del self._partition_of[camera]
            self._touched.discard(camera)
        STATE_CAMERAS.labels(self.stage).set(len(self._partition_of))

    def touched(self, camera: str, partition: int) -> None:
        """``camera`` (seen on ``partition`` of the followed topic) changed in this batch."""
        self._partition_of[camera] = partition
        self._touched.add(camera)

    def touch_owned(self, camera: str) -> bool:
        """Mark a change made outside a message (a timer, a desk call); False if not owned."""
        if camera not in self._partition_of:
            return False
        self._touched.add(camera)
        return True

    def owns(self, camera: str) -> bool:
        return camera in self._partition_of

    def cameras(self) -> list[str]:
        return sorted(self._partition_of)

    def outputs(self) -> list[Output]:
        """The documents of every camera changed since the last call, to deliver now."""
        take_changed = getattr(self.state, "take_changed", None)
        if take_changed is not None:  # a state that knows what changed outside messages
            self._touched.update(c for c in take_changed() if c in self._partition_of)
        outputs: list[Output] = []
        for camera in sorted(self._touched):
            document = self.state.save(camera)
            if document is None:
                continue
            outputs.extend(self.store.write(camera, document))
            STATE_SAVED.labels(self.stage).inc()
        self._touched.clear()
        STATE_CAMERAS.labels(self.stage).set(len(self._partition_of))
        return outputs

    def _read(self, partitions: set[int]) -> dict[str, tuple[int, Document]]:
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self.store.read(partitions)
            except (TimeoutError, ConnectionError, OSError) as exc:
                last = exc
                log.warning(
                    "reading camera states failed; retrying",
                    extra={"stage": self.stage, "attempt": attempt, "error": str(exc)},
                )
                time.sleep(self.retry_s)
        raise StateUnavailable(
            f"{self.stage}: the state of partitions {sorted(partitions)} could not be read"
            f" after {self.attempts} attempts ({last})"
        )


class DocumentState(MutableMapping[str, Any]):
    """A :class:`CameraState` whose state *is* one JSON document per camera (the alert book).

    The stage reads and writes it as a mapping; every write marks the camera changed, so the
    keeper saves exactly what changed, whether a message, a timer or a desk call changed it.
    """

    def __init__(self) -> None:
        self._documents: dict[str, Any] = {}
        self._changed: set[str] = set()

    def __getitem__(self, camera: str) -> Any:
        return self._documents[camera]

    def __setitem__(self, camera: str, document: Any) -> None:
        self._documents[camera] = document
        self._changed.add(camera)

    def __delitem__(self, camera: str) -> None:
        del self._documents[camera]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._documents))

    def __len__(self) -> int:
        return len(self._documents)

    def take_changed(self) -> set[str]:
        changed, self._changed = self._changed, set()
        return changed

    # -- CameraState ------------------------------------------------------------------------------

    def save(self, camera: str) -> Document | None:
        document = self._documents.get(camera)
        return document if isinstance(document, Mapping) else None

    def load(self, camera: str, document: Document) -> None:
        self._documents[camera] = dict(document)

    def drop(self, camera: str) -> None:
        self._documents.pop(camera, None)
        self._changed.discard(camera)
