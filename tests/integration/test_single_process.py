"""`vigie demo`: the six services in one process over the in-memory bus, real model and clip.

The first 300 frames of the sample clip hold one visit to the table (frames ~70-185, labelled
by eye): exactly one intrusion alert, stored in the archive, and the visitor's track summary with
the time spent at the table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CLIP
from vigie_cli.demo import build_services, run_in_process
from vigie_cli.samples import SAMPLE_CAMERA, example_scenes
from vigie_core.types import EventKind
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.topics import DEAD_LETTERS, TRACKS
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.ports import SearchQuery

pytestmark = pytest.mark.integration


def test_demo_raises_the_first_visit_in_one_process(tmp_path: Path) -> None:
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    bus = InMemoryBus()
    database = tmp_path / "vigie.sqlite"
    services = build_services(
        bus, str(SAMPLE_CLIP), SAMPLE_CAMERA, example_scenes(), database, max_frames=300
    )
    alerts = run_in_process(services, bus, timeout_s=600)

    assert services["capture"].published == {SAMPLE_CAMERA: 300}
    assert len(bus.messages(TRACKS)) == 300
    assert bus.messages(DEAD_LETTERS) == []
    assert len(alerts) == 1
    (alert,) = alerts
    assert (alert.kind, alert.zone, alert.class_name) == (
        EventKind.ZONE_INTRUSION,
        "table",
        "person",
    )
    assert alert.frame is not None and 70 <= alert.frame.sequence <= 185
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT alert_id FROM alerts").fetchall() == [(alert.alert_id,)]
    with SqliteArchive(database) as archive:
        at_table = archive.search_tracks(SearchQuery(zone="table", min_seconds_in_zone=5.0))
    # The visitor walks in, stands at the table for most of the ~11.5 s visit, and walks out:
    # well over the 2 s dwell that raised the alert, and no longer than the visit itself.
    (visitor,) = [t for t in at_table if t.track_id in alert.track_ids]
    assert visitor.class_name == "person" and visitor.colour == ""
    assert 5.0 <= visitor.seconds_in_zone["table"] <= 13.0
    assert 0.0 < visitor.mean_speed < visitor.max_speed
