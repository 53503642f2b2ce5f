// The real Connect client for browsers and UXP (@connectrpc/connect-web, over fetch) against a running server.
// tests/test_http_face.py generates ./gen from protos/ and runs this with:
//   DCCBRIDGE_HTTP_URL=http://127.0.0.1:PORT DCCBRIDGE_TOKEN=... node --test
import assert from "node:assert/strict";
import { test } from "node:test";

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { JobState } from "./gen/dccbridge/v1/jobs_pb.js";
import { DccBridgeService } from "./gen/dccbridge/v1/service_pb.js";

const baseUrl = process.env.DCCBRIDGE_HTTP_URL;
const token = process.env.DCCBRIDGE_TOKEN;
assert.ok(baseUrl && token, "set DCCBRIDGE_HTTP_URL and DCCBRIDGE_TOKEN");

const withToken = (next) => async (req) => {
  req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};
const client = createClient(DccBridgeService, createConnectTransport({ baseUrl, interceptors: [withToken] }));
const binaryClient = createClient(
  DccBridgeService,
  createConnectTransport({ baseUrl, interceptors: [withToken], useBinaryFormat: true }),
);

const generate = (fields) => ({
  task: { kind: { case: "generate", value: { prompt: "a red cube", width: 64, height: 64, ...fields } } },
});
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];

test("GetCapabilities over JSON and binary", async () => {
  for (const c of [client, binaryClient]) {
    const caps = await c.getCapabilities({});
    assert.equal(caps.apiVersion, "v1");
    assert.equal(caps.defaultModelId, "tiny");
    assert.ok(caps.limits.maxMessageBytes > 4n * 1024n * 1024n);
  }
});

test("Run streams the job's events to its result", async () => {
  const kinds = [];
  let result;
  for await (const event of client.run(generate({ sampling: { numInferenceSteps: 2, seed: 7 } }))) {
    kinds.push(event.event.case);
    if (event.event.case === "result") result = event.event.value;
  }
  assert.deepEqual(kinds.slice(0, 2), ["queued", "started"]);
  assert.equal(kinds.at(-1), "result");
  assert.equal(result.images[0].seed, 7n);
  assert.deepEqual([...result.images[0].image.data.slice(0, 4)], PNG_SIGNATURE);
});

test("GetJob long-polls a submitted job to its result, with progress and previews", async () => {
  let { job } = await client.submit({
    ...generate({ sampling: { numInferenceSteps: 3, seed: 8 } }),
    options: { previewEveryNSteps: 1 },
  });
  const steps = [];
  let previews = 0;
  while (job.state === JobState.QUEUED || job.state === JobState.RUNNING) {
    ({ job } = await client.getJob({ jobId: job.jobId, waitMs: 10000, afterSequence: job.sequence }));
    if (job.progress?.stage === "denoise") steps.push(job.progress.step);
    if (job.progress?.preview?.data.length) previews += 1;
  }
  assert.equal(job.state, JobState.SUCCEEDED);
  assert.equal(steps.at(-1), 3);
  assert.ok(previews > 0, "progress carries JPEG previews");
  assert.deepEqual([...job.result.images[0].image.data.slice(0, 4)], PNG_SIGNATURE);
});

test("errors carry the code and the field's message", async () => {
  await assert.rejects(client.submit(generate({ width: 100 })), (error) => {
    const connectError = ConnectError.from(error);
    assert.equal(connectError.code, Code.InvalidArgument);
    assert.equal(connectError.rawMessage, "width: must be a multiple of 8, got 100");
    return true;
  });
});

test("a call without the token is unauthenticated", async () => {
  const anonymous = createClient(DccBridgeService, createConnectTransport({ baseUrl }));
  await assert.rejects(anonymous.getCapabilities({}), (error) => {
    assert.equal(ConnectError.from(error).code, Code.Unauthenticated);
    return true;
  });
});
