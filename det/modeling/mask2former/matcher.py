"""Hungarian matching of predicted (class, mask) pairs to ground-truth segments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from .point_sampling import point_sample

__all__ = ["HungarianMatcher", "batch_dice_cost", "batch_sigmoid_ce_cost"]


def batch_sigmoid_ce_cost(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean sigmoid binary cross-entropy between every prediction and every target.

    Args:
        inputs (Tensor[Q, P]): mask logits at P points.
        targets (Tensor[T, P]): target values in [0, 1] at the same points.

    Returns:
        Tensor[Q, T].
    """
    pos = F.binary_cross_entropy_with_logits(inputs, torch.ones_like(inputs), reduction="none")
    neg = F.binary_cross_entropy_with_logits(inputs, torch.zeros_like(inputs), reduction="none")
    return (pos @ targets.T + neg @ (1 - targets).T) / inputs.shape[1]


def batch_dice_cost(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss ``1 - (2 sum(s y) + 1) / (sum(s) + sum(y) + 1)`` with ``s = sigmoid(logits)``
    between every prediction and every target.

    Args:
        inputs (Tensor[Q, P]): mask logits.
        targets (Tensor[T, P]): targets in [0, 1].

    Returns:
        Tensor[Q, T].
    """
    probs = inputs.sigmoid()
    numerator = 2 * probs @ targets.T
    denominator = probs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


class HungarianMatcher(nn.Module):
    """One-to-one assignment of queries to targets minimizing
    ``cost_class * (-p(class)) + cost_mask * BCE + cost_dice * dice``, per image.

    Mask costs are computed on ``num_points`` uniform random points (the same points for every
    prediction and target of an image), as in Mask2Former; ``scipy``'s
    ``linear_sum_assignment`` solves the assignment on the CPU.

    Args:
        cost_class: weight of the negative class probability.
        cost_mask: weight of the mean sigmoid BCE.
        cost_dice: weight of the dice loss.
        num_points: points sampled per image (12544 = 112^2 in Mask2Former).
    """

    def __init__(
        self,
        cost_class: float = 1.0,
        cost_mask: float = 1.0,
        cost_dice: float = 1.0,
        num_points: int = 12544,
    ) -> None:
        super().__init__()
        if cost_class == 0 and cost_mask == 0 and cost_dice == 0:
            raise ValueError("HungarianMatcher: all costs are 0")
        if num_points <= 0:
            raise ValueError(f"HungarianMatcher: num_points must be > 0, got {num_points}")
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points

    @torch.no_grad()
    def cost_matrix(
        self,
        pred_logits: torch.Tensor,
        pred_masks: torch.Tensor,
        tgt_labels: torch.Tensor,
        tgt_masks: torch.Tensor,
        point_coords: torch.Tensor,
    ) -> torch.Tensor:
        """Matching cost of one image.

        Args:
            pred_logits (Tensor[Q, K + 1]): class logits.
            pred_masks (Tensor[Q, h, w]): mask logits.
            tgt_labels (Tensor[T] int64): target classes.
            tgt_masks (Tensor[T, H, W]): binary target masks (any resolution).
            point_coords (Tensor[P, 2]): (x, y) in [0, 1] where masks are compared.

        Returns:
            Tensor[Q, T] float32.
        """
        prob = pred_logits.float().softmax(-1)
        # -p(class) instead of 1 - p(class): the constant does not change the assignment.
        cost_class = -prob[:, tgt_labels]
        grid = point_coords[None].to(pred_masks.dtype)
        # Masks are channels of one map, so the points are shared without copies per mask.
        out = point_sample(pred_masks[None], grid, align_corners=False)[0]
        tgt = point_sample(tgt_masks[None].to(pred_masks.dtype), grid, align_corners=False)[0]
        with torch.autocast(device_type=pred_masks.device.type, enabled=False):
            out, tgt = out.float(), tgt.float()
            cost_mask = batch_sigmoid_ce_cost(out, tgt)
            cost_dice = batch_dice_cost(out, tgt)
        return (
            self.cost_mask * cost_mask + self.cost_class * cost_class + self.cost_dice * cost_dice
        )

    @torch.no_grad()
    def forward(
        self, outputs: dict[str, torch.Tensor], targets: list[dict[str, torch.Tensor]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match every image of the batch.

        Args:
            outputs: ``pred_logits`` (Tensor[B, Q, K + 1]) and ``pred_masks``
                (Tensor[B, Q, h, w]).
            targets: per image, ``labels`` (Tensor[T_i] int64) and ``masks``
                (Tensor[T_i, H, W]).

        Returns:
            Per image ``(query_indices, target_indices)``, two int64 CPU tensors of length
            ``min(Q, T_i)``; query indices ascending.
        """
        indices = []
        for b, target in enumerate(targets):
            coords = torch.rand(self.num_points, 2, device=outputs["pred_masks"].device)
            cost = self.cost_matrix(
                outputs["pred_logits"][b],
                outputs["pred_masks"][b],
                target["labels"],
                target["masks"],
                coords,
            )
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            indices.append(
                (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64))
            )
        return indices
