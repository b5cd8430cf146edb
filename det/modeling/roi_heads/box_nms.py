"""How the box predictor picks the final detections among score-filtered candidates.

Two interchangeable strategies, each a callable ``(boxes, scores, classes) -> (keep, scores)``:

* :class:`HardNMS` -- detectron2's default: per-class NMS, then the ``topk`` best.
* :class:`SoftNMS` -- EVA-02's test-time option (mmcv 1.7.1 semantics): scores of overlapping
  boxes are decayed instead of removed, and no top-k cap is applied (the evaluators cap the
  detections per image).

``fast_rcnn_inference`` takes one of them; ROI heads build it once from their constructor
arguments (the README's ``model.roi_heads.use_soft_nms=True ...`` overrides).
"""

from __future__ import annotations

from typing import Protocol

import torch

from det.layers import batched_nms
from det.layers.soft_nms import batched_soft_nms, soft_nms

__all__ = ["BoxNMS", "HardNMS", "SoftNMS"]

_SOFT_NMS_METHODS = ("naive", "linear", "gaussian")


class BoxNMS(Protocol):
    """Selects detections among candidates of one image.

    Args:
        boxes (Tensor[N, 4]): XYXY absolute pixels, clipped to the image.
        scores (Tensor[N]): candidate scores (already above the score threshold).
        classes (Tensor[N]): int64 class index of each candidate.

    Returns:
        (keep, scores): keep (Tensor[K] int64) indexes the kept candidates in output order;
        scores (Tensor[K]) are their final scores.
    """

    def __call__(
        self, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class HardNMS:
    """Class-wise NMS, then at most ``topk_per_image`` detections by decreasing score.

    Args:
        iou_threshold: candidates of one class overlapping a better one by more than this IoU
            are removed (``test_nms_thresh``, 0.5 in every EVA-02 config).
        topk_per_image: keep at most this many detections; negative keeps all.
    """

    def __init__(self, iou_threshold: float, topk_per_image: int) -> None:
        self.iou_threshold = iou_threshold
        self.topk_per_image = topk_per_image

    def __call__(
        self, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keep = batched_nms(boxes, scores, classes, self.iou_threshold)
        if self.topk_per_image >= 0:
            keep = keep[: self.topk_per_image]
        return keep, scores[keep]

    def __repr__(self) -> str:
        return f"HardNMS(iou_threshold={self.iou_threshold}, topk_per_image={self.topk_per_image})"


class SoftNMS:
    """Soft-NMS over the candidates, as EVA-02's ``fast_rcnn_inference_single_image`` runs it.

    ``class_wise=False`` runs one soft-NMS over all candidates regardless of class (the fork's
    default); ``class_wise=True`` separates classes with the coordinate-offset trick. Boxes are
    returned un-shifted; scores are the decayed ones. Nothing caps the number of detections.

    Args:
        method: ``"naive"``, ``"linear"`` or ``"gaussian"`` decay.
        iou_threshold: IoU from which ``naive`` / ``linear`` decay a score (``>=``).
        sigma: Gaussian decay ``exp(-IoU^2 / sigma)``.
        min_score: candidates whose decayed score drops below this are removed (mmcv: 1e-3).
        class_wise: run soft-NMS within each class instead of across classes.
    """

    def __init__(
        self,
        method: str = "linear",
        iou_threshold: float = 0.3,
        sigma: float = 0.5,
        min_score: float = 1e-3,
        class_wise: bool = False,
    ) -> None:
        if method not in _SOFT_NMS_METHODS:
            raise ValueError(
                f"Soft-NMS method {method!r} is not supported (model.roi_heads.method); "
                f"expected one of {', '.join(_SOFT_NMS_METHODS)}"
            )
        if sigma <= 0:
            raise ValueError(f"Soft-NMS sigma must be > 0 (model.roi_heads.sigma), got {sigma}")
        self.method = method
        self.iou_threshold = float(iou_threshold)
        self.sigma = float(sigma)
        self.min_score = float(min_score)
        self.class_wise = bool(class_wise)

    def __call__(
        self, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        args = (self.method, self.iou_threshold, self.sigma, self.min_score)
        if self.class_wise:
            return batched_soft_nms(boxes, scores, classes, *args)
        return soft_nms(boxes, scores, *args)

    def __repr__(self) -> str:
        return (
            f"SoftNMS(method={self.method!r}, iou_threshold={self.iou_threshold}, "
            f"sigma={self.sigma}, min_score={self.min_score}, class_wise={self.class_wise})"
        )
