// A stand-in for UXP's `uxp` module in a browser: entrypoints.setup shows the panel at once.
export const entrypoints = {
  panels: {},
  setup({ panels = {} } = {}) {
    entrypoints.panels = panels;
    for (const panel of Object.values(panels)) panel.show?.(document.getElementById("app"));
  },
};
export const storage = { localFileSystem: null };
export const host = { name: "browser", version: "0" };
