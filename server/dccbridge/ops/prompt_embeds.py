"""Prompt embeddings through the model's cache: a pipeline call's `prompt` / `negative_prompt` become
`prompt_embeds` / `negative_prompt_embeds` (and SDXL's pooled ones), encoded once per (prompt, negative prompt,
guidance on/off, text adapters) and reused by later jobs.

The embeddings are the pipeline's own `encode_prompt` output for one image; the pipeline repeats them for
num_images_per_prompt exactly as it does for a prompt it encodes itself, so the pixels are the same bit for bit
(tests/test_speed.py holds that).
"""

from __future__ import annotations

import torch

from ..models.adapters import text_adapters_key


def with_cached_embeddings(pipe, model, kwargs: dict) -> dict:
    """The call's kwargs with prompts replaced by cached embeddings; unchanged without a model or a text prompt."""
    prompt = kwargs.get("prompt")
    if model is None or not isinstance(prompt, str) or model.prompt_cache.max_entries <= 0 \
            or not hasattr(pipe, "encode_prompt"):
        return kwargs
    negative = kwargs.get("negative_prompt")
    guided = does_guidance(pipe, kwargs.get("guidance_scale", 7.5))
    key = (prompt, negative or "", guided, text_adapters_key(pipe))

    def encode() -> tuple:
        # Exactly the arguments the pipeline's own __call__ passes, for one image; no autograd history is kept.
        with torch.no_grad():
            return pipe.encode_prompt(prompt=prompt, device=pipe._execution_device, num_images_per_prompt=1,
                                      do_classifier_free_guidance=guided, negative_prompt=negative)

    encoded = model.prompt_cache.get_or_encode(key, encode)
    kwargs = {name: value for name, value in kwargs.items() if name not in ("prompt", "negative_prompt")}
    if len(encoded) == 4:  # SDXL: (embeds, negative, pooled, negative pooled)
        embeds, negative_embeds, pooled, negative_pooled = encoded
        kwargs.update(pooled_prompt_embeds=pooled, negative_pooled_prompt_embeds=negative_pooled)
    else:
        embeds, negative_embeds = encoded
    kwargs.update(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds)
    return kwargs


def does_guidance(pipe, guidance_scale: float) -> bool:
    """diffusers' own rule (the pipelines' do_classifier_free_guidance): guidance above 1 and a UNet without a
    guidance embedding (LCM-distilled UNets have one). At guidance <= 1 the UNet sees one batch, not two."""
    return guidance_scale > 1 and pipe.unet.config.get("time_cond_proj_dim") is None
