// History and workspaces (controllers/history.js, controllers/workspaces.js) against a real server, with ONLY
// src/photoshop/ replaced by the in-memory document. "Photoshop restarted" = a fresh app and host over the same
// localStorage; the server's job index is the truth about past jobs.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApp } from "../src/controllers/app.js";
import { createHistory, HISTORY_PAGE_SIZE } from "../src/controllers/history.js";
import { createWorkspaces } from "../src/controllers/workspaces.js";
import { rect } from "../src/math/region.js";
import { createBridge } from "../src/transport/bridge.js";
import { createDocument, createMemoryHost, makeSelection, solidLayer } from "./fakes/memory_host.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN ?? "";
const skip = !baseUrl && "set DCCBRIDGE_HTTP_URL (and DCCBRIDGE_TOKEN) to a running server";

function memoryStorage() {
  const data = new Map();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)), data };
}

const makeDocument = (title = "history.psd", selection = makeSelection(rect(40, 8, 24, 32), (x) => Math.min(255, (x - 40) * 20))) =>
  createDocument({ title, width: 96, height: 64, selection, layers: [
    solidLayer("Background", rect(0, 0, 96, 64), [200, 190, 170]),
    solidLayer("Figure", rect(30, 10, 30, 40), [40, 60, 200]),
  ] });

function open(storage, doc = makeDocument()) {
  const host = createMemoryHost({ documents: [doc] });
  const app = createApp({ host, storage });
  const history = createHistory({ app, host, storage });
  const workspaces = createWorkspaces({ app, storage });
  return { host, app, history, workspaces, doc };
}

const pixels = (layer) => [...layer.pixels.data];

test("History lists this panel's jobs after a restart; Re-apply places the result where the selection was", { skip }, async () => {
  const storage = memoryStorage();
  const first = open(storage);
  first.app.updateSettings({ serverUrl: baseUrl, token, padding: 8 });
  first.app.updateForm({ prompt: "history lighthouse", modelId: "tiny", steps: 2, guidance: 5, seed: 77, batch: 1, strength: 0.7 });
  const unit = first.app.addUnit();
  first.app.updateUnit(unit.id, { layerId: first.doc.layers[1].id, type: "canny", weight: 0.6 });
  const inpaint = await first.app.generate("inpaint");
  assert.equal(inpaint.state, "succeeded", inpaint.error?.message);
  const placed = first.doc.layers.at(-1);
  assert.ok(placed.mask, "inpaint result masked by the selection");

  // Photoshop restarted: a fresh panel, a fresh (different) document of the same size, no selection.
  const second = open(storage, makeDocument("other.psd", null));
  await second.app.refreshDocument();
  const entries = await second.history.refresh();
  const entry = entries.find((e) => e.jobId === inpaint.jobId);
  assert.ok(entry, `job ${inpaint.jobId} listed: ${entries.map((e) => e.jobId)}`);
  assert.deepEqual([entry.state, entry.mode, entry.prompt, entry.seed, entry.model], ["succeeded", "inpaint", "history lighthouse", "77", "tiny"]);
  assert.deepEqual(entry.controls, ["canny 0.60"]);
  assert.match(entry.thumbnailUrl, /^data:image\/jpeg;base64,/, "the server's small JPEG (ListJobs thumbnail_size)");
  assert.ok(entries.length <= HISTORY_PAGE_SIZE);

  const before = second.doc.layers.length;
  const again = await second.history.reapply(inpaint.jobId);
  assert.equal(again.state, "succeeded", again.error?.message);
  const reapplied = second.doc.layers.at(-1);
  assert.equal(second.doc.layers.length, before + 1);
  assert.deepEqual(reapplied.bounds, placed.bounds, "placed where the selection was");
  assert.deepEqual(pixels(reapplied), pixels(placed), "the same result pixels");
  assert.deepEqual([...reapplied.mask.data], [...placed.mask.data], "masked by the recorded selection");
});

test("Re-run submits the stored task: the same seed gives the same image, a new seed another; inputs are recaptured", { skip }, async () => {
  const storage = memoryStorage();
  const { app, history, doc } = open(storage);
  app.updateSettings({ serverUrl: baseUrl, token });
  app.updateForm({ prompt: "history rerun", steps: 2, guidance: 5, seed: 5, batch: 1 });
  const original = await app.generate("txt2img");
  assert.equal(original.state, "succeeded", original.error?.message);
  const originalLayer = doc.layers.at(-1);

  app.updateForm({ prompt: "something else entirely", seed: 9 }); // the re-run does not read the form
  const same = await history.rerun(original.jobId);
  assert.equal(same.state, "succeeded", same.error?.message);
  assert.notEqual(same.jobId, original.jobId);
  const sameLayer = doc.layers.at(-1);
  assert.equal(sameLayer.name, "txt2img · seed 5");
  assert.deepEqual(sameLayer.bounds, originalLayer.bounds);
  assert.deepEqual(pixels(sameLayer), pixels(originalLayer), "same task, same seed: the same pixels");

  const fresh = await history.rerun(original.jobId, { newSeed: true });
  assert.equal(fresh.state, "succeeded", fresh.error?.message);
  const freshLayer = doc.layers.at(-1);
  assert.doesNotMatch(freshLayer.name, /seed 5$/);
  assert.notDeepEqual(pixels(freshLayer), pixels(originalLayer));
  const rerunTask = (await createBridge({ baseUrl, token }).getJob(fresh.jobId, { omitImageData: true })).task.kind.value;
  assert.equal(rerunTask.prompt, "history rerun");

  // img2img has image bytes the server does not keep: the settings come back into the form and the action reads
  // the document again.
  app.updateForm({ prompt: "history img2img", seed: 11, strength: 0.55 });
  const img2img = await app.generate("img2img");
  assert.equal(img2img.state, "succeeded", img2img.error?.message);
  app.updateForm({ prompt: "changed", seed: 3, strength: 0.9 });
  const rerun = await history.rerun(img2img.jobId);
  assert.equal(rerun.state, "succeeded", rerun.error?.message);
  const form = app.store.get().form;
  assert.deepEqual([form.prompt, form.seed, form.strength], ["history img2img", 11, 0.55]);
  const task = (await createBridge({ baseUrl, token }).getJob(rerun.jobId, { omitImageData: true })).task.kind.value;
  assert.deepEqual([task.prompt, String(task.sampling.seed), task.strength.toFixed(2), Boolean(task.initImage)], ["history img2img", "11", "0.55", true]);
});

test("History pages through jobs: next and previous pages are disjoint, previous returns the first page", { skip }, async () => {
  const { app, history } = open(memoryStorage());
  app.updateSettings({ serverUrl: baseUrl, token });
  const bridge = createBridge({ baseUrl, token });
  for (let i = 0; i < HISTORY_PAGE_SIZE + 1; i++) {
    await bridge.submit({ kind: { case: "generate", value: { prompt: `page ${i}`, width: 64, height: 64, sampling: { numInferenceSteps: 1, seed: BigInt(i) } } } });
  }
  const first = (await history.refresh()).map((e) => e.jobId);
  assert.equal(first.length, HISTORY_PAGE_SIZE);
  assert.ok(app.store.get().history.nextPageToken, "a next page");
  const second = (await history.next()).map((e) => e.jobId);
  assert.ok(second.length >= 1);
  assert.equal(second.filter((id) => first.includes(id)).length, 0, "pages do not overlap");
  assert.equal(app.store.get().history.page, 1);
  const back = (await history.previous()).map((e) => e.jobId);
  assert.equal(app.store.get().history.page, 0);
  assert.equal(back.filter((id) => second.includes(id)).length, 0);
});

test("The workspace and the form persist per document, and across a restart", { skip }, async () => {
  const storage = memoryStorage();
  const docA = makeDocument("a.psd");
  const docB = makeDocument("b.psd");
  const host = createMemoryHost({ documents: [docA, docB], activeDocumentId: docA.id });
  const app = createApp({ host, storage });
  const workspaces = createWorkspaces({ app, storage });
  await app.refreshDocument();
  assert.equal(workspaces.current(), "generate");
  workspaces.show("upscale");
  app.updateForm({ prompt: "for a" });
  assert.throws(() => workspaces.show("nope"), /unknown workspace "nope"/);

  host.activate(docB.id);
  await app.refreshDocument();
  assert.equal(workspaces.current(), "upscale", "a document seen for the first time keeps the current workspace");
  workspaces.show("history");
  app.updateForm({ prompt: "for b" });

  host.activate(docA.id);
  await app.refreshDocument();
  assert.deepEqual([workspaces.current(), app.store.get().form.prompt], ["upscale", "for a"]);
  host.activate(docB.id);
  await app.refreshDocument();
  assert.deepEqual([workspaces.current(), app.store.get().form.prompt], ["history", "for b"]);

  // Photoshop restarted with a.psd in front.
  const host2 = createMemoryHost({ documents: [makeDocument("a.psd")] });
  const app2 = createApp({ host: host2, storage });
  const workspaces2 = createWorkspaces({ app: app2, storage });
  await app2.refreshDocument();
  assert.deepEqual([workspaces2.current(), app2.store.get().form.prompt], ["upscale", "for a"]);
});

test("\"This plugin's jobs\" leaves out another client's jobs; \"All\" shows them", { skip }, async () => {
  const { app, history } = open(memoryStorage());
  app.updateSettings({ serverUrl: baseUrl, token });
  // Another client (the CLI, another host): the same server, another dccbridge-client header.
  const asOther = (url, init) => {
    const headers = new Headers(init.headers);
    headers.set("dccbridge-client", "history-test-other");
    return globalThis.fetch(url, { ...init, headers });
  };
  const other = await createBridge({ baseUrl, token, fetch: asOther }).submit({ kind: { case: "generate", value: { prompt: "not mine", width: 64, height: 64, sampling: { numInferenceSteps: 1, seed: 3n } } } });
  const mine = await createBridge({ baseUrl, token }).submit({ kind: { case: "generate", value: { prompt: "mine", width: 64, height: 64, sampling: { numInferenceSteps: 1, seed: 4n } } } });
  let entries = await history.setFilter({ scope: "mine", text: "" });
  assert.ok(entries.some((e) => e.jobId === mine.jobId), "this plugin's job listed");
  assert.ok(!entries.some((e) => e.jobId === other.jobId), "another client's job left out");
  entries = await history.setFilter({ scope: "all" });
  const theirs = entries.find((e) => e.jobId === other.jobId);
  assert.ok(theirs, "All shows every client's job (no admin token on this server)");
  assert.equal(theirs.client, "history-test-other");
});
