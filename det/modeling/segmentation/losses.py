"""Pixel-wise losses of the encoder-decoder segmentation heads (mmseg's ``BaseDecodeHead``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sem_seg_cross_entropy"]


def sem_seg_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_value: int = 255,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Cross-entropy of logits bilinearly resized to the label size (``align_corners=False``).

    Args:
        logits (Tensor[B, K, h, w]): class logits at any stride.
        targets (Long Tensor[B, H, W]): labels in [0, K), ``ignore_value`` where unlabeled.
        ignore_value: label excluded from the loss.
        avg_non_ignore: average over labeled pixels only. The default (False) averages over all
            pixels with ignored ones counting 0, as mmseg's ``CrossEntropyLoss`` before 0.24
            (every seed's code base) does.

    Returns:
        Scalar loss (float32 even under autocast).
    """
    if logits.dim() != 4 or targets.dim() != 3 or logits.shape[0] != targets.shape[0]:
        raise ValueError(
            f"sem_seg_cross_entropy: expected logits [B, K, h, w] and targets [B, H, W], got "
            f"{list(logits.shape)} and {list(targets.shape)}"
        )
    if logits.shape[-2:] != targets.shape[-2:]:
        logits = F.interpolate(
            logits.float(), size=targets.shape[-2:], mode="bilinear", align_corners=False
        )
    loss = F.cross_entropy(logits.float(), targets, ignore_index=ignore_value, reduction="none")
    if not avg_non_ignore:
        return loss.mean()
    valid = (targets != ignore_value).sum()
    return loss.sum() / valid.clamp(min=1)
