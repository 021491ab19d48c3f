"""Capture back-ends: where frames come from."""

from vigie_capture.adapters.video_file import (
    DEFAULT_FPS,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    RawFrame,
    SourceError,
    VideoOptions,
    VideoSource,
    encode_jpeg,
    open_video,
    redact,
)

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_MAX_CONSECUTIVE_ERRORS",
    "RawFrame",
    "SourceError",
    "VideoOptions",
    "VideoSource",
    "encode_jpeg",
    "open_video",
    "redact",
]
