// Selection -> request crop -> placement, as pure functions of plain numbers. No Photoshop, no network.
//
// A rect is {left, top, width, height} in document PIXELS (integers). Photoshop reports bounds as descriptors
// ({_unit: "pixelsUnit" | "distanceUnit" | ..., _value}); unitToPixels turns them into pixels using the
// document's resolution, because a 300 ppi document reports points (1/72 inch), not pixels, in some places.

export const SIZE_MULTIPLE = 8;

export const ceilTo = (n, multiple = SIZE_MULTIPLE) => Math.ceil(n / multiple) * multiple;

export const rect = (left, top, width, height) => ({ left, top, width, height });
export const right = (r) => r.left + r.width;
export const bottom = (r) => r.top + r.height;
export const isEmpty = (r) => !r || r.width <= 0 || r.height <= 0;
export const sameRect = (a, b) =>
  a.left === b.left && a.top === b.top && a.width === b.width && a.height === b.height;

/** A Photoshop distance (a number of pixels, or an action descriptor with a unit) in pixels. */
export function unitToPixels(value, resolution = 72) {
  if (typeof value === "number") return value;
  if (value == null || typeof value._value !== "number") throw new Error(`not a distance: ${JSON.stringify(value)}`);
  const v = value._value;
  switch (value._unit) {
    case "pixelsUnit":
      return v;
    case "distanceUnit": // points, 1/72 inch
    case "pointsUnit":
      return (v * resolution) / 72;
    case "rulerInches":
      return v * resolution;
    case "rulerCm":
      return (v * resolution) / 2.54;
    case "rulerMillimeters":
      return (v * resolution) / 25.4;
    default:
      throw new Error(`cannot convert unit ${value._unit} to pixels`);
  }
}

/** Pixels as the point value Photoshop expects where a command takes "distanceUnit". */
export const pixelsToPoints = (px, resolution = 72) => (px * 72) / resolution;

/**
 * Bounds {left, top, right, bottom} (numbers or unit descriptors) -> an integer pixel rect that covers them.
 * Sub-pixel edges (anti-aliased selections, non-72-ppi rounding) grow outwards so no selected pixel is lost.
 */
export function boundsToRect(bounds, resolution = 72) {
  const px = (k) => unitToPixels(bounds[k], resolution);
  const eps = 1e-6; // 99.99999 px from a points round trip is 100 px, not 101
  const left = Math.floor(px("left") + eps);
  const top = Math.floor(px("top") + eps);
  const r = Math.ceil(px("right") - eps);
  const b = Math.ceil(px("bottom") - eps);
  return rect(left, top, r - left, b - top);
}

export function intersect(a, b) {
  const left = Math.max(a.left, b.left);
  const top = Math.max(a.top, b.top);
  const w = Math.min(right(a), right(b)) - left;
  const h = Math.min(bottom(a), bottom(b)) - top;
  return w > 0 && h > 0 ? rect(left, top, w, h) : null;
}

/**
 * Grow [lo, hi) to a length that is a multiple of `multiple`: half of the growth before, half after, inside
 * [0, limit) while there is room; what the canvas cannot give is added after `limit` (filled by edge
 * replication when read). Never shrinks, never moves the original span.
 */
export function expandSpan(lo, hi, limit, multiple = SIZE_MULTIPLE) {
  let extra = ceilTo(hi - lo, multiple) - (hi - lo);
  const before = Math.min(Math.floor(extra / 2), lo);
  lo -= before;
  extra -= before;
  const after = Math.min(extra, Math.max(0, limit - hi));
  hi += after;
  extra -= after;
  const more = Math.min(extra, lo);
  lo -= more;
  extra -= more;
  hi += extra; // beyond the canvas
  return [lo, hi];
}

/**
 * The request region for a selection.
 * - place: where the result goes = the selection's bounds, clamped to the canvas (exactly that, always);
 * - crop:  what is sent = place grown by `padding` (inside the canvas), then to multiples of 8;
 * - offset: place's top-left inside crop.
 * Without a selection the whole canvas is the selection.
 */
export function planRegion({ selection, docWidth, docHeight, padding = 0, multiple = SIZE_MULTIPLE }) {
  if (!(docWidth > 0 && docHeight > 0)) throw new Error("the document has no size");
  const canvas = rect(0, 0, docWidth, docHeight);
  const place = selection ? intersect(selection, canvas) : canvas;
  if (isEmpty(place)) throw new Error("the selection lies outside the canvas");
  const pad = Math.max(0, Math.floor(padding));
  let [l, r] = [Math.max(0, place.left - pad), Math.min(docWidth, right(place) + pad)];
  let [t, b] = [Math.max(0, place.top - pad), Math.min(docHeight, bottom(place) + pad)];
  [l, r] = expandSpan(l, r, docWidth, multiple);
  [t, b] = expandSpan(t, b, docHeight, multiple);
  const crop = rect(l, t, r - l, b - t);
  return { crop, place, offset: { x: place.left - l, y: place.top - t } };
}

/** txt2img at document size: the size sent (multiples of 8, never smaller) and the doc rect placed back. */
export function planDocument(docWidth, docHeight, multiple = SIZE_MULTIPLE) {
  const place = rect(0, 0, docWidth, docHeight);
  return { crop: rect(0, 0, ceilTo(docWidth, multiple), ceilTo(docHeight, multiple)), place, offset: { x: 0, y: 0 } };
}

// -- pixel buffers: {width, height, channels, data: Uint8Array} ---------------------------------------------

export const buffer = (width, height, channels, data) => ({
  width,
  height,
  channels,
  data: data ?? new Uint8Array(width * height * channels),
});

/**
 * Copy `piece` (a buffer whose top-left is at document position pieceRect) into a new buffer covering
 * `target` (document rect); pixels of target that piece does not cover stay 0 (transparent / unselected).
 */
export function composeInto(target, channels, pieceRect, piece) {
  const out = buffer(target.width, target.height, channels);
  if (!piece) return out;
  if (piece.channels !== channels) throw new Error(`expected ${channels} channels, got ${piece.channels}`);
  const common = intersect(target, pieceRect);
  if (!common) return out;
  for (let y = 0; y < common.height; y++) {
    const sy = common.top - pieceRect.top + y;
    const dy = common.top - target.top + y;
    const sx = (common.left - pieceRect.left) * channels;
    const row = piece.data.subarray(sy * piece.width * channels + sx, sy * piece.width * channels + sx + common.width * channels);
    out.data.set(row, (dy * target.width + common.left - target.left) * channels);
  }
  return out;
}

/** Fill the parts of buf (covering document rect `at`) that lie outside the canvas by repeating edge pixels. */
export function extendEdges(buf, at, docWidth, docHeight) {
  const inside = intersect(at, rect(0, 0, docWidth, docHeight));
  if (!inside || sameRect(inside, at)) return buf;
  const c = buf.channels;
  const x0 = inside.left - at.left, x1 = right(inside) - at.left - 1;
  const y0 = inside.top - at.top, y1 = bottom(inside) - at.top - 1;
  for (let y = 0; y < buf.height; y++) {
    const sy = Math.min(Math.max(y, y0), y1);
    for (let x = 0; x < buf.width; x++) {
      const sx = Math.min(Math.max(x, x0), x1);
      if (sx === x && sy === y) continue;
      const s = (sy * buf.width + sx) * c, d = (y * buf.width + x) * c;
      for (let k = 0; k < c; k++) buf.data[d + k] = buf.data[s + k];
    }
  }
  return buf;
}

/** The sub-rectangle (x, y, w, h) of a buffer. */
export function cut(buf, x, y, w, h) {
  const out = buffer(w, h, buf.channels);
  const c = buf.channels;
  for (let row = 0; row < h; row++) {
    const s = ((y + row) * buf.width + x) * c;
    out.data.set(buf.data.subarray(s, s + w * c), row * w * c);
  }
  return out;
}

/** Nearest-neighbour resize; used only if a server ever answers with another size than asked for. */
export function resizeNearest(buf, w, h) {
  if (buf.width === w && buf.height === h) return buf;
  const out = buffer(w, h, buf.channels);
  const c = buf.channels;
  for (let y = 0; y < h; y++) {
    const sy = Math.min(buf.height - 1, Math.floor(((y + 0.5) * buf.height) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(buf.width - 1, Math.floor(((x + 0.5) * buf.width) / w));
      const s = (sy * buf.width + sx) * c, d = (y * w + x) * c;
      for (let k = 0; k < c; k++) out.data[d + k] = buf.data[s + k];
    }
  }
  return out;
}

/**
 * The selection's 8-bit mask (values kept: feathered edges stay feathered) over the crop: 0 outside the
 * selection and outside the canvas. For the server white = repaint.
 */
export function maskForCrop(selection, crop) {
  if (!selection) {
    const full = buffer(crop.width, crop.height, 1);
    full.data.fill(255);
    return full;
  }
  return composeInto(crop, 1, selection.bounds, buffer(selection.bounds.width, selection.bounds.height, 1, selection.data));
}

/** The layer mask for the placed rect: the selection's values over `place` (all 255 without a selection). */
export function maskForPlace(selection, place) {
  return maskForCrop(selection, place);
}

/** A server result for `crop` -> the pixels for `place`, exactly place.width x place.height. */
export function resultForPlace(result, region) {
  const sized = resizeNearest(result, region.crop.width, region.crop.height);
  return cut(sized, region.offset.x, region.offset.y, region.place.width, region.place.height);
}

/** Any channel count -> RGBA (gray -> rgb, missing alpha -> 255). */
export function toRGBA(buf) {
  if (buf.channels === 4) return buf;
  const out = buffer(buf.width, buf.height, 4);
  const n = buf.width * buf.height, c = buf.channels;
  for (let i = 0; i < n; i++) {
    const s = i * c, d = i * 4;
    if (c >= 3) {
      out.data[d] = buf.data[s];
      out.data[d + 1] = buf.data[s + 1];
      out.data[d + 2] = buf.data[s + 2];
      out.data[d + 3] = c === 4 ? buf.data[s + 3] : 255;
    } else {
      out.data[d] = out.data[d + 1] = out.data[d + 2] = buf.data[s];
      out.data[d + 3] = c === 2 ? buf.data[s + 1] : 255;
    }
  }
  return out;
}

/** RGBA -> 8-bit luminance (Rec. 709), for a depth map taken from a layer. */
export function toGray(buf) {
  const rgba = toRGBA(buf);
  const out = buffer(buf.width, buf.height, 1);
  for (let i = 0; i < out.data.length; i++) {
    const s = i * 4;
    out.data[i] = Math.round(0.2126 * rgba.data[s] + 0.7152 * rgba.data[s + 1] + 0.0722 * rgba.data[s + 2]);
  }
  return out;
}
