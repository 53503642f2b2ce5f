"""Cross-request batching inside the pipeline: gathering proxies for the heavy modules (see docs/batching.md).

A job of a batch runs its op unchanged, in its own thread, on its own pipeline view. `gathered(pipe, ctx)` swaps
the view's UNet, ControlNet(s), VAE and text encoder(s) for proxies. A proxy call goes to the batch's meeting
point (ops/rendezvous.py); once every job of the batch is waiting there, the calls with the same signature are
concatenated along dim 0, the real module runs once, and each job gets its rows back. Everything else -- the
scheduler and its state, the generator, strength, CFG, callbacks (progress, previews, cancel) -- stays per job, so
one code path serves a job alone and in a batch.

Per-job differences that are call arguments:
- `timestep`: expanded to one value per sample (UNet and ControlNet accept per-sample timesteps), so jobs at
  different steps (different img2img strengths) still share a call.
- ControlNet `conditioning_scale`: the model runs with 1.0 and each job's residuals are multiplied by its own scale
  afterwards -- exactly the product the model computes inside (not with guess mode or pooled conditions, where
  the scale is part of the signature instead).
- VAE `decode(generator=...)`: unused by AutoencoderKL's decode, dropped.
- Anything else must be equal (it is part of the signature); a tensor that is not per-sample makes a call run alone.
A group of one runs with the job's own arguments, untouched: a batch that shrank to one job computes exactly what
the job computes alone. A batched call that runs out of memory runs again one job at a time.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import threading
from collections.abc import Callable
from typing import Any

import torch
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from diffusers.utils.torch_utils import is_compiled_module

from ..models.memory import available_bytes, image_bytes
from .context import OpContext

INNER = "gathered_module"  # the real module, registered as the proxy's only child
# The order a pipeline calls its modules in: a round runs the earliest waiting (ops/rendezvous.py).
STAGES = ("text_encoder", "text_encoder_2", "vae.encode", "controlnet", "unet", "vae.decode")


# -- swapping the view's modules ------------------------------------------------------------------------------


def gathered(pipe, ctx: OpContext):
    """In a batch (ctx.batch set), `pipe` (a per-job view) with its heavy modules replaced by gathering proxies;
    alone, `pipe` unchanged. The shared model is not touched: the proxies live on this view only."""
    member = getattr(ctx, "batch", None)
    if member is None:
        return pipe
    for name in ("tokenizer", "tokenizer_2"):
        tokenizer = getattr(pipe, name, None)
        if tokenizer is not None and not isinstance(tokenizer, _OneAtATime):
            setattr(pipe, name, _OneAtATime(tokenizer))
    for name in ("text_encoder", "text_encoder_2", "unet", "vae"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            setattr(pipe, name, _proxy(module, member, name))
    controlnet = getattr(pipe, "controlnet", None)
    if isinstance(controlnet, MultiControlNetModel):
        pipe.controlnet = MultiControlNetModel([_proxy(net, member, "controlnet") for net in controlnet.nets])
    elif isinstance(controlnet, torch.nn.Module):
        pipe.controlnet = _proxy(controlnet, member, "controlnet")
    return pipe


def _proxy(real: torch.nn.Module, member, label: str) -> torch.nn.Module:
    """A module that passes as `real` (same class for isinstance, attributes delegated) and gathers its calls."""
    if isinstance(real, _Gathered):
        real = real._modules[INNER]
    base = real._orig_mod if is_compiled_module(real) else real
    kind = _VaeProxy if label == "vae" else _ControlNetProxy if label == "controlnet" else _ForwardProxy
    cls = _proxy_class(kind, type(base))
    proxy = cls.__new__(cls)
    torch.nn.Module.__init__(proxy)
    proxy.add_module(INNER, real)  # .parameters(), .dtype and .device answer for the real weights
    proxy.__dict__["_gathered_member"] = member
    proxy.__dict__["_gathered_label"] = label
    return proxy


_CLASSES: dict[tuple[type, type], type] = {}


def _proxy_class(kind: type, real_cls: type) -> type:
    cls = _CLASSES.get((kind, real_cls))
    if cls is None:
        # __module__ of the real class: diffusers records a component's library from it (pipeline config).
        cls = type(f"Gathered{real_cls.__name__}", (kind, real_cls), {"__module__": real_cls.__module__})
        _CLASSES[(kind, real_cls)] = cls
    return cls


class _Gathered:
    """Base of the proxies: attribute reads the proxy does not have go to the real module."""

    def __getattr__(self, name: str):
        modules = self.__dict__.get("_modules")
        if modules is None or INNER not in modules:
            raise AttributeError(name)
        if name == INNER:
            return modules[INNER]
        return getattr(modules[INNER], name)

    def _gather(self, method: str, args: tuple, kwargs: dict, prepare=None):
        real = self._modules[INNER]
        return _gathered_call(self.__dict__["_gathered_member"], self.__dict__["_gathered_label"], real, method,
                              args, kwargs, prepare)


class _ForwardProxy(_Gathered):
    """UNet and text encoders: forward gathered, timesteps per sample."""

    def forward(self, *args, **kwargs):
        return self._gather("forward", args, kwargs, _per_sample_timestep)


class _ControlNetProxy(_Gathered):
    def forward(self, *args, **kwargs):
        return self._gather("forward", args, kwargs, self._prepare)

    def _prepare(self, arguments: dict, n: int):
        arguments, finish = _per_sample_timestep(arguments, n)
        config = self._modules[INNER].config
        if arguments.get("guess_mode") or getattr(config, "global_pool_conditions", False):
            return arguments, finish  # the scale enters non-linearly there: keep it in the signature
        scale = arguments.get("conditioning_scale", 1.0)
        arguments["conditioning_scale"] = 1.0
        return arguments, lambda output: _map_tensors(output, lambda t: t * scale)


class _VaeProxy(_Gathered):
    def encode(self, *args, **kwargs):
        return self._gather("encode", args, kwargs)

    def decode(self, *args, **kwargs):
        return self._gather("decode", args, kwargs, _drop_generator)


def _per_sample_timestep(arguments: dict, n: int):
    timestep = arguments.get("timestep")
    if timestep is not None:
        sample = arguments.get("sample")
        device = sample.device if isinstance(sample, torch.Tensor) else None
        if not isinstance(timestep, torch.Tensor):
            timestep = torch.tensor(timestep, dtype=torch.float64 if isinstance(timestep, float) else torch.int64)
        if device is not None:
            timestep = timestep.to(device)
        if timestep.dim() == 0 or timestep.numel() == 1:
            timestep = timestep.reshape(1).expand(n)
        arguments["timestep"] = timestep
    return arguments, None


def _drop_generator(arguments: dict, n: int):
    arguments.pop("generator", None)
    return arguments, None


class _OneAtATime:
    """A shared tokenizer, one call at a time: the jobs of a batch tokenize in their own threads, and a fast
    tokenizer's call sets its padding and truncation state first -- two at once make one of them pad wrongly."""

    _lock = threading.Lock()  # tokenizing is quick: one lock for all of them

    def __init__(self, tokenizer):
        self.__dict__["_tokenizer"] = tokenizer

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._tokenizer)

    def __getattr__(self, name: str):
        value = getattr(self.__dict__["_tokenizer"], name)
        if not callable(value):
            return value

        def locked(*args, **kwargs):
            with self._lock:
                return value(*args, **kwargs)

        return locked


# -- one gathered call ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Payload:
    n: int                                  # this job's rows
    leaves: list[torch.Tensor]              # its per-sample tensors, in spec order
    spec: Any                               # the call's arguments with the leaves taken out
    alone: Callable[[], Any]                # the call with the job's own, untouched arguments
    finish: Callable[[Any], Any] | None     # applied to this job's rows of a batched output


def _gathered_call(member, label, real, method, args, kwargs, prepare):
    """Hand the call to the batch and wait for this job's part of the result."""
    target = real if method == "forward" else getattr(real, method)  # real(...) for forward, so its hooks fire
    label = label if method == "forward" else f"{label}.{method}"
    rank = STAGES.index(label) if label in STAGES else len(STAGES)

    def alone():
        return target(*args, **kwargs)

    arguments = _bind(getattr(real, method), args, kwargs)
    n = _rows(arguments)
    if arguments is None or n is None:
        return member.call(label, rank, object(), _Payload(0, [], None, alone, None), _run_group(target, label))
    finish = None
    if prepare is not None:
        arguments, finish = prepare(arguments, n)
    leaves: list[torch.Tensor] = []
    spec = _flatten(arguments, n, leaves)
    signature = (id(real), method, spec)
    return member.call(label, rank, signature, _Payload(n, leaves, spec, alone, finish), _run_group(target, label))


def _run_group(target, label: str):
    def run(payloads: list[_Payload]) -> list:
        with torch.inference_mode():  # every caller is inside its pipeline's inference mode (ops/common.denoise)
            if len(payloads) == 1:
                return [payloads[0].alone()]
            leaves = [torch.cat(parts) for parts in zip(*(p.leaves for p in payloads))]
            arguments = _rebuild(payloads[0].spec, iter(leaves))
            try:
                output = target(**arguments)
            except torch.OutOfMemoryError:
                _empty_cache()
                return [p.alone() for p in payloads]  # the smaller calls may fit: never fail what alone would not
            parts = _split(output, [p.n for p in payloads])
            return [p.finish(part) if p.finish else part for p, part in zip(payloads, parts)]

    return run


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _bind(function, args: tuple, kwargs: dict) -> dict | None:
    """The call's arguments by name, defaults included; None when they cannot all be passed by name."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    arguments = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL or kind is inspect.Parameter.POSITIONAL_ONLY:
            if value != ():
                return None
        else:
            arguments[name] = value
    return arguments


def _rows(arguments: dict | None) -> int | None:
    """The job's batch rows: dim 0 of the first tensor argument (sample, input_ids, z, x)."""
    for value in (arguments or {}).values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    return None


def _flatten(value, n: int, leaves: list):
    """A hashable description of `value`, with its per-sample tensors (dim 0 == n) moved into `leaves`."""
    if isinstance(value, torch.Tensor):
        if value.dim() > 0 and value.shape[0] == n:
            leaves.append(value)
            return ("tensor", tuple(value.shape[1:]), value.dtype, value.device)
        return ("alone", object())  # not per-sample: no other call can share it
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_flatten(v, n, leaves) for v in value))
    if isinstance(value, dict):
        return (type(value), tuple((k, _flatten(v, n, leaves)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("alone", object())
    return ("value", type(value), value)


def _rebuild(spec, leaves):
    tag = spec[0]
    if tag == "tensor":
        return next(leaves)
    if tag == "value":
        return spec[2]
    if tag is dict or (isinstance(tag, type) and issubclass(tag, dict)):
        return tag((k, _rebuild(v, leaves)) for k, v in spec[1])
    if isinstance(tag, type) and issubclass(tag, (list, tuple)):
        return tag(_rebuild(v, leaves) for v in spec[1])
    raise AssertionError(f"cannot rebuild {tag}")  # "alone" specs never reach a group of two


def _split(value, sizes: list[int]) -> list:
    """Each job's rows of a batched output (tensors, tuples, lists, dicts, model outputs, latent distributions)."""
    k, total = len(sizes), sum(sizes)
    if isinstance(value, torch.Tensor):
        return list(value.split(sizes)) if value.dim() > 0 and value.shape[0] == total else [value] * k
    if isinstance(value, DiagonalGaussianDistribution):
        return [DiagonalGaussianDistribution(p, value.deterministic) for p in value.parameters.split(sizes)]
    if isinstance(value, collections.OrderedDict) and dataclasses.is_dataclass(value):  # ModelOutput, BaseOutput
        fields = {key: _split(item, sizes) for key, item in value.items()}
        return [type(value)(**{key: parts[i] for key, parts in fields.items()}) for i in range(k)]
    if isinstance(value, dict):
        fields = {key: _split(item, sizes) for key, item in value.items()}
        return [type(value)((key, parts[i]) for key, parts in fields.items()) for i in range(k)]
    if isinstance(value, (list, tuple)):
        columns = [_split(item, sizes) for item in value]
        return [type(value)(column[i] for column in columns) for i in range(k)]
    return [value] * k


def _map_tensors(value, fn):
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, collections.OrderedDict) and dataclasses.is_dataclass(value):
        return type(value)(**{key: _map_tensors(item, fn) for key, item in value.items()})
    if isinstance(value, dict):
        return type(value)((key, _map_tensors(item, fn)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(item, fn) for item in value)
    return value


def vae_stays_shared(env, entry) -> bool:
    """False when the model's pipeline would cast the shared VAE for one job: SDXL pipelines upcast an fp16 VAE
    whose config says force_upcast, and cast it back after their decode -- with batched jobs decoding at
    different times, one job's cast-back would hit another's decode. Unknown until the model is loaded, so an
    fp16 SDXL model that is not loaded yet counts as casting (its first jobs run alone)."""
    if entry.family != "sdxl" or env.manager.dtype != torch.float16:
        return True
    if not env.manager.is_loaded(entry.id):
        return False
    return not env.manager.load(entry.id).pipeline.vae.config.force_upcast


# -- how many images fit in one batch -------------------------------------------------------------------------


def capacity_images(env, model_id: str, width: int, height: int, guidance: bool) -> int:
    """The most images of this model and size one batch may hold on the device: its free memory over a
    per-image estimate (models/memory.py). At least 1. The architecture comes from the loaded model, else the
    family's full-size defaults (an over-estimate for smaller models, which only makes batches smaller)."""
    model = env.manager.load(model_id) if env.manager.is_loaded(model_id) else None
    entry = env.catalog.get(model_id)
    pipeline = model.pipeline if model is not None else None
    per_image = image_bytes(entry.family, width, height, env.manager.dtype, guidance,
                            unet_config=pipeline.unet.config if pipeline is not None else None,
                            vae_config=pipeline.vae.config if pipeline is not None else None)
    return max(1, int(available_bytes(env.manager.device) // per_image))
