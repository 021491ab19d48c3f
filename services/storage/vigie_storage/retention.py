"""Retention, enforced: what is older than its kind's limit is deleted, files included, and the
deletion is journaled.

SQLite has no time-to-live, so this job runs every ``retention.interval_s`` on the storage
service's own loop (between batches). Cassandra enforces the same limits by TTL at write time;
there this job only removes snapshot files. Deleting a snapshot's row and then its file can be
interrupted between the two: the next run finds no row and the file stays, so files are also
deleted when their row is already gone (the key is derived, not listed).

An alert's clip is recorded on its snapshot's row, so it expires with the snapshot
(``snapshots_days``): its file goes in the same pass, counted apart (``clips``) so the journal
says how many of each went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter

from vigie_core.journal import entry
from vigie_storage.blobs import BlobStore
from vigie_storage.clips import is_clip_key
from vigie_storage.ports import ArchiveStore, DataKind
from vigie_storage.settings import RetentionSettings

log = logging.getLogger(__name__)

DELETED = Counter(
    "vigie_retention_deleted_total", "Rows (and snapshot files) deleted by retention", ["kind"]
)


class RetentionJob:
    def __init__(
        self,
        store: ArchiveStore,
        blobs: BlobStore,
        settings: RetentionSettings,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.blobs, self.settings, self.clock = store, blobs, settings, clock
        self._next_run = float("-inf")

    def maybe_run(self) -> dict[DataKind, int]:
        now = self.clock()
        if now < self._next_run:
            return {}
        self._next_run = now + self.settings.interval_s
        return self.run(now)

    def run(self, now: float) -> dict[DataKind, int]:
        """Delete everything expired at ``now``; returns how many of each kind."""
        deleted: dict[DataKind, int] = {}
        clips = 0
        for kind in DataKind:
            ids = self.store.expire(kind, now, self.settings.keep_s(kind))
            if kind is DataKind.SNAPSHOTS:
                for key in ids:
                    self.blobs.delete(key)
                clips = sum(1 for key in ids if is_clip_key(key))
                ids = [key for key in ids if not is_clip_key(key)]
            if ids:
                deleted[kind] = len(ids)
                DELETED.labels(kind.value).inc(len(ids))
        if clips:
            DELETED.labels("clips").inc(clips)
        if deleted or clips:
            summary = {kind.value: str(n) for kind, n in deleted.items()}
            if clips:
                summary["clips"] = str(clips)
            log.info("retention deleted expired data", extra=summary)
            self.store.append_audit(
                [
                    entry(
                        "retention.deleted",
                        "archive",
                        now,
                        actor="system:storage",
                        role="system",
                        reason="expired under the retention policy",
                        details=summary,
                    )
                ]
            )
        return deleted
