"""The built-in `tiny` preset: random-weight, SD1.5- and SDXL-shaped components built from configs in code.

Every component is constructed under its own fixed seed inside `torch.random.fork_rng`, so the weights are
the same in every process and the caller's global RNG state is neither used nor changed. The images are
noise; the code path (tokenizer, text encoder, UNet, 8x VAE, ControlNet, schedulers) is the real one.
"""

from __future__ import annotations

import hashlib
import json
import math

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    ControlNetModel,
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    UNet2DConditionModel,
    UniPCMultistepScheduler,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    DPTConfig,
    DPTForDepthEstimation,
    DPTImageProcessor,
)

from ..domain import ControlType

# Bump when a config or seed below changes: it is part of the builtin weights hash.
TINY_VERSION = 1

UNET_SEED = 1001
VAE_SEED = 1002
TEXT_ENCODER_SEED = 1003
CONTROLNET_SEED_BASE = 2000
ZERO_CONV_STD = 0.05  # large enough that a ControlNet visibly changes the output

UNET_CONFIG = dict(
    sample_size=64,  # x 8 (VAE) = the pipeline's default 512 x 512
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=(2, 4),
    norm_num_groups=32,
)

# Four blocks: three downsamplings, the 8x of real SD VAEs. A 2-block VAE makes 512 x 512 latents
# 256 x 256 and the UNet 30-50x slower (FIELD-NOTES).
VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    block_out_channels=(32, 64, 64, 64),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    steps_offset=1,
)

TOKENIZER_MAX_LENGTH = 77
# A handful of merges so multi-character tokens exist; anything else falls back to byte tokens.
TOKENIZER_MERGES = (
    ("t", "h"), ("th", "e</w>"), ("i", "n"), ("in", "g</w>"), ("a", "n"), ("e", "r"),
    ("o", "n"), ("r", "e"), ("a", "t"), ("e", "n"), ("o", "r"), ("s", "t"),
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's table mapping each byte to a printable character."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\N{INVERTED EXCLAMATION MARK}"), ord("\N{NOT SIGN}") + 1))
        + list(range(ord("\N{REGISTERED SIGN}"), ord("\N{LATIN SMALL LETTER Y WITH DIAERESIS}") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def _tokenizer_vocab() -> dict[str, int]:
    byte_chars = list(_bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(pair) for pair in TOKENIZER_MERGES]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def build_tiny_tokenizer() -> CLIPTokenizer:
    # vocab/merges passed in memory: in transformers 5, CLIPTokenizer(vocab_file=...) silently ignores the
    # files and yields a 2-token vocabulary where every prompt encodes the same (FIELD-NOTES).
    return CLIPTokenizer(
        vocab=_tokenizer_vocab(),
        merges=list(TOKENIZER_MERGES),
        model_max_length=TOKENIZER_MAX_LENGTH,
    )


def _text_encoder_config(tokenizer: CLIPTokenizer, **overrides) -> CLIPTextConfig:
    config = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=5,
        num_attention_heads=4,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        # The pooled output is taken at the eos token; the defaults are the real CLIP vocabulary's ids.
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextConfig(**{**config, **overrides})


def _seeded(seed: int, construct):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return construct()


def build_tiny_sd15() -> dict:
    """Components for `StableDiffusionPipeline(**components)`, float32 on the CPU."""
    tokenizer = build_tiny_tokenizer()
    text_config = _text_encoder_config(tokenizer)
    return dict(
        unet=_seeded(UNET_SEED, lambda: UNet2DConditionModel(**UNET_CONFIG)).eval(),
        vae=_seeded(VAE_SEED, lambda: AutoencoderKL(**VAE_CONFIG)).eval(),
        text_encoder=_seeded(TEXT_ENCODER_SEED, lambda: CLIPTextModel(text_config)).eval(),
        tokenizer=tokenizer,
        scheduler=UniPCMultistepScheduler(**SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
    )


def controlnet_seed(control_type: ControlType) -> int:
    # Stable across processes (unlike hash()), distinct per type.
    digest = hashlib.sha256(control_type.value.encode()).digest()
    return CONTROLNET_SEED_BASE + int.from_bytes(digest[:2], "big")


def build_tiny_controlnet(unet: UNet2DConditionModel, control_type: ControlType) -> ControlNetModel:
    """A random float32 CPU ControlNet shaped after `unet`, different per control type.

    ControlNets start with zero-initialised output convolutions, which would make one a no-op; these get
    small random values so that a ControlNet measurably changes the image.
    """
    seed = controlnet_seed(control_type)

    def construct() -> ControlNetModel:
        controlnet = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=(16, 32, 64, 128), load_weights_from_unet=False
        )
        zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                      controlnet.controlnet_cond_embedding.conv_out]
        with torch.no_grad():
            for conv in zero_convs:
                conv.weight.normal_(0.0, ZERO_CONV_STD)
                conv.bias.normal_(0.0, ZERO_CONV_STD)
        return controlnet

    return _seeded(seed, construct).eval()


# -- SDXL ------------------------------------------------------------------------------------------

SDXL_UNET_SEED = 6001
SDXL_VAE_SEED = 6002
SDXL_TEXT_ENCODER_SEED = 6003
SDXL_TEXT_ENCODER_2_SEED = 6004
# The text encoders' widths differ, as in SDXL (CLIP ViT-L 768, OpenCLIP bigG 1280): single-file loading tells
# the two apart by it. The UNet cross-attends to both, concatenated.
SDXL_TEXT_HIDDEN = 32
SDXL_TEXT_HIDDEN_2 = 64
SDXL_TIME_EMBED_DIM = 8
SDXL_CONTROLNET_PREFIX = "tiny-sdxl-"  # builtin:tiny-sdxl-canny etc., built from the SDXL UNet
# stabilityai/stable-diffusion-xl-base-1.0 in miniature: no attention at the highest resolution, more
# transformer layers deeper down, linear projections, and the "text_time" added embedding (the second encoder's
# pooled text embedding + 6 micro-conditioning numbers: original size, crop corner, target size).
SDXL_UNET_CONFIG = dict(
    sample_size=128,  # x 8 (VAE) = the pipeline's default 1024 x 1024
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2),
    cross_attention_dim=SDXL_TEXT_HIDDEN + SDXL_TEXT_HIDDEN_2,
    attention_head_dim=(2, 4),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=SDXL_TIME_EMBED_DIM,
    projection_class_embeddings_input_dim=6 * SDXL_TIME_EMBED_DIM + SDXL_TEXT_HIDDEN_2,
    norm_num_groups=32,
)
# SDXL's VAE is SD's architecture retrained, with its own latent scale.
SDXL_VAE_CONFIG = dict(VAE_CONFIG, sample_size=1024, scaling_factor=0.13025)
# The base model's EulerDiscreteScheduler config.
SDXL_SCHEDULER_CONFIG = dict(SCHEDULER_CONFIG, timestep_spacing="leading", interpolation_type="linear")


def build_tiny_sdxl() -> dict:
    """Components for `StableDiffusionXLPipeline(**components)`, float32 on the CPU: two CLIP text encoders
    (the second with a text projection, whose pooled output feeds the UNet's added embedding) and a tokenizer
    for each."""
    tokenizer, tokenizer_2 = build_tiny_tokenizer(), build_tiny_tokenizer()
    text_config = _text_encoder_config(tokenizer, hidden_size=SDXL_TEXT_HIDDEN)
    text_config_2 = _text_encoder_config(tokenizer_2, hidden_size=SDXL_TEXT_HIDDEN_2,
                                         projection_dim=SDXL_TEXT_HIDDEN_2)
    return dict(
        unet=_seeded(SDXL_UNET_SEED, lambda: UNet2DConditionModel(**SDXL_UNET_CONFIG)).eval(),
        vae=_seeded(SDXL_VAE_SEED, lambda: AutoencoderKL(**SDXL_VAE_CONFIG)).eval(),
        text_encoder=_seeded(SDXL_TEXT_ENCODER_SEED, lambda: CLIPTextModel(text_config)).eval(),
        text_encoder_2=_seeded(SDXL_TEXT_ENCODER_2_SEED, lambda: CLIPTextModelWithProjection(text_config_2)).eval(),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER_CONFIG),
    )


# -- few-step (turbo) and preview decoders ----------------------------------------------------------

# stabilityai/sd-turbo's sampling in miniature: the tiny SD1.5 weights with the turbo repo's scheduler config
# (Euler ancestral over "trailing" timesteps, so one step starts from pure noise at t=999).
TURBO_SCHEDULER_CONFIG = dict(SCHEDULER_CONFIG, timestep_spacing="trailing")


def build_tiny_turbo() -> dict:
    """Components for a `StableDiffusionPipeline` that samples like SD-Turbo (1-4 steps, guidance 0)."""
    return dict(build_tiny_sd15(), scheduler=EulerAncestralDiscreteScheduler(**TURBO_SCHEDULER_CONFIG))


TAESD_SEED = 7001
TAESDXL_SEED = 7002
# madebyollin/taesd in miniature (its architecture is AutoencoderTiny's default config: 64 channels, 1-3-3-3
# encoder and 3-3-3-1 decoder blocks): previews decoded with it run the real preview code path. TAESD and TAESDXL
# share the architecture; their weights differ (each is trained on its family's latent space).
TAESD_CONFIG = dict(
    encoder_block_out_channels=(16, 16, 16, 16),
    decoder_block_out_channels=(16, 16, 16, 16),
    num_encoder_blocks=(1, 1, 1, 1),
    num_decoder_blocks=(1, 1, 1, 1),
)
TINY_TAESDS = {"tiny-taesd": TAESD_SEED, "tiny-taesdxl": TAESDXL_SEED}


def build_tiny_taesd(name: str = "tiny-taesd") -> AutoencoderTiny:
    """A random float32 CPU AutoencoderTiny (builtin:tiny-taesd for sd15, builtin:tiny-taesdxl for sdxl)."""
    return _seeded(TINY_TAESDS[name], lambda: AutoencoderTiny(**TAESD_CONFIG)).eval()


# -- depth2img and depth estimation ----------------------------------------------------------------

DEPTH2IMG_UNET_SEED = 5001
DPT_SEED = 5002
# stabilityai/stable-diffusion-2-depth in miniature: the UNet sees 4 latent channels + 1 depth channel.
DEPTH2IMG_UNET_CONFIG = dict(UNET_CONFIG, in_channels=5)
# A ViT-backed DPT (Intel/dpt-large's architecture) small enough to build in milliseconds. The larger
# initializer range makes the depth head's output vary over the image instead of collapsing to ~0.
DPT_CONFIG = dict(
    image_size=64, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    intermediate_size=37, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 32, 64, 64],
    fusion_hidden_size=32, reassemble_factors=[4, 2, 1, 0.5], initializer_range=0.2,
)
DPT_PROCESSOR_CONFIG = dict(
    size={"height": 64, "width": 64}, keep_aspect_ratio=False, image_mean=[0.5] * 3, image_std=[0.5] * 3
)


# runwayml/stable-diffusion-inpainting in miniature: the UNet sees 4 latent channels + the mask + 4 channels of the
# masked image's latents. The rest (VAE, text encoder, tokenizer) is the base tiny model's.
INPAINT_UNET_SEED = 7001
INPAINT_UNET_CONFIG = dict(UNET_CONFIG, in_channels=9)


def build_tiny_inpaint() -> dict:
    """Components of a 9-channel inpainting model, for `StableDiffusionPipeline(**components)` (the inpaint view
    is built over it with from_pipe, like the base model's)."""
    unet = _seeded(INPAINT_UNET_SEED, lambda: UNet2DConditionModel(**INPAINT_UNET_CONFIG)).eval()
    return dict(build_tiny_sd15(), unet=unet)


def build_tiny_dpt() -> tuple[DPTForDepthEstimation, DPTImageProcessor]:
    """A random float32 CPU depth estimator and its image processor (relative inverse depth, like MiDaS)."""
    model = _seeded(DPT_SEED, lambda: DPTForDepthEstimation(DPTConfig(**DPT_CONFIG))).eval()
    return model, DPTImageProcessor(**DPT_PROCESSOR_CONFIG)


def build_tiny_depth2img() -> dict:
    """Components for `StableDiffusionDepth2ImgPipeline(**components)`, float32 on the CPU; like the real
    SD2-depth repository it carries its own depth estimator."""
    shared = {k: v for k, v in build_tiny_sd15().items() if k in ("vae", "text_encoder", "tokenizer", "scheduler")}
    depth_estimator, feature_extractor = build_tiny_dpt()
    return dict(
        shared,
        unet=_seeded(DEPTH2IMG_UNET_SEED, lambda: UNet2DConditionModel(**DEPTH2IMG_UNET_CONFIG)).eval(),
        depth_estimator=depth_estimator,
        feature_extractor=feature_extractor,
    )

# -- upscalers -------------------------------------------------------------------------------------

# Builtin ESRGAN-family upscalers as state dicts in the key layouts real files use, so that spandrel's
# architecture and scale detection runs on them: BasicSR RRDBNet (Real-ESRGAN x4plus, UltraSharp) and
# SRVGGNet compact (realesr-general-x4v3). spandrel's RRDBNet fixes the growth channels at 32.
TINY_ESRGANS = {
    "tiny-esrgan-x4": dict(layout="rrdb", seed=3001, num_feat=16, num_block=1, num_grow_ch=32, scale=4),
    "tiny-esrgan-x2": dict(layout="compact", seed=3002, num_feat=16, num_conv=2, scale=2),
}
ESRGAN_HIDDEN_GAIN = 0.7   # keeps activations from exploding through the dense blocks
ESRGAN_OUTPUT_GAIN = 0.2   # with the 0.5 output bias: outputs spread around mid-grey instead of clipping
PRELU_SLOPE = 0.25


def build_tiny_esrgan_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The random-weight state dict of a builtin ESRGAN (a key of TINY_ESRGANS), the same in every process."""
    config = TINY_ESRGANS[name]
    generator = torch.Generator().manual_seed(config["seed"])
    state: dict[str, torch.Tensor] = {}

    def conv(key: str, in_channels: int, out_channels: int, gain: float = ESRGAN_HIDDEN_GAIN) -> None:
        std = gain * math.sqrt(2.0 / (in_channels * 9))  # He initialisation, scaled
        state[f"{key}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * std
        state[f"{key}.bias"] = torch.zeros(out_channels)

    feat = config["num_feat"]
    if config["layout"] == "rrdb":
        growth = config["num_grow_ch"]
        conv("conv_first", 3, feat)
        for block in range(config["num_block"]):
            for rdb in (1, 2, 3):
                for index in range(1, 6):
                    out_channels = growth if index < 5 else feat
                    conv(f"body.{block}.rdb{rdb}.conv{index}", feat + (index - 1) * growth, out_channels)
        conv("conv_body", feat, feat)
        for index in range(1, int(math.log2(config["scale"])) + 1):
            conv(f"conv_up{index}", feat, feat)
        conv("conv_hr", feat, feat)
        conv("conv_last", feat, 3, ESRGAN_OUTPUT_GAIN)
        state["conv_last.bias"] += 0.5
    else:  # compact: conv, PReLU, (conv, PReLU) x num_conv, conv to 3 * scale^2 channels, pixel shuffle
        conv("body.0", 3, feat)
        state["body.1.weight"] = torch.full((feat,), PRELU_SLOPE)
        for index in range(2, 2 + 2 * config["num_conv"], 2):
            conv(f"body.{index}", feat, feat)
            state[f"body.{index + 1}.weight"] = torch.full((feat,), PRELU_SLOPE)
        conv(f"body.{2 + 2 * config['num_conv']}", feat, 3 * config["scale"] ** 2, ESRGAN_OUTPUT_GAIN)
    return state


SD_X4_UNET_SEED = 4001
SD_X4_VAE_SEED = 4002
SD_X4_TEXT_ENCODER_SEED = 4003
SD_X4_MAX_NOISE_LEVEL = 350

# stabilityai/stable-diffusion-x4-upscaler in miniature: the UNet sees 4 latent + 3 low-res image channels and
# the noise level as a class label; the VAE has three blocks (4x, not 8x), so the latents are at the low-res
# image's size and decode to 4x.
SD_X4_UNET_CONFIG = dict(
    UNET_CONFIG,
    sample_size=32,
    in_channels=7,
    num_class_embeds=1000,
)
SD_X4_VAE_CONFIG = dict(
    VAE_CONFIG,
    block_out_channels=(32, 64, 64),
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    sample_size=128,
    scaling_factor=0.08333,  # the x4 upscaler's; its pipeline insists on it
)
SD_X4_LOW_RES_SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear"
)
SD_X4_SCHEDULER_CONFIG = dict(SCHEDULER_CONFIG, prediction_type="v_prediction", clip_sample=False)


def build_tiny_sd_x4() -> dict:
    """Components for `StableDiffusionUpscalePipeline(**components)`, float32 on the CPU."""
    tokenizer = build_tiny_tokenizer()
    text_config = _text_encoder_config(tokenizer)
    return dict(
        unet=_seeded(SD_X4_UNET_SEED, lambda: UNet2DConditionModel(**SD_X4_UNET_CONFIG)).eval(),
        vae=_seeded(SD_X4_VAE_SEED, lambda: AutoencoderKL(**SD_X4_VAE_CONFIG)).eval(),
        text_encoder=_seeded(SD_X4_TEXT_ENCODER_SEED, lambda: CLIPTextModel(text_config)).eval(),
        tokenizer=tokenizer,
        low_res_scheduler=DDPMScheduler(**SD_X4_LOW_RES_SCHEDULER_CONFIG),
        scheduler=DDIMScheduler(**SD_X4_SCHEDULER_CONFIG),
        max_noise_level=SD_X4_MAX_NOISE_LEVEL,
    )


def tiny_fingerprint(name: str) -> str:
    """sha256 of what determines one builtin's weights: its own configs and seeds and the preset version,
    so adding a builtin leaves the others' hashes (and the provenance of old results) unchanged."""
    base = dict(unet=(UNET_SEED, UNET_CONFIG), vae=(VAE_SEED, VAE_CONFIG), text_encoder=TEXT_ENCODER_SEED,
                scheduler=SCHEDULER_CONFIG, tokenizer=TOKENIZER_MERGES)
    sdxl = dict(unet=(SDXL_UNET_SEED, SDXL_UNET_CONFIG), vae=(SDXL_VAE_SEED, SDXL_VAE_CONFIG),
                text_encoders=(SDXL_TEXT_ENCODER_SEED, SDXL_TEXT_ENCODER_2_SEED, SDXL_TEXT_HIDDEN,
                               SDXL_TEXT_HIDDEN_2),
                scheduler=SDXL_SCHEDULER_CONFIG, tokenizer=TOKENIZER_MERGES)
    dpt = (DPT_SEED, DPT_CONFIG, DPT_PROCESSOR_CONFIG)
    if name == "tiny":
        parts = base
    elif name == "tiny-turbo":
        parts = dict(base, scheduler=TURBO_SCHEDULER_CONFIG)
    elif name in TINY_TAESDS:
        parts = dict(taesd=(TINY_TAESDS[name], TAESD_CONFIG))
    elif name == "tiny-sdxl":
        parts = sdxl
    elif name == "tiny-depth2img":
        parts = dict(base, unet=(DEPTH2IMG_UNET_SEED, DEPTH2IMG_UNET_CONFIG), depth_estimator=dpt)
    elif name == "tiny-inpaint":
        parts = dict(base, unet=(INPAINT_UNET_SEED, INPAINT_UNET_CONFIG))
    elif name == "tiny-dpt":
        parts = dict(depth_estimator=dpt)
    elif name in TINY_ESRGANS:
        parts = dict(esrgan=(TINY_ESRGANS[name], ESRGAN_HIDDEN_GAIN, ESRGAN_OUTPUT_GAIN, PRELU_SLOPE))
    elif name == "tiny-sd-x4":
        parts = dict(sd_x4=(SD_X4_UNET_SEED, SD_X4_UNET_CONFIG, SD_X4_VAE_SEED, SD_X4_VAE_CONFIG,
                            SD_X4_TEXT_ENCODER_SEED, SD_X4_LOW_RES_SCHEDULER_CONFIG, SD_X4_SCHEDULER_CONFIG,
                            SD_X4_MAX_NOISE_LEVEL))
    elif name.startswith(SDXL_CONTROLNET_PREFIX):  # an SDXL ControlNet: built from the SDXL UNet
        parts = dict(sdxl, controlnet=(CONTROLNET_SEED_BASE, ZERO_CONV_STD))
    else:  # a ControlNet: built from the base UNet with its own seed
        parts = dict(base, controlnet=(CONTROLNET_SEED_BASE, ZERO_CONV_STD))
    description = dict(name=name, version=TINY_VERSION, **parts)
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=list).encode()).hexdigest()
