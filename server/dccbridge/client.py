"""A Python client for the v1 gRPC service, used by the CLI, tests, benchmarks and scripts.

No torch: it reads inputs from files (images, depth as .npy/.exr/16-bit PNG, OpenPose JSON) and
turns them into v1 messages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import grpc
import numpy as np

from .imaging import sniff_mime
from .v1 import control_pb2, jobs_pb2, media_pb2, service_pb2, service_pb2_grpc, tasks_pb2

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEPTH_ENCODINGS = {
    "linear": media_pb2.DEPTH_ENCODING_LINEAR,
    "inverse": media_pb2.DEPTH_ENCODING_INVERSE,
    "normalized": media_pb2.DEPTH_ENCODING_NORMALIZED,
}
# CLI spellings of DepthNormalization ("auto" = unspecified: the model family's default)
DEPTH_NORMALIZATIONS = {
    "auto": media_pb2.DEPTH_NORMALIZATION_UNSPECIFIED,
    "percentile": media_pb2.DEPTH_NORMALIZATION_PERCENTILE,
    "minmax": media_pb2.DEPTH_NORMALIZATION_MIN_MAX,
    "nearfar": media_pb2.DEPTH_NORMALIZATION_NEAR_FAR,
}
CONTROL_TYPES = {
    name.removeprefix("CONTROL_TYPE_").lower(): value
    for name, value in control_pb2.ControlType.items()
    if value != control_pb2.CONTROL_TYPE_UNSPECIFIED
}


class Client:
    """token: sent as `authorization: Bearer <token>`. TLS: root_certificates (PEM bytes) trusts that CA;
    tls=True alone trusts the system's CAs."""

    def __init__(self, address: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, client_name: str = "",
                 token: str | None = None, root_certificates: bytes | None = None, tls: bool = False):
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if tls or root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.stub = service_pb2_grpc.DccBridgeServiceStub(self.channel)
        metadata = []
        if client_name:
            metadata.append(("dccbridge-client", client_name))
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        self.metadata = tuple(metadata)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def capabilities(self, timeout: float | None = 30) -> service_pb2.GetCapabilitiesResponse:
        return self.stub.GetCapabilities(service_pb2.GetCapabilitiesRequest(), timeout=timeout, metadata=self.metadata)

    def submit(self, task: tasks_pb2.Task, options: jobs_pb2.JobOptions | None = None) -> jobs_pb2.Job:
        request = service_pb2.SubmitRequest(task=task, options=options)
        return self.stub.Submit(request, metadata=self.metadata).job

    def run(self, task: tasks_pb2.Task, options: jobs_pb2.JobOptions | None = None) -> Iterator[jobs_pb2.JobEvent]:
        return self.stub.Run(service_pb2.SubmitRequest(task=task, options=options), metadata=self.metadata)

    def watch(self, job_id: str, after_sequence: int = 0) -> Iterator[jobs_pb2.JobEvent]:
        return self.stub.Watch(service_pb2.WatchRequest(job_id=job_id, after_sequence=after_sequence),
                               metadata=self.metadata)

    def get_job(self, job_id: str, wait_ms: int = 0, after_sequence: int = 0,
                omit_image_data: bool = False) -> jobs_pb2.Job:
        request = service_pb2.GetJobRequest(job_id=job_id, wait_ms=wait_ms, after_sequence=after_sequence,
                                            omit_image_data=omit_image_data)
        return self.stub.GetJob(request, metadata=self.metadata).job

    def cancel(self, job_id: str) -> jobs_pb2.Job:
        return self.stub.Cancel(service_pb2.CancelRequest(job_id=job_id), metadata=self.metadata).job

    def list_jobs(self, page_size: int = 50, page_token: str = "", states=(), **filters) -> service_pb2.ListJobsResponse:
        """filters: ListJobsRequest's client, task_types, created_after_ms, created_before_ms, text, model_id,
        thumbnail_size."""
        request = service_pb2.ListJobsRequest(page_size=page_size, page_token=page_token, states=list(states),
                                              **filters)
        return self.stub.ListJobs(request, metadata=self.metadata)

    def wait_result(self, job_id: str, timeout_s: float = 600) -> jobs_pb2.Job:
        """Long-poll until the job ends; the path for clients that cannot read streams."""
        import time

        deadline = time.monotonic() + timeout_s
        job = self.get_job(job_id, omit_image_data=True)
        while job.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {jobs_pb2.JobState.Name(job.state)} after {timeout_s} s")
            job = self.get_job(job_id, wait_ms=10_000, after_sequence=job.sequence, omit_image_data=True)
        return self.get_job(job_id)


# -- building messages from files -----------------------------------------------------------------


def image_message(path_or_bytes) -> media_pb2.Image:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return media_pb2.Image(data=data, mime_type=sniff_mime(data))


def depth_pass_from_array(depth: np.ndarray, encoding: str = "linear", near: float = 0.0,
                          far: float = 0.0, normalization: str = "auto") -> media_pb2.DepthPass:
    plane = np.ascontiguousarray(depth, dtype="<f4")
    if plane.ndim == 3:
        plane = np.ascontiguousarray(plane[:, :, 0])
    height, width = plane.shape
    return media_pb2.DepthPass(float32_le=plane.tobytes(), width=width, height=height,
                               encoding=DEPTH_ENCODINGS[encoding], near=near, far=far,
                               normalization=depth_normalization(normalization))


def depth_normalization(name: str) -> int:
    """A DepthNormalization from its CLI spelling (auto, percentile, minmax, nearfar)."""
    key = name.strip().lower().replace("_", "").replace("-", "")
    if key not in DEPTH_NORMALIZATIONS:
        raise ValueError(f"depth normalization '{name}': expected one of {', '.join(DEPTH_NORMALIZATIONS)}")
    return DEPTH_NORMALIZATIONS[key]


def depth_pass_from_file(path: str | Path, encoding: str = "linear", near: float = 0.0, far: float = 0.0,
                         png16_scale: float = 1.0, normalization: str = "auto") -> media_pb2.DepthPass:
    """.npy float plane, .exr (first channel) or a single-channel 16-bit PNG."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return depth_pass_from_array(np.load(path), encoding, near, far, normalization)
    if suffix == ".exr":
        return depth_pass_from_array(read_exr_depth(path), encoding, near, far, normalization)
    if suffix == ".png":
        import cv2

        data = path.read_bytes()
        plane = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if plane is None or plane.dtype != np.uint16 or plane.ndim != 2:
            raise ValueError(f"{path}: a depth PNG must be single-channel 16-bit")
        height, width = plane.shape
        return media_pb2.DepthPass(png16=data, width=width, height=height, encoding=DEPTH_ENCODINGS[encoding],
                                   near=near, far=far, png16_scale=png16_scale,
                                   normalization=depth_normalization(normalization))
    raise ValueError(f"{path}: depth must be .npy, .exr or 16-bit .png")


# Where hosts put depth in an EXR: Blender's multilayer "<layer>.Depth.Z" / "Z", a File Output slot's "V",
# a luminance "Y", else the first colour channel.
EXR_DEPTH_CHANNELS = ("Z", "V", "Y", "R")


def read_exr_depth(path: str | Path) -> np.ndarray:
    """The depth plane of an EXR (OpenEXR bindings: OpenCV's wheels are built without EXR)."""
    import OpenEXR

    with OpenEXR.File(str(path)) as exr:
        channels = {name: channel.pixels for name, channel in exr.channels().items()}
    for wanted in EXR_DEPTH_CHANNELS:
        for name, pixels in channels.items():
            if name == wanted or name.endswith("." + wanted) or (wanted == "R" and name in ("RGB", "RGBA")):
                plane = pixels if pixels.ndim == 2 else pixels[:, :, 0]
                return np.asarray(plane, dtype=np.float32)
    raise ValueError(f"{path}: no depth channel (looked for {', '.join(EXR_DEPTH_CHANNELS)}); has {list(channels)}")


def pose_rig_from_openpose_json(path_or_data) -> media_pb2.PoseRig:
    """OpenPose JSON (people[].pose_keypoints_2d as x, y, confidence triples; canvas_width/height)."""
    data = path_or_data if isinstance(path_or_data, dict) else json.loads(Path(path_or_data).read_text())
    rig = media_pb2.PoseRig(canvas_width=int(data.get("canvas_width", 0)), canvas_height=int(data.get("canvas_height", 0)))

    def points(flat):
        return [media_pb2.Keypoint(x=flat[i], y=flat[i + 1], visible=flat[i + 2] > 0) for i in range(0, len(flat), 3)]

    for person in data.get("people", []):
        rig.people.add(
            body=points(person.get("pose_keypoints_2d", [])),
            left_hand=points(person.get("hand_left_keypoints_2d") or []),
            right_hand=points(person.get("hand_right_keypoints_2d") or []),
            face=points(person.get("face_keypoints_2d") or []),
        )
    return rig


def parse_lora(spec: str) -> tuple[str, float | None]:
    """'ID' or 'ID:WEIGHT' (as the CLI's --lora takes it) -> (id, weight or None for the server's 1.0)."""
    lora_id, sep, weight = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if not lora_id:
        raise ValueError(f"--lora '{spec}': expected ID or ID:WEIGHT")
    if not sep:
        return lora_id, None
    try:
        return lora_id, float(weight)
    except ValueError:
        raise ValueError(f"--lora '{spec}': the weight '{weight}' is not a number (ID:WEIGHT, e.g. style:0.8)") from None


def adapters_message(loras=(), embeddings=(), vae_id: str = "") -> tasks_pb2.Adapters:
    """A job's Adapters: loras as ids, (id, weight) pairs or 'ID:WEIGHT' strings; embedding ids; a VAE id."""
    message = tasks_pb2.Adapters(embeddings=list(embeddings), vae_id=vae_id)
    for lora in loras:
        lora_id, weight = parse_lora(lora) if isinstance(lora, str) else lora
        ref = message.loras.add(id=lora_id)
        if weight is not None:
            ref.weight = weight
    return message


def control_unit_from_file(kind: str, path: str | Path, *, weight: float | None = None, start: float | None = None,
                           end: float | None = None, depth_encoding: str = "linear", near: float = 0.0,
                           far: float = 0.0, canny_low: int | None = None,
                           canny_high: int | None = None, depth_normalization: str = "auto") -> control_pb2.ControlUnit:
    """What a file means for a unit type: canny=image (preprocessed on the server); depth=.npy/.exr/16-bit PNG
    (a depth pass) or an 8-bit image (a ready map); openpose=.json (a pose rig) or an image (a ready map)."""
    if kind not in CONTROL_TYPES:
        raise ValueError(f"unknown control type '{kind}'; choose one of: {', '.join(CONTROL_TYPES)}")
    unit = control_pb2.ControlUnit(control_type=CONTROL_TYPES[kind])
    if weight is not None:
        unit.controlnet_conditioning_scale = weight
    if start is not None:
        unit.control_guidance_start = start
    if end is not None:
        unit.control_guidance_end = end
    path = Path(path)
    suffix = path.suffix.lower()
    if kind == "depth" and (suffix in (".npy", ".exr") or (suffix == ".png" and _is_16bit_png(path))):
        unit.depth_pass.CopyFrom(depth_pass_from_file(path, depth_encoding, near, far,
                                                      normalization=depth_normalization))
    elif kind == "openpose" and suffix == ".json":
        unit.pose_rig.CopyFrom(pose_rig_from_openpose_json(path))
    elif kind == "canny":
        unit.preprocess.image.CopyFrom(image_message(path))
        unit.preprocess.preprocessor = control_pb2.PREPROCESSOR_CANNY
        if canny_low is not None:
            unit.preprocess.canny.low_threshold = canny_low
        if canny_high is not None:
            unit.preprocess.canny.high_threshold = canny_high
    else:
        unit.image.CopyFrom(image_message(path))
    return unit


def _is_16bit_png(path: Path) -> bool:
    header = path.read_bytes()[:26]
    return header.startswith(b"\x89PNG") and header[24] == 16


OUTPAINT_FILLS = {"edge": tasks_pb2.OUTPAINT_FILL_EDGE, "telea": tasks_pb2.OUTPAINT_FILL_INPAINT_TELEA,
                  "ns": tasks_pb2.OUTPAINT_FILL_INPAINT_NS}
ANCHORS = {name.removeprefix("ANCHOR_").lower(): value for name, value in tasks_pb2.Anchor.items()
           if value != tasks_pb2.ANCHOR_UNSPECIFIED}


def outpaint_task(image, prompt: str = "", *, margins: tuple[int, int, int, int] | None = None,
                  aspect: tuple[int, int] | None = None, anchor: str = "", feather: int | None = None,
                  fill: str = "edge", strength: float | None = None, model_id: str = "", negative_prompt: str = "",
                  sampling: tasks_pb2.Sampling | None = None, adapters: tasks_pb2.Adapters | None = None
                  ) -> tasks_pb2.Task:
    """An outpaint Task: image (a path, bytes or an Image message) extended by margins (left, top, right, bottom
    pixels) or to aspect (w, h) placed by anchor ("center", "top_left", ...); fill "edge", "telea" or "ns"."""
    task = tasks_pb2.OutpaintTask(
        model_id=model_id, prompt=prompt, negative_prompt=negative_prompt,
        image=image if isinstance(image, media_pb2.Image) else image_message(image),
        fill=OUTPAINT_FILLS[fill], sampling=sampling, adapters=adapters,
    )
    if margins is not None:
        task.margins.CopyFrom(tasks_pb2.Margins(left=margins[0], top=margins[1], right=margins[2],
                                                bottom=margins[3]))
    if aspect is not None:
        task.aspect.CopyFrom(tasks_pb2.AspectRatio(width=aspect[0], height=aspect[1]))
    if anchor:
        task.anchor = ANCHORS[anchor]
    if feather is not None:
        task.feather = feather
    if strength is not None:
        task.strength = strength
    return tasks_pb2.Task(outpaint=task)
