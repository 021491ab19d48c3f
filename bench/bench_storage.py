"""``make bench-storage``: archive ingest and search on SQLite, beside bare sqlite3.

One million events (20 cameras, several kinds, zones and classes, 1-3 track ids and a few
details each, spread over 7 days) are written through ``SqliteArchive.save_many`` in batches of
256 (the storage service's batch: one transaction each), into a fresh file. The baseline, in the
same run: the same rows into an identical table and indexes with the bare ``sqlite3`` module,
same pragmas, same batches, parameters prepared before timing, so it measures SQLite itself. The
ratio is what the adapter costs on top (conversion, upsert, JSON text).

Then search latency over the million rows: a mix of realistic forensic searches (one camera and
an hour; one camera, a day and a zone; every camera and an hour; one camera, a day and a kind)
through ``search_events``, and the same queries as bare SQL on the baseline file, p50 and p99.

    .venv/bin/python -m bench.bench_storage [--events 1000000] [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from vigie_core.types import Event, EventKind, FrameRef
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.ports import SearchQuery

BATCH = 256
CAMERAS = [f"cam-{n:02d}" for n in range(20)]
KINDS = [EventKind.ZONE_INTRUSION, EventKind.LOITERING, EventKind.LINE_CROSSING,
         EventKind.OCCUPANCY, EventKind.WRONG_WAY]  # fmt: skip
ZONES = ["gate", "hall", "platform-1", "platform-2", "car-park", ""]
CLASSES = ["person", "person", "person", "car", "bicycle", "truck"]
T0 = 1_790_000_000.0
SPAN_S = 7 * 86_400.0

EVENTS_DDL = """
CREATE TABLE events (
    event_id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, kind TEXT NOT NULL, zone TEXT NOT NULL,
    class_name TEXT NOT NULL, occurred_at REAL NOT NULL, frame_sequence INTEGER NOT NULL,
    frame_width INTEGER NOT NULL DEFAULT 0, frame_height INTEGER NOT NULL DEFAULT 0,
    track_ids TEXT NOT NULL DEFAULT '[]', details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_camera_time ON events (camera_id, occurred_at);
CREATE INDEX events_by_time ON events (occurred_at);
CREATE INDEX events_by_kind_time ON events (kind, occurred_at);
"""


def make_events(n: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        camera = rng.choice(CAMERAS)
        t = T0 + rng.random() * SPAN_S
        tracks = tuple(f"{camera}/{rng.randrange(10**6):x}" for _ in range(rng.randint(1, 3)))
        details = {"dwell_s": f"{rng.random() * 60:.3f}", "threshold_s": "30.000",
                   "speed": f"{rng.random():.4f}", "frame": str(i)}  # fmt: skip
        frame = FrameRef(camera, i, t, 1280, 720)
        kind = rng.choice(KINDS)
        events.append(Event(f"ev-{i:08d}", kind, frame, rng.choice(ZONES), rng.choice(CLASSES),
                            tracks, details))  # fmt: skip
    return events


def bare_rows(events: Sequence[Event]) -> list[tuple[object, ...]]:
    def text(value: object) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    return [
        (
            e.event_id,
            e.camera_id,
            str(e.kind),
            e.zone,
            e.class_name,
            e.occurred_at,
            e.frame.sequence,
            e.frame.width,
            e.frame.height,
            text(list(e.track_ids)),
            text(dict(e.details)),
        )
        for e in events
    ]


def bare_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def timed_batches(write: Callable[[int, int], None], total: int) -> float:
    start = time.perf_counter()
    for lo in range(0, total, BATCH):
        write(lo, min(total, lo + BATCH))
    return time.perf_counter() - start


def queries(n: int, seed: int = 11) -> list[SearchQuery]:
    rng = random.Random(seed)
    made = []
    for i in range(n):
        start = T0 + rng.random() * (SPAN_S - 86_400.0)
        shape = i % 4
        if shape == 0:
            made.append(SearchQuery(camera_id=rng.choice(CAMERAS), since=start, until=start + 3600))
        elif shape == 1:
            made.append(SearchQuery(camera_id=rng.choice(CAMERAS), since=start,
                                    until=start + 86_400, zone=rng.choice(ZONES[:-1])))  # fmt: skip
        elif shape == 2:
            made.append(SearchQuery(since=start, until=start + 3600))
        else:
            made.append(SearchQuery(camera_id=rng.choice(CAMERAS), since=start,
                                    until=start + 86_400,
                                    kinds=frozenset({rng.choice(KINDS)})))  # fmt: skip
    return made


def bare_search(conn: sqlite3.Connection, q: SearchQuery) -> list[tuple[object, ...]]:
    clauses, params = ["occurred_at >= ?", "occurred_at < ?"], [q.since, q.until]
    if q.cameras:
        clauses.append("camera_id = ?")
        params.append(next(iter(q.cameras)))
    if q.zones:
        clauses.append("zone = ?")
        params.append(next(iter(q.zones)))
    if q.kinds:
        clauses.append("kind = ?")
        params.append(str(next(iter(q.kinds))))
    sql = (
        f"SELECT * FROM events WHERE {' AND '.join(clauses)} ORDER BY occurred_at, event_id LIMIT ?"
    )
    return conn.execute(sql, [*params, q.limit]).fetchall()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latencies(run: Callable[[SearchQuery], object], qs: list[SearchQuery]) -> list[float]:
    for q in qs[:10]:  # warm-up: page cache and statement cache
        run(q)
    out = []
    for q in qs:
        start = time.perf_counter()
        run(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"building {args.events:,} events ...", flush=True)
    events = make_events(args.events)
    rows = bare_rows(events)
    qs = queries(args.queries)
    with tempfile.TemporaryDirectory(prefix="vigie-bench-storage-") as tmp:
        adapter_path, bare_path = Path(tmp) / "adapter.sqlite", Path(tmp) / "bare.sqlite"
        archive = SqliteArchive(adapter_path)
        adapter_s = timed_batches(lambda lo, hi: archive.save_many(events[lo:hi]), len(events))
        print(f"  adapter ingest done in {adapter_s:.1f} s", flush=True)
        conn = bare_connect(bare_path)
        conn.executescript(EVENTS_DDL)
        insert = (
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (event_id) DO NOTHING"
        )

        def bare_batch(lo: int, hi: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows[lo:hi])
            conn.execute("COMMIT")

        bare_s = timed_batches(bare_batch, len(rows))
        print(f"  bare ingest done in {bare_s:.1f} s", flush=True)
        adapter_ms = latencies(archive.search_events, qs)
        bare_ms = latencies(lambda q: bare_search(conn, q), qs)
        found = statistics.mean(len(archive.search_events(q)) for q in qs[:40])
        sizes = (adapter_path.stat().st_size, bare_path.stat().st_size)
        archive.close()
        conn.close()
    adapter_rate, bare_rate = len(events) / adapter_s, len(rows) / bare_s
    print()
    print(f"SQLite archive, {len(events):,} events, batches of {BATCH} (one transaction each)")
    print(f"{'':24}{'adapter':>14}{'bare sqlite3':>16}{'ratio':>10}")
    print(f"{'ingest rows/s':24}{adapter_rate:>14,.0f}{bare_rate:>16,.0f}"
          f"{adapter_rate / bare_rate:>10.2f}")  # fmt: skip
    for p in (50, 99):
        a, b = percentile(adapter_ms, p), percentile(bare_ms, p)
        print(f"{f'search p{p} ms':24}{a:>14.2f}{b:>16.2f}{a / b:>10.2f}")
    print(f"{'file size MB':24}{sizes[0] / 1e6:>14.0f}{sizes[1] / 1e6:>16.0f}")
    took = time.perf_counter() - began
    print(
        f"({len(qs)} searches: camera+hour, camera+day+zone, all cameras+hour,"
        f" camera+day+kind; {found:.0f} rows per search on average; run took {took:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
