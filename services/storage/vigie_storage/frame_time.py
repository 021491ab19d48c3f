"""When two capture times name the same frame.

A frame is found again by its camera's sequence and its capture time: the sequence alone
starts again when capture restarts. The time travels as a float through protobuf and JSON and
comes back within a microsecond, so the match allows a little more than that; frames of a real
camera are tens of milliseconds apart, so it cannot confuse two of them.
"""

from __future__ import annotations

TIME_MATCH_S = 0.0015


def same_capture(a: float, b: float) -> bool:
    return abs(a - b) < TIME_MATCH_S
