"""Stream batch: consecutive frames of a live session share UNet calls (LIVE_PRIORITY_THROUGHPUT).

The idea is StreamDiffusion's (Kodaira et al., 2023, "Stream Batch"): with k denoising steps, rather than k
UNet calls per frame one after another, the frames in flight sit at different steps and one UNet call advances
all of them by one step -- frame n at its step 1, frame n-1 at its step 2, ... A frame is answered when it leaves
its last step, k-1 calls after it came in; with frames arriving steadily, each call finishes one frame. When no
new frame waits, the frames in flight are advanced alone, so the last frame of a burst is never held back.

Our own few-step loop, written for this (no diffusers pipeline call): trailing timesteps from the model's
training schedule (DDIM's table), the img2img start at `strength`, and the deterministic DDIM update from the
predicted clean latents (epsilon or v prediction), each sample of the batch at its own timestep. ControlNet
residuals are computed for the whole batch and scaled per sample (a unit's guidance window depends on the
sample's step). SD1.5/SD2-shaped UNets only (ops/live.STREAM_FAMILIES).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers import DDIMScheduler

from .prompt_embeds import does_guidance, with_cached_embeddings


@dataclass
class _InFlight:
    prepared: object        # ops.live._Prepared
    latents: torch.Tensor   # 1 x 4 x h x w at the current step
    timesteps: list[int]    # this frame's steps
    controls: list[torch.Tensor]  # one 1 x 3 x H x W map in [0, 1] per slot
    embeds: tuple[torch.Tensor, torch.Tensor]  # (negative, positive) prompt embeddings, 1 x tokens x dim each
    step: int = 0
    pipeline_ms: float = 0.0
    batch: int = 1
    started_ms: float = field(default_factory=time.monotonic)


class StreamBatch:
    def __init__(self, runner):
        self.runner = runner
        self.items: list[_InFlight] = []
        self._schedule: DDIMScheduler | None = None

    @property
    def in_flight(self) -> int:
        return len(self.items)

    def drop(self) -> list[tuple[int, int]]:
        """Forget the frames in flight (the session ended); their (ticket, frame number)."""
        dropped = [(item.prepared.inputs.ticket, item.prepared.inputs.frame) for item in self.items]
        self.items = []
        return dropped

    def push(self, prepared, cancelled=lambda: False) -> list:
        """Take a new frame (None: none waits) and advance every frame in flight by one step; the outcomes of the
        frames that finished."""
        from .live import LiveOutcome  # live imports this module lazily; the cycle is only at call time

        if cancelled():
            return []
        runner = self.runner
        pipe = runner.view("img2img" if (prepared is not None and prepared.init is not None) or
                           (prepared is None and self.items and self.items[0].prepared.init is not None)
                           else "txt2img")
        with runner.env.manager.adapters.applied(pipe, runner.settings.family, runner.adapters), \
                torch.inference_mode():
            if prepared is not None:
                self.items.append(self._enter(pipe, prepared))
            begun = time.monotonic()
            finished = self._advance(pipe)
            call_ms = (time.monotonic() - begun) * 1000
        outcomes = []
        for item, pixels in finished:
            runner.remember(item.prepared, pixels)
            inputs = item.prepared.inputs
            outcomes.append(LiveOutcome(inputs.frame, inputs.ticket, item.prepared.started, pixels, seed=inputs.seed,
                                        prepare_ms=item.prepared.prepare_ms, pipeline_ms=item.pipeline_ms,
                                        stream_batch=item.batch))
        for item in self.items:
            item.pipeline_ms += call_ms
        return outcomes

    # -- the loop ---------------------------------------------------------------------------------

    def schedule(self, pipe) -> DDIMScheduler:
        if self._schedule is None:
            self._schedule = DDIMScheduler.from_config(self.runner.model.pipeline.scheduler.config,
                                                       timestep_spacing="trailing", clip_sample=False,
                                                       set_alpha_to_one=False, steps_offset=0)
        return self._schedule

    def timesteps(self, pipe, with_image: bool) -> list[int]:
        runner = self.runner
        steps = runner.steps_for(with_image)
        schedule = self.schedule(pipe)
        schedule.set_timesteps(steps)
        timesteps = [int(t) for t in schedule.timesteps]
        if with_image:
            timesteps = timesteps[steps - max(1, int(steps * runner.settings.strength)):]
        return timesteps

    def _enter(self, pipe, prepared) -> _InFlight:
        runner = self.runner
        device, dtype = pipe._execution_device, pipe.unet.dtype
        width, height = runner.size
        seed = prepared.inputs.seed
        generator = torch.Generator("cpu").manual_seed(seed)
        shape = (1, pipe.unet.config.in_channels, height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(device, dtype)
        timesteps = self.timesteps(pipe, prepared.init is not None)
        if prepared.init is not None:
            image = torch.from_numpy(prepared.init).permute(2, 0, 1)[None].to(device, dtype) / 127.5 - 1.0
            clean = pipe.vae.encode(image).latent_dist.mean * pipe.vae.config.scaling_factor
            alpha = self._alpha(timesteps[0], device, dtype)
            latents = alpha.sqrt() * clean + (1 - alpha).sqrt() * noise
        else:
            latents = noise
        controls = [torch.from_numpy(np.array(m)).permute(2, 0, 1)[None].to(device, dtype) / 255.0
                    for m in prepared.maps]
        kwargs = with_cached_embeddings(pipe, runner.model, dict(
            prompt=prepared.inputs.prompt, negative_prompt=runner.settings.negative_prompt or None,
            guidance_scale=runner.settings.guidance))
        if "prompt_embeds" not in kwargs:  # no prompt cache on this model: encode here
            positive, negative = pipe.encode_prompt(prepared.inputs.prompt, device, 1, True,
                                                    runner.settings.negative_prompt or None)
        else:
            positive, negative = kwargs["prompt_embeds"], kwargs["negative_prompt_embeds"]
        return _InFlight(prepared, latents, timesteps, controls, (negative, positive), started_ms=time.monotonic())

    def _alpha(self, t: int, device, dtype) -> torch.Tensor:
        return self._schedule.alphas_cumprod[t].to(device=device, dtype=torch.float32)

    def _advance(self, pipe) -> list[tuple[_InFlight, np.ndarray]]:
        runner = self.runner
        items = self.items
        if not items:
            return []
        device, dtype = pipe._execution_device, pipe.unet.dtype
        for item in items:
            item.batch = max(item.batch, len(items))
        latents = torch.cat([item.latents for item in items])
        t = torch.tensor([item.timesteps[item.step] for item in items], device=device)
        guided = does_guidance(pipe, runner.settings.guidance)
        positive = torch.cat([item.embeds[1] for item in items])
        if guided:
            negative = torch.cat([item.embeds[0] for item in items])
            model_in, t_in, embeds = torch.cat([latents] * 2), torch.cat([t] * 2), torch.cat([negative, positive])
        else:
            model_in, t_in, embeds = latents, t, positive
        residuals = self._control_residuals(pipe, model_in, t_in, embeds, guided)
        prediction = pipe.unet(model_in, t_in, encoder_hidden_states=embeds, return_dict=False,
                               **residuals)[0]
        if guided:
            uncond, cond = prediction.chunk(2)
            prediction = uncond + runner.settings.guidance * (cond - uncond)
        finished, keep = [], []
        for i, item in enumerate(items):
            clean, noise = self._clean_and_noise(latents[i:i + 1].float(), prediction[i:i + 1].float(),
                                                 item.timesteps[item.step], device)
            item.step += 1
            if item.step == len(item.timesteps):
                finished.append((item, clean))
            else:
                alpha = self._alpha(item.timesteps[item.step], device, dtype)
                item.latents = (alpha.sqrt() * clean + (1 - alpha).sqrt() * noise).to(dtype)
                keep.append(item)
        self.items = keep
        if not finished:
            return []
        clean = torch.cat([c for _, c in finished]).to(dtype) / pipe.vae.config.scaling_factor
        images = pipe.vae.decode(clean, return_dict=False)[0]
        images = ((images.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round()
        return [(item, images[i].astype(np.uint8)) for i, (item, _) in enumerate(finished)]

    def _clean_and_noise(self, sample, output, t: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted clean latents and noise of one sample at timestep t."""
        alpha = self._alpha(t, device, torch.float32)
        a, s = alpha.sqrt(), (1 - alpha).sqrt()
        kind = self._schedule.config.prediction_type
        if kind == "v_prediction":
            return a * sample - s * output, a * output + s * sample
        if kind == "sample":
            return output, (sample - a * output) / s
        return (sample - s * output) / a, output

    def _control_residuals(self, pipe, model_in, t_in, embeds, guided) -> dict:
        """ControlNet residuals for the batch, each sample's scaled by its unit's weight and guidance window."""
        runner = self.runner
        if not runner.controlnets:
            return {}
        repeat = 2 if guided else 1
        down_total = mid_total = None
        for slot, (unit, controlnet) in enumerate(zip(runner.units, runner.controlnets)):
            scales = []
            for item in self.items:
                share_start = item.step / len(item.timesteps)
                share_end = (item.step + 1) / len(item.timesteps)
                on = not (share_start < unit.guidance_start or share_end > unit.guidance_end)
                scales.append(unit.conditioning_scale if on else 0.0)
            scale = torch.tensor(scales * repeat, device=model_in.device, dtype=model_in.dtype)[:, None, None, None]
            cond = torch.cat([item.controls[slot] for item in self.items] * repeat)
            down, mid = controlnet(model_in, t_in, encoder_hidden_states=embeds, controlnet_cond=cond,
                                   conditioning_scale=1.0, return_dict=False)
            down = [d * scale for d in down]
            mid = mid * scale
            down_total = down if down_total is None else [a + b for a, b in zip(down_total, down)]
            mid_total = mid if mid_total is None else mid_total + mid
        return dict(down_block_additional_residuals=down_total, mid_block_additional_residual=mid_total)
