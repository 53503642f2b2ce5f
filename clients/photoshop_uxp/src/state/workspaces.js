// Workspaces: the panel shows one at a time (tabs at the top); server, model and prompt sit in the shared header.
// The artist's last workspace and form are kept per document (UXP localStorage keyed by the document's path, or
// its title for an unsaved one), so switching documents brings back what was set for each.

export const WORKSPACES = [
  ["generate", "Generate"],
  ["live", "Live"],
  ["upscale", "Upscale"],
  // Photoshop has no Texture task of its own, but the server's seamless texture (+ PBR maps as layers) is one:
  // it gets its own tab rather than hiding at the bottom of Generate.
  ["texture", "Texture"],
  ["history", "History"],
];
export const DEFAULT_WORKSPACE = "generate";
export const isWorkspace = (name) => WORKSPACES.some(([id]) => id === name);

const PREFIX = "dccbridge.doc:";

/** The key a document's workspace is stored under: its path when saved, else its title (ids change per session). */
export const docKey = (doc) => (doc ? doc.path || doc.title || String(doc.id) : "");

export function loadDocState(storage, key) {
  if (!key) return null;
  try {
    const text = storage?.getItem(PREFIX + key);
    const saved = text ? JSON.parse(text) : null;
    return saved && typeof saved === "object" ? saved : null;
  } catch {
    return null;
  }
}

export function saveDocState(storage, key, { workspace, form }) {
  if (key) storage?.setItem(PREFIX + key, JSON.stringify({ workspace, form }));
}
