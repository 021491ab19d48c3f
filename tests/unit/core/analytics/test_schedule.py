"""When a zone's rules are active: weekly windows in the camera's time zone, past midnight
included, and how the analyser honours them."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.schedule import ALWAYS, Schedule, TimeWindow, parse_clock
from vigie_core.types import EventKind

from .scenes import INSIDE, OUTSIDE, T0, Clip, analyser, offset, run, still, zone

UTC = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")
EVERY_DAY = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def at(*args: int, tz: ZoneInfo = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def window(days: str, start: str, end: str) -> TimeWindow:
    return TimeWindow(
        frozenset(days.split(",")), parse_clock(start, "start"), parse_clock(end, "end")
    )


def test_t0_is_a_tuesday_evening() -> None:
    assert datetime.fromtimestamp(T0, UTC) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert datetime.fromtimestamp(T0, UTC).weekday() == 1


# --- parse_clock ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("00:00", time(0, 0)), ("07:30", time(7, 30)), ("7:05", time(7, 5)), ("23:59", time(23, 59))],
)
def test_parse_clock(text: str, expected: time) -> None:
    assert parse_clock(text, "start") == expected


def test_24_00_is_the_end_of_the_day() -> None:
    assert parse_clock("24:00", "end") == time.max


@pytest.mark.parametrize(
    "text", ["24:01", "25:00", "12:60", "-1:00", "7", "ab:cd", "", "12:30:00", "12h30", None]
)
def test_parse_clock_refuses_what_is_not_a_clock(text: str) -> None:
    with pytest.raises(ValueError, match=r"window\.start"):
        parse_clock(text, "window.start")


# --- TimeWindow -----------------------------------------------------------------------------


def test_days_are_case_insensitive() -> None:
    assert window("Mon,TUE", "08:00", "09:00").days == frozenset({"mon", "tue"})


@pytest.mark.parametrize("days", [frozenset({"monday"}), frozenset(), frozenset("mon")])
def test_unknown_or_no_days_are_refused(days: frozenset[str]) -> None:
    with pytest.raises(ValueError, match="days must be among"):
        TimeWindow(days, time(8), time(9))


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="start != end"):
        window("mon", "08:00", "08:00")


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (datetime(2023, 11, 14, 8, 0), True),  # tue, the start is included
        (datetime(2023, 11, 14, 17, 59, 59), True),
        (datetime(2023, 11, 14, 18, 0), False),  # the end is not
        (datetime(2023, 11, 14, 7, 59), False),
        (datetime(2023, 11, 15, 10, 0), False),  # wed
    ],
)
def test_a_day_window(local: datetime, inside: bool) -> None:
    assert window("tue", "08:00", "18:00").contains(local) is inside


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (datetime(2023, 11, 17, 22, 0), True),  # fri evening
        (datetime(2023, 11, 17, 23, 59), True),
        (datetime(2023, 11, 18, 0, 0), True),  # sat night belongs to fri
        (datetime(2023, 11, 18, 5, 59), True),
        (datetime(2023, 11, 18, 6, 0), False),
        (datetime(2023, 11, 17, 3, 0), False),  # fri early morning belongs to thu
        (datetime(2023, 11, 18, 22, 30), False),  # sat evening
        (datetime(2023, 11, 17, 21, 59), False),
    ],
)
def test_a_window_past_midnight_belongs_to_the_day_it_starts(local: datetime, inside: bool) -> None:
    assert window("fri", "22:00", "06:00").contains(local) is inside


def test_a_window_to_24_00_covers_the_last_minute() -> None:
    evening = window("sun", "20:00", "24:00")
    assert evening.contains(datetime(2023, 11, 19, 23, 59, 59))
    assert not evening.contains(datetime(2023, 11, 20, 0, 0))  # mon


# --- Schedule -------------------------------------------------------------------------------


def test_no_window_is_always() -> None:
    assert ALWAYS.always
    assert ALWAYS.active_at(T0)
    assert not Schedule((window("mon", "08:00", "09:00"),)).always


@pytest.mark.parametrize(
    ("utc", "active"),
    [
        ((2024, 1, 10, 21, 30), True),  # 22:30 in Paris (UTC+1)
        ((2024, 1, 10, 20, 30), False),  # 21:30 in Paris
        ((2024, 7, 10, 20, 30), True),  # 22:30 in Paris (UTC+2, summer time)
        ((2024, 7, 10, 19, 30), False),  # 21:30 in Paris
        ((2024, 7, 11, 3, 59), True),  # 05:59 in Paris
        ((2024, 7, 11, 4, 0), False),  # 06:00 in Paris
    ],
)
def test_windows_are_in_the_camera_time_zone(utc: tuple[int, ...], active: bool) -> None:
    nights = Schedule((TimeWindow(EVERY_DAY, time(22), time(6)),), "Europe/Paris")
    assert nights.active_at(at(*utc)) is active


def test_daylight_saving_moves_nothing() -> None:
    # 2024-03-31 in Paris: 02:00 CET jumps to 03:00 CEST.
    early = Schedule((window("sun", "01:00", "04:00"),), "Europe/Paris")
    assert early.active_at(at(2024, 3, 31, 0, 30))  # 01:30 CET
    assert early.active_at(at(2024, 3, 31, 1, 30))  # 03:30 CEST
    assert not early.active_at(at(2024, 3, 31, 2, 0))  # 04:00 CEST
    gap = Schedule((window("sun", "02:00", "03:00"),), "Europe/Paris")
    assert not gap.active_at(at(2024, 3, 31, 0, 59, 59))  # 01:59:59 CET
    assert not gap.active_at(at(2024, 3, 31, 1, 0))  # 03:00 CEST


def test_any_window_makes_it_active() -> None:
    both = Schedule((window("mon", "08:00", "09:00"), window("tue", "22:00", "23:00")))
    assert both.active_at(T0)  # tue 22:13 UTC
    assert not both.active_at(T0 + 3600)


@pytest.mark.parametrize("tz", ["", "Mars/Olympus", "utc+1", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(tz: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Schedule((), tz)


# --- through the analyser -------------------------------------------------------------------


def loitering_in(schedule: Schedule, max_dwell_s: float = 60.0) -> SceneAnalyzer:
    return analyser(zone(loitering=LoiteringSpec(max_dwell_s), schedule=schedule))


def test_rules_are_silent_outside_their_window() -> None:
    # Watched on Tuesdays 08:00-18:00 UTC; T0 is Tuesday 22:13.
    daytime = Schedule((window("tue", "08:00", "18:00"),))
    assert run(loitering_in(daytime, 10.0), Clip().span(0, 300, still("p1"))) == []


def test_a_stay_begun_before_the_window_opens_raises_when_it_opens() -> None:
    # The window opens at 22:15:00 UTC, 100 s after T0; the person has been in since T0.
    evening = Schedule((window("tue", "22:15", "23:00"),))
    clip = Clip().span(0, 200, still("p1"))
    events = run(loitering_in(evening, 60.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(100.0, "100.000")]


def test_a_stay_begun_inside_the_window_raises_after_max_dwell() -> None:
    evening = Schedule((window("tue", "22:00", "23:00"),))
    clip = Clip().span(0, 10, still("p1", OUTSIDE)).span(10, 100, still("p1", INSIDE))
    assert [offset(e) for e in run(loitering_in(evening, 60.0), clip)] == [70.0]


def test_nothing_once_the_window_has_closed() -> None:
    # Closes at 22:14:00 UTC, 40 s after T0; the person stays for 5 minutes.
    closing = Schedule((window("tue", "22:00", "22:14"),))
    assert run(loitering_in(closing, 60.0), Clip().span(0, 300, still("p1"))) == []


def test_intrusion_at_night_in_paris_past_midnight() -> None:
    nights = Schedule((window("fri", "22:00", "06:00"),), "Europe/Paris")
    analyzer = SceneAnalyzer(analyser(zone("depot", intrusion=True, schedule=nights)).scene)
    clip = Clip()
    thursday_night = at(2023, 11, 17, 2, 0, tz=PARIS) - T0  # fri 02:00: thursday's night
    friday_night = at(2023, 11, 18, 2, 0, tz=PARIS) - T0  # sat 02:00: friday's night
    clip.span(thursday_night, thursday_night + 1, still("p1"))
    clip.span(friday_night, friday_night + 1, still("p2"))
    events = run(analyzer, clip)
    assert [(e.kind, e.zone, e.track_ids) for e in events] == [
        (EventKind.ZONE_INTRUSION, "depot", ("p2",))
    ]
    assert events[0].frame == clip.at(friday_night)
