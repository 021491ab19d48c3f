"""Progress lines on long work: at most once a second rewritten in place on a terminal, a line
every five seconds otherwise, nothing when quiet."""

from __future__ import annotations

import io

import pytest

from vigie_cli.output import EXIT_CODES, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_rewritten_at_most_once_a_second() -> None:
    stream, clock = FakeTty(), Clock()
    progress = Progress(stream, clock=clock)
    assert progress.tty and progress.interval_s == 1.0
    assert not progress.update("0 frames")  # quick work shows nothing
    clock.now += 1
    assert progress.update("1 frame")
    clock.now += 0.5
    assert not progress.update("2 frames")  # too soon
    clock.now += 0.5
    assert progress.update("3 frames")
    progress.done("done: 3 frames")
    assert stream.getvalue() == (
        "\r1 frame\x1b[K" + "\r3 frames\x1b[K" + "\r\x1b[K" + "done: 3 frames\n"
    )


def test_in_a_pipe_a_full_line_every_five_seconds() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, clock=clock)
    assert not progress.tty and progress.interval_s == 5.0
    shown = []
    for step in range(21):  # 20 s, a look every second
        shown.append(progress.update(f"step {step}"))
        clock.now += 1
    assert stream.getvalue().splitlines() == ["step 5", "step 10", "step 15", "step 20"]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert shown.count(True) == 4


def test_text_is_only_computed_when_a_line_is_due() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, clock=clock, prefix="vigie x: ")
    clock.now += 5
    calls = []

    def text() -> str:
        calls.append(1)
        return "costly"

    progress.update(text)
    progress.update(text)
    assert len(calls) == 1
    assert stream.getvalue() == "vigie x: costly\n"
    assert progress.update("forced", force=True)


def test_quiet_prints_nothing() -> None:
    for stream in (io.StringIO(), FakeTty()):
        progress = Progress(stream, quiet=True)
        assert not progress.update("x", force=True)
        progress.clear()
        progress.done("finished")
        assert stream.getvalue() == ""


def test_clear_only_acts_on_a_terminal_line() -> None:
    pipe = io.StringIO()
    progress = Progress(pipe)
    progress.update("x", force=True)
    progress.clear()
    assert pipe.getvalue() == "x\n"


def test_the_documented_exit_codes() -> None:
    assert sorted(EXIT_CODES) == [0, 1, 2, 130]


def test_ctrl_c_in_any_command_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigie_runtime.auth as auth
    from vigie_cli.main import main

    def interrupted(*args: object) -> tuple[str, str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(auth, "new_token", interrupted)
    assert main(["desk-token", "--operator", "a", "--role", "auditor"]) == 130


def test_a_usage_error_exits_2() -> None:
    from vigie_cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["run", "--port-offset", "many"])
    assert exited.value.code == 2
