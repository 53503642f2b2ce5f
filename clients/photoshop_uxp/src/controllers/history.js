// History: past jobs from the server (ListJobs, paged; GetJob for one), shown as a grid in the History workspace.
// Re-apply fetches a job's result and places it like a fresh one; Re-run submits the job's stored Task again with
// the same seed or a new one. It writes the store's `history` slice and calls the app's own job runner, so a
// re-applied or re-run job is followed, cancelled and placed exactly like one started from its own button.
//
// Where a result goes back: every job this panel starts is remembered with its placement (the selection's place
// rect and mask, the document) in localStorage, keyed by job id, so Re-apply puts it where the selection was even
// after Photoshop restarted. A job from elsewhere (another machine, the CLI) has no placement: it goes to the
// document's top-left corner.
import { dataUrl } from "../image/codec.js";
import { CLIENT_NAME, JobState, createBridge } from "../transport/bridge.js";

export const HISTORY_PAGE_SIZE = 8;
export const THUMBNAIL_SIZE = 96;
const PLACEMENTS_KEY = "dccbridge.placements";
const MAX_PLACEMENTS = 200;
const STATE_NAME = { [JobState.QUEUED]: "queued", [JobState.RUNNING]: "running", [JobState.SUCCEEDED]: "succeeded", [JobState.FAILED]: "failed", [JobState.CANCELLED]: "cancelled" };
const CONTROL_NAME = { 1: "canny", 2: "depth", 3: "openpose" };

const readJson = (storage, key, fallback) => {
  try {
    return JSON.parse(storage?.getItem(key) ?? "null") ?? fallback;
  } catch {
    return fallback;
  }
};

/** What a job was, for the grid: {jobId, state, kind, mode, prompt, seed, model, controls, size, createdMs, ...}. */
export function summarize(job) {
  const kind = job.task?.kind?.case ?? job.taskType ?? "";
  const task = job.task?.kind?.value ?? {};
  const seeds = (job.result?.images ?? []).map((i) => String(i.seed ?? "")).filter((s) => s && s !== "0");
  const seed = task.sampling?.seed != null && task.sampling.seed !== 0n ? String(task.sampling.seed) : seeds[0] ?? "";
  return {
    jobId: job.jobId,
    state: STATE_NAME[job.state] ?? "unknown",
    kind,
    mode: modeOf(kind, task),
    prompt: task.prompt ?? "",
    seed,
    model: job.modelId || task.modelId || "",
    controls: (task.controlUnits ?? []).map((u) => `${CONTROL_NAME[u.controlType] ?? u.controlType} ${Number(u.controlnetConditioningScale ?? 1).toFixed(2)}`),
    size: task.width && task.height ? `${task.width}×${task.height}` : "",
    createdMs: Number(job.createdMs ?? 0),
    label: job.label ?? "",
    client: job.client ?? "",
    thumbnailUrl: job.thumbnail?.data?.length ? dataUrl(job.thumbnail.data, job.thumbnail.mimeType || "image/jpeg") : "",
    error: job.failure?.message ?? "",
  };
}

/** The panel action a task came from (its button): txt2img / img2img / inpaint for Generate, else the task kind. */
export function modeOf(kind, task) {
  if (kind !== "generate") return kind;
  if (task.maskImage) return "inpaint";
  return task.initImage ? "img2img" : "txt2img";
}

/** Inputs a re-run must read from the document again: the server keeps no input bytes (Job.task has them stripped). */
export function inputsToRecapture(kind, task) {
  const inputs = [];
  if (task.initImage || task.image) inputs.push("image");
  if (task.maskImage) inputs.push("mask");
  if (task.depthPass) inputs.push("depth");
  if (task.controlUnits?.length) inputs.push("control layers");
  if (kind === "outpaint" || kind === "upscale" || kind === "preprocess") inputs.push(...(inputs.includes("image") ? [] : ["image"]));
  return inputs;
}

export function createHistory({ app, host, storage = globalThis.localStorage, bridgeFactory = createBridge }) {
  const { store } = app;
  store.set({ history: { scope: "mine", text: "", page: 0, tokens: [""], nextPageToken: "", entries: [], loading: false, error: "" } });
  const bridge = () => {
    const { serverUrl, token } = store.get().settings;
    return bridgeFactory({ baseUrl: serverUrl, token });
  };
  const patch = (fields) => store.set((s) => ({ history: { ...s.history, ...fields } }));

  // -- placements of this panel's jobs (persisted) -----------------------------------------------------------
  let placements = readJson(storage, PLACEMENTS_KEY, {});
  const remember = (jobId, label, placement) => {
    if (placements[jobId]) return;
    placements = { ...placements, [jobId]: { label, placement } };
    const ids = Object.keys(placements);
    for (const old of ids.slice(0, Math.max(0, ids.length - MAX_PLACEMENTS))) delete placements[old];
    storage?.setItem(PLACEMENTS_KEY, JSON.stringify(placements));
  };
  // The app records each job it starts as pending (with its placement) the moment its id is known.
  store.subscribe((s) => { for (const p of s.pending) if (!placements[p.jobId]) remember(p.jobId, p.label, p.placement); });
  const placementOf = (jobId) => placements[jobId] ?? null;

  // -- listing -------------------------------------------------------------------------------------------------
  async function load(page = store.get().history.page) {
    const h = store.get().history;
    patch({ loading: true, error: "" });
    try {
      const { jobs, nextPageToken } = await bridge().listJobsPage({
        pageSize: HISTORY_PAGE_SIZE, pageToken: h.tokens[page] ?? "", text: h.text,
        client: h.scope === "mine" ? CLIENT_NAME : "", thumbnailSize: THUMBNAIL_SIZE,
      });
      // A server that predates the client filter returns every job: keep those recorded as another client's out.
      const entries = jobs.filter((j) => h.scope !== "mine" || !j.client || j.client === CLIENT_NAME).map(summarize);
      const tokens = [...h.tokens.slice(0, page + 1)];
      if (nextPageToken) tokens[page + 1] = nextPageToken;
      patch({ page, tokens, nextPageToken, entries, loading: false });
      await fillThumbnails(entries);
      return store.get().history.entries;
    } catch (error) {
      patch({ loading: false, error: String(error?.message ?? error) });
      return [];
    }
  }
  // A server without thumbnails (before ListJobs' thumbnail_size): the page's results themselves, scaled by CSS.
  async function fillThumbnails(entries) {
    for (const entry of entries) {
      if (entry.thumbnailUrl || entry.state !== "succeeded") continue;
      try {
        const job = await bridge().getJob(entry.jobId);
        const image = job.result?.images?.find((i) => i.image?.data?.length);
        if (!image) continue;
        const url = dataUrl(image.image.data, image.image.mimeType || "image/png");
        patch({ entries: store.get().history.entries.map((e) => (e.jobId === entry.jobId ? { ...e, thumbnailUrl: url } : e)) });
      } catch {
        // a missing thumbnail leaves the tile text-only
      }
    }
  }
  const refresh = () => load(0);
  const next = () => (store.get().history.nextPageToken ? load(store.get().history.page + 1) : Promise.resolve(store.get().history.entries));
  const previous = () => load(Math.max(0, store.get().history.page - 1));
  const setFilter = ({ scope, text }) => {
    patch({ ...(scope ? { scope } : {}), ...(text != null ? { text } : {}), page: 0, tokens: [""] });
    return load(0);
  };

  // -- re-apply: the job's result, placed like a fresh one -------------------------------------------------------
  /** The placement for the active document: the recorded one (where the selection was), else the top-left. */
  async function placementHere(jobId) {
    const doc = await app.refreshDocument();
    const recorded = placementOf(jobId);
    if (recorded?.placement?.newDocument) return recorded.placement;
    if (!doc) throw new Error("open a document first");
    if (recorded?.placement) return { ...recorded.placement, docId: doc.id };
    return { docId: doc.id, anchor: { left: 0, top: 0 } };
  }

  async function reapply(jobId) {
    const entry = store.get().history.entries.find((e) => e.jobId === jobId);
    const placement = await placementHere(jobId);
    return app.follow({ label: `${placementOf(jobId)?.label ?? entry?.mode ?? "job"} (history)`, jobId, placement });
  }

  // -- re-run: the stored Task again, same seed or a new one ------------------------------------------------------
  /**
   * A task without image inputs (txt2img, texture) is submitted as stored; one with inputs (img2img, inpaint,
   * depth2img, upscale, extend) takes the job's settings into the form and runs its action, which reads the image,
   * mask, depth and control layers from the document again (the server keeps no input bytes).
   */
  async function rerun(jobId, { newSeed = false } = {}) {
    const job = await bridge().getJob(jobId, { omitImageData: true });
    const kind = job.task?.kind?.case;
    const task = job.task?.kind?.value;
    if (!task) throw new Error(`job ${jobId} has no stored task to run again`);
    const mode = modeOf(kind, task);
    const recapture = inputsToRecapture(kind, task);
    if (task.sampling) {
      if (newSeed) task.sampling.seed = undefined; // the server draws one (and records it)
    }
    if (!recapture.length && (kind === "generate" || kind === "texture")) {
      const label = placementOf(jobId)?.label ?? mode;
      const placement = await placementHere(jobId);
      return app.runAction(label, async () => ({ task: job.task, placement }));
    }
    useSettings(job, { newSeed });
    app.say?.("info", `${mode}: re-run with the job's settings; ${recapture.join(", ")} read from the document again`);
    if (kind === "generate") return app.generate(mode);
    if (kind === "depth2img") return app.depth2img();
    if (kind === "upscale") return app.upscale();
    if (kind === "outpaint") return app.extendCanvas();
    if (kind === "texture") return app.texture();
    throw new Error(`a ${kind} job cannot be run again from History`);
  }

  /** Puts a job's prompt, model and sampling into the form (the Generate workspace then shows them). */
  function useSettings(job, { newSeed = false } = {}) {
    const task = job.task?.kind?.value ?? {};
    const s = task.sampling ?? {};
    const form = {};
    if (task.prompt != null) form.prompt = task.prompt;
    if (task.negativePrompt != null) form.negativePrompt = task.negativePrompt;
    if (task.modelId != null) form.modelId = task.modelId;
    if (s.numInferenceSteps) form.steps = s.numInferenceSteps;
    if (s.guidanceScale) form.guidance = s.guidanceScale;
    if (s.scheduler != null) form.scheduler = s.scheduler;
    form.seed = !newSeed && s.seed != null ? Number(s.seed) : -1;
    if (task.strength) form.strength = Number(task.strength.toFixed(3));
    if (task.adapters?.loras?.length) form.loras = task.adapters.loras.map((l) => ({ id: l.id, weight: l.weight ?? 1 }));
    app.updateForm(form);
    return form;
  }

  /** "Use": the job's settings into the form, and the Generate workspace in front to adjust and run them. */
  async function useSettingsOf(jobId) {
    const form = useSettings(await bridge().getJob(jobId, { omitImageData: true }));
    store.set({ workspace: "generate" });
    return form;
  }

  return { load, refresh, next, previous, setFilter, reapply, rerun, useSettings, useSettingsOf, placementOf };
}
