from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DepthEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPTH_ENCODING_UNSPECIFIED: _ClassVar[DepthEncoding]
    DEPTH_ENCODING_LINEAR: _ClassVar[DepthEncoding]
    DEPTH_ENCODING_INVERSE: _ClassVar[DepthEncoding]
    DEPTH_ENCODING_NORMALIZED: _ClassVar[DepthEncoding]

class DepthNormalization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPTH_NORMALIZATION_UNSPECIFIED: _ClassVar[DepthNormalization]
    DEPTH_NORMALIZATION_PERCENTILE: _ClassVar[DepthNormalization]
    DEPTH_NORMALIZATION_MIN_MAX: _ClassVar[DepthNormalization]
    DEPTH_NORMALIZATION_NEAR_FAR: _ClassVar[DepthNormalization]
DEPTH_ENCODING_UNSPECIFIED: DepthEncoding
DEPTH_ENCODING_LINEAR: DepthEncoding
DEPTH_ENCODING_INVERSE: DepthEncoding
DEPTH_ENCODING_NORMALIZED: DepthEncoding
DEPTH_NORMALIZATION_UNSPECIFIED: DepthNormalization
DEPTH_NORMALIZATION_PERCENTILE: DepthNormalization
DEPTH_NORMALIZATION_MIN_MAX: DepthNormalization
DEPTH_NORMALIZATION_NEAR_FAR: DepthNormalization

class Image(_message.Message):
    __slots__ = ("data", "mime_type", "width", "height")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mime_type: str
    width: int
    height: int
    def __init__(self, data: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class DepthPass(_message.Message):
    __slots__ = ("float32_le", "png16", "width", "height", "encoding", "near", "far", "png16_scale", "normalization")
    FLOAT32_LE_FIELD_NUMBER: _ClassVar[int]
    PNG16_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    FAR_FIELD_NUMBER: _ClassVar[int]
    PNG16_SCALE_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    float32_le: bytes
    png16: bytes
    width: int
    height: int
    encoding: DepthEncoding
    near: float
    far: float
    png16_scale: float
    normalization: DepthNormalization
    def __init__(self, float32_le: _Optional[bytes] = ..., png16: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[_Union[DepthEncoding, str]] = ..., near: _Optional[float] = ..., far: _Optional[float] = ..., png16_scale: _Optional[float] = ..., normalization: _Optional[_Union[DepthNormalization, str]] = ...) -> None: ...

class Keypoint(_message.Message):
    __slots__ = ("x", "y", "visible")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    visible: bool
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., visible: _Optional[bool] = ...) -> None: ...

class PosePerson(_message.Message):
    __slots__ = ("body", "left_hand", "right_hand", "face")
    BODY_FIELD_NUMBER: _ClassVar[int]
    LEFT_HAND_FIELD_NUMBER: _ClassVar[int]
    RIGHT_HAND_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    body: _containers.RepeatedCompositeFieldContainer[Keypoint]
    left_hand: _containers.RepeatedCompositeFieldContainer[Keypoint]
    right_hand: _containers.RepeatedCompositeFieldContainer[Keypoint]
    face: _containers.RepeatedCompositeFieldContainer[Keypoint]
    def __init__(self, body: _Optional[_Iterable[_Union[Keypoint, _Mapping]]] = ..., left_hand: _Optional[_Iterable[_Union[Keypoint, _Mapping]]] = ..., right_hand: _Optional[_Iterable[_Union[Keypoint, _Mapping]]] = ..., face: _Optional[_Iterable[_Union[Keypoint, _Mapping]]] = ...) -> None: ...

class PoseRig(_message.Message):
    __slots__ = ("canvas_width", "canvas_height", "people")
    CANVAS_WIDTH_FIELD_NUMBER: _ClassVar[int]
    CANVAS_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    canvas_width: int
    canvas_height: int
    people: _containers.RepeatedCompositeFieldContainer[PosePerson]
    def __init__(self, canvas_width: _Optional[int] = ..., canvas_height: _Optional[int] = ..., people: _Optional[_Iterable[_Union[PosePerson, _Mapping]]] = ...) -> None: ...
