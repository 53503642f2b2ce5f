"""The tiny preset's face models: a random-weight RestoreFormer state dict (spandrel detects and loads it like the
real RestoreFormer++ weights) and a YuNet-signature face detector exported to ONNX (OpenCV's FaceDetectorYN reads
it like face_detection_yunet_2023mar.onnx). Both go through the same load paths as real weights.

The tiny detector's score is not random: it is a fixed function of the image, so tests choose "a face" or "no
face" by what they draw (docs/face-restoration.md, "The tiny preset"):
- score per 32-px cell = sigmoid(GAIN * (mean luma of the cell - mean luma of its 3x3 neighbourhood - OFFSET)),
  so a bright ~32-px square on a dark background is one face, a flat image or noise is none (at the default
  threshold 0.5); the 8- and 16-px strides score 0;
- box = the cell (centre + size 32 px), landmarks = a fixed 5-point face layout inside it, each nudged by a
  seeded random 1x1 convolution (the "random weights": small, deterministic).
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings

import torch
import torch.nn.functional as F

RESTOREFORMER_SEED = 8101
TINY_RESTOREFORMERS = {
    # Real RestoreFormer++: ch 64, ch_mult (1, 2, 2, 4, 4, 8), 2 blocks, 1024 x 256 codebook, z 256.
    "tiny-restoreformer": dict(n_embed=64, embed_dim=32, ch=32, out_ch=3, ch_mult=(1, 1, 1, 1, 1, 1),
                               num_res_blocks=1, attn_resolutions=(16,), dropout=0.0, in_channels=3,
                               resolution=512, z_channels=32, double_z=False, enable_mid=True, head_size=8),
}
YUNET_SEED = 8201
TINY_YUNETS = ("tiny-yunet",)
YUNET_STRIDES = (8, 16, 32)
YUNET_OUTPUTS = tuple(f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in YUNET_STRIDES)
FACE_STRIDE = 32          # the only stride the tiny detector scores
SCORE_GAIN = 20.0
SCORE_OFFSET = 0.25       # luma contrast at which the score is 0.5
NUDGE_STD = 0.02          # random part of box and landmark offsets, in cells
# x, y of right eye, left eye, nose tip, right and left mouth corners, in the cell (0..1): a frontal face.
LANDMARK_LAYOUT = (0.31, 0.37, 0.69, 0.37, 0.5, 0.55, 0.35, 0.76, 0.65, 0.76)
ONNX_OPSET = 13
TINY_FACES_VERSION = 1


def build_tiny_restoreformer_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The random-weight state dict of a builtin RestoreFormer, the same in every process."""
    from spandrel.architectures.RestoreFormer import RestoreFormer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RESTOREFORMER_SEED)
        model = RestoreFormer(**TINY_RESTOREFORMERS[name])
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


class TinyYuNet(torch.nn.Module):
    """YuNet's exact signature: input "input" [1, 3, H, W] BGR 0..255 (H, W multiples of 32); per stride s the
    outputs cls_s, obj_s [1, HW/s², 1], bbox_s [1, HW/s², 4], kps_s [1, HW/s², 10] in OpenCV's decoding."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(YUNET_SEED)
        self.nudge = torch.nn.Conv2d(3, 14, 1)
        with torch.no_grad():
            self.nudge.weight.copy_(torch.randn(14, 3, 1, 1, generator=generator) * NUDGE_STD)
            self.nudge.bias.zero_()
        self.register_buffer("box_base", torch.tensor([0.5, 0.5, 0.0, 0.0]).view(1, 4, 1, 1))
        self.register_buffer("kps_base", torch.tensor(LANDMARK_LAYOUT).view(1, 10, 1, 1))

    def forward(self, x: torch.Tensor):
        x = x / 255.0
        luma = x.mean(1, keepdim=True)
        outputs = {}
        for stride in YUNET_STRIDES:
            cell = F.avg_pool2d(luma, stride)
            around = F.avg_pool2d(F.pad(cell, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
            gate = 1.0 if stride == FACE_STRIDE else 0.0
            score = torch.sigmoid(SCORE_GAIN * (cell - around - SCORE_OFFSET)) * gate
            nudge = self.nudge(F.avg_pool2d(x, stride))
            outputs[f"cls_{stride}"] = _flat(score)
            outputs[f"obj_{stride}"] = _flat(score)
            outputs[f"bbox_{stride}"] = _flat(nudge[:, :4] + self.box_base)
            outputs[f"kps_{stride}"] = _flat(nudge[:, 4:] + self.kps_base)
        return tuple(outputs[name] for name in YUNET_OUTPUTS)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(2).transpose(1, 2)


def build_tiny_yunet_onnx(name: str) -> bytes:
    """The builtin detector as ONNX bytes (torch's TorchScript exporter; needs the `onnx` package)."""
    if name not in TINY_YUNETS:
        raise KeyError(name)
    model = TinyYuNet().eval()
    buffer = io.BytesIO()
    dynamic = {"input": {2: "height", 3: "width"}, **{output: {1: "anchors"} for output in YUNET_OUTPUTS}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), buffer, input_names=["input"],
                          output_names=list(YUNET_OUTPUTS), dynamic_axes=dynamic, opset_version=ONNX_OPSET,
                          dynamo=False)
    return buffer.getvalue()


def tiny_face_fingerprint(name: str) -> str:
    """A stable sha256 for a builtin face model: its configuration and seeds (like tiny.tiny_fingerprint)."""
    if name in TINY_RESTOREFORMERS:
        parts = dict(restoreformer=(RESTOREFORMER_SEED, TINY_RESTOREFORMERS[name]))
    else:
        parts = dict(yunet=(YUNET_SEED, FACE_STRIDE, SCORE_GAIN, SCORE_OFFSET, NUDGE_STD, LANDMARK_LAYOUT))
    description = dict(name=name, version=TINY_FACES_VERSION, **parts)
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=list).encode()).hexdigest()
