"""Running a real clip through the six services in one process, for the scenario tests.

The services are the real ones (real model, real tracker, the analytics service with its scene
file) over the in-memory bus, as ``vigie demo`` runs them; what the broker adds is covered by
``test_pipeline.py``. Each clip runs once per test session and its events are shared.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vigie_cli.demo import build_services, run_in_process
from vigie_core.types import Event, EventKind
from vigie_runtime import codec
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.topics import DEAD_LETTERS, EVENTS

CLIPS = Path(__file__).parent / "clips"


@dataclass(frozen=True)
class ClipRun:
    events: tuple[Event, ...]
    dead_letters: int

    def of(self, kind: EventKind, zone: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind is kind and (zone is None or e.zone == zone)]


def run_clip(
    clip: Path,
    camera_id: str,
    scenes: str,
    detection: str | None = None,
    database: Path | None = None,
    analytics: str | None = None,
    alerting: str | None = None,
) -> ClipRun:
    """Every event the pipeline raises on ``clip`` with ``clips/<scenes>`` as its scene file and,
    when given, ``clips/<detection>``, ``clips/<analytics>`` and ``clips/<alerting>`` as those
    services' settings; the
    archive is kept at ``database`` when given."""
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp) / "config"
        config_dir.mkdir()
        if detection is not None:
            shutil.copy(CLIPS / detection, config_dir / "detection.yaml")
        if analytics is not None:
            shutil.copy(CLIPS / analytics, config_dir / "analytics.yaml")
        if alerting is not None:
            shutil.copy(CLIPS / alerting, config_dir / "alerting.yaml")
        bus = InMemoryBus()
        services = build_services(
            bus,
            str(clip),
            camera_id,
            CLIPS / scenes,
            database or Path(tmp) / "vigie.sqlite",
            config_dir=config_dir,
        )
        run_in_process(services, bus, timeout_s=1200)
    events = tuple(codec.decode_event(m.value) for m in bus.messages(EVENTS))
    return ClipRun(events, len(bus.messages(DEAD_LETTERS)))
