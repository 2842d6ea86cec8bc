"""Result cache: asking twice for the same plugin on the same study with the same options is free.

The key is the plugin's id, version and weights sha256, a content hash of the volume (voxels and
geometry) and the options. The voxel hash reads every byte (blake2b, about 1 GB/s): a sampled hash
would be cheaper but would miss a small brush edit, and a stale AI result is worse than a slow one.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from medlens.viewer.model import Volume


def volume_hash(volume: Volume) -> str:
    """Hash of a volume's voxels, dtype, shape and geometry (hex, 32 characters)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((volume.array.shape, str(volume.array.dtype), volume.geometry)).encode())
    array = np.ascontiguousarray(volume.array)
    h.update(memoryview(array.reshape(-1).view(np.uint8)))
    return h.hexdigest()


class ResultCache:
    """A small thread-safe LRU of inference results (results hold full-size arrays: keep it small)."""

    def __init__(self, max_entries: int = 4) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
