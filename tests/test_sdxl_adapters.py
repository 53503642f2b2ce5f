"""LoRAs, embeddings and VAE overrides on the SDXL family, through a real server on tiny-sdxl: a LoRA in diffusers'
SDXL layout (unet / text_encoder / text_encoder_2), an embedding with one tensor per text encoder (clip_l, clip_g;
their widths differ), a VAE override, and the family checks. Each adapter changes the pixels and the next plain job
gets the base model's pixels bit for bit."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dccbridge.client import Client
from dccbridge.models import Catalog
from dccbridge.models.tiny import SDXL_TEXT_HIDDEN, SDXL_TEXT_HIDDEN_2, SDXL_VAE_CONFIG
from dccbridge.v1 import jobs_pb2

from conftest import assert_invalid_argument, generate_task, running_server, run_to_end
from test_adapters import adapters, generate, make_lora, make_vae
from test_models import add_to_hub_cache

MODEL = "tiny-sdxl"
PROMPT = "a quiet harbour"
HUB_VAE = "sdxl-vae-fp16-fix"
HUB_FILE_VAE = "hub-file-vae"
HUB_FILE_SOURCE = "hf://stub/xl-vaes/xl_vae.safetensors"


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdxl-adapters")
    for folder in ("loras/sdxl", "loras/sd15", "embeddings/sdxl", "vaes/sdxl"):
        (root / folder).mkdir(parents=True)
    make_lora(root / "loras/sdxl/xl-style.safetensors", seed=11, family="sdxl")
    make_lora(root / "loras/sd15/style.safetensors", seed=1)
    generator = torch.Generator().manual_seed(12)
    save_file({"clip_l": torch.randn(2, SDXL_TEXT_HIDDEN, generator=generator),
               "clip_g": torch.randn(2, SDXL_TEXT_HIDDEN_2, generator=generator)},
              root / "embeddings/sdxl/xlglow.safetensors")
    # clip_g has clip_l's width: the first encoder takes its vectors before the second refuses them.
    save_file({"clip_l": torch.randn(SDXL_TEXT_HIDDEN, generator=generator),
               "clip_g": torch.randn(SDXL_TEXT_HIDDEN, generator=generator)},
              root / "embeddings/sdxl/narrow.safetensors")
    make_vae(13, SDXL_VAE_CONFIG).save_pretrained(root / "vaes/sdxl/xl-vae")
    (root / "catalog.toml").write_text(textwrap.dedent(f"""
        default = "{MODEL}"

        [models.{MODEL}]
        family = "sdxl"
        source = "builtin:tiny-sdxl"

        [families.sdxl]
        loras = "loras/sdxl"
        embeddings = "embeddings/sdxl"
        vaes = "vaes/sdxl"

        [families.sd15]
        loras = "loras/sd15"

        [vaes.{HUB_VAE}]
        family = "sdxl"
        source = "madebyollin/sdxl-vae-fp16-fix"

        [vaes.{HUB_FILE_VAE}]
        family = "sdxl"
        source = "{HUB_FILE_SOURCE}"
    """))
    return root


@pytest.fixture(scope="module")
def sdxl_server(catalog_dir, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("sdxl-adapter-data"), models=catalog_dir / "catalog.toml") as srv:
        yield srv


# conftest's `client` fixture connects to this module's `address`.
@pytest.fixture
def address(sdxl_server):
    return f"127.0.0.1:{sdxl_server.port}"


@pytest.fixture(scope="module")
def base_pixels(sdxl_server):
    with Client(f"127.0.0.1:{sdxl_server.port}") as c:
        return generate(c, model_id=MODEL)[0]


def _task(prompt, **fields):
    return generate_task(prompt=prompt, model_id=MODEL, **fields)


def sdxl(client, prompt=PROMPT, **fields):
    return generate(client, prompt=prompt, model_id=MODEL, **fields)


def test_capabilities_list_the_sdxl_adapters_under_family_sdxl(client):
    caps = client.capabilities()
    assert {(a.id, a.family) for a in caps.loras} == {("xl-style", "sdxl"), ("style", "sd15")}
    assert {(a.id, a.family, a.token) for a in caps.embeddings} == {("xlglow", "sdxl", "xlglow"),
                                                                    ("narrow", "sdxl", "narrow")}
    assert {(a.id, a.family) for a in caps.vaes} == {("xl-vae", "sdxl"), (HUB_VAE, "sdxl"), (HUB_FILE_VAE, "sdxl")}


def test_an_sdxl_lora_reaches_the_unet_and_both_text_encoders_and_reverts(client, base_pixels, sdxl_server):
    styled, image, meta = sdxl(client, adapters=adapters("xl-style"))
    assert np.abs(styled - base_pixels).mean() > 1.0
    assert 'Lora hashes: "xl-style: ' in image.parameters and meta["adapters"]["loras"][0]["id"] == "xl-style"
    layers = sdxl_server.manager.load(MODEL).pipeline.get_list_adapters()
    assert {"unet", "text_encoder", "text_encoder_2"} <= {part for part, names in layers.items() if names}, layers
    assert (sdxl(client)[0] == base_pixels).all(), "a job without adapters after a LoRA job must be bit-identical"


def test_an_sdxl_embedding_changes_the_pixels_when_its_token_is_in_the_prompt_and_is_removed_after(client,
                                                                                                   base_pixels):
    prompt = "a quiet xlglow harbour"
    plain_before = sdxl(client, prompt=prompt)[0]
    embedded, image, _ = sdxl(client, prompt=prompt, adapters=adapters(embeddings=["xlglow"]))
    assert np.abs(embedded - plain_before).mean() > 0.5
    assert 'TI hashes: "xlglow: ' in image.parameters
    assert (sdxl(client, prompt=prompt)[0] == plain_before).all(), "both tokenizers must forget the token"
    assert (sdxl(client)[0] == base_pixels).all()


def test_an_embedding_of_the_wrong_width_fails_naming_the_field_and_leaves_no_token(client, sdxl_server):
    prompt = "a quiet narrow harbour"
    plain_before = sdxl(client, prompt=prompt)[0]
    events = run_to_end(client, _task(prompt, adapters=adapters(embeddings=["narrow"])))
    failed = events[-1].failed
    assert failed.code == jobs_pb2.ERROR_CODE_INVALID_ARGUMENT and failed.field == "adapters.embeddings[0]"
    assert "text_encoder_2 takes 64" in failed.message
    pipeline = sdxl_server.manager.load(MODEL).pipeline
    assert "narrow" not in pipeline.tokenizer.get_vocab() and "narrow" not in pipeline.tokenizer_2.get_vocab()
    assert (sdxl(client, prompt=prompt)[0] == plain_before).all()


def test_an_sdxl_vae_override_changes_the_pixels_and_reverts(client, base_pixels):
    decoded, image, meta = sdxl(client, adapters=adapters(vae_id="xl-vae"))
    assert np.abs(decoded - base_pixels).mean() > 1.0
    assert "VAE: xl-vae" in image.parameters and meta["adapters"]["vae"]["id"] == "xl-vae"
    assert (sdxl(client)[0] == base_pixels).all()


def test_an_sd15_lora_on_the_sdxl_model_is_refused_naming_the_field(client, address):
    assert_invalid_argument(client, address, _task(PROMPT, adapters=adapters("style")), "adapters.loras[0].id",
                            "family 'sdxl'")


def test_a_hub_vae_that_is_not_cached_names_the_pull_command(client, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    failed = run_to_end(client, _task(PROMPT, adapters=adapters(vae_id=HUB_VAE)))[-1].failed
    assert failed.code == jobs_pb2.ERROR_CODE_FAILED_PRECONDITION
    assert f"VAE '{HUB_VAE}'" in failed.message
    assert "`dccbridge models pull madebyollin/sdxl-vae-fp16-fix`" in failed.message


def test_hub_vaes_load_from_the_local_cache(client, base_pixels, tmp_path, monkeypatch):
    """A repo id (a diffusers VAE folder) and an hf:// file, each laid out in the cache the way a pull leaves it."""
    from huggingface_hub import constants

    (tmp_path / "repo").mkdir()
    make_vae(14, SDXL_VAE_CONFIG).save_pretrained(tmp_path / "repo")
    (tmp_path / "file").mkdir()
    save_file(make_vae(15, SDXL_VAE_CONFIG).state_dict(), tmp_path / "file/xl_vae.safetensors")
    cache = tmp_path / "hf-cache"
    add_to_hub_cache(cache, "madebyollin/sdxl-vae-fp16-fix", tmp_path / "repo")
    add_to_hub_cache(cache, "stub/xl-vaes", tmp_path / "file")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    from_repo, image, _ = sdxl(client, adapters=adapters(vae_id=HUB_VAE))
    from_file = sdxl(client, adapters=adapters(vae_id=HUB_FILE_VAE))[0]
    assert f"VAE: {HUB_VAE}" in image.parameters and "VAE hash: " in image.parameters
    assert np.abs(from_repo - base_pixels).mean() > 1.0 and np.abs(from_file - base_pixels).mean() > 1.0
    assert (from_repo != from_file).any()
    assert (sdxl(client)[0] == base_pixels).all()


def test_the_sdxl_preset_offers_the_fp16_fix_vae_from_the_hub():
    (vae,) = Catalog.preset("sdxl").adapters.available("vaes", "sdxl")
    assert (vae.id, vae.source) == (HUB_VAE, "madebyollin/sdxl-vae-fp16-fix") and vae.description


@pytest.mark.parametrize("vae_id", [HUB_VAE, HUB_FILE_VAE])  # a repo id, an hf:// file
def test_a_hub_vae_that_is_not_cached_is_fetched_with_allow_download(catalog_dir, tmp_path, monkeypatch, vae_id):
    """With --allow-download a missing hub VAE goes to the hub; offline here, so the fetch itself says it failed."""
    from huggingface_hub import constants

    from dccbridge.domain import AdapterSpec, Sampling
    from dccbridge.errors import ModelUnavailable
    from dccbridge.models import ModelManager
    from dccbridge.ops import common
    from diffusers import StableDiffusionXLPipeline

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    manager = ModelManager(Catalog.from_toml(catalog_dir / "catalog.toml"), device="cpu", allow_download=True)
    model = manager.load(MODEL)
    pipe = common.pipeline_view(StableDiffusionXLPipeline, model,
                                common.plan_sampling(Sampling(num_inference_steps=2, seed=1), model.entry))
    resolved = manager.catalog.adapters.resolve(AdapterSpec(vae_id=vae_id), "sdxl", allow_pickle=False)
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE=1 is set"):
        with manager.adapters.applied(pipe, "sdxl", resolved):
            pass
    assert pipe.vae is model.pipeline.vae
