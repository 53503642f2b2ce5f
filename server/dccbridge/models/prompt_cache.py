"""A loaded model's prompt-embedding cache: a bounded LRU from (prompt, negative prompt, classifier-free guidance
on/off, the text-affecting adapters) to the text encoders' outputs, so a repeated prompt skips the text encoders.

The key also holds each LoRA's and embedding's file version and LoRA weight: a LoRA on the text encoder and a
textual-inversion token change the embeddings. The cache lives on the LoadedModel, so another model (or the same
id loaded again) never sees it. Values stay on the model's device.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

DEFAULT_PROMPT_CACHE_SIZE = 64


class PromptEmbeddingCache:
    def __init__(self, max_entries: int = DEFAULT_PROMPT_CACHE_SIZE):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_encode(self, key: tuple, encode: Callable[[], tuple]) -> tuple:
        """The cached embeddings for key, else encode() (outside the lock: encoding is the slow part) and keep it."""
        if self.max_entries <= 0:
            return encode()
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = encode()
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
