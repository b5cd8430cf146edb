"""Turning dense RPN outputs into per-image proposals, and adding ground truth to proposals."""

from __future__ import annotations

import math

import torch

from det.layers import batched_nms, cat
from det.structures import Boxes, Instances

__all__ = ["add_ground_truth_to_proposals", "find_top_rpn_proposals"]


def find_top_rpn_proposals(
    proposals: list[torch.Tensor],
    pred_objectness_logits: list[torch.Tensor],
    image_sizes: list[tuple[int, int]],
    nms_thresh: float,
    pre_nms_topk: int,
    post_nms_topk: int,
    min_box_size: float,
    training: bool,
) -> list[Instances]:
    """Select proposals per image: top-k per level, clip, drop tiny boxes, NMS per level, top-k.

    Glossary: N images, L levels, Hi x Wi x A anchors on level i.

    Args:
        proposals: per level, Tensor[N, Hi * Wi * A, 4] decoded boxes (XYXY input pixels).
        pred_objectness_logits: per level, Tensor[N, Hi * Wi * A].
        image_sizes: per image, (h, w) before padding; boxes are clipped to it.
        nms_thresh: IoU threshold of the NMS (applied within each level separately).
        pre_nms_topk: boxes kept per level and image before NMS.
        post_nms_topk: boxes kept per image after NMS (over all levels, by logit).
        min_box_size: boxes with a side <= this (after clipping) are dropped.
        training: if True, a non-finite box or logit raises (training diverged); otherwise such
            boxes are dropped.

    Returns:
        Per image, Instances with ``proposal_boxes`` (Boxes) and ``objectness_logits``
        (Tensor[K]), sorted by decreasing logit, K <= post_nms_topk.
    """
    num_images = len(image_sizes)
    device = proposals[0].device

    topk_scores, topk_proposals, level_ids = [], [], []
    batch_idx = torch.arange(num_images, device=device)
    for level_id, (proposals_i, logits_i) in enumerate(zip(proposals, pred_objectness_logits)):
        num_proposals_i = min(logits_i.shape[1], pre_nms_topk)
        topk_scores_i, topk_idx = logits_i.topk(num_proposals_i, dim=1)
        topk_proposals.append(proposals_i[batch_idx[:, None], topk_idx])
        topk_scores.append(topk_scores_i)
        level_ids.append(torch.full((num_proposals_i,), level_id, dtype=torch.int64, device=device))
    topk_scores = cat(topk_scores, dim=1)
    topk_proposals = cat(topk_proposals, dim=1)
    level_ids = cat(level_ids, dim=0)

    results = []
    for n, image_size in enumerate(image_sizes):
        boxes = Boxes(topk_proposals[n])
        scores_per_img = topk_scores[n]
        lvl = level_ids
        valid_mask = torch.isfinite(boxes.tensor).all(dim=1) & torch.isfinite(scores_per_img)
        if not valid_mask.all():
            if training:
                raise FloatingPointError(
                    "Predicted boxes or scores contain Inf/NaN. Training has diverged."
                )
            boxes, scores_per_img, lvl = (
                boxes[valid_mask],
                scores_per_img[valid_mask],
                lvl[valid_mask],
            )
        boxes.clip(image_size)

        keep = boxes.nonempty(threshold=min_box_size)
        if keep.sum().item() != len(boxes):
            boxes, scores_per_img, lvl = boxes[keep], scores_per_img[keep], lvl[keep]

        keep = batched_nms(boxes.tensor, scores_per_img, lvl, nms_thresh)
        keep = keep[:post_nms_topk]

        res = Instances(image_size)
        res.proposal_boxes = boxes[keep]
        res.objectness_logits = scores_per_img[keep]
        results.append(res)
    return results


def add_ground_truth_to_proposals(
    gt: list[Instances] | list[Boxes], proposals: list[Instances]
) -> list[Instances]:
    """Append each image's ground-truth boxes to its proposals (helps early R-CNN training).

    Args:
        gt: per image, Instances with ``gt_boxes`` (and possibly other ``gt_*`` fields), or
            Boxes.
        proposals: per image, Instances with ``proposal_boxes`` and ``objectness_logits``.

    Returns:
        Per image, the proposals followed by the ground truth, whose ``objectness_logits`` is a
        logit of probability ~1 (log((1 - 1e-10) / 1e-10)). Only the proposals' fields are kept.
    """
    if gt is None:
        raise ValueError("add_ground_truth_to_proposals: gt is None")
    if len(proposals) != len(gt):
        raise ValueError(
            f"add_ground_truth_to_proposals: {len(gt)} ground-truth lists for "
            f"{len(proposals)} proposal lists"
        )
    return [_add_ground_truth_single_image(g, p) for g, p in zip(gt, proposals)]


def _add_ground_truth_single_image(gt: Instances | Boxes, proposals: Instances) -> Instances:
    if isinstance(gt, Boxes):
        gt = Instances(proposals.image_size, gt_boxes=gt)
    device = proposals.objectness_logits.device
    # sigmoid(logit) == 1 - 1e-10: ground truth ranks above every real proposal.
    gt_logit_value = math.log((1.0 - 1e-10) / (1 - (1.0 - 1e-10)))
    gt_proposal = Instances(proposals.image_size, **gt.get_fields())
    gt_proposal.proposal_boxes = gt.gt_boxes
    gt_proposal.objectness_logits = torch.full(
        (len(gt.gt_boxes),), gt_logit_value, device=device, dtype=proposals.objectness_logits.dtype
    )
    for key in proposals.get_fields():
        if not gt_proposal.has(key):
            raise ValueError(
                f"add_ground_truth_to_proposals: proposals have field {key!r} that the ground "
                "truth lacks"
            )
    return Instances.cat([proposals, gt_proposal])
