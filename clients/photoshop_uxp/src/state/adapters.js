// LoRAs, embeddings and VAEs: which of the server's adapters fit the chosen model (same family), which embeddings
// the prompt invokes (their token written in it), and which chosen ids the server does not offer. Pure functions
// of the store's state; the controllers turn them into the task's `adapters`.

export const LORA_WEIGHT = { min: -4, max: 4, default: 1 };

/** The family of a model id ("" = the server's default model); "" when the server does not list it. */
export function familyOf(server, modelId) {
  const id = modelId || server.defaultModelId || server.models.find((m) => m.isDefault)?.id;
  return server.models.find((m) => m.id === id)?.family ?? "";
}

/** Only the adapters made for that family: an sdxl LoRA does not fit an sd15 model. */
export const forFamily = (adapters, family) => (adapters ?? []).filter((a) => a.family === family);

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether the token is a word of its own in the text ("mystyle" in "a mystyle harbour", not in "mystyles"). */
export const promptUses = (text, token) =>
  Boolean(text && token) && new RegExp(`(^|[^\\w-])${escape(token)}($|[^\\w-])`).test(text);

export const tokenOf = (embedding) => embedding.token || embedding.id;

/** Ids of the embeddings whose token is in the prompt or the negative prompt. */
export const embeddingsUsedBy = (embeddings, prompt, negativePrompt) =>
  embeddings.filter((e) => promptUses(prompt, tokenOf(e)) || promptUses(negativePrompt, tokenOf(e))).map((e) => e.id);

/** The prompt with the token appended (unchanged when it is already there). */
export function insertToken(prompt, token) {
  if (promptUses(prompt, token)) return prompt;
  const trimmed = (prompt ?? "").trimEnd();
  return trimmed ? `${trimmed}${trimmed.endsWith(",") ? " " : ", "}${token}` : token;
}

const describe = (family) => (family ? `${family} models` : "this model");
const offered = (list) => (list.length ? ` (offered: ${list.map((a) => a.id).join(", ")})` : " (none offered)");

/** One sentence per chosen LoRA or VAE the server does not offer for the family; [] when all are there. */
export function staleAdapters(form, server, family) {
  const loras = forFamily(server.loras, family);
  const vaes = forFamily(server.vaes, family);
  const problems = (form.loras ?? []).filter((l) => !loras.some((a) => a.id === l.id))
    .map((l) => `LoRA "${l.id}" is not on the server for ${describe(family)}${offered(loras)}`);
  if (form.vaeId && !vaes.some((v) => v.id === form.vaeId)) {
    problems.push(`VAE "${form.vaeId}" is not on the server for ${describe(family)}${offered(vaes)}`);
  }
  return problems;
}

/**
 * The task's `adapters` message (undefined when nothing is chosen) for the form's model, or {problems} when a
 * chosen id is not offered for it.
 */
export function adaptersFor(form, server) {
  const family = familyOf(server, form.modelId);
  const problems = staleAdapters(form, server, family);
  if (problems.length) return { problems };
  const loras = (form.loras ?? []).map((l) => ({ id: l.id, weight: Number(l.weight) }));
  const embeddings = embeddingsUsedBy(forFamily(server.embeddings, family), form.prompt, form.negativePrompt);
  if (!loras.length && !embeddings.length && !form.vaeId) return { adapters: undefined };
  return { adapters: { loras, embeddings, vaeId: form.vaeId || "" } };
}
