// "Extend canvas": the document's merged image extended by margins on the server (OutpaintTask), then ONE edit
// that grows the canvas and places the result as a layer covering it. The server pads the margins so the result
// is a multiple of 8 and reports where the original sits (extra_json: offset_x/offset_y, width/height); the
// canvas grows by exactly that, so every existing layer keeps its pixels and the result lines up with them.
import { BridgeError, OutpaintFill } from "../transport/bridge.js";

export const OUTPAINT_FILLS = { edge: OutpaintFill.EDGE, telea: OutpaintFill.INPAINT_TELEA, ns: OutpaintFill.INPAINT_NS };

const margin = (value) => Math.max(0, Math.floor(Number(value) || 0));

/** The OutpaintTask fields for the form's margins (document pixels) and fill; the image is added by the caller. */
export function outpaintFields(form) {
  const margins = { left: margin(form.extendLeft), top: margin(form.extendTop), right: margin(form.extendRight), bottom: margin(form.extendBottom) };
  if (!margins.left && !margins.top && !margins.right && !margins.bottom) {
    throw new BridgeError("invalid_argument", "set at least one margin to extend the canvas by");
  }
  const fields = { extent: { case: "margins", value: margins }, fill: OUTPAINT_FILLS[form.extendFill] ?? OutpaintFill.EDGE };
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
