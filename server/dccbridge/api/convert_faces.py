"""Proto <-> domain conversion for face restoration (faces.proto): the RestoreFacesTask and the FaceRestoration
finishing option of GenerateTask / UpscaleTask / OutpaintTask. Called from convert.task_to_request."""

from __future__ import annotations

import dataclasses
import math

from .. import domain as d
from ..errors import InvalidInput
from ..v1 import faces_pb2


def restore_faces_request(t: faces_pb2.RestoreFacesTask) -> d.RestoreFacesRequest:
    if not t.HasField("image"):
        raise InvalidInput("image", "is required: the image whose faces to restore")
    return d.RestoreFacesRequest(
        image=d.ImageInput(data=t.image.data, mime_type=t.image.mime_type),
        restoration=_spec(t, ""),
    )


def with_restore_faces(request, task_message):
    """The request with its `restore_faces` finishing option when the task message enables one."""
    if not task_message.HasField("restore_faces") or not task_message.restore_faces.enabled:
        return request
    return dataclasses.replace(request, restore_faces=_spec(task_message.restore_faces, "restore_faces."))


def _spec(m, prefix: str) -> d.FaceRestorationSpec:
    """FaceRestoration and RestoreFacesTask share the field names (restorer_id, strength, fidelity, detection)."""
    detection = m.detection
    return d.FaceRestorationSpec(
        restorer_id=m.restorer_id,
        strength=_finite(f"{prefix}strength", m.strength) if m.HasField("strength") else None,
        fidelity=_finite(f"{prefix}fidelity", m.fidelity) if m.HasField("fidelity") else None,
        detection=d.FaceDetectionSpec(
            detector_id=detection.detector_id,
            threshold=_finite(f"{prefix}detection.threshold", detection.threshold)
            if detection.HasField("threshold") else None,
            max_faces=detection.max_faces if detection.HasField("max_faces") else None,
        ),
    )


def _finite(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidInput(field, f"must be a finite number, got {value}")
    return value
