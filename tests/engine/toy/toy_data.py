"""Deterministic random data for the toy classifier, sharded over processes like det's loaders.

Samples are drawn once from a seeded generator; labels follow a fixed random linear rule, so
the task is learnable. The train loader cycles through the samples in a fixed order, so the
batch of iteration ``i`` depends only on ``i`` modulo the cycle length (here 2), which makes
a resumed run see the same batches as an uninterrupted one when it resumes at an even iteration.
"""

import os
import signal

import torch

from det.utils import comm

__all__ = ["ToyTrainLoader", "build_toy_test_loader", "make_toy_samples"]


def make_toy_samples(num_samples: int, seed: int, in_dim: int = 4, num_classes: int = 3):
    """Returns ``num_samples`` dicts ``{"x": Tensor[in_dim], "label": int}``."""
    rule = torch.randn(in_dim, num_classes, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(num_samples, in_dim, generator=torch.Generator().manual_seed(seed))
    labels = (x @ rule).argmax(dim=1)
    return [{"x": x[i], "label": int(labels[i])} for i in range(num_samples)]


class ToyTrainLoader:
    """Infinite loader: each process yields its share of a global batch of ``total_batch_size``.

    Args:
        num_samples: size of the (cycled) training set.
        total_batch_size: global batch, split evenly over the processes.
        seed: seed of the samples.
        kill_at_batch: if >= 0, the process kills itself with SIGKILL when asked for this batch
            (simulates a crash or preemption).
    """

    def __init__(self, *, num_samples=16, total_batch_size=8, seed=0, kill_at_batch=-1):
        world_size = comm.get_world_size()
        if total_batch_size % world_size != 0:
            raise ValueError(f"total_batch_size {total_batch_size} % {world_size} processes != 0")
        self.samples = make_toy_samples(num_samples, seed)
        self.total_batch_size = total_batch_size
        self.kill_at_batch = kill_at_batch

    def __iter__(self):
        world_size, rank = comm.get_world_size(), comm.get_rank()
        per_rank = self.total_batch_size // world_size
        n = len(self.samples)
        batch_index = 0
        while True:
            if batch_index == self.kill_at_batch:
                os.kill(os.getpid(), signal.SIGKILL)
            start = batch_index * self.total_batch_size
            global_batch = [(start + i) % n for i in range(self.total_batch_size)]
            mine = global_batch[rank * per_rank : (rank + 1) * per_rank]
            yield [self.samples[i] for i in mine]
            batch_index += 1


def build_toy_test_loader(*, num_samples=12, seed=1):
    """A finite test loader: batches of one sample, contiguous shards per process."""
    samples = make_toy_samples(num_samples, seed)
    world_size, rank = comm.get_world_size(), comm.get_rank()
    per_rank = (num_samples + world_size - 1) // world_size
    return [[s] for s in samples[rank * per_rank : (rank + 1) * per_rank]]
