"""Image bytes <-> pixels, shared by ops, control prep and the clients' Python side.

PNG encoding uses OpenCV at a low compression level (fast path for large results) and
inserts text chunks (provenance) by hand, since OpenCV cannot write them.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from PIL import JpegImagePlugin, WebPImagePlugin

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


# The default pixel budget of a decoded input (ops pass the server's Limits). OpenCV refuses more than 2^30 pixels
# (CV_IO_MAX_IMAGE_PIXELS), so no budget may go above that.
DEFAULT_MAX_INPUT_PIXELS = 4096 * 4096
DECODER_MAX_PIXELS = 1 << 30
PNG_IHDR = b"IHDR"


def image_size(data: bytes, field: str) -> tuple[int, int]:
    """(width, height) read from the header alone -- nothing is decoded, so a file claiming 100000 x 100000
    pixels costs nothing. Raises InvalidInput(field) for bytes that are not a readable PNG, JPEG or WebP header."""
    mime = _require_known_format(data, field)
    try:
        if mime == "image/png":
            if data[12:16] != PNG_IHDR:
                raise ValueError("no IHDR chunk")
            width, height = struct.unpack(">II", data[16:24])
        else:
            # The format plugins read only the header (Image.open would also apply PIL's global bomb check).
            plugin = JpegImagePlugin.JpegImageFile if mime == "image/jpeg" else WebPImagePlugin.WebPImageFile
            with plugin(io.BytesIO(data)) as header:
                width, height = header.size
    except Exception:  # noqa: BLE001 - any parser error on hostile bytes is the client's
        raise InvalidInput(field, "image header is corrupt or truncated (send PNG, JPEG or WebP bytes)") from None
    if width < 1 or height < 1:
        raise InvalidInput(field, f"image header says {width}x{height} pixels; an image needs at least 1x1")
    return width, height


def check_pixel_budget(width: int, height: int, field: str, max_pixels: int) -> None:
    """Refuse an image above the budget -- from its header, before any memory is spent on its pixels."""
    if width * height > max_pixels:
        raise InvalidInput(field, f"is {width}x{height} = {width * height} pixels; this server decodes inputs of "
                                  f"at most {max_pixels} pixels (about {math.isqrt(max_pixels)}x"
                                  f"{math.isqrt(max_pixels)})")


def decode_image(data: bytes, field: str, *, mode: str = "RGB",
                 max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> np.ndarray:
    """Decode PNG/JPEG/WebP bytes to uint8 pixels: HxWx3 RGB, HxWx4 RGBA or HxW ("L").

    The header's size is checked against max_pixels first. Raises InvalidInput(field) for empty, unknown, corrupt
    or too large data; no decoder error escapes.
    """
    width, height = image_size(data, field)
    check_pixel_budget(width, height, field, max_pixels)
    decoded = imdecode(data, field)
    if decoded.shape[0] * decoded.shape[1] > max_pixels:  # a header that lied
        check_pixel_budget(decoded.shape[1], decoded.shape[0], field, max_pixels)
    if decoded.dtype == np.uint16:
        decoded = (decoded >> 8).astype(np.uint8)
    return _convert(decoded, mode)


def imdecode(data: bytes, field: str) -> np.ndarray:
    """OpenCV's decode (IMREAD_UNCHANGED); its errors on bad bytes become InvalidInput(field). Call it only after
    the header's size was checked (image_size + check_pixel_budget)."""
    try:
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        decoded = None
    if decoded is None or decoded.size == 0:
        raise InvalidInput(field, "image bytes are corrupt or truncated")
    return decoded


def _require_known_format(data: bytes, field: str) -> str:
    if not data:
        raise InvalidInput(field, "image is empty; send PNG, JPEG or WebP bytes")
    mime = sniff_mime(data)
    if not mime:
        raise InvalidInput(field, "not a PNG, JPEG or WebP image (unrecognised bytes)")
    return mime


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
