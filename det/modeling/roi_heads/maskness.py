"""Maskness rescoring (EVA-02): multiply a detection's score by the confidence of its mask.

The maskness of a predicted mask is the mean probability of its pixels above a threshold,
0 when no pixel is above it. EVA-02 multiplies the detection score by it at test time
(README: ``model.roi_heads.maskness_thresh=0.5``), which calibrates mask AP.

In the EVA-02 fork the rescored value replaces the only score, so box AP sees it too (its
README therefore evaluates boxes and masks in separate runs). :class:`MasknessRescoring` does
the same by default; with ``separate_mask_scores=True`` it keeps ``scores`` (box AP without
maskness) and stores the rescored values as ``mask_scores`` for the segmentation results.
"""

from __future__ import annotations

import torch

from det.structures import Instances

__all__ = ["MasknessRescoring", "mask_maskness"]


def mask_maskness(mask_probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Mean probability of the pixels above ``threshold`` in each mask (0 if there are none).

    Computed as EVA-02 does: ``sum(p * (p > t)) / sum(p > t)`` over all pixels of a mask.

    Args:
        mask_probs (Tensor[N, 1, M, M] or Tensor[N, M, M]): per-detection mask probabilities
            (after the sigmoid, before pasting into the image).
        threshold: strict lower bound of the pixels that count.

    Returns:
        Tensor[N], dtype of ``mask_probs``.
    """
    binary = mask_probs > threshold
    dims = tuple(range(1, mask_probs.dim()))
    count = binary.sum(dims)
    maskness = (mask_probs * binary.to(mask_probs.dtype)).sum(dims) / count
    return torch.where(count == 0, torch.zeros_like(maskness), maskness)


class MasknessRescoring:
    """Rescores detections with :func:`mask_maskness` of their ``pred_masks``.

    Args:
        threshold: pixels with probability strictly above it count (EVA-02 uses 0.5).
        separate_mask_scores: False (EVA-02's behaviour): ``scores *= maskness``, affecting
            box and mask results alike. True: ``scores`` stay as they are and
            ``mask_scores = scores * maskness`` is added (evaluators use it for masks).
    """

    def __init__(self, threshold: float, separate_mask_scores: bool = False) -> None:
        self.threshold = float(threshold)
        self.separate_mask_scores = bool(separate_mask_scores)

    def __call__(self, instances: list[Instances]) -> list[Instances]:
        """Rescore each image's detections in place (their order is unchanged).

        Args:
            instances: per image, detections with ``scores`` (Tensor[D]) and ``pred_masks``
                (Tensor[D, 1, M, M] probabilities).

        Returns:
            ``instances``.
        """
        for per_image in instances:
            rescored = per_image.scores * mask_maskness(per_image.pred_masks, self.threshold)
            # EVA-02 also sorted by the new score, but into a discarded loop variable: the order
            # never changed, and no evaluator depends on it.
            per_image.set("mask_scores" if self.separate_mask_scores else "scores", rescored)
        return instances

    def __repr__(self) -> str:
        return (
            f"MasknessRescoring(threshold={self.threshold}, "
            f"separate_mask_scores={self.separate_mask_scores})"
        )
