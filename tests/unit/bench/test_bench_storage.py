"""The storage benchmark measures both sides in one run and reports them side by side."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import bench_storage
from vigie_storage.adapters.sqlite_store import SqliteArchive


def test_a_small_run_prints_both_sides_and_their_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_storage.main(["--events", "3000", "--queries", "12"]) == 0
    out = capsys.readouterr().out
    ingest = re.search(r"ingest rows/s\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", out)
    assert ingest is not None
    adapter, bare, ratio = (float(g.replace(",", "")) for g in ingest.groups())
    assert adapter > 0 and bare > 0
    assert ratio == pytest.approx(adapter / bare, abs=0.01)
    assert re.search(r"search p50 ms\s+[\d.]+\s+[\d.]+", out)
    assert re.search(r"search p99 ms\s+[\d.]+\s+[\d.]+", out)
    assert "3,000 events" in out


def test_the_bare_baseline_finds_the_same_rows_as_the_adapter(tmp_path: Path) -> None:
    events = bench_storage.make_events(2000)
    with SqliteArchive(tmp_path / "adapter.sqlite") as archive:
        archive.save_many(events)
        conn = bench_storage.bare_connect(tmp_path / "bare.sqlite")
        conn.executescript(bench_storage.EVENTS_DDL)
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            bench_storage.bare_rows(events),
        )
        compared = 0
        for query in bench_storage.queries(24):
            adapter = [e.event_id for e in archive.search_events(query)]
            bare = [row[0] for row in bench_storage.bare_search(conn, query)]
            assert adapter == bare
            compared += len(adapter)
        conn.close()
    assert compared > 0
