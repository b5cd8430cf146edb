"""Region Proposal Network (Ren et al., Faster R-CNN, 2015).

Glossary:
    N: images in the batch.
    L: feature levels.
    A: anchors per location (the same on every level).
    Hi, Wi: spatial size of level i.
    R: anchors over all levels of one image (sum of Hi * Wi * A).
    B: box dimension (4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import Conv2d, cat
from det.structures import Boxes, ImageList, Instances, pairwise_iou
from det.utils.events import get_event_storage

from ..anchor_generator import DefaultAnchorGenerator
from ..box_regression import Box2BoxTransform, _dense_box_regression_loss
from ..matcher import Matcher
from ..sampling import subsample_labels
from .proposal_utils import find_top_rpn_proposals

__all__ = ["RPN", "StandardRPNHead"]


class StandardRPNHead(nn.Module):
    """The RPN head: 3x3 conv(s) + ReLU shared by all levels, then two sibling 1x1 convs.

    Module names match detectron2 checkpoints: ``conv`` (one conv) or ``conv.conv0``,
    ``conv.conv1``, ... (several), ``objectness_logits``, ``anchor_deltas``.

    Args:
        in_channels: channels of every input feature map.
        num_anchors: anchors per location (A).
        box_dim: B, 4 for axis-aligned boxes.
        conv_dims: output channels of each 3x3 conv; -1 keeps ``in_channels``. ViTDet uses
            (-1, -1): two convs.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_anchors: int,
        box_dim: int = 4,
        conv_dims: Sequence[int] = (-1,),
    ) -> None:
        super().__init__()
        conv_dims = list(conv_dims)
        if not conv_dims:
            raise ValueError("StandardRPNHead: conv_dims must have at least one entry")
        cur_channels = in_channels
        if len(conv_dims) == 1:
            out_channels = cur_channels if conv_dims[0] == -1 else conv_dims[0]
            self.conv = self._rpn_conv(cur_channels, out_channels)
            cur_channels = out_channels
        else:
            self.conv = nn.Sequential()
            for k, conv_dim in enumerate(conv_dims):
                out_channels = cur_channels if conv_dim == -1 else conv_dim
                if out_channels <= 0:
                    raise ValueError(
                        f"StandardRPNHead: conv_dims[{k}] must be -1 or > 0, got {conv_dim}"
                    )
                self.conv.add_module(f"conv{k}", self._rpn_conv(cur_channels, out_channels))
                cur_channels = out_channels
        self.objectness_logits = nn.Conv2d(cur_channels, num_anchors, kernel_size=1, stride=1)
        self.anchor_deltas = nn.Conv2d(cur_channels, num_anchors * box_dim, kernel_size=1, stride=1)

        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.constant_(layer.bias, 0)

    @staticmethod
    def _rpn_conv(in_channels: int, out_channels: int) -> Conv2d:
        return Conv2d(
            in_channels, out_channels, kernel_size=3, stride=1, padding=1, activation=nn.ReLU()
        )

    def forward(
        self, features: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Predict objectness and box deltas on every level.

        Args:
            features: per level, Tensor[N, C, Hi, Wi].

        Returns:
            (objectness logits: per level Tensor[N, A, Hi, Wi],
             anchor deltas: per level Tensor[N, A * B, Hi, Wi]).
        """
        pred_objectness_logits = []
        pred_anchor_deltas = []
        for x in features:
            t = self.conv(x)
            pred_objectness_logits.append(self.objectness_logits(t))
            pred_anchor_deltas.append(self.anchor_deltas(t))
        return pred_objectness_logits, pred_anchor_deltas


class RPN(nn.Module):
    """Region Proposal Network: anchors + head + matching/sampling losses + proposal selection.

    Args:
        in_features: names of the backbone features to use, finest first (e.g. p2..p6).
        head: predicts objectness and deltas, e.g. :class:`StandardRPNHead`.
        anchor_generator: anchors for the same levels.
        anchor_matcher: labels anchors from their IoU with ground truth (e.g. Matcher((0.3,
            0.7), (0, -1, 1), allow_low_quality_matches=True)).
        box2box_transform: encoding of the anchor deltas.
        batch_size_per_image: anchors sampled per image for the losses.
        positive_fraction: at most this fraction of sampled anchors are positive.
        pre_nms_topk: (train, test) boxes kept per level before NMS.
        post_nms_topk: (train, test) proposals kept per image after NMS.
        nms_thresh: NMS IoU threshold on proposals.
        min_box_size: proposals with a side <= this (input pixels) are dropped.
        anchor_boundary_thresh: if >= 0, anchors extending more than this many pixels outside
            the image are ignored in training; -1 keeps all anchors.
        loss_weight: weight of both losses, or a dict with ``loss_rpn_cls`` / ``loss_rpn_loc``.
        box_reg_loss_type: ``"smooth_l1"``, ``"giou"``, ``"diou"`` or ``"ciou"``.
        smooth_l1_beta: smooth L1 transition point (0 is L1).
    """

    def __init__(
        self,
        *,
        in_features: list[str],
        head: nn.Module,
        anchor_generator: DefaultAnchorGenerator,
        anchor_matcher: Matcher,
        box2box_transform: Box2BoxTransform,
        batch_size_per_image: int,
        positive_fraction: float,
        pre_nms_topk: tuple[int, int],
        post_nms_topk: tuple[int, int],
        nms_thresh: float = 0.7,
        min_box_size: float = 0.0,
        anchor_boundary_thresh: float = -1.0,
        loss_weight: float | dict[str, float] = 1.0,
        box_reg_loss_type: str = "smooth_l1",
        smooth_l1_beta: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = list(in_features)
        self.rpn_head = head
        self.anchor_generator = anchor_generator
        self.anchor_matcher = anchor_matcher
        self.box2box_transform = box2box_transform
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        if len(pre_nms_topk) != 2 or len(post_nms_topk) != 2:
            raise ValueError(
                f"RPN: pre_nms_topk and post_nms_topk are (train, test) pairs, got "
                f"{pre_nms_topk!r} and {post_nms_topk!r}"
            )
        # Indexed by self.training.
        self.pre_nms_topk = {True: pre_nms_topk[0], False: pre_nms_topk[1]}
        self.post_nms_topk = {True: post_nms_topk[0], False: post_nms_topk[1]}
        self.nms_thresh = nms_thresh
        self.min_box_size = float(min_box_size)
        self.anchor_boundary_thresh = anchor_boundary_thresh
        if isinstance(loss_weight, (int, float)):
            loss_weight = {"loss_rpn_cls": loss_weight, "loss_rpn_loc": loss_weight}
        self.loss_weight = dict(loss_weight)
        self.box_reg_loss_type = box_reg_loss_type
        self.smooth_l1_beta = smooth_l1_beta

    def _subsample_labels(self, label: torch.Tensor) -> torch.Tensor:
        """Keep ``batch_size_per_image`` anchors (1 positive, 0 negative); others become -1."""
        pos_idx, neg_idx = subsample_labels(
            label, self.batch_size_per_image, self.positive_fraction, 0
        )
        label.fill_(-1)
        label.scatter_(0, pos_idx, 1)
        label.scatter_(0, neg_idx, 0)
        return label

    @torch.no_grad()
    def label_and_sample_anchors(
        self, anchors: list[Boxes], gt_instances: list[Instances]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Match anchors to ground truth and sample the anchors that enter the losses.

        Args:
            anchors: per level, Boxes of Hi * Wi * A anchors (shared by all images).
            gt_instances: per image, Instances with ``gt_boxes``.

        Returns:
            (gt_labels: per image Tensor[R] (int8) with 1 / 0 / -1 (positive / negative /
             ignored), matched_gt_boxes: per image Tensor[R, 4], the matched ground-truth box of
             each anchor (zeros for an image without ground truth)).
        """
        anchors = Boxes.cat(anchors)
        gt_labels, matched_gt_boxes = [], []
        for instances in gt_instances:
            gt_boxes_i = instances.gt_boxes
            match_quality_matrix = pairwise_iou(gt_boxes_i, anchors)
            matched_idxs, gt_labels_i = self.anchor_matcher(match_quality_matrix)
            gt_labels_i = gt_labels_i.to(device=gt_boxes_i.device)
            del match_quality_matrix

            if self.anchor_boundary_thresh >= 0:
                inside = anchors.inside_box(instances.image_size, self.anchor_boundary_thresh)
                gt_labels_i[~inside] = -1
            gt_labels_i = self._subsample_labels(gt_labels_i)

            if len(gt_boxes_i) == 0:
                matched_gt_boxes_i = torch.zeros_like(anchors.tensor)
            else:
                matched_gt_boxes_i = gt_boxes_i[matched_idxs].tensor
            gt_labels.append(gt_labels_i)
            matched_gt_boxes.append(matched_gt_boxes_i)
        return gt_labels, matched_gt_boxes

    def losses(
        self,
        anchors: list[Boxes],
        pred_objectness_logits: list[torch.Tensor],
        gt_labels: list[torch.Tensor],
        pred_anchor_deltas: list[torch.Tensor],
        gt_boxes: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Objectness BCE and box regression over the sampled anchors.

        Both losses are sums divided by ``batch_size_per_image * N`` (detectron2's
        normalization) and multiplied by ``loss_weight``.

        Args:
            anchors: per level, Boxes of Hi * Wi * A anchors.
            pred_objectness_logits: per level, Tensor[N, Hi * Wi * A].
            gt_labels: per image, Tensor[R] from :meth:`label_and_sample_anchors`.
            pred_anchor_deltas: per level, Tensor[N, Hi * Wi * A, B].
            gt_boxes: per image, Tensor[R, 4].

        Returns:
            {"loss_rpn_cls": scalar, "loss_rpn_loc": scalar}.
        """
        num_images = len(gt_labels)
        gt_labels = torch.stack(gt_labels)
        pos_mask = gt_labels == 1

        storage = get_event_storage()
        storage.put_scalar("rpn/num_pos_anchors", pos_mask.sum().item() / num_images)
        storage.put_scalar("rpn/num_neg_anchors", (gt_labels == 0).sum().item() / num_images)

        localization_loss = _dense_box_regression_loss(
            anchors,
            self.box2box_transform,
            pred_anchor_deltas,
            gt_boxes,
            pos_mask,
            box_reg_loss_type=self.box_reg_loss_type,
            smooth_l1_beta=self.smooth_l1_beta,
        )
        valid_mask = gt_labels >= 0
        objectness_loss = F.binary_cross_entropy_with_logits(
            cat(pred_objectness_logits, dim=1)[valid_mask],
            gt_labels[valid_mask].to(torch.float32),
            reduction="sum",
        )
        normalizer = self.batch_size_per_image * num_images
        losses = {
            "loss_rpn_cls": objectness_loss / normalizer,
            "loss_rpn_loc": localization_loss / normalizer,
        }
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        gt_instances: list[Instances] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """Predict proposals (and, in training, the RPN losses).

        Args:
            images: the padded batch; only ``image_sizes`` is used (to clip proposals).
            features: backbone outputs by name, each Tensor[N, C, Hi, Wi].
            gt_instances: per image, Instances with ``gt_boxes``; required in training.

        Returns:
            (proposals: per image Instances with ``proposal_boxes`` and ``objectness_logits``,
             losses: {"loss_rpn_cls", "loss_rpn_loc"} in training, else {}).
        """
        features = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(features)
        pred_objectness_logits, pred_anchor_deltas = self.rpn_head(features)
        box_dim = self.anchor_generator.box_dim
        # (N, A, Hi, Wi) -> (N, Hi * Wi * A), matching the anchors' location-major order.
        pred_objectness_logits = [
            score.permute(0, 2, 3, 1).flatten(1) for score in pred_objectness_logits
        ]
        # (N, A * B, Hi, Wi) -> (N, Hi * Wi * A, B).
        pred_anchor_deltas = [
            x.view(x.shape[0], -1, box_dim, x.shape[-2], x.shape[-1])
            .permute(0, 3, 4, 1, 2)
            .flatten(1, -2)
            for x in pred_anchor_deltas
        ]

        if self.training:
            if gt_instances is None:
                raise ValueError("RPN requires gt_instances in training")
            gt_labels, gt_boxes = self.label_and_sample_anchors(anchors, gt_instances)
            losses = self.losses(
                anchors, pred_objectness_logits, gt_labels, pred_anchor_deltas, gt_boxes
            )
        else:
            losses = {}
        proposals = self.predict_proposals(
            anchors, pred_objectness_logits, pred_anchor_deltas, images.image_sizes
        )
        return proposals, losses

    @torch.no_grad()
    def predict_proposals(
        self,
        anchors: list[Boxes],
        pred_objectness_logits: list[torch.Tensor],
        pred_anchor_deltas: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[Instances]:
        """Decode deltas and select the top proposals of each image (no gradient flows back).

        Args:
            anchors: per level, Boxes.
            pred_objectness_logits: per level, Tensor[N, Hi * Wi * A].
            pred_anchor_deltas: per level, Tensor[N, Hi * Wi * A, B].
            image_sizes: per image, (h, w).

        Returns:
            Per image, Instances with ``proposal_boxes`` and ``objectness_logits``.
        """
        pred_proposals = self._decode_proposals(anchors, pred_anchor_deltas)
        return find_top_rpn_proposals(
            pred_proposals,
            pred_objectness_logits,
            image_sizes,
            self.nms_thresh,
            self.pre_nms_topk[self.training],
            self.post_nms_topk[self.training],
            self.min_box_size,
            self.training,
        )

    def _decode_proposals(
        self, anchors: list[Boxes], pred_anchor_deltas: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Per level, Tensor[N, Hi * Wi * A, B]: anchors moved by their predicted deltas."""
        num_images = pred_anchor_deltas[0].shape[0]
        proposals = []
        for anchors_i, deltas_i in zip(anchors, pred_anchor_deltas):
            box_dim = anchors_i.tensor.size(1)
            deltas_i = deltas_i.reshape(-1, box_dim)
            anchors_i = (
                anchors_i.tensor.unsqueeze(0).expand(num_images, -1, -1).reshape(-1, box_dim)
            )
            proposals_i = self.box2box_transform.apply_deltas(deltas_i, anchors_i)
            proposals.append(proposals_i.view(num_images, -1, box_dim))
        return proposals
