// The tabs at the top of the panel (one workspace shown at a time) and the gear that opens the server settings.
import { WORKSPACES } from "../state/workspaces.js";

export function workspaceTabs({ el }, app, workspaces, onShow = null) {
  const tabs = WORKSPACES.map(([id, label]) => el("button", { class: "tab", "data-workspace-tab": id, onclick: () => { workspaces.show(id); onShow?.(id); } }, label));
  const gear = el("button", { class: "tab gear", title: "Server settings", onclick: () => app.store.set((s) => ({ serverOpen: !s.serverOpen })) }, "⚙");
  const node = el("nav", { class: "tabs" }, ...tabs, gear);
  function render(s) {
    for (const tab of tabs) tab.className = tab.getAttribute("data-workspace-tab") === s.workspace ? "tab active" : "tab";
    gear.className = s.serverOpen ? "tab gear active" : "tab gear";
  }
  return { node, render };
}
