from dccbridge.v1 import control_pb2 as _control_pb2
from dccbridge.v1 import faces_pb2 as _faces_pb2
from dccbridge.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TilingAxes(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TILING_AXES_UNSPECIFIED: _ClassVar[TilingAxes]
    TILING_AXES_NONE: _ClassVar[TilingAxes]
    TILING_AXES_X: _ClassVar[TilingAxes]
    TILING_AXES_Y: _ClassVar[TilingAxes]
    TILING_AXES_BOTH: _ClassVar[TilingAxes]

class NormalConvention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NORMAL_CONVENTION_UNSPECIFIED: _ClassVar[NormalConvention]
    NORMAL_CONVENTION_OPENGL: _ClassVar[NormalConvention]
    NORMAL_CONVENTION_DIRECTX: _ClassVar[NormalConvention]

class CameraProjection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMERA_PROJECTION_UNSPECIFIED: _ClassVar[CameraProjection]
    CAMERA_PROJECTION_PERSPECTIVE: _ClassVar[CameraProjection]
    CAMERA_PROJECTION_ORTHOGRAPHIC: _ClassVar[CameraProjection]

class UpscaleMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPSCALE_METHOD_UNSPECIFIED: _ClassVar[UpscaleMethod]
    UPSCALE_METHOD_LANCZOS: _ClassVar[UpscaleMethod]
    UPSCALE_METHOD_ESRGAN: _ClassVar[UpscaleMethod]
    UPSCALE_METHOD_SD_X4: _ClassVar[UpscaleMethod]
    UPSCALE_METHOD_TILED_DIFFUSION: _ClassVar[UpscaleMethod]

class Anchor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANCHOR_UNSPECIFIED: _ClassVar[Anchor]
    ANCHOR_CENTER: _ClassVar[Anchor]
    ANCHOR_TOP_LEFT: _ClassVar[Anchor]
    ANCHOR_TOP: _ClassVar[Anchor]
    ANCHOR_TOP_RIGHT: _ClassVar[Anchor]
    ANCHOR_LEFT: _ClassVar[Anchor]
    ANCHOR_RIGHT: _ClassVar[Anchor]
    ANCHOR_BOTTOM_LEFT: _ClassVar[Anchor]
    ANCHOR_BOTTOM: _ClassVar[Anchor]
    ANCHOR_BOTTOM_RIGHT: _ClassVar[Anchor]

class OutpaintFill(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPAINT_FILL_UNSPECIFIED: _ClassVar[OutpaintFill]
    OUTPAINT_FILL_EDGE: _ClassVar[OutpaintFill]
    OUTPAINT_FILL_INPAINT_TELEA: _ClassVar[OutpaintFill]
    OUTPAINT_FILL_INPAINT_NS: _ClassVar[OutpaintFill]
TILING_AXES_UNSPECIFIED: TilingAxes
TILING_AXES_NONE: TilingAxes
TILING_AXES_X: TilingAxes
TILING_AXES_Y: TilingAxes
TILING_AXES_BOTH: TilingAxes
NORMAL_CONVENTION_UNSPECIFIED: NormalConvention
NORMAL_CONVENTION_OPENGL: NormalConvention
NORMAL_CONVENTION_DIRECTX: NormalConvention
CAMERA_PROJECTION_UNSPECIFIED: CameraProjection
CAMERA_PROJECTION_PERSPECTIVE: CameraProjection
CAMERA_PROJECTION_ORTHOGRAPHIC: CameraProjection
UPSCALE_METHOD_UNSPECIFIED: UpscaleMethod
UPSCALE_METHOD_LANCZOS: UpscaleMethod
UPSCALE_METHOD_ESRGAN: UpscaleMethod
UPSCALE_METHOD_SD_X4: UpscaleMethod
UPSCALE_METHOD_TILED_DIFFUSION: UpscaleMethod
ANCHOR_UNSPECIFIED: Anchor
ANCHOR_CENTER: Anchor
ANCHOR_TOP_LEFT: Anchor
ANCHOR_TOP: Anchor
ANCHOR_TOP_RIGHT: Anchor
ANCHOR_LEFT: Anchor
ANCHOR_RIGHT: Anchor
ANCHOR_BOTTOM_LEFT: Anchor
ANCHOR_BOTTOM: Anchor
ANCHOR_BOTTOM_RIGHT: Anchor
OUTPAINT_FILL_UNSPECIFIED: OutpaintFill
OUTPAINT_FILL_EDGE: OutpaintFill
OUTPAINT_FILL_INPAINT_TELEA: OutpaintFill
OUTPAINT_FILL_INPAINT_NS: OutpaintFill

class Sampling(_message.Message):
    __slots__ = ("num_inference_steps", "guidance_scale", "scheduler", "seed", "num_images_per_prompt")
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    NUM_IMAGES_PER_PROMPT_FIELD_NUMBER: _ClassVar[int]
    num_inference_steps: int
    guidance_scale: float
    scheduler: str
    seed: int
    num_images_per_prompt: int
    def __init__(self, num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., scheduler: _Optional[str] = ..., seed: _Optional[int] = ..., num_images_per_prompt: _Optional[int] = ...) -> None: ...

class LoraRef(_message.Message):
    __slots__ = ("id", "weight")
    ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    id: str
    weight: float
    def __init__(self, id: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class Adapters(_message.Message):
    __slots__ = ("loras", "embeddings", "vae_id")
    LORAS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    VAE_ID_FIELD_NUMBER: _ClassVar[int]
    loras: _containers.RepeatedCompositeFieldContainer[LoraRef]
    embeddings: _containers.RepeatedScalarFieldContainer[str]
    vae_id: str
    def __init__(self, loras: _Optional[_Iterable[_Union[LoraRef, _Mapping]]] = ..., embeddings: _Optional[_Iterable[str]] = ..., vae_id: _Optional[str] = ...) -> None: ...

class GenerateTask(_message.Message):
    __slots__ = ("model_id", "prompt", "negative_prompt", "width", "height", "sampling", "init_image", "strength", "mask_image", "control_units", "adapters", "restore_faces")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    INIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    MASK_IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_UNITS_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FACES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    sampling: Sampling
    init_image: _media_pb2.Image
    strength: float
    mask_image: _media_pb2.Image
    control_units: _containers.RepeatedCompositeFieldContainer[_control_pb2.ControlUnit]
    adapters: Adapters
    restore_faces: _faces_pb2.FaceRestoration
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., init_image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., strength: _Optional[float] = ..., mask_image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., control_units: _Optional[_Iterable[_Union[_control_pb2.ControlUnit, _Mapping]]] = ..., adapters: _Optional[_Union[Adapters, _Mapping]] = ..., restore_faces: _Optional[_Union[_faces_pb2.FaceRestoration, _Mapping]] = ...) -> None: ...

class Depth2ImgTask(_message.Message):
    __slots__ = ("model_id", "prompt", "negative_prompt", "width", "height", "sampling", "init_image", "strength", "depth_pass", "adapters")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    INIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    DEPTH_PASS_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    sampling: Sampling
    init_image: _media_pb2.Image
    strength: float
    depth_pass: _media_pb2.DepthPass
    adapters: Adapters
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., init_image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., strength: _Optional[float] = ..., depth_pass: _Optional[_Union[_media_pb2.DepthPass, _Mapping]] = ..., adapters: _Optional[_Union[Adapters, _Mapping]] = ...) -> None: ...

class Camera(_message.Message):
    __slots__ = ("camera_to_world", "projection", "fov_y_degrees", "ortho_height", "near", "far", "width", "height", "host")
    CAMERA_TO_WORLD_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    FOV_Y_DEGREES_FIELD_NUMBER: _ClassVar[int]
    ORTHO_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    FAR_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    camera_to_world: _containers.RepeatedScalarFieldContainer[float]
    projection: CameraProjection
    fov_y_degrees: float
    ortho_height: float
    near: float
    far: float
    width: int
    height: int
    host: str
    def __init__(self, camera_to_world: _Optional[_Iterable[float]] = ..., projection: _Optional[_Union[CameraProjection, str]] = ..., fov_y_degrees: _Optional[float] = ..., ortho_height: _Optional[float] = ..., near: _Optional[float] = ..., far: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., host: _Optional[str] = ...) -> None: ...

class ProjectionView(_message.Message):
    __slots__ = ("depth_pass", "view_image", "camera")
    DEPTH_PASS_FIELD_NUMBER: _ClassVar[int]
    VIEW_IMAGE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    depth_pass: _media_pb2.DepthPass
    view_image: _media_pb2.Image
    camera: Camera
    def __init__(self, depth_pass: _Optional[_Union[_media_pb2.DepthPass, _Mapping]] = ..., view_image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., camera: _Optional[_Union[Camera, _Mapping]] = ...) -> None: ...

class TextureTask(_message.Message):
    __slots__ = ("model_id", "prompt", "negative_prompt", "width", "height", "sampling", "tiling", "pbr_maps", "normal_convention", "projection", "control_units", "init_image", "strength", "adapters")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    TILING_FIELD_NUMBER: _ClassVar[int]
    PBR_MAPS_FIELD_NUMBER: _ClassVar[int]
    NORMAL_CONVENTION_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    CONTROL_UNITS_FIELD_NUMBER: _ClassVar[int]
    INIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    sampling: Sampling
    tiling: TilingAxes
    pbr_maps: bool
    normal_convention: NormalConvention
    projection: ProjectionView
    control_units: _containers.RepeatedCompositeFieldContainer[_control_pb2.ControlUnit]
    init_image: _media_pb2.Image
    strength: float
    adapters: Adapters
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., tiling: _Optional[_Union[TilingAxes, str]] = ..., pbr_maps: _Optional[bool] = ..., normal_convention: _Optional[_Union[NormalConvention, str]] = ..., projection: _Optional[_Union[ProjectionView, _Mapping]] = ..., control_units: _Optional[_Iterable[_Union[_control_pb2.ControlUnit, _Mapping]]] = ..., init_image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., strength: _Optional[float] = ..., adapters: _Optional[_Union[Adapters, _Mapping]] = ...) -> None: ...

class UpscaleTask(_message.Message):
    __slots__ = ("image", "method", "upscaler_id", "scale", "model_id", "prompt", "negative_prompt", "sampling", "strength", "tile_size", "tile_overlap", "adapters", "restore_faces")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    UPSCALER_ID_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TILE_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FACES_FIELD_NUMBER: _ClassVar[int]
    image: _media_pb2.Image
    method: UpscaleMethod
    upscaler_id: str
    scale: float
    model_id: str
    prompt: str
    negative_prompt: str
    sampling: Sampling
    strength: float
    tile_size: int
    tile_overlap: int
    adapters: Adapters
    restore_faces: _faces_pb2.FaceRestoration
    def __init__(self, image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., method: _Optional[_Union[UpscaleMethod, str]] = ..., upscaler_id: _Optional[str] = ..., scale: _Optional[float] = ..., model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., strength: _Optional[float] = ..., tile_size: _Optional[int] = ..., tile_overlap: _Optional[int] = ..., adapters: _Optional[_Union[Adapters, _Mapping]] = ..., restore_faces: _Optional[_Union[_faces_pb2.FaceRestoration, _Mapping]] = ...) -> None: ...

class PreprocessTask(_message.Message):
    __slots__ = ("unit", "width", "height")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    unit: _control_pb2.ControlUnit
    width: int
    height: int
    def __init__(self, unit: _Optional[_Union[_control_pb2.ControlUnit, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Margins(_message.Message):
    __slots__ = ("left", "top", "right", "bottom")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    RIGHT_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_FIELD_NUMBER: _ClassVar[int]
    left: int
    top: int
    right: int
    bottom: int
    def __init__(self, left: _Optional[int] = ..., top: _Optional[int] = ..., right: _Optional[int] = ..., bottom: _Optional[int] = ...) -> None: ...

class AspectRatio(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class OutpaintTask(_message.Message):
    __slots__ = ("model_id", "prompt", "negative_prompt", "sampling", "image", "margins", "aspect", "anchor", "feather", "fill", "strength", "adapters", "restore_faces")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MARGINS_FIELD_NUMBER: _ClassVar[int]
    ASPECT_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    FEATHER_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FACES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    negative_prompt: str
    sampling: Sampling
    image: _media_pb2.Image
    margins: Margins
    aspect: AspectRatio
    anchor: Anchor
    feather: int
    fill: OutpaintFill
    strength: float
    adapters: Adapters
    restore_faces: _faces_pb2.FaceRestoration
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., margins: _Optional[_Union[Margins, _Mapping]] = ..., aspect: _Optional[_Union[AspectRatio, _Mapping]] = ..., anchor: _Optional[_Union[Anchor, str]] = ..., feather: _Optional[int] = ..., fill: _Optional[_Union[OutpaintFill, str]] = ..., strength: _Optional[float] = ..., adapters: _Optional[_Union[Adapters, _Mapping]] = ..., restore_faces: _Optional[_Union[_faces_pb2.FaceRestoration, _Mapping]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("generate", "depth2img", "texture", "upscale", "preprocess", "outpaint", "restore_faces")
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    DEPTH2IMG_FIELD_NUMBER: _ClassVar[int]
    TEXTURE_FIELD_NUMBER: _ClassVar[int]
    UPSCALE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    OUTPAINT_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FACES_FIELD_NUMBER: _ClassVar[int]
    generate: GenerateTask
    depth2img: Depth2ImgTask
    texture: TextureTask
    upscale: UpscaleTask
    preprocess: PreprocessTask
    outpaint: OutpaintTask
    restore_faces: _faces_pb2.RestoreFacesTask
    def __init__(self, generate: _Optional[_Union[GenerateTask, _Mapping]] = ..., depth2img: _Optional[_Union[Depth2ImgTask, _Mapping]] = ..., texture: _Optional[_Union[TextureTask, _Mapping]] = ..., upscale: _Optional[_Union[UpscaleTask, _Mapping]] = ..., preprocess: _Optional[_Union[PreprocessTask, _Mapping]] = ..., outpaint: _Optional[_Union[OutpaintTask, _Mapping]] = ..., restore_faces: _Optional[_Union[_faces_pb2.RestoreFacesTask, _Mapping]] = ...) -> None: ...
