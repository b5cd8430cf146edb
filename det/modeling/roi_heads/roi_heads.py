"""RoI heads: proposal sampling (``ROIHeads``) and the box + mask heads (``StandardROIHeads``).

Glossary: N images; R_i proposals of image i; G_i ground-truth objects; K foreground classes,
class index K meaning background.

Test-time detection selection (score threshold, hard / soft NMS, top-k, maskness) lives in
``test_selection.py``: both heads take a :class:`DetectionSelector` (``test_selection=``) or the
flat options of EVA-02's README (``model.roi_heads.use_soft_nms=True``, ``...method``,
``...iou_threshold``, ``...sigma``, ``...class_wise``, ``...override_score_thresh``,
``...maskness_thresh``, ``...maskness_separate_scores``), which it declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from det.modeling.matcher import Matcher
from det.modeling.poolers import ROIPooler
from det.modeling.proposal_generator.proposal_utils import add_ground_truth_to_proposals
from det.modeling.sampling import subsample_labels
from det.structures import Boxes, ImageList, Instances, pairwise_iou
from det.utils.errors import UserError
from det.utils.events import get_event_storage

from .box_nms import SoftNMS
from .fast_rcnn import FastRCNNOutputLayers
from .test_selection import DetectionSelector, build_test_selection

__all__ = ["NumClassesMismatchError", "ROIHeads", "StandardROIHeads", "select_foreground_proposals"]


class NumClassesMismatchError(UserError, ValueError):
    """The training data has a class index the model cannot predict."""


def select_foreground_proposals(
    proposals: list[Instances], bg_label: int
) -> tuple[list[Instances], list[torch.Tensor]]:
    """Keep the proposals matched to an object (``0 <= gt_classes < bg_label``).

    Args:
        proposals: per image, sampled proposals with ``gt_classes``.
        bg_label: the background class index K.

    Returns:
        (foreground proposals per image, Tensor[R_i] bool selection mask per image).
    """
    fg_proposals, fg_masks = [], []
    for per_image in proposals:
        gt_classes = per_image.gt_classes
        fg = (gt_classes != -1) & (gt_classes != bg_label)
        fg_proposals.append(per_image[fg.nonzero().squeeze(1)])
        fg_masks.append(fg)
    return fg_proposals, fg_masks


class ROIHeads(nn.Module):
    """Base of the RoI heads: matches proposals to ground truth and samples training RoIs.

    Args:
        num_classes: K.
        batch_size_per_image: RoIs sampled per image for the losses.
        positive_fraction: at most this fraction of the sampled RoIs are foreground.
        proposal_matcher: labels proposals foreground / background by IoU with ground truth.
        proposal_append_gt: add the ground-truth boxes to the proposals before sampling.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        batch_size_per_image: int,
        positive_fraction: float,
        proposal_matcher: Matcher,
        proposal_append_gt: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.proposal_matcher = proposal_matcher
        self.proposal_append_gt = proposal_append_gt

    def _check_gt_classes(self, targets: list[Instances]) -> None:
        for per_image in targets:
            classes = per_image.gt_classes
            if classes.numel() == 0:
                continue
            low, high = int(classes.min()), int(classes.max())
            if low < 0 or high >= self.num_classes:
                bad = high if high >= self.num_classes else low
                raise NumClassesMismatchError(
                    f"Ground-truth class {bad} is outside 0..{self.num_classes - 1}: the model "
                    f"has num_classes={self.num_classes} (model.roi_heads.num_classes) but the "
                    "training data has more categories. Set model.roi_heads.num_classes (and the "
                    "mask head's num_classes) to the dataset's number of thing_classes."
                )

    @staticmethod
    def _put_sample_counts(num_fg: list[int], num_bg: list[int], prefix: str = "") -> None:
        """Log the mean number of foreground / background RoIs per image."""
        storage = get_event_storage()
        storage.put_scalar(f"{prefix}roi_head/num_fg_samples", sum(num_fg) / max(len(num_fg), 1))
        storage.put_scalar(f"{prefix}roi_head/num_bg_samples", sum(num_bg) / max(len(num_bg), 1))

    def _sample_proposals(
        self, matched_idxs: torch.Tensor, matched_labels: torch.Tensor, gt_classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample foreground / background proposals of one image.

        Args:
            matched_idxs (Tensor[R]): best-matching ground truth of each proposal.
            matched_labels (Tensor[R]): 1 foreground, 0 background, -1 ignore.
            gt_classes (Tensor[G]): class of each ground-truth object.

        Returns:
            (sampled indices Tensor[S], their classes Tensor[S] in 0..K).
        """
        if gt_classes.numel() > 0:
            gt_classes = gt_classes[matched_idxs]
            gt_classes[matched_labels == 0] = self.num_classes
            gt_classes[matched_labels == -1] = -1
        else:
            gt_classes = torch.zeros_like(matched_idxs) + self.num_classes
        fg_idxs, bg_idxs = subsample_labels(
            gt_classes, self.batch_size_per_image, self.positive_fraction, self.num_classes
        )
        sampled = torch.cat([fg_idxs, bg_idxs], dim=0)
        return sampled, gt_classes[sampled]

    @torch.no_grad()
    def label_and_sample_proposals(
        self, proposals: list[Instances], targets: list[Instances]
    ) -> list[Instances]:
        """Match proposals to ground truth and sample the RoIs used for training.

        Args:
            proposals: per image, ``proposal_boxes`` (and ``objectness_logits``).
            targets: per image, ``gt_boxes``, ``gt_classes`` and optionally other ``gt_*``.

        Returns:
            Per image, at most ``batch_size_per_image`` proposals with ``gt_classes`` (0..K)
            and, for images with objects, the ``gt_*`` fields of the matched object.
        """
        self._check_gt_classes(targets)
        if self.proposal_append_gt:
            proposals = add_ground_truth_to_proposals(targets, proposals)
        sampled_proposals = []
        num_fg, num_bg = [], []
        for per_image, targets_per_image in zip(proposals, targets):
            has_gt = len(targets_per_image) > 0
            quality = pairwise_iou(targets_per_image.gt_boxes, per_image.proposal_boxes)
            matched_idxs, matched_labels = self.proposal_matcher(quality)
            sampled_idxs, gt_classes = self._sample_proposals(
                matched_idxs, matched_labels, targets_per_image.gt_classes
            )
            per_image = per_image[sampled_idxs]
            per_image.gt_classes = gt_classes
            if has_gt:
                sampled_targets = matched_idxs[sampled_idxs]
                for name, value in targets_per_image.get_fields().items():
                    if name.startswith("gt_") and not per_image.has(name):
                        per_image.set(name, value[sampled_targets])
            num_bg.append((gt_classes == self.num_classes).sum().item())
            num_fg.append(gt_classes.numel() - num_bg[-1])
            sampled_proposals.append(per_image)
        self._put_sample_counts(num_fg, num_bg)
        return sampled_proposals

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """Training: (sampled proposals, losses); inference: (detections, {})."""
        raise NotImplementedError


class StandardROIHeads(ROIHeads):
    """Box head + box predictor, and optionally a mask head, each on its own pooled features.

    Args:
        box_in_features: feature maps the box pooler reads (e.g. ``["p2", "p3", "p4", "p5"]``).
        box_pooler: pools RoI features for the box head.
        box_head: features -> Tensor[R, C] (e.g. ``FastRCNNConvFCHead``).
        box_predictor: class scores and box deltas (``FastRCNNOutputLayers``).
        mask_in_features, mask_pooler, mask_head: the mask branch; all None for box-only models.
        num_classes, batch_size_per_image, positive_fraction, proposal_matcher,
        proposal_append_gt: see :class:`ROIHeads`.
        test_selection: how detections are selected at test time (None: built from
            ``test_options``).
        **test_options: the keyword arguments of :class:`DetectionSelector` (``use_soft_nms``,
            ``method``, ``iou_threshold``, ``sigma``, ``min_score``, ``class_wise``,
            ``override_score_thresh``, ``maskness_thresh``, ``maskness_separate_scores``), the
            README's ``model.roi_heads.<option>`` keys; not allowed with ``test_selection``.
    """

    def __init__(
        self,
        *,
        box_in_features: list[str],
        box_pooler: ROIPooler,
        box_head: nn.Module,
        box_predictor: nn.Module,
        mask_in_features: list[str] | None = None,
        mask_pooler: ROIPooler | None = None,
        mask_head: nn.Module | None = None,
        num_classes: int,
        batch_size_per_image: int,
        positive_fraction: float,
        proposal_matcher: Matcher,
        proposal_append_gt: bool = True,
        test_selection: DetectionSelector | None = None,
        **test_options: Any,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            batch_size_per_image=batch_size_per_image,
            positive_fraction=positive_fraction,
            proposal_matcher=proposal_matcher,
            proposal_append_gt=proposal_append_gt,
        )
        self.in_features = self.box_in_features = list(box_in_features)
        self.box_pooler = box_pooler
        self.box_head = box_head
        self.box_predictor = box_predictor
        mask_parts = (mask_in_features, mask_pooler, mask_head)
        if any(p is None for p in mask_parts) and any(p is not None for p in mask_parts):
            raise ValueError(
                "StandardROIHeads: mask_in_features, mask_pooler and mask_head must be given "
                "together (or all None for a box-only model)"
            )
        self.mask_on = mask_head is not None
        if self.mask_on:
            self.mask_in_features = list(mask_in_features)
            self.mask_pooler = mask_pooler
            self.mask_head = mask_head
        self.test_selection = build_test_selection(
            type(self).__name__, test_selection, test_options
        )
        if self.test_selection.needs_masks and not self.mask_on:
            raise ValueError(
                f"model.roi_heads.maskness_thresh={self.test_selection.maskness_thresh} needs a "
                "mask head, but this model predicts boxes only (mask_head=None)"
            )

    @property
    def box_nms(self) -> SoftNMS | None:
        """The soft-NMS in use (None: the box predictor's hard NMS)."""
        return self.test_selection.soft_nms

    @property
    def override_score_thresh(self) -> float | None:
        """The score threshold replacing the predictor's (None: the predictor's)."""
        return self.test_selection.override_score_thresh

    @property
    def maskness_thresh(self) -> float | None:
        """The maskness threshold (None when maskness rescoring is off)."""
        return self.test_selection.maskness_thresh

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """Run the heads.

        Args:
            images: the batch (unused; part of the interface).
            features: feature maps by name, Tensor[N, C, H_l, W_l].
            proposals: per image, ``proposal_boxes`` (and ``objectness_logits``).
            targets: per image ground truth (training only).

        Returns:
            Training: (sampled proposals, ``{"loss_cls", "loss_box_reg", "loss_mask"}``; a
            cascade names its box losses per stage, see :meth:`_forward_box`).
            Inference: (per image Instances with ``pred_boxes``, ``scores``, ``pred_classes``
            and ``pred_masks`` (Tensor[D, 1, M, M]), {}).
        """
        del images
        if self.training:
            if targets is None:
                raise ValueError("ROI heads need targets (ground-truth instances) in training")
            proposals = self.label_and_sample_proposals(proposals, targets)
            losses = self._forward_box(features, proposals, targets)
            losses.update(self._forward_mask(features, proposals))
            return proposals, losses
        pred_instances = self._forward_box(features, proposals)
        return self.forward_with_given_boxes(features, pred_instances), {}

    def forward_with_given_boxes(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        """Predict masks for given detections, then apply maskness rescoring if enabled.

        Args:
            features: feature maps by name.
            instances: per image, ``pred_boxes`` and ``pred_classes``.

        Returns:
            ``instances`` with ``pred_masks`` (when the model has a mask head).
        """
        if self.training:
            raise RuntimeError("forward_with_given_boxes is for inference (model.eval())")
        instances = self._forward_mask(features, instances)
        return self.test_selection.rescore(instances)

    def _select_detections(
        self,
        predictor: FastRCNNOutputLayers,
        boxes: Sequence[torch.Tensor],
        scores: Sequence[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[Instances]:
        """Detections from per-image boxes (Tensor[R_i, B or K * B]) and class probabilities
        (Tensor[R_i, K + 1]), see :meth:`DetectionSelector.select`."""
        return self.test_selection.select(predictor, boxes, scores, image_sizes)

    def _forward_box(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """Box losses (training) or detections (inference) of the box branch.

        Args:
            features: feature maps by name.
            proposals: training: sampled proposals with their matched ``gt_*``; inference:
                proposals.
            targets: per image ground truth (training). One stage needs only the matches the
                sampled proposals carry; a cascade re-matches its later stages against it.
        """
        del targets
        feats = [features[f] for f in self.box_in_features]
        box_features = self.box_pooler(feats, [x.proposal_boxes for x in proposals])
        box_features = self.box_head(box_features)
        predictions = self.box_predictor(box_features)
        del box_features
        if self.training:
            return self.box_predictor.losses(predictions, proposals)
        return self._select_detections(
            self.box_predictor,
            self.box_predictor.predict_boxes(predictions, proposals),
            self.box_predictor.predict_probs(predictions, proposals),
            [x.image_size for x in proposals],
        )

    def _forward_mask(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        if not self.mask_on:
            return {} if self.training else instances
        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
            boxes: list[Boxes] = [x.proposal_boxes for x in instances]
        else:
            boxes = [x.pred_boxes for x in instances]
        feats = [features[f] for f in self.mask_in_features]
        return self.mask_head(self.mask_pooler(feats, boxes), instances)
