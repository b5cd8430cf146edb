import torch

from det.modeling.sampling import subsample_labels


def _labels(num_pos, num_neg, num_ignore, bg_label, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat(
        [
            torch.randint(0, 3, (num_pos,), generator=g),  # foreground classes 0..2
            torch.full((num_neg,), bg_label),
            torch.full((num_ignore,), -1),
        ]
    )
    return labels[torch.randperm(len(labels), generator=g)]


def _check(labels, pos, neg, n_pos, n_neg, bg_label):
    assert len(pos) == n_pos and len(neg) == n_neg
    assert len(set(pos.tolist())) == n_pos and len(set(neg.tolist())) == n_neg
    assert ((labels[pos] != bg_label) & (labels[pos] != -1)).all()
    assert (labels[neg] == bg_label).all()


def test_fractions():
    torch.manual_seed(0)
    labels = _labels(10, 100, 7, bg_label=3)
    pos, neg = subsample_labels(labels, num_samples=20, positive_fraction=0.25, bg_label=3)
    _check(labels, pos, neg, 5, 15, 3)


def test_too_few_positives_filled_with_negatives():
    torch.manual_seed(0)
    # RPN-style labels: 1 foreground, 0 background, -1 ignore.
    labels = torch.tensor([1] * 2 + [0] * 300 + [-1] * 7)[torch.randperm(309)]
    pos, neg = subsample_labels(labels, num_samples=256, positive_fraction=0.5, bg_label=0)
    _check(labels, pos, neg, 2, 254, 0)


def test_too_few_of_both():
    torch.manual_seed(0)
    labels = _labels(3, 4, 5, bg_label=80)
    pos, neg = subsample_labels(labels, num_samples=512, positive_fraction=0.25, bg_label=80)
    _check(labels, pos, neg, 3, 4, 80)


def test_sampling_is_uniform():
    torch.manual_seed(0)
    labels = torch.tensor([1] * 4 + [0] * 4)
    counts = torch.zeros(8)
    for _ in range(400):
        pos, neg = subsample_labels(labels, num_samples=4, positive_fraction=0.5, bg_label=0)
        counts[pos] += 1
        counts[neg] += 1
    # Each element is picked with probability 1/2: 200 +- a few standard deviations (10).
    assert ((counts > 150) & (counts < 250)).all()
