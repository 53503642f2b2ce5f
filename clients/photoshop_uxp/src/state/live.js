// The live slice of the store (what the panel's Live section shows) and how a session's events change it. Pure:
// no document, no network. Counters are per session: `sent` frames, each answered exactly once by the server as a
// result (`answered`, of which `reused` came from an earlier frame's result), `superseded` (a newer frame replaced
// it before it ran) or `failed`; `unchanged` edits captured pixels identical to the last frame and sent nothing.

export const LIVE_IDLE = {
  phase: "off", // off | opening | live | closing
  sessionId: "", docId: null, docTitle: "", layerId: null, region: null, size: "",
  frame: 0, sent: 0, answered: 0, superseded: 0, reused: 0, failed: 0, unchanged: 0, placed: 0,
  latencyMs: 0, serverMs: 0, lastFrame: 0, lastSeed: "", error: "", closedReason: "",
};

export const isLive = (live) => live.phase === "live" || live.phase === "opening";

/** The frames sent and not yet answered (a result, superseded or failed). */
export const outstanding = (live) => live.sent - live.answered - live.superseded - live.failed;

/** The slice after one LiveEvent ({case, value} of LiveEvent.event); `sentAtMs` is when that frame was sent. */
export function reduceLiveEvent(live, { case: kind, value }, { nowMs = Date.now(), sentAtMs } = {}) {
  switch (kind) {
    case "result": {
      const frame = Number(value.frame);
      return {
        ...live, answered: live.answered + 1, reused: live.reused + (value.reused ? 1 : 0),
        latencyMs: sentAtMs != null ? Math.round(nowMs - sentAtMs) : live.latencyMs,
        serverMs: Math.round(value.timings?.totalMs ?? 0), lastFrame: Math.max(live.lastFrame, frame), lastSeed: String(value.seed ?? ""),
      };
    }
    case "superseded":
      return { ...live, superseded: live.superseded + 1 };
    case "frameFailed":
      return { ...live, failed: live.failed + 1, error: `frame ${value.frame}: ${value.failure?.message || "failed"}` };
    case "closed":
      return { ...live, closedReason: value.reason };
    default:
      return live;
  }
}

/** The panel's status line for the slice. */
export function liveStatusText(live) {
  if (live.phase === "off" && !live.sessionId) return live.error ? `Live off: ${live.error}` : "Live off";
  const counts = `sent ${live.sent} · answered ${live.answered} · superseded ${live.superseded} · reused ${live.reused}` +
    `${live.failed ? ` · failed ${live.failed}` : ""}${live.unchanged ? ` · unchanged ${live.unchanged}` : ""}`;
  const latency = live.answered ? ` · latency ${live.latencyMs} ms (server ${live.serverMs} ms)` : "";
  const head = live.phase === "opening" ? "Live: opening…" : live.phase === "closing" ? "Live: closing…"
    : live.phase === "off" ? `Live closed (${live.closedReason || "stopped"})` : `Live on ${live.docTitle} ${live.size}`;
  return `${head} · frame ${live.frame} · ${counts}${latency}${live.error ? ` · ${live.error}` : ""}`;
}
