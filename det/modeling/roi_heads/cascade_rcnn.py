"""Cascade R-CNN RoI heads (Cai & Vasconcelos, 2018) with EVA-02's test-time options.

Stage k refines the boxes of stage k - 1 with its own box head, predictor (box-regression
weights) and matcher (IoU threshold). Training sums the losses of all stages, each stage's
gradient into the shared pooled features scaled by 1 / num_stages. Inference averages the class
probabilities of all stages and takes the last stage's boxes.

Glossary: N images; R_i RoIs of image i; K classes (index K = background); S stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from det.modeling.matcher import Matcher
from det.modeling.poolers import ROIPooler
from det.structures import Boxes, Instances, pairwise_iou
from det.utils.events import get_event_storage

from .roi_heads import StandardROIHeads
from .test_selection import DetectionSelector

__all__ = ["CascadeROIHeads"]


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output * ctx.scale, None


class CascadeROIHeads(StandardROIHeads):
    """Multi-stage box heads; the mask head runs once on the final detections.

    State-dict names: ``box_head.{k}.*``, ``box_predictor.{k}.*`` for stage k, ``mask_head.*``.

    Args:
        box_in_features: feature maps the box pooler reads.
        box_pooler: pools RoI features for every stage.
        box_heads: one box head per stage.
        box_predictors: one ``FastRCNNOutputLayers`` per stage (each with its own
            ``Box2BoxTransform`` weights, e.g. (10, 10, 5, 5), (20, 20, 10, 10), (30, 30, 15, 15)).
            Test thresholds are read from the last one.
        proposal_matchers: one matcher per stage (IoU 0.5, 0.6, 0.7); the first also samples
            the RPN proposals.
        mask_in_features, mask_pooler, mask_head: the mask branch (all None for box-only).
        num_classes, batch_size_per_image, positive_fraction, proposal_append_gt: see
            :class:`ROIHeads`.
        test_selection, **test_options: test-time detection selection, applied to the averaged
            stage scores and the last stage's boxes with the last predictor's thresholds; see
            :class:`StandardROIHeads` and :class:`DetectionSelector`.
    """

    def __init__(
        self,
        *,
        box_in_features: list[str],
        box_pooler: ROIPooler,
        box_heads: Sequence[nn.Module],
        box_predictors: Sequence[nn.Module],
        proposal_matchers: Sequence[Matcher],
        mask_in_features: list[str] | None = None,
        mask_pooler: ROIPooler | None = None,
        mask_head: nn.Module | None = None,
        num_classes: int,
        batch_size_per_image: int,
        positive_fraction: float,
        proposal_append_gt: bool = True,
        test_selection: DetectionSelector | None = None,
        **test_options: Any,
    ) -> None:
        num_stages = len(box_heads)
        if (
            num_stages == 0
            or len(box_predictors) != num_stages
            or len(proposal_matchers) != (num_stages)
        ):
            raise ValueError(
                f"CascadeROIHeads: need one box head, box predictor and proposal matcher per "
                f"stage; got {len(box_heads)}, {len(box_predictors)}, {len(proposal_matchers)}"
            )
        super().__init__(
            box_in_features=box_in_features,
            box_pooler=box_pooler,
            box_head=nn.ModuleList(box_heads),
            box_predictor=nn.ModuleList(box_predictors),
            mask_in_features=mask_in_features,
            mask_pooler=mask_pooler,
            mask_head=mask_head,
            num_classes=num_classes,
            batch_size_per_image=batch_size_per_image,
            positive_fraction=positive_fraction,
            proposal_matcher=proposal_matchers[0],
            proposal_append_gt=proposal_append_gt,
            test_selection=test_selection,
            **test_options,
        )
        self.num_cascade_stages = num_stages
        self.proposal_matchers = list(proposal_matchers)

    def _forward_box(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """See :meth:`StandardROIHeads._forward_box`; training losses are suffixed
        ``_stage{k}``."""
        feats = [features[f] for f in self.box_in_features]
        image_sizes = [x.image_size for x in proposals]
        head_outputs = []  # (predictor, predictions, proposals) of each stage
        prev_pred_boxes = None
        for k in range(self.num_cascade_stages):
            if k > 0:
                proposals = self._create_proposals_from_boxes(prev_pred_boxes, image_sizes)
                if self.training:
                    proposals = self._match_and_label_boxes(proposals, k, targets)
            predictions = self._run_stage(feats, proposals, k)
            prev_pred_boxes = self.box_predictor[k].predict_boxes(predictions, proposals)
            head_outputs.append((self.box_predictor[k], predictions, proposals))

        if self.training:
            losses = {}
            storage = get_event_storage()
            for stage, (predictor, predictions, stage_proposals) in enumerate(head_outputs):
                with storage.name_scope(f"stage{stage}"):
                    stage_losses = predictor.losses(predictions, stage_proposals)
                losses.update({f"{name}_stage{stage}": v for name, v in stage_losses.items()})
            return losses

        scores_per_stage = [p.predict_probs(pred, props) for p, pred, props in head_outputs]
        # Same summation order as detectron2 (stage 0 first), so averaged scores match bitwise.
        scores = [
            sum(list(per_image)) * (1.0 / self.num_cascade_stages)
            for per_image in zip(*scores_per_stage)
        ]
        predictor, predictions, last_proposals = head_outputs[-1]
        boxes = predictor.predict_boxes(predictions, last_proposals)
        return self._select_detections(predictor, boxes, scores, image_sizes)

    @torch.no_grad()
    def _match_and_label_boxes(
        self, proposals: list[Instances], stage: int, targets: list[Instances]
    ) -> list[Instances]:
        """Label the boxes of stage ``stage`` with the stage's matcher (no sampling).

        Returns:
            ``proposals`` with ``gt_classes`` (0..K) and ``gt_boxes`` set.
        """
        num_fg, num_bg = [], []
        for per_image, targets_per_image in zip(proposals, targets):
            quality = pairwise_iou(targets_per_image.gt_boxes, per_image.proposal_boxes)
            matched_idxs, labels = self.proposal_matchers[stage](quality)
            if len(targets_per_image) > 0:
                gt_classes = targets_per_image.gt_classes[matched_idxs]
                gt_classes[labels == 0] = self.num_classes
                gt_boxes = targets_per_image.gt_boxes[matched_idxs]
            else:
                gt_classes = torch.zeros_like(matched_idxs) + self.num_classes
                gt_boxes = Boxes(targets_per_image.gt_boxes.tensor.new_zeros((len(per_image), 4)))
            per_image.gt_classes = gt_classes
            per_image.gt_boxes = gt_boxes
            num_fg.append((labels == 1).sum().item())
            num_bg.append(labels.numel() - num_fg[-1])
        self._put_sample_counts(num_fg, num_bg, prefix=f"stage{stage}/")
        return proposals

    def _run_stage(
        self, features: list[torch.Tensor], proposals: list[Instances], stage: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        box_features = self.box_pooler(features, [x.proposal_boxes for x in proposals])
        if self.training:
            # Every stage back-propagates into the same features; 1/S keeps their gradient
            # at the scale of a single head (the Cascade R-CNN paper's recipe).
            box_features = _ScaleGradient.apply(box_features, 1.0 / self.num_cascade_stages)
        box_features = self.box_head[stage](box_features)
        return self.box_predictor[stage](box_features)

    def _create_proposals_from_boxes(
        self, boxes: Sequence[torch.Tensor], image_sizes: list[tuple[int, int]]
    ) -> list[Instances]:
        """Proposals for the next stage: the (detached, clipped) boxes of this stage.

        Args:
            boxes: per image, Tensor[R_i, 4] class-agnostic predicted boxes.
        """
        proposals = []
        for boxes_per_image, image_size in zip(boxes, image_sizes):
            b = Boxes(boxes_per_image.detach())
            b.clip(image_size)
            if self.training:
                # Empty boxes would break the next stage's matching and loss.
                b = b[b.nonempty()]
            per_image = Instances(image_size)
            per_image.proposal_boxes = b
            proposals.append(per_image)
        return proposals
