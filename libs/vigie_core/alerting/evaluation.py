"""How often the alerts of each kind and zone were right, as the operators judged them.

Operators cannot grow with the number of cameras: a rule that is mostly dismissed costs them
more than it protects. Counting raised, confirmed and dismissed alerts per camera, kind and zone
gives each rule its precision (confirmed over decided), the figure to tune thresholds against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie_core.types import Alert, AlertStatus, EventKind, VerdictAction


@dataclass(slots=True)
class Tally:
    raised: int = 0
    confirmed: int = 0
    dismissed: int = 0

    @property
    def decided(self) -> int:
        return self.confirmed + self.dismissed

    @property
    def precision(self) -> float | None:
        """Confirmed over decided; None until somebody decided one."""
        return self.confirmed / self.decided if self.decided else None


@dataclass(slots=True)
class Evaluation:
    """Tallies of one camera, by (kind, zone)."""

    tallies: dict[tuple[EventKind, str], Tally] = field(default_factory=dict)

    def _tally(self, alert: Alert) -> Tally:
        return self.tallies.setdefault((alert.kind, alert.zone), Tally())

    def raised(self, alert: Alert) -> None:
        self._tally(alert).raised += 1

    def decided(self, alert: Alert, action: VerdictAction) -> None:
        if action is VerdictAction.CONFIRM:
            self._tally(alert).confirmed += 1
        elif action is VerdictAction.DISMISS:
            self._tally(alert).dismissed += 1

    def to_data(self) -> list[list[Any]]:
        return [
            [str(kind), zone, t.raised, t.confirmed, t.dismissed]
            for (kind, zone), t in sorted(self.tallies.items())
        ]

    @classmethod
    def from_data(cls, data: list[list[Any]]) -> Evaluation:
        return cls(
            {(EventKind(kind), zone): Tally(int(r), int(c), int(d)) for kind, zone, r, c, d in data}
        )


def precision_table(
    evaluations: Mapping[str, Evaluation],
) -> list[tuple[str, EventKind, str, Tally]]:
    """Rows (camera, kind, zone, tally), ordered, for reports and metrics."""
    return [
        (camera, kind, zone, tally)
        for camera, evaluation in sorted(evaluations.items())
        for (kind, zone), tally in sorted(evaluation.tallies.items())
    ]


def evaluation_of(alerts: Iterable[Alert]) -> dict[str, Evaluation]:
    """Tallies rebuilt from archived alerts (each alert's latest state), per camera: what
    ``vigie report`` prints for a time range."""
    evaluations: dict[str, Evaluation] = {}
    for alert in alerts:
        evaluation = evaluations.setdefault(alert.camera_id, Evaluation())
        evaluation.raised(alert)
        if alert.status is AlertStatus.CONFIRMED:
            evaluation.decided(alert, VerdictAction.CONFIRM)
        elif alert.status is AlertStatus.DISMISSED:
            evaluation.decided(alert, VerdictAction.DISMISS)
    return evaluations


def format_precision(evaluations: Mapping[str, Evaluation]) -> list[str]:
    """The table as text lines, one per camera, kind and zone."""
    rows = precision_table(evaluations)
    if not rows:
        return ["no alerts"]
    lines = [f"{'camera':<16} {'kind':<18} {'zone':<14} raised confirmed dismissed precision"]
    for camera, kind, zone, t in rows:
        precision = "-" if t.precision is None else f"{t.precision:.2f}"
        lines.append(
            f"{camera:<16} {kind!s:<18} {zone or '(frame)':<14} {t.raised:>6} {t.confirmed:>9}"
            f" {t.dismissed:>9} {precision:>9}"
        )
    return lines
