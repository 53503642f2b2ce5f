// The panel: plain HTML elements styled like Spectrum (styles.css), bound to the store. It reads state and calls
// controllers; it never talks to the network or to Photoshop itself.
import { ANCHORS, ASPECTS, extendPreview } from "../controllers/extend.js";
import { REFERENCE_SCOPES, referenceAdapters } from "../controllers/reference.js";
import { promptUses, tokenOf } from "../state/adapters.js";
import { liveSection } from "./live_panel.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child != null) node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  return node;
}

// UXP's DOM is a subset: stick to appendChild/removeChild and attributes (no replaceChildren, no dataset).
function setChildren(node, children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  for (const child of children) node.appendChild(child);
}

const field = (label, control, hint) => el("label", { class: "field" }, el("span", { class: "label" }, label), control, hint ? el("span", { class: "hint" }, hint) : null);
const options = (list, selected) => list.map(([value, text]) => el("option", { value, selected: String(value) === String(selected) }, text));
const section = (title, ...children) => el("section", { class: "section" }, el("h2", {}, title), ...children);

export function mountPanel(root, app, live = null) {
  const { store } = app;
  const s0 = store.get();
  // Inputs show the state (settings and form may change from code: loaded, resumed, set by a controller);
  // the one being edited is left alone.
  const bindings = [];
  const bind = (node, read) => {
    bindings.push([node, read]);
    return node;
  };
  const input = (attrs, read) => bind(el(attrs.tag ?? "input", { ...attrs, tag: null }), read);
  const form = (key, parse = (v) => v) => (event) => app.updateForm({ [key]: parse(event.target.type === "checkbox" ? event.target.checked : event.target.value) });
  const num = Number;

  // -- connection -------------------------------------------------------------------------------------------
  const serverStatus = el("div", { class: "server-status" });
  const connection = section("Server",
    field("Server URL", input({ type: "text", value: s0.settings.serverUrl, spellcheck: "false", onchange: (e) => app.updateSettings({ serverUrl: e.target.value.trim() }) }, (s) => s.settings.serverUrl)),
    field("Token", input({ type: "password", value: s0.settings.token, placeholder: "none", onchange: (e) => app.updateSettings({ token: e.target.value.trim() }) }, (s) => s.settings.token)),
    el("div", { class: "row" },
      field("Progress via", bind(el("select", { onchange: (e) => app.updateSettings({ transport: e.target.value }) },
        options([["longpoll", "Long-poll (GetJob)"], ["stream", "Streaming (Run)"]], s0.settings.transport)), (s) => s.settings.transport)),
      field("Padding px", input({ type: "number", min: 0, max: 512, step: 8, value: s0.settings.padding, onchange: (e) => app.updateSettings({ padding: num(e.target.value) }) }, (s) => s.settings.padding))),
    el("div", { class: "row buttons" }, el("button", { class: "secondary", onclick: () => app.testConnection() }, "Test connection")),
    serverStatus);

  // -- prompt and sampling ------------------------------------------------------------------------------------
  const modelSelect = bind(el("select", { onchange: form("modelId") }), (s) => s.form.modelId);
  const schedulerSelect = bind(el("select", { onchange: form("scheduler") }), (s) => s.form.scheduler);
  const prompt = section("Prompt",
    bind(el("textarea", { rows: 3, placeholder: "Prompt", value: s0.form.prompt, oninput: form("prompt") }), (s) => s.form.prompt),
    bind(el("textarea", { rows: 2, class: "negative", placeholder: "Negative prompt", value: s0.form.negativePrompt, oninput: form("negativePrompt") }), (s) => s.form.negativePrompt),
    el("div", { class: "row" }, field("Model", modelSelect), field("Scheduler", schedulerSelect)),
    el("div", { class: "row four" },
      field("Steps", bind(el("input", { type: "number", min: 1, max: 150, value: s0.form.steps, onchange: form("steps", num) }), (s) => s.form.steps)),
      field("CFG", bind(el("input", { type: "number", min: 0, max: 30, step: 0.5, value: s0.form.guidance, onchange: form("guidance", num) }), (s) => s.form.guidance)),
      field("Seed", bind(el("input", { type: "number", min: -1, value: s0.form.seed, onchange: form("seed", num) }), (s) => s.form.seed)),
      field("Batch", bind(el("input", { type: "number", min: 1, max: 8, value: s0.form.batch, onchange: form("batch", num) }), (s) => s.form.batch))));

  // -- LoRAs, embeddings, VAE (only those of the selected model's family) -------------------------------------
  const loraList = el("div", { class: "loras" });
  const addLoraSelect = el("select", { onchange: (e) => { app.addLora(e.target.value); e.target.value = ""; } });
  const embeddingList = el("div", { class: "embeddings" });
  const vaeSelect = el("select", { onchange: (e) => app.setVae(e.target.value) });
  const adapterHint = el("div", { class: "hint" });
  const adapters = section("LoRAs · embeddings · VAE", adapterHint, loraList,
    el("div", { class: "row" }, field("Add LoRA", addLoraSelect), field("VAE", vaeSelect)), embeddingList);

  // -- image: source, strength, actions ----------------------------------------------------------------------
  const selectionInfo = el("div", { class: "hint selection-info" });
  const depthSelect = bind(el("select", { onchange: form("depthLayerId") }), (s) => s.form.depthLayerId);
  const image = section("Image",
    el("div", { class: "row" },
      field("Source", bind(el("select", { onchange: form("source") }, options([["layer", "Active layer"], ["merged", "Merged visible"]], s0.form.source)), (s) => s.form.source)),
      field("Strength", bind(el("input", { type: "number", min: 0.05, max: 1, step: 0.05, value: s0.form.strength, onchange: form("strength", num) }), (s) => s.form.strength))),
    selectionInfo,
    el("div", { class: "row buttons grid" },
      el("button", { class: "cta", "data-action": "txt2img", onclick: () => app.generate("txt2img") }, "Generate"),
      el("button", { "data-action": "img2img", onclick: () => app.generate("img2img") }, "Img2img"),
      el("button", { "data-action": "inpaint", onclick: () => app.generate("inpaint") }, "Inpaint"),
      el("button", { "data-action": "depth2img", onclick: () => app.depth2img() }, "Depth2Img")),
    field("Depth map layer (Depth2Img)", depthSelect, "near = bright; none: the server estimates depth"),
    field("Depth levels", bind(el("select", { onchange: form("depthNormalization") }, options([
      ["as_painted", "As painted"], ["auto", "Rescale: model default"], ["min_max", "Rescale: min-max"],
      ["percentile", "Rescale: percentile"]], s0.form.depthNormalization)), (s) => s.form.depthNormalization),
      "as painted: used as is; rescale: black = background, the rest stretched as the ControlNets saw depth"));

  // -- ControlNet units ---------------------------------------------------------------------------------------
  const unitList = el("div", { class: "units" });
  const control = section("ControlNet", unitList,
    el("div", { class: "row buttons" }, el("button", { class: "secondary", onclick: () => app.addUnit() }, "+ Add unit")));

  // -- upscale and texture ------------------------------------------------------------------------------------
  const upscalerSelect = bind(el("select", { onchange: form("upscalerId") }), (s) => s.form.upscalerId);
  const upscale = section("Upscale",
    el("div", { class: "row" },
      field("Scope", bind(el("select", { onchange: form("upscaleScope") }, options([["document", "Document → new document"], ["layer", "Active layer → new layer"]], s0.form.upscaleScope)), (s) => s.form.upscaleScope)),
      field("Method", bind(el("select", { onchange: form("upscaleMethod") }, options([["esrgan", "ESRGAN"], ["sd_x4", "SD x4"], ["tiled", "Tiled diffusion"], ["lanczos", "Lanczos"], ["auto", "Auto"]], s0.form.upscaleMethod)), (s) => s.form.upscaleMethod))),
    el("div", { class: "row" },
      field("Upscaler", upscalerSelect),
      field("Scale", bind(el("input", { type: "number", min: 1, max: 8, step: 0.5, value: s0.form.upscaleScale, onchange: form("upscaleScale", num) }), (s) => s.form.upscaleScale))),
    el("div", { class: "row buttons" }, el("button", { "data-action": "upscale", onclick: () => app.upscale() }, "Upscale")));
  const texture = section("Seamless texture",
    el("div", { class: "row" },
      field("Tiling", bind(el("select", { onchange: form("tiling") }, options([["both", "X and Y"], ["x", "X only"], ["y", "Y only"], ["none", "None"]], s0.form.tiling)), (s) => s.form.tiling)),
      field("Size px", bind(el("input", { type: "number", min: 64, max: 2048, step: 64, value: s0.form.textureSize, onchange: form("textureSize", num) }), (s) => s.form.textureSize))),
    el("label", { class: "check" }, bind(el("input", { type: "checkbox", checked: s0.form.pbr, onchange: form("pbr") }), (s) => s.form.pbr), "PBR maps (height, normal, roughness, AO) as extra layers"),
    el("div", { class: "row buttons" }, el("button", { "data-action": "texture", onclick: () => app.texture() }, "Make texture")));

  const marginInput = (key, label) => field(label, bind(el("input", { type: "number", min: 0, max: 2048, step: 8, value: s0.form[key], onchange: form(key, num) }), (s) => s.form[key]));
  const extendInfo = el("div", { class: "hint extend-info" });
  const extend = section("Extend canvas",
    el("div", { class: "row" },
      field("Target", bind(el("select", { onchange: form("extendTarget") }, options([["canvas", "Grow the canvas"], ["selection", "Fill beyond the selection"]], s0.form.extendTarget)), (s) => s.form.extendTarget)),
      field("Extent", bind(el("select", { onchange: form("extendExtent") }, options([["margins", "Margins"], ["edges", "To the canvas edges"], ...ASPECTS.map((a) => [a, `Aspect ${a}`])], s0.form.extendExtent)), (s) => s.form.extendExtent)),
      field("Anchor", bind(el("select", { onchange: form("extendAnchor") }, options(Object.keys(ANCHORS).map((a) => [a, a.replace("_", " ")]), s0.form.extendAnchor)), (s) => s.form.extendAnchor))),
    el("div", { class: "row" }, marginInput("extendLeft", "Left px"), marginInput("extendTop", "Top px"), marginInput("extendRight", "Right px"), marginInput("extendBottom", "Bottom px")),
    el("div", { class: "row" },
      field("Fill", bind(el("select", { onchange: form("extendFill") }, options([["edge", "Edge extend"], ["telea", "Inpaint (Telea)"], ["ns", "Inpaint (Navier-Stokes)"]], s0.form.extendFill)), (s) => s.form.extendFill)),
      field("Feather px", bind(el("input", { type: "number", min: 0, max: 256, placeholder: "32", value: s0.form.extendFeather, onchange: form("extendFeather") }), (s) => s.form.extendFeather))),
    extendInfo,
    el("div", { class: "row buttons" }, el("button", { "data-action": "extend", onclick: () => app.extendCanvas() }, "Extend canvas")));

  // -- live (src/ui/live_panel.js) ------------------------------------------------------------------------------
  const liveUi = live ? liveSection({ el, field, section, bind }, app, live) : null;
  const restorerSelect = bind(el("select", { onchange: form("faceRestorerId") }), (s) => s.form.faceRestorerId);
  const faces = section("Restore faces",
    el("label", { class: "check" }, bind(el("input", { type: "checkbox", checked: s0.form.restoreFaces, onchange: form("restoreFaces") }), (s) => s.form.restoreFaces), "Restore faces after Generate, Upscale and Extend canvas"),
    el("div", { class: "row" }, field("Restorer", restorerSelect),
      field("Strength", bind(el("input", { type: "number", min: 0, max: 1, step: 0.05, value: s0.form.faceStrength, onchange: form("faceStrength", num) }), (s) => s.form.faceStrength))));

  // -- progress -----------------------------------------------------------------------------------------------
  const bar = el("div", { class: "bar-fill" });
  const stage = el("span", { class: "stage" });
  const preview = el("img", { class: "preview", alt: "" });
  const cancelButton = el("button", { class: "secondary", onclick: () => app.cancel() }, "Cancel");
  const status = el("div", { class: "status", role: "status" });
  const progress = el("section", { class: "section progress" },
    el("div", { class: "row" }, el("div", { class: "bar" }, bar), cancelButton), stage, preview);

  setChildren(root, [el("div", { class: "panel" }, connection, prompt, adapters, image, control, upscale, texture, extend, faces, liveUi?.node, progress, status)]);

  // -- bindings -----------------------------------------------------------------------------------------------
  let lastUnitsKey = "";
  function renderUnits(s) {
    const layers = s.doc?.layers ?? [];
    const key = JSON.stringify([s.units, layers.map((l) => [l.id, l.name]), s.form.modelId, s.server.models]);
    if (key === lastUnitsKey) return;
    lastUnitsKey = key;
    const layerOptions = (selected) => options(layers.map((l) => [l.id, l.name]), selected);
    setChildren(unitList, s.units.length ? s.units.map((u, i) => {
      const set = (k, parse = (v) => v) => (e) => app.updateUnit(u.id, { [k]: parse(e.target.value) });
      return el("div", { class: "unit" },
        el("div", { class: "row unit-head" }, el("strong", {}, `Unit ${i + 1}`),
          u.type === "reference" ? null : el("button", { class: "quiet", title: "Preview the map as a hidden layer", onclick: () => app.previewControl(u.id) }, "Preview map"),
          el("button", { class: "quiet", title: "Remove", onclick: () => app.removeUnit(u.id) }, "✕")),
        el("div", { class: "row" },
          field("Layer", el("select", { onchange: (e) => app.updateUnit(u.id, { layerId: layers.find((l) => String(l.id) === e.target.value)?.id ?? "" }) }, layerOptions(u.layerId))),
          field("Type", el("select", { onchange: set("type") }, options([["canny", "Canny"], ["depth", "Depth"], ["openpose", "Pose"], ["reference", "Reference (IP-Adapter)"]], u.type)))),
        u.type === "reference" ? el("div", { class: "row" },
          field("Take", el("select", { onchange: set("scope") }, options(REFERENCE_SCOPES, u.scope ?? "layer"))),
          field("IP-Adapter", el("select", { onchange: set("adapterId") }, options([["", "Model's default"], ...referenceAdapters(s.server, s.form.modelId).map((a) => [a.id, a.label])], u.adapterId ?? "")))) : null,
        el("div", { class: "row four unit-params" },
          u.type === "reference" ? null : field("Input", el("select", { onchange: set("source") }, options([["preprocess", "Preprocess"], ["map", "Ready map"]], u.source))),
          field("Weight", el("input", { type: "number", min: 0, max: 2, step: 0.05, value: u.weight, onchange: set("weight", Number) })),
          field("Start", el("input", { type: "number", min: 0, max: 1, step: 0.05, value: u.start, onchange: set("start", Number) })),
          field("End", el("input", { type: "number", min: 0, max: 1, step: 0.05, value: u.end, onchange: set("end", Number) }))));
    }) : [el("div", { class: "hint" }, "No units. Add one to guide the image with a layer (canny, depth, pose, or a reference image).")]);
  }

  let lastAdaptersKey = "";
  function renderAdapters(s) {
    const menus = app.adapterMenus();
    const key = JSON.stringify([menus, s.form.loras, s.form.vaeId, s.form.prompt, s.form.negativePrompt, s.server.status]);
    if (key === lastAdaptersKey) return;
    lastAdaptersKey = key;
    const offered = (id) => menus.loras.some((l) => l.id === id);
    adapterHint.textContent = s.server.status !== "connected" ? "Test connection to list the server's LoRAs, embeddings and VAEs."
      : `For ${menus.family || "the selected"} models. An embedding is used when its token is in the prompt.`;
    setChildren(loraList, s.form.loras.map((l) => el("div", { class: "row lora" },
      el("span", { class: offered(l.id) || s.server.status !== "connected" ? "label" : "label stale" },
        offered(l.id) || s.server.status !== "connected" ? l.id : `${l.id} (not on the server)`),
      el("input", { type: "number", min: -4, max: 4, step: 0.05, value: l.weight, title: "weight -4..4", onchange: (e) => app.updateLora(l.id, e.target.value) }),
      el("button", { class: "quiet", title: "Remove", onclick: () => app.removeLora(l.id) }, "✕"))));
    setChildren(addLoraSelect, options([["", menus.loras.length ? "+ LoRA…" : "none for this model"],
      ...menus.loras.filter((l) => !s.form.loras.some((c) => c.id === l.id)).map((l) => [l.id, l.label])], ""));
    const vaes = menus.vaes.map((v) => [v.id, v.label]);
    if (s.form.vaeId && !menus.vaes.some((v) => v.id === s.form.vaeId)) vaes.push([s.form.vaeId, `${s.form.vaeId} (not on the server)`]);
    setChildren(vaeSelect, options([["", "Model's own"], ...vaes], s.form.vaeId));
    setChildren(embeddingList, menus.embeddings.map((e) => {
      const token = tokenOf(e);
      const used = promptUses(s.form.prompt, token) || promptUses(s.form.negativePrompt, token);
      return el("div", { class: "row embedding" }, el("span", { class: "label" }, `${e.label} · ${token}${used ? " (in prompt)" : ""}`),
        el("button", { class: "quiet", disabled: used, title: "Insert its token into the prompt", onclick: () => app.insertEmbedding(e.id) }, "Insert"));
    }));
  }

  function fill(select, list, selected, emptyText) {
    const key = JSON.stringify([list, selected]);
    if (select.getAttribute("data-options") === key) return;
    select.setAttribute("data-options", key);
    setChildren(select, options([["", emptyText], ...list], selected));
  }

  function render(s) {
    serverStatus.className = `server-status ${s.server.status}`;
    serverStatus.textContent = s.server.status === "connected"
      ? `● ${s.server.message} · models: ${s.server.models.map((m) => m.id).join(", ")}`
      : s.server.status === "connecting" ? "Connecting…" : s.server.status === "error" ? `● ${s.server.message}` : "Not connected";
    fill(modelSelect, s.server.models.map((m) => [m.id, `${m.id} (${m.family})`]), s.form.modelId, "Server default");
    fill(schedulerSelect, s.server.schedulers.map((o) => [o.id, o.label]), s.form.scheduler, "Model default");
    fill(upscalerSelect, s.server.upscalers.map((o) => [o.id, o.label]), s.form.upscalerId, "Default for method");
    fill(restorerSelect, (s.server.restorers ?? []).map((o) => [o.id, o.label]), s.form.faceRestorerId, "Server default");
    fill(depthSelect, (s.doc?.layers ?? []).map((l) => [l.id, l.name]), s.form.depthLayerId, "None (estimate)");
    const sel = s.doc?.selection;
    selectionInfo.textContent = !s.doc ? "No document open"
      : sel ? `Selection ${sel.width} × ${sel.height} px at (${sel.left}, ${sel.top}) · result placed exactly there, masked by the selection`
        : `No selection: the whole ${s.doc.width} × ${s.doc.height} px document`;
    extendInfo.textContent = extendPreview(s.form, s.doc);
    liveUi?.render(s);
    renderUnits(s);
    renderAdapters(s);
    for (const [node, read] of bindings) {
      if (node === document.activeElement) continue;
      const value = read(s);
      if (node.type === "checkbox") node.checked = Boolean(value);
      else if (node.value !== String(value ?? "")) node.value = value ?? "";
    }
    const { job } = s;
    progress.className = job.busy ? "section progress busy" : "section progress";
    bar.style.width = `${Math.round((job.busy ? job.fraction : 0) * 100)}%`;
    stage.textContent = job.busy
      ? `${job.label}: ${job.state === "queued" ? `queued (position ${job.queuePosition})` : job.stage || job.state}${job.total ? ` ${job.step}/${job.total}` : ""}${job.jobId ? ` · job ${job.jobId.slice(0, 8)}` : ""}`
      : s.pending.length ? `${s.pending.length} job(s) waiting to be placed` : "Idle";
    if (job.previewUrl && job.busy) preview.src = job.previewUrl;
    preview.style.display = job.busy && job.previewUrl ? "block" : "none";
    cancelButton.disabled = !job.busy;
    for (const button of root.querySelectorAll("button[data-action]")) button.disabled = job.busy;
    status.className = `status ${s.status.kind}`;
    status.textContent = s.status.text;
  }
  store.subscribe(render);
  render(store.get());
  return { render };
}
