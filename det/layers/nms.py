"""Non-maximum suppression entry points (thin wrappers over ``torchvision.ops``)."""

from __future__ import annotations

import torch
from torchvision.ops import boxes as _box_ops

__all__ = ["batched_nms", "nms"]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS over all boxes at once.

    Args:
        boxes (Tensor[N, 4]): XYXY absolute pixels.
        scores (Tensor[N]): higher is better.
        iou_threshold: boxes overlapping a kept box with IoU > this are discarded.

    Returns:
        Tensor[K] (int64): indices of kept boxes, sorted by decreasing score.
    """
    return _box_ops.nms(boxes.float(), scores.float(), iou_threshold)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """NMS performed independently within each category.

    Args:
        boxes (Tensor[N, 4]): XYXY absolute pixels.
        scores (Tensor[N]): higher is better.
        idxs (Tensor[N]): category (or any group) id of each box; boxes of different ids never
            suppress each other.
        iou_threshold: boxes overlapping a kept box of the same id with IoU > this are discarded.

    Returns:
        Tensor[K] (int64): indices of kept boxes, sorted by decreasing score.
    """
    if boxes.shape[-1] != 4:
        raise ValueError(f"batched_nms expects boxes of shape [N, 4], got {tuple(boxes.shape)}")
    # fp16 boxes lose precision in the per-class coordinate offset trick torchvision uses.
    return _box_ops.batched_nms(boxes.float(), scores, idxs, iou_threshold)
