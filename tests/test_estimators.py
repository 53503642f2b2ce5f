"""Server-side estimators: depth from an image (the tiny DPT), OpenPose / lineart / soft edges from controlnet_aux
weight folders, what GetCapabilities lists, and the errors when weights are missing or refused."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import torch

from dccbridge.errors import ModelUnavailable
from dccbridge.imaging import encode_png
from dccbridge.models import Catalog
from dccbridge.models.loading import Placement, load_estimator
from dccbridge.v1 import control_pb2, service_pb2, tasks_pb2

from conftest import pixels, result_of, run_to_end, running_server
from test_cli import cli
from test_generate_modes import gradient_image, png


def preprocess_task(control_type, preprocessor=control_pb2.PREPROCESSOR_UNSPECIFIED, width=48, height=32):
    unit = control_pb2.ControlUnit(control_type=control_type)
    unit.preprocess.image.CopyFrom(png(gradient_image()))
    unit.preprocess.preprocessor = preprocessor
    return tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(unit=unit, width=width, height=height))


def control_map(client, task) -> np.ndarray:
    (image,) = result_of(run_to_end(client, task)).images
    assert image.role == "control"
    return pixels(image.image.data)


# -- the tiny preset: depth estimation ----------------------------------------------------------------------


def test_depth_is_estimated_from_an_image(client):
    depth_map = control_map(client, preprocess_task(control_pb2.CONTROL_TYPE_DEPTH))
    assert depth_map.shape == (32, 48, 3)
    assert (depth_map[:, :, 0] == depth_map[:, :, 1]).all() and (depth_map[:, :, 1] == depth_map[:, :, 2]).all()
    assert int(depth_map.max()) - int(depth_map.min()) > 100, "the estimate is scaled to the full range"


def test_capabilities_list_the_configured_preprocessors_and_each_models_tasks(client):
    caps = client.capabilities()
    assert list(caps.preprocessors) == [control_pb2.PREPROCESSOR_CANNY, control_pb2.PREPROCESSOR_DEPTH_ESTIMATE]
    models = {m.id: m for m in caps.models}
    assert models["tiny-depth2img"].family == "sd2-depth"
    assert list(models["tiny-depth2img"].tasks) == [service_pb2.TASK_TYPE_DEPTH2IMG]
    assert {service_pb2.TASK_TYPE_TXT2IMG, service_pb2.TASK_TYPE_IMG2IMG, service_pb2.TASK_TYPE_INPAINT,
            service_pb2.TASK_TYPE_DEPTH2IMG, service_pb2.TASK_TYPE_TEXTURE,
            service_pb2.TASK_TYPE_PREPROCESS} <= set(models["tiny"].tasks)


def test_a_preprocessor_without_an_estimator_is_refused_at_submit(client):
    with pytest.raises(grpc.RpcError) as error:
        client.submit(preprocess_task(control_pb2.CONTROL_TYPE_LINEART))
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "no 'lineart' estimator" in error.value.details()


def test_preprocess_cli_estimates_depth_from_a_photo(address, tmp_path):
    (tmp_path / "photo.png").write_bytes(encode_png(gradient_image()))
    out = tmp_path / "depth.png"
    run = cli("preprocess", "--server", address, "--control", f"depth={tmp_path / 'photo.png'}",
              "--preprocessor", "depth_estimate", "-o", out)
    assert run.returncode == 0, run.stderr
    assert pixels(out.read_bytes()).shape == (64, 64, 3)


# -- controlnet_aux annotators from local folders -------------------------------------------------------------


def save_random_weights(path, module_class, *, drop_first_key_part=False, wrap_in=None) -> None:
    """Random weights in the key layout a controlnet_aux file has, kept small: the module is built on the meta
    device (shapes only) and every tensor is a view into one shared random pool, which torch.save stores once."""
    with torch.device("meta"):
        state = module_class().state_dict()
    pool = torch.randn(max(t.numel() for t in state.values()), generator=torch.Generator().manual_seed(0)) * 0.05
    weights = {}
    for key, tensor in state.items():
        # controlnet_aux's OpenPose loader maps file keys to the model's by dropping the first name part.
        name = key.split(".", 1)[1] if drop_first_key_part else key
        weights[name] = pool[: tensor.numel()].view(tensor.shape) if tensor.is_floating_point() \
            else torch.zeros(tensor.shape, dtype=tensor.dtype)
    torch.save({wrap_in: weights} if wrap_in else weights, path)


@pytest.fixture(scope="module")
def annotator_folders(tmp_path_factory):
    from controlnet_aux.hed import ControlNetHED_Apache2
    from controlnet_aux.lineart import Generator
    from controlnet_aux.open_pose.face import FaceNet
    from controlnet_aux.open_pose.model import bodypose_model, handpose_model

    root = tmp_path_factory.mktemp("annotators")
    folders = {kind: root / kind for kind in ("openpose", "lineart", "softedge", "empty")}
    for folder in folders.values():
        folder.mkdir()
    save_random_weights(folders["openpose"] / "body_pose_model.pth", bodypose_model, drop_first_key_part=True)
    save_random_weights(folders["openpose"] / "hand_pose_model.pth", handpose_model, drop_first_key_part=True)
    save_random_weights(folders["openpose"] / "facenet.pth", FaceNet)
    for name in ("sk_model.pth", "sk_model2.pth"):
        save_random_weights(folders["lineart"] / name, lambda: Generator(3, 1, 3))
    save_random_weights(folders["softedge"] / "ControlNetHED.pth", ControlNetHED_Apache2)
    return folders


@pytest.fixture(scope="module")
def annotator_client(tmp_path_factory, annotator_folders):
    from dccbridge.client import Client

    catalog = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    catalog.write_text(f"""
[models.tiny]
source = "builtin:tiny"

[estimators.depth]
source = "builtin:tiny-dpt"
[estimators.openpose]
source = "{annotator_folders['openpose']}"
[estimators.lineart]
source = "{annotator_folders['lineart']}"
[estimators.softedge]
source = "{annotator_folders['softedge']}"
""")
    # controlnet_aux ships .pth (pickle) files only; the operator opts in, and they load with weights_only=True.
    with running_server(tmp_path_factory.mktemp("data"), models=catalog, allow_pickle=True) as server:
        with Client(f"127.0.0.1:{server.port}") as client:
            yield client


@pytest.mark.parametrize(("control_type", "preprocessor"), [
    (control_pb2.CONTROL_TYPE_OPENPOSE, control_pb2.PREPROCESSOR_UNSPECIFIED),  # openpose_detect, its natural one
    (control_pb2.CONTROL_TYPE_LINEART, control_pb2.PREPROCESSOR_LINEART),
    (control_pb2.CONTROL_TYPE_SOFTEDGE, control_pb2.PREPROCESSOR_SOFTEDGE),
], ids=["openpose", "lineart", "softedge"])
def test_annotators_run_from_local_weight_folders(annotator_client, control_type, preprocessor):
    assert control_map(annotator_client, preprocess_task(control_type, preprocessor)).shape == (32, 48, 3)


def test_capabilities_list_every_configured_estimator(annotator_client):
    assert set(annotator_client.capabilities().preprocessors) == {
        control_pb2.PREPROCESSOR_CANNY, control_pb2.PREPROCESSOR_DEPTH_ESTIMATE,
        control_pb2.PREPROCESSOR_OPENPOSE_DETECT, control_pb2.PREPROCESSOR_LINEART, control_pb2.PREPROCESSOR_SOFTEDGE}


def test_a_depth_model_folder_loads_through_the_auto_classes(tmp_path):
    from dccbridge.models.estimators import estimate_depth
    from dccbridge.models.tiny import build_tiny_dpt

    model, processor = build_tiny_dpt()
    model.save_pretrained(tmp_path)  # config.json + model.safetensors, as a DPT / Depth Anything repository has
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = load_estimator("depth", str(tmp_path), Placement(torch.device("cpu"), torch.float32))
    rgb = gradient_image()
    assert np.array_equal(estimate_depth(loaded, loaded_processor, rgb), estimate_depth(model, processor, rgb))


def test_missing_annotator_weights_name_the_files(annotator_folders):
    with pytest.raises(ModelUnavailable) as error:
        load_estimator("openpose", str(annotator_folders["empty"]), Placement(torch.device("cpu"), torch.float32,
                                                                               allow_pickle=True))
    assert "body_pose_model.pth, hand_pose_model.pth, facenet.pth" in error.value.message
    assert "lllyasviel/Annotators" in error.value.message


def test_pickle_annotator_weights_are_refused_unless_the_operator_opts_in(annotator_folders):
    with pytest.raises(ModelUnavailable) as error:
        load_estimator("lineart", str(annotator_folders["lineart"]), Placement(torch.device("cpu"), torch.float32))
    assert "--allow-pickle" in error.value.message


def test_catalog_estimator_tables_are_checked(tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text('[models.m]\nsource = "builtin:tiny"\n[estimators.sketch]\nsource = "x/y"\n')
    with pytest.raises(ValueError, match=r"estimators\.sketch: unknown estimator kind"):
        Catalog.from_toml(path)
    path.write_text('[models.m]\nsource = "builtin:tiny"\n[estimators.depth]\nsource = "owner/dpt"\n')
    assert Catalog.from_toml(path).estimators == {"depth": "owner/dpt"}
