"""The stream application's offset bookkeeping across a commit the broker refuses.

A commit that crosses a rebalance is refused ("already rebalanced"); the rebalance has read the
group's position back from the broker and hands the messages past it over again. Those must be
committed once processed. faust, left alone, records the refused offsets as committed, ignores
the acknowledgements of the messages read again, and the partition stays behind for ever once
its input stops: the alerting group one message short after a replica's restart, which an
autoscaler and a drain wait on. No broker is contacted: the consumer's commit is replaced.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from faust.types import TP
from faust.types.tuples import Message

from vigie_runtime.settings import KafkaSettings
from vigie_runtime.streams import faust_app
from vigie_runtime.topics import EVENTS

PARTITION = TP(EVENTS, 3)


def _message(offset: int) -> Message:
    return Message(
        PARTITION.topic, PARTITION.partition, offset, 0.0, 0, None, None, b"cam", b"e", 0, 0,
        PARTITION,
    )  # fmt: skip


def _consumer(tmp_path: Path, position: int) -> Any:
    """The app's consumer, owning PARTITION at ``position`` (what a seek to committed sets)."""
    app = faust_app("commit-probe", KafkaSettings(bootstrap_servers="127.0.0.1:1"), str(tmp_path))
    app.finalize()
    consumer = app.consumer
    consumer.assignment = lambda: {PARTITION}
    app.topics.acks_enabled_for = lambda topic: topic == EVENTS  # an agent's topic

    async def flushed() -> None:
        return None

    app.producer.flush = flushed
    consumer._committed_offset[PARTITION] = position
    return consumer


def _process(consumer: Any, offsets: range) -> None:
    for offset in offsets:
        consumer.ack(_message(offset))


def test_messages_read_again_after_a_commit_refused_by_a_rebalance_are_committed(
    tmp_path: Path,
) -> None:
    consumer = _consumer(tmp_path, position=5)
    sent: list[dict[TP, int]] = []

    async def refused_by_a_rebalance(offsets: dict[TP, int]) -> bool:
        sent.append(dict(offsets))
        consumer._committed_offset[PARTITION] = 5  # the rebalance read the broker's position back
        return False

    async def accepted(offsets: dict[TP, int]) -> bool:
        sent.append(dict(offsets))
        return True

    async def scenario() -> None:
        _process(consumer, range(5, 8))
        consumer._commit = refused_by_a_rebalance
        assert not await consumer._commit_tps([PARTITION], start_new_transaction=False)
        _process(consumer, range(5, 8))  # handed back by the rebalance, processed again
        consumer._commit = accepted
        assert await consumer._commit_tps([PARTITION], start_new_transaction=False)

    asyncio.run(scenario())
    assert sent == [{PARTITION: 8}, {PARTITION: 8}], "the messages read again must be committed"


def test_an_accepted_commit_still_moves_the_position_on(tmp_path: Path) -> None:
    consumer = _consumer(tmp_path, position=0)
    sent: list[dict[TP, int]] = []

    async def accepted(offsets: dict[TP, int]) -> bool:
        sent.append(dict(offsets))
        return True

    async def scenario() -> None:
        consumer._commit = accepted
        _process(consumer, range(0, 3))
        assert await consumer._commit_tps([PARTITION], start_new_transaction=False)
        _process(consumer, range(0, 3))  # an old duplicate is not committed again
        assert not await consumer._commit_tps([PARTITION], start_new_transaction=False)
        _process(consumer, range(3, 4))
        assert await consumer._commit_tps([PARTITION], start_new_transaction=False)

    asyncio.run(scenario())
    assert sent == [{PARTITION: 3}, {PARTITION: 4}]
    assert consumer._committed_offset[PARTITION] == 4
