"""LoRAs, embeddings and VAE: which of the server's adapters fit the chosen model, and what a job sends. No bpy.

Adapters come from GetCapabilities as dicts {"id", "family", "description"}; each fits only models of its family.
An embedding is invoked by its token (= its id) in the prompt or the negative prompt, so the embeddings a job sends
are the ones whose tokens are written there. Choices the server no longer offers for the model's family (a file
removed, another model picked) are refused with a message that says what to do, never dropped silently.
"""

from __future__ import annotations

import re

KIND_NAMES = {"loras": "LoRA", "embeddings": "Embedding", "vaes": "VAE"}


def family_of(model_id: str, models: list[dict], default_model: str = "") -> str | None:
    """The family of the chosen model (empty = the server's default); None when the server does not list it."""
    wanted = model_id or default_model
    return next((m["family"] for m in models if m["id"] == wanted), None)


def offered(items: list[dict], family: str | None) -> list[dict]:
    """The adapters that fit a model of `family` (all of them when the family is unknown)."""
    return [item for item in items if family is None or item["family"] == family]


def _token_pattern(token: str) -> re.Pattern:
    # A whole word: "glow" is in "a <glow>, glow lights" but not in "glowing".
    return re.compile(r"(?<![\w-])" + re.escape(token) + r"(?![\w-])")


def tokens_in(texts, tokens) -> list[str]:
    """The tokens written (as whole words) in any of the texts, in the order given, each once."""
    found = []
    for token in tokens:
        if token and token not in found and any(_token_pattern(token).search(t or "") for t in texts):
            found.append(token)
    return found


def insert_token(prompt: str, token: str) -> str:
    """The prompt with the token appended (", "-separated), unless it is already there."""
    if tokens_in([prompt], [token]):
        return prompt
    stripped = prompt.rstrip().rstrip(",").rstrip()
    return f"{stripped}, {token}" if stripped else token


def unavailable(kind: str, adapter_id: str, family: str | None, everything: list[dict], model_id: str) -> str:
    """Why a chosen adapter cannot be sent, and what to do about it."""
    name = KIND_NAMES[kind]
    model = f"model '{model_id}'" if model_id else "the server's default model"
    elsewhere = sorted({item["family"] for item in everything if item["id"] == adapter_id})
    if elsewhere:
        return f"{name} '{adapter_id}' is for {' and '.join(elsewhere)} models; {model} is {family}"
    return f"{name} '{adapter_id}' is not offered by this server"


def choose(catalog: dict | None, model_id: str, loras, prompts, remembered_embeddings=(), vae_id: str = ""):
    """What a job sends, and the problems that stop it.

    catalog: None when capabilities are unknown (not connected since the file was opened: the choices are sent as
    they are and the server checks them), else {"models": [...], "default_model": id, "loras": [...],
    "embeddings": [...], "vaes": [...]}. loras: (id, weight, enabled) rows; rows without an id are skipped.
    prompts: the prompt and negative prompt. remembered_embeddings: embedding ids this scene inserted (they are
    recognised in the prompt even before connecting). Returns ({"loras": [{"id", "weight"}], "embeddings": [ids],
    "vae_id": id}, [problem, ...])."""
    problems = []
    chosen = [(lora_id, float(weight)) for lora_id, weight, enabled in loras if enabled and lora_id]
    seen = set()
    for lora_id, _ in chosen:
        if lora_id in seen:
            problems.append(f"LoRA '{lora_id}' is listed twice: keep one row and set its weight")
        seen.add(lora_id)
    if catalog is None:
        embeddings = tokens_in(prompts, remembered_embeddings)
    else:
        family = family_of(model_id, catalog["models"], catalog.get("default_model", ""))
        fit = {kind: {item["id"] for item in offered(catalog[kind], family)} for kind in KIND_NAMES}
        for lora_id, _ in chosen:
            if lora_id not in fit["loras"]:
                problems.append(unavailable("loras", lora_id, family, catalog["loras"], model_id)
                                + ": pick another LoRA or remove the row")
        known = [item["id"] for item in offered(catalog["embeddings"], family)]
        embeddings = tokens_in(prompts, [*known, *remembered_embeddings])
        for embedding_id in embeddings:
            if embedding_id not in fit["embeddings"]:
                problems.append(unavailable("embeddings", embedding_id, family, catalog["embeddings"], model_id)
                                + ": remove its token from the prompt")
        if vae_id and vae_id not in fit["vaes"]:
            problems.append(unavailable("vaes", vae_id, family, catalog["vaes"], model_id)
                            + ": pick another VAE or \"Model's own\"")
    chosen_adapters = {"loras": [{"id": i, "weight": w} for i, w in chosen], "embeddings": embeddings,
                       "vae_id": vae_id}
    return chosen_adapters, problems


def is_empty(chosen_adapters: dict | None) -> bool:
    return not chosen_adapters or not (chosen_adapters["loras"] or chosen_adapters["embeddings"]
                                       or chosen_adapters["vae_id"])
