// An in-memory stand-in for src/photoshop/host.js (the only module that calls Photoshop): the same contract,
// over documents that record layers, their bounds, pixels, masks, groups, names and visibility. Used by the
// controller tests (node --test) and, through an import map, by the panel rendered in headless Chromium.
// Plain ES module with no Node imports, so both runtimes load it.
import { buffer, composeInto, cut, intersect, rect } from "../../src/math/region.js";

let nextId = 1000;

/** A layer filled with one colour (RGBA) over bounds; `alpha` may be a function (x, y) -> 0..255. */
export function solidLayer(name, bounds, [r, g, b, a = 255], extra = {}) {
  const pixels = buffer(bounds.width, bounds.height, 4);
  for (let i = 0; i < bounds.width * bounds.height; i++) pixels.data.set([r, g, b, a], i * 4);
  return { id: extra.id ?? ++nextId, name, kind: "pixel", bounds, pixels, mask: null, visible: true, parentId: null, ...extra };
}

/** A selection from bounds and a function (x, y) -> 0..255 in document pixels (default: fully selected). */
export function makeSelection(bounds, value = () => 255) {
  const data = new Uint8Array(bounds.width * bounds.height);
  for (let y = 0; y < bounds.height; y++) for (let x = 0; x < bounds.width; x++) data[y * bounds.width + x] = value(bounds.left + x, bounds.top + y);
  return { bounds, data };
}

export function createDocument({ id = ++nextId, title = "Untitled-1", width, height, resolution = 72, layers = [], selection = null, activeLayerId } = {}) {
  return { id, title, width, height, resolution, layers, selection, activeLayerId: activeLayerId ?? layers.at(-1)?.id ?? null };
}

const clone = (doc) => ({ ...doc, layers: doc.layers.map((l) => ({ ...l })) });

function compositeOver(doc, area, hidden = []) {
  const out = buffer(area.width, area.height, 4);
  for (const layer of doc.layers) {
    if (layer.kind !== "pixel" || !layer.visible || !isVisible(doc, layer) || hidden.includes(layer.id)) continue;
    const common = intersect(area, layer.bounds);
    if (!common) continue;
    for (let y = common.top; y < common.top + common.height; y++) {
      for (let x = common.left; x < common.left + common.width; x++) {
        const s = ((y - layer.bounds.top) * layer.bounds.width + (x - layer.bounds.left)) * 4;
        const m = layer.mask ? layer.mask.data[(y - layer.bounds.top) * layer.bounds.width + (x - layer.bounds.left)] : 255;
        const a = (layer.pixels.data[s + 3] * m) / (255 * 255);
        const d = ((y - area.top) * area.width + (x - area.left)) * 4;
        for (let k = 0; k < 3; k++) out.data[d + k] = Math.round(layer.pixels.data[s + k] * a + out.data[d + k] * (1 - a));
        out.data[d + 3] = Math.round(255 * (a + (out.data[d + 3] / 255) * (1 - a)));
      }
    }
  }
  return out;
}

function isVisible(doc, layer) {
  for (let p = layer.parentId; p != null; p = doc.layers.find((l) => l.id === p)?.parentId) {
    if (!doc.layers.find((l) => l.id === p)?.visible) return false;
  }
  return true;
}

/**
 * The host contract (see src/photoshop/host.js). Extra, for tests: `documents`, `modalCalls` (labels of
 * executeAsModal scopes that edited), `progress` (fraction reports), `failOnLayer` (throw while writing the
 * n-th layer, as a Photoshop error mid-edit would) and `reads` (pixel reads made).
 */
export function createMemoryHost({ documents = [], activeDocumentId } = {}) {
  const host = {
    documents,
    activeDocumentId: activeDocumentId ?? documents[0]?.id ?? null,
    modalCalls: [],
    progress: [],
    reads: [],
    failOnLayer: -1,
    isFake: true,

    doc(id) {
      const doc = host.documents.find((d) => d.id === id);
      if (!doc) throw new Error(`document ${id} is not open`);
      return doc;
    },

    async activeDocument() {
      const doc = host.documents.find((d) => d.id === host.activeDocumentId);
      return doc ? { id: doc.id, title: doc.title, width: doc.width, height: doc.height, resolution: doc.resolution } : null;
    },
    async documentOpen(id) {
      return host.documents.some((d) => d.id === id);
    },
    async layers(docId) {
      return host.doc(docId).layers.filter((l) => l.kind === "pixel").reverse()
        .map((l) => ({ id: l.id, name: l.name, visible: l.visible, bounds: { ...l.bounds } }));
    },
    async activeLayerId(docId) {
      return host.doc(docId).activeLayerId;
    },
    async selectionBounds(docId) {
      const s = host.doc(docId).selection;
      return s ? { ...s.bounds } : null;
    },
    async selection(docId) {
      const s = host.doc(docId).selection;
      return s ? { bounds: { ...s.bounds }, data: s.data.slice() } : null;
    },
    async readPixels(docId, { layerId, rect: area, hideLayerIds = [] }) {
      const doc = host.doc(docId);
      host.reads.push({ docId, layerId, rect: { ...area } });
      const inside = intersect(area, rect(0, 0, doc.width, doc.height));
      if (!inside) return null;
      if (layerId == null) return { bounds: inside, buffer: compositeOver(doc, inside, hideLayerIds) };
      const layer = doc.layers.find((l) => l.id === layerId);
      if (!layer) throw new Error(`no layer ${layerId}`);
      const common = intersect(inside, layer.bounds);
      if (!common) return null;
      return { bounds: common, buffer: cut(layer.pixels, common.left - layer.bounds.left, common.top - layer.bounds.top, common.width, common.height) };
    },

    /** One modal scope, one history step: all layers or none. */
    async apply(edit, onProgress) {
      host.modalCalls.push(edit.label);
      let doc;
      const created = !edit.docId;
      if (created) {
        doc = createDocument({ title: edit.newDocument.title, width: edit.newDocument.width, height: edit.newDocument.height, resolution: edit.newDocument.resolution });
      } else {
        doc = host.doc(edit.docId);
      }
      const before = clone(doc);
      try {
        if (edit.resizeCanvas) {
          const { width, height, offsetX, offsetY, fromWidth, fromHeight } = edit.resizeCanvas;
          if (doc.width !== fromWidth || doc.height !== fromHeight) throw new Error(`the document is ${doc.width}x${doc.height} now, the job extended ${fromWidth}x${fromHeight}`);
          for (const layer of doc.layers) if (layer.bounds) layer.bounds = { ...layer.bounds, left: layer.bounds.left + offsetX, top: layer.bounds.top + offsetY };
          if (doc.selection) doc.selection = { ...doc.selection, bounds: { ...doc.selection.bounds, left: doc.selection.bounds.left + offsetX, top: doc.selection.bounds.top + offsetY } };
          Object.assign(doc, { width, height });
        }
        let groupId = null;
        if (edit.group) {
          groupId = ++nextId;
          doc.layers.push({ id: groupId, name: edit.group, kind: "group", bounds: null, visible: true, parentId: null });
        }
        const ids = [];
        edit.layers.forEach((layer, i) => {
          if (i === host.failOnLayer) throw new Error(`putPixels failed on "${layer.name}" (simulated)`);
          if (layer.rgba.width !== layer.bounds.width || layer.rgba.height !== layer.bounds.height) throw new Error("pixels do not match bounds");
          const id = ++nextId;
          doc.layers.push({
            id, name: layer.name, kind: "pixel", bounds: { ...layer.bounds }, pixels: layer.rgba,
            mask: layer.mask ? composeInto(layer.bounds, 1, layer.bounds, layer.mask) : null,
            visible: !layer.hidden, parentId: groupId,
          });
          ids.push(id);
          host.progress.push((i + 1) / edit.layers.length);
          onProgress?.((i + 1) / edit.layers.length, `placing ${layer.name}`);
        });
        if (created) {
          host.documents.push(doc);
          host.activeDocumentId = doc.id;
        }
        doc.activeLayerId = ids.at(-1);
        return { docId: doc.id, layerIds: ids, groupId };
      } catch (error) {
        Object.assign(doc, before); // the real host reverts its suspended history state
        throw error;
      }
    },

    // -- live mode: `edits` notifies watchers as Photoshop's notification listener does -------------------------
    watchers: new Set(),
    liveWrites: [],
    watchEdits(handler) {
      host.watchers.add(handler);
      return () => host.watchers.delete(handler);
    },
    /** Test helper: change a document (fn(doc)) and notify, as an artist's edit does. */
    edit(docId, fn, event = "historyStateChanged") {
      fn(host.doc(docId));
      for (const handler of [...host.watchers]) handler({ event, docId: host.activeDocumentId });
    },
    /** Test helper: another document becomes the active one. */
    activate(docId) {
      host.activeDocumentId = docId;
      for (const handler of [...host.watchers]) handler({ event: "select", docId });
    },
    /** The one Live layer: its pixels replaced in place (same id), or created when layerId is gone; not made active. */
    async putLiveLayer({ docId, layerId, name, bounds, rgba, mask }) {
      const doc = host.doc(docId);
      if (rgba.width !== bounds.width || rgba.height !== bounds.height) throw new Error("pixels do not match bounds");
      let layer = doc.layers.find((l) => l.id === layerId && l.kind === "pixel");
      if (!layer) {
        layer = { id: ++nextId, name, kind: "pixel", visible: true, parentId: null };
        doc.layers.push(layer);
      }
      Object.assign(layer, { bounds: { ...bounds }, pixels: rgba, mask: mask ? composeInto(bounds, 1, bounds, mask) : null });
      host.liveWrites.push({ docId, layerId: layer.id });
      return { layerId: layer.id };
    },
  };
  return host;
}

/** What the panel shows in headless Chromium: a 1000 x 700 px, 144 ppi painting with a feathered selection. */
export function createHost() {
  const layers = [
    solidLayer("Background", rect(0, 0, 1000, 700), [232, 226, 214]),
    solidLayer("Sky paint", rect(0, 0, 1000, 380), [128, 164, 214]),
    solidLayer("Figure sketch", rect(380, 210, 260, 420), [40, 40, 48]),
    solidLayer("Depth (painted)", rect(0, 0, 1000, 700), [90, 90, 90], { visible: false }),
  ];
  const selection = makeSelection(rect(353, 187, 301, 455), (x) => Math.min(255, Math.max(0, (x - 353) * 16)));
  const doc = createDocument({ id: 1, title: "harbour-concept.psd", width: 1000, height: 700, resolution: 144, layers, selection, activeLayerId: layers[2].id });
  return createMemoryHost({ documents: [doc] });
}
