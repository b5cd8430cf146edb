"""Assign each prediction (anchor / proposal) to a ground-truth box by IoU thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from det.layers import nonzero_tuple

__all__ = ["Matcher"]


class Matcher:
    """Match every prediction to its best ground-truth element and label the match quality.

    The ``thresholds`` split the quality range into intervals ``[-inf, t0), [t0, t1), ...,
    [tk, inf)``; a prediction whose best quality falls into interval i gets ``labels[i]``:
    1 (positive), 0 (negative) or -1 (ignored). E.g. thresholds (0.3, 0.7) with labels
    (0, -1, 1) is the RPN's rule.

    Args:
        thresholds: increasing quality thresholds, the first > 0.
        labels: one label in {-1, 0, 1} per interval (``len(thresholds) + 1`` of them).
        allow_low_quality_matches: also label positive, for each ground truth, every prediction
            that ties for its highest quality, even below the positive threshold (Faster R-CNN
            3.1.2), so that every ground truth has at least one positive.
    """

    def __init__(
        self,
        thresholds: Sequence[float],
        labels: Sequence[int],
        allow_low_quality_matches: bool = False,
    ) -> None:
        thresholds = list(thresholds)
        if not thresholds or thresholds[0] <= 0:
            raise ValueError(f"Matcher: thresholds must be non-empty and > 0, got {thresholds}")
        thresholds = [-float("inf"), *thresholds, float("inf")]
        if any(low > high for low, high in zip(thresholds[:-1], thresholds[1:])):
            raise ValueError(f"Matcher: thresholds must increase, got {thresholds[1:-1]}")
        labels = list(labels)
        if any(label not in (-1, 0, 1) for label in labels):
            raise ValueError(f"Matcher: labels must be in {{-1, 0, 1}}, got {labels}")
        if len(labels) != len(thresholds) - 1:
            raise ValueError(
                f"Matcher: {len(thresholds) - 2} thresholds need {len(thresholds) - 1} labels, "
                f"got {len(labels)}"
            )
        self.thresholds = thresholds
        self.labels = labels
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Match predictions to ground truth.

        Args:
            match_quality_matrix (Tensor[M, N]): quality (e.g. IoU) of ground truth m with
                prediction n, all >= 0. M may be 0 (an image without annotations).

        Returns:
            (matches, match_labels):
                matches (Tensor[N], int64): index in [0, M) of each prediction's best ground
                    truth (0 when M == 0; meaningless for label 0 / -1).
                match_labels (Tensor[N], int8): 1, 0 or -1.
        """
        if match_quality_matrix.dim() != 2:
            raise ValueError(
                f"Matcher expects a Tensor[M, N], got {tuple(match_quality_matrix.shape)}"
            )
        if match_quality_matrix.numel() == 0:
            num_pred = match_quality_matrix.size(1)
            matches = match_quality_matrix.new_full((num_pred,), 0, dtype=torch.int64)
            # No ground truth: everything gets the label of the lowest interval (background).
            match_labels = match_quality_matrix.new_full(
                (num_pred,), self.labels[0], dtype=torch.int8
            )
            return matches, match_labels
        if not torch.all(match_quality_matrix >= 0):
            raise ValueError("Matcher: match quality must be >= 0")

        matched_vals, matches = match_quality_matrix.max(dim=0)
        match_labels = matches.new_full(matches.size(), 1, dtype=torch.int8)
        for label, low, high in zip(self.labels, self.thresholds[:-1], self.thresholds[1:]):
            in_interval = (matched_vals >= low) & (matched_vals < high)
            match_labels[in_interval] = label
        if self.allow_low_quality_matches:
            self._set_low_quality_matches_(match_labels, match_quality_matrix)
        return matches, match_labels

    @staticmethod
    def _set_low_quality_matches_(
        match_labels: torch.Tensor, match_quality_matrix: torch.Tensor
    ) -> None:
        """Label positive every prediction that ties for some ground truth's best quality.

        ``matches`` is left as is: such a prediction keeps its own best ground truth, which may
        differ from the one it ties for (as in detectron2).
        """
        highest_quality_foreach_gt, _ = match_quality_matrix.max(dim=1)
        _, pred_inds = nonzero_tuple(match_quality_matrix == highest_quality_foreach_gt[:, None])
        match_labels[pred_inds] = 1
