"""Models: the tiny preset, schedulers, the TOML catalog and the manager's loading of each source kind."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline
from PIL import Image
from safetensors.torch import save_file

from dccbridge.domain import ControlType
from dccbridge.errors import InvalidInput, ModelNotFound, ModelUnavailable, Unsupported
from dccbridge.models import Catalog, ModelEntry, ModelManager
from dccbridge.models.catalog import classify_source
from dccbridge.models.schedulers import SCHEDULER_OPTIONS, SCHEDULERS, make_scheduler
from dccbridge.models.tiny import build_tiny_controlnet, build_tiny_sd15

PROMPT = "a red cube on a table"
CONTROL_IMAGE = Image.fromarray((np.random.RandomState(0).rand(64, 64, 3) * 255).astype(np.uint8))


def generate(pipe, seed=7, steps=2, **kwargs):
    return pipe(PROMPT, height=64, width=64, num_inference_steps=steps, output_type="np",
                generator=torch.Generator().manual_seed(seed), **kwargs).images[0]


def tiny_pipeline():
    pipe = StableDiffusionPipeline(**build_tiny_sd15(), requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def controlnet_pipeline(pipe, controlnet):
    cn_pipe = StableDiffusionControlNetPipeline.from_pipe(pipe, controlnet=controlnet)
    cn_pipe.set_progress_bar_config(disable=True)
    return cn_pipe


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def write_catalog(folder: Path, text: str) -> Path:
    path = folder / "catalog.toml"
    path.write_text(text)
    return path


def manager_for(folder: Path, models_toml: str, **kwargs) -> ModelManager:
    return ModelManager(Catalog.from_toml(write_catalog(folder, models_toml)), device="cpu", **kwargs)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, pipe):
    """The tiny pipeline and canny ControlNet saved as diffusers folders (safetensors)."""
    root = tmp_path_factory.mktemp("saved")
    pipe.save_pretrained(root / "sd15", safe_serialization=True)
    build_tiny_controlnet(pipe.unet, ControlType.CANNY).save_pretrained(root / "canny", safe_serialization=True)
    return root


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache with the hub switched off, so nothing can be fetched."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def add_to_hub_cache(cache: Path, repo_id: str, folder: Path, patterns=("*",)) -> None:
    """Lay a folder out the way `hf download` caches a repo: refs/main -> snapshots/<commit>/."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot, ignore=_keep_only(patterns))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def _keep_only(patterns):
    def ignore(directory, names):
        return [n for n in names if not (Path(directory, n).is_dir() or any(Path(n).match(p) for p in patterns))]
    return ignore


# --- diffusers -> original (LDM) key layout, to produce single-file checkpoints without any download ---

RESNET_TO_LDM = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                 "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
UNET_TOP_LEVEL_TO_LDM = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
                         "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
VAE_ATTENTION_TO_LDM = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _rename_prefix(name, table):
    for old, new in table.items():
        if name.startswith(old + "."):
            return new + name[len(old):]
    return name


def _unet_key_to_ldm(key, config):
    step = config["layers_per_block"] + 1  # LDM numbers resnets/attentions and the resampler in one sequence
    if (renamed := _rename_prefix(key, UNET_TOP_LEVEL_TO_LDM)) != key:
        return renamed
    if m := re.fullmatch(r"(down|up)_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        side, block, kind, layer, rest = m[1], int(m[2]), m[3], int(m[4]), m[5]
        prefix, index = ("input_blocks", 1 + block * step + layer) if side == "down" else \
            ("output_blocks", block * step + layer)
        return (f"{prefix}.{index}.0.{_rename_prefix(rest, RESNET_TO_LDM)}" if kind == "resnets"
                else f"{prefix}.{index}.1.{rest}")
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m[1]) + 1) * step}.0.op.{m[2]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key):
        block = int(m[1])
        slot = 2 if config["up_block_types"][block].startswith("CrossAttn") else 1
        return f"output_blocks.{block * step + step - 1}.{slot}.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_rename_prefix(m[2], RESNET_TO_LDM)}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    raise KeyError(key)


def _vae_key_to_ldm(key, config):
    levels = len(config["block_out_channels"])
    key = key.replace("conv_shortcut", "nin_shortcut")
    rules = (
        (r"(encoder|decoder)\.conv_norm_out\.(.*)", lambda m: f"{m[1]}.norm_out.{m[2]}"),
        (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", lambda m: f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}"),
        (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*)", lambda m: f"encoder.down.{m[1]}.downsample.{m[2]}"),
        (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)",
         lambda m: f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{m[3]}"),
        (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)",
         lambda m: f"decoder.up.{levels - 1 - int(m[1])}.upsample.{m[2]}"),
        (r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", lambda m: f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)",
         lambda m: f"{m[1]}.mid.attn_1.{_rename_prefix(m[2], VAE_ATTENTION_TO_LDM)}"),
    )
    for pattern, rename in rules:
        if m := re.fullmatch(pattern, key):
            return rename(m)
    return key  # conv_in, conv_out, quant_conv, post_quant_conv keep their names


def original_sd_checkpoint(pipe) -> dict:
    """The pipeline's weights as an original SD1.5 single-file checkpoint (what A1111 users have)."""
    checkpoint = {}
    for key, value in pipe.unet.state_dict().items():
        checkpoint["model.diffusion_model." + _unet_key_to_ldm(key, pipe.unet.config)] = value
    for key, value in pipe.vae.state_dict().items():
        ldm_key = _vae_key_to_ldm(key, pipe.vae.config)
        if ".attn_1." in ldm_key and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's VAE attention uses 1x1 convolutions
        checkpoint["first_stage_model." + ldm_key] = value
    for key, value in pipe.text_encoder.state_dict().items():
        # Real checkpoints keep transformers-4 names ("text_model." prefix), which transformers 5 drops.
        checkpoint["cond_stage_model.transformer.text_model." + key.removeprefix("text_model.")] = value
    return {key: value.contiguous() for key, value in checkpoint.items()}


# --- tiny preset ---

def test_tiny_builds_the_same_weights_whatever_the_global_rng_state():
    first = build_tiny_sd15()
    torch.manual_seed(12345)
    torch.rand(1000)
    state_before = torch.get_rng_state()
    second = build_tiny_sd15()
    assert torch.equal(torch.get_rng_state(), state_before), "building must not consume the caller's RNG"
    for name in ("unet", "vae", "text_encoder"):
        assert same_weights(first[name], second[name]), name
    assert same_weights(build_tiny_controlnet(first["unet"], ControlType.DEPTH),
                        build_tiny_controlnet(second["unet"], ControlType.DEPTH))


def test_tiny_components_have_the_sd15_shape(pipe):
    assert pipe.vae_scale_factor == 8
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 512
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"
    assert (pipe.scheduler.config.beta_start, pipe.scheduler.config.beta_end) == (0.00085, 0.012)
    assert pipe.text_encoder.config.vocab_size == len(pipe.tokenizer)
    assert pipe.tokenizer.model_max_length == 77


def test_tiny_controlnets_differ_per_type_and_have_nonzero_output_convs(pipe):
    nets = {t: build_tiny_controlnet(pipe.unet, t) for t in (ControlType.CANNY, ControlType.DEPTH,
                                                              ControlType.OPENPOSE)}
    assert not same_weights(nets[ControlType.CANNY], nets[ControlType.DEPTH])
    assert not same_weights(nets[ControlType.DEPTH], nets[ControlType.OPENPOSE])
    for net in nets.values():
        assert all(conv.weight.abs().sum() > 0 for conv in net.controlnet_down_blocks)
        assert net.controlnet_mid_block.weight.abs().sum() > 0


def test_tiny_tokenizer_encodes_different_prompts_differently(pipe):
    def ids(text):
        return pipe.tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids

    cat, dog, empty = ids("a cat"), ids("the dog running"), ids("")
    assert len(cat) == len(dog) == 77
    assert cat != dog != empty
    assert cat[0] == pipe.tokenizer.bos_token_id and empty[1] == pipe.tokenizer.eos_token_id


def test_tiny_pipeline_generates_and_a_controlnet_shares_the_unet_and_changes_the_image(pipe):
    plain = generate(pipe)
    assert plain.shape == (64, 64, 3) and np.isfinite(plain).all()
    assert np.array_equal(plain, generate(pipe)), "fixed seed must reproduce"
    cn_pipe = controlnet_pipeline(pipe, build_tiny_controlnet(pipe.unet, ControlType.CANNY))
    assert cn_pipe.unet is pipe.unet and cn_pipe.vae is pipe.vae
    controlled = generate(cn_pipe, image=CONTROL_IMAGE)
    assert np.abs(controlled - plain).mean() > 1e-3


# --- schedulers ---

@pytest.mark.parametrize("scheduler_id", list(SCHEDULERS))
def test_each_scheduler_runs_in_the_tiny_pipeline(scheduler_id):
    pipe = tiny_pipeline()
    base_config = pipe.scheduler.config
    pipe.scheduler = make_scheduler(scheduler_id, base_config)
    assert pipe.scheduler is not make_scheduler(scheduler_id, base_config)
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"
    image = generate(pipe)
    assert np.isfinite(image).all()


def test_unknown_scheduler_names_the_field_and_the_choices():
    with pytest.raises(InvalidInput) as caught:
        make_scheduler("k_lms_xl", tiny_pipeline().scheduler.config)
    assert caught.value.field == "sampling.scheduler"
    assert "'k_lms_xl'" in caught.value.message
    assert all(scheduler_id in caught.value.message for scheduler_id in SCHEDULERS)
    assert [option[0] for option in SCHEDULER_OPTIONS] == list(SCHEDULERS)


# --- catalog ---

def test_catalog_parses_sources_defaults_and_relative_paths(tmp_path):
    (tmp_path / "weights" / "sd15").mkdir(parents=True)
    path = write_catalog(tmp_path, """
default = "local"

[models.hub]
source = "acme/some-model"

[models.local]
family = "sd15"
source = "weights/sd15"
description = "my model"
default_width = 640
default_steps = 30
default_scheduler = "euler_a"

[models.local.controlnets]
canny = "weights/canny.safetensors"
depth = "lllyasviel/control_v11f1p_sd15_depth"

[models.xl]
family = "sdxl"
source = "/abs/xl.safetensors"
""")
    catalog = Catalog.from_toml(path)
    assert catalog.ids() == ["hub", "local", "xl"]
    assert catalog.default_id == "local" and catalog.get("").id == "local"
    local = catalog.get("local")
    assert isinstance(local, ModelEntry)
    assert local.source == str(tmp_path / "weights" / "sd15")
    assert (local.default_width, local.default_height, local.default_steps) == (640, 512, 30)
    assert (local.default_guidance_scale, local.default_scheduler, local.description) == (7.5, "euler_a", "my model")
    assert local.controlnets == {ControlType.CANNY: str(tmp_path / "weights" / "canny.safetensors"),
                                 ControlType.DEPTH: "lllyasviel/control_v11f1p_sd15_depth"}
    hub = catalog.get("hub")
    assert (hub.source, hub.family, hub.controlnets) == ("acme/some-model", "sd15", {})
    xl = catalog.get("xl")
    assert (xl.family, xl.default_width) == ("sdxl", 1024)


def test_catalog_default_is_the_first_model_when_unset_and_unknown_ids_list_the_choices(tmp_path):
    catalog = Catalog.from_toml(write_catalog(tmp_path, """
[models.b]
source = "builtin:tiny"
[models.a]
source = "builtin:tiny"
"""))
    assert catalog.default_id == "b"
    with pytest.raises(ModelNotFound) as caught:
        catalog.get("nope")
    assert caught.value.available == ["a", "b"]
    assert "'nope'" in caught.value.message and "a, b" in caught.value.message


def test_tiny_preset():
    catalog = Catalog.preset("tiny")
    entry = catalog.get("")
    assert catalog.ids() == ["tiny", "tiny-inpaint", "tiny-depth2img", "tiny-sdxl", "tiny-turbo"]
    assert entry.inpaint_model == "tiny-inpaint" and catalog.get("tiny-inpaint").inpainting
    assert (entry.id, entry.family, entry.source) == ("tiny", "sd15", "builtin:tiny")
    assert (entry.default_width, entry.default_height, entry.default_steps) == (512, 512, 20)
    assert (entry.default_guidance_scale, entry.default_scheduler) == (7.5, "unipc")
    assert set(entry.controlnets) == {ControlType.CANNY, ControlType.DEPTH, ControlType.OPENPOSE}


@pytest.mark.parametrize(("toml_text", "expected"), [
    ("[models.m\nsource = 1", "not valid TOML"),
    ('[models.m]\nfamily = "sd15"', "models.m.source"),
    ('[models.m]\nsource = "builtin:tiny"\n[models.m.controlnets]\nsketch = "x/y"', "models.m.controlnets.sketch"),
    ('[models.m]\nsource = "builtin:tiny"\ndefault_steps = 0', "models.m.default_steps"),
    ('[models.m]\nsource = "builtin:tiny"\ndefault_width = 500', "models.m.default_width"),
    ('[models.m]\nsource = "builtin:tiny"\ndefault_scheduler = "lms"', "models.m.default_scheduler"),
    ('[models.m]\nsource = "builtin:tiny"\nsteps = 20', "models.m: unknown key(s) ['steps']"),
    ('default = "x"\n[models.m]\nsource = "builtin:tiny"', "default = 'x'"),
    ('[models.m]\nsource = "builtin:tiny"\ninpainting = "yes"', "models.m.inpainting: must be true or false"),
    ('[models.m]\nsource = "builtin:tiny"\ninpaint_model = "x"', "models.m.inpaint_model: 'x' is not one of"),
    ('[models.m]\nsource = "builtin:tiny"\ninpaint_model = "n"\n[models.n]\nsource = "builtin:tiny"',
     "models.m.inpaint_model: model 'n' is not an inpainting model"),
    ("", "no models"),
])
def test_catalog_errors_name_the_file_and_the_key(tmp_path, toml_text, expected):
    path = write_catalog(tmp_path, toml_text)
    with pytest.raises(ValueError) as caught:
        Catalog.from_toml(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_classify_source(tmp_path):
    assert classify_source("builtin:tiny") == "builtin"
    assert classify_source(str(tmp_path)) == "folder"
    assert classify_source("/models/dreamshaper.safetensors") == "single_file"
    assert classify_source("/models/v1-5.SafeTensors") == "single_file"
    for suffix in (".ckpt", ".pt", ".pth", ".bin"):
        assert classify_source("/models/model" + suffix) == "pickle_file"
    assert classify_source("stable-diffusion-v1-5/stable-diffusion-v1-5") == "hub"
    for not_a_source in ("/no/such/folder", "just-a-name", "a/b/c"):
        with pytest.raises(ValueError):
            classify_source(not_a_source)


# --- manager ---

def test_manager_loads_tiny_once_and_caches_it():
    manager = ModelManager(Catalog.preset("tiny"), device="cpu")
    assert not manager.is_loaded("tiny")
    results = []
    threads = [threading.Thread(target=lambda: results.append(manager.load("tiny"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in results}) == 1
    assert manager.load("") is results[0] and manager.is_loaded("tiny")
    loaded = results[0]
    assert loaded.pipeline.safety_checker is None and loaded.pipeline.device.type == "cpu"
    assert loaded.control_types() == [ControlType.CANNY, ControlType.DEPTH, ControlType.OPENPOSE]
    assert loaded.controlnet(ControlType.CANNY) is loaded.controlnet(ControlType.CANNY, "builtin:tiny-canny")
    manager.unload_all()
    assert not manager.is_loaded("tiny")


def test_manager_describes_the_device():
    described = ModelManager(Catalog.preset("tiny"), device="cpu").describe_device()
    assert described["type"] == "cpu" and described["dtype"] == "float32"
    assert described["memory_bytes"] > 0 and described["name"]


def test_missing_controlnet_type_is_unsupported_and_a_wrong_controlnet_id_not_found():
    loaded = ModelManager(Catalog.preset("tiny"), device="cpu").load("tiny")
    with pytest.raises(Unsupported, match="no ControlNet for 'tile'; it has: canny, depth, openpose"):
        loaded.controlnet(ControlType.TILE)
    with pytest.raises(ModelNotFound):
        loaded.controlnet(ControlType.CANNY, "someone/else")


def test_weights_hash_is_stable_and_ten_hex_digits(tmp_path, saved):
    builtin = ModelManager(Catalog.preset("tiny"), device="cpu").load("tiny")
    again = ModelManager(Catalog.preset("tiny"), device="cpu").load("tiny")
    assert re.fullmatch(r"[0-9a-f]{10}", builtin.weights_hash)
    assert builtin.weights_hash == again.weights_hash
    assert builtin.controlnet_hash(ControlType.CANNY) != builtin.controlnet_hash(ControlType.DEPTH)
    cache_file = tmp_path / "hashes.json"
    folder_toml = f'[models.local]\nsource = "{saved / "sd15"}"\n'
    first = manager_for(tmp_path, folder_toml, hash_cache_file=cache_file).load("local").weights_hash
    assert cache_file.is_file()
    second = manager_for(tmp_path, folder_toml, hash_cache_file=cache_file).load("local").weights_hash
    assert re.fullmatch(r"[0-9a-f]{10}", first) and first == second != builtin.weights_hash


def test_folder_sources_give_the_same_pixels_as_the_builtin(tmp_path, pipe, saved):
    manager = manager_for(tmp_path, f"""
[models.local]
source = "{saved / 'sd15'}"
[models.local.controlnets]
canny = "{saved / 'canny'}"
""")
    loaded = manager.load("local")
    assert np.array_equal(generate(loaded.pipeline), generate(pipe))
    builtin_cn = build_tiny_controlnet(pipe.unet, ControlType.CANNY)
    from_folder = generate(controlnet_pipeline(loaded.pipeline, loaded.controlnet(ControlType.CANNY)),
                           image=CONTROL_IMAGE)
    assert np.array_equal(from_folder, generate(controlnet_pipeline(pipe, builtin_cn), image=CONTROL_IMAGE))


def test_cached_hub_repo_loads_and_an_uncached_one_names_the_repo(tmp_path, pipe, saved, hub_cache):
    add_to_hub_cache(hub_cache, "acme/tiny-sd", saved / "sd15")
    manager = manager_for(tmp_path, '[models.cached]\nsource = "acme/tiny-sd"\n'
                                    '[models.absent]\nsource = "acme/not-downloaded"\n')
    assert np.array_equal(generate(manager.load("cached").pipeline), generate(pipe))
    with pytest.raises(ModelUnavailable) as caught:
        manager.load("absent")
    message = caught.value.message
    assert "'acme/not-downloaded'" in message and "not in the local cache" in message
    assert "point `source`" in message and "`dccbridge models pull acme/not-downloaded`" in message


def test_single_file_loads_offline_with_a_config_folder(tmp_path, pipe, saved, hub_cache):
    save_file(original_sd_checkpoint(pipe), tmp_path / "tiny.safetensors")
    config_only = tmp_path / "config"
    shutil.copytree(saved / "sd15", config_only, ignore=_keep_only(("*.json", "*.txt")))
    manager = manager_for(tmp_path, """
[models.with-config]
source = "tiny.safetensors"
config = "config"
[models.family-reference]
source = "tiny.safetensors"
""")
    # Weights come from the single file: the config folder has none.
    assert np.array_equal(generate(manager.load("with-config").pipeline), generate(pipe))
    with pytest.raises(ModelUnavailable) as caught:
        manager.load("family-reference")
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in caught.value.message
    assert "config = " in caught.value.message
    # Once the reference repo's configs are in the cache, no `config` is needed.
    add_to_hub_cache(hub_cache, "stable-diffusion-v1-5/stable-diffusion-v1-5", config_only)
    assert np.array_equal(generate(manager.load("family-reference").pipeline), generate(pipe))


def test_pickle_checkpoints_are_refused_unless_allowed(tmp_path, pipe, saved):
    torch.save({"state_dict": original_sd_checkpoint(pipe)}, tmp_path / "tiny.ckpt")
    toml_text = '[models.pickled]\nsource = "tiny.ckpt"\nconfig = "config"\n'
    shutil.copytree(saved / "sd15", tmp_path / "config", ignore=_keep_only(("*.json", "*.txt")))
    with pytest.raises(ModelUnavailable) as caught:
        manager_for(tmp_path, toml_text).load("pickled")
    assert "pickle" in caught.value.message and "--allow-pickle" in caught.value.message
    assert "weights_only=True" in caught.value.message
    allowed = manager_for(tmp_path, toml_text, allow_pickle=True).load("pickled")
    assert np.array_equal(generate(allowed.pipeline), generate(pipe))


class _MakesAFolderWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def test_allowed_pickles_are_loaded_with_weights_only(tmp_path):
    marker = tmp_path / "code-ran"
    torch.save({"state_dict": {"x": _MakesAFolderWhenUnpickled(marker)}}, tmp_path / "evil.ckpt")
    manager = manager_for(tmp_path, '[models.evil]\nsource = "evil.ckpt"\nconfig = "."\n', allow_pickle=True)
    with pytest.raises(ModelUnavailable, match="evil.ckpt"):
        manager.load("evil")
    assert not marker.exists()


def test_folder_with_only_pickle_weights_is_refused(tmp_path, saved):
    folder = tmp_path / "bin-model"
    shutil.copytree(saved / "sd15", folder)
    for weights in folder.glob("unet/*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(ModelUnavailable, match="--allow-pickle") as caught:
        manager_for(tmp_path, f'[models.m]\nsource = "{folder}"\n').load("m")
    assert str(folder / "unet") in caught.value.message


def test_missing_paths_are_named(tmp_path):
    manager = manager_for(tmp_path, f"""
[models.gone]
source = "{tmp_path / 'gone-folder'}"
[models.gone-file]
source = "{tmp_path / 'gone.safetensors'}"
[models.tiny]
source = "builtin:tiny"
[models.tiny.controlnets]
depth = "{tmp_path / 'gone-depth'}"
""")
    for model_id, missing in (("gone", "gone-folder"), ("gone-file", "gone.safetensors")):
        with pytest.raises(ModelUnavailable, match="does not exist") as caught:
            manager.load(model_id)
        assert str(tmp_path / missing) in caught.value.message
    with pytest.raises(ModelUnavailable, match=re.escape(str(tmp_path / "gone-depth"))):
        manager.load("tiny").controlnet(ControlType.DEPTH)


def test_families_this_server_cannot_load_are_unsupported_at_load(tmp_path):
    manager = manager_for(tmp_path, '[models.flux]\nfamily = "flux"\nsource = "builtin:tiny"\n')
    with pytest.raises(Unsupported, match="'flux'.*loadable families: sd15, sdxl, sd2-depth"):
        manager.load("flux")
