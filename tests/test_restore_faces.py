"""Face restoration (issue 18) on the tiny preset: the tiny detector through OpenCV's FaceDetectorYN, the tiny
RestoreFormer through spandrel, and through a real server: the restore_faces task, the finishing step after
generate / upscale / outpaint, the no-face notice, the strength blend, bad inputs, pickle refusal, capabilities
and the CLI. The tiny detector scores a bright ~32-px square on a dark background as a face (models/tiny_faces.py)."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dccbridge.cli import main as cli_main
from dccbridge.client import Client, face_restoration, outpaint_task, restore_faces_task
from dccbridge.errors import ModelUnavailable
from dccbridge.imaging import encode_png, read_png_text
from dccbridge.models.catalog import Catalog
from dccbridge.models.manager import ModelManager
from dccbridge.models.tiny_faces import build_tiny_restoreformer_state_dict
from dccbridge.ops import faces as face_ops
from dccbridge.v1 import jobs_pb2, media_pb2, tasks_pb2

from conftest import assert_invalid_argument, generate_task, pixels, result_of, run_to_end, running_server
from lying_images import png_claiming

FACE_BOX = (64, 32, 32, 32)  # x, y, w, h of the bright square: one 32-px detector cell


def portrait(width=128, height=96, box=FACE_BOX) -> np.ndarray:
    """A dark, slightly textured image with one bright square "face" (and a gradient the restorer changes)."""
    rng = np.random.default_rng(5)
    image = (20 + rng.integers(0, 12, (height, width, 3))).astype(np.uint8)
    x, y, w, h = box
    ramp = np.linspace(180, 250, w)[None, :, None]
    image[y:y + h, x:x + w] = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8)
    return image


def flat(width=96, height=64, value=110) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def extra(result) -> dict:
    return json.loads(result.extra_json)


# -- the models, through the same load paths as real weights ------------------------------------------


@pytest.fixture(scope="module")
def manager():
    return ModelManager(Catalog.preset("tiny"), device="cpu")


def test_the_tiny_detector_finds_a_bright_square_and_nothing_in_flat_or_noisy_images(manager):
    detector = manager.faces.detector("")
    faces = face_ops.detect(detector, portrait(), 0.5, 16)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert abs(x - 64) < 4 and abs(y - 32) < 4 and abs(w - 32) < 4 and abs(h - 32) < 4, faces[0].box
    eyes, mouth = faces[0].landmarks[:2], faces[0].landmarks[3:]
    assert eyes[0][0] < eyes[1][0] and mouth[:, 1].min() > eyes[:, 1].max()  # a frontal face's layout
    assert face_ops.detect(detector, flat(), 0.5, 16) == []
    noise = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert face_ops.detect(detector, noise, 0.5, 16) == []
    # a threshold that low takes every cell of the 32-px grid: max_faces keeps the largest
    assert len(face_ops.detect(detector, noise, 0.001, 5)) == 5


def test_the_tiny_restorer_is_spandrels_restoreformer_and_deterministic(manager):
    restorer = manager.faces.restorer("")
    assert restorer.architecture == "RestoreFormer" and not restorer.has_fidelity
    batch = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    first, second = restorer.restore(batch, 0.5), restorer.restore(batch, 0.5)
    assert first.shape == batch.shape and torch.equal(first, second)
    assert not torch.allclose(first, batch, atol=0.05)  # it does change the face


def test_safetensors_restorers_load_like_the_builtin_and_pickles_only_when_allowed(tmp_path):
    state = build_tiny_restoreformer_state_dict("tiny-restoreformer")
    save_file(state, tmp_path / "rf.safetensors")
    torch.save(state, tmp_path / "rf.pth")
    (tmp_path / "catalog.toml").write_text(
        '[models.tiny]\nsource = "builtin:tiny"\n'
        + "".join(f'[restorers.{name}]\nsource = "{src}"\nlicense = "Apache-2.0"\ncommercial_use = true\n'
                  f'face_size = 128\n' for name, src in (("builtin", "builtin:tiny-restoreformer"),
                                                        ("file", "rf.safetensors"), ("pickled", "rf.pth")))
        + '[face_detectors.yunet]\nsource = "builtin:tiny-yunet"\nlicense = "MIT"\ncommercial_use = true\n')
    catalog = Catalog.from_toml(tmp_path / "catalog.toml")
    probe = torch.rand(1, 3, 128, 128)
    refusing = ModelManager(catalog, device="cpu")
    expected = refusing.faces.restorer("builtin").restore(probe, 0.5)
    assert torch.equal(refusing.faces.restorer("file").restore(probe, 0.5), expected)
    with pytest.raises(ModelUnavailable, match="--allow-pickle"):
        refusing.faces.restorer("pickled")
    allowing = ModelManager(catalog, device="cpu", allow_pickle=True)
    assert torch.equal(allowing.faces.restorer("pickled").restore(probe, 0.5), expected)


def test_catalog_face_tables_name_the_key_on_error(tmp_path):
    path = tmp_path / "catalog.toml"
    for table, expected in (
        ('[restorers.r]\nsource = "x.safetensors"\ncommercial_use = false', "restorers.r.license: is required"),
        ('[restorers.r]\nsource = "x.safetensors"\nlicense = "x"', "restorers.r.commercial_use: is required"),
        ('[restorers.r]\nsource = "x.safetensors"\nlicense = "x"\ncommercial_use = true\nface_size = 100',
         "restorers.r.face_size: must be a multiple of 32"),
        ('[face_detectors.d]\nsource = "d.onnx"\nlicense = "MIT"\ncommercial_use = true\nscale = 2',
         "face_detectors.d: unknown key(s) ['scale']"),
    ):
        path.write_text(f'[models.tiny]\nsource = "builtin:tiny"\n{table}\n')
        with pytest.raises(ValueError) as caught:
            Catalog.from_toml(path)
        assert expected in str(caught.value), caught.value


# -- through a real server ---------------------------------------------------------------------------


def test_capabilities_list_restorers_with_licences_and_the_detector(client):
    caps = client.capabilities()
    restorers = {r.id: r for r in caps.restorers}
    assert set(restorers) == {"tiny-restoreformer"}
    tiny = restorers["tiny-restoreformer"]
    assert tiny.architecture == "RestoreFormer" and tiny.license.startswith("Apache-2.0") and tiny.commercial_use
    assert tiny.is_default and tiny.face_size == 128 and not tiny.has_fidelity
    assert [(d.id, d.architecture, d.license) for d in caps.face_detectors] == [("tiny-yunet", "yunet", "MIT")]
    assert "restore_faces" in caps.features


def test_the_task_restores_the_face_and_leaves_the_rest(client):
    image = portrait()
    result = result_of(run_to_end(client, restore_faces_task(encode_png(image))))
    info = extra(result)
    assert info["faces"] == 1 and "notice" not in info
    assert info["restorer_id"] == "tiny-restoreformer" and info["detector_id"] == "tiny-yunet"
    out = pixels(result.images[0].image.data)
    assert out.shape == image.shape
    changed = np.abs(out.astype(int) - image.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed[48, 80], "the face's centre is restored"
    # the paste-back stays near the face: the far corners are untouched
    assert xs.min() > 64 - 32 and xs.max() < 96 + 32 and ys.min() >= 0 and not changed[:, :24].any()
    provenance = json.loads(result.metadata_json)
    assert provenance["restore_faces"]["restorer_architecture"] == "RestoreFormer"


def test_strength_blends_linearly_and_zero_changes_nothing(client):
    image = encode_png(portrait())
    base = pixels(image).astype(int)

    def restored(strength):
        return pixels(result_of(run_to_end(client, restore_faces_task(image, strength=strength))).images[0].image.data)

    assert np.array_equal(restored(0.0), base)
    full, half = restored(1.0).astype(int) - base, restored(0.5).astype(int) - base
    assert np.abs(full).max() > 20
    assert np.abs(half - full / 2).max() <= 1.0  # rounding only


def test_no_face_returns_the_image_unchanged_with_a_notice(client):
    image = encode_png(flat())
    events = run_to_end(client, restore_faces_task(image))
    result = result_of(events)  # a result, not a failure
    assert extra(result) == {"faces": 0, "boxes": [], "notice": "no face found", "restorer_id": "tiny-restoreformer",
                             "detector_id": "tiny-yunet"}
    assert np.array_equal(pixels(result.images[0].image.data), flat())


def test_alpha_is_kept(client):
    rgba = np.dstack([portrait(), np.full((96, 128), 200, np.uint8)])
    result = result_of(run_to_end(client, restore_faces_task(encode_png(rgba))))
    from dccbridge.imaging import decode_image
    out = decode_image(result.images[0].image.data, "test", mode="RGBA")
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3]) and extra(result)["faces"] == 1


def test_finishing_step_after_generate(client):
    plain = result_of(run_to_end(client, generate_task(size=64, seed=11)))
    # The tiny model's noise has no face at the default threshold: unchanged, with the notice.
    task = generate_task(size=64, seed=11)
    task.generate.restore_faces.CopyFrom(face_restoration())
    noticed = result_of(run_to_end(client, task))
    assert extra(noticed)["restore_faces"]["notice"] == "no face found"
    assert np.array_equal(pixels(noticed.images[0].image.data), pixels(plain.images[0].image.data))
    # A threshold this low takes each 32-px cell as a face: each is restored.
    task.generate.restore_faces.CopyFrom(face_restoration(threshold=0.001))
    restored = result_of(run_to_end(client, task))
    summary = extra(restored)["restore_faces"]
    assert summary["faces"] == 4 and summary["images"][0]["faces"] == 4 and "notice" not in summary
    assert not np.array_equal(pixels(restored.images[0].image.data), pixels(plain.images[0].image.data))
    parameters = read_png_text(restored.images[0].image.data)["parameters"]
    assert "Face restoration: RestoreFormer (tiny-restoreformer)" in parameters


def test_finishing_step_after_upscale_and_outpaint(client):
    image = portrait(64, 48, (16, 16, 16, 16))  # at 2x the square is 32 px: one detector cell
    task = tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=media_pb2.Image(data=encode_png(image)),
                                                          method=tasks_pb2.UPSCALE_METHOD_LANCZOS, scale=2.0))
    plain = pixels(result_of(run_to_end(client, task)).images[0].image.data)
    task.upscale.restore_faces.CopyFrom(face_restoration(strength=1.0))
    result = result_of(run_to_end(client, task))
    assert extra(result)["restore_faces"]["faces"] == 1
    out = pixels(result.images[0].image.data)
    assert out.shape == plain.shape == (96, 128, 3) and not np.array_equal(out, plain)
    assert np.array_equal(out[:, :16], plain[:, :16])

    outpaint = outpaint_task(encode_png(portrait()), margins=(0, 0, 32, 0),
                             sampling=tasks_pb2.Sampling(num_inference_steps=2, seed=3))
    outpaint.outpaint.restore_faces.CopyFrom(face_restoration())
    info = extra(result_of(run_to_end(client, outpaint)))
    assert info["restore_faces"]["faces"] >= 1 and info["width"] == 160  # the placement is still there


@pytest.mark.parametrize(("change", "field", "phrase"), [
    (dict(strength=1.5), "strength", "[0, 1]"),
    (dict(strength=-0.1), "strength", "[0, 1]"),
    (dict(fidelity=0.5), "fidelity", "CodeFormer"),
    (dict(threshold=0.0), "detection.threshold", "(0, 1]"),
    (dict(threshold=1.0), "detection.threshold", "below 1"),
    (dict(max_faces=0), "detection.max_faces", "between 1 and 64"),
])
def test_bad_inputs_name_the_field(client, address, change, field, phrase):
    assert_invalid_argument(client, address, restore_faces_task(encode_png(portrait()), **change), field, phrase)


def assert_not_found(client, task, field: str, listing: str) -> None:
    """An unknown id is NOT_FOUND, naming the field and listing what exists."""
    with pytest.raises(grpc.RpcError) as error:
        client.submit(task)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND, error.value.details()
    assert error.value.details().startswith(f"{field}: unknown") and listing in error.value.details()


def test_unknown_ids_list_what_exists(client):
    image = encode_png(portrait())
    assert_not_found(client, restore_faces_task(image, "gfpgan"), "restorer_id", "available: tiny-restoreformer")
    assert_not_found(client, restore_faces_task(image, detector_id="retinaface"), "detection.detector_id",
                     "available: tiny-yunet")


def test_bad_finishing_options_name_the_nested_field(client, address):
    task = generate_task(size=64)
    task.generate.restore_faces.CopyFrom(face_restoration(strength=2.0))
    assert_invalid_argument(client, address, task, "restore_faces.strength", "[0, 1]")
    task.generate.restore_faces.CopyFrom(face_restoration(threshold=float("nan")))
    assert_invalid_argument(client, address, task, "restore_faces.detection.threshold", "finite")
    task.generate.restore_faces.CopyFrom(face_restoration("nope"))
    assert_not_found(client, task, "restore_faces.restorer_id", "tiny-restoreformer")


def test_bad_images_are_refused_before_decoding(client, address):
    assert_invalid_argument(client, address, restore_faces_task(png_claiming(0, 0)), "image")
    assert_invalid_argument(client, address, restore_faces_task(png_claiming(60000, 60000)), "image", "pixels")
    assert_invalid_argument(client, address, restore_faces_task(b"not an image"), "image")
    missing = tasks_pb2.Task(restore_faces=restore_faces_task(b"").restore_faces)
    missing.restore_faces.ClearField("image")
    assert_invalid_argument(client, address, missing, "image", "required")


def test_a_pickled_restorer_fails_the_job_without_allow_pickle(tmp_path):
    torch.save(build_tiny_restoreformer_state_dict("tiny-restoreformer"), tmp_path / "rf.pth")
    (tmp_path / "catalog.toml").write_text(
        '[models.tiny]\nsource = "builtin:tiny"\n'
        '[restorers.pickled]\nsource = "rf.pth"\nlicense = "Apache-2.0"\ncommercial_use = true\nface_size = 128\n'
        '[face_detectors.yunet]\nsource = "builtin:tiny-yunet"\nlicense = "MIT"\ncommercial_use = true\n')
    with running_server(tmp_path / "data", models=tmp_path / "catalog.toml") as srv, \
            Client(f"127.0.0.1:{srv.port}") as client:
        failed = run_to_end(client, restore_faces_task(encode_png(portrait())))[-1]
        assert failed.WhichOneof("event") == "failed"
        assert failed.failed.code == jobs_pb2.ERROR_CODE_FAILED_PRECONDITION
        assert "rf.pth" in failed.failed.message and "--allow-pickle" in failed.failed.message


def test_a_server_without_restorers_says_how_to_add_one(tmp_path):
    (tmp_path / "catalog.toml").write_text('[models.tiny]\nsource = "builtin:tiny"\n')
    with running_server(tmp_path / "data", models=tmp_path / "catalog.toml") as srv, \
            Client(f"127.0.0.1:{srv.port}") as client:
        with pytest.raises(grpc.RpcError) as error:
            client.submit(restore_faces_task(encode_png(portrait())))
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "[restorers.ID]" in error.value.details()
        assert "restore_faces" not in client.capabilities().features


def test_cli_restore_faces(address, tmp_path, capsys):
    source = tmp_path / "in.png"
    source.write_bytes(encode_png(portrait()))
    out = tmp_path / "out.png"
    code = cli_main(["restore-faces", str(source), "--server", address, "--output", str(out), "--strength", "0.8"])
    assert code == 0, capsys.readouterr()
    assert "1 face" in capsys.readouterr().out
    assert pixels(out.read_bytes()).shape == (96, 128, 3)
    assert cli_main(["restore-faces", str(source), "--server", address, "--strength", "3"]) != 0
    assert "strength" in capsys.readouterr().err
    # the finishing flags on upscale: the face of the 2x image is restored (its metadata says so)
    small = tmp_path / "small.png"
    small.write_bytes(encode_png(portrait(64, 48, (16, 16, 16, 16))))
    up = tmp_path / "up.png"
    assert cli_main(["upscale", "--input", str(small), "--method", "lanczos", "--server", address, "-o", str(up),
                     "--restore-faces", "--face-strength", "0.5"]) == 0, capsys.readouterr()
    record = json.loads(read_png_text(up.read_bytes())["dccbridge"])
    assert record["restore_faces"][0]["faces"] == 1 and record["restore_faces"][0]["strength"] == 0.5
