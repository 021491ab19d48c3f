"""When a zone is watched: weekly time windows in the camera's own time zone.

A zone that is forbidden only at night ("the depot after 22:00") is the common case; an
intrusion at 14:00 is somebody at work. Windows may run past midnight (22:00-06:00 belongs to
the day it starts on). Frame times are epoch seconds; the camera's IANA time zone turns them into
local wall-clock time, so daylight-saving changes move nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_clock(text: str, what: str) -> time:
    """``"HH:MM"`` (24 h) to a time; ``"24:00"`` is the end of the day."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except (ValueError, AttributeError):
        raise ValueError(f"{what} must be HH:MM, got {text!r}") from None
    if (hours, minutes) == (24, 0):
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{what} must be between 00:00 and 24:00, got {text!r}")
    return time(hours, minutes)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """``start`` to ``end`` on each of ``days``; when ``end <= start`` it ends the next day."""

    days: frozenset[str]
    start: time
    end: time

    def __post_init__(self) -> None:
        days = frozenset(d.lower() for d in self.days)
        unknown = sorted(days - set(DAYS))
        if unknown or not days:
            raise ValueError(f"days must be among {', '.join(DAYS)}; got {sorted(self.days)}")
        object.__setattr__(self, "days", days)
        if self.start == self.end:
            raise ValueError("a time window needs start != end (use 00:00-24:00 for all day)")

    def contains(self, local: datetime) -> bool:
        day = DAYS[local.weekday()]
        yesterday = DAYS[(local.weekday() - 1) % 7]
        clock = local.time()
        if self.start < self.end:
            return day in self.days and self.start <= clock < self.end
        # Past midnight: the evening part belongs to today, the morning part to yesterday.
        return (day in self.days and clock >= self.start) or (
            yesterday in self.days and clock < self.end
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """Active when any window contains the local time; no window at all means always."""

    windows: tuple[TimeWindow, ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r} (an IANA name)") from None

    @property
    def always(self) -> bool:
        return not self.windows

    def active_at(self, t: float) -> bool:
        if not self.windows:
            return True
        local = datetime.fromtimestamp(t, ZoneInfo(self.timezone))
        return any(window.contains(local) for window in self.windows)


ALWAYS = Schedule()
