"""Reference images (IP-Adapter image prompts) as control units of a generate job.

A CONTROL_TYPE_REFERENCE unit names one of the model's IP-Adapters (catalog `[models.X.ip_adapters.ID]`), carries
1..max_reference_images images with optional relative weights, a scale (controlnet_conditioning_scale) and the
fraction of steps it acts in (control_guidance_start/end). It combines with ControlNet units in one job.

- check_reference_unit: everything a unit can get wrong, before loading anything (images checked from their
  header against the pixel budget, then decoded).
- applied: the model's IP-Adapters on the job's view (models/ip_adapters.py restores the shared UNet after it),
  each unit's images encoded and blended (the weighted mean of their image-encoder embeddings) into the call's
  `ip_adapter_image_embeds`, and a step hook that sets each unit's scale to 0 outside [start, end] -- the same
  rule diffusers applies to ControlNets' control_guidance_start/end.
- provenance: A1111 "IP-Adapter N" fields and the JSON record (adapter and encoder hashes, image hashes).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image

from .. import imaging
from ..domain import ControlUnitSpec, ReferenceImagesInput
from ..errors import InvalidInput
from ..models.ip_adapter_catalog import IP_ADAPTER_KINDS, find_ip_adapter
from .env import OpEnv
from .limits import check_range, check_unit_scale_and_window

IMAGE_WEIGHT_RANGE = (0.0, 2.0)
SCALE_RANGE = (0.0, 2.0)


def split_units(units: tuple[ControlUnitSpec, ...]) -> tuple[tuple[ControlUnitSpec, ...], tuple]:
    """(the ControlNet units, the reference units as (index in the request, unit) pairs)."""
    controlnet_units = tuple(u for u in units if not u.is_reference)
    references = tuple((i, u) for i, u in enumerate(units) if u.is_reference)
    return controlnet_units, references


def has_references(units: tuple[ControlUnitSpec, ...]) -> bool:
    return any(u.is_reference for u in units)


def check_reference_unit(unit: ControlUnitSpec, field: str, entry, env: OpEnv) -> None:
    source = unit.source
    if not isinstance(source, ReferenceImagesInput):
        raise InvalidInput(f"{field}.reference", "a CONTROL_TYPE_REFERENCE unit takes its images in `reference`")
    find_ip_adapter(entry, unit.adapter_id, f"{field}.adapter_id")
    if unit.controlnet_id:
        raise InvalidInput(f"{field}.controlnet_id", "a reference unit names its IP-Adapter in adapter_id")
    check_unit_scale_and_window(unit, field, SCALE_RANGE)
    where = f"{field}.reference"
    count, limit = len(source.images), env.limits.max_reference_images
    if not 1 <= count <= limit:
        raise InvalidInput(f"{where}.images", f"must hold 1 to {limit} images, got {count}")
    if source.weights:
        if len(source.weights) != count:
            raise InvalidInput(f"{where}.weights", f"give one weight per image ({count}) or none, got "
                                                   f"{len(source.weights)}")
        for j, weight in enumerate(source.weights):
            check_range(f"{where}.weights[{j}]", weight, *IMAGE_WEIGHT_RANGE)
        if not sum(source.weights) > 0:
            raise InvalidInput(f"{where}.weights", "at least one weight must be above 0")
    for j, image in enumerate(source.images):
        _decode(image, f"{where}.images[{j}]", env)


def check_one_encoder(units: tuple[ControlUnitSpec, ...], entry, field: str = "control_units") -> None:
    """A job's reference units must share one image encoder (one is set on the pipeline per job)."""
    first = None
    for i, unit in enumerate(units):
        if not unit.is_reference:
            continue
        adapter = find_ip_adapter(entry, unit.adapter_id, f"{field}[{i}].adapter_id")
        encoder = (adapter.image_encoder, adapter.image_encoder_subfolder)
        if first is None:
            first = (adapter, encoder)
        elif encoder != first[1]:
            raise InvalidInput(f"{field}[{i}].adapter_id",
                               f"'{adapter.id}' uses another image encoder than '{first[0].id}'; the reference "
                               "units of one job must use IP-Adapters with the same image encoder")


def _decode(image, field: str, env: OpEnv) -> np.ndarray:
    """RGB pixels; the header's size is checked against the input pixel budget before decoding."""
    return imaging.decode_image(image.data, field, max_pixels=env.limits.max_input_pixels)


# -- running ----------------------------------------------------------------------------------------


@contextmanager
def applied(pipe, references, entry, env: OpEnv, kwargs: dict, guidance: bool, total_steps: int):
    """Within the block the view runs with the reference units: `kwargs` gains ip_adapter_image_embeds and the
    yielded hook (None without references) keeps each unit's scale inside its [start, end]. The shared UNet is
    restored on exit."""
    if not references:
        yield None
        return
    adapters = [find_ip_adapter(entry, u.adapter_id, f"control_units[{i}].adapter_id") for i, u in references]
    with env.manager.ip_adapters.applied(pipe, adapters):
        embeds = [_unit_embeds(pipe, u, adapter.kind, f"control_units[{i}].reference", env, guidance)
                  for (i, u), adapter in zip(references, adapters)]
        kwargs["ip_adapter_image_embeds"] = embeds
        units = [u for _, u in references]

        def on_step(done: int) -> None:
            """Before step `done` (0-based): each unit's scale, or 0 outside its [start, end]."""
            pipe.set_ip_adapter_scale([u.conditioning_scale * _active(u, done, total_steps) for u in units])

        on_step(0)
        yield on_step


def _active(unit: ControlUnitSpec, step: int, total: int) -> float:
    # diffusers' rule for control_guidance_start/end: off when the step starts before start or ends after end.
    return 0.0 if step / total < unit.guidance_start or (step + 1) / total > unit.guidance_end else 1.0


def _unit_embeds(pipe, unit: ControlUnitSpec, kind: str, field: str, env: OpEnv, guidance: bool) -> torch.Tensor:
    """One unit's image prompt as the pipeline's ip_adapter_image_embeds entry: [negative, positive] with
    classifier-free guidance (2, 1, ...), else (1, 1, ...)."""
    source: ReferenceImagesInput = unit.source
    images = [Image.fromarray(_decode(image, f"{field}.images[{j}]", env)) for j, image in enumerate(source.images)]
    weights = torch.tensor(source.weights or [1.0] * len(images), dtype=torch.float32)
    weights = weights / weights.sum()
    # Plus takes the encoder's penultimate hidden states (patch tokens); the plain adapter its projected embedding.
    hidden_states = kind == "ip-adapter-plus"
    with torch.inference_mode():
        positive, negative = pipe.encode_image(images, pipe._execution_device, 1, hidden_states)

    def blended(embeds: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (embeds.ndim - 1)
        mixed = (embeds.float() * weights.to(embeds.device).view(shape)).sum(dim=0, keepdim=True)
        return mixed.to(embeds.dtype)[None]  # (1, 1, ...): one image prompt for this adapter

    positive = blended(positive)
    return torch.cat([blended(negative), positive]) if guidance else positive


# -- provenance -------------------------------------------------------------------------------------


def provenance(references, entry, env: OpEnv) -> tuple[tuple[str, ...], dict]:
    """A1111 fields ('IP-Adapter 0: "Model: id (hash), Weight: ..., Images: ..."') and the JSON record
    {"reference_units": [...]}; nothing without reference units."""
    if not references:
        return (), {}
    fields, records = [], []
    for n, (i, unit) in enumerate(references):
        adapter = find_ip_adapter(entry, unit.adapter_id, f"control_units[{i}].adapter_id")
        hashes = env.manager.ip_adapters.hashes(adapter)
        source: ReferenceImagesInput = unit.source
        weights = source.weights or (1.0,) * len(source.images)
        image_hashes = [image.sha256() for image in source.images]
        fields.append(
            f'IP-Adapter {n}: "Model: {adapter.id} ({hashes["adapter"]}), Kind: {IP_ADAPTER_KINDS[adapter.kind]}, '
            f"Weight: {unit.conditioning_scale:g}, Guidance Start: {unit.guidance_start:g}, "
            f"Guidance End: {unit.guidance_end:g}, Images: "
            + " ".join(f"{h[:10]}x{w:g}" for h, w in zip(image_hashes, weights)) + '"'
        )
        records.append({
            "control_unit": i, "adapter_id": adapter.id, "kind": adapter.kind, "adapter_hash": hashes["adapter"],
            "image_encoder_hash": hashes["image_encoder"], "scale": unit.conditioning_scale,
            "control_guidance_start": unit.guidance_start, "control_guidance_end": unit.guidance_end,
            "images": [{"sha256": h, "weight": w} for h, w in zip(image_hashes, weights)],
        })
    return tuple(fields), {"reference_units": records}
