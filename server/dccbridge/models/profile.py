"""The execution profile: how a model runs on its device (precision, memory layout, attention, VAE tiling,
compilation, CPU threads), chosen once when the server starts and per model when it loads.

Ops never branch on the device themselves; they run what the manager loaded under its profile, and provenance
records the profile a result was made under. Defaults per device (`choose_profile`):

- CUDA: float16 (bfloat16 with `--dtype bfloat16`), channels_last UNet / ControlNet / VAE, PyTorch SDPA attention,
  VAE tiling above `DEFAULT_VAE_TILING_PX`, torch.compile only with `--compile`.
- MPS: float16, SDPA, VAE tiling above the threshold.
- CPU: float32, SDPA, the intra-op thread count set (`--threads`, default torch's: the physical cores).

A catalog model may switch any of channels_last, attention, vae_tiling_px and compile for itself
(`[models.ID.profile]`, `PROFILE_KEYS`); flags switch them for every model.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# No torch at import time: the catalog (read by the api layer too) parses [models.ID.profile] tables with this module.
log = logging.getLogger("dccbridge.profile")

ATTENTION_KINDS = ("sdpa", "default")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Longest side (pixels) above which the VAE decodes and encodes in tiles on GPUs: SD1.5 and SDXL sizes stay untiled
# (tiling changes pixels slightly where tiles blend); a 4K upscale's VAE passes fit in memory.
DEFAULT_VAE_TILING_PX = 2048
PROFILE_KEYS = {"channels_last", "attention", "vae_tiling_px", "compile"}


@dataclass(frozen=True)
class ExecutionProfile:
    device: str             # "cuda", "mps" or "cpu"
    dtype: str              # "float16", "bfloat16" or "float32"
    channels_last: bool     # UNet, ControlNets and VAE in channels_last memory format
    attention: str          # "sdpa": PyTorch scaled_dot_product_attention; "default": diffusers' plain processor
    vae_tiling_px: int      # the VAE works in tiles when a side exceeds this; 0 = never
    compile: bool           # torch.compile of UNet and ControlNets, warmed up at load
    threads: int            # torch intra-op threads (CPU work); 0 = left as torch set it
    # torch.compile mode: "default", "reduce-overhead" (CUDA graphs: fastest at batch 1, memory per shape) or
    # "max-autotune" (longest compile).
    compile_mode: str = "default"

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for doctor, capabilities and logs, e.g. 'cuda float16, channels_last, sdpa, vae tiling >2048
        px, compile off'."""
        parts = [f"{self.device} {self.dtype}"]
        if self.channels_last:
            parts.append("channels_last")
        parts.append(f"attention {self.attention}")
        parts.append(f"vae tiling >{self.vae_tiling_px} px" if self.vae_tiling_px else "vae tiling off")
        parts.append(("compile on" + (f" ({self.compile_mode})" if self.compile_mode != "default" else ""))
                     if self.compile else "compile off")
        if self.threads:
            parts.append(f"{self.threads} threads")
        return ", ".join(parts)

    def for_model(self, overrides: dict) -> ExecutionProfile:
        """This profile with a catalog model's `profile` table applied (keys already checked by the catalog)."""
        return replace(self, **overrides) if overrides else self


@dataclass(frozen=True)
class ProfileOptions:
    """What the operator asked for (serve flags); None = the device's default."""

    channels_last: bool | None = None
    attention: str | None = None
    vae_tiling_px: int | None = None
    compile: bool = False
    threads: int | None = None
    compile_mode: str = "default"

    def __post_init__(self):
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"--compile-mode must be one of {', '.join(COMPILE_MODES)}, got {self.compile_mode!r}")
        if self.attention is not None and self.attention not in ATTENTION_KINDS:
            raise ValueError(f"--attention must be one of {', '.join(ATTENTION_KINDS)}, got {self.attention!r}")
        if self.vae_tiling_px is not None and (self.vae_tiling_px < 0 or self.vae_tiling_px % 8):
            raise ValueError(f"--vae-tiling must be 0 (off) or a positive multiple of 8, got {self.vae_tiling_px}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {self.threads}")


def choose_profile(device, dtype, options: ProfileOptions | None = None) -> ExecutionProfile:
    """The profile for a torch.device and torch.dtype under the operator's options."""
    import torch

    options = options or ProfileOptions()
    gpu = device.type in ("cuda", "mps")
    threads = options.threads if options.threads is not None else (0 if gpu else torch.get_num_threads())
    return ExecutionProfile(
        device=device.type,
        dtype=str(dtype).removeprefix("torch."),
        # channels_last pays off with cuDNN's NHWC convolutions (tensor cores); on CPU and MPS it is no faster.
        channels_last=options.channels_last if options.channels_last is not None else device.type == "cuda",
        attention=options.attention or "sdpa",
        vae_tiling_px=options.vae_tiling_px if options.vae_tiling_px is not None else (
            DEFAULT_VAE_TILING_PX if gpu else 0),
        compile=options.compile,
        threads=threads,
        compile_mode=options.compile_mode,
    )


def parse_profile_table(table, where: str) -> dict:
    """A catalog `[models.ID.profile]` table -> overrides for ExecutionProfile.for_model. ValueError names the key."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table of {', '.join(sorted(PROFILE_KEYS))}")
    unknown = set(table) - PROFILE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(PROFILE_KEYS))}")
    for key in ("channels_last", "compile"):
        if key in table and not isinstance(table[key], bool):
            raise ValueError(f"{where}.{key}: must be true or false, got {table[key]!r}")
    if "attention" in table and table["attention"] not in ATTENTION_KINDS:
        raise ValueError(f"{where}.attention: must be one of {', '.join(ATTENTION_KINDS)}, got {table['attention']!r}")
    if "vae_tiling_px" in table:
        value = table["vae_tiling_px"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value % 8:
            raise ValueError(f"{where}.vae_tiling_px: must be 0 (off) or a positive multiple of 8, got {value!r}")
    return dict(table)


def apply_threads(profile: ExecutionProfile) -> None:
    import torch

    if profile.threads and torch.get_num_threads() != profile.threads:
        torch.set_num_threads(profile.threads)


def set_compile_cache(data_dir: str | Path) -> None:
    """Inductor's compiled kernels and FX graph cache under the data directory, so a restart reuses them."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(data_dir) / "compile-cache"))


def apply_to_pipeline(pipeline, profile: ExecutionProfile) -> None:
    """Memory format, attention and VAE tiling on a loaded pipeline's shared modules (once, at load). Compilation
    comes after (compile_module) so that LoRA layers and the first warm-up see the final modules."""
    import torch

    for name in ("unet", "controlnet"):
        module = getattr(pipeline, name, None)
        if isinstance(module, torch.nn.Module):
            apply_to_module(module, profile)
    vae = getattr(pipeline, "vae", None)
    if isinstance(vae, torch.nn.Module):
        apply_to_vae(vae, profile)


def apply_to_module(module, profile: ExecutionProfile):
    """channels_last and the attention processor on a UNet, ControlNet or VAE."""
    import torch

    if profile.channels_last:
        module.to(memory_format=torch.channels_last)
    if hasattr(module, "set_attn_processor"):
        from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

        module.set_attn_processor(AttnProcessor2_0() if profile.attention == "sdpa" else AttnProcessor())
    return module


def apply_to_vae(vae, profile: ExecutionProfile):
    """channels_last, attention, and tiling above the profile's threshold (AutoencoderKL tiles only inputs larger
    than its tile size, so the tile size is the threshold)."""
    apply_to_module(vae, profile)
    if profile.vae_tiling_px and hasattr(vae, "enable_tiling") and hasattr(vae, "tile_sample_min_size"):
        vae.enable_tiling()
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        vae.tile_sample_min_size = profile.vae_tiling_px
        vae.tile_latent_min_size = profile.vae_tiling_px // factor
    elif hasattr(vae, "disable_tiling"):
        vae.disable_tiling()
    return vae


def match_vae(vae, like):
    """A job's VAE override takes the model VAE's memory format and tiling (the profile the model loaded under)."""
    import torch

    weight = getattr(getattr(like, "decoder", None), "conv_in", None)
    if weight is not None and weight.weight.is_contiguous(memory_format=torch.channels_last):
        vae.to(memory_format=torch.channels_last)
    if hasattr(vae, "use_tiling") and hasattr(like, "use_tiling"):
        vae.use_tiling = like.use_tiling
        for name in ("tile_sample_min_size", "tile_latent_min_size"):
            if hasattr(like, name):
                setattr(vae, name, getattr(like, name))
    return vae


def compile_module(module, profile: ExecutionProfile):
    """torch.compile in place (the module keeps its class, so pipelines and from_pipe views see a UNet as before).
    Shapes: the first new size recompiles once with dynamic height, width and batch (dynamo's automatic dynamic
    shapes); from then on new sizes reuse that graph, so a size change costs one recompile, not one per size."""
    if not profile.compile:
        return module
    import torch

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
    if profile.device == "cuda":
        # As in PyTorch's "Accelerating Generative AI III: Diffusion": 1x1 convolutions as matmuls, tuned tiling.
        torch._inductor.config.conv_1x1_as_mm = True
        torch._inductor.config.coordinate_descent_tuning = True
        torch._inductor.config.epilogue_fusion = False
    mode = None if profile.compile_mode == "default" else profile.compile_mode
    module.compile(fullgraph=False, dynamic=None, mode=mode)
    return module


def is_compiled(module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None
