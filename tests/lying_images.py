"""Small, valid images whose headers lie about their size: what a hostile client sends to make a server decode
gigapixels. Shared by the bad-input tests and the fuzzer."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from dccbridge.imaging import encode_jpeg, encode_png


def png_claiming(width: int, height: int, array=None) -> bytes:
    """A small valid PNG whose IHDR was rewritten to claim width x height (CRC fixed, so only the size lies)."""
    return _claiming(encode_png(np.zeros((8, 8, 3), np.uint8) if array is None else array), width, height)


def png16_claiming(width: int, height: int) -> bytes:
    """The same for a single-channel 16-bit PNG (a depth pass)."""
    ok, buf = cv2.imencode(".png", np.full((8, 8), 1000, np.uint16))
    assert ok
    return _claiming(buf.tobytes(), width, height)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF0 marker claims width x height."""
    data = bytearray(encode_jpeg(np.zeros((8, 8, 3), np.uint8)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _claiming(png: bytes, width: int, height: int) -> bytes:
    data = bytearray(png)
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)
