"""Mask2Former's set-prediction loss: Hungarian matching, then class and point-sampled mask
losses, repeated for every intermediate prediction (deep supervision).

Glossary: B images, Q queries, K classes (index K = "no object"), T_i targets of image i,
M matched pairs in the batch, P points per mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from det.utils import comm

from .matcher import HungarianMatcher
from .point_sampling import (
    calculate_uncertainty,
    get_uncertain_point_coords_with_randomness,
    point_sample,
)

__all__ = ["SetCriterion", "dice_loss", "sigmoid_ce_loss"]

_LOSS_KEYS = {"labels": ("loss_ce",), "masks": ("loss_mask", "loss_dice")}


def dice_loss(inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Sum over masks of ``1 - (2 sum(s y) + 1) / (sum(s) + sum(y) + 1)``, divided by
    ``num_masks``.

    Args:
        inputs (Tensor[M, P]): mask logits (s = sigmoid).
        targets (Tensor[M, P]): targets in [0, 1].
        num_masks: normalizer.
    """
    probs = inputs.sigmoid()
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def sigmoid_ce_loss(inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Sum over masks of the mean sigmoid BCE over points, divided by ``num_masks``.

    Args:
        inputs (Tensor[M, P]): mask logits.
        targets (Tensor[M, P]): targets in [0, 1].
        num_masks: normalizer.
    """
    loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    return loss.mean(1).sum() / num_masks


class SetCriterion(nn.Module):
    """Losses of Mask2Former, already multiplied by their weights.

    For the final prediction and every ``aux_outputs`` entry (matched independently):

    * ``loss_ce``: cross-entropy over K + 1 classes for all queries, unmatched ones targeting
      "no object"; class weights 1 except ``eos_coef`` for "no object", and the mean is
      normalized by the sum of the weights of the targets (``F.cross_entropy``'s convention);
    * ``loss_mask`` / ``loss_dice``: on the matched pairs, at ``num_points`` points per mask
      chosen by PointRend's uncertainty sampling on the predicted logits; both summed over
      masks and divided by the number of target masks in the batch (averaged over processes,
      at least 1).

    Intermediate losses get the suffix ``_i`` (``loss_ce_0`` is the prediction made from the
    learnable queries alone). Every loss is multiplied by ``weight_dict`` of its base name;
    losses whose base name is not in ``weight_dict`` are dropped.

    Args:
        num_classes: K.
        matcher: the Hungarian matcher.
        weight_dict: base loss name (``loss_ce``, ``loss_mask``, ``loss_dice``) -> weight.
        eos_coef: class weight of "no object" (0.1).
        losses: loss groups to compute, from ``"labels"`` and ``"masks"``.
        num_points: points per mask (12544).
        oversample_ratio: PointRend's oversampling (3.0).
        importance_sample_ratio: share of uncertainty-chosen points (0.75).
    """

    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher,
        weight_dict: dict[str, float],
        eos_coef: float,
        losses: Sequence[str],
        num_points: int,
        oversample_ratio: float,
        importance_sample_ratio: float,
    ) -> None:
        super().__init__()
        unknown = [name for name in losses if name not in _LOSS_KEYS]
        if unknown:
            raise ValueError(f"SetCriterion: unknown losses {unknown}; known: {list(_LOSS_KEYS)}")
        known_keys = {k for name in losses for k in _LOSS_KEYS[name]}
        unused = [k for k in weight_dict if k not in known_keys]
        if unused:
            raise ValueError(
                f"SetCriterion: weight_dict keys {unused} are not computed by losses "
                f"{list(losses)} (which give {sorted(known_keys)})"
            )
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.eos_coef = eos_coef
        self.losses = list(losses)
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    def loss_labels(self, outputs, targets, indices, num_masks) -> dict[str, torch.Tensor]:
        """``loss_ce`` (unweighted) of one prediction; see the class docstring."""
        logits = outputs["pred_logits"].float()
        target_classes = torch.full(
            logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device
        )
        batch_idx, src_idx = _src_permutation_idx(indices)
        matched = [t["labels"][j.to(t["labels"].device)] for t, (_, j) in zip(targets, indices)]
        target_classes[batch_idx, src_idx] = torch.cat(matched).to(logits.device)
        loss = F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)
        return {"loss_ce": loss}

    def loss_masks(self, outputs, targets, indices, num_masks) -> dict[str, torch.Tensor]:
        """``loss_mask`` and ``loss_dice`` (unweighted) of one prediction."""
        pred_masks = outputs["pred_masks"]
        batch_idx, src_idx = _src_permutation_idx(indices)
        if len(batch_idx) == 0:
            zero = pred_masks.sum() * 0.0
            return {"loss_mask": zero, "loss_dice": zero}
        src_masks = pred_masks[batch_idx.to(pred_masks.device), src_idx.to(pred_masks.device)]
        tgt_masks = torch.cat(
            [t["masks"][j.to(t["masks"].device)] for t, (_, j) in zip(targets, indices)]
        ).to(src_masks)
        src_masks, tgt_masks = src_masks[:, None], tgt_masks[:, None]
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                src_masks.float(),
                calculate_uncertainty,
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
            )
            point_labels = point_sample(tgt_masks.float(), coords, align_corners=False)[:, 0]
        point_logits = point_sample(src_masks.float(), coords, align_corners=False)[:, 0]
        return {
            "loss_mask": sigmoid_ce_loss(point_logits, point_labels, num_masks),
            "loss_dice": dice_loss(point_logits, point_labels, num_masks),
        }

    def _losses_of(self, outputs, targets, num_masks, suffix: str) -> dict[str, torch.Tensor]:
        indices = self.matcher(outputs, targets)
        losses = {}
        for name in self.losses:
            fn = self.loss_labels if name == "labels" else self.loss_masks
            for key, value in fn(outputs, targets, indices, num_masks).items():
                if key in self.weight_dict:
                    losses[key + suffix] = value * self.weight_dict[key]
        return losses

    def forward(
        self, outputs: dict, targets: list[dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """Compute the weighted losses.

        Args:
            outputs: ``pred_logits`` (Tensor[B, Q, K + 1]), ``pred_masks`` (Tensor[B, Q, h, w])
                and optionally ``aux_outputs`` (list of dicts with the same keys).
            targets: per image ``labels`` (Tensor[T_i] int64) and ``masks``
                (Tensor[T_i, H, W], 0/1).

        Returns:
            Loss name -> scalar tensor.
        """
        num_masks = float(sum(len(t["labels"]) for t in targets))
        num_masks = _average_over_processes(num_masks, outputs["pred_logits"].device)
        num_masks = max(num_masks, 1.0)
        losses = self._losses_of(outputs, targets, num_masks, "")
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            losses.update(self._losses_of(aux, targets, num_masks, f"_{i}"))
        return losses


def _src_permutation_idx(indices):
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    return batch_idx, src_idx


def _average_over_processes(value: float, device: torch.device) -> float:
    world_size = comm.get_world_size()
    if world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float32, device=device)
    dist.all_reduce(t)
    return float(t.item()) / world_size
