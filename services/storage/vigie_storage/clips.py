"""Clips and stills: what the snapshot stage keeps of a camera besides one picture per alert.

A **clip** is a few seconds of the alert's camera around the alert's frame: the frames captured
from ``before_s`` before it to ``after_s`` after it, thinned to at most ``fps`` frames a second
and ``max_frames`` in all, each redacted exactly like the snapshot (faces and the heads of
persons blurred, the alert's boxes drawn). A **still** is the newest redacted picture of a
camera's scene, no boxes drawn: what the console draws zones and lines on.

Both are stored as one blob each, in the small container :func:`pack` writes: a JSON header
(who, when, and for each frame its capture time, its length and whether the alert was raised on
it) followed by the frames' JPEG bytes back to back. One blob rather than a file per frame plus
a manifest, because:

- it is written with one atomic rename (:class:`~vigie_storage.blobs.FileBlobStore`), so a
  reader on any replica sees the whole clip or the previous one, never a manifest naming frames
  not written yet or already deleted;
- retention deletes one key per clip, which ``ArchiveStore.expire`` already hands back for the
  snapshot files, and a crash between two deletions cannot leave half a clip behind;
- the frames and what describes them cannot drift apart (the header travels with the bytes),
  so any replica serves a clip or a still from the blob alone, without the row that wrote it.

The cost is that a clip is not a folder of JPEGs an operator opens by hand; :func:`unpack` reads
one back (``python -c`` is enough), and the Archive API serves the frames as JPEG.

The archive records a clip on its alert's snapshot row (``ArchiveStore.save_clip``), so
retention removes a clip with its snapshot, under ``snapshots_days``. A still is not recorded
at all: its key depends on the camera only and is overwritten every ``every_s``, so a still is
always the camera's newest, whichever replica took it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import Field

from vigie_runtime.settings import StrictModel
from vigie_storage.frame_time import TIME_MATCH_S, same_capture

MAGIC = b"VIGIE-MEDIA/1\n"
CLIP_SUFFIX = ".clip"
STILL_SUFFIX = ".still"
_HEADER_LENGTH_BYTES = 4
MAX_HEADER_BYTES = 1_000_000  # a clip's header is a few kB; anything bigger is not ours


class ClipSettings(StrictModel):
    """How much of the camera each alert keeps, and how long an alert waits for it."""

    enabled: bool = True
    before_s: float = Field(2.0, ge=0, le=30)  # kept before the alert's frame
    after_s: float = Field(2.0, ge=0, le=30)  # kept after it (the alert waits for these)
    # Frames a second at most: a 25 fps camera is thinned. Every frame is redacted like the
    # snapshot (the face detector over overlapping tiles: about 0.1 s a tile, 19 tiles on a
    # 768x432 frame), so this sets the clip's CPU cost: 4 fps is 17 frames for 4 s.
    fps: float = Field(4.0, gt=0, le=60)
    max_frames: int = Field(60, ge=1, le=600)  # frames a clip holds at most
    # A clip is one gRPC answer: it must fit the server's max_message_mb (checked at start).
    max_mb: float = Field(6.0, gt=0)
    # How long a clip waits for its "after" frames and their tracks once the snapshot is taken;
    # then it keeps what came (a camera that stopped, tracks that stalled).
    wait_s: float = Field(30.0, ge=0)
    # Clips waiting for their "after" frames at most; beyond it, the oldest is finished at once
    # with the frames already buffered (counted and warned about, never dropped silently).
    max_pending: int = Field(200, ge=1)


class StillSettings(StrictModel):
    """The redacted still of each camera: how often it is renewed and how old it may be served."""

    enabled: bool = True
    # A camera's still is renewed this often, from the first frame whose tracks have come (so
    # the heads of persons are blurred as well as the faces found).
    every_s: float = Field(60.0, gt=0)
    # When no frame's tracks came this long after a still was due (tracking stopped), the
    # newest frame is taken anyway, blurred by the face detector alone.
    wait_s: float = Field(5.0, ge=0)
    # GetCameraStill answers NOT_FOUND for a still older than this: the camera sent no frame
    # lately, and an old picture would show a scene that may have changed.
    max_age_s: float = Field(600.0, gt=0)


@dataclass(frozen=True, slots=True)
class MediaFrame:
    """One redacted frame of a clip or a still."""

    sequence: int
    captured_at: float
    jpeg: bytes
    alert_frame: bool = False  # the frame the alert was raised on
    faces_blurred: int = 0


@dataclass(frozen=True, slots=True)
class Media:
    """What one blob holds: a clip (``alert_id`` set) or a still (``alert_id`` empty)."""

    kind: str  # "clip" or "still"
    camera_id: str
    alert_id: str
    taken_at: float
    width: int
    height: int
    frames: tuple[MediaFrame, ...]

    @property
    def faces_blurred(self) -> int:
        return sum(frame.faces_blurred for frame in self.frames)

    @property
    def jpeg_bytes(self) -> int:
        return sum(len(frame.jpeg) for frame in self.frames)


def pack(media: Media) -> bytes:
    """The blob of ``media``: magic, header length (4 bytes, big-endian), JSON header, JPEGs."""
    header = {
        "kind": media.kind,
        "camera_id": media.camera_id,
        "alert_id": media.alert_id,
        "taken_at": media.taken_at,
        "width": media.width,
        "height": media.height,
        "frames": [
            {
                "sequence": f.sequence,
                "captured_at": f.captured_at,
                "bytes": len(f.jpeg),
                "alert_frame": f.alert_frame,
                "faces_blurred": f.faces_blurred,
            }
            for f in media.frames
        ],
    }
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    length = len(encoded).to_bytes(_HEADER_LENGTH_BYTES, "big")
    return b"".join([MAGIC, length, encoded, *(f.jpeg for f in media.frames)])


def unpack(blob: bytes) -> Media:
    """The media a blob of :func:`pack` holds; ``ValueError`` for anything else (a truncated or
    foreign file is refused whole rather than served with frames cut short)."""
    if not blob.startswith(MAGIC):
        raise ValueError("not a media blob of this archive (no magic)")
    at = len(MAGIC)
    length = int.from_bytes(blob[at : at + _HEADER_LENGTH_BYTES], "big")
    at += _HEADER_LENGTH_BYTES
    if length > MAX_HEADER_BYTES or at + length > len(blob):
        raise ValueError(f"media header of {length} bytes does not fit the blob")
    try:
        header = json.loads(blob[at : at + length])
        at += length
        frames = []
        for entry in header["frames"]:
            size = int(entry["bytes"])
            frames.append(
                MediaFrame(
                    int(entry["sequence"]),
                    float(entry["captured_at"]),
                    blob[at : at + size],
                    bool(entry["alert_frame"]),
                    int(entry["faces_blurred"]),
                )
            )
            at += size
        media = Media(
            str(header["kind"]),
            str(header["camera_id"]),
            str(header["alert_id"]),
            float(header["taken_at"]),
            int(header["width"]),
            int(header["height"]),
            tuple(frames),
        )
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"media header is not readable: {exc}") from exc
    if at != len(blob):
        raise ValueError(f"media blob holds {len(blob)} bytes, its header says {at}")
    return media


def safe_camera(camera_id: str) -> str:
    """The camera id as one path component of a blob key (what the snapshots use)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in camera_id)


def clip_key(camera_id: str, alert_id: str, captured_at: float) -> str:
    """Next to the alert's snapshot (``<camera>/<day>/<alert id>.jpg``), same day folder."""
    day = datetime.fromtimestamp(captured_at, UTC).strftime("%Y-%m-%d")
    return f"{safe_camera(camera_id)}/{day}/{alert_id}{CLIP_SUFFIX}"


def still_key(camera_id: str) -> str:
    """A key that depends on the camera only, so each new still replaces the last and every
    replica reads the newest. Two ids that :func:`safe_camera` would make alike ("cam/1" and
    "cam_1") must not share a still: an id it changes gets a digest of itself appended."""
    safe = safe_camera(camera_id)
    if safe != camera_id or safe in {"", ".", ".."}:
        safe = f"{safe}-{hashlib.sha256(camera_id.encode()).hexdigest()[:12]}"
    return f"stills/{safe}{STILL_SUFFIX}"


def is_clip_key(key: str) -> bool:
    return key.endswith(CLIP_SUFFIX)


def pick_frames(
    times: Sequence[float],
    center: float,
    before_s: float,
    after_s: float,
    fps: float,
    max_frames: int,
) -> list[int]:
    """Indices of the frames a clip keeps, in capture order, out of frames captured at
    ``times`` (in any order: a rewind may have buffered an old frame late).

    The window is ``[center - before_s, center + after_s]``. The frame at ``center`` (the
    alert's) is always kept when present; from it, frames are taken outwards on each side,
    each at least ``1 / fps`` from the last one taken, so the thinning is anchored on the alert
    and the same frames are picked whatever the window holds beyond them. Over ``max_frames``,
    the frames nearest the alert are kept: the moment of the alert matters more than the edges.
    """
    step = 1.0 / fps
    order = sorted(range(len(times)), key=lambda i: times[i])
    at_center = [i for i in order if same_capture(times[i], center)]
    kept: list[int] = at_center[:1]
    last = center
    for i in reversed(order):
        t = times[i]
        if center - before_s - TIME_MATCH_S <= t <= center - TIME_MATCH_S and (
            last - t >= step - TIME_MATCH_S
        ):
            kept.append(i)
            last = t
    last = center
    for i in order:
        t = times[i]
        if center + TIME_MATCH_S <= t <= center + after_s + TIME_MATCH_S and (
            t - last >= step - TIME_MATCH_S
        ):
            kept.append(i)
            last = t
    if len(kept) > max_frames:
        kept = sorted(kept, key=lambda i: (abs(times[i] - center), times[i]))[:max_frames]
    return sorted(kept, key=lambda i: times[i])


def within_bytes(frames: Sequence[MediaFrame], center: float, max_bytes: int) -> list[MediaFrame]:
    """``frames`` (in capture order) without those farthest from the alert, until their JPEG
    bytes fit ``max_bytes``: a clip must fit one gRPC answer."""
    kept = list(frames)
    while kept and sum(len(f.jpeg) for f in kept) > max_bytes:
        farthest = max(kept, key=lambda f: abs(f.captured_at - center))
        kept.remove(farthest)
    return kept
