"""Archive calls for images: an alert's clip and a camera's still.

Both are read from the blob store alone (:mod:`vigie_storage.clips`): a clip's blob carries its
frames' times and which one the alert was raised on, a still's blob carries when it was taken,
so any replica answers from the shared files whichever replica's snapshot stage wrote them. A
clip leaves the archive like a snapshot (permission export, journaled ``export.clip``); a still
is a look at a camera's scene for drawing zones (permission search, journaled ``view.still``).
Both need a purpose, and a refusal is journaled by :func:`~vigie_storage.grpc_common.journaled`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc

from vigie.v1 import services_pb2
from vigie_runtime import codec
from vigie_runtime.auth import Caller, Permission
from vigie_storage.blobs import BlobStore
from vigie_storage.clips import Media, still_key, unpack
from vigie_storage.grpc_common import journaled, stored_blob
from vigie_storage.ports import ArchiveStore

MAX_CAMERA_ID = 200  # a camera id longer than this names no camera


class MediaCalls:
    """GetClip and GetCameraStill, mixed into :class:`~vigie_storage.grpc_api.ArchiveServicer`,
    which gives the store, the blobs, the clock and the checks and journaling every call
    shares."""

    store: ArchiveStore
    blobs: BlobStore | None
    clock: Callable[[], float]
    # A still older than this is not served (NOT_FOUND: the camera sent no frame lately); the
    # service sets it from ``stills.max_age_s``.
    still_max_age_s: float = 600.0

    if TYPE_CHECKING:

        def _caller(self, context: grpc.ServicerContext, permission: Permission) -> Caller: ...

        @staticmethod
        def _purpose(purpose: str, context: grpc.ServicerContext) -> str: ...

        def _journal(
            self,
            context: grpc.ServicerContext,
            caller: Caller,
            action: str,
            subject: str,
            purpose: str,
            details: dict[str, str],
        ) -> None: ...

    def _media(self, key: str) -> Media | None:
        """The media stored under ``key``; None when there is none (never written, or removed
        by retention)."""
        raw = stored_blob(self.blobs, key)
        return unpack(raw) if raw is not None else None

    @journaled("export.clip", lambda request: str(request.alert_id)[:200])
    def GetClip(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._caller(context, Permission.EXPORT)
        purpose = self._purpose(request.purpose, context)
        clip = self.store.clip_for(request.alert_id) if request.alert_id else None
        media = self._media(clip.blob_key) if clip is not None else None
        if media is None or media.kind != "clip" or media.alert_id != request.alert_id:
            gone = " (retention)" if clip is not None else ""
            context.abort(grpc.StatusCode.NOT_FOUND, f"no clip of alert {request.alert_id!r}{gone}")
        self._journal(
            context,
            caller,
            "export.clip",
            request.alert_id,
            purpose,
            {
                "frames": str(len(media.frames)),
                "bytes": str(media.jpeg_bytes),
                "faces_blurred": str(media.faces_blurred),
            },
        )
        return services_pb2.Clip(
            alert_id=media.alert_id,
            frames=[
                services_pb2.ClipFrame(
                    captured_at=codec.time_to_proto(frame.captured_at),
                    jpeg=frame.jpeg,
                    alert_frame=frame.alert_frame,
                )
                for frame in media.frames
            ],
            faces_blurred=media.faces_blurred,
            width=media.width,
            height=media.height,
        )

    @journaled("view.still", lambda request: str(request.camera_id)[:200])
    def GetCameraStill(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._caller(context, Permission.SEARCH)
        purpose = self._purpose(request.purpose, context)
        camera_id = request.camera_id
        if not camera_id.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "camera_id is required")
        if len(camera_id) > MAX_CAMERA_ID:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"camera_id longer than {MAX_CAMERA_ID} characters",
            )
        media = self._media(still_key(camera_id))
        now = self.clock()
        if (
            media is None
            or media.kind != "still"
            or media.camera_id != camera_id
            or not media.frames
            or now - media.taken_at > self.still_max_age_s
        ):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no recent still of camera {camera_id!r}")
        (frame,) = media.frames
        self._journal(
            context,
            caller,
            "view.still",
            camera_id,
            purpose,
            {
                "bytes": str(len(frame.jpeg)),
                "faces_blurred": str(frame.faces_blurred),
                "age_s": f"{max(0.0, now - media.taken_at):.1f}",
            },
        )
        return services_pb2.Snapshot(
            info=services_pb2.SnapshotInfo(
                taken_at=codec.time_to_proto(media.taken_at),
                faces_blurred=frame.faces_blurred,
                width=media.width,
                height=media.height,
            ),
            jpeg=frame.jpeg,
        )
