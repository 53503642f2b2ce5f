// Reference units (IP-Adapter image prompts) from the controllers against a real server, with ONLY src/photoshop/
// replaced by the in-memory document: a layer, or the part of it inside the selection, is sent as the reference.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { createApp } from "../src/controllers/app.js";
import { referenceRect } from "../src/controllers/reference.js";
import { decodePNG } from "../src/image/codec.js";
import { rect } from "../src/math/region.js";
import { ControlType, createBridge } from "../src/transport/bridge.js";
import { createDocument, createMemoryHost, makeSelection, solidLayer } from "./fakes/memory_host.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN ?? "";
const skip = !baseUrl && "set DCCBRIDGE_HTTP_URL (and DCCBRIDGE_TOKEN) to a running server";

const memoryStorage = () => {
  const data = new Map();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) };
};

function setup(selection = null) {
  const layers = [
    solidLayer("Background", rect(0, 0, 96, 64), [200, 190, 170]),
    solidLayer("Style", rect(10, 6, 50, 40), [180, 30, 60]),
  ];
  const doc = createDocument({ title: "ref.psd", width: 96, height: 64, layers, selection, activeLayerId: layers[1].id });
  const sent = []; // the tasks as the plugin put them on the wire
  const bridgeFactory = (options) => {
    const real = createBridge(options);
    const keep = (task) => task && sent.push(task);
    return { ...real, submit: (task, ...rest) => (keep(task), real.submit(task, ...rest)), run: (task, ...rest) => (keep(task), real.run(task, ...rest)) };
  };
  const app = createApp({ host: createMemoryHost({ documents: [doc] }), storage: memoryStorage(), bridgeFactory });
  app.updateSettings({ serverUrl: baseUrl, token, padding: 8 });
  app.updateForm({ prompt: "a lighthouse", steps: 2, guidance: 5, seed: 7, batch: 1 });
  return { app, doc, sent, bridge: createBridge({ baseUrl, token }) };
}

/** The control units the plugin sent, and the server's record of the job (what it used). */
async function sentUnit(sent, bridge, jobId) {
  const job = await bridge.getJob(jobId, { omitImageData: true });
  return [sent.at(-1).kind.value.controlUnits, JSON.parse(job.result.metadataJson)];
}
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

test("the model's IP-Adapters are offered after Test connection", { skip }, async () => {
  const { app } = setup();
  const server = await app.testConnection();
  const tiny = server.models.find((m) => m.id === "tiny");
  assert.deepEqual(tiny.referenceAdapters.map((a) => a.id), ["tiny-ip-adapter-plus", "tiny-ip-adapter"]);
  assert.ok(tiny.controlTypes.includes(ControlType.REFERENCE));
});

test("a reference unit sends the part of the layer inside the selection, with its adapter, scale and window", { skip }, async () => {
  const { app, doc, sent: wire, bridge } = setup(makeSelection(rect(40, 20, 40, 30)));
  await app.testConnection();
  await app.refreshDocument();
  const unit = app.addUnit();
  app.updateUnit(unit.id, { type: "reference", layerId: doc.layers[1].id, scope: "selection", adapterId: "tiny-ip-adapter", weight: 0.7, start: 0, end: 0.9 });
  const outcome = await app.generate("txt2img");
  assert.equal(outcome.state, "succeeded", app.store.get().status.text);
  const [[sent], metadata] = await sentUnit(wire, bridge, outcome.jobId);
  assert.equal(sent.controlType, ControlType.REFERENCE);
  assert.equal(sent.adapterId, "tiny-ip-adapter");
  assert.ok(Math.abs(sent.controlnetConditioningScale - 0.7) < 1e-6 && Math.abs(sent.controlGuidanceEnd - 0.9) < 1e-6);
  assert.equal(sent.source.case, "reference");
  const image = decodePNG(sent.source.value.images[0].data);
  assert.deepEqual([image.width, image.height], [20, 26], "the layer (10..60 x 6..46) inside the selection (40..80 x 20..50)");
  assert.deepEqual([...image.data.slice(0, 3)], [180, 30, 60], "the Style layer's own pixels");
  const [record] = metadata.reference_units;
  assert.equal(record.adapter_id, "tiny-ip-adapter");
  assert.equal(record.images[0].sha256, sha256(sent.source.value.images[0].data), "the server used the image sent");
  assert.match(outcome.result.images[0].parameters, /IP-Adapter 0: "Model: tiny-ip-adapter/);
});

test("the whole layer, the model's default adapter, and a reference beside a ControlNet unit", { skip }, async () => {
  const { app, doc, sent, bridge } = setup();
  await app.testConnection();
  await app.refreshDocument();
  const canny = app.addUnit();
  app.updateUnit(canny.id, { type: "canny", layerId: doc.layers[1].id });
  const unit = app.addUnit();
  app.updateUnit(unit.id, { type: "reference", layerId: doc.layers[1].id });
  const outcome = await app.generate("txt2img");
  assert.equal(outcome.state, "succeeded", app.store.get().status.text);
  const [units, metadata] = await sentUnit(sent, bridge, outcome.jobId);
  assert.deepEqual(units.map((u) => u.controlType), [ControlType.CANNY, ControlType.REFERENCE]);
  assert.equal(units[1].adapterId, "");
  const image = decodePNG(units[1].source.value.images[0].data);
  assert.deepEqual([image.width, image.height], [50, 40]);
  assert.equal(metadata.reference_units[0].adapter_id, "tiny-ip-adapter-plus");
});

test("scope selection without a selection stops the job before anything is sent", () => {
  const doc = { width: 96, height: 64, selection: null, layers: [{ id: 1, name: "Style", bounds: rect(10, 6, 50, 40) }] };
  assert.deepEqual(referenceRect(doc, { layerId: 1, scope: "layer" }), rect(10, 6, 50, 40));
  assert.throws(() => referenceRect(doc, { layerId: 1, scope: "selection" }), /make a selection/);
  assert.throws(() => referenceRect({ ...doc, selection: rect(70, 50, 10, 10) }, { layerId: 1, scope: "selection" }), /no pixels inside the selection/);
  assert.throws(() => referenceRect(doc, { layerId: 9 }), /choose a layer/);
});
