"""Plain data of live mode (protos/dccbridge/v1/live.proto): a session's fixed settings and its numbered frames.

api/convert_live.py builds these from the wire; ops/live.py checks and resolves them; jobs/live.py schedules them.
Images stay encoded bytes here, as in domain.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .domain import AdapterSpec, ControlSource, ControlType, ImageInput, Sampling


class LivePriority(str, enum.Enum):
    LATENCY = "latency"        # each frame computed alone, as soon as it may
    THROUGHPUT = "throughput"  # "stream batch": consecutive frames share UNet calls (ops/live_stream.py)


@dataclass(frozen=True)
class LiveSlot:
    """One control unit of a session: fixed settings; each frame brings (or keeps) its input."""

    control_type: ControlType
    conditioning_scale: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    controlnet_id: str = ""


@dataclass(frozen=True)
class LiveConfig:
    """What a client asks for when it opens a session (unset = None / 0 / empty)."""

    model_id: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    sampling: Sampling = field(default_factory=Sampling)
    strength: float | None = None
    controls: tuple[LiveSlot, ...] = ()
    adapters: AdapterSpec = field(default_factory=AdapterSpec)
    similarity_threshold: float | None = None
    feedback: float | None = None
    priority: LivePriority | None = None
    jpeg_results: bool = False
    idle_timeout_ms: int = 0
    label: str = ""


@dataclass(frozen=True)
class LiveSettings:
    """A session's settings as resolved by the server (ops/live.resolve_config): every default filled in."""

    model_id: str
    family: str
    prompt: str
    negative_prompt: str
    width: int   # 0 with height 0: the first frame's image size (else the model's default), fixed at that frame
    height: int
    steps: int
    steps_given: bool  # the client chose the steps (else img2img gets enough steps for one at its strength)
    guidance: float
    scheduler: str
    seed: int
    strength: float
    controls: tuple[LiveSlot, ...]
    adapters: AdapterSpec
    similarity_threshold: float
    feedback: float
    priority: LivePriority
    jpeg_results: bool
    idle_timeout_ms: int
    label: str
    default_size: tuple[int, int] = (512, 512)


@dataclass(frozen=True)
class LiveFrame:
    """One frame as sent: anything it omits keeps its previous value."""

    frame: int
    image: ImageInput | None = None
    controls: tuple[tuple[int, ControlSource], ...] = ()  # (slot, its new input)
    prompt: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class LiveInputs:
    """A frame with every omitted input filled in from the frames before it: what is computed."""

    frame: int
    image: ImageInput | None
    sources: tuple[ControlSource | None, ...]  # one per slot
    prompt: str
    seed: int
    arrived: float  # time.monotonic() at arrival
    ticket: int = 0  # the session's number for this answer (a LiveUpdate computes a frame number again)
