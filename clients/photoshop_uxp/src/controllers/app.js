// Controllers: what the panel's buttons do. They read the document through `host` (src/photoshop/host.js, the
// only module that calls Photoshop), talk to the server through src/transport/, do the selection/crop/placement
// math with src/math/region.js, and write everything the panel shows into the store.
//
// Order of every action: capture (read-only) -> submit & follow the job (progress, preview, cancel) -> decode
// and plan every layer -> ONE host.apply (one executeAsModal, one history step; all or nothing). Nothing touches
// the document before the job succeeded and its images decoded, so a failure leaves the document unchanged.
import { decodePNG, dataUrl, encodePNG, fromBase64, toBase64 } from "../image/codec.js";
import {
  composeInto, extendEdges, maskForCrop, maskForPlace, planDocument, planRegion, rect, resultForPlace, toGray, toRGBA,
} from "../math/region.js";
import { canvasGrowth, extendLabel, extendRequest, fillFields, placeBeyond } from "./extend.js";
import { restoreFacesField, restorerOptions } from "./faces.js";
import { depthPassFromGray, tilingAxes, upscaleMethod, upscaleSampling } from "./fields.js";
import { pendingJobs } from "./pending.js";
import { referenceUnit } from "./reference.js";
import { LORA_WEIGHT, adaptersFor, familyOf, forFamily, insertToken, tokenOf } from "../state/adapters.js";
import {
  createStore, loadForm, loadPending, loadSettings, saveForm, saveSettings,
} from "../state/store.js";
import { BridgeError, ControlType, Preprocessor, createBridge, followJob } from "../transport/bridge.js";

const CONTROL_TYPES = { canny: ControlType.CANNY, depth: ControlType.DEPTH, openpose: ControlType.OPENPOSE };

const adapterInfo = (a) => ({ id: a.id, family: a.family, label: a.label || a.id, description: a.description, token: a.token });

export const newUnit = (id, layerId = "") => ({ id, layerId, type: "canny", source: "preprocess", weight: 1, start: 0, end: 1 });

const idle = { busy: false, jobId: "", label: "", state: "", stage: "", step: 0, total: 0, fraction: 0, previewUrl: "", queuePosition: 0 };

/**
 * @param host     the Photoshop seam (see src/photoshop/host.js for the contract)
 * @param storage  localStorage-like (getItem/setItem): settings, form and pending job ids persist in it
 * @param bridgeFactory createBridge, or a wrapper (tests count calls)
 */
export function createApp({ host, storage = globalThis.localStorage, bridgeFactory = createBridge } = {}) {
  const store = createStore({
    settings: loadSettings(storage),
    form: loadForm(storage),
    units: [],
    server: { status: "unknown", message: "", version: "", device: "", models: [], schedulers: [], upscalers: [], restorers: [], preprocessors: [], features: [], limits: null, loras: [], embeddings: [], vaes: [] },
    doc: null,
    job: idle,
    status: { kind: "info", text: "" },
    pending: loadPending(storage),
    lastLayers: [],
  });
  let controller = new AbortController();
  let cancelRequested = false;
  let unitCounter = 0;

  const bridge = () => {
    const { serverUrl, token } = store.get().settings;
    return bridgeFactory({ baseUrl: serverUrl, token });
  };
  const say = (kind, text) => store.set({ status: { kind, text } });
  const explain = (error) => {
    if (error instanceof BridgeError) return `${error.message}${error.field && !error.message.startsWith(error.field) ? ` (field: ${error.field})` : ""}`;
    return String(error?.message ?? error);
  };
  const transportMode = () => {
    const { settings, server } = store.get();
    if (settings.transport === "stream") return "stream";
    if (server.features.length && !server.features.includes("long_poll")) return "stream";
    return "longpoll";
  };

  // -- settings and connection -------------------------------------------------------------------------------

  function updateSettings(patch) {
    store.set((s) => ({ settings: { ...s.settings, ...patch } }));
    saveSettings(storage, store.get().settings);
  }

  function updateForm(patch) {
    store.set((s) => ({ form: { ...s.form, ...patch } }));
    saveForm(storage, store.get().form);
  }

  async function testConnection() {
    store.set((s) => ({ server: { ...s.server, status: "connecting", message: "" } }));
    try {
      const caps = await bridge().capabilities();
      const device = [caps.device?.type, caps.device?.name, caps.device?.dtype].filter(Boolean).join(" · ");
      const server = {
        status: "connected",
        message: `dccbridge ${caps.serverVersion} (${caps.apiVersion}) on ${device}`,
        version: caps.serverVersion,
        device,
        defaultModelId: caps.defaultModelId,
        models: caps.models.map((m) => ({ id: m.id, family: m.family, isDefault: m.isDefault, tasks: [...m.tasks], controlTypes: [...m.controlTypes], referenceAdapters: m.referenceAdapters.map((a) => ({ id: a.id, label: a.label })) })),
        schedulers: caps.schedulers.map((o) => ({ id: o.id, label: o.label })),
        upscalers: caps.upscalers.map((o) => ({ id: o.id, label: o.label })), restorers: restorerOptions(caps),
        preprocessors: [...caps.preprocessors].map((p) => Preprocessor[p].toLowerCase()),
        features: [...caps.features],
        loras: caps.loras.map(adapterInfo),
        embeddings: caps.embeddings.map(adapterInfo),
        vaes: caps.vaes.map(adapterInfo),
        limits: caps.limits ? { maxBatch: caps.limits.maxBatch, maxSteps: caps.limits.maxSteps, maxControlUnits: caps.limits.maxControlUnits, sizeMultiple: caps.limits.sizeMultiple } : null,
      };
      store.set({ server });
      say("success", `Connected: ${server.message}; models: ${server.models.map((m) => m.id).join(", ")}`);
      return server;
    } catch (error) {
      store.set((s) => ({ server: { ...s.server, status: "error", message: explain(error) } }));
      say("error", `Cannot connect to ${store.get().settings.serverUrl}: ${explain(error)}`);
      return null;
    }
  }

  // -- LoRAs, embeddings, VAE ------------------------------------------------------------------------------

  /** The adapters the menus offer: those of the selected model's family. */
  function adapterMenus() {
    const { server, form } = store.get();
    const family = familyOf(server, form.modelId);
    return { family, loras: forFamily(server.loras, family), embeddings: forFamily(server.embeddings, family), vaes: forFamily(server.vaes, family) };
  }
  const clampWeight = (weight) => Math.min(LORA_WEIGHT.max, Math.max(LORA_WEIGHT.min, Number.isFinite(Number(weight)) ? Number(weight) : LORA_WEIGHT.default));
  function addLora(id, weight = LORA_WEIGHT.default) {
    if (!id || store.get().form.loras.some((l) => l.id === id)) return;
    updateForm({ loras: [...store.get().form.loras, { id, weight: clampWeight(weight) }] });
  }
  const updateLora = (id, weight) => updateForm({ loras: store.get().form.loras.map((l) => (l.id === id ? { ...l, weight: clampWeight(weight) } : l)) });
  const removeLora = (id) => updateForm({ loras: store.get().form.loras.filter((l) => l.id !== id) });
  const setVae = (vaeId) => updateForm({ vaeId: vaeId || "" });
  /** Writes the embedding's token into the prompt: an embedding is sent when its token is in the prompt. */
  function insertEmbedding(id) {
    const embedding = store.get().server.embeddings.find((e) => e.id === id);
    if (embedding) updateForm({ prompt: insertToken(store.get().form.prompt, tokenOf(embedding)) });
  }

  /** The task's `adapters`; chosen ids the server does not offer for the model stop the job with their names. */
  async function taskAdapters(form) {
    // Not connected in this session (choices from an earlier one): fetch the server's lists first, to check the
    // chosen ids and to find the embeddings the prompt names.
    if (store.get().server.status !== "connected" && !(await testConnection())) {
      if (form.loras.length || form.vaeId) {
        throw new BridgeError("unavailable", `cannot check the chosen LoRAs / VAE: ${store.get().server.message}`, "adapters");
      }
      return undefined; // the job itself will say why the server cannot be reached
    }
    const { adapters, problems } = adaptersFor(form, store.get().server);
    if (problems) throw new BridgeError("not_found", `${problems.join("; ")} — remove it, or Test connection again if the server's folders changed`, "adapters");
    return adapters;
  }

  async function refreshDocument() {
    const doc = await host.activeDocument();
    if (!doc) {
      store.set({ doc: null });
      return null;
    }
    const [layers, selection, activeLayerId] = await Promise.all([host.layers(doc.id), host.selectionBounds(doc.id), host.activeLayerId(doc.id)]);
    store.set({ doc: { ...doc, layers, activeLayerId, selection } });
    return doc;
  }

  // -- ControlNet units -----------------------------------------------------------------------------------

  function addUnit() {
    const layers = store.get().doc?.layers ?? [];
    const unit = newUnit(`u${++unitCounter}`, layers[0]?.id ?? "");
    store.set((s) => ({ units: [...s.units, unit] }));
    return unit;
  }
  const updateUnit = (id, patch) => store.set((s) => ({ units: s.units.map((u) => (u.id === id ? { ...u, ...patch } : u)) }));
  const removeUnit = (id) => store.set((s) => ({ units: s.units.filter((u) => u.id !== id) }));

  // -- capture (read-only) ----------------------------------------------------------------------------------

  async function readRegion(doc, layerId, crop) {
    const piece = await host.readPixels(doc.id, { layerId, rect: crop });
    const buf = composeInto(crop, 4, piece?.bounds ?? crop, piece?.buffer ?? null);
    return extendEdges(buf, crop, doc.width, doc.height);
  }

  async function requireDocument() {
    if (!(await refreshDocument())) throw new BridgeError("failed_precondition", "open a document first");
    return store.get().doc; // {id, title, width, height, resolution, layers, activeLayerId, selection}
  }

  const sourceLayerId = () => {
    const { form, doc } = store.get();
    if (form.source === "merged") return null;
    if (!doc.activeLayerId) throw new BridgeError("failed_precondition", "select a layer (or choose Merged visible as the source)");
    return doc.activeLayerId;
  };

  function sampling(form) {
    const s = { numInferenceSteps: Number(form.steps), guidanceScale: Number(form.guidance), scheduler: form.scheduler || "" };
    if (Number(form.seed) >= 0) s.seed = BigInt(Math.floor(Number(form.seed)));
    if (Number(form.batch) > 1) s.numImagesPerPrompt = Number(form.batch);
    return s;
  }

  async function controlUnits(doc, crop) {
    const units = [];
    for (const unit of store.get().units) {
      const layer = doc.layers.find((l) => l.id === unit.layerId);
      if (!layer) throw new BridgeError("invalid_argument", `ControlNet unit: choose a layer (${unit.type})`, "control_units");
      units.push(await controlUnit(doc, unit, crop));
    }
    return units;
  }

  async function controlUnit(doc, unit, crop) {
    if (unit.type === "reference") return referenceUnit(doc, unit, readRegion); // an IP-Adapter image prompt
    const image = { data: encodePNG(await readRegion(doc, unit.layerId, crop)), mimeType: "image/png" };
    return {
      controlType: CONTROL_TYPES[unit.type],
      controlnetConditioningScale: Number(unit.weight),
      controlGuidanceStart: Number(unit.start),
      controlGuidanceEnd: Number(unit.end),
      source: unit.source === "map" ? { case: "image", value: image } : { case: "preprocess", value: { image, preprocessor: Preprocessor.UNSPECIFIED } },
    };
  }

  /** The region of a request: the selection (padded, multiples of 8) or, without one, the whole document. */
  async function regionFor(doc, { needSelection = false, wholeDocument = false } = {}) {
    if (wholeDocument) return { region: planDocument(doc.width, doc.height), selection: null };
    const selection = await host.selection(doc.id);
    if (needSelection && !selection) throw new BridgeError("failed_precondition", "make a selection first: it becomes the inpaint mask");
    const region = planRegion({ selection: selection?.bounds ?? null, docWidth: doc.width, docHeight: doc.height, padding: store.get().settings.padding });
    return { region, selection };
  }

  const placementFor = (doc, region, selection, extra = {}) => ({
    docId: doc.id,
    crop: region.crop,
    place: region.place,
    offset: region.offset,
    mask: selection ? toBase64(encodePNG(maskForPlace(selection, region.place))) : null,
    ...extra,
  });

  // -- the actions ----------------------------------------------------------------------------------------

  /** mode: "txt2img" (new layer at document size), "img2img" or "inpaint" (selection -> exact placement). */
  function generate(mode = "txt2img") {
    return runAction(mode, async () => {
      const doc = await requireDocument();
      const { form } = store.get();
      const { region, selection } = await regionFor(doc, { needSelection: mode === "inpaint", wholeDocument: mode === "txt2img" });
      const task = {
        modelId: form.modelId, prompt: form.prompt, negativePrompt: form.negativePrompt,
        width: region.crop.width, height: region.crop.height, sampling: sampling(form),
        controlUnits: await controlUnits(doc, region.crop), adapters: await taskAdapters(form), ...restoreFacesField(form),
      };
      if (mode !== "txt2img") {
        task.initImage = { data: encodePNG(await readRegion(doc, sourceLayerId(), region.crop)), mimeType: "image/png" };
        task.strength = Number(form.strength);
      }
      if (mode === "inpaint") task.maskImage = { data: encodePNG(maskForCrop(selection, region.crop)), mimeType: "image/png" };
      return { task: { kind: { case: "generate", value: task } }, placement: placementFor(doc, region, mode === "txt2img" ? null : selection) };
    });
  }

  function depth2img() {
    return runAction("depth2img", async () => {
      const doc = await requireDocument();
      const { form } = store.get();
      const { region, selection } = await regionFor(doc);
      const task = {
        modelId: form.modelId, prompt: form.prompt, negativePrompt: form.negativePrompt,
        width: region.crop.width, height: region.crop.height, sampling: sampling(form), strength: Number(form.strength),
        adapters: await taskAdapters(form),
        initImage: { data: encodePNG(await readRegion(doc, sourceLayerId(), region.crop)), mimeType: "image/png" },
      };
      if (form.depthLayerId) { // a depth map layer (near = bright), else the server estimates depth
        task.depthPass = depthPassFromGray(toGray(await readRegion(doc, form.depthLayerId, region.crop)), form.depthNormalization);
      }
      return { task: { kind: { case: "depth2img", value: task } }, placement: placementFor(doc, region, selection) };
    });
  }

  /** scope "document": the merged image into a new document; "layer": the active layer, a new layer anchored at its top-left. */
  function upscale() {
    const { form } = store.get();
    const label = `upscale x${form.upscaleScale}`;
    return runAction(label, async () => {
      const doc = await requireDocument();
      let source, placement;
      if (form.upscaleScope === "layer") {
        const layer = doc.layers.find((l) => l.id === doc.activeLayerId);
        if (!layer?.bounds || layer.bounds.width <= 0) throw new BridgeError("failed_precondition", "the active layer is empty");
        source = layer.bounds;
        placement = { docId: doc.id, anchor: { left: layer.bounds.left, top: layer.bounds.top } };
      } else {
        source = rect(0, 0, doc.width, doc.height);
        placement = { newDocument: { title: `${doc.title} ${label}`, resolution: doc.resolution }, anchor: { left: 0, top: 0 } };
      }
      const pixels = await readRegion(doc, form.upscaleScope === "layer" ? doc.activeLayerId : null, source);
      const task = {
        image: { data: encodePNG(pixels), mimeType: "image/png" },
        method: upscaleMethod(form.upscaleMethod),
        upscalerId: form.upscalerId, scale: Number(form.upscaleScale), tileSize: Number(form.tileSize) || 0,
        modelId: form.upscaleMethod === "tiled" ? form.modelId : "", prompt: form.prompt, negativePrompt: form.negativePrompt,
        sampling: upscaleSampling(form),
        // only tiled diffusion runs the model's UNet; the other methods refuse adapters
        adapters: form.upscaleMethod === "tiled" ? await taskAdapters(form) : undefined, ...restoreFacesField(form),
      };
      return { task: { kind: { case: "upscale", value: task } }, placement };
    });
  }

  /** A seamless texture (PBR maps as extra layers) into new layers at the top-left of the document. */
  function texture() {
    return runAction("texture", async () => {
      const doc = await requireDocument();
      const { form } = store.get();
      const size = Math.max(64, Math.round(Number(form.textureSize) / 8) * 8);
      const task = {
        modelId: form.modelId, prompt: form.prompt, negativePrompt: form.negativePrompt, width: size, height: size,
        sampling: sampling(form), tiling: tilingAxes(form.tiling), pbrMaps: Boolean(form.pbr),
        adapters: await taskAdapters(form),
      };
      return { task: { kind: { case: "texture", value: task } }, placement: { docId: doc.id, anchor: { left: 0, top: 0 }, alwaysGroup: Boolean(form.pbr) } };
    });
  }

  /** The control map a unit would use, as a hidden layer over the request region. */
  function previewControl(unitId) {
    const unit = store.get().units.find((u) => u.id === unitId);
    return runAction(`control ${unit?.type ?? ""}`, async () => {
      if (!unit?.layerId) throw new BridgeError("invalid_argument", "choose the unit's layer first", "control_units");
      const doc = await requireDocument();
      const { region, selection } = await regionFor(doc);
      const task = { unit: await controlUnit(doc, unit, region.crop), width: region.crop.width, height: region.crop.height };
      const layerName = doc.layers.find((l) => l.id === unit.layerId)?.name ?? "";
      return {
        task: { kind: { case: "preprocess", value: task } },
        placement: { ...placementFor(doc, region, selection), hidden: true, name: `control map · ${unit.type} · ${layerName}` },
      };
    });
  }

  /** Extend (controllers/extend.js): the canvas grows by margins / to an aspect, or the selection is filled beyond. */
  function extendCanvas() {
    const { form } = store.get();
    return runAction(extendLabel(form), async () => {
      const doc = await requireDocument();
      const selectionBounds = form.extendTarget === "selection" ? await host.selectionBounds(doc.id) : null;
      const readMerged = async (area) => ({ data: encodePNG(await readRegion(doc, null, area)), mimeType: "image/png" });
      const { fields, placement } = await extendRequest(doc, form, { selectionBounds, readMerged });
      const task = {
        modelId: form.modelId, prompt: form.prompt, negativePrompt: form.negativePrompt, sampling: sampling(form),
        adapters: await taskAdapters(form), ...fillFields(form), ...restoreFacesField(form), ...fields,
      };
      return { task: { kind: { case: "outpaint", value: task } }, placement };
    });
  }

  // -- jobs -------------------------------------------------------------------------------------------------

  async function runAction(label, build) {
    if (store.get().job.busy) {
      say("error", "a job is already running");
      return { state: "busy" };
    }
    cancelRequested = false;
    store.set({ job: { ...idle, busy: true, label, state: "preparing" }, lastLayers: [] });
    say("info", `${label}: preparing…`);
    let request;
    try {
      request = await build();
    } catch (error) {
      store.set({ job: idle });
      say("error", `${label}: ${explain(error)}`);
      return { state: "failed", error };
    }
    return follow({ label, task: request.task, placement: request.placement });
  }

  async function follow({ label, task, placement, jobId, afterSequence = 0n }) {
    const signal = controller.signal;
    const { settings } = store.get();
    store.set((s) => ({ job: { ...s.job, busy: true, label, jobId: jobId ?? "", state: "submitting" } }));
    let outcome;
    try {
      outcome = await followJob(bridge(), {
        task, jobId, afterSequence, mode: transportMode(), signal,
        options: { previewEveryNSteps: settings.previews ? 2 : 0, label: "photoshop", omitImageData: false },
        onJobId: (id) => {
          addPending({ jobId: id, label, placement });
          store.set((s) => ({ job: { ...s.job, jobId: id } }));
          if (cancelRequested) cancel();
        },
        onUpdate: (u) => {
          const fraction = u.total ? u.step / u.total : 0;
          store.set((s) => ({
            job: { ...s.job, state: u.state, stage: u.stage, step: u.step, total: u.total, fraction, queuePosition: u.queuePosition, previewUrl: u.preview ? dataUrl(u.preview) : s.job.previewUrl },
          }));
        },
      });
    } catch (error) {
      const knownId = jobId || store.get().job.jobId;
      store.set({ job: idle });
      if (signal.aborted || error?.transient) {
        say("error", `${label}: ${explain(error)} — the job stays on the server and is fetched when the panel reopens`);
        return { state: "interrupted", error };
      }
      if (knownId) removePending(knownId); // the server refused it or no longer knows it
      say("error", `${label}: ${explain(error)}`);
      return { state: "failed", error };
    }
    removePending(outcome.jobId);
    if (outcome.state !== "succeeded") {
      store.set({ job: idle });
      const text = outcome.state === "cancelled" ? `${label}: cancelled` : `${label} failed: ${explain(outcome.error)}`;
      say(outcome.state === "cancelled" ? "info" : "error", `${text} — the document is unchanged`);
      return outcome;
    }
    try {
      store.set((s) => ({ job: { ...s.job, state: "placing", stage: "placing", fraction: 1 } }));
      const edit = planLayers(label, outcome.result, placement);
      const applied = await host.apply(edit, (fraction, text) =>
        store.set((s) => ({ job: { ...s.job, stage: text || "placing", fraction } })));
      store.set({ job: idle, lastLayers: edit.layers.map((l) => l.name) });
      say("success", `${label}: ${edit.layers.length === 1 ? `layer "${edit.layers[0].name}"` : `group "${edit.group}" with ${edit.layers.length} layers`} added`);
      await refreshDocument().catch(() => {});
      return { ...outcome, edit, applied };
    } catch (error) {
      store.set({ job: idle });
      say("error", `${label}: could not place the result (${explain(error)}) — the document is unchanged; job ${outcome.jobId} keeps it on the server`);
      return { state: "failed", jobId: outcome.jobId, error };
    }
  }

  /** Result images + placement -> the layers to add (decoded and cut before any document edit). */
  function planLayers(label, result, placement) {
    const images = result.images.filter((i) => i.image?.data?.length);
    if (!images.length) throw new BridgeError("data_loss", "the result has no images (was it submitted with omit_image_data?)");
    const mask = placement.mask ? decodePNG(fromBase64(placement.mask)) : null;
    const layers = images.map((image) => {
      const decoded = toRGBA(decodePNG(image.image.data));
      const seed = String(image.seed ?? 0n);
      const role = image.role && image.role !== "image" && image.role !== "control" ? image.role : "";
      const name = placement.name ?? `${role || label} · seed ${seed}`;
      if (placement.beyond) return { name, ...placeBeyond(decoded, result, placement.beyond), mask: null, hidden: false, seed, role };
      if (placement.anchor) {
        return { name, bounds: rect(placement.anchor.left, placement.anchor.top, decoded.width, decoded.height), rgba: decoded, mask: null, hidden: Boolean(placement.hidden), seed, role };
      }
      const rgba = resultForPlace(decoded, placement);
      return { name, bounds: { ...placement.place }, rgba, mask, hidden: Boolean(placement.hidden), seed, role };
    });
    const seeds = [...new Set(layers.map((l) => l.seed))];
    const group = layers.length > 1 || placement.alwaysGroup
      ? `${label} · ${seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds.join(", ")}`}`
      : null;
    const resizeCanvas = placement.growCanvas ? canvasGrowth(result, placement.growCanvas) : null;
    return { docId: placement.docId ?? null, resizeCanvas, newDocument: placement.newDocument ? { ...placement.newDocument, width: layers[0].rgba.width, height: layers[0].rgba.height } : null, label, group, layers };
  }

  async function cancel() {
    const { jobId } = store.get().job;
    if (!jobId) {
      cancelRequested = store.get().job.busy;
      return;
    }
    say("info", "cancelling…");
    try {
      await bridge().cancel(jobId);
    } catch (error) {
      say("error", `cancel: ${explain(error)}`);
    }
  }

  // -- pending jobs: fetched by id when the panel reopens (controllers/pending.js) -------------------------------

  const { add: addPending, remove: removePending } = pendingJobs(store, storage);

  /** Finish the jobs a previous panel started: wait for each by id and place its result (or say why not). */
  async function resume() {
    const outcomes = [];
    for (const entry of [...store.get().pending]) {
      if (store.get().job.busy) break;
      if (entry.placement.docId && !(await host.documentOpen(entry.placement.docId))) {
        removePending(entry.jobId);
        say("error", `${entry.label}: its document is closed; job ${entry.jobId} keeps the result on the server`);
        outcomes.push({ jobId: entry.jobId, state: "skipped" });
        continue;
      }
      say("info", `${entry.label}: fetching job ${entry.jobId} started before the panel closed`);
      outcomes.push(await follow({ label: entry.label, placement: entry.placement, jobId: entry.jobId }));
    }
    return outcomes;
  }

  /** The panel is closing: stop following (the jobs keep running and stay pending), stop reacting. */
  function dispose() {
    controller.abort();
    controller = new AbortController();
  }

  return {
    store, updateSettings, updateForm, testConnection, refreshDocument, addUnit, updateUnit, removeUnit,
    adapterMenus, addLora, updateLora, removeLora, setVae, insertEmbedding,
    generate, depth2img, upscale, texture, extendCanvas, previewControl, cancel, resume, dispose, planLayers,
    runAction, follow, say, // History (controllers/history.js) re-runs and re-applies through these
  };
}
