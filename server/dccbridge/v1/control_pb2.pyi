from dccbridge.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ControlType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTROL_TYPE_UNSPECIFIED: _ClassVar[ControlType]
    CONTROL_TYPE_CANNY: _ClassVar[ControlType]
    CONTROL_TYPE_DEPTH: _ClassVar[ControlType]
    CONTROL_TYPE_OPENPOSE: _ClassVar[ControlType]
    CONTROL_TYPE_LINEART: _ClassVar[ControlType]
    CONTROL_TYPE_SOFTEDGE: _ClassVar[ControlType]
    CONTROL_TYPE_SCRIBBLE: _ClassVar[ControlType]
    CONTROL_TYPE_NORMAL: _ClassVar[ControlType]
    CONTROL_TYPE_TILE: _ClassVar[ControlType]
    CONTROL_TYPE_REFERENCE: _ClassVar[ControlType]

class Preprocessor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREPROCESSOR_UNSPECIFIED: _ClassVar[Preprocessor]
    PREPROCESSOR_CANNY: _ClassVar[Preprocessor]
    PREPROCESSOR_DEPTH_ESTIMATE: _ClassVar[Preprocessor]
    PREPROCESSOR_OPENPOSE_DETECT: _ClassVar[Preprocessor]
    PREPROCESSOR_LINEART: _ClassVar[Preprocessor]
    PREPROCESSOR_SOFTEDGE: _ClassVar[Preprocessor]
CONTROL_TYPE_UNSPECIFIED: ControlType
CONTROL_TYPE_CANNY: ControlType
CONTROL_TYPE_DEPTH: ControlType
CONTROL_TYPE_OPENPOSE: ControlType
CONTROL_TYPE_LINEART: ControlType
CONTROL_TYPE_SOFTEDGE: ControlType
CONTROL_TYPE_SCRIBBLE: ControlType
CONTROL_TYPE_NORMAL: ControlType
CONTROL_TYPE_TILE: ControlType
CONTROL_TYPE_REFERENCE: ControlType
PREPROCESSOR_UNSPECIFIED: Preprocessor
PREPROCESSOR_CANNY: Preprocessor
PREPROCESSOR_DEPTH_ESTIMATE: Preprocessor
PREPROCESSOR_OPENPOSE_DETECT: Preprocessor
PREPROCESSOR_LINEART: Preprocessor
PREPROCESSOR_SOFTEDGE: Preprocessor

class CannyParams(_message.Message):
    __slots__ = ("low_threshold", "high_threshold")
    LOW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HIGH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    low_threshold: int
    high_threshold: int
    def __init__(self, low_threshold: _Optional[int] = ..., high_threshold: _Optional[int] = ...) -> None: ...

class PreprocessSource(_message.Message):
    __slots__ = ("image", "preprocessor", "canny")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESSOR_FIELD_NUMBER: _ClassVar[int]
    CANNY_FIELD_NUMBER: _ClassVar[int]
    image: _media_pb2.Image
    preprocessor: Preprocessor
    canny: CannyParams
    def __init__(self, image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., preprocessor: _Optional[_Union[Preprocessor, str]] = ..., canny: _Optional[_Union[CannyParams, _Mapping]] = ...) -> None: ...

class ControlUnit(_message.Message):
    __slots__ = ("control_type", "controlnet_conditioning_scale", "control_guidance_start", "control_guidance_end", "controlnet_id", "adapter_id", "image", "preprocess", "depth_pass", "pose_rig", "reference")
    CONTROL_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTROLNET_CONDITIONING_SCALE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_GUIDANCE_START_FIELD_NUMBER: _ClassVar[int]
    CONTROL_GUIDANCE_END_FIELD_NUMBER: _ClassVar[int]
    CONTROLNET_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_PASS_FIELD_NUMBER: _ClassVar[int]
    POSE_RIG_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    control_type: ControlType
    controlnet_conditioning_scale: float
    control_guidance_start: float
    control_guidance_end: float
    controlnet_id: str
    adapter_id: str
    image: _media_pb2.Image
    preprocess: PreprocessSource
    depth_pass: _media_pb2.DepthPass
    pose_rig: _media_pb2.PoseRig
    reference: ReferenceImages
    def __init__(self, control_type: _Optional[_Union[ControlType, str]] = ..., controlnet_conditioning_scale: _Optional[float] = ..., control_guidance_start: _Optional[float] = ..., control_guidance_end: _Optional[float] = ..., controlnet_id: _Optional[str] = ..., adapter_id: _Optional[str] = ..., image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., preprocess: _Optional[_Union[PreprocessSource, _Mapping]] = ..., depth_pass: _Optional[_Union[_media_pb2.DepthPass, _Mapping]] = ..., pose_rig: _Optional[_Union[_media_pb2.PoseRig, _Mapping]] = ..., reference: _Optional[_Union[ReferenceImages, _Mapping]] = ...) -> None: ...

class ReferenceImages(_message.Message):
    __slots__ = ("images", "weights")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[_media_pb2.Image]
    weights: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, images: _Optional[_Iterable[_Union[_media_pb2.Image, _Mapping]]] = ..., weights: _Optional[_Iterable[float]] = ...) -> None: ...
