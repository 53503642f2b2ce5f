"""GetCapabilities: what this server offers, built from the catalog, the device and the limits."""

from __future__ import annotations

from .. import API_VERSION, __version__, families
from ..domain import ControlType, Preprocessor
from ..v1 import service_pb2
from .convert import CONTROL_TYPE_TO_PROTO, PREPROCESSOR_TO_PROTO

GENERATE_TASKS = (service_pb2.TASK_TYPE_TXT2IMG, service_pb2.TASK_TYPE_IMG2IMG, service_pb2.TASK_TYPE_INPAINT)
UPSCALER_KIND_LABELS = {"esrgan": "ESRGAN", "sd_x4": "SD x4"}
FEATURES = ("previews", "long_poll", "depth_pass", "pose_rig", "cancel", "job_index", "multi_controlnet",
            "reference_images")
# Preprocessors that need no weights; others appear when an estimator for them is configured.
BUILTIN_PREPROCESSORS = (Preprocessor.CANNY,)


def build_capabilities(manager, limits, max_message_bytes: int, max_queue: int, scheduler_options,
                       estimators=None, store_kind: str = "") -> service_pb2.GetCapabilitiesResponse:
    """store_kind: the job index ("sqlite", "postgresql"), advertised as the feature "job_store:KIND"."""
    catalog = manager.catalog
    device = manager.describe_device()
    response = service_pb2.GetCapabilitiesResponse(
        server_version=__version__,
        api_version=API_VERSION,
        device=service_pb2.DeviceInfo(
            type=device["type"], name=device["name"], dtype=device["dtype"], memory_bytes=device["memory_bytes"],
            profile=device.get("profile", ""),
        ),
        default_model_id=catalog.default_id,
        limits=service_pb2.Limits(
            max_width=limits.max_width,
            max_height=limits.max_height,
            max_pixels=limits.max_pixels,
            max_batch=limits.max_batch,
            max_steps=limits.max_steps,
            max_control_units=limits.max_control_units,
            max_message_bytes=max_message_bytes,
            max_queue=max_queue,
            size_multiple=limits.size_multiple,
            max_reference_images=limits.max_reference_images,
        ),
        features=list(FEATURES) + ([f"job_store:{store_kind}"] if store_kind else []),
    )
    for model_id in catalog.ids():
        entry = catalog.get(model_id)
        response.models.add(
            id=entry.id,
            family=entry.family,
            tasks=model_tasks(entry),
            control_types=[CONTROL_TYPE_TO_PROTO[t] for t in entry.controlnets]
            + ([CONTROL_TYPE_TO_PROTO[ControlType.REFERENCE]] if entry.ip_adapters else []),
            is_default=entry.id == catalog.default_id,
            loaded=manager.is_loaded(entry.id),
            default_width=entry.default_width,
            default_height=entry.default_height,
            default_steps=entry.default_steps,
            default_guidance_scale=entry.default_guidance_scale,
            default_scheduler=entry.default_scheduler,
            description=entry.description,
            profile=manager.model_profile(entry.id).summary(),
            taesd_previews=bool(entry.preview_vae),
            reference_adapters=[service_pb2.NamedOption(id=a.id, label=a.label, description=a.description)
                                for a in entry.ip_adapters.values()],
        )
    for scheduler_id, label in scheduler_options:
        response.schedulers.add(id=scheduler_id, label=label)
    for upscaler in catalog.upscalers():
        # The label names the kind, which decides the method: esrgan -> ESRGAN, sd_x4 -> SD_X4.
        response.upscalers.add(id=upscaler.id, label=f"{upscaler.id} ({UPSCALER_KIND_LABELS[upscaler.kind]})",
                               description=upscaler.description)
    add_adapters(response, catalog.adapters, manager.allow_pickle)
    add_face_models(response, catalog.faces)
    available = set(BUILTIN_PREPROCESSORS) | set(getattr(estimators, "available", ()) or ())
    response.preprocessors.extend(PREPROCESSOR_TO_PROTO[p] for p in Preprocessor if p in available)
    return response


def add_adapters(response, adapters, allow_pickle: bool) -> None:
    """LoRAs, embeddings and VAEs per family, scanned now (files dropped into the folders appear at once)."""
    for kind, listing in (("loras", response.loras), ("embeddings", response.embeddings), ("vaes", response.vaes)):
        for item in adapters.available(kind, allow_pickle=allow_pickle):
            listing.add(id=item.id, family=item.family, label=f"{item.id} ({item.family})",
                        description=item.description, token=item.id if kind == "embeddings" else "")


def model_tasks(entry) -> list[int]:
    """The TASK_TYPE_* a catalog model runs, in the enum's order (which family runs what: families.py)."""
    if getattr(entry, "inpainting", False):  # a 9-channel inpainting model runs nothing else
        return [service_pb2.TASK_TYPE_INPAINT, service_pb2.TASK_TYPE_OUTPAINT]
    tasks = []
    if entry.family in families.GENERATE_FAMILIES:
        tasks += [*GENERATE_TASKS, service_pb2.TASK_TYPE_PREPROCESS, service_pb2.TASK_TYPE_OUTPAINT]
    if entry.family in families.TEXTURE_FAMILIES:
        tasks.append(service_pb2.TASK_TYPE_TEXTURE)
    if entry.family in families.DEPTH2IMG_FAMILIES or (
            entry.family in families.CONTROLNET_DEPTH2IMG_FAMILIES and ControlType.DEPTH in entry.controlnets):
        tasks.append(service_pb2.TASK_TYPE_DEPTH2IMG)
    if entry.family in families.TILED_UPSCALE_FAMILIES:
        tasks.append(service_pb2.TASK_TYPE_UPSCALE)
    return sorted(tasks)


def add_replicas(response, replicas: list[dict]) -> None:
    """Cluster mode: each replica as it reports itself (cluster/worker.py `info`); a model any replica holds is
    listed as loaded."""
    for info in replicas:
        device = info.get("device") or {}
        response.replicas.add(
            replica_id=info.get("replica_id", ""), node=info.get("node", ""), state=info.get("state", ""),
            pid=int(info.get("pid", 0)), jobs_done=int(info.get("jobs_done", 0)),
            loaded_models=list(info.get("loaded_models", ())),
            device=service_pb2.DeviceInfo(type=device.get("type", ""), name=device.get("name", ""),
                                          dtype=device.get("dtype", ""),
                                          memory_bytes=int(device.get("memory_bytes", 0)),
                                          profile=device.get("profile", "")),
        )
    held = {model_id for info in replicas for model_id in info.get("loaded_models", ())}
    for model in response.models:
        model.loaded = model.loaded or model.id in held


def add_face_models(response, faces) -> None:
    """Face restorers with their licences (several are non-commercial) and the face detectors."""
    for entry in faces.restorers.values():
        response.restorers.add(
            id=entry.id, architecture=entry.architecture, description=entry.description, license=entry.license,
            commercial_use=entry.commercial_use, is_default=entry.id == faces.default_restorer,
            has_fidelity=entry.architecture == "CodeFormer", face_size=entry.face_size,
        )
    for entry in faces.detectors.values():
        response.face_detectors.add(
            id=entry.id, architecture=entry.architecture, description=entry.description, license=entry.license,
            commercial_use=entry.commercial_use, is_default=entry.id == faces.default_detector,
        )
    if faces.restorers and faces.detectors:
        response.features.append("restore_faces")
