"""Image sizes read from headers, and images refused before decoding when they are too big."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from tests.oversized import black_png, jpeg_declaring
from vigie_runtime.image_header import ImageLimits, ImageSize, check_image, read_size
from vigie_runtime.images import InvalidImage, decode_jpeg


def encoded(ext: str, width: int, height: int, *params: int) -> bytes:
    ok, data = cv2.imencode(ext, np.zeros((height, width, 3), dtype=np.uint8), list(params))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (encoded(".jpg", 64, 48), ImageSize("jpeg", 64, 48)),
        (encoded(".jpg", 33, 17, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), ImageSize("jpeg", 33, 17)),
        (encoded(".png", 640, 1), ImageSize("png", 640, 1)),
        (black_png(300, 200), ImageSize("png", 300, 200)),
        (jpeg_declaring(30000, 30000), ImageSize("jpeg", 30000, 30000)),
    ],
    ids=["jpeg", "progressive-jpeg", "png", "built-png", "patched-jpeg"],
)
def test_sizes_come_from_the_header(data: bytes, size: ImageSize) -> None:
    assert read_size(data) == size


def test_a_jpeg_with_an_exif_thumbnail_reports_the_main_image() -> None:
    """The thumbnail's own frame header sits inside APP1 and is skipped with it."""
    thumbnail = encoded(".jpg", 8, 8)
    app1 = b"Exif\x00\x00" + thumbnail
    main = encoded(".jpg", 64, 48)
    data = main[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + main[2:]
    assert read_size(data) == ImageSize("jpeg", 64, 48)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "image payload is empty"),
        (b"GIF89a\x01\x00\x01\x00", "image of 10 bytes is neither JPEG nor PNG"),
        (encoded(".bmp", 4, 4), "neither JPEG nor PNG"),
        (b"\xff\xd8\xff\xe0", "JPEG header is truncated"),
        (b"\xff\xd8\xff\xda\x00\x02", "JPEG has no frame header before its image data"),
        (b"\xff\xd8\x00\x00", "JPEG header is corrupt: no marker at byte 2"),
        (b"\xff\xd8\xff\xe0\x00\x01", "JPEG header is corrupt: segment length 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG header is truncated"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIDAT" + bytes(17), "PNG does not start"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + bytes(17), "PNG size 0x0 is invalid"),
    ],
    ids=[
        "empty", "gif", "bmp", "jpeg-truncated", "jpeg-no-sof", "jpeg-no-marker",
        "jpeg-bad-length", "png-truncated", "png-no-ihdr", "png-zero",
    ],
)  # fmt: skip
def test_unreadable_headers_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage, match=reason):
        read_size(data)


def test_a_jpeg_whose_height_comes_later_is_refused() -> None:
    data = bytearray(encoded(".jpg", 16, 16))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">H", data, sof + 5, 0)
    with pytest.raises(InvalidImage, match=r"DNL"):
        read_size(bytes(data))


def test_limits_on_pixels_and_bytes() -> None:
    data = encoded(".jpg", 64, 48)
    assert check_image(data, ImageLimits(max_pixels=64 * 48)) == ImageSize("jpeg", 64, 48)
    with pytest.raises(InvalidImage, match=r"^JPEG image of 64x48 pixels is above the limit"):
        check_image(data, ImageLimits(max_pixels=64 * 48 - 1))
    with pytest.raises(InvalidImage, match=rf"^image of {len(data)} bytes is above the limit"):
        check_image(data, ImageLimits(max_bytes=len(data) - 1))
    with pytest.raises(ValueError, match="positive"):
        ImageLimits(max_pixels=0)


def test_the_default_limit_is_4096_by_4096() -> None:
    check_image(jpeg_declaring(4096, 4096), ImageLimits())
    with pytest.raises(InvalidImage, match=r"4097x4096 pixels is above the limit of 16777216"):
        check_image(jpeg_declaring(4097, 4096), ImageLimits())


def test_decode_refuses_a_huge_png_without_decoding_it() -> None:
    """2.7 GB once decoded: refused in well under the time decoding would take."""
    png = black_png(30000, 30000)
    assert len(png) < 1_000_000
    with pytest.raises(InvalidImage, match=r"^PNG image of 30000x30000 pixels is above"):
        decode_jpeg(png)


def test_decode_still_reads_jpeg_and_png_within_the_limits() -> None:
    assert decode_jpeg(encoded(".jpg", 64, 48)).shape == (48, 64, 3)
    assert decode_jpeg(black_png(30, 20)).shape == (20, 30, 3)
    with pytest.raises(InvalidImage, match="neither JPEG nor PNG"):
        decode_jpeg(encoded(".bmp", 4, 4))
