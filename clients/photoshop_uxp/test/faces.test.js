// Restore faces: the form's toggle, restorer and strength become the FaceRestoration option on generate, upscale
// and extend canvas; against a real server (tiny preset) the option reaches it and the face is restored.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApp } from "../src/controllers/app.js";
import { restoreFacesField, restorerOptions } from "../src/controllers/faces.js";
import { rect } from "../src/math/region.js";
import { createDocument, createMemoryHost, solidLayer } from "./fakes/memory_host.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN ?? "";
const skip = !baseUrl && "set DCCBRIDGE_HTTP_URL (and DCCBRIDGE_TOKEN) to a running server";

test("the toggle sends the option with the chosen restorer and strength; off, nothing is sent", () => {
  assert.deepEqual(restoreFacesField({ restoreFaces: false, faceRestorerId: "x", faceStrength: 0.5 }), {});
  assert.deepEqual(restoreFacesField({ restoreFaces: true, faceRestorerId: "gfpgan", faceStrength: "0.6" }),
    { restoreFaces: { enabled: true, restorerId: "gfpgan", strength: 0.6 } });
  assert.deepEqual(restoreFacesField({ restoreFaces: true, faceRestorerId: "", faceStrength: "" }),
    { restoreFaces: { enabled: true, restorerId: "", strength: 0 } });
  assert.deepEqual(restorerOptions({ restorers: [{ id: "cf", architecture: "CodeFormer", license: "S-Lab License 1.0", commercialUse: false }] }),
    [{ id: "cf", label: "cf (CodeFormer · S-Lab License 1.0 · non-commercial)", commercialUse: false }]);
});

function setup(form) {
  // A dark document with a bright 16-px square: at 2x, one 32-px "face" for the tiny detector.
  const layers = [solidLayer("Background", rect(0, 0, 64, 48), [20, 20, 20]), solidLayer("Face", rect(16, 16, 16, 16), [230, 230, 230])];
  const doc = createDocument({ title: "faces.psd", width: 64, height: 48, layers, activeLayerId: layers[1].id });
  const host = createMemoryHost({ documents: [doc] });
  const data = new Map();
  const app = createApp({ host, storage: { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) } });
  app.updateSettings({ serverUrl: baseUrl, token });
  app.updateForm({ steps: 2, seed: 5, batch: 1, upscaleScope: "document", upscaleMethod: "lanczos", upscaleScale: 2, ...form });
  return { app, host };
}

test("the restorer menu lists the server's restorers with their licences", { skip }, async () => {
  const { app } = setup({});
  await app.testConnection();
  assert.deepEqual(app.store.get().server.restorers.map((r) => r.label), ["tiny-restoreformer (RestoreFormer · Apache-2.0 (architecture); random weights)"]);
});

test("Upscale with Restore faces on: the server restores the face with the chosen strength", { skip }, async () => {
  const { app } = setup({ restoreFaces: true, faceRestorerId: "tiny-restoreformer", faceStrength: 0.6 });
  const outcome = await app.upscale();
  assert.equal(outcome.state, "succeeded", app.store.get().status.text);
  const summary = JSON.parse(outcome.result.extraJson).restore_faces;
  assert.equal(summary.faces, 1);
  assert.equal(summary.restorer_id, "tiny-restoreformer");
  const [record] = JSON.parse(outcome.result.metadataJson).restore_faces;
  assert.equal(record.strength.toFixed(2), "0.60");
  assert.match(outcome.result.images[0].parameters, /Face restoration: RestoreFormer \(tiny-restoreformer\)/);

  const { app: plain } = setup({ restoreFaces: false });
  const off = await plain.upscale();
  assert.equal(off.state, "succeeded");
  assert.equal(JSON.parse(off.result.extraJson || "{}").restore_faces, undefined);
});

test("a strength out of range is refused naming the field; the document is unchanged", { skip }, async () => {
  const { app, host } = setup({ restoreFaces: true, faceStrength: 3 });
  assert.equal((await app.upscale()).state, "failed");
  assert.match(app.store.get().status.text, /restore_faces\.strength: must be in \[0, 1\]/);
  assert.equal(host.documents.length, 1);
});
