from dccbridge.v1 import control_pb2 as _control_pb2
from dccbridge.v1 import faces_pb2 as _faces_pb2
from dccbridge.v1 import jobs_pb2 as _jobs_pb2
from dccbridge.v1 import live_pb2 as _live_pb2
from dccbridge.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_TYPE_UNSPECIFIED: _ClassVar[TaskType]
    TASK_TYPE_TXT2IMG: _ClassVar[TaskType]
    TASK_TYPE_IMG2IMG: _ClassVar[TaskType]
    TASK_TYPE_INPAINT: _ClassVar[TaskType]
    TASK_TYPE_DEPTH2IMG: _ClassVar[TaskType]
    TASK_TYPE_TEXTURE: _ClassVar[TaskType]
    TASK_TYPE_UPSCALE: _ClassVar[TaskType]
    TASK_TYPE_PREPROCESS: _ClassVar[TaskType]
    TASK_TYPE_OUTPAINT: _ClassVar[TaskType]
    TASK_TYPE_RESTORE_FACES: _ClassVar[TaskType]
TASK_TYPE_UNSPECIFIED: TaskType
TASK_TYPE_TXT2IMG: TaskType
TASK_TYPE_IMG2IMG: TaskType
TASK_TYPE_INPAINT: TaskType
TASK_TYPE_DEPTH2IMG: TaskType
TASK_TYPE_TEXTURE: TaskType
TASK_TYPE_UPSCALE: TaskType
TASK_TYPE_PREPROCESS: TaskType
TASK_TYPE_OUTPAINT: TaskType
TASK_TYPE_RESTORE_FACES: TaskType

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("type", "name", "dtype", "memory_bytes", "profile")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    type: str
    name: str
    dtype: str
    memory_bytes: int
    profile: str
    def __init__(self, type: _Optional[str] = ..., name: _Optional[str] = ..., dtype: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., profile: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("id", "family", "tasks", "control_types", "is_default", "loaded", "default_width", "default_height", "default_steps", "default_guidance_scale", "default_scheduler", "description", "profile", "taesd_previews", "reference_adapters")
    ID_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_TYPES_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STEPS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TAESD_PREVIEWS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    family: str
    tasks: _containers.RepeatedScalarFieldContainer[TaskType]
    control_types: _containers.RepeatedScalarFieldContainer[_control_pb2.ControlType]
    is_default: bool
    loaded: bool
    default_width: int
    default_height: int
    default_steps: int
    default_guidance_scale: float
    default_scheduler: str
    description: str
    profile: str
    taesd_previews: bool
    reference_adapters: _containers.RepeatedCompositeFieldContainer[NamedOption]
    def __init__(self, id: _Optional[str] = ..., family: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[TaskType, str]]] = ..., control_types: _Optional[_Iterable[_Union[_control_pb2.ControlType, str]]] = ..., is_default: _Optional[bool] = ..., loaded: _Optional[bool] = ..., default_width: _Optional[int] = ..., default_height: _Optional[int] = ..., default_steps: _Optional[int] = ..., default_guidance_scale: _Optional[float] = ..., default_scheduler: _Optional[str] = ..., description: _Optional[str] = ..., profile: _Optional[str] = ..., taesd_previews: _Optional[bool] = ..., reference_adapters: _Optional[_Iterable[_Union[NamedOption, _Mapping]]] = ...) -> None: ...

class NamedOption(_message.Message):
    __slots__ = ("id", "label", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    label: str
    description: str
    def __init__(self, id: _Optional[str] = ..., label: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class AdapterInfo(_message.Message):
    __slots__ = ("id", "family", "label", "description", "token")
    ID_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    family: str
    label: str
    description: str
    token: str
    def __init__(self, id: _Optional[str] = ..., family: _Optional[str] = ..., label: _Optional[str] = ..., description: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_width", "max_height", "max_pixels", "max_batch", "max_steps", "max_control_units", "max_message_bytes", "max_queue", "size_multiple", "max_reference_images")
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTROL_UNITS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    MAX_REFERENCE_IMAGES_FIELD_NUMBER: _ClassVar[int]
    max_width: int
    max_height: int
    max_pixels: int
    max_batch: int
    max_steps: int
    max_control_units: int
    max_message_bytes: int
    max_queue: int
    size_multiple: int
    max_reference_images: int
    def __init__(self, max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., max_pixels: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_steps: _Optional[int] = ..., max_control_units: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_queue: _Optional[int] = ..., size_multiple: _Optional[int] = ..., max_reference_images: _Optional[int] = ...) -> None: ...

class GetCapabilitiesResponse(_message.Message):
    __slots__ = ("server_version", "api_version", "device", "models", "default_model_id", "schedulers", "upscalers", "preprocessors", "limits", "features", "loras", "embeddings", "vaes", "replicas", "restorers", "face_detectors")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULERS_FIELD_NUMBER: _ClassVar[int]
    UPSCALERS_FIELD_NUMBER: _ClassVar[int]
    PREPROCESSORS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LORAS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    VAES_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    RESTORERS_FIELD_NUMBER: _ClassVar[int]
    FACE_DETECTORS_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    api_version: str
    device: DeviceInfo
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    default_model_id: str
    schedulers: _containers.RepeatedCompositeFieldContainer[NamedOption]
    upscalers: _containers.RepeatedCompositeFieldContainer[NamedOption]
    preprocessors: _containers.RepeatedScalarFieldContainer[_control_pb2.Preprocessor]
    limits: Limits
    features: _containers.RepeatedScalarFieldContainer[str]
    loras: _containers.RepeatedCompositeFieldContainer[AdapterInfo]
    embeddings: _containers.RepeatedCompositeFieldContainer[AdapterInfo]
    vaes: _containers.RepeatedCompositeFieldContainer[AdapterInfo]
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaInfo]
    restorers: _containers.RepeatedCompositeFieldContainer[_faces_pb2.RestorerInfo]
    face_detectors: _containers.RepeatedCompositeFieldContainer[_faces_pb2.FaceDetectorInfo]
    def __init__(self, server_version: _Optional[str] = ..., api_version: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., default_model_id: _Optional[str] = ..., schedulers: _Optional[_Iterable[_Union[NamedOption, _Mapping]]] = ..., upscalers: _Optional[_Iterable[_Union[NamedOption, _Mapping]]] = ..., preprocessors: _Optional[_Iterable[_Union[_control_pb2.Preprocessor, str]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., features: _Optional[_Iterable[str]] = ..., loras: _Optional[_Iterable[_Union[AdapterInfo, _Mapping]]] = ..., embeddings: _Optional[_Iterable[_Union[AdapterInfo, _Mapping]]] = ..., vaes: _Optional[_Iterable[_Union[AdapterInfo, _Mapping]]] = ..., replicas: _Optional[_Iterable[_Union[ReplicaInfo, _Mapping]]] = ..., restorers: _Optional[_Iterable[_Union[_faces_pb2.RestorerInfo, _Mapping]]] = ..., face_detectors: _Optional[_Iterable[_Union[_faces_pb2.FaceDetectorInfo, _Mapping]]] = ...) -> None: ...

class ReplicaInfo(_message.Message):
    __slots__ = ("replica_id", "node", "device", "loaded_models", "state", "pid", "jobs_done")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LOADED_MODELS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    JOBS_DONE_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    node: str
    device: DeviceInfo
    loaded_models: _containers.RepeatedScalarFieldContainer[str]
    state: str
    pid: int
    jobs_done: int
    def __init__(self, replica_id: _Optional[str] = ..., node: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ..., loaded_models: _Optional[_Iterable[str]] = ..., state: _Optional[str] = ..., pid: _Optional[int] = ..., jobs_done: _Optional[int] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("task", "options")
    TASK_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    task: _tasks_pb2.Task
    options: _jobs_pb2.JobOptions
    def __init__(self, task: _Optional[_Union[_tasks_pb2.Task, _Mapping]] = ..., options: _Optional[_Union[_jobs_pb2.JobOptions, _Mapping]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("job_id", "after_sequence")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_sequence: int
    def __init__(self, job_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "wait_ms", "after_sequence", "omit_image_data")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OMIT_IMAGE_DATA_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    wait_ms: int
    after_sequence: int
    omit_image_data: bool
    def __init__(self, job_id: _Optional[str] = ..., wait_ms: _Optional[int] = ..., after_sequence: _Optional[int] = ..., omit_image_data: _Optional[bool] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "states", "client", "task_types", "created_after_ms", "created_before_ms", "text", "model_id", "thumbnail_size")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_SIZE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[_jobs_pb2.JobState]
    client: str
    task_types: _containers.RepeatedScalarFieldContainer[TaskType]
    created_after_ms: int
    created_before_ms: int
    text: str
    model_id: str
    thumbnail_size: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_jobs_pb2.JobState, str]]] = ..., client: _Optional[str] = ..., task_types: _Optional[_Iterable[_Union[TaskType, str]]] = ..., created_after_ms: _Optional[int] = ..., created_before_ms: _Optional[int] = ..., text: _Optional[str] = ..., model_id: _Optional[str] = ..., thumbnail_size: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
