"""Wiring of the storage service: SQLite archive, consumer stage and Archive gRPC server."""

from __future__ import annotations

import threading

from vigie.v1 import services_pb2_grpc
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.grpc_api import ArchiveServicer
from vigie_storage.handler import TOPICS, StorageHandler
from vigie_storage.settings import StorageSettings


class StorageService:
    def __init__(self, settings: StorageSettings, bus: Bus, health: Health) -> None:
        self.store = SqliteArchive(settings.database)
        self.handler = StorageHandler(self.store)
        stage = Stage(
            name="storage",
            topics=TOPICS,
            group_id=settings.group_id,
            decode=self.handler.decode,
            handle=self.handler.handle,
            before_commit=self.handler.flush,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        self.grpc = GrpcServer(
            settings.grpc,
            [
                Registration(
                    services_pb2_grpc.add_ArchiveServicer_to_server,
                    ArchiveServicer(self.store),  # thread-safe: one connection, locked
                    "vigie.v1.Archive",
                )
            ],
        )

    def run(self, stop: threading.Event) -> None:
        with self.grpc:
            self.runner.run(stop)
            self.store.close()


def build(settings: StorageSettings, bus: Bus, health: Health) -> StorageService:
    return StorageService(settings, bus, health)
