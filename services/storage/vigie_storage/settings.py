"""Storage settings: where the archive and the snapshots live, who may search, how long each
kind of data is kept, and what of each camera is kept besides the archive (snapshots, clips,
stills)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings, StrictModel
from vigie_runtime.topology import STORAGE
from vigie_storage.adapters.cassandra.store import CassandraSettings
from vigie_storage.clips import ClipSettings, StillSettings
from vigie_storage.journal_keys import JournalSettings
from vigie_storage.ports import DataKind
from vigie_storage.snapshots import SnapshotSettings

DAY_S = 86_400.0


class RetentionSettings(StrictModel):
    """Days each kind of data is kept; an alert the alert policy gave its own retention keeps
    that instead. Enforced by a job every ``interval_s`` (SQLite) or by TTL (Cassandra)."""

    events_days: float = Field(30.0, gt=0)
    alerts_days: float = Field(90.0, gt=0)
    tracks_days: float = Field(7.0, gt=0)
    snapshots_days: float = Field(30.0, gt=0)
    audit_days: float = Field(400.0, gt=0)
    interval_s: float = Field(3600.0, gt=0)

    def keep_s(self, kind: DataKind) -> float:
        return float(getattr(self, f"{kind.value}_days")) * DAY_S

    def keep_days(self) -> dict[DataKind, float]:
        return {kind: float(getattr(self, f"{kind.value}_days")) for kind in DataKind}


class StorageSettings(ServiceSettings):
    # The archive stage's group; the snapshot stage's is this followed by "-snapshots".
    group_id: str = STORAGE.group_id
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=STORAGE.http_port))
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=STORAGE.grpc()))
    # sqlite: the embedded file below; cassandra: the cluster under `cassandra` (schema applied
    # beforehand from vigie_storage/adapters/cassandra/schema.cql).
    backend: Literal["sqlite", "cassandra"] = "sqlite"
    database: Path = Path("var/vigie.sqlite")
    cassandra: CassandraSettings = Field(default_factory=CassandraSettings)
    snapshots_dir: Path = Path("var/snapshots")
    # Bearer tokens of who may search the archive (digests only; see vigie_runtime/auth.py).
    # None: every search is refused.
    tokens_file: Path | None = None
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    # The audit journal's keys (a secret) and its checkpoints.
    journal: JournalSettings = Field(default_factory=JournalSettings)
    # Snapshots of alerts (a second stage reading frames, tracks and alerts).
    snapshots: SnapshotSettings = Field(default_factory=SnapshotSettings)
    # A few seconds of redacted frames around each alert (needs snapshots: kept on their row).
    clips: ClipSettings = Field(default_factory=ClipSettings)
    # The newest redacted still of each camera, for the console to draw zones on.
    stills: StillSettings = Field(default_factory=StillSettings)
    max_batch: int = Field(256, ge=1, le=10_000)

    @model_validator(mode="after")
    def _cluster_named(self) -> StorageSettings:
        if self.backend == "cassandra" and not self.cassandra.contact_points:
            raise ValueError("backend cassandra needs cassandra.contact_points")
        return self

    @model_validator(mode="after")
    def _media_fit(self) -> StorageSettings:
        """Clips are cut from the snapshot buffer when their window has passed, so the buffer
        must hold the whole window; a clip is one gRPC answer, so it must fit one; a still is
        renewed every ``every_s`` (``wait_s`` late at worst), so it must not be called stale
        before the next one is due."""
        clips, stills = self.clips, self.stills
        if clips.enabled and clips.before_s + clips.after_s > self.snapshots.buffer_s:
            raise ValueError(
                f"clips.before_s + clips.after_s ({clips.before_s + clips.after_s} s) must fit"
                f" in snapshots.buffer_s ({self.snapshots.buffer_s} s)"
            )
        if clips.enabled and clips.max_mb >= self.grpc.max_message_mb:
            raise ValueError(
                f"clips.max_mb ({clips.max_mb}) must be under grpc.max_message_mb"
                f" ({self.grpc.max_message_mb}): a clip is one answer"
            )
        if stills.enabled and stills.max_age_s <= stills.every_s + stills.wait_s:
            raise ValueError(
                f"stills.max_age_s ({stills.max_age_s}) must exceed stills.every_s +"
                f" stills.wait_s ({stills.every_s + stills.wait_s})"
            )
        return self
