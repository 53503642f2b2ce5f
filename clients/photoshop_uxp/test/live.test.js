// Live mode end to end against a real server, with only src/photoshop/ replaced by the in-memory document: edits
// (debounced) become numbered frames, answers update ONE Live layer in place, newer frames supersede waiting ones,
// Commit makes a normal layer, Stop / a document switch close the session.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApp } from "../src/controllers/app.js";
import { createLive } from "../src/controllers/live.js";
import { rect } from "../src/math/region.js";
import { LIVE_IDLE, liveStatusText, reduceLiveEvent } from "../src/state/live.js";
import { createDocument, createMemoryHost, makeSelection, solidLayer } from "./fakes/memory_host.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN ?? "";
const skip = !baseUrl && "set DCCBRIDGE_HTTP_URL (and DCCBRIDGE_TOKEN) to a running server";

function setup({ settings = {}, form = {}, width = 128, height = 96, selection = rect(24, 16, 64, 48) } = {}) {
  const paint = solidLayer("Paint", rect(0, 0, width, height), [90, 120, 160]);
  const layers = [solidLayer("Background", rect(0, 0, width, height), [220, 214, 200]), paint];
  const doc = createDocument({ title: "live.psd", width, height, layers, activeLayerId: paint.id, selection: selection && makeSelection(selection) });
  const other = createDocument({ title: "other.psd", width: 64, height: 64, layers: [solidLayer("Background", rect(0, 0, 64, 64), [0, 0, 0])] });
  const host = createMemoryHost({ documents: [doc, other], activeDocumentId: doc.id });
  const data = new Map();
  const app = createApp({ host, storage: { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) } });
  app.updateSettings({ serverUrl: baseUrl, token, padding: 8, liveDebounceMs: 40, transport: "longpoll", ...settings });
  app.updateForm({ prompt: "a lighthouse at dusk", seed: 7, liveStrength: 0.6, liveSteps: 2, source: "layer", ...form });
  const live = createLive({ host, store: app.store });
  return { app, live, host, doc, other, paint };
}

const state = (app) => app.store.get().live;
const liveLayers = (doc) => doc.layers.filter((l) => l.name === "Live");

async function until(predicate, what, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A stroke on the paint layer: a block of colour at (x, y), big enough that the server's similarity filter
 * (0.98 by default) computes the frame instead of reusing the last answer. */
const stroke = (paint, x, y, colour, size = 24) => () => {
  for (let j = y; j < y + size; j++) for (let i = x; i < x + size; i++) paint.pixels.data.set([...colour, 255], (j * paint.bounds.width + i) * 4);
};

test("the live slice counts each answer once and says it in one status line", () => {
  let live = { ...LIVE_IDLE, phase: "live", docTitle: "a.psd", size: "80×64", sent: 3, frame: 3 };
  live = reduceLiveEvent(live, { case: "result", value: { frame: 1n, seed: 7n, reused: false, timings: { totalMs: 120.4 } } }, { nowMs: 1500, sentAtMs: 1250 });
  live = reduceLiveEvent(live, { case: "superseded", value: { frame: 2n, byFrame: 3n } });
  live = reduceLiveEvent(live, { case: "result", value: { frame: 3n, seed: 7n, reused: true, timings: { totalMs: 3 } } }, { nowMs: 2000, sentAtMs: 1990 });
  assert.deepEqual([live.answered, live.superseded, live.reused, live.lastFrame, live.latencyMs, live.serverMs], [2, 1, 1, 3, 10, 3]);
  assert.equal(liveStatusText(live), "Live on a.psd 80×64 · frame 3 · sent 3 · answered 2 · superseded 1 · reused 1 · latency 10 ms (server 3 ms)");
  live = reduceLiveEvent(live, { case: "frameFailed", value: { frame: 4n, failure: { message: "strength: must be in (0, 1]" } } });
  assert.match(liveStatusText(live), /failed 1 .*frame 4: strength: must be in \(0, 1\]$/);
  assert.equal(liveStatusText(LIVE_IDLE), "Live off");
});

test("Live: open, debounced edits become frames, the Live layer is updated in place, Commit copies it, Stop closes", { skip }, async () => {
  const { app, live, host, doc, paint } = setup({ form: { source: "merged" } });
  await live.start();
  assert.equal(state(app).phase, "live", state(app).error);
  assert.ok(state(app).sessionId);
  await live.settled({ timeoutMs: 90_000 });
  const [layer] = liveLayers(doc);
  assert.ok(layer, "the first answer made the Live layer");
  assert.deepEqual(layer.bounds, rect(24, 16, 64, 48), "placed exactly at the selection");
  assert.ok(layer.mask, "masked by the selection");
  const firstPixels = layer.pixels;
  // three quick strokes inside the pause: one frame
  for (const [i, colour] of [[0, [255, 0, 0]], [1, [0, 255, 0]], [2, [0, 0, 255]]]) {
    host.edit(doc.id, stroke(paint, 24 + i * 20, 16 + i * 8, colour));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await until(() => state(app).sent === 2, "the debounced frame");
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(state(app).sent, 2, "the strokes within one pause made one frame");
  await live.settled({ timeoutMs: 90_000 });
  assert.deepEqual(liveLayers(doc).map((l) => l.id), [layer.id], "still one Live layer, the same one");
  assert.notEqual(layer.pixels, firstPixels, "its pixels replaced by the newer answer");
  assert.equal(state(app).lastFrame, 2);
  // the Live layer is not part of what is captured: sending now finds nothing new
  await live.frameNow();
  assert.deepEqual([state(app).sent, state(app).unchanged], [2, 1]);
  assert.match(liveStatusText(state(app)), /^Live on live\.psd 80×64 · frame 2 · sent 2 · answered 2 · superseded 0 · reused 0 · unchanged 1 · latency \d+ ms \(server \d+ ms\)$/);

  const committed = await live.commit();
  const normal = doc.layers.at(-1);
  assert.equal(normal.name, "live · frame 2 · seed 7");
  assert.notEqual(normal.id, layer.id);
  assert.deepEqual(normal.bounds, layer.bounds);
  assert.deepEqual([...normal.pixels.data], [...layer.pixels.data]);
  assert.deepEqual(committed.layerIds, [normal.id]);
  assert.deepEqual(host.modalCalls, ["live commit"], "commit is one ordinary edit");

  await live.stop();
  assert.deepEqual([state(app).phase, state(app).closedReason, host.watchers.size], ["off", "client closed", 0]);
  host.edit(doc.id, stroke(paint, 60, 40, [255, 255, 0]));
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(state(app).sent, 2, "no frames after Stop");
  assert.ok(liveLayers(doc).length === 1, "the Live layer stays after Stop");
});

test("Live: frames sent faster than answered — waiting ones are superseded, the newest answer ends on the layer", { skip }, async () => {
  const { app, live, host, doc, paint } = setup({ width: 160, height: 120, selection: null, form: { liveSteps: 4 } });
  await live.start();
  assert.equal(state(app).phase, "live", state(app).error);
  for (let i = 1; i <= 4; i++) {
    host.edit(doc.id, stroke(paint, 10 + i * 10, 10, [i * 50, 0, 0]));
    await live.frameNow(); // sent, not answered: the next goes out while the server computes
  }
  const settled = await live.settled({ timeoutMs: 90_000 });
  assert.equal(settled.sent, 5);
  assert.ok(settled.superseded >= 1, liveStatusText(settled));
  assert.equal(settled.answered + settled.superseded + settled.failed, settled.sent, liveStatusText(settled));
  assert.equal(settled.lastFrame, 5, "the newest frame is always answered");
  const [layer] = liveLayers(doc);
  assert.deepEqual(layer.bounds, rect(0, 0, 160, 120), "no selection: the whole canvas");
  assert.ok(settled.placed <= settled.answered);
  await live.stop();
});

test("Live over WatchLive (stream) follows the same way and stops when another document becomes active", { skip }, async () => {
  const { app, live, host, doc, other, paint } = setup({ settings: { transport: "stream" } });
  await live.start();
  await live.settled({ timeoutMs: 90_000 });
  host.edit(doc.id, stroke(paint, 40, 30, [0, 200, 0]));
  await until(() => state(app).answered === 2, "the second answer over the stream");
  host.activate(other.id);
  await until(() => state(app).phase === "off", "live to stop");
  assert.equal(state(app).closedReason, "the active document changed");
  assert.equal(host.watchers.size, 0);
  assert.equal(liveLayers(other).length, 0, "nothing was placed in the other document");
});

test("Live refused by the server (a strength out of range) says why and follows nothing", { skip }, async () => {
  const { app, live, host } = setup({ form: { liveStrength: 3 } });
  await live.start();
  assert.equal(state(app).phase, "off");
  assert.match(state(app).error, /cannot open a live session: .*strength/);
  assert.equal(host.watchers.size, 0);
});
