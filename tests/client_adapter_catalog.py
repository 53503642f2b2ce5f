"""The catalog the client tests' servers run on: the tiny preset plus, for sd15, a LoRA (`style`), an embedding
(`mystyle`) and a VAE (`warm-vae`), and for sdxl a LoRA (`xl-style`) that menus for the sd15 model must leave out.
The files are made from the tiny model with test_adapters' helpers (random, non-zero weights)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from dccbridge.models.catalog import PRESETS_DIR
from test_adapters import TEXT_WIDTH, make_lora, make_vae


def write_client_catalog(root: Path) -> Path:
    """Writes the adapter files and catalog.toml under root; returns the catalog's path."""
    for folder in ("loras/sd15", "loras/sdxl", "embeddings/sd15", "vaes/sd15"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    make_lora(root / "loras/sd15/style.safetensors", seed=1)
    make_lora(root / "loras/sdxl/xl-style.safetensors", seed=3)
    generator = torch.Generator().manual_seed(5)
    save_file({"emb_params": torch.randn(2, TEXT_WIDTH, generator=generator)}, root / "embeddings/sd15/mystyle.safetensors")
    make_vae(7).save_pretrained(root / "vaes/sd15/warm-vae")
    catalog = root / "catalog.toml"
    catalog.write_text((PRESETS_DIR / "tiny.toml").read_text() + f"""
[families.sd15]
loras = "{(root / 'loras/sd15').as_posix()}"
embeddings = "{(root / 'embeddings/sd15').as_posix()}"
vaes = "{(root / 'vaes/sd15').as_posix()}"

[families.sdxl]
loras = "{(root / 'loras/sdxl').as_posix()}"
""")
    return catalog
