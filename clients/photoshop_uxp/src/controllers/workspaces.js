// Which workspace the panel shows, remembered per document together with the form (src/state/workspaces.js).
// It follows the store: when the active document changes, the outgoing document's workspace + form are saved and
// the incoming one's restored; every change of either is saved for the current document.
import { DEFAULT_WORKSPACE, docKey, isWorkspace, loadDocState, saveDocState } from "../state/workspaces.js";

export function createWorkspaces({ app, storage = globalThis.localStorage }) {
  const { store } = app;
  let currentKey = docKey(store.get().doc);
  let saved = "";
  store.set({ workspace: loadDocState(storage, currentKey)?.workspace ?? DEFAULT_WORKSPACE });

  function persist(s) {
    const text = JSON.stringify([currentKey, s.workspace, s.form]);
    if (!currentKey || text === saved) return;
    saved = text;
    saveDocState(storage, currentKey, { workspace: s.workspace, form: s.form });
  }

  function onChange(s) {
    const key = docKey(s.doc);
    if (key === currentKey) return persist(s);
    currentKey = key;
    const restored = loadDocState(storage, key);
    if (!restored) return persist(s); // a document seen for the first time keeps what is set now
    saved = "";
    // app.updateForm keeps the global form (the next new document starts from it) in step too.
    if (restored.form) app.updateForm(restored.form);
    store.set({ workspace: isWorkspace(restored.workspace) ? restored.workspace : DEFAULT_WORKSPACE });
  }
  store.subscribe(onChange);

  function show(name) {
    if (!isWorkspace(name)) throw new Error(`unknown workspace "${name}"`);
    store.set({ workspace: name });
  }
  return { show, current: () => store.get().workspace };
}
