"""Frames from a video file or stream, read with OpenCV.

Anything ``cv2.VideoCapture`` opens goes through this one path: local files today, rtsp:// and
http:// camera streams later. The pipeline needs two promises from a source that OpenCV alone
does not make:

* media time never goes backwards, even when a demo clip loops, because trackers and rules
  compute speeds and durations from it;
* a frame that fails to decode is counted, never silently skipped, so a flaky camera shows up
  in the figures instead of as an unexplained gap.

Media time comes from the container (``CAP_PROP_POS_MSEC``) when it gives a usable value;
otherwise frames are assumed evenly spaced at ``fps``. When the container reports no usable
frame rate (live streams often report 0 or a clock rate such as 90000), ``DEFAULT_FPS`` is
assumed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vigie_runtime.closing import ClosedOnExit

DEFAULT_FPS = 25.0
MAX_PLAUSIBLE_FPS = 240.0
DEFAULT_MAX_CONSECUTIVE_ERRORS = 25

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# Greedy up to the last "@" of the authority, so an unescaped "@" in a password is hidden too.
_CREDENTIALS = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/]*@")


class SourceError(RuntimeError):
    """The video source cannot be opened or read; the message names it (without credentials)."""


@dataclass(frozen=True, slots=True, eq=False)
class RawFrame:
    """One decoded frame.

    ``index`` counts every frame this source attempted to read, decoded or not, across loops;
    a gap in it is a frame that failed to decode. ``media_time_s`` is seconds of media time,
    strictly increasing.
    """

    index: int
    media_time_s: float
    image: np.ndarray


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """How to replay a source.

    ``loop`` seeks back to ``start_s`` at end of file and carries on, with media time continuing
    from where the previous pass ended. ``max_frames`` caps the frames yielded in total (across
    loops). ``max_consecutive_errors`` is how many failed reads in a row end the stream: a
    single bad frame is survivable, a dead camera or truncated file is not.
    """

    loop: bool = False
    start_s: float = 0.0
    max_frames: int | None = None
    max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s) or self.start_s < 0:
            raise ValueError(f"start_s must be a finite number >= 0, got {self.start_s}")
        if self.max_frames is not None and self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")
        if self.max_consecutive_errors < 1:
            raise ValueError(
                f"max_consecutive_errors must be >= 1, got {self.max_consecutive_errors}"
            )


def redact(source: str) -> str:
    """A source fit for logs and error messages: camera URLs often carry a password."""
    return _CREDENTIALS.sub(r"\1***@", source)


def is_stream(source: str) -> bool:
    """A URL (rtsp://, http://, ...) rather than a file or device path."""
    return bool(_URL.match(source))


def open_video(
    source: str,
    options: VideoOptions | None = None,
    open_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
) -> VideoSource:
    """Open a file path or stream URL; raises SourceError naming the source if it will not open.

    For a stream URL, ``open_timeout_s`` and ``read_timeout_s`` bound how long OpenCV may block
    opening it and waiting for one frame (FFmpeg's interrupt callback): a stalled network stream
    would otherwise block ``read()`` for as long as the connection stays up. After a read timed
    out the source gives no more frames, so iteration ends with ``stopped_on_errors``.
    """
    options = options or VideoOptions()
    shown = redact(source)
    params: list[int] = []
    if is_stream(source):
        if open_timeout_s is not None:
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, max(int(open_timeout_s * 1000), 1)]
        if read_timeout_s is not None:
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, max(int(read_timeout_s * 1000), 1)]
    capture = cv2.VideoCapture(source, cv2.CAP_ANY, params) if params else cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        # Checked only after a failed open, so image-sequence patterns ("img_%04d.jpg") still work.
        missing = not _URL.match(source) and not Path(source).exists()
        reason = "does not exist" if missing else "could not be opened"
        raise SourceError(f"video source {shown!r} {reason}")
    return VideoSource(capture, shown, options)


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes for a BGR frame: the format frames travel in between services."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ValueError("cannot encode an empty image")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {image.shape} as JPEG")
    return buffer.tobytes()


def _plausible_fps(reported: float) -> float:
    if math.isfinite(reported) and 0.0 < reported <= MAX_PLAUSIBLE_FPS:
        return reported
    return DEFAULT_FPS


class VideoSource(ClosedOnExit):
    """An opened source and its single stream of frames. Not thread-safe: one reader per source."""

    def __init__(self, capture: cv2.VideoCapture, name: str, options: VideoOptions) -> None:
        self._capture = capture
        self._name = name
        self._options = options
        self._fps = _plausible_fps(capture.get(cv2.CAP_PROP_FPS))
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self._frame_count = int(count) if math.isfinite(count) and count > 0 else None
        self._width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self._height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._decode_errors = 0
        self._stopped_on_errors = False
        self._closed = False
        self._iterator: Iterator[RawFrame] | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def fps(self) -> float:
        """Frame rate from the container, or DEFAULT_FPS when it reports nothing plausible."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frames the container says it holds; None for live streams that cannot know."""
        return self._frame_count

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def decode_errors(self) -> int:
        """Reads that failed before the known end of the source (or anywhere, for a stream)."""
        return self._decode_errors

    @property
    def stopped_on_errors(self) -> bool:
        """True when iteration ended because too many reads failed in a row, not at the end."""
        return self._stopped_on_errors

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._capture.release()

    def __iter__(self) -> Iterator[RawFrame]:
        """The one frame iterator of this source: iterating again resumes, it does not restart."""
        if self._iterator is None:
            self._iterator = self._frames()
        return self._iterator

    def _frames(self) -> Iterator[RawFrame]:
        clock = _MediaClock(self._fps)
        limit = self._options.max_frames
        yielded = 0
        while not self._closed and (limit is None or yielded < limit):
            if not self._seek_to_start():
                return
            for frame in self._one_pass(clock):
                yield frame
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if self._stopped_on_errors or not self._options.loop or clock.pass_frames == 0:
                return
            clock.wrap()

    def _seek_to_start(self) -> bool:
        """Position at start_s. The first pass of an unseeked source needs no seek at all, which
        keeps sources that cannot seek (live streams) working when no start is asked for."""
        start_ms = self._options.start_s * 1000.0
        position = self._capture.get(cv2.CAP_PROP_POS_FRAMES)
        if start_ms == 0.0 and position <= 0:
            return True
        if start_ms == 0.0:
            return bool(self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0))
        # A source that cannot seek is read from where it is; _one_pass skips early frames.
        self._capture.set(cv2.CAP_PROP_POS_MSEC, start_ms)
        return True

    def _one_pass(self, clock: _MediaClock) -> Iterator[RawFrame]:
        """Frames from the current position to the end of the source or until reads keep failing."""
        consecutive_errors = 0
        early = self._options.start_s - 0.5 / self._fps
        while not self._closed:
            ok, image = self._capture.read()
            if not ok or image is None:
                if self._at_known_end():
                    return
                clock.on_failed_read()
                self._decode_errors += 1
                consecutive_errors += 1
                if consecutive_errors >= self._options.max_consecutive_errors:
                    self._stopped_on_errors = True
                    return
                continue
            consecutive_errors = 0
            index, file_time = clock.on_frame(self._capture.get(cv2.CAP_PROP_POS_MSEC))
            if file_time < early:  # a seek that landed early, or a source that cannot seek
                continue
            self._height, self._width = image.shape[:2]
            yield RawFrame(index=index, media_time_s=clock.media_time(file_time), image=image)

    def _at_known_end(self) -> bool:
        """A failed read at or past the frame count is the end of a file, not a decode error."""
        if self._frame_count is None:
            return False
        return self._capture.get(cv2.CAP_PROP_POS_FRAMES) >= self._frame_count


class _MediaClock:
    """Numbers reads and turns container timestamps into a strictly increasing media time,
    across failed reads and across loops."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps
        self._reads = 0
        self.pass_frames = 0
        self._last_file_time: float | None = None
        self._missed_since_last = 0
        self._offset = 0.0
        self._last_media_time: float | None = None
        self._wrapped = False

    def on_failed_read(self) -> None:
        self._reads += 1
        self._missed_since_last += 1

    def on_frame(self, position_ms: float) -> tuple[int, float]:
        """Index of a decoded frame and its time within the file: the container's timestamp if it
        moves forward, otherwise one frame period per read since the last good frame."""
        index = self._reads
        self._reads += 1
        self.pass_frames += 1
        stamp = round(position_ms / 1000.0, 6)  # containers give ms with float noise
        last = self._last_file_time
        if not (math.isfinite(stamp) and stamp >= 0.0 and (last is None or stamp > last)):
            base = last if last is not None else -self._period
            stamp = base + (self._missed_since_last + 1) * self._period
        self._last_file_time = stamp
        self._missed_since_last = 0
        return index, stamp

    def media_time(self, file_time: float) -> float:
        if self._wrapped and self._last_media_time is not None:
            # The new pass starts one frame period after the last frame of the previous one.
            self._offset = self._last_media_time + self._period - file_time
        self._wrapped = False
        value = self._offset + file_time
        if self._last_media_time is not None and value <= self._last_media_time:
            value = self._last_media_time + self._period
        self._last_media_time = value
        return value

    def wrap(self) -> None:
        self._wrapped = True
        self._last_file_time = None
        self._missed_since_last = 0
        self.pass_frames = 0
