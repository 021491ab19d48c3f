"""Ports handed to test services and replicas: distinct, and out of the kernel's way."""

from __future__ import annotations

import socket

import pytest

from vigie_runtime import broker
from vigie_runtime.broker import free_port


def test_never_the_same_port_twice_and_none_from_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < broker._ephemeral_low() for port in ports)


def test_a_port_someone_listens_on_or_already_handed_out_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = free_port()
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        busy = listening.getsockname()[1]
        spare = free_port()
        broker._HANDED_OUT.discard(spare)  # as if never handed out, so it can be drawn
        draws = iter([given, busy, spare])
        monkeypatch.setattr(broker.random, "randint", lambda low, high: next(draws))
        assert free_port() == spare
