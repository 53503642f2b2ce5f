"""Image bytes <-> pixels, shared by ops, control prep and the clients' Python side.

PNG encoding uses OpenCV at a low compression level (fast path for large results) and
inserts text chunks (provenance) by hand, since OpenCV cannot write them.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from .errors import InvalidInput

MIME_BY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"RIFF", "image/webp"),
)
SUPPORTED_MIME = ("image/png", "image/jpeg", "image/webp")


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
    """Encode uint8 RGB/RGBA/L pixels as PNG, with optional tEXt/iTXt chunks."""
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"encode_png wants uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    # Run-length matching only (zlib's Z_RLE): much faster than full LZ77 at level 1 and, on rendered images
    # with grain, no larger -- see docs/benchmarks.md. Level 9 (docs figures) keeps the default strategy.
    strategy = cv2.IMWRITE_PNG_STRATEGY_RLE if compression <= 1 else cv2.IMWRITE_PNG_STRATEGY_DEFAULT
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, compression,
                                            cv2.IMWRITE_PNG_STRATEGY, strategy])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    png = buf.tobytes()
    return insert_png_text(png, text) if text else png


def encode_jpeg(pixels: np.ndarray, quality: int = 80) -> bytes:
    bgr = cv2.cvtColor(np.ascontiguousarray(pixels[:, :, :3]), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def insert_png_text(png: bytes, text: dict[str, str]) -> bytes:
    """Insert text chunks right after IHDR (iTXt, UTF-8, uncompressed; A1111 reads 'parameters')."""
    ihdr_end = 8 + 4 + 4 + 13 + 4
    chunks = b"".join(
        _chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))
        for key, value in text.items()
    )
    return png[:ihdr_end] + chunks + png[ihdr_end:]


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
