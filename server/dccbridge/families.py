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

# How a host depth pass is scaled to [0, 1] when the request leaves it unspecified: the scaling the family's depth
# models saw in training (control/depth.py, docs/depth-and-pose.md). The sd15 and sdxl depth ControlNets were trained
# on annotator maps -- MiDaS / DPT / Depth-Anything relative inverse depth scaled min..max per image -- and the
# sd2-depth pipeline rescales its depth input min..max itself. Values are DepthNormalization values (domain.py).
DEPTH_NORMALIZATION = {"sd15": "min_max", "sdxl": "min_max", "sd2-depth": "min_max"}
DEFAULT_DEPTH_NORMALIZATION = "min_max"


def depth_normalization(family: str) -> str:
    return DEPTH_NORMALIZATION.get(family, DEFAULT_DEPTH_NORMALIZATION)


# Where a family's textual-inversion embeddings go, one slot per text encoder: (the key of that encoder's tensor in
# an embedding file, the pipeline's tokenizer attribute, its text encoder attribute). SDXL embeddings carry one
# tensor per encoder ("clip_l" for CLIP ViT-L, "clip_g" for OpenCLIP bigG; their widths differ); single-encoder
# families take a file with one tensor (A1111 "emb_params", or diffusers' {token: tensor}), hence the None key.
SINGLE_ENCODER_SLOTS = ((None, "tokenizer", "text_encoder"),)
EMBEDDING_SLOTS = {
    "sdxl": (("clip_l", "tokenizer", "text_encoder"), ("clip_g", "tokenizer_2", "text_encoder_2")),
}


def embedding_slots(family: str) -> tuple[tuple[str | None, str, str], ...]:
    return EMBEDDING_SLOTS.get(family, SINGLE_ENCODER_SLOTS)
