"""Box <-> regression-target encodings (R-CNN's center/size deltas) and the dense box loss."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.ops import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
)

from det.layers import cat
from det.structures import Boxes

__all__ = ["Box2BoxTransform"]

# Largest predicted dw/dh: exp(dw) at most scales a box by 1000/16 (from Detectron's
# anchor-based models: a 16-pixel anchor never grows beyond 1000 pixels).
_DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def _smooth_l1_loss(input: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """Summed smooth L1 (Huber / beta) loss; ``beta`` < 1e-5 is plain L1 (fvcore's rule)."""
    diff = torch.abs(input - target)
    if beta < 1e-5:
        return diff.sum()
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta).sum()


class Box2BoxTransform:
    """R-CNN box encoding: ``(dx, dy, dw, dh)`` between a source and a target box.

    ``dx = wx * (x_t - x_s) / w_s``, ``dy = wy * (y_t - y_s) / h_s`` on box centers and
    ``dw = ww * log(w_t / w_s)``, ``dh = wh * log(h_t / h_s)`` on sizes.

    Args:
        weights: (wx, wy, ww, wh) scaling of the deltas, e.g. (1, 1, 1, 1) for RPN and
            (10, 10, 5, 5) for the first Fast R-CNN head.
        scale_clamp: predicted dw, dh are clamped to at most this before ``exp``.
    """

    def __init__(self, weights: Sequence[float], scale_clamp: float = _DEFAULT_SCALE_CLAMP) -> None:
        if len(weights) != 4:
            raise ValueError(f"Box2BoxTransform: weights must have 4 values, got {weights!r}")
        self.weights = tuple(weights)
        self.scale_clamp = scale_clamp

    def get_deltas(self, src_boxes: torch.Tensor, target_boxes: torch.Tensor) -> torch.Tensor:
        """Deltas that turn each source box into its target box.

        Args:
            src_boxes (Tensor[R, 4]): XYXY, positive width and height (e.g. anchors).
            target_boxes (Tensor[R, 4]): XYXY.

        Returns:
            Tensor[R, 4]: (dx, dy, dw, dh).
        """
        if not isinstance(src_boxes, torch.Tensor) or not isinstance(target_boxes, torch.Tensor):
            raise TypeError("Box2BoxTransform.get_deltas expects two tensors (use Boxes.tensor)")
        src_widths = src_boxes[:, 2] - src_boxes[:, 0]
        src_heights = src_boxes[:, 3] - src_boxes[:, 1]
        src_ctr_x = src_boxes[:, 0] + 0.5 * src_widths
        src_ctr_y = src_boxes[:, 1] + 0.5 * src_heights

        target_widths = target_boxes[:, 2] - target_boxes[:, 0]
        target_heights = target_boxes[:, 3] - target_boxes[:, 1]
        target_ctr_x = target_boxes[:, 0] + 0.5 * target_widths
        target_ctr_y = target_boxes[:, 1] + 0.5 * target_heights

        wx, wy, ww, wh = self.weights
        dx = wx * (target_ctr_x - src_ctr_x) / src_widths
        dy = wy * (target_ctr_y - src_ctr_y) / src_heights
        dw = ww * torch.log(target_widths / src_widths)
        dh = wh * torch.log(target_heights / src_heights)
        deltas = torch.stack((dx, dy, dw, dh), dim=1)
        if not (src_widths > 0).all().item():
            raise ValueError("Box2BoxTransform.get_deltas: source boxes must have positive width")
        return deltas

    def apply_deltas(self, deltas: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Apply deltas to boxes.

        Args:
            deltas (Tensor[R, K * 4]): K sets of (dx, dy, dw, dh) per box (K = 1 for
                class-agnostic regression, else the number of classes).
            boxes (Tensor[R, 4]): XYXY boxes to transform.

        Returns:
            Tensor[R, K * 4]: XYXY boxes, in float32 (deltas are cast to float).
        """
        deltas = deltas.float()
        boxes = boxes.to(deltas.dtype)

        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights

        wx, wy, ww, wh = self.weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        # Clamping before exp keeps a wild prediction from overflowing to inf.
        dw = torch.clamp(deltas[:, 2::4] / ww, max=self.scale_clamp)
        dh = torch.clamp(deltas[:, 3::4] / wh, max=self.scale_clamp)

        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]

        x1 = pred_ctr_x - 0.5 * pred_w
        y1 = pred_ctr_y - 0.5 * pred_h
        x2 = pred_ctr_x + 0.5 * pred_w
        y2 = pred_ctr_y + 0.5 * pred_h
        return torch.stack((x1, y1, x2, y2), dim=-1).reshape(deltas.shape)


def _dense_box_regression_loss(
    anchors: list[Boxes] | list[torch.Tensor],
    box2box_transform: Box2BoxTransform,
    pred_anchor_deltas: list[torch.Tensor],
    gt_boxes: list[torch.Tensor],
    fg_mask: torch.Tensor,
    box_reg_loss_type: str = "smooth_l1",
    smooth_l1_beta: float = 0.0,
) -> torch.Tensor:
    """Summed box-regression loss over the foreground anchors of a batch (not normalized).

    Glossary: N images, R anchors over all levels (sum of Hi * Wi * A).

    Args:
        anchors: per level, Boxes (or Tensor[Hi * Wi * A, 4]) shared by all images.
        box2box_transform: the encoding of the predicted deltas.
        pred_anchor_deltas: per level, Tensor[N, Hi * Wi * A, 4].
        gt_boxes: per image, Tensor[R, 4]: the ground-truth box matched to each anchor.
        fg_mask (Tensor[N, R], bool): anchors that contribute.
        box_reg_loss_type: ``"smooth_l1"`` (on deltas) or ``"giou"``, ``"diou"``, ``"ciou"``
            (on decoded boxes, torchvision's losses).
        smooth_l1_beta: L1 -> L2 transition point of smooth L1; 0 gives plain L1.

    Returns:
        Scalar tensor: the loss summed over foreground anchors.
    """
    if isinstance(anchors[0], Boxes):
        anchors = Boxes.cat(anchors).tensor
    else:
        anchors = cat(anchors)
    pred = cat(pred_anchor_deltas, dim=1)
    if box_reg_loss_type == "smooth_l1":
        gt_anchor_deltas = torch.stack([box2box_transform.get_deltas(anchors, k) for k in gt_boxes])
        return _smooth_l1_loss(pred[fg_mask], gt_anchor_deltas[fg_mask], smooth_l1_beta)
    iou_losses = {
        "giou": generalized_box_iou_loss,
        "diou": distance_box_iou_loss,
        "ciou": complete_box_iou_loss,
    }
    if box_reg_loss_type not in iou_losses:
        raise ValueError(
            f"_dense_box_regression_loss: box_reg_loss_type must be 'smooth_l1', 'giou', 'diou' "
            f"or 'ciou', got {box_reg_loss_type!r}"
        )
    pred_boxes = torch.stack([box2box_transform.apply_deltas(k, anchors) for k in pred])
    return iou_losses[box_reg_loss_type](
        pred_boxes[fg_mask], torch.stack(gt_boxes)[fg_mask], reduction="sum"
    )
