"""The message-bus port: what a stage needs from Kafka, and nothing more.

Two adapters implement it: :mod:`vigie_runtime.kafka` (confluent-kafka, production and
integration tests) and :mod:`vigie_runtime.inmemory` (unit tests and the single-process demo).
Services never see either; they get a :class:`Bus` from the composition root.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)
    # When the producer created the record (ms since epoch): what latency is measured against.
    timestamp_ms: int = 0

    @property
    def camera_id(self) -> str | None:
        """Keys are camera ids on every Vigie topic."""
        return self.key.decode("utf-8", "replace") if self.key else None


@dataclass(frozen=True, slots=True)
class Output:
    """Something a handler wants published once its input is done."""

    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class DeliveryError(RuntimeError):
    """Some outputs were not acknowledged by the broker; the input must not be committed."""


class Publisher(Protocol):
    def publish(self, output: Output) -> None: ...

    def flush(self, timeout_s: float) -> None:
        """Wait until everything published so far is acknowledged; raise DeliveryError if not."""
        ...

    def close(self) -> None: ...


class Subscriber(Protocol):
    def poll(self, max_messages: int, timeout_s: float) -> list[Message]: ...

    def mark_done(self, messages: Sequence[Message]) -> None:
        """Record that these messages' outputs are delivered; their offsets may be committed."""
        ...

    def assigned(self) -> bool:
        """True once the group gave this member partitions (or there is nothing to share)."""
        ...

    def close(self) -> None:
        """Commit what was marked done and leave the group."""
        ...


Partitions = Sequence[tuple[str, int]]


class RebalanceListener(Protocol):
    """Told, in the subscriber's own thread and between batches, which partitions it gained and
    lost: before any message of a gained partition is returned, after the last batch of a lost
    one was marked done (and committed)."""

    def assigned(self, partitions: Partitions) -> None: ...

    def revoked(self, partitions: Partitions) -> None: ...


class Bus(Protocol):
    def publisher(self, client_id: str) -> Publisher: ...

    def subscriber(
        self,
        group_id: str,
        topics: Sequence[str],
        client_id: str,
        listener: RebalanceListener | None = None,
        rewind: Mapping[str, int] | None = None,
        from_end: bool = False,
        background: bool = False,
    ) -> Subscriber:
        """``rewind``: topic -> how many messages before the committed position each newly
        assigned partition of that topic starts at. For a stage whose in-memory window of
        recent input (frames kept for snapshots) is not state worth saving: after a crash or a
        rebalance it reads that window again instead of losing it.

        ``from_end``: a partition the group never committed starts at its end, not its start:
        for a feed of what happens from now on (a replica's live watch), whose history is
        someone else's concern.

        ``background``: the stage is off the path to the alert, so a bus that trades latency
        for cost (a longer wait on an empty fetch) may do so for it."""
        ...

    def read_all(self, topic: str, timeout_s: float = 30.0) -> list[Message]:
        """Every message on ``topic`` up to its current end, outside any group."""
        ...

    def read_partitions(
        self, topic: str, partitions: Collection[int] | None, timeout_s: float = 30.0
    ) -> list[Message]:
        """Every message on these partitions of ``topic`` (all when None) up to their current
        end, outside any group: how a replica reads back the state of the cameras it owns."""
        ...

    def partition_count(self, topic: str) -> int | None:
        """How many partitions ``topic`` has; None when it does not exist."""
        ...
