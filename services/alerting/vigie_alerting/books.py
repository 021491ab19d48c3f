"""The alert books of the cameras this replica owns: the engine's store, in every mode.

One JSON document per camera (its alert book and evaluation counts), kept by the runtime's
state port (:mod:`vigie_runtime.state`): saved with the batch that changed it, read back when the
camera's partition is assigned here, dropped when it goes elsewhere. Every write marks the
camera changed, so a change made by the desk or the escalation timer is saved too.

The stage's thread, the desk's gRPC threads and the state keeper all reach the books; one
re-entrant lock serialises them, and the handler holds it across each engine call, so a document
is never saved half-way through a change.
"""

from __future__ import annotations

import threading

from vigie_runtime.state import Document, DocumentState


class AlertBooks(DocumentState):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()

    def take_changed(self) -> set[str]:
        with self.lock:
            return super().take_changed()

    def save(self, camera: str) -> Document | None:
        with self.lock:
            return super().save(camera)

    def load(self, camera: str, document: Document) -> None:
        with self.lock:
            super().load(camera, document)

    def drop(self, camera: str) -> None:
        with self.lock:
            super().drop(camera)
