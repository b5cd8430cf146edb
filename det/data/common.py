"""Dataset wrappers used by the loaders: serialized lists, mapping, batching by aspect ratio."""

from __future__ import annotations

import copy
import itertools
import logging
import pickle
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.utils.data as data

__all__ = ["DatasetFromList", "MapDataset", "AspectRatioGroupedDataset", "ToIterableDataset"]

logger = logging.getLogger(__name__)


class _SerializedList:
    """A list stored as one byte buffer plus end offsets.

    A Python list of 100k nested dicts holds millions of objects; with ``fork``-started loader
    workers every read touches their reference counts, which copies the pages into each worker
    (memory grows with the number of workers). One uint8 buffer has a single reference count, and
    as a torch tensor it is moved to shared memory when sent to ``spawn``-started workers.
    """

    def __init__(self, lst: list):
        logger.info(
            "Serializing %d elements to byte tensors and concatenating them all ...", len(lst)
        )
        chunks = [np.frombuffer(pickle.dumps(x, protocol=-1), dtype=np.uint8) for x in lst]
        ends = np.cumsum(np.asarray([len(c) for c in chunks], dtype=np.int64))
        self._ends = torch.from_numpy(ends)
        self._buffer = torch.from_numpy(np.concatenate(chunks) if chunks else np.zeros(0, np.uint8))
        logger.info("Serialized dataset takes %.2f MiB", len(self._buffer) / 1024**2)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, idx: int) -> Any:
        end = int(self._ends[idx])
        start = int(self._ends[idx - 1]) if idx > 0 else 0
        return pickle.loads(memoryview(self._buffer[start:end].numpy()))


class DatasetFromList(data.Dataset):
    """A map-style dataset over a list, serialized once so that workers share its memory.

    Args:
        lst: the elements, usually dataset dicts.
        copy: return a deep copy on access so that callers may modify it (only matters when
            ``serialize=False``; deserialization always produces a fresh object).
        serialize: store the list as one pickled byte buffer (recommended for big datasets).
    """

    def __init__(self, lst: list, copy: bool = True, serialize: bool = True):
        if not isinstance(lst, (list, tuple)):
            raise TypeError(f"DatasetFromList expects a list, got {type(lst).__name__}")
        self._copy = copy
        self._serialize = serialize
        self._lst = _SerializedList(list(lst)) if serialize else list(lst)

    def __len__(self) -> int:
        return len(self._lst)

    def __getitem__(self, idx: int) -> Any:
        idx = int(idx)
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"DatasetFromList index {idx} out of range [0, {len(self)})")
        item = self._lst[idx]
        if self._copy and not self._serialize:
            return copy.deepcopy(item)
        return item


def _describe(item: Any) -> str:
    if isinstance(item, dict) and "file_name" in item:
        return f"file '{item['file_name']}'"
    return "its element"


class _MapIterableDataset(data.IterableDataset):
    """Maps an iterable dataset, skipping elements the function maps to None."""

    def __init__(self, dataset: data.IterableDataset, map_func: Callable):
        self._dataset = dataset
        self._map_func = map_func

    def __len__(self) -> int:
        return len(self._dataset)

    def __iter__(self) -> Iterator:
        for x in map(self._map_func, self._dataset):
            if x is not None:
                yield x


class MapDataset(data.Dataset):
    """Applies ``map_func`` to each element of a dataset.

    When ``map_func`` returns None (a mapper rejecting a sample, e.g. no instance left after
    cropping), another index drawn from the samples that mapped successfully before is used
    instead, as detectron2 does; a warning is logged after 3 consecutive retries. Exceptions are
    not swallowed: they propagate with a note naming the index and file, so a corrupt image stops
    training with a clear message instead of silently changing the data distribution.

    Wrapping an ``IterableDataset`` returns an iterable dataset that skips None results.

    Args:
        dataset: a map-style or iterable dataset.
        map_func: the function, e.g. a ``DatasetMapper``.
    """

    def __new__(cls, dataset: data.Dataset, map_func: Callable):
        if isinstance(dataset, data.IterableDataset):
            return _MapIterableDataset(dataset, map_func)
        return super().__new__(cls)

    def __init__(self, dataset: data.Dataset, map_func: Callable):
        self._dataset = dataset
        self._map_func = map_func
        self._rng = random.Random(42)
        self._fallback_candidates = set(range(len(dataset)))

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, idx: int) -> Any:
        retry_count = 0
        cur_idx = int(idx)
        while True:
            item = self._dataset[cur_idx]
            try:
                out = self._map_func(item)
            except Exception as e:
                e.add_note(f"MapDataset: while mapping index {cur_idx} ({_describe(item)})")
                raise
            if out is not None:
                self._fallback_candidates.add(cur_idx)
                return out
            retry_count += 1
            self._fallback_candidates.discard(cur_idx)
            if not self._fallback_candidates:
                raise RuntimeError(
                    f"MapDataset: the mapper returned None for every sample tried (last: index "
                    f"{cur_idx}, {_describe(item)}); no sample left to fall back to"
                )
            cur_idx = self._rng.choice(tuple(self._fallback_candidates))
            if retry_count >= 3:
                logger.warning(
                    "Failed to apply `_map_func` for idx: %d, retry count: %d", idx, retry_count
                )


class ToIterableDataset(data.IterableDataset):
    """Turns a map-style dataset and a sampler (possibly infinite) into an iterable dataset.

    In a multi-worker ``DataLoader`` each worker keeps every ``num_workers``-th chunk of
    ``shard_chunk_size`` consecutive sampler indices, so the workers together see each index
    once.

    Args:
        dataset: a map-style dataset.
        sampler: yields indices into ``dataset``.
        shard_sampler: split the sampler's indices across data-loader workers.
        shard_chunk_size: indices per chunk (the per-rank batch size keeps batches contiguous).
    """

    def __init__(
        self,
        dataset: data.Dataset,
        sampler: Iterable[int],
        shard_sampler: bool = True,
        shard_chunk_size: int = 1,
    ):
        if isinstance(dataset, data.IterableDataset):
            raise TypeError("ToIterableDataset expects a map-style dataset")
        self.dataset = dataset
        self.sampler = sampler
        self.shard_sampler = shard_sampler
        self.shard_chunk_size = shard_chunk_size

    def __iter__(self) -> Iterator:
        indices = self.sampler
        if self.shard_sampler:
            indices = _shard_for_worker(self.sampler, self.shard_chunk_size)
        for idx in indices:
            yield self.dataset[idx]

    def __len__(self) -> int:
        return len(self.sampler)


def _shard_for_worker(iterable: Iterable[int], chunk_size: int) -> Iterator[int]:
    info = data.get_worker_info()
    if info is None or info.num_workers == 1:
        yield from iterable
        return
    it = iter(iterable)
    for chunk_idx in itertools.count():
        chunk = list(itertools.islice(it, chunk_size))
        if not chunk:
            return
        if chunk_idx % info.num_workers == info.id:
            yield from chunk


class AspectRatioGroupedDataset(data.IterableDataset):
    """Batches dataset dicts so that each batch holds only landscape (w > h) or only portrait
    images, which reduces padding in the batched tensor.

    Each element must be a dict with ``width`` and ``height``; the yielded batches are lists of
    exactly ``batch_size`` elements, in arrival order within each group.

    Args:
        dataset: an iterable of dicts (e.g. a ``DataLoader`` with ``batch_size=1`` unwrapped).
        batch_size: the per-rank batch size.
    """

    def __init__(self, dataset: Iterable[dict], batch_size: int):
        self.dataset = dataset
        self.batch_size = batch_size
        self._buckets: list[list[dict]] = [[] for _ in range(2)]

    def __iter__(self) -> Iterator[list[dict]]:
        for d in self.dataset:
            w, h = d["width"], d["height"]
            bucket = self._buckets[0 if w > h else 1]
            bucket.append(d)
            if len(bucket) == self.batch_size:
                batch = bucket[:]
                del bucket[:]
                yield batch
