"""An image's size read from its header, so a picture too big to decode is refused unopened.

Decoding allocates ``width x height x 3`` bytes whatever the payload weighs: a one-colour PNG of
30000x30000 pixels compresses to under a megabyte and decodes to 2.7 GB. So every stage that
decodes frames first reads the size the header declares (JPEG's frame header, PNG's IHDR
chunk), without touching the compressed data, and refuses what is above its
:class:`ImageLimits`. Only JPEG and PNG are accepted: a format whose header is not read here
would be decoded blind.

Pure Python and no OpenCV, so the codec can use the limits without importing an image library.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageLimits",
    "ImageSize",
    "InvalidImage",
    "check_image",
    "read_size",
]

# 4096 x 4096: above 4K UHD (3840 x 2160), 48 MB once decoded to BGR.
DEFAULT_MAX_PIXELS = 4096 * 4096
# What the frames topic lets a whole message weigh (its max.message.bytes).
DEFAULT_MAX_BYTES = 8 * 1024 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers: baseline, extended, progressive and lossless, Huffman or arithmetic.
# C4 (DHT), C8 (JPG, reserved) and CC (DAC) share the range but are not frame headers.
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
# Markers that stand alone, without a length: TEM and the restart markers.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9


class InvalidImage(ValueError):
    """Bytes or an array that are not a picture a stage may decode or run a model on."""


@dataclass(frozen=True, slots=True)
class ImageSize:
    format: str  # "jpeg" or "png"
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """The largest image a stage decodes: pixels bound the memory, bytes the payload."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.max_bytes < 1:
            raise ValueError(f"image limits must be positive, got {self}")


def _jpeg_size(data: bytes) -> ImageSize:
    """Walk the marker segments up to the first frame header (SOFn): each step skips a whole
    segment by its length, so this reads a few hundred bytes of a real JPEG."""
    n = len(data)
    i = 2  # after SOI
    while i < n:
        if data[i] != 0xFF:
            raise InvalidImage(f"JPEG header is corrupt: no marker at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes may pad any marker
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI):
            raise InvalidImage("JPEG has no frame header before its image data")
        if i + 2 > n:
            break
        (length,) = struct.unpack_from(">H", data, i)
        if length < 2:
            raise InvalidImage(f"JPEG header is corrupt: segment length {length} at byte {i}")
        if marker in _JPEG_SOF:
            if length < 8 or i + 7 > n:
                break
            height, width = struct.unpack_from(">HH", data, i + 3)
            if height == 0:
                raise InvalidImage("JPEG height is left to a later marker (DNL): not supported")
            if width == 0:
                raise InvalidImage("JPEG width is 0")
            return ImageSize("jpeg", width, height)
        i += length
    raise InvalidImage(f"JPEG header is truncated ({n} bytes, no frame header)")


def _png_size(data: bytes) -> ImageSize:
    """The IHDR chunk must come first, right after the signature (PNG specification 5.6)."""
    if len(data) < 8 + 8 + 13:
        raise InvalidImage(f"PNG header is truncated ({len(data)} bytes)")
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise InvalidImage("PNG does not start with its IHDR chunk")
    width, height = struct.unpack_from(">II", data, 16)
    if not 0 < width < 2**31 or not 0 < height < 2**31:
        raise InvalidImage(f"PNG size {width}x{height} is invalid")
    return ImageSize("png", width, height)


def read_size(data: bytes) -> ImageSize:
    """The size a JPEG or PNG header declares; :class:`InvalidImage` for anything else."""
    if not isinstance(data, bytes):
        data = bytes(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data.startswith(_PNG_SIGNATURE):
        return _png_size(data)
    if not data:
        raise InvalidImage("image payload is empty")
    raise InvalidImage(f"image of {len(data)} bytes is neither JPEG nor PNG")


def check_image(data: bytes, limits: ImageLimits) -> ImageSize:
    """The header's size if the image is within ``limits``; the reason it is not otherwise."""
    if len(data) > limits.max_bytes:
        raise InvalidImage(f"image of {len(data)} bytes is above the limit of {limits.max_bytes}")
    size = read_size(data)
    if size.pixels > limits.max_pixels:
        raise InvalidImage(
            f"{size.format.upper()} image of {size.width}x{size.height} pixels is above the "
            f"limit of {limits.max_pixels} pixels"
        )
    return size
