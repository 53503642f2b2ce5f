// "Extend canvas": the document's merged image extended by margins on the server (OutpaintTask), then ONE edit
// that grows the canvas and places the result as a layer covering it. The server pads the margins so the result
// is a multiple of 8 and reports where the original sits (extra_json: offset_x/offset_y, width/height); the
// canvas grows by exactly that, so every existing layer keeps its pixels and the result lines up with them.
//
// Two targets (form.extendTarget) and three kinds of extent (form.extendExtent):
//   "canvas"    grows the document: by the margins, or to an aspect ratio (sent as OutpaintTask.aspect + anchor;
//               the server computes the margins, as aspectMargins below does for the panel's preview);
//   "selection" fills BEYOND THE SELECTION inside the canvas: the merged pixels under the selection's bounds are
//               extended by the margins (clamped to the canvas), to the canvas edges, or to an aspect ratio (refused
//               when the canvas has no room for it); the result is one layer placed so the original lines up, cut
//               to the selection's bounds plus those margins (the server pads to a multiple of 8; that extra is
//               dropped), the document keeps its size.
import { cut, intersect, rect } from "../math/region.js";
import { Anchor, BridgeError, OutpaintFill } from "../transport/bridge.js";

export const OUTPAINT_FILLS = { edge: OutpaintFill.EDGE, telea: OutpaintFill.INPAINT_TELEA, ns: OutpaintFill.INPAINT_NS };

const margin = (value) => Math.max(0, Math.floor(Number(value) || 0));

/** The OutpaintTask fields for the form's margins (document pixels) and fill; the image is added by the caller. */
export function outpaintFields(form) {
  const margins = { left: margin(form.extendLeft), top: margin(form.extendTop), right: margin(form.extendRight), bottom: margin(form.extendBottom) };
  if (!margins.left && !margins.top && !margins.right && !margins.bottom) {
    throw new BridgeError("invalid_argument", "set at least one margin to extend the canvas by");
  }
  return { extent: { case: "margins", value: margins }, ...fillFields(form) };
}

/** The fill and feather ("" = the server's default band) of the form. */
export function fillFields(form) {
  const fields = { fill: OUTPAINT_FILLS[form.extendFill] ?? OutpaintFill.EDGE };
  if (form.extendFeather !== "" && form.extendFeather != null) fields.feather = margin(form.extendFeather);
  return fields;
}

/** The result's placement (its extra_json) as the canvas growth: the new size, where the old canvas goes in it, and
 * the size the document must still have (the host refuses the edit otherwise). */
export function canvasGrowth(result, doc) {
  let placed;
  try {
    placed = JSON.parse(result.extraJson || "");
  } catch {
    throw new BridgeError("data_loss", "the outpaint result has no placement (extra_json)");
  }
  const { offset_x: offsetX, offset_y: offsetY, width, height, original_width: ow, original_height: oh } = placed;
  if (ow !== doc.width || oh !== doc.height) {
    throw new BridgeError("failed_precondition", `the document is ${doc.width}x${doc.height} now, the job extended ${ow}x${oh}`);
  }
  return { width, height, offsetX, offsetY, fromWidth: ow, fromHeight: oh };
}

// -- target aspect and fill beyond the selection ------------------------------------------------------------

/** The panel's aspect menu (width:height); "margins" and "edges" are the other extents. */
export const ASPECTS = ["16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16"];
export const ANCHORS = {
  center: Anchor.CENTER, top_left: Anchor.TOP_LEFT, top: Anchor.TOP, top_right: Anchor.TOP_RIGHT, left: Anchor.LEFT,
  right: Anchor.RIGHT, bottom_left: Anchor.BOTTOM_LEFT, bottom: Anchor.BOTTOM, bottom_right: Anchor.BOTTOM_RIGHT,
};
// The original's share (0, 0.5, 1) of the horizontal and vertical growth that goes left / top (ops/canvas.py).
const ANCHOR_SHARES = {
  center: [0.5, 0.5], top_left: [0, 0], top: [0.5, 0], top_right: [1, 0], left: [0, 0.5], right: [1, 0.5],
  bottom_left: [0, 1], bottom: [0.5, 1], bottom_right: [1, 1],
};

/** "16:9" -> {width: 16, height: 9}; null for anything else (the margins or edges extents). */
export function parseAspect(text) {
  const match = /^\s*(\d+)\s*[:x/]\s*(\d+)\s*$/.exec(String(text ?? ""));
  if (!match) return null;
  const [width, height] = [Number(match[1]), Number(match[2])];
  if (width < 1 || height < 1 || width > 100 || height > 100) throw new BridgeError("invalid_argument", `aspect terms must be 1..100, got ${text}`, "aspect");
  return { width, height };
}

// Python's round() (half to even): the server's rule for splitting an odd growth.
const roundHalfEven = (x) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));

/** The margins that grow width x height's shorter dimension to the aspect, split by the anchor, as the server does. */
export function aspectMargins(width, height, aspect, anchor = "center") {
  const growX = Math.max(0, Math.ceil((height * aspect.width) / aspect.height) - width);
  const growY = growX ? 0 : Math.max(0, Math.ceil((width * aspect.height) / aspect.width) - height);
  const [shareX, shareY] = ANCHOR_SHARES[anchor] ?? ANCHOR_SHARES.center;
  const left = roundHalfEven(growX * shareX), top = roundHalfEven(growY * shareY);
  return { left, top, right: growX - left, bottom: growY - top };
}

/** The server's layout: margins padded so the result is a multiple of 8 (extra on the grown side, right/bottom first). */
export function paddedLayout(width, height, margins, multiple = 8) {
  const pad = (size, before, after) => {
    const extra = (((-(size + before + after)) % multiple) + multiple) % multiple;
    return before && !after ? [before + extra, after] : [before, after + extra];
  };
  const [left, right] = pad(width, margins.left, margins.right);
  const [top, bottom] = pad(height, margins.top, margins.bottom);
  return { left, top, right, bottom, width: left + width + right, height: top + height + bottom };
}

const formMargins = (form) => ({ left: margin(form.extendLeft), top: margin(form.extendTop), right: margin(form.extendRight), bottom: margin(form.extendBottom) });

/** What the form asks for, before any request: {margins} or {aspect, anchor} for the area (w x h), and the room
 * around it (null = unbounded: the canvas grows). Throws a BridgeError naming the field when it cannot be done. */
export function planExtent(form, width, height, room = null) {
  const extent = form.extendExtent || "margins";
  const anchor = ANCHORS[form.extendAnchor] ? form.extendAnchor : "center";
  if (extent === "edges") {
    if (!room) throw new BridgeError("invalid_argument", "\"to the canvas edges\" fills beyond a selection; choose Fill beyond the selection, or margins / an aspect", "extent");
    return nonEmpty({ margins: { ...room } }, "the selection already touches every canvas edge");
  }
  const aspect = parseAspect(extent);
  if (aspect) {
    const margins = aspectMargins(width, height, aspect, anchor);
    if (!margins.left && !margins.top && !margins.right && !margins.bottom) {
      throw new BridgeError("invalid_argument", `the ${room ? "selection" : "document"} (${width}x${height}) already has the aspect ${extent}`, "aspect");
    }
    const short = room && Object.keys(margins).find((side) => margins[side] > room[side]);
    if (short) {
      throw new BridgeError("invalid_argument", `aspect ${extent} needs ${margins[short]} px ${short} of the selection, the canvas has ${room[short]} (grow the canvas instead, or another anchor)`, "aspect");
    }
    return { margins, aspect, anchor };
  }
  const asked = formMargins(form);
  if (!room) return nonEmpty({ margins: asked }, "set at least one margin to extend the canvas by");
  const margins = Object.fromEntries(Object.entries(asked).map(([side, px]) => [side, Math.min(px, room[side])]));
  const clamped = Object.keys(asked).filter((side) => asked[side] > room[side]);
  return nonEmpty({ margins, clamped }, "set a margin on a side where the canvas has room beyond the selection");
}

function nonEmpty(plan, message) {
  const { left, top, right, bottom } = plan.margins;
  if (!left && !top && !right && !bottom) throw new BridgeError("invalid_argument", message, "margins");
  return plan;
}

/** The OutpaintTask's extent for a plan: the aspect itself when the canvas grows (the server's rule), else margins. */
export function extentFields(plan, growCanvas) {
  if (plan.aspect && growCanvas) return { extent: { case: "aspect", value: plan.aspect }, anchor: ANCHORS[plan.anchor] };
  return { extent: { case: "margins", value: plan.margins } };
}

/** The room between a rect and the canvas edges, per side. */
export const roomAround = (area, docWidth, docHeight) => ({
  left: area.left, top: area.top, right: docWidth - area.left - area.width, bottom: docHeight - area.top - area.height,
});

/** A result extended around `area` (the selection's bounds) as a layer in document pixels: shifted by the server's
 * offset so the original lines up, cut to the area and the margins asked for (the server's padding to a multiple
 * of 8 is dropped, so nothing past the request is repainted), which lie inside the canvas. */
export function placeBeyond(decoded, result, { area, margins, docWidth, docHeight }) {
  const placed = canvasGrowth(result, { width: area.width, height: area.height });
  const full = rect(area.left - placed.offsetX, area.top - placed.offsetY, placed.width, placed.height);
  const asked = rect(area.left - margins.left, area.top - margins.top, area.width + margins.left + margins.right, area.height + margins.top + margins.bottom);
  const bounds = intersect(intersect(full, asked), rect(0, 0, docWidth, docHeight));
  if (decoded.width !== placed.width || decoded.height !== placed.height) {
    throw new BridgeError("data_loss", `the result is ${decoded.width}x${decoded.height}, its placement says ${placed.width}x${placed.height}`);
  }
  return { bounds, rgba: cut(decoded, bounds.left - full.left, bounds.top - full.top, bounds.width, bounds.height) };
}

/** The label, task fields and placement of the form's Extend (target canvas or selection) for a document. */
export async function extendRequest(doc, form, { selectionBounds, readMerged }) {
  if (form.extendTarget === "selection") {
    if (!selectionBounds) throw new BridgeError("failed_precondition", "make a selection first: its content is extended beyond it");
    const area = selectionBounds;
    const plan = planExtent(form, area.width, area.height, roomAround(area, doc.width, doc.height));
    return {
      plan, fields: { ...extentFields(plan, false), image: await readMerged(area) },
      placement: { docId: doc.id, beyond: { area, margins: plan.margins, docWidth: doc.width, docHeight: doc.height } },
    };
  }
  const plan = planExtent(form, doc.width, doc.height);
  return {
    plan, fields: { ...extentFields(plan, true), image: await readMerged(rect(0, 0, doc.width, doc.height)) },
    placement: { docId: doc.id, anchor: { left: 0, top: 0 }, growCanvas: { width: doc.width, height: doc.height } },
  };
}

export const extendLabel = (form) => (form.extendTarget === "selection" ? "fill beyond selection" : "extend canvas");

/** One line for the panel: what Extend will do with the document / selection as it is now, or why it cannot. */
export function extendPreview(form, doc) {
  if (!doc) return "No document open";
  const beyond = form.extendTarget === "selection";
  const area = beyond ? doc.selection : rect(0, 0, doc.width, doc.height);
  if (!area) return "Make a selection: its content is extended beyond it, inside the canvas";
  try {
    const plan = planExtent(form, area.width, area.height, beyond ? roomAround(area, doc.width, doc.height) : null);
    const sides = Object.entries(plan.margins).filter(([, px]) => px).map(([side, px]) => `+${px} ${side}`).join(", ");
    if (beyond) return `Selection ${area.width} × ${area.height} → ${area.width + plan.margins.left + plan.margins.right} × ${area.height + plan.margins.top + plan.margins.bottom} px (${sides}${plan.clamped?.length ? `; ${plan.clamped.join(", ")} clamped to the canvas` : ""})`;
    const grown = paddedLayout(doc.width, doc.height, plan.margins);
    return `Canvas ${doc.width} × ${doc.height} → ${grown.width} × ${grown.height} px (${sides}; sizes are multiples of 8)`;
  } catch (error) {
    return error.message;
  }
}
