"""Random subsampling of labeled anchors / proposals into a fixed-size minibatch."""

from __future__ import annotations

import torch

from det.layers import nonzero_tuple

__all__ = ["subsample_labels"]


def subsample_labels(
    labels: torch.Tensor, num_samples: int, positive_fraction: float, bg_label: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample at most ``num_samples`` elements, at most ``positive_fraction`` of them positive.

    Positives are labels other than -1 (ignore) and ``bg_label``; negatives equal ``bg_label``.
    If there are too few positives, negatives fill the remaining slots; if there are too few of
    both, fewer than ``num_samples`` are returned. Sampling is uniform without replacement.

    Args:
        labels (Tensor[N], integer): -1 ignore, ``bg_label`` background, anything else
            foreground.
        num_samples: total number of samples wanted.
        positive_fraction: at most ``int(num_samples * positive_fraction)`` positives.
        bg_label: the background label.

    Returns:
        (pos_idx, neg_idx): Tensor[P] and Tensor[Q] (int64) of indices into ``labels``.
    """
    positive = nonzero_tuple((labels != -1) & (labels != bg_label))[0]
    negative = nonzero_tuple(labels == bg_label)[0]

    num_pos = min(positive.numel(), int(num_samples * positive_fraction))
    num_neg = min(negative.numel(), num_samples - num_pos)

    perm1 = torch.randperm(positive.numel(), device=positive.device)[:num_pos]
    perm2 = torch.randperm(negative.numel(), device=negative.device)[:num_neg]
    return positive[perm1], negative[perm2]
