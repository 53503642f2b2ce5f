// src/transport/ against a real dccbridge server (tiny preset) over its HTTP face: the generated Connect client
// with @connectrpc/connect-web over fetch, exactly what the plugin ships.
// tests/test_photoshop_plugin.py starts the server and runs: DCCBRIDGE_HTTP_URL=... DCCBRIDGE_TOKEN=... node --test
import assert from "node:assert/strict";
import { test } from "node:test";

import { decodePNG } from "../src/image/codec.js";
import { BridgeError, createBridge, followJob } from "../src/transport/bridge.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN;
const skip = !baseUrl && "set DCCBRIDGE_HTTP_URL (and DCCBRIDGE_TOKEN) to a running server";
const bridge = baseUrl && createBridge({ baseUrl, token });

const generate = (fields = {}, sampling = {}) => ({
  kind: { case: "generate", value: { prompt: "a red cube", width: 64, height: 64, sampling: { numInferenceSteps: 2, ...sampling }, ...fields } },
});
const slow = () => generate({ width: 128, height: 128 }, { numInferenceSteps: 150 });

test("capabilities: version, device, models", { skip }, async () => {
  const caps = await bridge.capabilities();
  assert.equal(caps.apiVersion, "v1");
  assert.ok(caps.serverVersion);
  assert.equal(caps.device.type, "cpu");
  assert.ok(caps.models.some((m) => m.id === "tiny" && m.isDefault));
  assert.ok(caps.features.includes("long_poll"));
});

for (const mode of ["stream", "longpoll"]) {
  test(`${mode}: a job is followed to its result, with its id first and progress with previews`, { skip }, async () => {
    const seen = [];
    let idSeenAt = -1;
    const outcome = await followJob(bridge, {
      task: generate({}, { numInferenceSteps: 3, seed: 11n }), options: { previewEveryNSteps: 1 }, mode,
      onJobId: (id) => (idSeenAt = seen.length) && void 0,
      onUpdate: (u) => seen.push(u),
    });
    assert.equal(outcome.state, "succeeded");
    assert.equal(idSeenAt, 0, "the job id is known before any update");
    assert.ok(seen.every((u) => u.jobId === outcome.jobId));
    const denoise = seen.filter((u) => u.stage === "denoise");
    assert.equal(denoise.at(-1).step, 3);
    assert.equal(denoise.at(-1).total, 3);
    assert.ok(seen.some((u) => u.preview && u.preview[0] === 0xff && u.preview[1] === 0xd8), "JPEG previews arrive");
    const [image] = outcome.result.images;
    assert.equal(image.seed, 11n);
    const png = decodePNG(image.image.data);
    assert.deepEqual([png.width, png.height], [64, 64]);
  });

  test(`${mode}: Cancel cancels the server job`, { skip }, async () => {
    let cancelled = false;
    const outcome = await followJob(bridge, {
      task: slow(), mode,
      onUpdate: (u) => {
        if (!cancelled && (u.stage === "denoise" || u.state === "running")) {
          cancelled = true;
          bridge.cancel(u.jobId);
        }
      },
    });
    assert.equal(outcome.state, "cancelled");
    const job = await bridge.getJob(outcome.jobId);
    assert.equal(job.state, 5 /* CANCELLED */);
  });
}

test("a known job id is followed by Watch (stream) or GetJob (long-poll): the resume path", { skip }, async () => {
  const job = await bridge.submit(generate({}, { seed: 21n }));
  for (const mode of ["stream", "longpoll"]) {
    const outcome = await followJob(bridge, { jobId: job.jobId, mode });
    assert.equal(outcome.state, "succeeded");
    assert.equal(outcome.jobId, job.jobId);
    assert.equal(outcome.result.images[0].seed, 21n);
  }
});

test("a stream that breaks off mid-job is finished by long-poll from the last sequence", { skip }, async () => {
  // A fetch whose streamed body dies after the first chunk, as UXP's stream reading is reported to.
  let broke = false;
  const breakingFetch = async (input, init) => {
    const response = await fetch(input, init);
    if (!String(input).endsWith("/Run")) return response;
    const reader = response.body.getReader();
    let delivered = false;
    const body = new ReadableStream({
      // The first chunk is delivered; the break comes on the next read (erroring in the same pull would discard the
      // chunk still queued — a race with the reader that Node 20.20 loses).
      async pull(c) {
        if (delivered) {
          reader.cancel();
          broke = true;
          return c.error(new TypeError("network error (simulated)"));
        }
        const { value, done } = await reader.read();
        if (done) return c.close();
        c.enqueue(value);
        delivered = true;
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  const flaky = createBridge({ baseUrl, token, fetch: breakingFetch });
  let jobId;
  const outcome = await followJob(flaky, { task: generate({}, { numInferenceSteps: 8, seed: 5n }), mode: "stream", onJobId: (id) => (jobId = id) });
  assert.ok(jobId && broke, "the stream broke after the job had its id");
  assert.equal(outcome.state, "succeeded");
  assert.equal(outcome.result.images[0].seed, 5n);
});

test("errors carry the code, the message and the field", { skip }, async () => {
  for (const mode of ["stream", "longpoll"]) {
    await assert.rejects(followJob(bridge, { task: generate({ width: 100 }), mode }), (error) => {
      assert.ok(error instanceof BridgeError);
      assert.equal(error.code, "invalid_argument");
      assert.equal(error.message, "width: must be a multiple of 8, got 100");
      assert.equal(error.field, "width");
      return true;
    });
  }
  await assert.rejects(bridge.getJob("no-such-job"), (e) => e.code === "not_found");
  const unknownModel = await assert.rejects(bridge.submit(generate({ modelId: "nope" })), (e) => e.code === "not_found" && /tiny/.test(e.message));
  assert.equal(unknownModel, undefined);
  assert.throws(() => createBridge({ baseUrl: "127.0.0.1:1" }), (e) => e.field === "serverUrl");
  const nobody = createBridge({ baseUrl: "http://127.0.0.1:9" });
  await assert.rejects(nobody.capabilities(), (e) => e instanceof BridgeError && e.transient);
});

test("the token: none or a wrong one is unauthenticated", { skip: skip || (!token && "the server has no token") }, async () => {
  for (const t of ["", "wrong"]) {
    await assert.rejects(createBridge({ baseUrl, token: t }).capabilities(), (e) => {
      assert.equal(e.code, "unauthenticated");
      assert.equal(e.message, "missing or invalid token");
      return true;
    });
  }
});
