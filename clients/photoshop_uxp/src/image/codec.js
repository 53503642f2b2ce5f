// PNG encode/decode and base64 in pure JavaScript (UXP has no Node zlib, no Buffer): fast-png (fflate inside).
import { convertIndexedToRgb, decode, encode } from "fast-png";

import { buffer } from "../math/region.js";

/** {width, height, channels (1..4), data: Uint8Array} -> PNG bytes (8-bit). */
export function encodePNG(buf) {
  return encode({ width: buf.width, height: buf.height, data: buf.data, channels: buf.channels, depth: 8 });
}

/** An 8-bit gray buffer as a 16-bit gray PNG (value * 257), for a normalised depth pass. */
export function encodePNG16(gray) {
  const data = new Uint16Array(gray.width * gray.height);
  for (let i = 0; i < data.length; i++) data[i] = gray.data[i] * 257;
  return encode({ width: gray.width, height: gray.height, data, channels: 1, depth: 16 });
}

/** PNG bytes -> an 8-bit buffer with 1..4 channels (palettes expanded, 16-bit reduced). */
export function decodePNG(bytes) {
  const png = decode(bytes);
  let data = png.data;
  let channels = png.channels;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.transparency ? 4 : 3;
  } else if (png.depth === 16) {
    data = Uint8Array.from(data, (v) => v >> 8);
  } else if (png.depth < 8) {
    const max = (1 << png.depth) - 1;
    data = Uint8Array.from(data, (v) => Math.round((v * 255) / max));
  }
  return buffer(png.width, png.height, channels, data instanceof Uint8Array ? data : Uint8Array.from(data));
}

export const isPNG = (bytes) =>
  bytes?.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LOOKUP = new Uint8Array(256);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function toBase64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i], b = bytes[i + 1] ?? 0, c = bytes[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? ALPHABET[n & 63] : "=";
  }
  return out;
}

export function fromBase64(text) {
  const clean = text.replace(/[^A-Za-z0-9+/]/g, "");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < clean.length; i += 4) {
    const n = (LOOKUP[clean.charCodeAt(i)] << 18) | (LOOKUP[clean.charCodeAt(i + 1)] << 12) |
      ((LOOKUP[clean.charCodeAt(i + 2)] || 0) << 6) | (LOOKUP[clean.charCodeAt(i + 3)] || 0);
    out[o++] = n >> 16;
    if (i + 2 < clean.length) out[o++] = (n >> 8) & 255;
    if (i + 3 < clean.length) out[o++] = n & 255;
  }
  return out.subarray(0, o);
}

/** Image bytes -> a data: URL for an <img> (progress previews are JPEG). */
export function dataUrl(bytes, mime) {
  const type = mime || (isPNG(bytes) ? "image/png" : "image/jpeg");
  return `data:${type};base64,${toBase64(bytes)}`;
}
