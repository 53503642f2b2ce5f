"""Plain-data requests and results: what an op receives and returns.

The wire (protobuf) is converted to these in api/convert.py and nowhere else. Images stay
encoded bytes here; ops decode them (dccbridge.imaging) so a bad image is an InvalidInput
that names its field.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Union

import numpy as np


class ControlType(str, enum.Enum):
    CANNY = "canny"
    DEPTH = "depth"
    OPENPOSE = "openpose"
    LINEART = "lineart"
    SOFTEDGE = "softedge"
    SCRIBBLE = "scribble"
    NORMAL = "normal"
    TILE = "tile"
    REFERENCE = "reference"  # an IP-Adapter image prompt, not a ControlNet (ops/reference.py)


class Preprocessor(str, enum.Enum):
    CANNY = "canny"
    DEPTH_ESTIMATE = "depth_estimate"
    OPENPOSE_DETECT = "openpose_detect"
    LINEART = "lineart"
    SOFTEDGE = "softedge"


class DepthEncoding(str, enum.Enum):
    LINEAR = "linear"          # distance from the camera; background = inf or >= far
    INVERSE = "inverse"        # disparity; larger is nearer; background <= 0
    NORMALIZED = "normalized"  # already a map in [0, 1], near = 1


class DepthNormalization(str, enum.Enum):
    """How LINEAR / INVERSE inverse depth becomes [0, 1] (control/depth.py); families.py has each family's default."""

    PERCENTILE = "percentile"  # 2nd..98th percentile of the foreground
    MIN_MAX = "min_max"        # min..max of the foreground, as the ControlNet annotators scale
    NEAR_FAR = "near_far"      # fixed: 1/far..1/near, the same for every frame


class TaskType(str, enum.Enum):
    GENERATE = "generate"
    DEPTH2IMG = "depth2img"
    TEXTURE = "texture"
    UPSCALE = "upscale"
    PREPROCESS = "preprocess"
    OUTPAINT = "outpaint"
    RESTORE_FACES = "restore_faces"


class TilingAxes(str, enum.Enum):
    NONE = "none"
    X = "x"
    Y = "y"
    BOTH = "both"


class NormalConvention(str, enum.Enum):
    OPENGL = "opengl"    # +Y up (Blender, Unity)
    DIRECTX = "directx"  # -Y (Unreal, Substance DX)


class UpscaleMethod(str, enum.Enum):
    AUTO = "auto"  # the best the server has
    LANCZOS = "lanczos"
    ESRGAN = "esrgan"
    SD_X4 = "sd_x4"
    TILED_DIFFUSION = "tiled_diffusion"


class OutpaintFill(str, enum.Enum):
    EDGE = "edge"                    # border pixels replicated outward, blurred more with distance
    INPAINT_TELEA = "inpaint_telea"  # cv2.inpaint, Telea's fast marching
    INPAINT_NS = "inpaint_ns"        # cv2.inpaint, Navier-Stokes


class Anchor(str, enum.Enum):
    """Where the original sits in an outpaint result grown to an aspect ratio."""

    CENTER = "center"
    TOP_LEFT = "top_left"
    TOP = "top"
    TOP_RIGHT = "top_right"
    LEFT = "left"
    RIGHT = "right"
    BOTTOM_LEFT = "bottom_left"
    BOTTOM = "bottom"
    BOTTOM_RIGHT = "bottom_right"


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class ImageInput:
    """An encoded image as it came over the wire."""

    data: bytes
    mime_type: str = ""

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class DepthPassInput:
    width: int
    height: int
    encoding: DepthEncoding
    near: float = 0.0
    far: float = 0.0
    float32_le: bytes | None = None
    png16: bytes | None = None
    png16_scale: float = 1.0
    normalization: DepthNormalization | None = None  # None: the model family's default (families.py)


@dataclass(frozen=True)
class Keypoint:
    x: float
    y: float
    visible: bool = True


@dataclass(frozen=True)
class PosePerson:
    body: tuple[Keypoint, ...]          # 18, OpenPose COCO-18 order
    left_hand: tuple[Keypoint, ...] = ()   # 21 or empty
    right_hand: tuple[Keypoint, ...] = ()  # 21 or empty
    face: tuple[Keypoint, ...] = ()        # 70 or empty


@dataclass(frozen=True)
class PoseRigInput:
    canvas_width: int
    canvas_height: int
    people: tuple[PosePerson, ...]


@dataclass(frozen=True)
class PreprocessInput:
    image: ImageInput
    preprocessor: Preprocessor | None = None  # None: the control type's natural preprocessor
    canny_low: int | None = None
    canny_high: int | None = None


@dataclass(frozen=True)
class ReferenceImagesInput:
    """The images of a REFERENCE unit (an IP-Adapter image prompt) and their relative weights (empty: equal)."""

    images: tuple[ImageInput, ...]
    weights: tuple[float, ...] = ()


ControlSource = Union[ImageInput, PreprocessInput, DepthPassInput, PoseRigInput, ReferenceImagesInput]


@dataclass(frozen=True)
class ControlUnitSpec:
    control_type: ControlType
    source: ControlSource
    conditioning_scale: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    controlnet_id: str = ""
    adapter_id: str = ""  # REFERENCE units: the IP-Adapter of the model's catalog entry ("" = its first)

    @property
    def is_reference(self) -> bool:
        return self.control_type is ControlType.REFERENCE


@dataclass(frozen=True)
class LoraSpec:
    id: str
    weight: float = 1.0


@dataclass(frozen=True)
class AdapterSpec:
    """Per-job additions to a model from the catalog's folders: LoRAs with weights, textual-inversion
    embeddings (id = prompt token) and a VAE override. They apply to one job and are reverted after it."""

    loras: tuple[LoraSpec, ...] = ()
    embeddings: tuple[str, ...] = ()
    vae_id: str = ""

    def __bool__(self) -> bool:
        return bool(self.loras or self.embeddings or self.vae_id)


@dataclass(frozen=True)
class Sampling:
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str = ""
    seed: int | None = None  # None or -1: random, reported with the result
    num_images_per_prompt: int = 1


@dataclass(frozen=True)
class FaceDetectionSpec:
    """How faces are found (docs/face-restoration.md); None fields take the server's defaults."""

    detector_id: str = ""          # "" = the catalog's default face detector
    threshold: float | None = None  # minimum detector score, (0, 1); None: 0.5
    max_faces: int | None = None    # largest first, 1..64; None: 16


@dataclass(frozen=True)
class FaceRestorationSpec:
    """Restore the faces of an image: detect, align to the restorer's template, restore, paste back blended."""

    restorer_id: str = ""          # "" = the catalog's default restorer
    strength: float | None = None  # share of the restored face in the result, [0, 1]; None: 1.0
    fidelity: float | None = None  # CodeFormer's w, [0, 1]; None: 0.5 (refused for restorers without one)
    detection: FaceDetectionSpec = field(default_factory=FaceDetectionSpec)


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    model_id: str = ""
    negative_prompt: str = ""
    width: int = 0   # 0: init image's size, else the model default
    height: int = 0
    sampling: Sampling = field(default_factory=Sampling)
    init_image: ImageInput | None = None
    strength: float | None = None
    mask_image: ImageInput | None = None
    control_units: tuple[ControlUnitSpec, ...] = ()
    adapters: AdapterSpec = field(default_factory=AdapterSpec)
    restore_faces: FaceRestorationSpec | None = None  # finishing step after the main result

    task_type = TaskType.GENERATE

    @property
    def mode(self) -> str:
        if self.mask_image is not None:
            return "inpaint"
        if self.init_image is not None:
            return "img2img"
        return "txt2img"


@dataclass(frozen=True)
class Depth2ImgRequest:
    prompt: str
    model_id: str = ""
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    sampling: Sampling = field(default_factory=Sampling)
    init_image: ImageInput | None = None
    strength: float | None = None
    depth_pass: DepthPassInput | None = None  # None: estimate depth from init_image on the server
    adapters: AdapterSpec = field(default_factory=AdapterSpec)

    task_type = TaskType.DEPTH2IMG


@dataclass(frozen=True)
class CameraSpec:
    camera_to_world: tuple[float, ...] = ()  # 16 floats, row-major
    projection: str = "perspective"          # or "orthographic"
    fov_y_degrees: float = 0.0
    ortho_height: float = 0.0
    near: float = 0.0
    far: float = 0.0
    width: int = 0
    height: int = 0
    host: str = ""


@dataclass(frozen=True)
class ProjectionView:
    depth_pass: DepthPassInput | None = None
    view_image: ImageInput | None = None
    camera: CameraSpec | None = None


@dataclass(frozen=True)
class TextureRequest:
    prompt: str
    model_id: str = ""
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    sampling: Sampling = field(default_factory=Sampling)
    tiling: TilingAxes = TilingAxes.NONE
    pbr_maps: bool = False
    normal_convention: NormalConvention = NormalConvention.OPENGL
    projection: ProjectionView | None = None
    control_units: tuple[ControlUnitSpec, ...] = ()
    init_image: ImageInput | None = None
    strength: float | None = None
    adapters: AdapterSpec = field(default_factory=AdapterSpec)

    task_type = TaskType.TEXTURE


@dataclass(frozen=True)
class UpscaleRequest:
    image: ImageInput
    method: UpscaleMethod = UpscaleMethod.AUTO
    upscaler_id: str = ""
    scale: float | None = None  # default 2
    model_id: str = ""           # SD_X4 / TILED_DIFFUSION
    prompt: str = ""
    negative_prompt: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    strength: float | None = None
    tile_size: int = 0      # output pixels; 0 = default
    tile_overlap: int = 0
    adapters: AdapterSpec = field(default_factory=AdapterSpec)  # TILED_DIFFUSION
    restore_faces: FaceRestorationSpec | None = None  # finishing step after the main result

    task_type = TaskType.UPSCALE


@dataclass(frozen=True)
class PreprocessRequest:
    unit: ControlUnitSpec
    width: int = 0
    height: int = 0

    task_type = TaskType.PREPROCESS
    model_id = ""


@dataclass(frozen=True)
class Margins:
    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0


@dataclass(frozen=True)
class OutpaintRequest:
    """Extend `image` by `margins` (pixels per side) or to `aspect` (width, height) placed by `anchor`."""

    image: ImageInput
    prompt: str = ""
    model_id: str = ""
    negative_prompt: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    margins: Margins | None = None
    aspect: tuple[int, int] | None = None
    anchor: Anchor | None = None  # None: center (aspect only)
    feather: int | None = None    # None: 32, or half the image's shorter side when smaller
    fill: OutpaintFill = OutpaintFill.EDGE
    strength: float | None = None  # None: 1.0 with an inpainting model, 0.85 with the base model
    adapters: AdapterSpec = field(default_factory=AdapterSpec)
    restore_faces: FaceRestorationSpec | None = None  # finishing step after the main result

    task_type = TaskType.OUTPAINT


@dataclass(frozen=True)
class RestoreFacesRequest:
    """Restore the faces of `image` (the task form of the finishing step)."""

    image: ImageInput
    restoration: FaceRestorationSpec = field(default_factory=FaceRestorationSpec)

    task_type = TaskType.RESTORE_FACES
    model_id = ""


@dataclass(frozen=True)
class JobOptions:
    preview_every_n_steps: int = 0
    preview_max_size: int = 256
    cancel_on_disconnect: bool = False
    label: str = ""
    omit_image_data: bool = False


@dataclass
class OutputImage:
    """One image an op produced. pixels: uint8 HxWx3 (RGB), HxWx4 (RGBA) or HxW (gray, e.g. a height map)."""

    pixels: np.ndarray
    role: str = "image"
    seed: int = 0
    index: int = 0
    parameters: str = ""  # A1111-style text


@dataclass
class OpOutput:
    images: list[OutputImage]
    metadata: dict = field(default_factory=dict)  # merged into the provenance JSON
    extra: dict = field(default_factory=dict)     # structured output for clients (Result.extra_json)


def to_plain(value):
    """A JSON-ready view of a request: bytes become their sha256 and length, enums their value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest(), "bytes": len(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
