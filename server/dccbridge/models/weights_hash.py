"""Short weight hashes for provenance: the first 10 hex digits of a sha256, as A1111 writes them.

Hashing a multi-gigabyte checkpoint takes seconds, so full hashes are cached by (path, size, mtime) in memory
and, when given a file, on disk across restarts.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

SHORT_HASH_LENGTH = 10
# Weights files that torch.load reads, which can run code: refused unless the operator passes --allow-pickle.
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
READ_CHUNK_BYTES = 4 * 1024 * 1024


def short_hash(sha256_hex: str) -> str:
    return sha256_hex[:SHORT_HASH_LENGTH]


class WeightsHasher:
    def __init__(self, cache_file: str | Path | None = None):
        self._cache_file = Path(cache_file) if cache_file else None
        self._lock = threading.Lock()
        self._cache: dict[str, dict] = self._read_cache()

    def file_sha256(self, path: str | Path) -> str:
        path = Path(path).resolve()
        stat = path.stat()
        key = str(path)
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached["size"] == stat.st_size and cached["mtime_ns"] == stat.st_mtime_ns:
            return cached["sha256"]
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while chunk := file.read(READ_CHUNK_BYTES):
                digest.update(chunk)
        sha256 = digest.hexdigest()
        with self._lock:
            self._cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
            self._write_cache()
        return sha256

    def folder_sha256(self, folder: str | Path) -> str:
        """A hash over every weights file in a folder tree (relative path + file hash), configs excluded."""
        folder = Path(folder)
        weight_files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(WEIGHT_SUFFIXES)
        )
        digest = hashlib.sha256()
        for path in weight_files:
            digest.update(f"{path.relative_to(folder).as_posix()}\t{self.file_sha256(path)}\n".encode())
        return digest.hexdigest()

    def _read_cache(self) -> dict[str, dict]:
        if self._cache_file is None or not self._cache_file.is_file():
            return {}
        try:
            return json.loads(self._cache_file.read_text())
        except (OSError, ValueError):
            return {}  # a damaged cache only costs a re-hash

    def _write_cache(self) -> None:
        if self._cache_file is None:
            return
        self._cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self._cache_file.with_suffix(".tmp")
        partial.write_text(json.dumps(self._cache, indent=1, sort_keys=True))
        os.replace(partial, self._cache_file)
