"""Request limits: advertised in GetCapabilities and enforced by every op's check_inputs."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import ControlUnitSpec
from ..errors import InvalidInput
from ..imaging import DECODER_MAX_PIXELS, DEFAULT_MAX_INPUT_PIXELS


@dataclass(frozen=True)
class Limits:
    max_width: int = 2048
    max_height: int = 2048
    max_pixels: int = 2048 * 2048
    max_batch: int = 8
    max_steps: int = 150
    max_control_units: int = 4
    max_reference_images: int = 4  # images in one REFERENCE (IP-Adapter) unit
    size_multiple: int = 8
    max_prompt_chars: int = 4000
    # Pixel budgets of decoded inputs, checked from the image's header before anything is decoded: every
    # image-carrying field (init/mask/control/view images, 16-bit depth PNGs) and, larger, an upscale's source.
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    max_upscale_input_pixels: int = 16384 * 16384

    def __post_init__(self):
        for name in ("max_input_pixels", "max_upscale_input_pixels"):
            value = getattr(self, name)
            if not 1 <= value <= DECODER_MAX_PIXELS:
                raise ValueError(f"{name} must be between 1 and {DECODER_MAX_PIXELS} (the decoder's own limit), "
                                 f"got {value}")

    def check_size(self, width: int, height: int, field_prefix: str = "") -> None:
        for name, value, maximum in (("width", width, self.max_width), ("height", height, self.max_height)):
            field = f"{field_prefix}{name}"
            if not self.size_multiple <= value <= maximum:
                raise InvalidInput(field, f"must be between {self.size_multiple} and {maximum}, got {value}")
            if value % self.size_multiple:
                raise InvalidInput(field, f"must be a multiple of {self.size_multiple}, got {value}")
        if width * height > self.max_pixels:
            raise InvalidInput(
                f"{field_prefix}width",
                f"width x height must be at most {self.max_pixels} pixels, got {width}x{height} = {width * height}",
            )


def check_range(field: str, value: float, low: float, high: float, *, low_open: bool = False) -> None:
    """Raise InvalidInput unless low <= value <= high (low < value when low_open); NaN is never in range."""
    ok = (low < value if low_open else low <= value) and value <= high
    if not ok:  # also catches NaN, for which every comparison is False
        bracket = "(" if low_open else "["
        raise InvalidInput(field, f"must be in {bracket}{low:g}, {high:g}], got {value:g}")


def check_unit_scale_and_window(unit: ControlUnitSpec, field: str, scale_range: tuple[float, float]) -> None:
    """A control unit's weight and its [start, end) step window (ControlNet and reference units alike)."""
    check_range(f"{field}.controlnet_conditioning_scale", unit.conditioning_scale, *scale_range)
    check_range(f"{field}.control_guidance_start", unit.guidance_start, 0.0, 1.0)
    check_range(f"{field}.control_guidance_end", unit.guidance_end, 0.0, 1.0)
    if unit.guidance_start >= unit.guidance_end:
        raise InvalidInput(f"{field}.control_guidance_end",
                           f"must be greater than control_guidance_start ({unit.guidance_start:g}), "
                           f"got {unit.guidance_end:g}")
