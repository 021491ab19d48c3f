"""Wiring of the storage service: the archive, the consumer stage, retention, and the Archive
gRPC server."""

from __future__ import annotations

import time

import cv2

from vigie.v1 import services_pb2_grpc
from vigie_runtime.auth import Authenticator
from vigie_runtime.bus import Bus, Output
from vigie_runtime.faces import FaceFinder
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import CachedCheck, Health
from vigie_runtime.service import StageService
from vigie_runtime.topology import STORAGE
from vigie_storage.adapters.cassandra.store import CassandraArchive
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.grpc_api import ArchiveServicer
from vigie_storage.handler import StorageHandler
from vigie_storage.journal_keys import load_keyring
from vigie_storage.ports import ArchiveStore
from vigie_storage.retention import RetentionJob
from vigie_storage.settings import StorageSettings
from vigie_storage.snapshots import SnapshotHandler

SNAPSHOT_STAGE = "storage-snapshots"


class StorageService(StageService):
    def __init__(self, settings: StorageSettings, bus: Bus, health: Health) -> None:
        super().__init__(STORAGE, settings, bus, health)
        keyring = load_keyring(settings.journal)  # warns loudly on the development key
        every = settings.journal.checkpoint_every
        self.store: ArchiveStore = (
            CassandraArchive.connect(
                settings.cassandra, settings.retention.keep_days(), keyring, every
            )
            if settings.backend == "cassandra"
            else SqliteArchive(settings.database, keyring, every)
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

        self.add_stage(
            "storage",
            self.handler.decode,
            self.handler.handle,
            before_commit=between_batches,
            on_idle=when_idle,
        )
        # One stage reads frames, tracks, events and alerts for snapshots, their clips and stills.
        if settings.snapshots.enabled or settings.stills.enabled:
            cv2.setNumThreads(settings.snapshots.threads)  # process-wide: see the setting
            snapshots = SnapshotHandler(
                self.store,
                self.blobs,
                FaceFinder(min_size_px=12, min_confidence=settings.snapshots.face_confidence),
                settings.snapshots,
                clips=settings.clips,
                stills=settings.stills,
                beat=lambda: health.beat(SNAPSHOT_STAGE),
            )
            self.add_stage(
                SNAPSHOT_STAGE,
                snapshots.decode,
                snapshots.handle,
                on_idle=snapshots.on_idle,
                max_batch=32,
                rewind=snapshots.rewind(),
                nice=settings.snapshots.nice,
                idle=settings.snapshots.idle,
                liveness_timeout_s=settings.snapshots.liveness_timeout_s,
            )
        servicer = ArchiveServicer(
            self.store,  # thread-safe: one connection, locked
            Authenticator.from_file(settings.tokens_file),
            self.blobs,
        )
        servicer.journal_keyring = keyring  # VerifyJournal checks with every key given
        servicer.still_max_age_s = settings.stills.max_age_s  # GetCameraStill: older is gone
        self.grpc = GrpcServer(
            settings.grpc,
            [
                Registration(
                    services_pb2_grpc.add_ArchiveServicer_to_server, servicer, "vigie.v1.Archive"
                )
            ],
            health=health,
        )
        # Not ready while the database does not answer (asked at most every 5 s).
        health.add_check("store.reachable", CachedCheck(self.store.ping, ttl_s=5.0))
        self.serve(self.grpc)
        self.close_on_stop(self.store.close)


def build(settings: StorageSettings, bus: Bus, health: Health) -> StorageService:
    return StorageService(settings, bus, health)
