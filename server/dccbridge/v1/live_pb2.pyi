from dccbridge.v1 import control_pb2 as _control_pb2
from dccbridge.v1 import jobs_pb2 as _jobs_pb2
from dccbridge.v1 import media_pb2 as _media_pb2
from dccbridge.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LivePriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIVE_PRIORITY_UNSPECIFIED: _ClassVar[LivePriority]
    LIVE_PRIORITY_LATENCY: _ClassVar[LivePriority]
    LIVE_PRIORITY_THROUGHPUT: _ClassVar[LivePriority]
LIVE_PRIORITY_UNSPECIFIED: LivePriority
LIVE_PRIORITY_LATENCY: LivePriority
LIVE_PRIORITY_THROUGHPUT: LivePriority

class LiveControlSlot(_message.Message):
    __slots__ = ("control_type", "controlnet_conditioning_scale", "control_guidance_start", "control_guidance_end", "controlnet_id")
    CONTROL_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTROLNET_CONDITIONING_SCALE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_GUIDANCE_START_FIELD_NUMBER: _ClassVar[int]
    CONTROL_GUIDANCE_END_FIELD_NUMBER: _ClassVar[int]
    CONTROLNET_ID_FIELD_NUMBER: _ClassVar[int]
    control_type: _control_pb2.ControlType
    controlnet_conditioning_scale: float
    control_guidance_start: float
    control_guidance_end: float
    controlnet_id: str
    def __init__(self, control_type: _Optional[_Union[_control_pb2.ControlType, str]] = ..., controlnet_conditioning_scale: _Optional[float] = ..., control_guidance_start: _Optional[float] = ..., control_guidance_end: _Optional[float] = ..., controlnet_id: _Optional[str] = ...) -> None: ...

class LiveConfig(_message.Message):
    __slots__ = ("model_id", "prompt", "negative_prompt", "width", "height", "sampling", "strength", "controls", "adapters", "similarity_threshold", "feedback", "priority", "jpeg_results", "idle_timeout_ms", "label")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    CONTROLS_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    JPEG_RESULTS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    sampling: _tasks_pb2.Sampling
    strength: float
    controls: _containers.RepeatedCompositeFieldContainer[LiveControlSlot]
    adapters: _tasks_pb2.Adapters
    similarity_threshold: float
    feedback: float
    priority: LivePriority
    jpeg_results: bool
    idle_timeout_ms: int
    label: str
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., sampling: _Optional[_Union[_tasks_pb2.Sampling, _Mapping]] = ..., strength: _Optional[float] = ..., controls: _Optional[_Iterable[_Union[LiveControlSlot, _Mapping]]] = ..., adapters: _Optional[_Union[_tasks_pb2.Adapters, _Mapping]] = ..., similarity_threshold: _Optional[float] = ..., feedback: _Optional[float] = ..., priority: _Optional[_Union[LivePriority, str]] = ..., jpeg_results: _Optional[bool] = ..., idle_timeout_ms: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class LiveControlInput(_message.Message):
    __slots__ = ("slot", "image", "preprocess", "depth_pass", "pose_rig")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_PASS_FIELD_NUMBER: _ClassVar[int]
    POSE_RIG_FIELD_NUMBER: _ClassVar[int]
    slot: int
    image: _media_pb2.Image
    preprocess: _control_pb2.PreprocessSource
    depth_pass: _media_pb2.DepthPass
    pose_rig: _media_pb2.PoseRig
    def __init__(self, slot: _Optional[int] = ..., image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., preprocess: _Optional[_Union[_control_pb2.PreprocessSource, _Mapping]] = ..., depth_pass: _Optional[_Union[_media_pb2.DepthPass, _Mapping]] = ..., pose_rig: _Optional[_Union[_media_pb2.PoseRig, _Mapping]] = ...) -> None: ...

class LiveFrame(_message.Message):
    __slots__ = ("frame", "image", "controls", "prompt", "seed")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTROLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    frame: int
    image: _media_pb2.Image
    controls: _containers.RepeatedCompositeFieldContainer[LiveControlInput]
    prompt: str
    seed: int
    def __init__(self, frame: _Optional[int] = ..., image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., controls: _Optional[_Iterable[_Union[LiveControlInput, _Mapping]]] = ..., prompt: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class LiveTimings(_message.Message):
    __slots__ = ("wait_ms", "prepare_ms", "pipeline_ms", "encode_ms", "total_ms", "stream_batch")
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    PREPARE_MS_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    STREAM_BATCH_FIELD_NUMBER: _ClassVar[int]
    wait_ms: float
    prepare_ms: float
    pipeline_ms: float
    encode_ms: float
    total_ms: float
    stream_batch: int
    def __init__(self, wait_ms: _Optional[float] = ..., prepare_ms: _Optional[float] = ..., pipeline_ms: _Optional[float] = ..., encode_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., stream_batch: _Optional[int] = ...) -> None: ...

class LiveResult(_message.Message):
    __slots__ = ("frame", "image", "reused", "reused_from_frame", "similarity", "seed", "timings")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    REUSED_FROM_FRAME_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    image: _media_pb2.Image
    reused: bool
    reused_from_frame: int
    similarity: float
    seed: int
    timings: LiveTimings
    def __init__(self, frame: _Optional[int] = ..., image: _Optional[_Union[_media_pb2.Image, _Mapping]] = ..., reused: _Optional[bool] = ..., reused_from_frame: _Optional[int] = ..., similarity: _Optional[float] = ..., seed: _Optional[int] = ..., timings: _Optional[_Union[LiveTimings, _Mapping]] = ...) -> None: ...

class LiveSuperseded(_message.Message):
    __slots__ = ("frame", "by_frame")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    BY_FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: int
    by_frame: int
    def __init__(self, frame: _Optional[int] = ..., by_frame: _Optional[int] = ...) -> None: ...

class LiveFrameFailed(_message.Message):
    __slots__ = ("frame", "failure")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    frame: int
    failure: _jobs_pb2.Failure
    def __init__(self, frame: _Optional[int] = ..., failure: _Optional[_Union[_jobs_pb2.Failure, _Mapping]] = ...) -> None: ...

class LiveOpened(_message.Message):
    __slots__ = ("session_id", "config")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    config: LiveConfig
    def __init__(self, session_id: _Optional[str] = ..., config: _Optional[_Union[LiveConfig, _Mapping]] = ...) -> None: ...

class LiveClosed(_message.Message):
    __slots__ = ("reason", "frames_received", "frames_computed", "frames_reused", "frames_superseded")
    REASON_FIELD_NUMBER: _ClassVar[int]
    FRAMES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_COMPUTED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_REUSED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    reason: str
    frames_received: int
    frames_computed: int
    frames_reused: int
    frames_superseded: int
    def __init__(self, reason: _Optional[str] = ..., frames_received: _Optional[int] = ..., frames_computed: _Optional[int] = ..., frames_reused: _Optional[int] = ..., frames_superseded: _Optional[int] = ...) -> None: ...

class LiveEvent(_message.Message):
    __slots__ = ("session_id", "sequence", "time_ms", "opened", "result", "superseded", "frame_failed", "closed")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    FRAME_FAILED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    sequence: int
    time_ms: int
    opened: LiveOpened
    result: LiveResult
    superseded: LiveSuperseded
    frame_failed: LiveFrameFailed
    closed: LiveClosed
    def __init__(self, session_id: _Optional[str] = ..., sequence: _Optional[int] = ..., time_ms: _Optional[int] = ..., opened: _Optional[_Union[LiveOpened, _Mapping]] = ..., result: _Optional[_Union[LiveResult, _Mapping]] = ..., superseded: _Optional[_Union[LiveSuperseded, _Mapping]] = ..., frame_failed: _Optional[_Union[LiveFrameFailed, _Mapping]] = ..., closed: _Optional[_Union[LiveClosed, _Mapping]] = ...) -> None: ...

class LiveUpdate(_message.Message):
    __slots__ = ("prompt", "seed")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    seed: int
    def __init__(self, prompt: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class LiveClose(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LiveRequest(_message.Message):
    __slots__ = ("open", "frame", "update", "close")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    open: LiveConfig
    frame: LiveFrame
    update: LiveUpdate
    close: LiveClose
    def __init__(self, open: _Optional[_Union[LiveConfig, _Mapping]] = ..., frame: _Optional[_Union[LiveFrame, _Mapping]] = ..., update: _Optional[_Union[LiveUpdate, _Mapping]] = ..., close: _Optional[_Union[LiveClose, _Mapping]] = ...) -> None: ...

class OpenLiveRequest(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: LiveConfig
    def __init__(self, config: _Optional[_Union[LiveConfig, _Mapping]] = ...) -> None: ...

class OpenLiveResponse(_message.Message):
    __slots__ = ("opened",)
    OPENED_FIELD_NUMBER: _ClassVar[int]
    opened: LiveOpened
    def __init__(self, opened: _Optional[_Union[LiveOpened, _Mapping]] = ...) -> None: ...

class SendLiveFrameRequest(_message.Message):
    __slots__ = ("session_id", "frame", "update")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    frame: LiveFrame
    update: LiveUpdate
    def __init__(self, session_id: _Optional[str] = ..., frame: _Optional[_Union[LiveFrame, _Mapping]] = ..., update: _Optional[_Union[LiveUpdate, _Mapping]] = ...) -> None: ...

class SendLiveFrameResponse(_message.Message):
    __slots__ = ("superseded_frame",)
    SUPERSEDED_FRAME_FIELD_NUMBER: _ClassVar[int]
    superseded_frame: int
    def __init__(self, superseded_frame: _Optional[int] = ...) -> None: ...

class WatchLiveRequest(_message.Message):
    __slots__ = ("session_id", "after_sequence")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    after_sequence: int
    def __init__(self, session_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class PollLiveRequest(_message.Message):
    __slots__ = ("session_id", "after_sequence", "wait_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    after_sequence: int
    wait_ms: int
    def __init__(self, session_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class PollLiveResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[LiveEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[LiveEvent, _Mapping]]] = ...) -> None: ...

class CloseLiveRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseLiveResponse(_message.Message):
    __slots__ = ("closed",)
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    closed: LiveClosed
    def __init__(self, closed: _Optional[_Union[LiveClosed, _Mapping]] = ...) -> None: ...
