// Live frame latency from the plugin's side, long-poll (PollLive) vs stream (WatchLive), side by side in one run:
// the real controller (src/controllers/live.js) on an in-memory document, one frame at a time (each waits for its
// answer, so none is superseded), a stroke before each so none is reused. Prints the median client latency (send ->
// answer placed on the Live layer) and the server's own total per mode, and their ratio.
//   DCCBRIDGE_HTTP_URL=http://127.0.0.1:50052 node scripts/live_latency.mjs [frames=12] [size=64] [steps=2]
import { createApp } from "../src/controllers/app.js";
import { createLive } from "../src/controllers/live.js";
import { rect } from "../src/math/region.js";
import { createDocument, createMemoryHost, solidLayer } from "../test/fakes/memory_host.js";

const [frames = 12, size = 64, steps = 2] = process.argv.slice(2).map(Number);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(transport) {
  const paint = solidLayer("Paint", rect(0, 0, size, size), [90, 120, 160]);
  const doc = createDocument({ title: "bench.psd", width: size, height: size, layers: [paint], activeLayerId: paint.id });
  const host = createMemoryHost({ documents: [doc] });
  const app = createApp({ host, storage: { getItem: () => null, setItem() {} } });
  app.updateSettings({ serverUrl: process.env.DCCBRIDGE_HTTP_URL, token: process.env.DCCBRIDGE_TOKEN ?? "", transport, liveDebounceMs: 0 });
  app.updateForm({ prompt: "latency", seed: 1, liveStrength: 0.6, liveSteps: steps, source: "layer" });
  const live = createLive({ host, store: app.store });
  await live.start();
  if (app.store.get().live.phase !== "live") throw new Error(app.store.get().live.error);
  await live.settled({ timeoutMs: 120_000 });
  const client = [], server = [];
  for (let i = 0; i < frames; i++) {
    paint.pixels.data.fill(i % 2 ? 30 : 220); // the whole region changes: never reused
    const started = performance.now();
    await live.frameNow();
    await live.settled({ timeoutMs: 120_000 });
    client.push(performance.now() - started);
    server.push(app.store.get().live.serverMs);
  }
  await live.stop();
  return { transport, client: median(client), server: median(server) };
}

const results = [];
for (const transport of ["longpoll", "stream", "longpoll", "stream"]) results.push(await measure(transport)); // interleaved
const by = (t) => results.filter((r) => r.transport === t);
const summary = Object.fromEntries(["longpoll", "stream"].map((t) => [t, { client: median(by(t).map((r) => r.client)), server: median(by(t).map((r) => r.server)) }]));
console.log(`${frames} frames x 2 rounds, ${size}x${size}, ${steps} steps`);
for (const [t, { client, server }] of Object.entries(summary)) console.log(`${t.padEnd(8)} client median ${client.toFixed(0)} ms, server median ${server.toFixed(0)} ms, overhead ${(client - server).toFixed(0)} ms`);
console.log(`long-poll / stream client latency: ${(summary.longpoll.client / summary.stream.client).toFixed(2)}x`);
