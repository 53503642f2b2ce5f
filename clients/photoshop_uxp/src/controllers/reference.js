// Reference units (IP-Adapter image prompts): a layer, or the part of it inside the selection, becomes the
// reference image of a CONTROL_TYPE_REFERENCE unit. The IP-Adapter is one of the chosen model's (capabilities'
// referenceAdapters; empty id = the model's first). Only reads pixels, through the controllers' readRegion.
import { encodePNG } from "../image/codec.js";
import { intersect, isEmpty, rect } from "../math/region.js";
import { BridgeError, ControlType } from "../transport/bridge.js";

export const REFERENCE_SCOPES = [["layer", "Whole layer"], ["selection", "Selection of it"]];

/** The model's IP-Adapters ([{id, label}]) from the server state; the default model's when modelId is empty. */
export function referenceAdapters(server, modelId) {
  const model = server.models.find((m) => m.id === (modelId || server.defaultModelId)) ?? server.models.find((m) => m.isDefault);
  return model?.referenceAdapters ?? [];
}

/** The document rectangle a reference unit reads: the layer's bounds, or (scope "selection") the selection inside them. */
export function referenceRect(doc, unit) {
  const layer = doc.layers.find((l) => l.id === unit.layerId);
  if (!layer) throw new BridgeError("invalid_argument", "Reference unit: choose a layer", "control_units");
  const whole = rect(0, 0, doc.width, doc.height);
  let area = layer.bounds && !isEmpty(layer.bounds) ? intersect(layer.bounds, whole) : whole;
  if (area && unit.scope === "selection") {
    if (!doc.selection) throw new BridgeError("failed_precondition", "Reference unit: make a selection (or use the whole layer)", "control_units");
    area = intersect(area, doc.selection);
  }
  if (isEmpty(area)) throw new BridgeError("invalid_argument", `Reference unit: layer "${layer.name}" has no pixels${unit.scope === "selection" ? " inside the selection" : ""}`, "control_units");
  return area;
}

/** The wire unit: the area's pixels as PNG, the IP-Adapter id, its scale and step window. */
export async function referenceUnit(doc, unit, readRegion) {
  const pixels = await readRegion(doc, unit.layerId, referenceRect(doc, unit));
  return {
    controlType: ControlType.REFERENCE,
    adapterId: unit.adapterId ?? "",
    controlnetConditioningScale: Number(unit.weight),
    controlGuidanceStart: Number(unit.start),
    controlGuidanceEnd: Number(unit.end),
    source: { case: "reference", value: { images: [{ data: encodePNG(pixels), mimeType: "image/png" }] } },
  };
}
