"""Which model families run which task: one table for the ops' checks and for capabilities (no torch here)."""

from __future__ import annotations

# txt2img / img2img / inpaint with ControlNet units (ops/generate.py); the same pipelines serve textures, the
# tiled diffusion upscale (img2img per tile) and depth-preserving img2img through a depth ControlNet.
GENERATE_FAMILIES = ("sd15", "sdxl")
TEXTURE_FAMILIES = GENERATE_FAMILIES
TILED_UPSCALE_FAMILIES = GENERATE_FAMILIES
CONTROLNET_DEPTH2IMG_FAMILIES = GENERATE_FAMILIES
# Dedicated depth2img models (the depth is a fifth UNet input channel): depth2img and nothing else.
DEPTH2IMG_FAMILIES = ("sd2-depth",)
