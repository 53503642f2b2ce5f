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


EXR_MAGIC = b"\x76\x2f\x31\x01"
EXR_DTYPES = {0: "<u4", 1: "<f2", 2: "<f4"}        # OpenEXR pixel types UINT, HALF, FLOAT


def exr_channels(data: bytes) -> dict:
    """The channels of an uncompressed single-part scanline OpenEXR file (what Blender writes with codec NONE)
    as {name: float32 (height, width)}, top row first. Enough for render passes; anything else is refused."""
    if data[:4] != EXR_MAGIC:
        raise ValueError("not an OpenEXR file")
    flags = struct.unpack_from("<I", data, 4)[0] >> 8
    if flags & (0x02 | 0x08 | 0x10):
        raise ValueError("tiled, deep or multi-part OpenEXR is not supported here")
    pos, header = 8, {}
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        size = struct.unpack_from("<i", data, type_end + 1)[0]
        header[data[pos:name_end].decode()] = data[type_end + 5:type_end + 5 + size]
        pos = type_end + 5 + size
    pos += 1
    if header["compression"][0] != 0:
        raise ValueError(f"OpenEXR compression {header['compression'][0]} is not supported here (write codec NONE)")
    channels, chlist = [], header["channels"]
    at = 0
    while chlist[at] != 0:
        end = chlist.index(b"\0", at)
        pixel_type = struct.unpack_from("<i", chlist, end + 1)[0]
        channels.append((chlist[at:end].decode(), np.dtype(EXR_DTYPES[pixel_type])))
        at = end + 1 + 16
    xmin, ymin, xmax, ymax = struct.unpack("<4i", header["dataWindow"])
    width, height = xmax - xmin + 1, ymax - ymin + 1
    offsets = np.frombuffer(data, "<u8", count=height, offset=pos)
    planes = {name: np.empty((height, width), np.float32) for name, _ in channels}
    for offset in offsets.tolist():
        y, _size = struct.unpack_from("<ii", data, offset)
        at = offset + 8
        for name, dtype in channels:
            planes[name][y - ymin] = np.frombuffer(data, dtype, count=width, offset=at)
            at += width * dtype.itemsize
    return planes


def depth_from_exr(data: bytes, layer: str = "") -> np.ndarray:
    """The depth pass of a render's multilayer EXR (channel "<view layer>.Depth.Z"), top row first, NaN -> +inf."""
    planes = exr_channels(data)
    depth = [n for n in planes if n.endswith(".Depth.Z")]
    name = f"{layer}.Depth.Z" if f"{layer}.Depth.Z" in planes else (depth[0] if len(depth) == 1 else None)
    if name is None:
        raise ValueError(f"the render has no depth pass for view layer '{layer}' (channels: {', '.join(planes)})")
    plane = planes[name]
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
