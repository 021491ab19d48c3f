"""``vigie report``: occupancy curves and a heat map of where people stood, to one PNG.

Reads the archive (the embedded SQLite file the storage service writes) for one camera and a
time range. Only aggregates are drawn: counts per zone and a density grid; no image, no track.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from vigie_cli.output import (
    OK,
    USAGE,
    Progress,
    add_json_argument,
    add_quiet_argument,
    print_json,
)
from vigie_core.alerting.evaluation import evaluation_of, format_precision, precision_table
from vigie_core.reporting import OccupancyPoint, every_row, occupancy_series, position_grid

log = logging.getLogger(__name__)

Row = TypeVar("Row")


def parse_time(text: str) -> float:
    """Epoch seconds, or an ISO 8601 date-time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither epoch seconds nor an ISO 8601 date-time"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="occupancy curves and a heat map to PNG; alert precision printed"
    )
    p.add_argument("--database", type=Path, default=Path("var/vigie.sqlite"))
    p.add_argument("--camera", required=True)
    p.add_argument("--since", type=parse_time, default=None)
    p.add_argument("--until", type=parse_time, default=None)
    p.add_argument("--out", type=Path, default=Path("vigie-report.png"))
    add_json_argument(p)
    add_quiet_argument(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from vigie_storage.adapters.sqlite_store import SqliteArchive
    from vigie_storage.ports import MAX_LIMIT, SearchQuery

    as_json = getattr(args, "json", False)
    progress = Progress(quiet=getattr(args, "quiet", False), prefix="vigie report: ")
    if not args.database.exists():
        print(f"vigie report: no archive at {args.database}", file=sys.stderr)
        if as_json:
            print_json({"ok": False, "error": f"no archive at {args.database}"})
        return USAGE
    query = SearchQuery(camera_id=args.camera, since=args.since, until=args.until, limit=MAX_LIMIT)
    counts = {"events": 0, "tracks": 0, "alerts": 0}

    def counted(kind: str, rows: Iterator[Row]) -> list[Row]:
        kept: list[Row] = []
        for row in rows:
            kept.append(row)
            counts[kind] += 1
            if progress.due():
                progress.update(
                    "reading the archive: " + ", ".join(f"{n} {k}" for k, n in counts.items())
                )
        return kept

    with SqliteArchive(args.database) as archive:
        events = counted("events", every_row(archive.search_events, query, _occurred_at))
        tracks = counted("tracks", every_row(archive.search_tracks, query, _first_seen))
        alerts = counted("alerts", every_row(archive.search_alerts, query, _first_seen))
    progress.update(f"drawing {args.out} ...")
    series = occupancy_series(events)
    grid = position_grid(tracks, since=args.since, until=args.until)
    sizes = {(e.frame.width, e.frame.height) for e in events if e.frame.width and e.frame.height}
    aspect = (max(sizes)[1] / max(sizes)[0]) if sizes else 9 / 16
    render(args.out, args.camera, series, grid, aspect)
    progress.done()
    log.info(
        "report written",
        extra={"camera": args.camera, "since": args.since, "until": args.until},
    )
    evaluations = evaluation_of(alerts)
    if as_json:
        print_json(report_data(args, series, tracks, events, evaluations))
        return OK
    zones = ", ".join(f"{z} ({len(p)} periods)" for z, p in series.items()) or "no occupancy"
    print(f"{args.out}: {zones}; heat map from {len(tracks)} tracks")
    print("alert precision (confirmed over decided, from the operators' verdicts):")
    for line in format_precision(evaluations):
        print(f"  {line}")
    return OK


def _occurred_at(row: Any) -> float:
    return float(row.occurred_at)


def _first_seen(row: Any) -> float:
    return float(row.first_seen)


def report_data(
    args: argparse.Namespace,
    series: dict[str, list[OccupancyPoint]],
    tracks: list[Any],
    events: list[Any],
    evaluations: Any,
) -> dict[str, Any]:
    """What ``vigie report --json`` prints (stable keys)."""
    return {
        "ok": True,
        "error": None,
        "out": str(args.out),
        "camera": args.camera,
        "since": args.since,
        "until": args.until,
        "events": len(events),
        "tracks": len(tracks),
        "zones": {
            zone: {
                "periods": len(points),
                "peak": max((p.peak for p in points), default=0),
                "came_in": sum(p.came_in for p in points),
                "went_out": sum(p.went_out for p in points),
            }
            for zone, points in sorted(series.items())
        },
        "precision": [
            {
                "camera": camera,
                "kind": str(getattr(kind, "value", kind)),
                "zone": zone,
                "raised": tally.raised,
                "confirmed": tally.confirmed,
                "dismissed": tally.dismissed,
                "precision": tally.precision,
            }
            for camera, kind, zone, tally in precision_table(evaluations)
        ],
    }


def render(
    out: Path,
    camera: str,
    series: dict[str, list[OccupancyPoint]],
    grid: list[list[int]],
    aspect: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, heat) = plt.subplots(1, 2, figsize=(14, 5), width_ratios=(3, 2))
    for zone, points in sorted(series.items()):
        starts = [datetime.fromtimestamp(p.start, UTC) for p in points]
        ends = [datetime.fromtimestamp(p.start + p.period_s, UTC) for p in points]
        # Peak held over its period (a step from each start), footfall in as a thin bar.
        line = curves.step(
            [*starts, ends[-1]],
            [*(p.peak for p in points), points[-1].peak],
            where="post",
            label=f"{zone}: peak",
        )
        colour = line[0].get_color()
        curves.plot(ends, [p.present for p in points], "o", color=colour, label=f"{zone}: present")
        curves.vlines(starts, 0, [p.came_in for p in points], colors=colour, alpha=0.35, lw=6)
    curves.set_title(f"{camera}: people per zone (step: peak, dot: present, bar: came in)")
    curves.set_xlabel("time (UTC)")
    curves.set_ylabel("people")
    if series:
        curves.legend()
    curves.grid(alpha=0.3)
    image = heat.imshow(grid, extent=(0, 1, 1, 0), aspect=aspect, cmap="inferno")
    heat.set_title("where people stood (time spent)")
    heat.set_xlabel("x (frame width)")
    heat.set_ylabel("y (frame height)")
    fig.colorbar(image, ax=heat, shrink=0.8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
