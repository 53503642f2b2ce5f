"""LoRAs, textual-inversion embeddings and VAE overrides per job, through a real server on a catalog whose
[families.sd15] folders hold files made here from the tiny model (random but non-zero adapter weights).

What matters most: adapters change a job's pixels, and the next job without them gets the base model's pixels
bit for bit -- after a LoRA, an embedding, a VAE, a cancelled job, a tiled texture."""

from __future__ import annotations

import json
import shutil
import textwrap

import grpc
import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

from dccbridge.domain import AdapterSpec, ImageInput, LoraSpec, Sampling, TilingAxes, UpscaleMethod, UpscaleRequest
from dccbridge.errors import ModelNotFound, ModelUnavailable
from dccbridge.models import Catalog, ModelManager
from dccbridge.models.adapter_catalog import AdapterCatalog
from dccbridge.models.tiling import seamless
from dccbridge.models.tiny import VAE_CONFIG, build_tiny_sd15, build_tiny_sdxl
from dccbridge.ops import common, texture, upscale
from dccbridge.ops.context import NullContext
from dccbridge.ops.env import OpEnv
from dccbridge.ops.limits import Limits
from dccbridge.v1 import jobs_pb2, tasks_pb2

from conftest import assert_invalid_argument, generate_task, pixels, result_of, run_to_end, running_server
from test_generate_modes import control_units, gradient_image, png
from test_texture import seam_and_interior, texture_task

TEXT_WIDTH = 32  # the tiny CLIP text encoder's hidden size
PROMPT = "a quiet harbour"


# -- files made for the tests ---------------------------------------------------------------------------


# Per family: the tiny model's builder, the pipeline class whose save_lora_weights writes that family's key layout
# (unet / text_encoder / text_encoder_2), and its text encoders.
LORA_LAYOUTS = {
    "sd15": (build_tiny_sd15, StableDiffusionPipeline, ("text_encoder",)),
    "sdxl": (build_tiny_sdxl, StableDiffusionXLPipeline, ("text_encoder", "text_encoder_2")),
}


def make_lora(path, seed: int, text_encoder: bool = True, family: str = "sd15") -> None:
    """A diffusers-format LoRA file for the family's tiny model: PEFT layers with non-zero A and B on the UNet's
    attention (and, optionally, every text encoder's), saved with save_lora_weights."""
    build, pipeline_class, encoder_names = LORA_LAYOUTS[family]
    components = build()
    torch.manual_seed(seed)
    unet = components["unet"]
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = {"unet_lora_layers": convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))}
    for name in encoder_names if text_encoder else ():
        encoder = components[name]
        inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                           target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]), encoder)
        layers[f"{name}_lora_layers"] = convert_state_dict_to_diffusers(get_peft_model_state_dict(encoder))
    pipeline_class.save_lora_weights(path.parent, weight_name=path.name, **layers)


def make_vae(seed: int, config: dict = VAE_CONFIG) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(**config).eval()


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    for folder in ("loras/sd15", "loras/sdxl", "embeddings/sd15", "vaes/sd15"):
        (root / folder).mkdir(parents=True)
    make_lora(root / "loras/sd15/style.safetensors", seed=1)
    make_lora(root / "loras/sd15/unet-only.safetensors", seed=2, text_encoder=False)
    make_lora(root / "loras/sdxl/xl-style.safetensors", seed=3)  # never loaded: the family check comes first
    torch.save({"lora_unet_x.lora_down.weight": torch.zeros(1)}, root / "loras/sd15/old.pt")
    generator = torch.Generator().manual_seed(5)
    save_file({"emb_params": torch.randn(2, TEXT_WIDTH, generator=generator)},
              root / "embeddings/sd15/mystyle.safetensors")  # A1111 layout, two vectors
    save_file({"<glow>": torch.randn(TEXT_WIDTH, generator=generator)},
              root / "embeddings/sd15/glow.safetensors")  # diffusers layout {token: vector}
    make_vae(7).save_pretrained(root / "vaes/sd15/warm-vae")
    save_file(make_vae(8).state_dict(), root / "vaes/sd15/cool-vae.safetensors")
    (root / "catalog.toml").write_text(textwrap.dedent("""
        default = "tiny"

        [models.tiny]
        family = "sd15"
        source = "builtin:tiny"

        [models.tiny.controlnets]
        depth = "builtin:tiny-depth"

        [families.sd15]
        loras = "loras/sd15"
        embeddings = "embeddings/sd15"
        vaes = "vaes/sd15"

        [families.sdxl]
        loras = "loras/sdxl"
    """))
    return root


@pytest.fixture(scope="module")
def adapter_server(catalog_dir, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("adapter-data"), models=catalog_dir / "catalog.toml") as srv:
        yield srv


# conftest's `client` fixture connects to this module's `address`.
@pytest.fixture
def address(adapter_server):
    return f"127.0.0.1:{adapter_server.port}"


def adapters(*loras, embeddings=(), vae_id="") -> tasks_pb2.Adapters:
    """adapters(("style", 0.5), "unet-only", embeddings=["mystyle"], vae_id="warm-vae")"""
    refs = []
    for lora in loras:
        lora_id, weight = (lora, None) if isinstance(lora, str) else lora
        ref = tasks_pb2.LoraRef(id=lora_id)
        if weight is not None:
            ref.weight = weight
        refs.append(ref)
    return tasks_pb2.Adapters(loras=refs, embeddings=list(embeddings), vae_id=vae_id)


def generate(client, prompt=PROMPT, **fields):
    """(pixels, the image message, the provenance JSON) of a 64² two-step job."""
    result = result_of(run_to_end(client, generate_task(prompt=prompt, **fields)))
    image = result.images[0]
    return pixels(image.image.data).astype(int), image, json.loads(result.metadata_json)


@pytest.fixture(scope="module")
def base_pixels(adapter_server):
    """The base model's image for PROMPT, from before any adapter job."""
    from dccbridge.client import Client

    with Client(f"127.0.0.1:{adapter_server.port}") as c:
        return generate(c)[0]


# -- capabilities ---------------------------------------------------------------------------------------


def test_capabilities_list_adapters_per_family(client):
    caps = client.capabilities()
    assert {(a.id, a.family) for a in caps.loras} == {("style", "sd15"), ("unet-only", "sd15"), ("xl-style", "sdxl")}
    assert {(a.id, a.family, a.token) for a in caps.embeddings} == {("mystyle", "sd15", "mystyle"),
                                                                    ("glow", "sd15", "glow")}
    assert {(a.id, a.family) for a in caps.vaes} == {("warm-vae", "sd15"), ("cool-vae", "sd15")}
    assert all(a.label for a in (*caps.loras, *caps.embeddings, *caps.vaes))


def test_a_lora_file_dropped_in_appears_without_a_restart(client, catalog_dir, base_pixels):
    make_lora(catalog_dir / "loras/sd15/late.safetensors", seed=4, text_encoder=False)
    assert "late" in {a.id for a in client.capabilities().loras}
    assert (generate(client, adapters=adapters("late"))[0] != base_pixels).any()


# -- LoRA -----------------------------------------------------------------------------------------------


def test_a_lora_changes_the_pixels_and_the_next_job_gets_the_base_model(client, base_pixels):
    styled, image, meta = generate(client, adapters=adapters("style"))
    assert np.abs(styled - base_pixels).mean() > 1.0
    assert 'Lora hashes: "style: ' in image.parameters
    (lora,) = meta["adapters"]["loras"]
    assert lora["id"] == "style" and lora["weight"] == 1.0 and len(lora["hash"]) == 10
    after, image, meta = generate(client)
    assert (after == base_pixels).all(), "a job without adapters after a LoRA job must be bit-identical"
    assert "Lora" not in image.parameters and "adapters" not in meta


def test_lora_weights_scale_the_effect_and_zero_is_the_base_model(client, base_pixels):
    full = generate(client, adapters=adapters(("style", 1.0)))[0]
    half = generate(client, adapters=adapters(("style", 0.5)))[0]
    again = generate(client, adapters=adapters("style"))[0]
    zero = generate(client, adapters=adapters(("style", 0.0)))[0]
    assert (again == full).all(), "a cached LoRA gives the same pixels as the first load"
    assert (half != full).any() and (half != base_pixels).any()
    # A zero scale adds exactly 0.0 to each base layer's output, so this holds bit for bit.
    assert (zero == base_pixels).all()


def test_two_loras_at_once_and_a_unet_only_lora(client, base_pixels):
    unet_only = generate(client, adapters=adapters("unet-only"))[0]
    both = generate(client, adapters=adapters("style", ("unet-only", 0.7)))[0]
    style = generate(client, adapters=adapters("style"))[0]
    assert (unet_only != base_pixels).any() and (both != style).any() and (both != unet_only).any()
    assert (generate(client)[0] == base_pixels).all()


def test_least_recently_used_loras_are_evicted_and_read_again(client, base_pixels, monkeypatch, adapter_server):
    from dccbridge.models import adapters as runtime

    style = generate(client, adapters=adapters("style"))[0]
    monkeypatch.setattr(runtime, "MAX_RESIDENT_LORAS", 1)
    generate(client, adapters=adapters("unet-only"))  # evicts style
    both = generate(client, adapters=adapters("style", "unet-only"))[0]  # a job's own LoRAs are never evicted
    assert (both != style).any()
    assert (generate(client, adapters=adapters("style"))[0] == style).all()
    assert len(adapter_server.manager.load("tiny").pipeline.unet.peft_config) == 1  # only style is resident
    assert (generate(client)[0] == base_pixels).all()


# -- embeddings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("embedding_id", ["mystyle", "glow"])
def test_an_embedding_token_changes_the_pixels_and_is_removed_after(client, base_pixels, embedding_id):
    prompt = f"a quiet {embedding_id} harbour"
    plain_before = generate(client, prompt=prompt)[0]  # the same words, read as ordinary text
    embedded, image, meta = generate(client, prompt=prompt, adapters=adapters(embeddings=[embedding_id]))
    assert np.abs(embedded - plain_before).mean() > 0.5
    assert f'TI hashes: "{embedding_id}: ' in image.parameters
    assert meta["adapters"]["embeddings"][0]["id"] == embedding_id
    assert (generate(client, prompt=prompt)[0] == plain_before).all(), "the tokenizer must forget the token"
    assert (generate(client)[0] == base_pixels).all()


def test_embedding_and_lora_together(client, base_pixels):
    prompt = "a quiet mystyle harbour"
    combined = generate(client, prompt=prompt, adapters=adapters("style", embeddings=["mystyle", "glow"]))[0]
    assert (combined != generate(client, prompt=prompt, adapters=adapters("style"))[0]).any()
    assert (generate(client)[0] == base_pixels).all()


# -- VAE ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vae_id", ["warm-vae", "cool-vae"])  # a diffusers folder, a single .safetensors
def test_a_vae_override_changes_the_pixels_and_reverts(client, base_pixels, vae_id):
    decoded, image, meta = generate(client, adapters=adapters(vae_id=vae_id))
    assert np.abs(decoded - base_pixels).mean() > 1.0
    assert f"VAE: {vae_id}" in image.parameters and "VAE hash: " in image.parameters
    assert meta["adapters"]["vae"]["id"] == vae_id
    assert (generate(client)[0] == base_pixels).all()


# -- the other tasks ------------------------------------------------------------------------------------


def test_depth2img_and_tiled_upscale_take_adapters(client):
    init = png(gradient_image(64))
    depth = tasks_pb2.Depth2ImgTask(prompt=PROMPT, init_image=init, width=64, height=64,
                                    depth_pass=control_units()["depth_pass"].depth_pass)
    depth.sampling.num_inference_steps, depth.sampling.seed = 4, 2
    plain = pixels(result_of(run_to_end(client, tasks_pb2.Task(depth2img=depth))).images[0].image.data)
    depth.adapters.CopyFrom(adapters("style", vae_id="warm-vae"))
    styled = result_of(run_to_end(client, tasks_pb2.Task(depth2img=depth))).images[0]
    assert (pixels(styled.image.data) != plain).any() and "VAE: warm-vae" in styled.parameters

    upscale = tasks_pb2.UpscaleTask(image=png(gradient_image(32)), method=tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION,
                                    scale=2, prompt=PROMPT, tile_size=64, tile_overlap=8)
    upscale.sampling.num_inference_steps, upscale.sampling.seed = 4, 3
    upscale.strength = 0.5
    plain = pixels(result_of(run_to_end(client, tasks_pb2.Task(upscale=upscale))).images[0].image.data)
    upscale.adapters.CopyFrom(adapters("style"))
    styled = result_of(run_to_end(client, tasks_pb2.Task(upscale=upscale))).images[0]
    assert (pixels(styled.image.data) != plain).any() and 'Lora hashes: "style: ' in styled.parameters
    upscale.adapters.Clear()
    assert (pixels(result_of(run_to_end(client, tasks_pb2.Task(upscale=upscale))).images[0].image.data) == plain).all()


def test_a_tiled_texture_with_a_vae_override_still_wraps_and_reverts(client):
    tiled = dict(tiling=tasks_pb2.TILING_AXES_BOTH)
    before = pixels(result_of(run_to_end(client, texture_task(**tiled))).images[0].image.data).astype(int)
    result = result_of(run_to_end(client, texture_task(adapters=adapters(vae_id="warm-vae"), **tiled)))
    albedo = pixels(result.images[0].image.data).astype(int)
    assert (albedo != before).any() and "VAE: warm-vae" in result.images[0].parameters
    for axis in (0, 1):
        seam, interior = seam_and_interior(albedo, axis)
        assert seam <= 1.5 * interior + 1.0, f"seam along axis {axis}: {seam:.1f} vs {interior:.1f}"
    after = pixels(result_of(run_to_end(client, texture_task(**tiled))).images[0].image.data).astype(int)
    assert (after == before).all()


def test_the_override_vae_decodes_periodically_inside_the_texture_op_order(catalog_dir):
    """The objective wrap check: within texture's `applied(...)` then `seamless(tiled_modules(pipe))`, decoding
    rolled latents gives the rolled image -- the swapped VAE's convolutions wrap too."""
    manager = ModelManager(Catalog.from_toml(catalog_dir / "catalog.toml"), device="cpu")
    model = manager.load("tiny")
    plan = common.plan_sampling(Sampling(num_inference_steps=2, seed=1), model.entry)
    pipe = common.pipeline_view(StableDiffusionPipeline, model, plan)
    resolved = manager.catalog.adapters.resolve(AdapterSpec(vae_id="warm-vae"), "sd15", allow_pickle=False)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))

    def roll_error() -> float:
        with torch.inference_mode():
            base = pipe.vae.decode(latents).sample
            rolled = pipe.vae.decode(torch.roll(latents, 2, dims=3)).sample
        return float((torch.roll(base, 16, dims=3) - rolled).abs().max())

    with manager.adapters.applied(pipe, "sd15", resolved), seamless(texture.tiled_modules(pipe), TilingAxes.BOTH):
        assert pipe.vae is not model.pipeline.vae
        wrapped = roll_error()
    with manager.adapters.applied(pipe, "sd15", resolved):
        unwrapped = roll_error()
    assert wrapped < 1e-4 < unwrapped
    assert pipe.vae is model.pipeline.vae


# -- cancel ---------------------------------------------------------------------------------------------


def test_a_cancelled_lora_job_still_reverts(client, base_pixels):
    call = client.run(generate_task(prompt=PROMPT, steps=150, adapters=adapters("style", embeddings=["glow"],
                                                                               vae_id="warm-vae")))
    events = []
    for event in call:
        events.append(event)
        if event.WhichOneof("event") == "progress" and event.progress.stage == "denoise" and event.progress.step >= 1:
            client.cancel(event.job_id)
    assert events[-1].WhichOneof("event") == "cancelled"
    assert (generate(client)[0] == base_pixels).all()


# -- refusals -------------------------------------------------------------------------------------------


def test_an_unknown_id_is_not_found_with_the_familys_ids(client):
    for task_adapters, listed in ((adapters("nope"), "style"), (adapters(embeddings=["nope"]), "mystyle"),
                                  (adapters(vae_id="nope"), "warm-vae")):
        with pytest.raises(grpc.RpcError) as error:
            client.submit(generate_task(adapters=task_adapters))
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert "'nope'" in error.value.details() and listed in error.value.details()
        assert "xl-style" not in error.value.details()


@pytest.mark.parametrize("task_adapters, field, phrase", [
    (adapters(("style", 4.5)), "adapters.loras[0].weight", "[-4, 4]"),
    (adapters("unet-only", ("style", float("nan"))), "adapters.loras[1].weight", "finite"),
    (adapters("style", "style"), "adapters.loras[1].id", "twice"),
    (adapters("xl-style"), "adapters.loras[0].id", "family 'sd15'"),
    (adapters(embeddings=["glow", "glow"]), "adapters.embeddings[1]", "twice"),
])
def test_bad_adapters_name_the_field(client, address, task_adapters, field, phrase):
    assert_invalid_argument(client, address, generate_task(adapters=task_adapters), field, phrase)


def test_every_task_checks_its_adapters_at_submit(client, address):
    bad = adapters(("style", -9.0))
    depth = tasks_pb2.Depth2ImgTask(prompt=PROMPT, init_image=png(gradient_image(64)), adapters=bad,
                                    depth_pass=control_units()["depth_pass"].depth_pass)
    upscale = tasks_pb2.UpscaleTask(image=png(gradient_image(32)), method=tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION,
                                    adapters=bad)
    for task in (tasks_pb2.Task(depth2img=depth), texture_task(adapters=bad), tasks_pb2.Task(upscale=upscale)):
        assert_invalid_argument(client, address, task, "adapters.loras[0].weight", "got -9")


def test_adapters_on_an_upscale_without_diffusion_are_refused(client, address):
    task = tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=png(gradient_image(32)),
                                                        method=tasks_pb2.UPSCALE_METHOD_LANCZOS,
                                                        adapters=adapters("style")))
    assert_invalid_argument(client, address, task, "adapters", "tiled_diffusion")


def test_a_pickle_lora_is_refused_without_allow_pickle(client):
    assert "old" not in {a.id for a in client.capabilities().loras}
    with pytest.raises(grpc.RpcError) as error:
        client.submit(generate_task(adapters=adapters("old")))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--allow-pickle" in error.value.details()


def test_with_allow_pickle_a_pt_lora_is_listed_and_read_with_weights_only(catalog_dir, tmp_path):
    from safetensors.torch import load_file

    torch.save(load_file(catalog_dir / "loras/sd15/style.safetensors"), catalog_dir / "loras/sd15/style-pt.pt")
    try:
        with running_server(tmp_path, models=catalog_dir / "catalog.toml", allow_pickle=True) as srv:
            from dccbridge.client import Client

            with Client(f"127.0.0.1:{srv.port}") as c:
                assert {"old", "style-pt"} <= {a.id for a in c.capabilities().loras}
                from_pickle = generate(c, adapters=adapters("style-pt"))[0]
                assert (from_pickle == generate(c, adapters=adapters("style"))[0]).all()
    finally:
        (catalog_dir / "loras/sd15/style-pt.pt").unlink()


# -- the catalog ----------------------------------------------------------------------------------------


def test_catalog_adapter_tables_are_checked(tmp_path):
    base = 'default = "m"\n[models.m]\nsource = "builtin:tiny"\n'
    for extra, phrase in (('[families.sd15]\nlora = "x"\n', "unknown key(s) ['lora']"),
                          ('[vaes.v]\nfamily = "sd15"\n', "vaes.v.source"),
                          ('[families.sd15]\nloras = 3\n', "families.sd15.loras")):
        (tmp_path / "c.toml").write_text(base + extra)
        with pytest.raises(ValueError, match=phrase.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            Catalog.from_toml(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text(base + '[vaes.fix]\nfamily = "sdxl"\nsource = "madebyollin/sdxl-vae-fp16-fix"\n')
    (vae,) = Catalog.from_toml(tmp_path / "c.toml").adapters.available("vaes")
    assert (vae.id, vae.family, vae.source) == ("fix", "sdxl", "madebyollin/sdxl-vae-fp16-fix")


def test_cli_flags_build_the_adapters(address, tmp_path):
    from test_cli import cli

    out = tmp_path / "cli.png"
    run = cli("generate", "--server", address, "--prompt", "a glow harbour", "--width", "64", "--height", "64",
              "--steps", "2", "--seed", "4", "--lora", "style:0.5", "--lora", "unet-only", "--embedding", "glow",
              "--vae", "warm-vae", "-o", str(out))
    assert run.returncode == 0, run.stderr
    from PIL import Image

    parameters = Image.open(out).info["parameters"]
    assert 'Lora hashes: "style: ' in parameters and "unet-only: " in parameters and "VAE: warm-vae" in parameters
    listing = cli("models", "--server", address)
    assert listing.returncode == 0 and "style\tlora\tsd15" in listing.stdout and "glow\tembedding\tsd15" in listing.stdout
    bad = cli("generate", "--server", address, "--prompt", "x", "--lora", "style:lots", "-o", str(out))
    assert bad.returncode == 2 and "--lora" in bad.stderr


def test_a_stem_with_a_safetensors_and_a_pickle_file_is_the_safetensors_file(tmp_path):
    """Pickle files sort before .safetensors by name; the safe file must still win the id, with or without
    --allow-pickle."""
    loras = tmp_path / "loras"
    loras.mkdir()
    for name in ("style.bin", "style.ckpt", "style.pt", "style.pth", "style.safetensors"):
        (loras / name).write_bytes(b"")
    catalog = AdapterCatalog({"sd15": {"loras": loras}})
    for allow_pickle in (False, True):
        (listed,) = catalog.available("loras", "sd15", allow_pickle=allow_pickle)
        resolved = catalog.resolve(AdapterSpec(loras=(LoraSpec("style"),)), "sd15", allow_pickle=allow_pickle)
        assert listed.source == resolved.loras[0][0].source == str(loras / "style.safetensors")


def test_a_vae_folder_named_like_a_pickle_file_is_a_folder(tmp_path):
    """One test of "pickle" for listing, refusing and loading: a diffusers VAE folder is never a pickle file."""
    make_vae(7).save_pretrained(tmp_path / "vaes" / "legacy.pt")
    catalog = AdapterCatalog({"sd15": {"vaes": tmp_path / "vaes"}})
    (listed,) = catalog.available("vaes", "sd15")
    assert listed.id == "legacy.pt" and not listed.is_pickle
    assert catalog.resolve(AdapterSpec(vae_id="legacy.pt"), "sd15", allow_pickle=False).vae == listed


def test_a_pickle_vae_table_is_listed_only_with_allow_pickle(tmp_path):
    (tmp_path / "c.toml").write_text('default = "m"\n[models.m]\nsource = "builtin:tiny"\n'
                                     '[vaes.old]\nfamily = "sd15"\nsource = "old.ckpt"\n'
                                     '[vaes.new]\nfamily = "sd15"\nsource = "new.safetensors"\n')
    catalog = Catalog.from_toml(tmp_path / "c.toml").adapters
    assert [vae.id for vae in catalog.available("vaes")] == ["new"]
    assert [vae.id for vae in catalog.available("vaes", allow_pickle=True)] == ["new", "old"]
    with pytest.raises(ModelUnavailable, match="--allow-pickle"):  # named anyway: refused as pickle, not unknown
        catalog.resolve(AdapterSpec(vae_id="old"), "sd15", allow_pickle=False)


# -- review fixes: the runtime --------------------------------------------------------------------------


def test_a_lora_with_no_layers_for_the_model_names_the_field_every_time_and_leaves_it_clean(
        client, catalog_dir, base_pixels, adapter_server):
    """An SD3/Flux-style LoRA in an sd15 folder: diffusers only warns and injects nothing."""
    path = catalog_dir / "loras/sd15/sd3-style.safetensors"
    save_file({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.ones(4, 32),
               "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": torch.ones(32, 4)}, path)
    pipeline = adapter_server.manager.load("tiny").pipeline
    styled = generate(client, adapters=adapters("style"))[0]  # style is resident before the failing jobs

    def resident() -> dict:
        return {part: sorted(names) for part, names in pipeline.get_list_adapters().items()}

    before = resident()
    try:
        for task_adapters, field in ((adapters("sd3-style"), "adapters.loras[0].id"),
                                     (adapters("style", "sd3-style"), "adapters.loras[1].id"),
                                     (adapters("sd3-style"), "adapters.loras[0].id")):
            failed = run_to_end(client, generate_task(prompt=PROMPT, adapters=task_adapters))[-1].failed
            assert failed.code == jobs_pb2.ERROR_CODE_INVALID_ARGUMENT and failed.field == field, failed
            assert "'sd3-style' has no layers for this sd15 model" in failed.message
        assert resident() == before, "a LoRA that injected nothing leaves no adapter behind"
        assert (generate(client)[0] == base_pixels).all()
        assert (generate(client, adapters=adapters("style"))[0] == styled).all()
    finally:
        path.unlink()


def test_a_vae_folder_overwritten_in_place_is_loaded_again(client, catalog_dir, base_pixels):
    folder = catalog_dir / "vaes/sd15/edited-vae"
    shutil.copytree(catalog_dir / "vaes/sd15/warm-vae", folder)
    try:
        warm = generate(client, adapters=adapters(vae_id="warm-vae"))[0]
        first, _, first_meta = generate(client, adapters=adapters(vae_id="edited-vae"))
        assert (first == warm).all()
        # The same path, size and folder: only the file's contents and mtime change.
        weights = folder / "diffusion_pytorch_model.safetensors"
        weights.write_bytes((catalog_dir / "vaes/sd15/cool-vae.safetensors").read_bytes())
        edited, _, edited_meta = generate(client, adapters=adapters(vae_id="edited-vae"))
        assert (edited == generate(client, adapters=adapters(vae_id="cool-vae"))[0]).all()
        assert edited_meta["adapters"]["vae"]["hash"] != first_meta["adapters"]["vae"]["hash"]
        assert (generate(client)[0] == base_pixels).all()
    finally:
        shutil.rmtree(folder)


def test_least_recently_used_vaes_are_dropped_and_read_again(client, adapter_server, monkeypatch):
    from dccbridge.models import adapters as runtime

    warm = generate(client, adapters=adapters(vae_id="warm-vae"))[0]
    monkeypatch.setattr(runtime, "MAX_RESIDENT_VAES", 1)
    generate(client, adapters=adapters(vae_id="cool-vae"))
    assert [vae_id for vae_id, _ in adapter_server.manager.adapters._vaes] == ["cool-vae"]
    assert (generate(client, adapters=adapters(vae_id="warm-vae"))[0] == warm).all()
    assert [vae_id for vae_id, _ in adapter_server.manager.adapters._vaes] == ["warm-vae"]


def test_a_single_file_vae_is_built_from_each_models_vae_config(catalog_dir):
    """cool-vae holds weights only: two models whose VAE configs differ each get it with their own config."""
    manager = ModelManager(Catalog.from_toml(catalog_dir / "catalog.toml"), device="cpu")
    model = manager.load("tiny")
    plan = common.plan_sampling(Sampling(num_inference_steps=2, seed=1), model.entry)
    resolved = manager.catalog.adapters.resolve(AdapterSpec(vae_id="cool-vae"), "sd15", allow_pickle=False)
    plain, rescaled = (common.pipeline_view(StableDiffusionPipeline, model, plan) for _ in range(2))
    rescaled.vae = AutoencoderKL.from_config({**model.pipeline.vae.config, "scaling_factor": 0.5})
    for pipe in (plain, rescaled, plain):
        expected = pipe.vae.config.scaling_factor
        with manager.adapters.applied(pipe, "sd15", resolved):
            assert pipe.vae.config.scaling_factor == expected


def test_the_tiled_upscale_checks_its_adapters_again_before_any_upscaling(catalog_dir, tmp_path):
    """A LoRA removed while the job waited: the job fails before the ESRGAN pre-pass (or any load)."""
    (tmp_path / "c.toml").write_text((catalog_dir / "catalog.toml").read_text().replace(
        "[families.sd15]", '[upscalers.tiny-esrgan-x4]\nkind = "esrgan"\nsource = "builtin:tiny-esrgan-x4"\n\n'
                           "[families.sd15]").replace('"loras/sd15"', f'"{tmp_path / "loras"}"'))
    (tmp_path / "loras").mkdir()
    make_lora(tmp_path / "loras/doomed.safetensors", seed=6, text_encoder=False)
    env = OpEnv(ModelManager(Catalog.from_toml(tmp_path / "c.toml"), device="cpu"), Limits())
    request = UpscaleRequest(ImageInput(png(gradient_image(32)).data), UpscaleMethod.TILED_DIFFUSION,
                             upscaler_id="tiny-esrgan-x4", model_id="tiny",
                             adapters=AdapterSpec(loras=(LoraSpec("doomed"),)))
    upscale.check_inputs(request, env)
    (tmp_path / "loras/doomed.safetensors").unlink()
    reports = []

    class Recording(NullContext):
        def report(self, stage, step, total, preview=None):
            reports.append(stage)

    with pytest.raises(ModelNotFound, match="doomed"):
        upscale.run(request, env, Recording())
    assert reports == [] and not env.manager.is_upscaler_loaded("tiny-esrgan-x4")
