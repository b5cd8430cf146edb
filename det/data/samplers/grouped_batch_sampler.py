"""A batch sampler that only batches together elements of the same group (e.g. aspect ratio)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data.sampler import BatchSampler, Sampler

__all__ = ["GroupedBatchSampler"]


class GroupedBatchSampler(BatchSampler):
    """Groups the indices of another sampler into batches whose elements share a group id.

    Indices are buffered per group in the order the wrapped sampler yields them; a batch is
    emitted as soon as a group's buffer holds ``batch_size`` indices, so batches are full and
    every index of the wrapped stream appears in at most one batch (the leftovers of each group
    stay in their buffers when the stream ends).

    Args:
        sampler: yields dataset indices (finite or infinite).
        group_ids: group id (an int) of every dataset index: ``group_ids[i]`` for index i.
        batch_size: number of indices per batch.
    """

    def __init__(self, sampler: Sampler, group_ids: Sequence[int], batch_size: int) -> None:
        if not isinstance(sampler, Sampler):
            raise ValueError(
                f"GroupedBatchSampler: sampler must be a torch.utils.data.Sampler, got {sampler!r}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"GroupedBatchSampler: batch_size must be an int >= 1, got {batch_size}"
            )
        self.sampler = sampler
        self.group_ids = np.asarray(group_ids)
        if self.group_ids.ndim != 1:
            raise ValueError(
                f"GroupedBatchSampler: group_ids must be 1-D, got shape {self.group_ids.shape}"
            )
        self.batch_size = batch_size
        self._buffers: dict[int, list[int]] = {int(g): [] for g in np.unique(self.group_ids)}

    def __iter__(self) -> Iterator[list[int]]:
        for idx in self.sampler:
            buffer = self._buffers[int(self.group_ids[idx])]
            buffer.append(idx)
            if len(buffer) == self.batch_size:
                yield buffer[:]
                del buffer[:]

    def __len__(self) -> int:
        raise NotImplementedError("GroupedBatchSampler has no length: groups fill at unknown rates")
