// Live mode in Photoshop (issue 16): while it is on, edits of the document (Photoshop's notifications, debounced by
// settings.liveDebounceMs) capture the region — the selection padded as for img2img, or the whole canvas, fixed
// when live starts — and send it as a numbered frame; every answer updates ONE "Live" layer in place (same layer
// id, placed at the selection like other results and masked by it); Commit copies the latest answer to a normal
// layer. Latest wins: the server replaces a waiting frame with a newer one (superseded), and a result older than
// the one on the layer is not placed. Network work never blocks the panel: sends and the event loop are promises.
// Live stops on Stop, when the panel closes, when the document switches, or when the server ends the session.
//
// The live layer is left out of what is captured (the source layer, or the merged image without it), so placing
// an answer never feeds back as an edit; an edit whose capture is identical to the last frame sends nothing.
import { decodePNG, encodePNG } from "../image/codec.js";
import { composeInto, extendEdges, maskForPlace, planDocument, planRegion, resultForPlace, toRGBA } from "../math/region.js";
import { LIVE_IDLE, isLive, reduceLiveEvent } from "../state/live.js";
import { BridgeError, createBridge } from "../transport/bridge.js";
import { followLive } from "../transport/live.js";

export const LIVE_LAYER_NAME = "Live";

const sameBytes = (a, b) => a && b && a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * @param host   the Photoshop seam (src/photoshop/host.js): activeDocument, layers, activeLayerId, selection,
 *               readPixels({hideLayerIds}), putLiveLayer, apply, watchEdits
 * @param store  the app's store (settings, form; this controller owns its `live` slice)
 */
export function createLive({ host, store, bridgeFactory = createBridge, timers = globalThis }) {
  store.set({ live: LIVE_IDLE });
  let session = null;
  const set = (patch) => store.set((s) => ({ live: { ...s.live, ...(typeof patch === "function" ? patch(s.live) : patch) } }));
  const message = (error) => String(error?.message ?? error);

  /** Open a session on the active document and send the first frame at once. */
  async function start() {
    if (session || isLive(store.get().live)) return store.get().live;
    const { settings, form } = store.get();
    const doc = await host.activeDocument();
    if (!doc) return fail("open a document first");
    const selection = await host.selection(doc.id);
    const region = selection
      ? planRegion({ selection: selection.bounds, docWidth: doc.width, docHeight: doc.height, padding: settings.padding })
      : planDocument(doc.width, doc.height);
    const sourceLayerId = form.source === "merged" ? null : await host.activeLayerId(doc.id);
    if (form.source !== "merged" && sourceLayerId == null) return fail("select a layer (or choose Merged visible as the source)");
    let bridge;
    try {
      bridge = bridgeFactory({ baseUrl: settings.serverUrl, token: settings.token });
    } catch (error) {
      return fail(message(error));
    }
    const previous = store.get().live;
    const keepLayer = previous.docId === doc.id ? previous.layerId : null; // the same Live layer across sessions
    store.set({ live: { ...LIVE_IDLE, phase: "opening", docId: doc.id, docTitle: doc.title, layerId: keepLayer, region: region.crop, size: `${region.crop.width}×${region.crop.height}` } });
    const sampling = {};
    if (Number(form.seed) >= 0) sampling.seed = BigInt(Math.floor(Number(form.seed)));
    if (Number(form.liveSteps) > 0) sampling.numInferenceSteps = Number(form.liveSteps);
    const config = {
      modelId: form.modelId, prompt: form.prompt, negativePrompt: form.negativePrompt, width: region.crop.width, height: region.crop.height,
      sampling, strength: Number(form.liveStrength), label: `photoshop: ${doc.title}`,
    };
    let opened;
    try {
      opened = await bridge.openLive(config);
    } catch (error) {
      return fail(`cannot open a live session: ${message(error)}`);
    }
    session = {
      id: opened.sessionId, bridge, docId: doc.id, region, sourceLayerId, sentAt: new Map(), frame: 0, lastPng: null,
      mask: selection ? maskForPlace(selection, region.place) : null,
      placedFrame: 0, latest: null, timer: null, capturing: null, dirty: false, placing: Promise.resolve(),
      abort: new AbortController(), unsubscribe: null,
    };
    set({ phase: "live", sessionId: opened.sessionId });
    session.unsubscribe = host.watchEdits((edit) => onEdit(edit));
    const current = session;
    session.follow = followLive(bridge, opened.sessionId, {
      mode: settings.transport === "stream" ? "stream" : "longpoll", signal: current.abort.signal,
      onEvent: (event) => onEvent(current, event),
    }).then((closed) => {
      if (closed && session === current) teardown(current, closed.reason);
    }, (error) => {
      if (session === current) stop(`the server stopped answering: ${message(error)}`);
    });
    await frameNow();
    return store.get().live;
  }

  function fail(text, base = store.get().live) {
    store.set({ live: { ...base, phase: "off", error: text } });
    return store.get().live;
  }

  // -- frames out ------------------------------------------------------------------------------------------

  function onEdit({ docId }) {
    if (!session) return;
    if (docId !== session.docId) {
      stop("the active document changed");
      return;
    }
    timers.clearTimeout(session.timer);
    session.timer = timers.setTimeout(() => frameNow().catch(() => {}), Math.max(0, Number(store.get().settings.liveDebounceMs) || 0));
  }

  /** Capture and send one frame now (the debounce's end; the panel's "Send frame"). One capture at a time: an
   * edit during a capture captures again right after it. Resolves when the frame is sent (not answered). */
  async function frameNow() {
    const current = session;
    if (!current) return null;
    if (current.capturing) {
      current.dirty = true;
      return current.capturing;
    }
    current.capturing = (async () => {
      let sent = null;
      do {
        current.dirty = false;
        sent = await captureAndSend(current);
      } while (current.dirty && session === current);
      return sent;
    })();
    try {
      return await current.capturing;
    } finally {
      current.capturing = null;
    }
  }

  async function captureAndSend(current) {
    const { crop } = current.region;
    const hideLayerIds = store.get().live.layerId != null ? [store.get().live.layerId] : [];
    let png;
    try {
      const doc = await host.activeDocument();
      const piece = await host.readPixels(current.docId, { layerId: current.sourceLayerId, rect: crop, hideLayerIds });
      png = encodePNG(extendEdges(composeInto(crop, 4, piece?.bounds ?? crop, piece?.buffer ?? null), crop, doc.width, doc.height));
    } catch (error) {
      set({ error: `capture: ${message(error)}` });
      return null;
    }
    if (session !== current) return null;
    if (sameBytes(png, current.lastPng)) {
      set((l) => ({ unchanged: l.unchanged + 1 }));
      return null;
    }
    current.lastPng = png;
    const frame = ++current.frame;
    current.sentAt.set(frame, Date.now());
    set((l) => ({ frame, sent: l.sent + 1 }));
    try {
      await current.bridge.sendLiveFrame(current.id, { frame: BigInt(frame), image: { data: png, mimeType: "image/png" } });
    } catch (error) {
      if (session !== current) return null;
      set((l) => ({ failed: l.failed + 1, error: `frame ${frame}: ${message(error)}` }));
      if (error instanceof BridgeError && (error.code === "not_found" || error.transient)) stop(`the session ended: ${message(error)}`);
      return null;
    }
    return frame;
  }

  // -- answers in ------------------------------------------------------------------------------------------

  function onEvent(current, event) {
    if (session !== current) return;
    const { case: kind, value } = event.event;
    const sentAtMs = kind === "result" ? current.sentAt.get(Number(value.frame)) : undefined;
    set((l) => reduceLiveEvent(l, event.event, { nowMs: Date.now(), sentAtMs }));
    if (kind === "result") {
      if (!current.latest || value.frame > current.latest.frame) current.latest = value;
      // placed one at a time, newest first: a result older than the one on the layer is dropped
      current.placing = current.placing.then(() => place(current)).catch((error) => set({ error: `placing: ${message(error)}` }));
    }
  }

  async function place(current) {
    const result = current.latest;
    if (!result || Number(result.frame) <= current.placedFrame || !result.image?.data?.length) return;
    const layer = planLiveLayer(result, current);
    const { layerId } = await host.putLiveLayer({ docId: current.docId, layerId: store.get().live.layerId, ...layer });
    current.placedFrame = Number(result.frame);
    current.placedLayer = layer;
    set((l) => ({ layerId, placed: l.placed + 1 }));
  }

  function planLiveLayer(result, current) {
    const decoded = toRGBA(decodePNG(result.image.data));
    const { place: bounds } = current.region;
    return { name: LIVE_LAYER_NAME, bounds: { ...bounds }, rgba: resultForPlace(decoded, current.region), mask: current.mask, frame: Number(result.frame), seed: String(result.seed ?? "") };
  }

  // -- commit and stop -------------------------------------------------------------------------------------

  /** The latest answer as a normal layer (one history step); the Live layer keeps following. */
  async function commit() {
    const layer = session?.placedLayer ?? lastPlaced;
    if (!layer) throw new BridgeError("failed_precondition", "no live result to commit yet");
    const docId = session?.docId ?? store.get().live.docId;
    const name = `live · frame ${layer.frame}${layer.seed ? ` · seed ${layer.seed}` : ""}`;
    const applied = await host.apply({ docId, label: "live commit", group: null, resizeCanvas: null, layers: [{ name, bounds: layer.bounds, rgba: layer.rgba, mask: layer.mask, hidden: false }] });
    return { ...applied, name };
  }

  let lastPlaced = null;

  function teardown(current, serverReason) {
    if (session !== current) return;
    const reason = current.reason ?? serverReason; // ours when we stopped it, else the server's (idle timeout, ...)
    session = null;
    lastPlaced = current.placedLayer ?? null;
    timers.clearTimeout(current.timer);
    current.unsubscribe?.();
    current.abort.abort();
    set({ phase: "off", closedReason: reason });
  }

  /** Stop following edits and close the session on the server (the Live layer stays, for Commit or to delete). */
  async function stop(reason = "client closed") {
    const current = session;
    if (!current || current.reason) return store.get().live;
    current.reason = reason;
    set({ phase: "closing" });
    timers.clearTimeout(current.timer);
    current.unsubscribe?.();
    current.unsubscribe = null;
    await current.capturing?.catch(() => {});
    await current.placing;
    let closed = null;
    try {
      closed = await current.bridge.closeLive(current.id);
    } catch (error) {
      if (error?.code !== "not_found") set({ error: `close: ${message(error)}` });
    }
    teardown(current, reason);
    return { ...store.get().live, server: closed };
  }

  /** Resolves once every frame sent so far is answered and the newest result is on the layer (tests, Commit). */
  async function settled({ timeoutMs = 30_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = session;
      const live = store.get().live;
      if (!current) return live;
      await current.capturing?.catch(() => {});
      await current.placing;
      const { sent, answered, superseded, failed } = store.get().live;
      if (answered + superseded + failed >= sent && (!current.latest || current.placedFrame >= Number(current.latest.frame))) return store.get().live;
      if (Date.now() > deadline) throw new BridgeError("deadline_exceeded", `live: ${sent - answered - superseded - failed} frame(s) unanswered after ${timeoutMs} ms`);
      await new Promise((resolve) => timers.setTimeout(resolve, 20));
    }
  }

  return { start, stop, frameNow, commit, settled, get active() { return Boolean(session); } };
}
