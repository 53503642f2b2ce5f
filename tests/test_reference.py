"""Reference units (IP-Adapter image prompts) through a real server on the tiny preset: the builtin IP-Adapter and
IP-Adapter Plus (random weights in h94's layouts, loaded through diffusers' load_ip_adapter like real files)
change the image, combine with a ControlNet unit, act only inside [start, end], never leak into the next job,
never batch with other jobs, are recorded in provenance, and every bad input is INVALID_ARGUMENT naming its field.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dccbridge.domain import ControlType, ControlUnitSpec, GenerateRequest, ImageInput, ReferenceImagesInput
from dccbridge.errors import ModelUnavailable
from dccbridge.imaging import encode_png
from dccbridge.models.catalog import Catalog
from dccbridge.models.ip_adapters import IpAdapterRuntime
from dccbridge.models.loading import Placement
from dccbridge.models.tiny_ip_adapter import TINY_IP_ADAPTERS, build_tiny_ip_adapter_state_dict
from dccbridge.models.weights_hash import WeightsHasher
from dccbridge.ops import generate
from dccbridge.v1 import control_pb2, jobs_pb2, media_pb2, service_pb2, tasks_pb2

from conftest import assert_invalid_argument, generate_task, pixels, result_of, run_to_end, running_server

STEPS = 4


def png(array: np.ndarray) -> media_pb2.Image:
    return media_pb2.Image(data=encode_png(array), mime_type="image/png")


def picture(seed: int, width: int = 48, height: int = 40) -> np.ndarray:
    """A reference image: smooth colour blobs (what CLIP sees differs per seed)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    return np.kron(small, np.ones((height // 4, width // 5 + 1, 1), np.uint8))[:height, :width].copy()


def reference_unit(*images, weights=(), adapter_id="", scale=None, start=None, end=None) -> control_pb2.ControlUnit:
    unit = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_REFERENCE, adapter_id=adapter_id,
                                   reference=control_pb2.ReferenceImages(images=list(images), weights=list(weights)))
    for name, value in (("controlnet_conditioning_scale", scale), ("control_guidance_start", start),
                        ("control_guidance_end", end)):
        if value is not None:
            setattr(unit, name, value)
    return unit


def canny_unit() -> control_pb2.ControlUnit:
    edges = np.zeros((64, 64, 3), np.uint8)
    edges[:, 20] = edges[30, :] = 255
    return control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_CANNY, image=png(edges))


def run_image(client, units=(), model_id="", size=64, **fields) -> tuple[np.ndarray, jobs_pb2.Result]:
    result = result_of(run_to_end(client, generate_task(size=size, steps=STEPS, control_units=list(units),
                                                        model_id=model_id, **fields)))
    return pixels(result.images[0].image.data), result


def differs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def plain(address):
    from dccbridge.client import Client

    with Client(address, client_name="tests") as client:
        return run_image(client)[0]


# -- capabilities -----------------------------------------------------------------------------------------------


def test_capabilities_list_reference_adapters_per_model(client):
    caps = client.stub.GetCapabilities(service_pb2.GetCapabilitiesRequest(), timeout=30)
    models = {m.id: m for m in caps.models}
    assert [a.id for a in models["tiny"].reference_adapters] == ["tiny-ip-adapter-plus", "tiny-ip-adapter"]
    assert models["tiny"].reference_adapters[0].label == "tiny-ip-adapter-plus (IP-Adapter Plus)"
    assert control_pb2.CONTROL_TYPE_REFERENCE in models["tiny"].control_types
    assert [a.id for a in models["tiny-sdxl"].reference_adapters] == ["tiny-sdxl-ip-adapter-plus",
                                                                      "tiny-sdxl-ip-adapter"]
    assert not models["tiny-turbo"].reference_adapters
    assert control_pb2.CONTROL_TYPE_REFERENCE not in models["tiny-turbo"].control_types
    assert caps.limits.max_reference_images == 4
    assert "reference_images" in caps.features


# -- what a reference does ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter_id", ["tiny-ip-adapter-plus", "tiny-ip-adapter"])
def test_a_reference_changes_the_image_and_another_reference_changes_it_differently(client, plain, adapter_id):
    first, result = run_image(client, [reference_unit(png(picture(1)), adapter_id=adapter_id)])
    second, _ = run_image(client, [reference_unit(png(picture(2)), adapter_id=adapter_id)])
    again, _ = run_image(client, [reference_unit(png(picture(1)), adapter_id=adapter_id)])
    assert differs(first, plain) > 1.0 and differs(first, second) > 0.5
    np.testing.assert_array_equal(first, again)  # deterministic, and cached processors act like fresh ones
    record = json.loads(result.metadata_json)["reference_units"][0]
    assert record["adapter_id"] == adapter_id and record["control_unit"] == 0
    assert len(record["adapter_hash"]) == 10 and len(record["image_encoder_hash"]) == 10
    assert record["images"][0]["sha256"] == ImageInput(png(picture(1)).data).sha256()
    parameters = result.images[0].parameters
    assert f'IP-Adapter 0: "Model: {adapter_id} ({record["adapter_hash"]})' in parameters
    assert "Weight: 1, Guidance Start: 0, Guidance End: 1" in parameters


def test_the_next_job_after_a_reference_job_gets_the_plain_pixels(client, plain, server):
    unet = server.manager.load("tiny").pipeline.unet
    processors_before = dict(unet.attn_processors)
    run_image(client, [reference_unit(png(picture(3)))])
    after, _ = run_image(client)
    np.testing.assert_array_equal(after, plain)
    assert dict(unet.attn_processors) == processors_before and unet.encoder_hid_proj is None
    assert unet.config.encoder_hid_dim_type is None


def test_a_reference_job_cancelled_mid_way_leaves_the_model_as_it_was(client, plain):
    task = generate_task(size=64, steps=150, control_units=[reference_unit(png(picture(4)))])
    job = client.submit(task)
    state = client.get_job(job.job_id)
    while state.state == jobs_pb2.JOB_STATE_QUEUED:
        state = client.get_job(job.job_id, wait_ms=5000, after_sequence=state.sequence, omit_image_data=True)
    client.cancel(job.job_id)
    assert client.wait_result(job.job_id, timeout_s=120).state == jobs_pb2.JOB_STATE_CANCELLED
    np.testing.assert_array_equal(run_image(client)[0], plain)


def test_reference_and_controlnet_units_combine_in_one_job(client, plain):
    canny_only, _ = run_image(client, [canny_unit()])
    reference_only, _ = run_image(client, [reference_unit(png(picture(5)))])
    both, result = run_image(client, [reference_unit(png(picture(5))), canny_unit()])
    assert min(differs(both, canny_only), differs(both, reference_only), differs(both, plain)) > 0.5
    metadata = json.loads(result.metadata_json)
    assert metadata["reference_units"][0]["control_unit"] == 0
    assert 'ControlNet 0: "Module: Image, Model: canny' in result.images[0].parameters


def test_the_scale_is_zero_outside_start_end(client, plain):
    full, _ = run_image(client, [reference_unit(png(picture(6)))])
    # 4 steps: a window ending at 0.2 holds no whole step, so the reference never acts.
    never, _ = run_image(client, [reference_unit(png(picture(6)), start=0.0, end=0.2)])
    np.testing.assert_array_equal(never, plain)
    half, _ = run_image(client, [reference_unit(png(picture(6)), start=0.5, end=1.0)])
    assert differs(half, plain) > 0.3 and differs(half, full) > 0.3
    zero, _ = run_image(client, [reference_unit(png(picture(6)), scale=0.0)])
    np.testing.assert_array_equal(zero, plain)
    # and the scales of one job do not stay for the next
    np.testing.assert_array_equal(run_image(client, [reference_unit(png(picture(6)))])[0], full)


def test_image_weights_blend_the_images(client):
    one, _ = run_image(client, [reference_unit(png(picture(7)))])
    weighted, result = run_image(client, [reference_unit(png(picture(7)), png(picture(8)), weights=[1.0, 0.0])])
    np.testing.assert_array_equal(weighted, one)  # weight 0: the second image does not count
    blended, _ = run_image(client, [reference_unit(png(picture(7)), png(picture(8)))])
    assert differs(blended, one) > 0.3
    images = json.loads(result.metadata_json)["reference_units"][0]["images"]
    assert [image["weight"] for image in images] == [1.0, 0.0]


def test_two_reference_units_with_different_adapters(client):
    image, result = run_image(client, [reference_unit(png(picture(9)), adapter_id="tiny-ip-adapter"),
                                       reference_unit(png(picture(10)), adapter_id="tiny-ip-adapter-plus",
                                                      scale=0.5)])
    records = json.loads(result.metadata_json)["reference_units"]
    assert [(r["adapter_id"], r["scale"]) for r in records] == [("tiny-ip-adapter", 1.0),
                                                               ("tiny-ip-adapter-plus", 0.5)]
    assert 'IP-Adapter 1: "Model: tiny-ip-adapter-plus' in result.images[0].parameters


def test_sdxl_reference_and_img2img(client):
    plain_sdxl, _ = run_image(client, model_id="tiny-sdxl")
    with_reference, _ = run_image(client, [reference_unit(png(picture(11)))], model_id="tiny-sdxl")
    assert differs(with_reference, plain_sdxl) > 0.5
    np.testing.assert_array_equal(run_image(client, model_id="tiny-sdxl")[0], plain_sdxl)
    init = png(picture(12, 64, 64))
    img2img, _ = run_image(client, [reference_unit(png(picture(11)))], init_image=init, strength=0.75)
    assert img2img.shape == (64, 64, 3)


# -- bad inputs --------------------------------------------------------------------------------------------------


def bad(client, address, units, field, phrase=None, **fields):
    assert_invalid_argument(client, address, generate_task(size=64, steps=2, control_units=units, **fields),
                            field, phrase)


def test_a_zero_size_or_undecodable_reference_names_the_image(client, address):
    bad(client, address, [reference_unit(png(picture(1)), media_pb2.Image(data=b""))],
        "control_units[0].reference.images[1]")
    bad(client, address, [canny_unit(), reference_unit(media_pb2.Image(data=b"\x89PNG\r\n\x1a\nnot really"))],
        "control_units[1].reference.images[0]")
    from lying_images import png_claiming

    bad(client, address, [reference_unit(media_pb2.Image(data=png_claiming(0, 0)))],
        "control_units[0].reference.images[0]", "0x0 pixels")


def test_too_many_or_no_reference_images(client, address):
    bad(client, address, [reference_unit(*[png(picture(i)) for i in range(5)])], "control_units[0].reference.images",
        "1 to 4 images, got 5")
    bad(client, address, [reference_unit()], "control_units[0].reference.images", "got 0")


def test_bad_weights_scale_and_window(client, address):
    two = (png(picture(1)), png(picture(2)))
    bad(client, address, [reference_unit(*two, weights=[1.0])], "control_units[0].reference.weights",
        "one weight per image (2)")
    bad(client, address, [reference_unit(*two, weights=[1.0, -0.5])], "control_units[0].reference.weights[1]")
    bad(client, address, [reference_unit(*two, weights=[0.0, 0.0])], "control_units[0].reference.weights")
    bad(client, address, [reference_unit(*two, weights=[1.0, float("nan")])], "control_units[0].reference.weights[1]")
    bad(client, address, [reference_unit(two[0], scale=2.5)], "control_units[0].controlnet_conditioning_scale")
    bad(client, address, [reference_unit(two[0], start=0.6, end=0.4)], "control_units[0].control_guidance_end")


def test_unknown_adapter_or_a_model_without_one_lists_what_exists(client, address):
    bad(client, address, [reference_unit(png(picture(1)), adapter_id="ip-adapter_sd15")],
        "control_units[0].adapter_id", "it has: tiny-ip-adapter-plus, tiny-ip-adapter")
    bad(client, address, [reference_unit(png(picture(1)))], "control_units[0].adapter_id",
        "model 'tiny-turbo' has no IP-Adapter", model_id="tiny-turbo")


def test_sources_and_types_must_match(client, address):
    wrong_source = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_REFERENCE, image=png(picture(1)))
    bad(client, address, [wrong_source], "control_units[0].reference")
    wrong_type = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_CANNY,
                                         reference=control_pb2.ReferenceImages(images=[png(picture(1))]))
    bad(client, address, [wrong_type], "control_units[0].reference", "only CONTROL_TYPE_REFERENCE")
    texture = tasks_pb2.Task(texture=tasks_pb2.TextureTask(prompt="x", width=64, height=64, control_units=[
        reference_unit(png(picture(1)))]))
    assert_invalid_argument(client, address, texture, "control_units[0].control_type", "generate tasks only")
    preprocess = tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(unit=reference_unit(png(picture(1))),
                                                                    width=64, height=64))
    assert_invalid_argument(client, address, preprocess, "unit.control_type")


def test_units_with_different_image_encoders_are_refused(tmp_path):
    catalog = tmp_path / "catalog.toml"
    encoder = tmp_path / "encoder"
    from dccbridge.models.tiny_ip_adapter import tiny_image_encoder_folder
    import shutil
    shutil.copytree(tiny_image_encoder_folder("tiny-clip-vision"), encoder)
    catalog.write_text(textwrap.dedent(f"""
        [models.tiny]
        source = "builtin:tiny"
        [models.tiny.ip_adapters.a]
        kind = "ip-adapter"
        source = "builtin:tiny-ip-adapter"
        image_encoder = "builtin:tiny-clip-vision"
        [models.tiny.ip_adapters.b]
        kind = "ip-adapter"
        source = "builtin:tiny-ip-adapter"
        image_encoder = "{encoder}"
    """))
    entry = Catalog.from_toml(catalog).get("tiny")
    units = tuple(ControlUnitSpec(ControlType.REFERENCE, ReferenceImagesInput((ImageInput(b"x"),)), adapter_id=a)
                  for a in ("a", "b"))
    from dccbridge.errors import InvalidInput
    from dccbridge.ops.reference import check_one_encoder
    with pytest.raises(InvalidInput) as error:
        check_one_encoder(units, entry)
    assert error.value.field == "control_units[1].adapter_id"


# -- batching -----------------------------------------------------------------------------------------------------


def test_reference_jobs_never_batch(tmp_path, client):
    request = GenerateRequest(prompt="x", control_units=(ControlUnitSpec(
        ControlType.REFERENCE, ReferenceImagesInput((ImageInput(encode_png(picture(1))),))),))
    plain_request = GenerateRequest(prompt="x")
    tasks = [generate_task(size=64, steps=STEPS), generate_task(size=64, steps=STEPS, seed=99),
             generate_task(size=64, steps=STEPS, control_units=[reference_unit(png(picture(13)))])]
    expected = [run_image(client)[0], run_image(client, seed=99)[0],
                run_image(client, [reference_unit(png(picture(13)))])[0]]
    with running_server(tmp_path, batch_window_ms=300, max_batch_jobs=4) as server:
        assert generate.batch_key(request, server.env) is None
        assert generate.batch_key(plain_request, server.env) is not None
        from dccbridge.client import Client
        with Client(f"127.0.0.1:{server.port}", client_name="tests") as other:
            blocker = other.submit(generate_task(prompt="blocker", size=128, steps=150, seed=1))
            job = other.get_job(blocker.job_id)
            while job.state == jobs_pb2.JOB_STATE_QUEUED:
                job = other.get_job(blocker.job_id, wait_ms=5000, after_sequence=job.sequence, omit_image_data=True)
            ids = [other.submit(task).job_id for task in tasks]
            other.cancel(blocker.job_id)
            jobs = [other.wait_result(job_id, timeout_s=300) for job_id in ids]
    for job, want in zip(jobs, expected):
        assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED, job.failure
        got = pixels(job.result.images[0].image.data)
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))  # batched rows: test_batching's tolerance
        assert (diff <= 1).mean() >= 0.99 and diff.max() <= 4
    batches = [json.loads(job.result.metadata_json).get("batch") for job in jobs]
    assert batches[0] is not None and batches[1] is not None  # the plain jobs ran as one batch
    assert batches[2] is None  # the reference job ran alone


# -- weights files -------------------------------------------------------------------------------------------------


def runtime(allow_pickle=False) -> IpAdapterRuntime:
    return IpAdapterRuntime(Placement(torch.device("cpu"), torch.float32, allow_pickle), WeightsHasher(None))


def catalog_with(tmp_path, source: str, weight_name: str = "") -> Catalog:
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(f"""
        [models.tiny]
        source = "builtin:tiny"
        [models.tiny.ip_adapters.mine]
        kind = "ip-adapter"
        source = "{source}"
        {f'weight_name = "{weight_name}"' if weight_name else ''}
        image_encoder = "builtin:tiny-clip-vision"
    """))
    return Catalog.from_toml(path)


def test_pickle_weights_are_refused_unless_allowed(tmp_path):
    flat = build_tiny_ip_adapter_state_dict("tiny-ip-adapter")
    nested = {"image_proj": {}, "ip_adapter": {}}
    for key, value in flat.items():
        group, _, name = key.partition(".")
        nested[group][name] = value
    torch.save(nested, tmp_path / "ip-adapter_sd15.bin")
    adapter = catalog_with(tmp_path, str(tmp_path / "ip-adapter_sd15.bin")).get("tiny").ip_adapters["mine"]
    with pytest.raises(ModelUnavailable, match="--allow-pickle"):
        runtime()._state_dict(adapter)
    loaded = runtime(allow_pickle=True)._state_dict(adapter)
    torch.testing.assert_close(loaded["image_proj"]["proj.weight"], flat["image_proj.proj.weight"])


def test_a_folder_source_and_a_file_without_ip_adapter_keys(tmp_path):
    (tmp_path / "models").mkdir()
    save_file(build_tiny_ip_adapter_state_dict("tiny-ip-adapter"), tmp_path / "models" / "mine.safetensors")
    path = tmp_path / "catalog.toml"
    path.write_text(textwrap.dedent(f"""
        [models.tiny]
        source = "builtin:tiny"
        [models.tiny.ip_adapters.mine]
        kind = "ip-adapter"
        source = "{tmp_path}"
        subfolder = "models"
        weight_name = "mine.safetensors"
        image_encoder = "builtin:tiny-clip-vision"
    """))
    adapter = Catalog.from_toml(path).get("tiny").ip_adapters["mine"]
    assert set(runtime()._state_dict(adapter)) == {"image_proj", "ip_adapter"}
    save_file({"something.else": torch.zeros(2)}, tmp_path / "other.safetensors")
    wrong = catalog_with(tmp_path, str(tmp_path / "other.safetensors")).get("tiny").ip_adapters["mine"]
    with pytest.raises(ModelUnavailable, match="not an IP-Adapter"):
        runtime()._state_dict(wrong)


def test_an_uncached_hub_adapter_names_the_id_and_the_pull(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    adapter = Catalog.preset("sd15").get("sd15").ip_adapters["ip-adapter-plus_sd15"]
    with pytest.raises(ModelUnavailable) as error:
        runtime()._weights_file(adapter)
    message = str(error.value)
    assert "IP-Adapter 'ip-adapter-plus_sd15'" in message
    assert "hf://h94/IP-Adapter/models/ip-adapter-plus_sd15.safetensors" in message
    pickle_path = tmp_path / "c.toml"
    pickle_path.write_text(textwrap.dedent("""
        [models.tiny]
        source = "builtin:tiny"
        [models.tiny.ip_adapters.old]
        kind = "ip-adapter"
        source = "h94/IP-Adapter"
        subfolder = "models"
        weight_name = "ip-adapter_sd15.bin"
        image_encoder = "h94/IP-Adapter"
    """))
    with pytest.raises(ModelUnavailable, match="is a pickle file"):
        runtime(allow_pickle=True)._weights_file(Catalog.from_toml(pickle_path).get("tiny").ip_adapters["old"])


def test_catalog_mistakes_name_the_key(tmp_path):
    def parse(body: str):
        path = tmp_path / "c.toml"
        path.write_text("[models.tiny]\nsource = \"builtin:tiny\"\n" + textwrap.dedent(body))
        return Catalog.from_toml(path)

    with pytest.raises(ValueError, match=r"ip_adapters.x.kind: must be one of ip-adapter, ip-adapter-plus"):
        parse('[models.tiny.ip_adapters.x]\nkind = "faceid"\nsource = "builtin:tiny-ip-adapter"\n'
              'image_encoder = "builtin:tiny-clip-vision"\n')
    with pytest.raises(ValueError, match=r"ip_adapters.x.weight_name: a repo or folder source needs"):
        parse('[models.tiny.ip_adapters.x]\nkind = "ip-adapter"\nsource = "h94/IP-Adapter"\n'
              'image_encoder = "h94/IP-Adapter"\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['scale'\]"):
        parse('[models.tiny.ip_adapters.x]\nkind = "ip-adapter"\nsource = "builtin:tiny-ip-adapter"\n'
              'image_encoder = "builtin:tiny-clip-vision"\nscale = "1"\n')
    with pytest.raises(ValueError, match="reference units use IP-Adapters"):
        parse('[models.tiny.controlnets]\nreference = "builtin:tiny-canny"\n')


def test_builtin_adapters_are_safetensors_in_h94_layout():
    for name in TINY_IP_ADAPTERS:
        keys = build_tiny_ip_adapter_state_dict(name)
        assert all(key.startswith(("image_proj.", "ip_adapter.")) for key in keys)
        assert "ip_adapter.1.to_k_ip.weight" in keys



def test_models_pull_fetches_the_adapter_files_and_the_encoder_folder():
    from dccbridge.models.hub import HubSource, allow_patterns, catalog_needs

    needs = {need.source.label: sorted(str(u) for u in need.users) for need in catalog_needs(Catalog.preset("sd15"))}
    assert needs["hf://h94/IP-Adapter/models/ip-adapter-plus_sd15.safetensors"] == [
        "sd15 IP-Adapter ip-adapter-plus_sd15"]
    assert len(needs["hf://h94/IP-Adapter/models/image_encoder/model.safetensors"]) == 2  # shared by both
    encoder = HubSource("h94/IP-Adapter", "models/image_encoder/model.safetensors")
    assert allow_patterns(encoder, [], dict) == ["models/image_encoder/model.safetensors",
                                                 "models/image_encoder/config.json"]
