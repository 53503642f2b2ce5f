"""live: one session's frames (protos/dccbridge/v1/live.proto). A session is opened with fixed settings and then
computes numbered frames; jobs/live.py decides which frame runs when (latest wins), this module what a frame is.

Contract: resolve_config(LiveConfig) -> LiveSettings (checks, loads nothing); check_frame(LiveFrame) (cheap, at
arrival); LiveRunner(settings, env).run(LiveInputs) -> [LiveOutcome] (one per frame answered by this call).
Stages of a frame: 1 decode the init image and the control maps -- each only when its input's bytes changed
(a content hash) -- and a small signature of them · 2 similarity filter: nearly the same inputs as the last
computed frame answer with that frame's result · 3 feedback: the previous result blended into the init image ·
4 denoise on the session's warm pipeline view (its own scheduler; prompt embeddings through the model's cache),
or in throughput mode through the stream batch (ops/live_stream.py).
"""

from __future__ import annotations

import hashlib
import math
import pickle
import secrets
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .. import control, families, imaging
from ..domain import ControlUnitSpec, DepthPassInput, ImageInput, Sampling
from ..domain_live import LiveConfig, LiveFrame, LiveInputs, LivePriority, LiveSettings, LiveSlot
from ..errors import Cancelled, DccError, InvalidInput
from . import common
from .env import OpEnv
from .limits import check_range

DEFAULT_SIMILARITY = 0.98
DEFAULT_STRENGTH = 0.5
DEFAULT_IDLE_TIMEOUT_MS = 60_000
MAX_IDLE_TIMEOUT_MS = 600_000
FEW_STEPS = 4          # a model without a few-step path runs its default sampler with this many steps
SIGNATURE_SIDE = 32    # inputs are compared for similarity at 32 x 32 (cheap, and blind to sensor noise)
STREAM_FAMILIES = ("sd15",)  # the stream batch's own loop speaks the SD1.5/SD2 UNet (no SDXL added conditions)


# 1. checks (load nothing) ----------------------------------------------------------------------


def _prefixed(prefix: str, check, *args, **kwargs):
    """Run a shared check whose errors name request fields, naming them under `prefix` instead."""
    try:
        return check(*args, **kwargs)
    except InvalidInput as error:
        raise InvalidInput(f"{prefix}.{error.field}", error.reason) from None


def resolve_config(config: LiveConfig, env: OpEnv) -> LiveSettings:
    """The session's settings with every default filled in; InvalidInput names `config.<field>`."""
    limits = env.limits
    try:
        entry = env.catalog.get(config.model_id)
    except DccError as error:
        raise InvalidInput("config.model_id", error.message) from None
    if entry.family not in families.GENERATE_FAMILIES or entry.inpainting:
        raise InvalidInput("config.model_id", f"model '{entry.id}' (family '{entry.family}') cannot run live "
                                              f"sessions; use a {' or '.join(families.GENERATE_FAMILIES)} model")
    _prefixed("config", common.check_prompt, config.prompt, limits)
    if bool(config.width) != bool(config.height):
        raise InvalidInput("config.width" if not config.width else "config.height",
                           "set both width and height, or neither (0: the first frame's image size)")
    if config.width:
        limits.check_size(config.width, config.height, "config.")
    sampling = config.sampling
    _prefixed("config", common.check_sampling, sampling, limits)
    if sampling.num_images_per_prompt != 1:
        raise InvalidInput("config.sampling.num_images_per_prompt", "a live session makes one image per frame")
    few_step = entry.default_steps <= FEW_STEPS
    steps = sampling.num_inference_steps or (entry.default_steps if few_step else FEW_STEPS)
    strength = DEFAULT_STRENGTH if config.strength is None else config.strength
    check_range("config.strength", strength, 0.0, 1.0, low_open=True)
    if sampling.num_inference_steps and int(steps * strength) < 1:
        raise InvalidInput("config.sampling.num_inference_steps",
                           f"with strength {strength:g} a frame with an image would get no denoising step; use at "
                           f"least {math.ceil(1 / strength - 1e-9)} steps")
    if len(config.controls) > limits.max_control_units:
        raise InvalidInput("config.controls", f"at most {limits.max_control_units} slots, got {len(config.controls)}")
    for i, slot in enumerate(config.controls):
        _check_slot(slot, f"config.controls[{i}]", entry)
    _prefixed("config", common.check_adapters, config.adapters, entry, env)
    threshold = DEFAULT_SIMILARITY if config.similarity_threshold is None else config.similarity_threshold
    check_range("config.similarity_threshold", threshold, 0.0, 1.0)
    feedback = config.feedback or 0.0
    check_range("config.feedback", feedback, 0.0, 1.0)
    if config.idle_timeout_ms > MAX_IDLE_TIMEOUT_MS:
        raise InvalidInput("config.idle_timeout_ms", f"must be at most {MAX_IDLE_TIMEOUT_MS}, got "
                                                     f"{config.idle_timeout_ms}")
    priority = config.priority or LivePriority.LATENCY
    if priority is LivePriority.THROUGHPUT and entry.family not in STREAM_FAMILIES:
        priority = LivePriority.LATENCY  # the stream batch's loop is SD1.5/SD2-shaped (docs/live.md)
    seed = sampling.seed if sampling.seed is not None and sampling.seed >= 0 else secrets.randbelow(2**32)
    return LiveSettings(
        model_id=entry.id, family=entry.family, prompt=config.prompt, negative_prompt=config.negative_prompt,
        width=config.width, height=config.height, steps=steps, steps_given=bool(sampling.num_inference_steps),
        guidance=entry.default_guidance_scale if sampling.guidance_scale is None else sampling.guidance_scale,
        scheduler=sampling.scheduler or entry.default_scheduler, seed=seed, strength=strength,
        controls=config.controls, adapters=config.adapters, similarity_threshold=threshold, feedback=feedback,
        priority=priority, jpeg_results=config.jpeg_results,
        idle_timeout_ms=config.idle_timeout_ms or DEFAULT_IDLE_TIMEOUT_MS, label=config.label[:64],
        default_size=(entry.default_width, entry.default_height),
    )


def _check_slot(slot: LiveSlot, field: str, entry) -> None:
    if slot.control_type not in entry.controlnets:
        have = ", ".join(t.value for t in entry.controlnets) or "none"
        raise InvalidInput(f"{field}.control_type", f"model '{entry.id}' has no ControlNet for "
                                                    f"'{slot.control_type.value}' (it has: {have})")
    entry.check_controlnet_id(slot.control_type, slot.controlnet_id, f"{field}.controlnet_id")
    check_range(f"{field}.controlnet_conditioning_scale", slot.conditioning_scale, 0.0, 2.0)
    check_range(f"{field}.control_guidance_start", slot.guidance_start, 0.0, 1.0)
    check_range(f"{field}.control_guidance_end", slot.guidance_end, 0.0, 1.0)
    if slot.guidance_start >= slot.guidance_end:
        raise InvalidInput(f"{field}.control_guidance_end", "must be greater than control_guidance_start")


def check_frame(frame: LiveFrame, settings: LiveSettings, env: OpEnv) -> None:
    """What can be told at arrival without decoding anything; the rest fails the frame when it is computed."""
    seen = set()
    for i, (slot, source) in enumerate(frame.controls):
        if not 0 <= slot < len(settings.controls):
            raise InvalidInput(f"frame.controls[{i}].slot", f"must be between 0 and {len(settings.controls) - 1} "
                                                            f"(the session has {len(settings.controls)} slots), got "
                                                            f"{slot}" if settings.controls else
                               "the session has no control slots (config.controls is empty)")
        if slot in seen:
            raise InvalidInput(f"frame.controls[{i}].slot", f"slot {slot} is given twice")
        seen.add(slot)
    if frame.prompt is not None:
        _prefixed("frame", common.check_prompt, frame.prompt, env.limits)
    if frame.seed is not None:
        _prefixed("frame", common.check_sampling, Sampling(seed=frame.seed), env.limits)


# 2-4. running -------------------------------------------------------------------------------------


@dataclass
class LiveOutcome:
    """How one frame was answered by the runner: pixels (computed or reused) or an error."""

    frame: int
    ticket: int = 0
    started: float = 0.0  # time.monotonic() when work on it began
    pixels: np.ndarray | None = None
    reused_from: int = 0
    similarity: float = 0.0
    seed: int = 0
    prepare_ms: float = 0.0
    pipeline_ms: float = 0.0
    stream_batch: int = 1
    error: DccError | None = None


@dataclass
class _Prepared:
    inputs: LiveInputs
    init: np.ndarray | None   # uint8 H x W x 3 at the session size, feedback applied
    maps: list[Image.Image]   # one per slot
    signature: np.ndarray     # float32 planes at SIGNATURE_SIDE², for the similarity filter
    started: float
    prepare_ms: float


class _FrameContext:
    """The OpContext of a live frame: no progress events; "cancelled" when the session ends."""

    preview_every = 0
    preview_max_size = 256
    batch = None

    def __init__(self, cancelled):
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        return self._cancelled()

    def report(self, stage, step, total, preview=None) -> None:
        pass


def source_key(source) -> bytes:
    """A content hash of a control input (its bytes and settings): equal keys give equal control maps."""
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(source, DepthPassInput):
        digest.update(source.float32_le or source.png16 or b"")
        source = DepthPassInput(source.width, source.height, source.encoding, source.near, source.far, None, None,
                                source.png16_scale, source.normalization)
    digest.update(pickle.dumps(source, protocol=4))
    return digest.digest()


class LiveRunner:
    """One session's warm state: model views, control-map cache, the last computed frame. Not thread-safe: the
    engine's worker runs a session's frames one at a time."""

    def __init__(self, settings: LiveSettings, env: OpEnv, on_control_map=lambda: None):
        self.settings = settings
        self.env = env
        self.model = env.manager.load(settings.model_id)
        self.units = tuple(ControlUnitSpec(s.control_type, ImageInput(b""), s.conditioning_scale, s.guidance_start,
                                           s.guidance_end, s.controlnet_id) for s in settings.controls)
        self.controlnets = [self.model.controlnet(s.control_type, s.controlnet_id) for s in settings.controls]
        self.adapters = common.check_adapters(settings.adapters, self.model.entry, env)
        self.plan = common.SamplingPlan(settings.steps, settings.guidance, settings.scheduler, settings.seed, 1)
        self.size = (settings.width, settings.height) if settings.width else None
        self.on_control_map = on_control_map
        self.control_maps_computed = 0
        self._views: dict[str, object] = {}
        self._init_cache: tuple[ImageInput, np.ndarray] | None = None
        self._map_cache: list[tuple[object, bytes, Image.Image, np.ndarray] | None] = [None] * len(self.units)
        self._last: tuple[int, np.ndarray, np.ndarray, str, int] | None = None  # frame, signature, pixels, prompt, seed
        self._previous_pixels: np.ndarray | None = None  # the last result, for feedback
        self.stream = None
        if settings.priority is LivePriority.THROUGHPUT:
            from .live_stream import StreamBatch
            self.stream = StreamBatch(self)

    @property
    def in_flight(self) -> int:
        """Frames inside the stream batch that still need UNet calls."""
        return self.stream.in_flight if self.stream is not None else 0

    def run(self, inputs: LiveInputs | None, cancelled=lambda: False) -> list[LiveOutcome]:
        """Compute (or reuse) one frame; inputs None: only advance the stream batch's frames in flight."""
        prepared = None
        if inputs is not None:
            started = time.monotonic()
            try:
                prepared = self._prepare(inputs, started)
            except DccError as error:
                return [LiveOutcome(inputs.frame, inputs.ticket, started, seed=inputs.seed, error=error)]
            reused = self._reuse(prepared)
            if reused is not None:
                return [reused]
        try:
            if self.stream is not None:
                return self.stream.push(prepared, cancelled)
            return [self._compute(prepared, cancelled)]
        except DccError as error:
            if prepared is None:
                raise
            return [LiveOutcome(prepared.inputs.frame, prepared.inputs.ticket, prepared.started, error=error)]

    # 1. inputs, each decoded only when it changed ------------------------------------------------

    def _prepare(self, inputs: LiveInputs, started: float) -> _Prepared:
        if self.size is None:  # fixed by the first frame: its image's size, else the model's default
            if inputs.image is not None:
                w, h = imaging.image_size(inputs.image.data, "frame.image")
                size = (max(8, w // 8 * 8), max(8, h // 8 * 8))
            else:
                size = self.settings.default_size
            self.env.limits.check_size(*size, "frame.image.")
            self.size = size
        width, height = self.size
        init = None
        if inputs.image is not None:
            init = self._init_pixels(inputs.image, width, height)
        maps, planes = [], []
        for slot, source in enumerate(inputs.sources):
            control_map, small = self._control_map(slot, source, width, height)
            maps.append(control_map)
            planes.append(small)
        if init is not None:
            planes.append(_small(init))
        signature = np.stack(planes) if planes else np.zeros((0, SIGNATURE_SIDE, SIGNATURE_SIDE), np.float32)
        if init is not None and self.settings.feedback > 0 and self._previous_pixels is not None:
            f = self.settings.feedback
            init = (init.astype(np.float32) * (1 - f) + self._previous_pixels.astype(np.float32) * f)
            init = init.round().clip(0, 255).astype(np.uint8)
        return _Prepared(inputs, init, maps, signature, started, (time.monotonic() - started) * 1000)

    def _init_pixels(self, image: ImageInput, width: int, height: int) -> np.ndarray:
        cached = self._init_cache
        if cached is not None and (cached[0] is image or cached[0].data == image.data):
            return cached[1]
        pixels = imaging.decode_image(image.data, "frame.image", max_pixels=self.env.limits.max_input_pixels)
        pixels = imaging.resize(pixels, width, height)
        self._init_cache = (image, pixels)
        return pixels

    def _control_map(self, slot: int, source, width: int, height: int) -> tuple[Image.Image, np.ndarray]:
        cached = self._map_cache[slot]
        if cached is not None and cached[0] is source:
            return cached[2], cached[3]
        key = source_key(source)
        if cached is not None and cached[1] == key:
            self._map_cache[slot] = (source, key, cached[2], cached[3])
            return cached[2], cached[3]
        (unit,) = common.with_family_defaults((_with_source(self.units[slot], source),), self.settings.family)
        pixels = control.prepare_control_map(unit, width, height, f"frame.controls[slot {slot}]",
                                             self.env.estimators, self.env.limits.max_input_pixels)
        self.control_maps_computed += 1
        self.on_control_map()
        entry = (source, key, Image.fromarray(pixels), _small(pixels))
        self._map_cache[slot] = entry
        return entry[2], entry[3]

    # 2. similarity filter ------------------------------------------------------------------------

    def _reuse(self, prepared: _Prepared) -> LiveOutcome | None:
        threshold = self.settings.similarity_threshold
        last = self._last
        inputs = prepared.inputs
        if threshold <= 0 or last is None or (last[3], last[4]) != (inputs.prompt, inputs.seed) \
                or last[1].shape != prepared.signature.shape:
            return None
        similarity = similarity_of(last[1], prepared.signature)
        if similarity < threshold:
            return None
        return LiveOutcome(inputs.frame, inputs.ticket, prepared.started, last[2], reused_from=last[0], similarity=similarity,
                           seed=inputs.seed, prepare_ms=prepared.prepare_ms)

    def remember(self, prepared: _Prepared, pixels: np.ndarray) -> None:
        """The frame's result becomes the reference of the similarity filter and of feedback."""
        inputs = prepared.inputs
        self._last = (inputs.frame, prepared.signature, pixels, inputs.prompt, inputs.seed)
        self._previous_pixels = pixels

    # 4. denoise ----------------------------------------------------------------------------------

    def view(self, mode: str):
        """The session's own pipeline view for a mode (txt2img, img2img): shared weights, its own scheduler."""
        if mode not in self._views:
            plain_cls, control_cls = common.mode_pipelines(self.settings.family, mode)
            self._views[mode] = common.pipeline_view(control_cls if self.controlnets else plain_cls, self.model,
                                                     self.plan, self.controlnets)
        return self._views[mode]

    def steps_for(self, with_image: bool) -> int:
        """img2img runs int(steps x strength) steps; unless the client chose the steps, it gets at least one."""
        steps = self.settings.steps
        if with_image and not self.settings.steps_given and int(steps * self.settings.strength) < 1:
            steps = math.ceil(1 / self.settings.strength - 1e-9)
        return steps

    def _compute(self, prepared: _Prepared, cancelled) -> LiveOutcome:
        inputs = prepared.inputs
        width, height = self.size
        with_image = prepared.init is not None
        pipe = self.view("img2img" if with_image else "txt2img")
        steps = self.steps_for(with_image)
        kwargs = dict(prompt=inputs.prompt, negative_prompt=self.settings.negative_prompt or None,
                      num_inference_steps=steps, guidance_scale=self.settings.guidance, num_images_per_prompt=1,
                      generator=[torch.Generator("cpu").manual_seed(inputs.seed)])
        if with_image:
            kwargs.update(image=Image.fromarray(prepared.init), strength=self.settings.strength)
        else:
            kwargs.update(width=width, height=height)
        if self.controlnets:
            kwargs.update(common._controlnet_kwargs(self.units, prepared.maps,
                                                    "control_image" if with_image else "image"))
        begun = time.monotonic()
        total = common.expected_steps(steps, self.settings.strength if with_image else None)
        with self.env.manager.adapters.applied(pipe, self.settings.family, self.adapters):
            pixels = common.denoise(pipe, _FrameContext(cancelled), total, **kwargs)[0]
        self.remember(prepared, pixels)
        return LiveOutcome(inputs.frame, inputs.ticket, prepared.started, pixels, seed=inputs.seed, prepare_ms=prepared.prepare_ms,
                           pipeline_ms=(time.monotonic() - begun) * 1000)


def _with_source(unit: ControlUnitSpec, source) -> ControlUnitSpec:
    from dataclasses import replace
    return replace(unit, source=source)


def _small(pixels: np.ndarray) -> np.ndarray:
    """A control map or image as one float32 gray plane at SIGNATURE_SIDE² (the similarity filter's view)."""
    gray = pixels.mean(axis=2) if pixels.ndim == 3 else pixels
    return imaging.resize(gray.astype(np.float32), SIGNATURE_SIDE, SIGNATURE_SIDE).astype(np.float32)


def similarity_of(a: np.ndarray, b: np.ndarray) -> float:
    """1 - mean absolute difference of two signatures on the 0..255 scale (1 = identical)."""
    if a.size == 0:
        return 1.0
    return float(1.0 - np.abs(a - b).mean() / 255.0)


__all__ = ["LiveRunner", "LiveOutcome", "resolve_config", "check_frame", "Cancelled"]
