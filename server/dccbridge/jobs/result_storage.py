"""Where result files live: one seam (ResultStorage) with a local-directory implementation.

A key names a file relative to the storage ("JOB_ID/00-image-1234.png"); `url(key)` is what a result records and
clients see. For LocalResultStorage the url is the file's absolute path, so one directory every node mounts at the
same path (NFS, CephFS, a shared volume) is the cluster's result storage. An object store (S3, GCS) is another
subclass: put = PutObject (atomic on its own, no temporary name needed), open = GetObject, exists = HeadObject,
delete = DeleteObject, url = "s3://bucket/prefix/key", keys = ListObjectsV2 (prefix), size = HeadObject
(retention needs those two); register it for its scheme with `register_scheme` so a
result recorded by one node is read back by any other (docs/job-store.md).
"""

from __future__ import annotations

import abc
import os
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse


class ResultStorage(abc.ABC):
    """Result files by key. `put` is all-or-nothing: a reader never sees half a file under a key."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> str:
        """Store data under key (replacing what was there); return its url."""

    @abc.abstractmethod
    def open(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def url(self, key: str) -> str: ...

    def describe(self) -> str:
        return type(self).__name__

    def keys(self, prefix: str) -> list[str]:
        """Every key that starts with prefix ("JOB_ID/": a job's results and thumbnails); retention needs it."""
        raise NotImplementedError(f"{type(self).__name__} cannot list keys (retention needs keys and size)")

    def size(self, key: str) -> int:
        return len(self.open(key))

    def remove_partial(self) -> int:
        """Drop what an interrupted put left behind; how many. Object stores have nothing to drop."""
        return 0


class LocalResultStorage(ResultStorage):
    """Files under a directory: written to `NAME.part`, fsynced, renamed into place.

    stale_part_s: at open, `*.part` files older than this are removed (a crash between write and rename). 0 for a
    directory only this process writes; on a directory shared by several nodes, a live node's write in progress
    must survive another node's start, so only old ones go."""

    def __init__(self, root: Path, stale_part_s: float = 0.0):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.stale_part_s = stale_part_s

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"result key '{key}' leaves the results directory")
        return path

    def put(self, key: str, data: bytes) -> str:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return str(path)

    def open(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return str(self.path(key))

    def keys(self, prefix: str) -> list[str]:
        folder, _, start = prefix.rpartition("/")
        directory = self.path(folder) if folder else self.root
        if not directory.is_dir():
            return []
        return sorted(f"{folder}/{p.name}" if folder else p.name for p in directory.iterdir()
                      if p.is_file() and p.name.startswith(start) and not p.name.endswith(".part"))

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def describe(self) -> str:
        return f"files in {self.root}"

    def remove_partial(self) -> int:
        removed = 0
        cutoff = time.time() - self.stale_part_s
        for part in self.root.glob("*/*.part"):
            try:
                if self.stale_part_s and part.stat().st_mtime > cutoff:
                    continue  # maybe another node's write in progress
                part.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed


# Readers of result urls by scheme; a plain path (no scheme) is a local file.
_READERS: dict[str, Callable[[str], bytes]] = {}


def register_scheme(scheme: str, reader: Callable[[str], bytes]) -> None:
    """Let `read_result` fetch urls of an object store ("s3" -> a function reading s3://bucket/key)."""
    _READERS[scheme] = reader


def read_result(url: str) -> bytes:
    """The bytes of a result file from the url its result recorded (raises OSError when it is gone)."""
    scheme = urlparse(url).scheme
    if len(scheme) > 1 and scheme in _READERS:  # one letter: a Windows drive, a path
        return _READERS[scheme](url)
    return Path(url).read_bytes()
