"""Face restoration as a finishing step, shared by the restore_faces task and by generate / upscale / outpaint
(their `restore_faces` option): detect faces, align each by its 5 landmarks to the restorer's square template,
restore, paste back through a feathered mask blended by strength. docs/face-restoration.md.

An image without a face comes back unchanged, with a notice; that is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from ..domain import FaceRestorationSpec
from ..errors import InvalidInput, Unsupported
from .context import OpContext, raise_if_cancelled
from .env import OpEnv
from .limits import check_range

DEFAULT_STRENGTH = 1.0
DEFAULT_FIDELITY = 0.5
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_FACES = 16
MAX_FACES = 64
DETECT_MAX_SIDE = 1280      # faces are found on a copy at most this large (YuNet was trained on ~640-px images)
MIN_FACE_PIXELS = 8         # smaller detections are skipped: nothing to restore
FEATHER_SHARE = 0.08        # mask feather, as a share of the face's size in the image
NO_FACE_NOTICE = "no face found"
STAGE = "faces"
# FFHQ's 5-point face template in a 512-px square (the one GFPGAN / CodeFormer / RestoreFormer were trained on,
# as in facexlib): eye centres (image left, right), nose tip, mouth corners (image left, right). YuNet's landmark
# order ("right eye" = the subject's right = image left) matches it point for point.
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], np.float32)
# The grey facexlib pads the aligned crop with where it leaves the image.
BORDER_VALUE = (135, 133, 132)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in image pixels
    landmarks: np.ndarray                   # 5 x 2, image pixels
    score: float


@dataclass
class Restored:
    pixels: np.ndarray
    faces: list[Face] = field(default_factory=list)

    def summary(self) -> dict:
        info = {"faces": len(self.faces), "boxes": [[round(v, 1) for v in f.box] for f in self.faces]}
        if not self.faces:
            info["notice"] = NO_FACE_NOTICE
        return info


# checks (cheap: the catalog and the numbers, nothing loaded) -----------------------------------------


def check_restoration(spec: FaceRestorationSpec, env: OpEnv, prefix: str = "") -> None:
    """InvalidInput naming the field (with `prefix`, e.g. "restore_faces."); ModelNotFound listing the ids."""
    faces = env.catalog.faces
    if not faces.restorers or not faces.detectors:
        missing = "restorer" if not faces.restorers else "face detector"
        raise Unsupported(f"this server has no {missing}; add [restorers.ID] and [face_detectors.ID] tables to the "
                          "catalog (docs/face-restoration.md)")
    entry = faces.restorer(spec.restorer_id, f"{prefix}restorer_id")
    faces.detector(spec.detection.detector_id, f"{prefix}detection.detector_id")
    if spec.strength is not None:
        check_range(f"{prefix}strength", spec.strength, 0.0, 1.0)
    if spec.fidelity is not None:
        check_range(f"{prefix}fidelity", spec.fidelity, 0.0, 1.0)
        if entry.architecture and entry.architecture != "CodeFormer":
            _refuse_fidelity(entry.id, entry.architecture, prefix)
    if spec.detection.threshold is not None:
        check_range(f"{prefix}detection.threshold", spec.detection.threshold, 0.0, 1.0, low_open=True)
        if spec.detection.threshold >= 1.0:
            raise InvalidInput(f"{prefix}detection.threshold", "must be below 1 (no score reaches 1)")
    if spec.detection.max_faces is not None and not 1 <= spec.detection.max_faces <= MAX_FACES:
        raise InvalidInput(f"{prefix}detection.max_faces",
                           f"must be between 1 and {MAX_FACES}, got {spec.detection.max_faces}")


def _refuse_fidelity(restorer_id: str, architecture: str, prefix: str) -> None:
    raise InvalidInput(f"{prefix}fidelity", f"applies to CodeFormer restorers only; '{restorer_id}' is "
                                            f"{architecture}: leave fidelity unset")


# the step ------------------------------------------------------------------------------------------


def restore_faces(pixels: np.ndarray, spec: FaceRestorationSpec, env: OpEnv, ctx: OpContext,
                  prefix: str = "") -> Restored:
    """Restore every face of one uint8 RGB or RGBA image (alpha kept as it is)."""
    restorer = env.manager.faces.restorer(spec.restorer_id, f"{prefix}restorer_id")
    detector = env.manager.faces.detector(spec.detection.detector_id, f"{prefix}detection.detector_id")
    if spec.fidelity is not None and not restorer.has_fidelity:
        _refuse_fidelity(restorer.entry.id, restorer.architecture, prefix)
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    found = detect(detector, rgb, _or(spec.detection.threshold, DEFAULT_THRESHOLD),
                   _or(spec.detection.max_faces, DEFAULT_MAX_FACES))
    if not found:
        return Restored(pixels)
    size = restorer.entry.face_size
    template = FFHQ_TEMPLATE_512 * (size / 512)
    strength = _or(spec.strength, DEFAULT_STRENGTH)
    fidelity = _or(spec.fidelity, DEFAULT_FIDELITY)
    out = rgb.astype(np.float32)
    for index, face in enumerate(found):
        raise_if_cancelled(ctx)
        affine = cv2.estimateAffinePartial2D(face.landmarks, template, method=cv2.LMEDS)[0]
        if affine is None:  # degenerate landmarks (all on a line): nothing sensible to align
            continue
        crop = cv2.warpAffine(rgb, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=BORDER_VALUE)
        batch = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0
        restored = (restorer.restore(batch, fidelity)[0].permute(1, 2, 0).numpy() * 255.0)
        out = paste_back(out, restored, affine, face, strength)
        ctx.report(STAGE, index + 1, len(found))
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if pixels.shape[2] == 4:
        result = np.dstack([result, pixels[:, :, 3]])
    return Restored(result, found)


def detect(detector, rgb: np.ndarray, threshold: float, max_faces: int) -> list[Face]:
    """Faces, largest first, at most max_faces; found on a copy no larger than DETECT_MAX_SIDE."""
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(width, height))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if scale < 1.0:
        bgr = cv2.resize(bgr, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    rows = detector.detect(bgr, threshold, max(max_faces * 4, 64)) / np.float32([*([scale] * 14), 1.0])
    faces = [Face(tuple(float(v) for v in row[:4]), row[4:14].reshape(5, 2).astype(np.float32), float(row[14]))
             for row in rows if min(row[2], row[3]) >= MIN_FACE_PIXELS]
    faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
    return faces[:max_faces]


def paste_back(image: np.ndarray, restored: np.ndarray, affine: np.ndarray, face: Face,
               strength: float) -> np.ndarray:
    """The restored square warped back into the image through a feathered mask, blended by strength (float32)."""
    height, width = image.shape[:2]
    inverse = cv2.invertAffineTransform(affine)
    size = restored.shape[0]
    back = cv2.warpAffine(restored, inverse, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones((size, size), np.float32), inverse, (width, height), flags=cv2.INTER_LINEAR)
    feather = max(1, int(round(min(face.box[2], face.box[3]) * FEATHER_SHARE)))
    mask = cv2.erode(mask, np.ones((2 * feather + 1, 2 * feather + 1), np.uint8))
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=feather / 2 + 0.5)[:, :, None] * strength
    return image * (1.0 - mask) + back * mask


def _or(value, default):
    return default if value is None else value
