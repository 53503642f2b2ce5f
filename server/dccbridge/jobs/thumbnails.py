"""Small JPEGs of result images for history views (ListJobs thumbnail_size), made once and kept beside the result.

The first ListJobs that asks for size N of a job decodes its first result image and stores `<result>.thumbN.jpg`
through the ResultStorage seam (so a cluster's nodes share it); later pages read the small file only. Retention
removes thumbnails with the results (jobs/retention.py).
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from ..errors import InvalidInput
from ..imaging import decode_image, encode_jpeg, resize
from .records import JobRecord, ResultFile
from .result_storage import ResultStorage, read_result

log = logging.getLogger("dccbridge.jobs")

MAX_THUMBNAIL_SIZE = 512
THUMBNAIL_QUALITY = 80
RESULT_MAX_PIXELS = 1 << 28  # our own results: the input budget does not apply, a corrupt file still fails cleanly


def fitted(width: int, height: int, size: int) -> tuple[int, int]:
    """width x height shrunk so the longest side is at most size (never enlarged)."""
    scale = min(1.0, size / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail_key(job_id: str, image: ResultFile, size: int) -> str:
    # A result's key is JOB_ID/NAME and its url ends with NAME (a path, or an object store's key).
    return f"{job_id}/{PurePosixPath(image.path.replace(chr(92), '/')).name}.thumb{size}.jpg"


def job_thumbnail(storage: ResultStorage, job: JobRecord, size: int) -> tuple[bytes, int, int] | None:
    """(jpeg, width, height) of the job's first result image, longest side `size`; None when it has no image
    (not succeeded, no images, results removed by retention, or the file is gone)."""
    if job.result is None or not job.result.images or job.results_removed_ms:
        return None
    image = job.result.images[0]
    width, height = fitted(image.width, image.height, size)
    key = thumbnail_key(job.job_id, image, size)
    try:
        if storage.exists(key):
            return storage.open(key), width, height
        pixels = decode_image(read_result(image.path), "result", max_pixels=RESULT_MAX_PIXELS)
    except (OSError, InvalidInput) as error:
        log.warning("no thumbnail for job %s: %s", job.job_id, error)
        return None
    height_px, width_px = pixels.shape[:2]
    width, height = fitted(width_px, height_px, size)
    jpeg = encode_jpeg(resize(pixels, width, height), THUMBNAIL_QUALITY)
    try:
        storage.put(key, jpeg)
    except OSError as error:  # another call writing the same thumbnail at once: this one's bytes are as good
        log.debug("thumbnail %s not cached: %s", key, error)
    return jpeg, width, height
