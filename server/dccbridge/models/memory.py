"""How much memory a device has left, and how much one more image of a batch needs (cross-request batching's
bound, docs/batching.md). An estimate, deliberately on the high side; a batched call that still runs out of memory
runs again one job at a time (ops/batching.py), so a wrong estimate costs speed, never a job."""

from __future__ import annotations

import torch

# Share of the free memory a batch may plan to use: the rest absorbs what the estimate misses.
CUDA_SHARE = 0.8
CPU_SHARE = 0.5  # host memory is shared with everything else on the machine
SAFETY = 1.5     # estimate x SAFETY is what an image is charged

# The full-size architectures, for a model that is not loaded yet (block_out_channels of UNet and VAE).
FULL_SIZE = {
    "sd15": ((320, 640, 1280, 1280), (128, 256, 512, 512)),
    "sd2-depth": ((320, 640, 1280, 1280), (128, 256, 512, 512)),
    "sdxl": ((320, 640, 1280), (128, 256, 512, 512)),
}


def available_bytes(device: torch.device) -> int:
    """Memory a batch may plan to use on `device` now (weights already loaded are not counted again)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)  # reusable by torch
        return int((free + cached) * CUDA_SHARE)
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(max(0, torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()) * CUDA_SHARE)
    return int(_host_available_bytes() * CPU_SHARE)


def image_bytes(family: str, width: int, height: int, dtype: torch.dtype, guidance: bool,
                unet_config=None, vae_config=None) -> int:
    """Peak activation memory one image adds to a batch at width x height: the larger of its UNet step (two
    samples with classifier-free guidance) and its VAE decode, times SAFETY. Assumes memory-efficient attention
    (PyTorch SDPA, what diffusers uses), so no term grows with the square of the latent area."""
    default_unet, default_vae = FULL_SIZE.get(family, FULL_SIZE["sd15"])
    unet_channels = tuple(unet_config.block_out_channels) if unet_config is not None else default_unet
    vae_channels = tuple(vae_config.block_out_channels) if vae_config is not None else default_vae
    element = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    factor = 2 ** (len(vae_channels) - 1)
    area = max(1, width // factor) * max(1, height // factor)
    # UNet, per sample: the skip connections the up path keeps (about 3 per level, a quarter of the area each
    # level down), plus the working set of a transformer block at the top level (residual, norm, q/k/v, the
    # feed-forward's 8x-wide GEGLU).
    skips = sum(3 * channels * area / 4**level for level, channels in enumerate(unet_channels))
    working = 14 * unet_channels[0] * area
    unet = (skips + working) * element * (2 if guidance else 1)
    # VAE decode, per image: at full resolution the last up block reads the upsampled second-level channels and
    # writes the first-level ones, about three tensors of each alive.
    second = vae_channels[1] if len(vae_channels) > 1 else vae_channels[0]
    vae = 3 * (vae_channels[0] + second) * width * height * element
    return max(1, int(SAFETY * max(unet, vae)))


def _host_available_bytes() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (AttributeError, ValueError, OSError):
        return 8 * 1024**3  # unknown OS: assume a modest machine
