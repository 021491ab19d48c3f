"""Sign-ins: their lifetime, idle timeout, cap, sign-out and CSRF token."""

from __future__ import annotations

from vigie_console.sessions import Identity, Sessions
from vigie_console.settings import SessionSettings

WHO = Identity("ana", "operator", frozenset({"watch", "decide"}))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sessions(clock: Clock, **settings: float) -> Sessions:
    return Sessions(SessionSettings(**settings), clock)  # type: ignore[arg-type]


def test_a_session_ends_after_its_idle_time_and_a_request_resets_it() -> None:
    clock = Clock()
    store = sessions(clock, idle_s=60, max_age_s=3600)
    session = store.open("tok", WHO)
    clock.now += 59
    assert store.get(session.session_id) is session
    clock.now += 59  # 118 s old, but seen 59 s ago
    assert store.get(session.session_id) is session
    clock.now += 60
    assert store.get(session.session_id) is None
    assert len(store) == 0  # forgotten, not kept


def test_a_session_ends_at_its_maximum_age_however_busy() -> None:
    clock = Clock()
    store = sessions(clock, idle_s=60, max_age_s=100)
    session = store.open("tok", WHO)
    for _ in range(5):
        clock.now += 30
        store.get(session.session_id)
    assert store.get(session.session_id) is None


def test_a_live_feed_does_not_keep_a_session_alive() -> None:
    clock = Clock()
    store = sessions(clock, idle_s=60, max_age_s=3600)
    session = store.open("tok", WHO)
    clock.now += 30
    assert store.alive(session)
    clock.now += 31
    assert not store.alive(session)


def test_signing_out_ends_the_session_and_the_cap_drops_the_least_recent() -> None:
    clock = Clock()
    store = sessions(clock, max_sessions=2)
    first, second = store.open("a", WHO), store.open("b", WHO)
    store.get(first.session_id)  # first is now the most recent
    third = store.open("c", WHO)
    assert store.get(second.session_id) is None
    assert store.get(first.session_id) is first and store.get(third.session_id) is third
    store.close(first.session_id)
    assert store.get(first.session_id) is None and not store.alive(first)


def test_ids_and_csrf_tokens_are_random_and_checked_exactly() -> None:
    store = sessions(Clock())
    a, b = store.open("a", WHO), store.open("b", WHO)
    assert a.session_id != b.session_id and a.csrf != b.csrf and len(a.csrf) >= 32
    assert a.csrf_ok(a.csrf)
    assert not a.csrf_ok(b.csrf) and not a.csrf_ok(None) and not a.csrf_ok("")
    assert a.may("decide") and not a.may("audit")
    assert store.get(None) is None and store.get("forged") is None
