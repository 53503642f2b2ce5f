// The panel's Live section: settings of the live session, Start/Stop, Send frame, Commit, and the status line
// (frames sent / answered / superseded / reused, latency). Bound to the store's `live` slice; it calls the live
// controller only. The DOM helpers come from panel.js so both sections look and behave alike.
import { isLive, liveStatusText } from "../state/live.js";

export function liveSection({ el, field, section, bind }, app, live) {
  const s0 = app.store.get();
  const form = (key) => (event) => app.updateForm({ [key]: Number(event.target.value) });
  const status = el("div", { class: "hint live-status", role: "status" });
  const report = (promise) => promise.catch((error) => app.store.set((s) => ({ live: { ...s.live, error: String(error?.message ?? error) } })));
  const startButton = el("button", { class: "cta", "data-live": "start", onclick: () => report(isLive(app.store.get().live) ? live.stop() : live.start()) }, "Start live");
  const sendButton = el("button", { class: "secondary", "data-live": "send", title: "Capture and send a frame now", onclick: () => report(live.frameNow()) }, "Send frame");
  const commitButton = el("button", { class: "secondary", "data-live": "commit", title: "Copy the Live layer's latest result to a normal layer", onclick: () => report(live.commit()) }, "Commit");
  const node = section("Live",
    el("div", { class: "hint" }, "While live, edits of the document (after a pause) send the selection — or the canvas — and the \"Live\" layer updates in place."),
    el("div", { class: "row" },
      field("Strength", bind(el("input", { type: "number", min: 0.05, max: 1, step: 0.05, value: s0.form.liveStrength, onchange: form("liveStrength") }), (s) => s.form.liveStrength)),
      field("Steps", bind(el("input", { type: "number", min: 0, max: 50, value: s0.form.liveSteps, title: "0 = the model's few-step default", onchange: form("liveSteps") }), (s) => s.form.liveSteps)),
      field("Pause ms", bind(el("input", { type: "number", min: 0, max: 5000, step: 50, value: s0.settings.liveDebounceMs, onchange: (e) => app.updateSettings({ liveDebounceMs: Number(e.target.value) }) }), (s) => s.settings.liveDebounceMs))),
    el("div", { class: "row buttons" }, startButton, sendButton, commitButton),
    status);

  function render(s) {
    const on = isLive(s.live);
    startButton.textContent = on ? "Stop live" : "Start live";
    startButton.className = on ? "secondary" : "cta";
    startButton.disabled = s.live.phase === "closing" || s.live.phase === "opening";
    sendButton.disabled = s.live.phase !== "live";
    commitButton.disabled = s.live.placed === 0;
    status.className = `hint live-status ${on ? "on" : "off"}`;
    status.textContent = liveStatusText(s.live);
  }
  return { node, render };
}
