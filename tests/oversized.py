"""Small payloads that declare huge images, built without ever holding the image in memory.

A one-colour PNG of 30000x30000 pixels weighs about 870 kB and decodes to 2.7 GB: the shape of
input that image-size checks must refuse from the header alone.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

_CHUNK = 1 << 24  # bytes of raw scanlines compressed at a time


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zeros_zlib(total: int) -> bytes:
    """A zlib stream of ``total`` zero bytes, compressed once per distinct chunk size.

    After a full flush the compressor starts afresh, so every full chunk compresses to the
    same bytes: the stream is that piece repeated, then a final empty block and the Adler-32 of
    all zeros (``a`` stays 1, ``b`` is the length), which needs no pass over the data.
    """
    compressor = zlib.compressobj(9)
    zeros = bytes(min(_CHUNK, total))
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    done = len(zeros)
    parts = [head]
    full = b""
    if total - done >= _CHUNK:
        full = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    while total - done >= _CHUNK:
        parts.append(full)
        done += _CHUNK
    if total > done:
        parts.append(compressor.compress(bytes(total - done)) + compressor.flush(zlib.Z_FULL_FLUSH))
    parts.append(b"\x03\x00")  # final fixed-Huffman block holding only its end code
    parts.append(struct.pack(">I", (total % 65521) << 16 | 1))
    return b"".join(parts)


def black_png(width: int, height: int) -> bytes:
    """A valid 8-bit grey PNG, all black: each scanline is a filter byte and ``width`` zeros."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = _zeros_zlib(height * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to declare ``width`` x ``height``."""
    ok, encoded = cv2.imencode(".jpg", np.zeros((16, 16, 3), dtype=np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)
