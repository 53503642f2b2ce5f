from dccbridge.v1 import media_pb2 as _media_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FaceDetection(_message.Message):
    __slots__ = ("detector_id", "threshold", "max_faces")
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    detector_id: str
    threshold: float
    max_faces: int
    def __init__(self, detector_id: _Optional[str] = ..., threshold: _Optional[float] = ..., max_faces: _Optional[int] = ...) -> None: ...

class FaceRestoration(_message.Message):
    __slots__ = ("enabled", "restorer_id", "strength", "fidelity", "detection")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    RESTORER_ID_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    restorer_id: str
    strength: float
    fidelity: float
    detection: FaceDetection
    def __init__(self, enabled: _Optional[bool] = ..., restorer_id: _Optional[str] = ..., strength: _Optional[float] = ..., fidelity: _Optional[float] = ..., detection: _Optional[_Union[FaceDetection, _Mapping]] = ...) -> None: ...

class RestoreFacesTask(_message.Message):
    __slots__ = ("image", "restorer_id", "strength", "fidelity", "detection")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    RESTORER_ID_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    image: _media_pb2.Image
    restorer_id: str
    strength: float
    fidelity: float
    detection: FaceDetection
    def __init__(self, image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., restorer_id: _Optional[str] = ..., strength: _Optional[float] = ..., fidelity: _Optional[float] = ..., detection: _Optional[_Union[FaceDetection, _Mapping]] = ...) -> None: ...

class RestorerInfo(_message.Message):
    __slots__ = ("id", "architecture", "description", "license", "commercial_use", "is_default", "has_fidelity", "face_size")
    ID_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    COMMERCIAL_USE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    HAS_FIDELITY_FIELD_NUMBER: _ClassVar[int]
    FACE_SIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    architecture: str
    description: str
    license: str
    commercial_use: bool
    is_default: bool
    has_fidelity: bool
    face_size: int
    def __init__(self, id: _Optional[str] = ..., architecture: _Optional[str] = ..., description: _Optional[str] = ..., license: _Optional[str] = ..., commercial_use: _Optional[bool] = ..., is_default: _Optional[bool] = ..., has_fidelity: _Optional[bool] = ..., face_size: _Optional[int] = ...) -> None: ...

class FaceDetectorInfo(_message.Message):
    __slots__ = ("id", "architecture", "description", "license", "commercial_use", "is_default")
    ID_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    COMMERCIAL_USE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    id: str
    architecture: str
    description: str
    license: str
    commercial_use: bool
    is_default: bool
    def __init__(self, id: _Optional[str] = ..., architecture: _Optional[str] = ..., description: _Optional[str] = ..., license: _Optional[str] = ..., commercial_use: _Optional[bool] = ..., is_default: _Optional[bool] = ...) -> None: ...
