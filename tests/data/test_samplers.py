"""Samplers: seeded streams, rank sharding, repeat factors (spec 4.4) and stochastic rounding."""

import itertools
import math

import pytest
import torch

from det.data.samplers import (
    InferenceSampler,
    RepeatFactorTrainingSampler,
    TrainingSampler,
    repeat_factors_from_category_frequency,
)
from det.utils import comm


def _as_rank(monkeypatch, rank, world):
    monkeypatch.setattr(comm, "get_rank", lambda: rank)
    monkeypatch.setattr(comm, "get_world_size", lambda: world)


def _take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_training_sampler_is_seeded_randperm_stream(monkeypatch):
    _as_rank(monkeypatch, 0, 1)
    g = torch.Generator()
    g.manual_seed(7)
    expected = torch.randperm(10, generator=g).tolist() + torch.randperm(10, generator=g).tolist()
    assert _take(TrainingSampler(10, seed=7), 20) == expected
    assert _take(TrainingSampler(10, shuffle=False, seed=7), 23) == list(range(10)) * 2 + [0, 1, 2]
    # Every epoch is a permutation.
    stream = _take(TrainingSampler(10, seed=3), 30)
    assert all(sorted(stream[i : i + 10]) == list(range(10)) for i in (0, 10, 20))


def test_training_sampler_shards_across_two_ranks(monkeypatch):
    _as_rank(monkeypatch, 0, 1)
    full = _take(TrainingSampler(13, seed=5), 40)
    shards = []
    for rank in range(2):
        _as_rank(monkeypatch, rank, 2)
        shards.append(_take(TrainingSampler(13, seed=5), 20))
    assert shards[0] == full[0::2] and shards[1] == full[1::2]


def test_training_sampler_without_seed_uses_shared_seed(monkeypatch):
    _as_rank(monkeypatch, 0, 1)
    monkeypatch.setattr(comm, "shared_random_seed", lambda: 11)
    assert _take(TrainingSampler(6), 12) == _take(TrainingSampler(6, seed=11), 12)


def test_repeat_factors_match_hand_computation():
    # 10 images. Category 0 in all of them (f=1), category 1 in 1 image (f=0.1), category 2 in
    # 4 images (f=0.4); one image has no annotation.
    dicts = []
    for i in range(10):
        cats = [0] if i < 9 else []
        if i == 0:
            cats += [1, 1]  # counted once per image
        if 1 <= i <= 4:
            cats += [2]
        dicts.append({"annotations": [{"category_id": c} for c in cats]})
    t = 0.3
    r1 = math.sqrt(t / 0.1)  # 1.732
    r2 = max(1.0, math.sqrt(t / 0.4))  # sqrt(0.75) < 1 -> 1
    # Category 0 is in 9 of 10 images: f = 0.9 -> r = 1.
    expected = [r1] + [r2] * 4 + [1.0] * 5
    got = repeat_factors_from_category_frequency(dicts, t)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float32))
    # Threshold 0.001 (LVIS): a category in 1 of 2000 images gets sqrt(0.001 / 0.0005) = sqrt(2).
    dicts = [{"annotations": [{"category_id": 0}]} for _ in range(1999)]
    dicts.append({"annotations": [{"category_id": 0}, {"category_id": 9}]})
    got = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.001)
    assert got[:-1].eq(1).all() and got[-1].item() == pytest.approx(math.sqrt(2), rel=1e-6)


def test_repeat_factor_stochastic_rounding_statistics(monkeypatch):
    _as_rank(monkeypatch, 0, 1)
    factors = torch.tensor([1.0, 1.25, 2.5, 3.0, 0.5])
    sampler = RepeatFactorTrainingSampler(factors, shuffle=False, seed=0)
    g = torch.Generator()
    g.manual_seed(0)
    epochs = 4000
    counts = torch.zeros(5)
    for _ in range(epochs):
        idx = sampler._get_epoch_indices(g)
        counts += torch.bincount(idx, minlength=5)
        per = torch.bincount(idx, minlength=5).float()
        # Each image appears floor(r) or floor(r) + 1 times.
        assert (per >= factors.floor()).all() and (per <= factors.floor() + 1).all()
    mean = counts / epochs
    # Binomial std of the fractional part over 4000 epochs is <= 0.008.
    torch.testing.assert_close(mean, factors, atol=0.03, rtol=0)
    assert mean[0] == 1.0 and mean[3] == 3.0  # integer factors are exact


def test_repeat_factor_sampler_stream_and_shards(monkeypatch):
    factors = torch.tensor([1.0, 2.0, 1.5, 1.0])
    _as_rank(monkeypatch, 0, 1)
    full = _take(RepeatFactorTrainingSampler(factors, seed=3), 40)
    # Reproduce the stream by hand: per epoch, rand for rounding, then a randperm.
    g = torch.Generator()
    g.manual_seed(3)
    expected = []
    while len(expected) < 40:
        rands = torch.rand(4, generator=g)
        reps = factors.floor() + (rands < factors - factors.floor()).float()
        epoch = [i for i in range(4) for _ in range(int(reps[i]))]
        perm = torch.randperm(len(epoch), generator=g).tolist()
        expected += [epoch[p] for p in perm]
    assert full == expected[:40]
    shards = []
    for rank in range(2):
        _as_rank(monkeypatch, rank, 2)
        shards.append(_take(RepeatFactorTrainingSampler(factors, seed=3), 20))
    assert shards[0] == full[0::2] and shards[1] == full[1::2]


@pytest.mark.parametrize("size,world", [(10, 3), (2, 4), (9, 3), (0, 2)])
def test_inference_sampler_contiguous_shards(monkeypatch, size, world):
    shards = []
    for rank in range(world):
        _as_rank(monkeypatch, rank, world)
        shards.append(list(InferenceSampler(size)))
    assert sum(shards, []) == list(range(size))  # contiguous, ordered, no duplicate
    lengths = [len(s) for s in shards]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="positive int"):
        TrainingSampler(0, seed=1)
    with pytest.raises(ValueError, match=">= 0"):
        RepeatFactorTrainingSampler(torch.tensor([1.0, -1.0]), seed=1)
    with pytest.raises(ValueError, match="empty"):
        repeat_factors_from_category_frequency([], 0.001)
