// The History workspace: a paged grid of past jobs (thumbnail, prompt, seed, model, controls) with Re-apply,
// Re-run (same seed), New seed and Use settings. Bound to the store's `history` slice; it calls the history
// controller only. The DOM helpers come from panel.js.

export function historySection({ el, section, setChildren }, app, history) {
  const report = (promise) => promise?.catch?.((error) => app.say("error", String(error?.message ?? error)));
  const scope = el("select", { class: "history-scope", onchange: (e) => report(history.setFilter({ scope: e.target.value })) },
    el("option", { value: "mine", selected: true }, "This plugin's jobs"), el("option", { value: "all" }, "All clients (admin token)"));
  const text = el("input", { type: "text", placeholder: "Search prompt", class: "history-text", onchange: (e) => report(history.setFilter({ text: e.target.value.trim() })) });
  const grid = el("div", { class: "history-grid" });
  const pageInfo = el("span", { class: "hint history-page" });
  const prev = el("button", { class: "quiet", onclick: () => report(history.previous()) }, "‹ Newer");
  const next = el("button", { class: "quiet", onclick: () => report(history.next()) }, "Older ›");
  const info = el("div", { class: "hint history-info" });
  const node = section("History",
    el("div", { class: "row" }, scope, text, el("button", { class: "secondary", "data-history": "refresh", onclick: () => report(history.refresh()) }, "Refresh")),
    info, grid,
    el("div", { class: "row buttons history-pager" }, prev, pageInfo, next));

  let busy = false;
  const tile = (e) => el("div", { class: `tile ${e.state}`, "data-job": e.jobId },
    e.thumbnailUrl ? el("img", { class: "thumb", src: e.thumbnailUrl, alt: e.prompt }) : el("div", { class: "thumb empty" }, e.state),
    el("div", { class: "tile-text" },
      el("div", { class: "tile-prompt", title: e.prompt }, e.prompt || "(no prompt)"),
      el("div", { class: "hint" }, [e.mode, e.seed && `seed ${e.seed}`, e.model || "default model", e.size].filter(Boolean).join(" · ")),
      e.controls.length ? el("div", { class: "hint" }, `ControlNet: ${e.controls.join(", ")}`) : null,
      e.error ? el("div", { class: "hint stale" }, e.error) : null,
      el("div", { class: "row buttons tile-actions" },
        el("button", { class: "quiet", "data-history-action": "reapply", disabled: busy || e.state !== "succeeded", title: "Place the result again (where the selection was)", onclick: () => report(history.reapply(e.jobId)) }, "Re-apply"),
        el("button", { class: "quiet", "data-history-action": "rerun", disabled: busy, title: "Run again with the same settings and seed", onclick: () => report(history.rerun(e.jobId)) }, "Re-run"),
        el("button", { class: "quiet", "data-history-action": "newseed", disabled: busy, title: "Run again with a new seed", onclick: () => report(history.rerun(e.jobId, { newSeed: true })) }, "New seed"),
        el("button", { class: "quiet", title: "Put this job's prompt, model and sampling into the form", onclick: () => report(history.useSettingsOf(e.jobId)) }, "Use"))));

  let lastKey = "";
  function render(s) {
    const h = s.history;
    if (!h) return;
    const key = JSON.stringify([h.entries, h.page, h.nextPageToken, h.loading, h.error, s.server.status, s.job.busy]);
    busy = s.job.busy;
    if (key === lastKey) return;
    lastKey = key;
    info.textContent = h.error ? `History: ${h.error}` : h.loading ? "Loading…"
      : !h.entries.length ? (s.server.status === "connected" ? "No jobs yet (Refresh after a job)." : "Test connection, then Refresh.") : "";
    setChildren(grid, h.entries.map(tile));
    pageInfo.textContent = `page ${h.page + 1}`;
    prev.disabled = h.page === 0;
    next.disabled = !h.nextPageToken;
  }
  return { node, render };
}
