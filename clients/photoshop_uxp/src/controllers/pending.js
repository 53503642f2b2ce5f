// Jobs this panel started and has not placed yet, kept in storage so a reopened panel fetches them by id.
import { savePending } from "../state/store.js";

export function pendingJobs(store, storage) {
  const write = (pending) => {
    store.set({ pending });
    savePending(storage, pending);
  };
  return {
    add: (entry) => write([...store.get().pending.filter((p) => p.jobId !== entry.jobId), { ...entry, createdMs: Date.now() }]),
    remove: (jobId) => write(store.get().pending.filter((p) => p.jobId !== jobId)),
  };
}
