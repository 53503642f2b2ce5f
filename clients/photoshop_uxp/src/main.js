// Entry point: wires the real pieces together and hands the panel to UXP.
// (In headless Chromium an import map swaps ./photoshop/host.js and `uxp` for in-memory fakes.)
import { entrypoints } from "uxp";

import { createApp } from "./controllers/app.js";
import { createHistory } from "./controllers/history.js";
import { createLive } from "./controllers/live.js";
import { createWorkspaces } from "./controllers/workspaces.js";
import { createHost } from "./photoshop/host.js";
import { mountPanel } from "./ui/panel.js";

let app = null;
let live = null;

function show(rootNode) {
  const root = rootNode?.querySelector?.("#app") ?? document.getElementById("app") ?? rootNode;
  if (!app) {
    const host = createHost();
    app = createApp({ host, storage: globalThis.localStorage });
    live = createLive({ host, store: app.store });
    const history = createHistory({ app, host, storage: globalThis.localStorage });
    const workspaces = createWorkspaces({ app, storage: globalThis.localStorage });
    mountPanel(root, app, live, { history, workspaces });
    root.addEventListener("mouseenter", () => app.refreshDocument().catch(() => {}));
    globalThis.dccbridge = { app, host, live, history, workspaces }; // for the UXP Developer Tool's console
  }
  app.refreshDocument().catch(() => {});
  // Jobs started before the panel was closed (or Photoshop quit) are fetched by id and placed now.
  if (app.store.get().pending.length) app.resume().catch(() => {});
}

function hide() {
  // Stop following: the jobs keep running on the server and stay pending until the panel shows again.
  app?.dispose();
  live?.stop("panel closed").catch(() => {});
}

entrypoints.setup({
  panels: {
    dccbridgePanel: { show, hide },
  },
});
