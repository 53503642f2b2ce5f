"""Seamless tiling: make UNet, VAE and ControlNet convolutions wrap around the image edges along chosen axes,
for one job, then put them back.

A convolution with zero padding sees black beyond the edges, so the image has borders. Padding circularly
instead (the left edge sees the right edge's pixels) makes every layer periodic; attention and group norm have
no notion of position, so the whole denoiser, and therefore its output, wraps. For one axis, the padding is
circular along it and zeros along the other, which nn.Conv2d's single padding_mode cannot express: the patched
forward pads by hand and convolves with no padding of its own.

Shared components are never left changed: `seamless` patches each convolution instance (an instance attribute
shadowing nn.Conv2d._conv_forward) and deletes the patch on exit, under a lock so that two tiled jobs cannot
interleave. Jobs on one device run one at a time (one worker), so no untiled job runs while the patch is on.
Strided VAE-encoder downsamplers pad asymmetrically outside their convolution and keep zero padding: an init
image is encoded with edges, and the denoising makes the result periodic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..domain import TilingAxes

_PATCH_LOCK = threading.Lock()
# F.pad mode per image axis: (x = width, y = height).
PAD_MODES = {
    TilingAxes.X: ("circular", "constant"),
    TilingAxes.Y: ("constant", "circular"),
    TilingAxes.BOTH: ("circular", "circular"),
}


@contextmanager
def seamless(modules: Iterable[nn.Module], axes: TilingAxes) -> Iterator[None]:
    """Within the block, every padded Conv2d of `modules` wraps around along `axes` (no-op for NONE)."""
    if axes is TilingAxes.NONE:
        yield
        return
    x_mode, y_mode = PAD_MODES[axes]
    with _PATCH_LOCK:
        convolutions = _padded_convolutions(modules)
        try:
            for conv in convolutions:
                conv._conv_forward = _wrapping_conv_forward(conv, x_mode, y_mode)
            yield
        finally:
            for conv in convolutions:
                conv.__dict__.pop("_conv_forward", None)


def _padded_convolutions(modules: Iterable[nn.Module]) -> list[nn.Conv2d]:
    found = {}
    for module in modules:
        for sub in module.modules():
            # String paddings ("same") and non-zero padding modes are left alone; SD models have neither.
            if isinstance(sub, nn.Conv2d) and sub.padding_mode == "zeros" and isinstance(sub.padding, tuple) \
                    and any(sub.padding):
                found[id(sub)] = sub  # a module shared by two of `modules` is patched once
    return list(found.values())


def _wrapping_conv_forward(conv: nn.Conv2d, x_mode: str, y_mode: str):
    pad_y, pad_x = conv.padding

    def conv_forward(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        padded = F.pad(input, (pad_x, pad_x, 0, 0), mode=x_mode)
        padded = F.pad(padded, (0, 0, pad_y, pad_y), mode=y_mode)
        return F.conv2d(padded, weight, bias, conv.stride, 0, conv.dilation, conv.groups)

    return conv_forward
