// The state the panel binds to. Controllers write it; the panel only reads it and calls controllers.

export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      const next = typeof patch === "function" ? patch(state) : patch;
      state = { ...state, ...next };
      for (const listener of listeners) listener(state);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export const DEFAULT_SETTINGS = {
  serverUrl: "http://127.0.0.1:50052",
  token: "",
  // "longpoll" (GetJob with wait_ms; the UXP default) or "stream" (server-streaming Run/Watch).
  transport: "longpoll",
  // Pixels of context around the selection sent with img2img / inpaint.
  padding: 32,
  previews: true,
  // Live mode: how long the document must stay still after an edit before a frame is sent.
  liveDebounceMs: 300,
};

export const DEFAULT_FORM = {
  prompt: "",
  negativePrompt: "",
  modelId: "",
  scheduler: "",
  steps: 20,
  guidance: 7.5,
  seed: -1,
  batch: 1,
  strength: 0.75,
  // "layer" (the active layer) or "merged" (all visible layers).
  source: "layer",
  depthLayerId: "",
  // How Depth2Img reads the depth layer: "as_painted" | "auto" | "min_max" | "percentile" (see controllers/app.js).
  depthNormalization: "as_painted",
  upscaleScope: "document",
  upscaleMethod: "esrgan",
  upscalerId: "",
  upscaleScale: 2,
  tileSize: 0,
  tiling: "both",
  pbr: true,
  textureSize: 512,
  // Extend canvas (outpaint): margins in document pixels, the blend band ("" = the server's default) and the fill.
  extendLeft: 0,
  extendTop: 0,
  extendRight: 256,
  extendBottom: 0,
  extendFeather: "",
  extendFill: "edge",
  // "canvas" (grow the document) or "selection" (fill beyond the selection, inside the canvas); the extent:
  // "margins", "edges" (to the canvas edges; selection only) or an aspect "16:9" placed by extendAnchor.
  extendTarget: "canvas",
  extendExtent: "margins",
  extendAnchor: "center",
  // Restore faces after generate / upscale / extend canvas (the server's FaceRestoration step): restorer "" = default.
  restoreFaces: false,
  faceRestorerId: "",
  faceStrength: 1,
  // Per-job adapters (see src/state/adapters.js): LoRAs [{id, weight}] and a VAE id ("" = the model's own).
  // Embeddings are not stored: those whose token is written in the prompt are sent.
  loras: [],
  vaeId: "",
  // Live mode: img2img strength of each frame, and steps (0 = the server's default: the model's few-step path).
  liveStrength: 0.5,
  liveSteps: 0,
};

const SETTINGS_KEY = "dccbridge.settings";
const FORM_KEY = "dccbridge.form";
const PENDING_KEY = "dccbridge.pendingJobs";

const read = (storage, key, fallback) => {
  try {
    const text = storage?.getItem(key);
    return text ? JSON.parse(text) : fallback;
  } catch {
    return fallback;
  }
};
const write = (storage, key, value) => storage?.setItem(key, JSON.stringify(value));

export const loadSettings = (storage) => ({ ...DEFAULT_SETTINGS, ...read(storage, SETTINGS_KEY, {}) });
export const saveSettings = (storage, settings) => write(storage, SETTINGS_KEY, settings);
export const loadForm = (storage) => ({ ...DEFAULT_FORM, ...read(storage, FORM_KEY, {}) });
export const saveForm = (storage, form) => write(storage, FORM_KEY, form);
/** Jobs whose results are not yet in the document: [{jobId, label, placement}], kept across panel restarts. */
export const loadPending = (storage) => read(storage, PENDING_KEY, []);
export const savePending = (storage, pending) => write(storage, PENDING_KEY, pending);
