"""Pixel and depth buffers between Blender's layout and the wire's. numpy only, no bpy.

Blender: Image.pixels is a flat float RGBA array, bottom row first. The wire: top row first;
DepthPass.float32_le = width*height little-endian float32, row-major.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

# Host "infinity" for the background: Cycles writes 1e10, Eevee 65504. Both are >= far and count as background
# on the server when far is sent; NaN is refused by the server, so it becomes +inf here.


def blender_rgba(flat, width: int, height: int) -> np.ndarray:
    """Image.pixels (flat, bottom row first) -> float32 (height, width, 4), top row first."""
    return np.asarray(flat, dtype=np.float32).reshape(height, width, 4)[::-1]


def depth_plane(flat, width: int, height: int) -> np.ndarray:
    """The first channel of an EXR depth image's pixels -> float32 (height, width), top row first, NaN -> +inf."""
    plane = np.ascontiguousarray(blender_rgba(flat, width, height)[:, :, 0], dtype=np.float32)
    plane[np.isnan(plane)] = np.inf
    return plane


def depth_bytes(plane: np.ndarray) -> bytes:
    """float32 little-endian bytes, row-major, top row first."""
    return np.ascontiguousarray(plane, dtype="<f4").tobytes()


def depth_from_bytes(data: bytes, width: int, height: int) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").reshape(height, width)


def to_rgba8(rgba: np.ndarray) -> np.ndarray:
    """Float RGBA in [0, 1] (already display-encoded) -> uint8."""
    return (np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode_png(rgba8: np.ndarray) -> bytes:
    """A minimal PNG encoder (8-bit RGBA, or RGB for 3 channels), so an image can be sent without touching disk
    or the scene's colour management."""
    height, width, channels = rgba8.shape
    color_type = {3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + np.ascontiguousarray(rgba8[row]).tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(b"\x89PNG"):
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def round_size(width: int, height: int, multiple: int = 8) -> tuple[int, int]:
    """Nearest multiples of `multiple` (at least one multiple)."""
    def r(v):
        return max(multiple, int(round(v / multiple)) * multiple)
    return r(width), r(height)
