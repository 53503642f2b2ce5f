"""TAESD previews: a catalog model's `preview_vae` (an AutoencoderTiny: taesd for sd15, taesdxl for sdxl) decodes
the latents of a denoising step into a preview image for a fraction of the full VAE's cost.

Sources: `builtin:tiny-taesd` / `builtin:tiny-taesdxl` (random weights, the tiny preset), a diffusers folder or
cached hub repo (`madebyollin/taesd`, `madebyollin/taesdxl`), or one `.safetensors` file in diffusers' key layout
or in the original taesd repository's decoder layout (`taesd_decoder.safetensors`: keys `1.conv.0.weight`, ...).
Without a preview_vae the ops fall back to the linear latent -> RGB map.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderTiny
from safetensors.torch import load_file

from ..errors import ModelUnavailable
from .loading import Placement, _as_model_unavailable, _local_folder, _place_module, _source_kind
from .sources import BUILTIN_PREFIX
from .tiny import TINY_TAESDS, build_tiny_taesd

LATENT_SCALE = 8  # TAESD, like the VAEs it stands in for, decodes one latent pixel into 8 x 8


class PreviewDecoder:
    """Decodes one image's latents into an RGB uint8 preview no larger than the requested size."""

    def __init__(self, vae: AutoencoderTiny, source: str):
        self.vae = vae
        self.source = source

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, max_side: int) -> np.ndarray:
        latent = latents[-1:].to(self.vae.device, self.vae.dtype)
        # Shrink the latent first when the decoded image would exceed max_side: the preview is shown small, and
        # TAESD's last blocks run at full resolution, where nearly all of its cost is.
        height, width = latent.shape[-2:]
        shrink = math.ceil(max(height, width) * LATENT_SCALE / max(max_side, LATENT_SCALE))
        if shrink > 1:
            latent = F.interpolate(latent, size=(max(1, height // shrink), max(1, width // shrink)), mode="area")
        image = self.vae.decode(latent).sample[0]  # [-1, 1]
        rgb = ((image.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
        return rgb.permute(1, 2, 0).cpu().numpy()


def load_preview_decoder(source: str, placement: Placement, owner: str) -> PreviewDecoder:
    kind = _source_kind(source, owner)
    with _as_model_unavailable(owner, source):
        if kind == "builtin":
            name = source.removeprefix(BUILTIN_PREFIX)
            if name not in TINY_TAESDS:
                raise ModelUnavailable(f"{owner}: unknown builtin preview VAE '{source}'; builtins: "
                                       + ", ".join(BUILTIN_PREFIX + n for n in TINY_TAESDS))
            vae = build_tiny_taesd(name)
        elif kind == "single_file":
            vae = AutoencoderTiny()
            state = _diffusers_keys(load_file(source))
            missing, _ = vae.load_state_dict(state, strict=False)
            if any(key.startswith("decoder.") for key in missing):
                raise ModelUnavailable(f"{owner}: '{source}' is not a TAESD decoder (no weights for "
                                       f"{sorted(missing)[0]})")
        elif kind in ("folder", "hub"):
            folder = _local_folder(source, kind, owner, placement.allow_pickle,
                                   allow_download=placement.allow_download)
            vae = AutoencoderTiny.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        else:
            raise ModelUnavailable(f"{owner}: '{source}' must be a .safetensors file, a diffusers AutoencoderTiny "
                                   "folder or a hub repo id such as madebyollin/taesd")
    return PreviewDecoder(_place_module(vae, placement).eval(), source)


def _diffusers_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original taesd_decoder layout (Sequential indices from 1, after a Clamp at 0) -> diffusers' keys."""
    if any(key.startswith(("decoder.", "encoder.")) for key in state):
        return state
    renamed = {}
    for key, value in state.items():
        index, _, rest = key.partition(".")
        if index.isdigit():
            renamed[f"decoder.layers.{int(index) - 1}.{rest}"] = value
    return renamed
