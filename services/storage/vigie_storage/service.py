"""Wiring of the storage service: the archive, the consumer stage, retention, and the Archive
gRPC server."""

from __future__ import annotations

import threading
import time

from vigie.v1 import services_pb2_grpc
from vigie_runtime.auth import Authenticator
from vigie_runtime.bus import Bus, Output
from vigie_runtime.faces import FaceFinder
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topology import STORAGE
from vigie_storage.adapters.cassandra.store import CassandraArchive
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.grpc_api import ArchiveServicer
from vigie_storage.handler import StorageHandler
from vigie_storage.ports import ArchiveStore
from vigie_storage.retention import RetentionJob
from vigie_storage.settings import StorageSettings
from vigie_storage.snapshots import SnapshotHandler


class StorageService:
    def __init__(self, settings: StorageSettings, bus: Bus, health: Health) -> None:
        self.store: ArchiveStore = (
            CassandraArchive.connect(settings.cassandra, settings.retention.keep_days())
            if settings.backend == "cassandra"
            else SqliteArchive(settings.database)
        )
        self.blobs = FileBlobStore(settings.snapshots_dir)
        self.handler = StorageHandler(self.store)
        self.retention = RetentionJob(self.store, self.blobs, settings.retention, time.time)

        def between_batches() -> None:
            self.handler.flush()
            self.retention.maybe_run()

        def when_idle() -> list[Output]:
            self.retention.maybe_run()
            return []

        archive = STORAGE.group("storage")
        stage = Stage(
            name=archive.stage,
            topics=archive.topics,
            group_id=archive.id(settings.group_id),
            decode=self.handler.decode,
            handle=self.handler.handle,
            before_commit=between_batches,
            on_idle=when_idle,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        self.snapshot_runner: StageRunner[object] | None = None
        if settings.snapshots.enabled:
            snapshots = SnapshotHandler(
                self.store,
                self.blobs,
                FaceFinder(min_size_px=12, min_confidence=settings.snapshots.face_confidence),
                settings.snapshots,
            )
            group = STORAGE.group("storage-snapshots")
            snapshot_stage = Stage(
                name=group.stage,
                topics=group.topics,
                group_id=group.id(settings.group_id),
                decode=snapshots.decode,
                handle=snapshots.handle,
                on_idle=snapshots.on_idle,
            )
            self.snapshot_runner = StageRunner(
                snapshot_stage, bus, health, settings.dead_letter_topic, max_batch=32
            )
        servicer = ArchiveServicer(
            self.store,  # thread-safe: one connection, locked
            Authenticator.from_file(settings.tokens_file),
            self.blobs,
        )
        self.grpc = GrpcServer(
            settings.grpc,
            [
                Registration(
                    services_pb2_grpc.add_ArchiveServicer_to_server, servicer, "vigie.v1.Archive"
                )
            ],
        )

    def run(self, stop: threading.Event) -> None:
        with self.grpc:
            snapshots = None
            if self.snapshot_runner is not None:
                snapshots = threading.Thread(
                    target=self.snapshot_runner.run,
                    args=(stop,),
                    name=self.snapshot_runner.stage.name,
                )
                snapshots.start()
            try:
                self.runner.run(stop)
            finally:
                stop.set()
                if snapshots is not None:
                    snapshots.join()
                self.store.close()


def build(settings: StorageSettings, bus: Bus, health: Health) -> StorageService:
    return StorageService(settings, bus, health)
