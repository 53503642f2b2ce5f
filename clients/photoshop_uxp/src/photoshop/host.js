// The only module that calls Photoshop (`photoshop`: app, core.executeAsModal, imaging, action.batchPlay).
// Everything else gets a `host` with this contract (test/fakes/memory_host.js implements the same one in
// memory for the tests and the headless panel):
//
//   activeDocument()            -> {id, title, width, height, resolution, path} | null (pixels, ppi; path "" unsaved)
//   documentOpen(docId)         -> boolean
//   layers(docId)               -> [{id, name, visible, bounds: rect}]  pixel layers, top first
//   activeLayerId(docId)        -> id | null
//   selectionBounds(docId)      -> rect | null       (cheap: for the panel's display)
//   selection(docId)            -> {bounds: rect, data: Uint8Array (bounds.width*bounds.height, 0..255)} | null
//   readPixels(docId, {layerId | null (merged visible), rect}) -> {bounds: rect, buffer: RGBA} | null
//                                  (bounds may be smaller than rect: a layer's pixels, the canvas)
//   apply(edit, onProgress)     -> {docId, layerIds, groupId}
//        edit = {docId | newDocument: {title, width, height, resolution}, label, group: name | null,
//                resizeCanvas: {width, height, offsetX, offsetY, fromWidth, fromHeight} | null  (first: the
//                  canvas grows to width x height with the old one at offsetX/offsetY; refused unless the
//                  document is still fromWidth x fromHeight),
//                layers: [{name, bounds: rect, rgba: buffer, mask: 1-channel buffer | null, hidden}]}
//        ONE executeAsModal scope and ONE history step; on any error the step is reverted (the document is
//        left as it was) and the error rethrown.
//
// Live mode (src/controllers/live.js):
//   readPixels(docId, {layerId: null, rect, hideLayerIds}) -> the merged image without those layers (the Live layer
//                                  must not feed back into what is sent)
//   putLiveLayer({docId, layerId | null, name, bounds, rgba, mask}) -> {layerId}   the one Live layer's pixels
//                                  replaced in place (same id), created when layerId is null or gone; the active
//                                  layer stays active
//   watchEdits(handler)         -> unsubscribe   handler({event, docId: the active document's id}) on every
//                                  document change Photoshop notifies (history states, selection, document switch)
//
// All rects are in document pixels. Photoshop reports bounds as unit descriptors; boundsToRect converts them
// with the document's resolution (a 300 ppi document is not 72 ppi: points are not pixels).
import { action, app, constants, core, imaging } from "photoshop";

import { boundsToRect, rect } from "../math/region.js";

const pixelBounds = (r) => ({ left: r.left, top: r.top, right: r.left + r.width, bottom: r.top + r.height });

// Photoshop's notifications that mean "the document (or which one is active) changed": every history state (brush
// strokes included), and the usual descriptors for selection, layers and documents.
const EDIT_EVENTS = ["historyStateChanged", "set", "select", "make", "delete", "move", "transform", "fill", "paste", "open", "close"];

function findDocument(docId) {
  const doc = app.documents.find((d) => d.id === docId);
  if (!doc) throw new Error(`document ${docId} is not open`);
  return doc;
}

/** Grow the canvas with the old one at (offsetX, offsetY): right/bottom first keeping the top-left, then left/top
 * keeping the bottom-right (one resizeCanvas can only split the growth by a fixed anchor). */
async function growCanvas(doc, { width, height, offsetX, offsetY, fromWidth, fromHeight }) {
  if (Math.round(doc.width) !== fromWidth || Math.round(doc.height) !== fromHeight) {
    throw new Error(`the document is ${Math.round(doc.width)}x${Math.round(doc.height)} now, the job extended ${fromWidth}x${fromHeight}`);
  }
  await doc.resizeCanvas(width - offsetX, height - offsetY, constants.AnchorPosition.TOPLEFT);
  await doc.resizeCanvas(width, height, constants.AnchorPosition.BOTTOMRIGHT);
}

function allLayers(layers, out = []) {
  for (const layer of layers) {
    if (layer.kind === "group" || layer.layers?.length) allLayers(layer.layers ?? [], out);
    else out.push(layer);
  }
  return out;
}

/** Reads need a modal scope in some Photoshop versions; a read-only scope adds no history state. */
const readModal = (name, fn) => core.executeAsModal(fn, { commandName: name });

async function getData(imageData) {
  try {
    return await imageData.getData({ chunky: true });
  } finally {
    imageData.dispose?.();
  }
}

function toRGBA(data, components, width, height) {
  if (components === 4) return data instanceof Uint8Array ? data : Uint8Array.from(data);
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    if (components === 3) out.set([data[i * 3], data[i * 3 + 1], data[i * 3 + 2], 255], i * 4);
    else out.set([data[i], data[i], data[i], 255], i * 4);
  }
  return out;
}

export function createHost() {
  return {
    isFake: false,

    async activeDocument() {
      const doc = app.activeDocument;
      if (!doc) return null;
      // UXP's Document.width/height are pixels; resolution is ppi.
      // path (saved documents): what the panel keys the document's workspace and settings by (state/workspaces.js)
      return { id: doc.id, title: doc.title ?? doc.name, width: Math.round(doc.width), height: Math.round(doc.height), resolution: doc.resolution, path: doc.path ?? "" };
    },

    async documentOpen(docId) {
      return app.documents.some((d) => d.id === docId);
    },

    async layers(docId) {
      const doc = findDocument(docId);
      return allLayers(doc.layers).map((l) => ({
        id: l.id, name: l.name, visible: l.visible,
        bounds: boundsToRect(l.boundsNoEffects ?? l.bounds, doc.resolution),
      }));
    },

    async activeLayerId(docId) {
      return findDocument(docId).activeLayers?.[0]?.id ?? null;
    },

    async selectionBounds(docId) {
      const doc = findDocument(docId);
      const [answer] = await action.batchPlay([
        { _obj: "get", _target: [{ _property: "selection" }, { _ref: "document", _id: docId }] },
      ], {});
      if (!answer?.selection?.bottom) return null;
      const bounds = boundsToRect(answer.selection, doc.resolution);
      return bounds.width > 0 && bounds.height > 0 ? bounds : null;
    },

    async selection(docId) {
      const bounds = await this.selectionBounds(docId);
      if (!bounds) return null;
      return readModal("Read selection", async () => {
        const { imageData, sourceBounds } = await imaging.getSelection({ documentID: docId, sourceBounds: pixelBounds(bounds) });
        const data = await getData(imageData);
        const got = sourceBounds ? rect(sourceBounds.left, sourceBounds.top, sourceBounds.right - sourceBounds.left, sourceBounds.bottom - sourceBounds.top) : bounds;
        return { bounds: got, data: data instanceof Uint8Array ? data : Uint8Array.from(data) };
      });
    },

    async readPixels(docId, { layerId, rect: area, hideLayerIds = [] }) {
      return readModal("Read pixels", async (executionContext) => {
        const options = { documentID: docId, sourceBounds: pixelBounds(area), componentSize: 8, applyAlpha: false, colorSpace: "RGB" };
        if (layerId != null) options.layerID = layerId;
        let answer;
        // The merged image without some layers: hide them in a suspended history state that is then discarded.
        const hide = layerId == null ? allLayers(findDocument(docId).layers).filter((l) => hideLayerIds.includes(l.id) && l.visible) : [];
        const suspension = hide.length ? await executionContext.hostControl.suspendHistory({ documentID: docId, name: "dccbridge: read" }) : null;
        try {
          for (const layer of hide) layer.visible = false;
          answer = await imaging.getPixels(options);
        } catch (error) {
          if (/empty|no pixels/i.test(String(error?.message))) return null; // an empty layer over the area
          throw error;
        } finally {
          if (suspension) await executionContext.hostControl.resumeHistory(suspension, false); // visibility back, no history step
        }
        const { imageData, sourceBounds } = answer;
        const width = imageData.width, height = imageData.height, components = imageData.components;
        const data = toRGBA(await getData(imageData), components, width, height);
        const bounds = rect(sourceBounds.left, sourceBounds.top, width, height);
        return { bounds, buffer: { width, height, channels: 4, data } };
      });
    },

    async putLiveLayer({ docId, layerId, name, bounds, rgba, mask }) {
      return core.executeAsModal(async (executionContext) => {
        const doc = findDocument(docId);
        const active = doc.activeLayers?.[0] ?? null;
        const hostControl = executionContext.hostControl;
        const suspension = await hostControl.suspendHistory({ documentID: doc.id, name: "dccbridge: live" });
        try {
          let target = layerId == null ? null : allLayers(doc.layers).find((l) => l.id === layerId);
          const created = !target;
          if (created) target = doc.createPixelLayer ? await doc.createPixelLayer({ name }) : await doc.createLayer({ name });
          const imageData = await imaging.createImageDataFromBuffer(rgba.data, { width: rgba.width, height: rgba.height, components: 4, chunky: true, colorSpace: "RGB" });
          await imaging.putPixels({ documentID: doc.id, layerID: target.id, imageData, replace: true, targetBounds: { left: bounds.left, top: bounds.top } });
          imageData.dispose();
          if (mask) {
            if (created) {
              await action.batchPlay([{ _obj: "make", new: { _class: "channel" }, at: { _ref: "channel", _enum: "channel", _value: "mask" }, using: { _enum: "userMaskEnabled", _value: "hideAll" } }], {});
            }
            const maskData = await imaging.createImageDataFromBuffer(mask.data, { width: mask.width, height: mask.height, components: 1, chunky: true, colorSpace: "Grayscale" });
            await imaging.putLayerMask({ documentID: doc.id, layerID: target.id, imageData: maskData, replace: true, targetBounds: { left: bounds.left, top: bounds.top } });
            maskData.dispose();
          }
          if (created && active && active.id !== target.id) active.selected = true; // the artist keeps painting where they were
          await hostControl.resumeHistory(suspension, true);
          return { layerId: target.id };
        } catch (error) {
          await hostControl.resumeHistory(suspension, false);
          throw error;
        }
      }, { commandName: "dccbridge: live" });
    },

    watchEdits(handler) {
      const listener = (event) => handler({ event, docId: app.activeDocument?.id ?? null });
      action.addNotificationListener(EDIT_EVENTS, listener);
      return () => action.removeNotificationListener(EDIT_EVENTS, listener);
    },

    async apply(edit, onProgress) {
      return core.executeAsModal(async (executionContext) => {
        let doc;
        if (edit.docId == null) {
          doc = await app.documents.add({
            width: edit.newDocument.width, height: edit.newDocument.height, resolution: edit.newDocument.resolution ?? 72,
            mode: "RGBColorMode", fill: "transparent", name: edit.newDocument.title,
          });
        } else {
          doc = findDocument(edit.docId);
        }
        const hostControl = executionContext.hostControl;
        const suspension = await hostControl.suspendHistory({ documentID: doc.id, name: `dccbridge: ${edit.label}` });
        try {
          if (edit.resizeCanvas) await growCanvas(doc, edit.resizeCanvas);
          const created = [];
          for (const [i, layer] of edit.layers.entries()) {
            executionContext.reportProgress({ value: i / edit.layers.length, commandName: `Placing ${layer.name}` });
            onProgress?.(i / edit.layers.length, `placing ${layer.name}`);
            const target = doc.createPixelLayer ? await doc.createPixelLayer({ name: layer.name }) : await doc.createLayer({ name: layer.name });
            const imageData = await imaging.createImageDataFromBuffer(layer.rgba.data, {
              width: layer.rgba.width, height: layer.rgba.height, components: 4, chunky: true, colorSpace: "RGB",
            });
            // targetBounds takes the top-left in document pixels: the layer lands exactly on layer.bounds.
            await imaging.putPixels({ documentID: doc.id, layerID: target.id, imageData, replace: true, targetBounds: { left: layer.bounds.left, top: layer.bounds.top } });
            imageData.dispose();
            if (layer.mask) {
              await action.batchPlay([{
                _obj: "make", new: { _class: "channel" }, at: { _ref: "channel", _enum: "channel", _value: "mask" },
                using: { _enum: "userMaskEnabled", _value: "hideAll" },
              }], {});
              const maskData = await imaging.createImageDataFromBuffer(layer.mask.data, {
                width: layer.mask.width, height: layer.mask.height, components: 1, chunky: true, colorSpace: "Grayscale",
              });
              await imaging.putLayerMask({ documentID: doc.id, layerID: target.id, imageData: maskData, replace: true, targetBounds: { left: layer.bounds.left, top: layer.bounds.top } });
              maskData.dispose();
            }
            if (layer.hidden) target.visible = false;
            created.push(target);
          }
          let groupId = null;
          if (edit.group) {
            const group = await doc.createLayerGroup({ name: edit.group, fromLayers: created });
            groupId = group.id;
          }
          await hostControl.resumeHistory(suspension, true);
          onProgress?.(1, "done");
          return { docId: doc.id, layerIds: created.map((l) => l.id), groupId };
        } catch (error) {
          await hostControl.resumeHistory(suspension, false); // revert: the document is as it was
          if (edit.docId == null) await doc.closeWithoutSaving?.();
          throw error;
        }
      }, { commandName: `dccbridge: ${edit.label}` });
    },
  };
}
