// Extend canvas (outpaint) end to end against a real server, with only src/photoshop/ replaced by the in-memory
// document: the canvas grows by what the server reports, every layer keeps its pixels, the result lines up.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApp } from "../src/controllers/app.js";
import { outpaintFields } from "../src/controllers/extend.js";
import { rect } from "../src/math/region.js";
import { OutpaintFill } from "../src/transport/bridge.js";
import { createDocument, createMemoryHost, solidLayer } from "./fakes/memory_host.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN ?? "";
const skip = !baseUrl && "set DCCBRIDGE_HTTP_URL (and DCCBRIDGE_TOKEN) to a running server";

function setup(form) {
  const layers = [solidLayer("Background", rect(0, 0, 100, 70), [200, 190, 170]), solidLayer("Figure", rect(30, 10, 41, 50), [40, 60, 200])];
  const doc = createDocument({ title: "extend.psd", width: 100, height: 70, layers, activeLayerId: layers[1].id });
  const host = createMemoryHost({ documents: [doc] });
  const data = new Map();
  const app = createApp({ host, storage: { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) } });
  app.updateSettings({ serverUrl: baseUrl, token });
  app.updateForm({ prompt: "more harbour", steps: 2, seed: 42, batch: 1, extendLeft: 16, extendTop: 0, extendRight: 16, extendBottom: 0, extendFeather: 4, ...form });
  return { app, doc, host };
}

const pixel = (layer, x, y) => [...layer.pixels.data.slice(((y - layer.bounds.top) * layer.bounds.width + (x - layer.bounds.left)) * 4, ((y - layer.bounds.top) * layer.bounds.width + (x - layer.bounds.left)) * 4 + 4)];

test("the form becomes the task's margins, fill and feather; no margin is refused before any request", () => {
  const fields = outpaintFields({ extendLeft: 8, extendTop: "0", extendRight: -3, extendBottom: 2.7, extendFill: "telea", extendFeather: "" });
  assert.deepEqual(fields.extent, { case: "margins", value: { left: 8, top: 0, right: 0, bottom: 2 } });
  assert.equal(fields.fill, OutpaintFill.INPAINT_TELEA);
  assert.equal(fields.feather, undefined);
  assert.throws(() => outpaintFields({ extendLeft: 0 }), /at least one margin/);
});

test("Extend canvas grows the document by the server's placement and lays the result exactly over it", { skip }, async () => {
  const { app, doc, host } = setup({});
  const outcome = await app.extendCanvas();
  assert.equal(outcome.state, "succeeded", app.store.get().status.text);
  // 100 + 16 + 16 = 132 -> 136 (the extra 4 px on the right); 70 -> 72 at the bottom
  assert.deepEqual([doc.width, doc.height], [136, 72]);
  assert.deepEqual(outcome.edit.resizeCanvas, { width: 136, height: 72, offsetX: 16, offsetY: 0, fromWidth: 100, fromHeight: 70 });
  const [background, figure, result] = doc.layers;
  assert.deepEqual(background.bounds, rect(16, 0, 100, 70));
  assert.deepEqual(figure.bounds, rect(46, 10, 41, 50));
  assert.deepEqual(result.bounds, rect(0, 0, 136, 72));
  assert.equal(result.name, "extend canvas · seed 42");
  // outside the 4 px feather band the result carries the document's own pixels, exactly where they are
  assert.deepEqual(pixel(result, 66, 35), [40, 60, 200, 255]);
  assert.deepEqual(pixel(result, 25, 3), [200, 190, 170, 255]);
  assert.deepEqual(host.modalCalls, ["extend canvas"]);
});

test("a margin the server refuses names the field and leaves the document as it was", { skip }, async () => {
  const { app, doc, host } = setup({ extendRight: 5000 });
  assert.equal((await app.extendCanvas()).state, "failed");
  assert.match(app.store.get().status.text, /margins: the result would be/);
  assert.deepEqual([doc.width, doc.height, doc.layers.length], [100, 70, 2]);
  assert.deepEqual(host.modalCalls, []);
});
