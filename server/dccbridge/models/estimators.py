"""The server's weight-backed preprocessors (control.Estimators): depth from an image (a transformers depth model
such as DPT or Depth Anything), OpenPose, lineart and soft edges (controlnet_aux annotators). Each is loaded on
first use from the catalog's [estimators.KIND] table and then kept.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..control import level_to_rgb8
from ..domain import Preprocessor
from ..errors import Unsupported
from .loading import Placement, load_estimator

ESTIMATOR_KIND = {
    Preprocessor.DEPTH_ESTIMATE: "depth",
    Preprocessor.OPENPOSE_DETECT: "openpose",
    Preprocessor.LINEART: "lineart",
    Preprocessor.SOFTEDGE: "softedge",
}
# The annotators' default detection size. Smaller images run at their own size: upscaling one first adds time,
# not detail. controlnet_aux rounds sizes to multiples of 64, so 64 is the floor.
MAX_DETECT_RESOLUTION = 512
MIN_DETECT_RESOLUTION = 64


class ServerEstimators:
    def __init__(self, sources: dict[str, str], placement: Placement):
        self._sources = dict(sources)  # kind -> catalog source
        self._placement = placement
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> tuple[Preprocessor, ...]:
        """The preprocessors whose estimator the catalog configures (advertised in GetCapabilities)."""
        return tuple(p for p, kind in ESTIMATOR_KIND.items() if kind in self._sources)

    def run(self, preprocessor: Preprocessor, rgb: np.ndarray) -> np.ndarray:
        if preprocessor is Preprocessor.DEPTH_ESTIMATE:
            return level_to_rgb8(self.estimate_depth(rgb))
        detector = self._get(ESTIMATOR_KIND[preprocessor])
        resolution = max(MIN_DETECT_RESOLUTION, min(MAX_DETECT_RESOLUTION, *rgb.shape[:2]))
        return detector(rgb, detect_resolution=resolution, image_resolution=resolution, output_type="np")

    def estimate_depth(self, rgb: np.ndarray) -> np.ndarray:
        model, processor = self._get("depth")
        return estimate_depth(model, processor, rgb)

    def unload(self) -> None:
        with self._lock:
            self._loaded.clear()

    def _get(self, kind: str):
        if kind not in self._sources:
            raise Unsupported(f"this server has no {kind} estimator; the operator can add an [estimators.{kind}] "
                              "table to the model catalog, or send a ready map (or a depth pass / pose rig)")
        with self._lock:
            if kind not in self._loaded:
                self._loaded[kind] = load_estimator(kind, self._sources[kind], self._placement)
            return self._loaded[kind]


def estimate_depth(model, processor, rgb: np.ndarray) -> np.ndarray:
    """float32 relative inverse depth of a uint8 RGB image at its own size, scaled to [0, 1] (near = 1).

    DPT and Depth Anything predict MiDaS-style relative inverse depth; like the ControlNet annotators, the
    prediction is scaled min..max (a flat prediction gives zeros).
    """
    parameter = next(model.parameters())
    pixel_values = processor(images=rgb, return_tensors="pt").pixel_values
    with torch.inference_mode():
        predicted = model(pixel_values=pixel_values.to(parameter.device, parameter.dtype)).predicted_depth
        depth = torch.nn.functional.interpolate(
            predicted[:, None].float(), size=rgb.shape[:2], mode="bicubic", align_corners=False
        )[0, 0]
    low, high = depth.min(), depth.max()
    if high - low <= 0:
        return np.zeros(rgb.shape[:2], np.float32)
    return ((depth - low) / (high - low)).clamp(0, 1).cpu().numpy().astype(np.float32)
