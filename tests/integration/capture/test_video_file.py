"""The OpenCV video source on a real clip: one-by-one-person-detection.mp4 from the shared data
(768x432, 1394 frames at 10 fps, as its README states)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigie_capture.adapters import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    SourceError,
    VideoOptions,
    encode_jpeg,
    open_video,
    redact,
)

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
CLIP = DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4"
FRAMES, FPS, WIDTH, HEIGHT = 1394, 10.0, 768, 432

pytestmark = pytest.mark.skipif(
    not CLIP.is_file(), reason=f"sample clip not found at {CLIP} (shared test data is absent)"
)


def test_properties_come_from_the_container() -> None:
    with open_video(str(CLIP)) as source:
        assert source.frame_count == FRAMES
        assert source.fps == pytest.approx(FPS)
        assert (source.width, source.height) == (WIDTH, HEIGHT)


def test_every_frame_is_read_with_time_stepping_by_a_tenth() -> None:
    indices, times = [], []
    with open_video(str(CLIP)) as source:
        for frame in source:  # images are not kept: a decoded clip is over a gigabyte
            assert frame.image.shape == (HEIGHT, WIDTH, 3)
            indices.append(frame.index)
            times.append(frame.media_time_s)
        assert source.decode_errors == 0
        assert not source.stopped_on_errors
    assert indices == list(range(FRAMES))
    assert times[0] == pytest.approx(0.0)
    assert np.allclose(np.diff(times), 0.1, atol=1e-6)
    assert times[-1] == pytest.approx((FRAMES - 1) / FPS)


def test_loop_keeps_time_moving_forward_across_the_wrap() -> None:
    total = 2 * FRAMES + 100
    indices, times, images = [], [], {}
    with open_video(str(CLIP), VideoOptions(loop=True, max_frames=total)) as source:
        for n, frame in enumerate(source):
            indices.append(frame.index)
            times.append(frame.media_time_s)
            if n in (0, 5, FRAMES, 2 * FRAMES + 5):
                images[n] = frame.image
    assert len(times) == total
    assert np.all(np.diff(times) > 0)
    assert np.allclose(np.diff(times), 0.1, atol=1e-6)  # no jump at either wrap
    assert indices == list(range(total))
    # After each wrap the pictures are the clip's first frames again.
    assert np.array_equal(images[FRAMES], images[0])
    assert np.array_equal(images[2 * FRAMES + 5], images[5])


def test_max_frames_caps_what_is_yielded() -> None:
    with open_video(str(CLIP), VideoOptions(max_frames=25)) as source:
        frames = list(source)
    assert len(frames) == 25
    assert frames[-1].media_time_s == pytest.approx(2.4)


def test_start_s_replays_from_the_middle() -> None:
    with open_video(str(CLIP), VideoOptions(start_s=30.0, max_frames=20)) as source:
        frames = list(source)
    assert len(frames) == 20
    assert frames[0].media_time_s == pytest.approx(30.0, abs=0.05)
    assert np.allclose(np.diff([f.media_time_s for f in frames]), 0.1, atol=1e-6)
    with open_video(str(CLIP)) as reference:
        expected = next(f for f in reference if f.media_time_s >= 30.0 - 1e-6)
    assert np.array_equal(frames[0].image, expected.image)


def test_start_s_near_the_end_reads_only_the_tail() -> None:
    with open_video(str(CLIP), VideoOptions(start_s=138.0)) as source:
        frames = list(source)
    assert len(frames) == 14  # 138.0 .. 139.3
    assert frames[-1].media_time_s == pytest.approx(139.3)


def test_loop_with_start_s_returns_to_the_start_not_to_zero() -> None:
    with open_video(str(CLIP), VideoOptions(start_s=139.0, loop=True, max_frames=12)) as source:
        frames = list(source)
    times = [f.media_time_s for f in frames]
    assert times == pytest.approx([139.0 + 0.1 * k for k in range(12)])
    assert np.array_equal(frames[4].image, frames[0].image)  # 139.0 .. 139.3, then 139.0 again


def test_jpeg_round_trip_keeps_the_frame_size() -> None:
    with open_video(str(CLIP), VideoOptions(start_s=60.0, max_frames=1)) as source:
        frame = next(iter(source))
    data = encode_jpeg(frame.image, quality=85)
    assert data[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.image.shape
    # Lossy but close: mean absolute error of a few grey levels at quality 85.
    assert np.abs(decoded.astype(int) - frame.image.astype(int)).mean() < 5
    assert len(encode_jpeg(frame.image, quality=30)) < len(data)
    with pytest.raises(ValueError):
        encode_jpeg(frame.image, quality=0)


def test_missing_path_raises_source_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    with pytest.raises(SourceError, match=r"nowhere\.mp4.*does not exist"):
        open_video(str(missing))


def test_unreadable_file_raises_source_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match=r"junk\.mp4"):
        open_video(str(junk))


def test_credentials_never_reach_error_messages() -> None:
    assert redact("rtsp://admin:s3cret@10.0.0.7:554/live") == "rtsp://***@10.0.0.7:554/live"
    assert redact("rtsp://admin:p@ss@cam.local/s1") == "rtsp://***@cam.local/s1"
    assert redact("http://cam.local/a@b.mjpg") == "http://cam.local/a@b.mjpg"
    assert redact("/data/clip.mp4") == "/data/clip.mp4"
    with pytest.raises(SourceError) as caught:
        open_video("rtsp://admin:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(caught.value)


def test_truncated_file_yields_fewer_frames_without_hanging(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.mp4"
    data = CLIP.read_bytes()
    truncated.write_bytes(data[: len(data) * 30 // 100])
    result: dict[str, object] = {}

    def read_all() -> None:
        with open_video(str(truncated)) as source:
            result["frames"] = list(source)
            result["errors"] = source.decode_errors
            result["gave_up"] = source.stopped_on_errors

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "reading a truncated file hung"
    frames = result["frames"]
    assert isinstance(frames, list)
    assert 0 < len(frames) < FRAMES
    times = [f.media_time_s for f in frames]
    assert np.all(np.diff(times) > 0)
    # The container promised 1394 frames; the missing ones are counted, then reading stops.
    assert result["errors"] >= DEFAULT_MAX_CONSECUTIVE_ERRORS
    assert result["gave_up"] is True


def test_closing_stops_iteration() -> None:
    source = open_video(str(CLIP))
    frames = iter(source)
    next(frames)
    source.close()
    assert list(frames) == []


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        VideoOptions(start_s=-1.0)
    with pytest.raises(ValueError):
        VideoOptions(max_frames=-1)
    with pytest.raises(ValueError):
        VideoOptions(max_consecutive_errors=0)
