"""The built-in `tiny` preset: random-weight, SD1.5-shaped components built from configs in code.

Every component is constructed under its own fixed seed inside `torch.random.fork_rng`, so the weights are
the same in every process and the caller's global RNG state is neither used nor changed. The images are
noise; the code path (tokenizer, text encoder, UNet, 8x VAE, ControlNet, schedulers) is the real one.
"""

from __future__ import annotations

import hashlib
import json

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel, UniPCMultistepScheduler
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

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


def _text_encoder_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(
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


def tiny_fingerprint(name: str) -> str:
    """sha256 of what determines a builtin's weights: its configs, seeds and the preset version."""
    description = dict(
        name=name,
        version=TINY_VERSION,
        unet=(UNET_SEED, UNET_CONFIG),
        vae=(VAE_SEED, VAE_CONFIG),
        text_encoder=TEXT_ENCODER_SEED,
        scheduler=SCHEDULER_CONFIG,
        tokenizer=TOKENIZER_MERGES,
        controlnet=(CONTROLNET_SEED_BASE, ZERO_CONV_STD),
    )
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=list).encode()).hexdigest()
