"""Storage settings: where the embedded SQLite archive lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings


class StorageSettings(ServiceSettings):
    group_id: str = "vigie-storage"
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=9406))
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50053))
    database: Path = Path("var/vigie.sqlite")
    max_batch: int = Field(256, ge=1, le=10_000)
