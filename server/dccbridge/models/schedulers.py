"""The samplers a request may name, and how each is built from a model's own scheduler config."""

from __future__ import annotations

from dataclasses import dataclass, field

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LCMScheduler,
    PNDMScheduler,
    TCDScheduler,
    UniPCMultistepScheduler,
)

from ..errors import InvalidInput


@dataclass(frozen=True)
class SchedulerSpec:
    label: str
    scheduler_class: type
    # Set explicitly rather than inherited, so a base config that came from another sampler
    # (e.g. one with Karras sigmas) cannot leak into this one.
    extra_config: dict = field(default_factory=dict)


NO_KARRAS = {"use_karras_sigmas": False}

SCHEDULERS: dict[str, SchedulerSpec] = {
    "unipc": SchedulerSpec("UniPC", UniPCMultistepScheduler, NO_KARRAS),
    "euler_a": SchedulerSpec("Euler a", EulerAncestralDiscreteScheduler),
    "euler": SchedulerSpec("Euler", EulerDiscreteScheduler, NO_KARRAS),
    "heun": SchedulerSpec("Heun", HeunDiscreteScheduler, NO_KARRAS),
    "dpmpp_2m": SchedulerSpec(
        "DPM++ 2M", DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", **NO_KARRAS}
    ),
    "dpmpp_2m_karras": SchedulerSpec(
        "DPM++ 2M Karras", DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}
    ),
    "dpmpp_2m_sde_karras": SchedulerSpec(
        "DPM++ 2M SDE Karras",
        DPMSolverMultistepScheduler,
        {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
    ),
    # SD checkpoints never clip samples; DDIM's and PNDM's class defaults would (or shift the last step).
    "ddim": SchedulerSpec("DDIM", DDIMScheduler, {"clip_sample": False, "set_alpha_to_one": False}),
    "pndm": SchedulerSpec("PNDM", PNDMScheduler, {"skip_prk_steps": True, "set_alpha_to_one": False}),
    # Few-step samplers (docs/speed.md): for LCM-distilled models or an LCM-LoRA (2-8 steps, guidance 1-2), and
    # TCD for TCD / Hyper-SD LoRAs (4-8 steps). Both keep the model's betas; clip_sample stays off as for DDIM.
    "lcm": SchedulerSpec("LCM", LCMScheduler, {"clip_sample": False, "set_alpha_to_one": False}),
    "tcd": SchedulerSpec("TCD", TCDScheduler, {"clip_sample": False, "set_alpha_to_one": False}),
}

SCHEDULER_OPTIONS: list[tuple[str, str]] = [(scheduler_id, spec.label) for scheduler_id, spec in SCHEDULERS.items()]


def make_scheduler(scheduler_id: str, base_config):
    """A new scheduler of the named kind, keeping the model's training schedule (betas, offsets, prediction type)."""
    spec = SCHEDULERS.get(scheduler_id)
    if spec is None:
        raise InvalidInput(
            "sampling.scheduler",
            f"unknown scheduler '{scheduler_id}'; choose one of: {', '.join(SCHEDULERS)}",
        )
    return spec.scheduler_class.from_config(base_config, **spec.extra_config)
