// Following a live session's events (live.proto) over HTTP/1.1, the two ways jobs are followed:
//   "longpoll": PollLive(after_sequence, wait_ms) in a loop — the UXP default: UXP's fetch is reported unreliable at
//               reading a streamed response body, and a long-poll costs one request per answered burst, not per frame;
//   "stream":   WatchLive, a server stream; if it breaks off before the session closed, it carries on by long-poll
//               from the last sequence seen (nothing is lost: events are numbered and kept by the server).
// Each event reaches onEvent once, in sequence order. Resolves with the `closed` event's value (or null when the
// caller stopped following); rejects with a BridgeError when the server cannot be reached.
import { BridgeError, toBridgeError } from "./bridge.js";

export const LIVE_POLL_WAIT_MS = 10_000;

export async function followLive(bridge, sessionId, { mode = "longpoll", onEvent, signal, afterSequence = 0n, waitMs = LIVE_POLL_WAIT_MS } = {}) {
  let sequence = BigInt(afterSequence);
  const deliver = (event) => {
    if (event.sequence <= sequence) return null; // already seen (a resumed stream may repeat)
    sequence = event.sequence;
    onEvent?.(event);
    return event.event.case === "closed" ? event.event.value : null;
  };
  if (mode === "stream") {
    try {
      for await (const event of bridge.watchLive(sessionId, sequence, signal)) {
        const closed = deliver(event);
        if (closed) return closed;
      }
    } catch (error) {
      if (signal?.aborted) return null;
      const bridgeError = toBridgeError(error);
      if (!bridgeError.transient) throw bridgeError;
    }
  }
  for (;;) {
    if (signal?.aborted) return null;
    let events;
    try {
      events = await bridge.pollLive(sessionId, { afterSequence: sequence, waitMs, signal });
    } catch (error) {
      if (signal?.aborted) return null;
      throw error instanceof BridgeError ? error : toBridgeError(error);
    }
    for (const event of events) {
      const closed = deliver(event);
      if (closed) return closed;
    }
  }
}
