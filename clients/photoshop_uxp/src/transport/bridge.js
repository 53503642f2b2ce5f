// The only networking code: the generated Connect client (protoc-gen-es from protos/dccbridge/v1) over
// @connectrpc/connect-web's fetch transport, and the two ways of following a job to its end:
//   "longpoll": Submit, then GetJob(wait_ms, after_sequence) until the job ends (the UXP default: reading a
//               streamed response body in UXP is reported unreliable);
//   "stream":   Run (or Watch for a known job id), reading server-streamed events; if the stream breaks off
//               before the job ended, it carries on by long-poll from the last sequence seen.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { ControlType, Preprocessor } from "./gen/dccbridge/v1/control_pb.js";
import { ErrorCode, JobState } from "./gen/dccbridge/v1/jobs_pb.js";
import { DepthEncoding, DepthNormalization } from "./gen/dccbridge/v1/media_pb.js";
import { DccBridgeService } from "./gen/dccbridge/v1/service_pb.js";
import { Anchor, OutpaintFill, TilingAxes, UpscaleMethod } from "./gen/dccbridge/v1/tasks_pb.js";

export { Anchor, ControlType, DepthEncoding, DepthNormalization, JobState, OutpaintFill, Preprocessor, TilingAxes, UpscaleMethod };

export const LONG_POLL_WAIT_MS = 10_000;
/** The client name this plugin's jobs are recorded under (the dccbridge-client header; History's "mine" filter). */
export const CLIENT_NAME = "photoshop-uxp";

/** A failed call or job, with the gRPC code name ("invalid_argument"), the message and the request field. */
export class BridgeError extends Error {
  constructor(code, message, field = "", { retryAfterMs = 0, transient = false } = {}) {
    super(message);
    this.name = "BridgeError";
    this.code = code;
    this.field = field;
    this.retryAfterMs = retryAfterMs;
    // The server could not be reached (the job may still be running): keep it pending and resume later.
    this.transient = transient;
  }
}

const snake = (name) => name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();

export function toBridgeError(error) {
  if (error instanceof BridgeError) return error;
  const ce = ConnectError.from(error);
  const code = snake(Code[ce.code] ?? "unknown");
  const transient = ce.code === Code.Unavailable || ce.code === Code.Unknown || ce.code === Code.Aborted ||
    ce.code === Code.DeadlineExceeded;
  return new BridgeError(code, ce.rawMessage || String(error?.message ?? error), ce.metadata.get("dccbridge-field") ?? "", {
    retryAfterMs: Number(ce.metadata.get("retry-after-ms") ?? 0),
    transient,
  });
}

const wrap = async (call) => {
  try {
    return await call();
  } catch (error) {
    throw toBridgeError(error);
  }
};

/** A client for one server: {baseUrl: "http://127.0.0.1:50052", token}. */
export function createBridge({ baseUrl, token = "", fetch, binary = true } = {}) {
  if (!/^https?:\/\/[^/]+/.test(baseUrl ?? "")) {
    throw new BridgeError("invalid_argument", `server URL must look like http://host:port, got "${baseUrl ?? ""}"`, "serverUrl");
  }
  const auth = (next) => async (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    req.header.set("dccbridge-client", CLIENT_NAME);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: baseUrl.replace(/\/+$/, ""),
    useBinaryFormat: binary,
    interceptors: [auth],
    fetch: fetch ?? ((...args) => globalThis.fetch(...args)),
  });
  const client = createClient(DccBridgeService, transport);
  return {
    baseUrl,
    capabilities: () => wrap(() => client.getCapabilities({})),
    submit: (task, options = {}) => wrap(async () => (await client.submit({ task, options })).job),
    getJob: (jobId, { waitMs = 0, afterSequence = 0n, omitImageData = false, signal } = {}) =>
      wrap(async () => (await client.getJob({ jobId, waitMs, afterSequence: BigInt(afterSequence), omitImageData }, { signal })).job),
    cancel: (jobId) => wrap(async () => (await client.cancel({ jobId })).job),
    listJobs: (pageSize = 20) => wrap(async () => (await client.listJobs({ pageSize })).jobs),
    // History: one page of jobs with the filters of ListJobsRequest (client, taskTypes, createdAfterMs, text, modelId,
    // thumbnailSize, pageToken) -> {jobs, nextPageToken}.
    listJobsPage: (request = {}) => wrap(async () => {
      const page = await client.listJobs(request);
      return { jobs: page.jobs, nextPageToken: page.nextPageToken };
    }),
    run: (task, options = {}, signal) => client.run({ task, options }, { signal }),
    watch: (jobId, afterSequence = 0n, signal) => client.watch({ jobId, afterSequence: BigInt(afterSequence) }, { signal }),
    // Live mode (live.proto; followed by src/transport/live.js)
    openLive: (config) => wrap(async () => (await client.openLive({ config })).opened),
    sendLiveFrame: (sessionId, frame) => wrap(async () => client.sendLiveFrame({ sessionId, request: { case: "frame", value: frame } })),
    updateLive: (sessionId, update) => wrap(async () => client.sendLiveFrame({ sessionId, request: { case: "update", value: update } })),
    pollLive: (sessionId, { afterSequence = 0n, waitMs = 0, signal } = {}) =>
      wrap(async () => (await client.pollLive({ sessionId, afterSequence: BigInt(afterSequence), waitMs }, { signal })).events),
    watchLive: (sessionId, afterSequence = 0n, signal) => client.watchLive({ sessionId, afterSequence: BigInt(afterSequence) }, { signal }),
    closeLive: (sessionId) => wrap(async () => (await client.closeLive({ sessionId })).closed),
  };
}

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]);
const STATE_NAME = {
  [JobState.QUEUED]: "queued",
  [JobState.RUNNING]: "running",
  [JobState.SUCCEEDED]: "succeeded",
  [JobState.FAILED]: "failed",
  [JobState.CANCELLED]: "cancelled",
};

const failureError = (failure) =>
  new BridgeError(snake(ErrorCode[failure?.code ?? 2] ?? "UNKNOWN"), failure?.message || "the job failed", failure?.field ?? "");

function outcomeFromJob(job) {
  if (job.state === JobState.SUCCEEDED) return { jobId: job.jobId, state: "succeeded", result: job.result };
  if (job.state === JobState.CANCELLED) return { jobId: job.jobId, state: "cancelled", reason: job.cancelled?.reason ?? "" };
  return { jobId: job.jobId, state: "failed", error: failureError(job.failure) };
}

const update = (jobId, fields) => ({ jobId, state: "running", stage: "", step: 0, total: 0, preview: null, queuePosition: 0, ...fields });

/**
 * Follow a job to its end; submits it first when `task` is given. Calls onJobId(id) as soon as the id is known
 * (to persist it) and onUpdate({jobId, state, stage, step, total, preview, queuePosition}) on every change.
 * Resolves to {jobId, state: "succeeded", result} | {state: "failed", error} | {state: "cancelled", reason}.
 * Rejects with a BridgeError only when the server cannot be reached or refuses the request.
 */
export async function followJob(bridge, { task, options = {}, jobId, afterSequence = 0n, mode = "longpoll", onJobId, onUpdate, signal, waitMs = LONG_POLL_WAIT_MS }) {
  let sequence = BigInt(afterSequence);
  if (mode === "stream") {
    try {
      const events = task ? bridge.run(task, options, signal) : bridge.watch(jobId, sequence, signal);
      for await (const event of events) {
        if (!jobId) {
          jobId = event.jobId;
          onJobId?.(jobId);
        }
        sequence = event.sequence;
        const { case: kind, value } = event.event;
        if (kind === "queued") onUpdate?.(update(jobId, { state: "queued", queuePosition: value.position }));
        else if (kind === "started") onUpdate?.(update(jobId, { stage: "started" }));
        else if (kind === "progress") onUpdate?.(update(jobId, { stage: value.stage, step: value.step, total: value.total, preview: value.preview?.data?.length ? value.preview.data : null }));
        else if (kind === "result") return { jobId, state: "succeeded", result: value };
        else if (kind === "failed") return { jobId, state: "failed", error: failureError(value) };
        else if (kind === "cancelled") return { jobId, state: "cancelled", reason: value.reason };
      }
    } catch (error) {
      const bridgeError = toBridgeError(error);
      if (!jobId || signal?.aborted) throw bridgeError; // refused before it became a job, or we hung up
    }
    // The stream ended without a terminal event: carry on by long-poll from where it stopped.
  }
  let job;
  if (!jobId) {
    job = await bridge.submit(task, options);
    jobId = job.jobId;
    onJobId?.(jobId);
    sequence = job.sequence;
  } else {
    job = await bridge.getJob(jobId, { signal });
    if (job.sequence <= sequence && !TERMINAL.has(job.state)) job = null;
  }
  for (;;) {
    if (job) {
      onUpdate?.(update(jobId, {
        state: STATE_NAME[job.state] ?? "running",
        queuePosition: job.queuePosition,
        stage: job.progress?.stage ?? "",
        step: job.progress?.step ?? 0,
        total: job.progress?.total ?? 0,
        preview: job.progress?.preview?.data?.length ? job.progress.preview.data : null,
      }));
      if (TERMINAL.has(job.state)) return outcomeFromJob(job);
      sequence = job.sequence;
    }
    if (signal?.aborted) throw new BridgeError("aborted", "stopped following the job (it keeps running on the server)", "", { transient: true });
    job = await bridge.getJob(jobId, { waitMs, afterSequence: sequence, signal });
  }
}
