"""Index samplers for training (infinite, sharded across ranks) and inference (contiguous shards).

Training samplers produce one global infinite stream of indices from a seed shared by all
ranks; rank r takes elements r, r + W, r + 2W, ... (W = world size), so the ranks together see
every element of the stream exactly once.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data.sampler import Sampler

from det.utils import comm

__all__ = [
    "TrainingSampler",
    "RepeatFactorTrainingSampler",
    "InferenceSampler",
    "repeat_factors_from_category_frequency",
]

logger = logging.getLogger(__name__)


def _resolve_seed(seed: int | None) -> int:
    # All ranks must agree on the stream, so an unset seed is drawn once and broadcast.
    return comm.shared_random_seed() if seed is None else int(seed)


class _InfiniteShardedSampler(Sampler):
    """One global infinite stream of epochs drawn from a shared seed; rank r takes elements
    r, r + W, ... Subclasses define one epoch in :meth:`_next_epoch`."""

    def __init__(self, shuffle: bool, seed: int | None):
        self._shuffle = shuffle
        self._seed = _resolve_seed(seed)
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()

    def __iter__(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite_indices(), self._rank, None, self._world_size)

    def _infinite_indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self._seed)
        while True:
            yield from self._next_epoch(g)

    def _next_epoch(self, generator: torch.Generator) -> Sequence[int]:
        raise NotImplementedError


class TrainingSampler(_InfiniteShardedSampler):
    """Infinite stream of indices in [0, size), reshuffled every epoch, sharded over ranks.

    The global stream is ``torch.randperm(size, generator=g)`` repeated with a generator seeded
    once with ``seed`` (or ``arange(size)`` repeated when ``shuffle=False``); rank r yields the
    elements r, r + W, ... of that stream.

    Args:
        size: dataset length.
        shuffle: shuffle each epoch.
        seed: shared seed; None draws one with ``comm.shared_random_seed()`` (all ranks must
            then construct the sampler together).
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int | None = None):
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"TrainingSampler: size must be a positive int, got {size!r}")
        self._size = size
        super().__init__(shuffle, seed)

    def _next_epoch(self, generator: torch.Generator) -> Sequence[int]:
        if self._shuffle:
            return torch.randperm(self._size, generator=generator).tolist()
        return range(self._size)


def repeat_factors_from_category_frequency(
    dataset_dicts: Sequence[dict], repeat_thresh: float
) -> torch.Tensor:
    """Per-image repeat factors for LVIS-style repeat-factor sampling (Gupta et al., 2019).

    f(c) = fraction of images containing category c; r(c) = max(1, sqrt(t / f(c)));
    r(I) = max of r(c) over the categories in image I (1 for an image with no annotation).

    Args:
        dataset_dicts: dataset dicts with ``annotations`` (each with ``category_id``).
        repeat_thresh: the threshold t (0.001 for LVIS).

    Returns:
        Tensor[N] float32: the repeat factor of each image.
    """
    if len(dataset_dicts) == 0:
        raise ValueError("repeat_factors_from_category_frequency: the dataset is empty")
    image_cats = [{a["category_id"] for a in d.get("annotations", ())} for d in dataset_dicts]
    image_count: dict[int, int] = defaultdict(int)
    for cats in image_cats:
        for c in cats:
            image_count[c] += 1
    num_images = len(dataset_dicts)
    cat_rep = {
        c: max(1.0, math.sqrt(repeat_thresh / (n / num_images))) for c, n in image_count.items()
    }
    factors = [max((cat_rep[c] for c in cats), default=1.0) for cats in image_cats]
    return torch.tensor(factors, dtype=torch.float32)


class RepeatFactorTrainingSampler(_InfiniteShardedSampler):
    """Infinite sampler that repeats image i about ``repeat_factors[i]`` times per epoch.

    Each epoch draws ``u ~ U(0, 1)`` per image (``torch.rand`` on the shared generator) and
    repeats the image ``floor(r) + (u < frac(r))`` times (stochastic rounding, so the expected
    count is r), then shuffles the epoch with ``torch.randperm`` on the same generator. Ranks
    shard the global stream as in :class:`TrainingSampler`.

    Args:
        repeat_factors (Tensor[N]): per-image factors, e.g. from
            :func:`repeat_factors_from_category_frequency`.
        shuffle: shuffle each epoch.
        seed: shared seed; None draws one with ``comm.shared_random_seed()``.
    """

    def __init__(
        self, repeat_factors: torch.Tensor, *, shuffle: bool = True, seed: int | None = None
    ):
        repeat_factors = torch.as_tensor(repeat_factors, dtype=torch.float32)
        if repeat_factors.ndim != 1 or len(repeat_factors) == 0:
            raise ValueError(
                "RepeatFactorTrainingSampler: repeat_factors must be a non-empty 1-D tensor, "
                f"got shape {tuple(repeat_factors.shape)}"
            )
        if (repeat_factors < 0).any():
            raise ValueError("RepeatFactorTrainingSampler: repeat factors must be >= 0")
        self._int_part = torch.trunc(repeat_factors)
        self._frac_part = repeat_factors - self._int_part
        super().__init__(shuffle, seed)
        logger.info(
            "RepeatFactorTrainingSampler: %d images, expected %.1f samples per epoch",
            len(repeat_factors),
            float(repeat_factors.sum()),
        )

    repeat_factors_from_category_frequency = staticmethod(repeat_factors_from_category_frequency)

    def _get_epoch_indices(self, generator: torch.Generator) -> torch.Tensor:
        """Indices of one epoch (unshuffled), each image repeated by stochastic rounding."""
        rands = torch.rand(len(self._frac_part), generator=generator)
        reps = (self._int_part + (rands < self._frac_part).float()).long()
        return torch.repeat_interleave(torch.arange(len(reps)), reps)

    def _next_epoch(self, generator: torch.Generator) -> Sequence[int]:
        indices = self._get_epoch_indices(generator)
        if self._shuffle:
            indices = indices[torch.randperm(len(indices), generator=generator)]
        return indices.tolist()


class InferenceSampler(Sampler):
    """Splits [0, size) into W contiguous shards of near-equal length, one per rank.

    The first ``size % W`` ranks get one extra element; no index is repeated or dropped, so
    per-rank results can be gathered without de-duplication.

    Args:
        size: dataset length.
    """

    def __init__(self, size: int):
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"InferenceSampler: size must be a non-negative int, got {size!r}")
        self._size = size
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()
        self._local_indices = self._get_local_indices(size, self._world_size, self._rank)

    @staticmethod
    def _get_local_indices(total_size: int, world_size: int, rank: int) -> range:
        shard, left = divmod(total_size, world_size)
        sizes = [shard + int(r < left) for r in range(world_size)]
        begin = sum(sizes[:rank])
        return range(begin, begin + sizes[rank])

    def __iter__(self) -> Iterator[int]:
        yield from self._local_indices

    def __len__(self) -> int:
        return len(self._local_indices)
