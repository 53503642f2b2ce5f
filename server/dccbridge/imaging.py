"""Image bytes <-> pixels, shared by ops, control prep and the clients' Python side.

PNG encoding uses OpenCV at a low compression level (fast path for large results) and
inserts text chunks (provenance) by hand, since OpenCV cannot write them.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .errors import InvalidInput

MIME_BY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"RIFF", "image/webp"),
)


def sniff_mime(data: bytes) -> str:
    for magic, mime in MIME_BY_MAGIC:
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return ""


def decode_image(data: bytes, field: str, *, mode: str = "RGB") -> np.ndarray:
    """Decode PNG/JPEG/WebP bytes to uint8 pixels: HxWx3 RGB, HxWx4 RGBA or HxW ("L").

    Raises InvalidInput(field) for empty, unknown or corrupt data.
    """
    if not data:
        raise InvalidInput(field, "image is empty; send PNG, JPEG or WebP bytes")
    if not sniff_mime(data):
        raise InvalidInput(field, "not a PNG, JPEG or WebP image (unrecognised bytes)")
    raw = np.frombuffer(data, dtype=np.uint8)
    decoded = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise InvalidInput(field, "image bytes are corrupt or truncated")
    if decoded.dtype == np.uint16:
        decoded = (decoded >> 8).astype(np.uint8)
    return _convert(decoded, mode)


def _convert(bgr_any: np.ndarray, mode: str) -> np.ndarray:
    if bgr_any.ndim == 2:
        gray = bgr_any
        if mode == "L":
            return gray
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        return rgb if mode == "RGB" else np.dstack([rgb, np.full_like(gray, 255)])
    channels = bgr_any.shape[2]
    if channels == 4:
        rgba = cv2.cvtColor(bgr_any, cv2.COLOR_BGRA2RGBA)
        if mode == "RGBA":
            return rgba
        rgb = np.ascontiguousarray(rgba[:, :, :3])
        return rgb if mode == "RGB" else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgb = cv2.cvtColor(bgr_any[:, :, :3], cv2.COLOR_BGR2RGB)
    if mode == "RGB":
        return rgb
    if mode == "L":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def encode_png(pixels: np.ndarray, text: dict[str, str] | None = None, compression: int = 1) -> bytes:
    """Encode uint8 RGB/RGBA/L pixels as PNG, with optional text chunks (iTXt, UTF-8).

    compression <= 1 is the fast path every result takes (see docs/benchmarks.md); higher levels (docs figures)
    go through OpenCV for the smallest files.
    """
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"encode_png wants uint8 pixels, got {pixels.dtype}")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in PNG_COLOR_TYPE:
        raise ValueError(f"encode_png wants 1, 3 or 4 channels, got {channels}")
    if compression <= 1:
        idat = _deflate_in_parallel(pixels, channels)
    else:
        idat = _cv2_png_idat(pixels, channels, compression)
    height, width = pixels.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, 8, PNG_COLOR_TYPE[channels], 0, 0, 0)
    text_chunks = b"".join(_text_chunk(key, value) for key, value in (text or {}).items())
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + text_chunks + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # grey, RGB, RGBA
PNG_FILTER_UP = 2
# zlib releases the GIL while it compresses, so strips deflate on all cores at once.
DEFLATE_THREADS = min(8, os.cpu_count() or 1)
_DEFLATE_POOL = ThreadPoolExecutor(max_workers=DEFLATE_THREADS, thread_name_prefix="dccbridge-png")


def _deflate_in_parallel(pixels: np.ndarray, channels: int) -> bytes:
    """The zlib stream of an IDAT, pigz-style: each strip of rows is deflated on its own thread and ends on a
    full flush, so the strips concatenate into one valid stream. Rows use PNG's "Up" filter (a vectorised
    difference with the row above) and zlib's run-length strategy at level 1: several times faster than
    libpng's adaptive filters with LZ77, and about as small on rendered images with grain."""
    height = pixels.shape[0]
    rows = pixels.reshape(height, -1)
    stride = rows.shape[1] + 1
    filtered = np.empty((height, stride), np.uint8)
    filtered[:, 0] = PNG_FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps, as the filter wants
    data = memoryview(filtered).cast("B")
    strips = max(1, min(DEFLATE_THREADS, height // 64))
    bounds = [height * i // strips * stride for i in range(strips + 1)]

    def deflate(strip: int) -> bytes:
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
        body = compressor.compress(data[bounds[strip]:bounds[strip + 1]])
        return body + compressor.flush(zlib.Z_FINISH if strip == strips - 1 else zlib.Z_FULL_FLUSH)

    deflated = b"".join(_DEFLATE_POOL.map(deflate, range(strips)))
    return b"\x78\x01" + deflated + struct.pack(">I", zlib.adler32(data))


def _cv2_png_idat(pixels: np.ndarray, channels: int, compression: int) -> bytes:
    """OpenCV's (libpng's) IDAT data at a given level."""
    if channels == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    png = buf.tobytes()
    idat, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        if png[pos + 4:pos + 8] == b"IDAT":
            idat.append(png[pos + 8:pos + 8 + length])
        pos += 12 + length
    return b"".join(idat)


def encode_jpeg(pixels: np.ndarray, quality: int = 80) -> bytes:
    bgr = cv2.cvtColor(np.ascontiguousarray(pixels[:, :, :3]), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _text_chunk(key: str, value: str) -> bytes:
    """An uncompressed UTF-8 iTXt chunk (A1111-style tools read the 'parameters' key)."""
    return _chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


def read_png_text(png: bytes) -> dict[str, str]:
    """Read tEXt/iTXt chunks from PNG bytes."""
    out: dict[str, str] = {}
    pos = 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        payload = png[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = payload.partition(b"\x00")
            out[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = payload.partition(b"\x00")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\x00")
            _translated, _, value = rest.partition(b"\x00")
            out[key.decode("latin-1")] = (zlib.decompress(value) if compressed else value).decode("utf-8")
        elif kind == b"IEND":
            break
        pos += 12 + length
    return out


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area filtering when shrinking and cubic when enlarging."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_CUBIC
    return cv2.resize(pixels, (width, height), interpolation=interp)
