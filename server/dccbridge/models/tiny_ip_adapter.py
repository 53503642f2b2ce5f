"""Builtin IP-Adapters for the `tiny` preset: a random-weight CLIP vision encoder and IP-Adapter / IP-Adapter Plus
weights shaped after the tiny UNets, in h94/IP-Adapter's file layout.

They are written once into the tiny cache (a folder per content fingerprint under the system temp dir, or
$DCCBRIDGE_TINY_CACHE) as a `.safetensors` file and a transformers folder, and then load through exactly the code
real weights do: the file is read and handed to diffusers' `load_ip_adapter`, the folder to
`CLIPVisionModelWithProjection.from_pretrained`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from .tiny import SDXL_UNET_CONFIG, SDXL_UNET_SEED, UNET_CONFIG, UNET_SEED, _seeded

TINY_IP_ADAPTER_VERSION = 1
IMAGE_ENCODER_SEED = 8001
# CLIP ViT-H/14 in miniature (the encoder of h94's SD1.5 and "vit-h" SDXL adapters): its projected image_embeds
# feed IP-Adapter, its penultimate hidden states (patch tokens) IP-Adapter Plus.
IMAGE_ENCODER_CONFIG = dict(
    image_size=32, patch_size=8, num_channels=3, hidden_size=32, intermediate_size=37, num_hidden_layers=3,
    num_attention_heads=4, projection_dim=32,
)
PLUS_HIDDEN = 64     # Resampler width; diffusers derives its heads as to_q rows // 64
PLUS_QUERIES = 4     # image tokens (real Plus: 16)
PLUS_DEPTH = 4       # Resampler blocks (diffusers' converter expects 4)
IP_TOKENS = 4        # plain IP-Adapter image tokens, as in the real ones
WEIGHT_STD = 0.3     # large enough that a reference visibly changes the image

# builtin name -> (the UNet it fits: (seed, config), kind, seed)
TINY_IP_ADAPTERS = {
    "tiny-ip-adapter": ((UNET_SEED, UNET_CONFIG), "ip-adapter", 8101),
    "tiny-ip-adapter-plus": ((UNET_SEED, UNET_CONFIG), "ip-adapter-plus", 8102),
    "tiny-sdxl-ip-adapter": ((SDXL_UNET_SEED, SDXL_UNET_CONFIG), "ip-adapter", 8103),
    "tiny-sdxl-ip-adapter-plus": ((SDXL_UNET_SEED, SDXL_UNET_CONFIG), "ip-adapter-plus", 8104),
}
TINY_IMAGE_ENCODERS = ("tiny-clip-vision",)
_WRITE_LOCK = threading.Lock()


def build_tiny_image_encoder() -> CLIPVisionModelWithProjection:
    return _seeded(IMAGE_ENCODER_SEED,
                   lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**IMAGE_ENCODER_CONFIG))).eval()


def _cross_attention_sizes(config: dict) -> list[tuple[int, int]]:
    """(hidden size, cross-attention dim) of each cross-attention layer, in the order diffusers numbers the
    IP-Adapter's `ip_adapter.{1,3,5,...}` keys (its attn_processors order)."""
    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
    channels = config["block_out_channels"]
    sizes = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        sizes.append((hidden, config["cross_attention_dim"]))
    return sizes


def build_tiny_ip_adapter_state_dict(name: str) -> dict[str, torch.Tensor]:
    """A builtin IP-Adapter's tensors with h94's flat keys (`image_proj.*`, `ip_adapter.N.to_k_ip.weight`)."""
    (_, unet_config), kind, seed = TINY_IP_ADAPTERS[name]
    return ip_adapter_state_dict(unet_config, kind, seed, IMAGE_ENCODER_CONFIG["projection_dim"],
                                 IMAGE_ENCODER_CONFIG["hidden_size"])


def ip_adapter_state_dict(unet_config: dict, kind: str, seed: int, image_embed_dim: int, encoder_hidden: int,
                          plus_hidden: int = PLUS_HIDDEN, plus_queries: int = PLUS_QUERIES) -> dict[str, torch.Tensor]:
    """Random IP-Adapter (kind "ip-adapter") or Plus weights in h94's layout for any UNet config: image_embed_dim is
    the encoder's projection (CLIP ViT-H: 1024), encoder_hidden its width (ViT-H: 1280); real Plus: 768 wide, 16
    queries. bench/bench_reference.py builds SD1.5-sized ones with it."""
    generator = torch.Generator().manual_seed(seed)
    cross = unet_config["cross_attention_dim"]

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * WEIGHT_STD

    state: dict[str, torch.Tensor] = {}
    if kind == "ip-adapter":  # ImageProjection: image_embeds -> IP_TOKENS tokens of the UNet's width
        embed = image_embed_dim
        state["image_proj.proj.weight"] = randn(IP_TOKENS * cross, embed)
        state["image_proj.proj.bias"] = randn(IP_TOKENS * cross)
        state["image_proj.norm.weight"] = torch.ones(cross)
        state["image_proj.norm.bias"] = torch.zeros(cross)
    else:  # the Resampler of IP-Adapter Plus over the encoder's patch tokens
        embed, hidden, inner = encoder_hidden, plus_hidden, plus_hidden  # heads of 64: hidden // 64 of them
        state["image_proj.latents"] = randn(1, plus_queries, hidden)
        state["image_proj.proj_in.weight"], state["image_proj.proj_in.bias"] = randn(hidden, embed), randn(hidden)
        state["image_proj.proj_out.weight"], state["image_proj.proj_out.bias"] = randn(cross, hidden), randn(cross)
        state["image_proj.norm_out.weight"], state["image_proj.norm_out.bias"] = torch.ones(cross), torch.zeros(cross)
        for block in range(PLUS_DEPTH):
            prefix = f"image_proj.layers.{block}"
            for norm in ("0.norm1", "0.norm2", "1.0"):
                state[f"{prefix}.{norm}.weight"], state[f"{prefix}.{norm}.bias"] = torch.ones(hidden), torch.zeros(hidden)
            state[f"{prefix}.0.to_q.weight"] = randn(inner, hidden)
            state[f"{prefix}.0.to_kv.weight"] = randn(2 * inner, hidden)
            state[f"{prefix}.0.to_out.weight"] = randn(hidden, inner)
            state[f"{prefix}.1.1.weight"] = randn(4 * hidden, hidden)
            state[f"{prefix}.1.3.weight"] = randn(hidden, 4 * hidden)
    for index, (hidden, cross_dim) in enumerate(_cross_attention_sizes(unet_config)):
        key = 2 * index + 1
        state[f"ip_adapter.{key}.to_k_ip.weight"] = randn(hidden, cross_dim)
        state[f"ip_adapter.{key}.to_v_ip.weight"] = randn(hidden, cross_dim)
    return state


def tiny_cache_dir() -> Path:
    configured = os.environ.get("DCCBRIDGE_TINY_CACHE")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"dccbridge-tiny-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _fingerprint(name: str) -> str:
    parts = dict(name=name, version=TINY_IP_ADAPTER_VERSION, encoder=(IMAGE_ENCODER_SEED, IMAGE_ENCODER_CONFIG))
    if name in TINY_IP_ADAPTERS:
        parts.update(adapter=TINY_IP_ADAPTERS[name], plus=(PLUS_HIDDEN, PLUS_QUERIES, PLUS_DEPTH),
                     tokens=IP_TOKENS, std=WEIGHT_STD)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=list).encode()).hexdigest()[:16]


def tiny_ip_adapter_file(name: str) -> Path:
    """The builtin IP-Adapter's .safetensors file in the tiny cache, written on first use."""
    if name not in TINY_IP_ADAPTERS:
        raise KeyError(name)
    target = tiny_cache_dir() / f"{name}-{_fingerprint(name)}" / "ip-adapter.safetensors"
    return _written(target, lambda tmp: save_file(build_tiny_ip_adapter_state_dict(name), str(tmp)))


def tiny_image_encoder_folder(name: str) -> Path:
    """The builtin image encoder as a transformers folder (config.json + model.safetensors), written on first use."""
    if name not in TINY_IMAGE_ENCODERS:
        raise KeyError(name)
    folder = tiny_cache_dir() / f"{name}-{_fingerprint(name)}"

    def write(tmp: Path) -> None:
        build_tiny_image_encoder().save_pretrained(tmp, safe_serialization=True)

    return _written(folder, write)


def _written(target: Path, write) -> Path:
    """`target` (a file or folder), produced by write(tmp) and renamed into place, so readers never see half."""
    with _WRITE_LOCK:
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        write(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race with a folder: theirs is the same content
            if not target.exists():
                raise
    return target
