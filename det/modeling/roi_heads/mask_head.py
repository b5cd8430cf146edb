"""Mask R-CNN mask head: convs + 2x upsampling on pooled RoI features, its loss and inference.

Glossary: R RoIs over the batch; K classes; M x M the mask resolution (28 with 14 x 14 pooling).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import Conv2d, ConvTranspose2d, ShapeSpec, c2_msra_fill, cat
from det.structures import Instances
from det.utils.events import get_event_storage

from .head_layers import conv3x3_norm_relu

__all__ = ["MaskRCNNConvUpsampleHead", "mask_rcnn_inference", "mask_rcnn_loss"]


def mask_rcnn_loss(pred_mask_logits: torch.Tensor, instances: list[Instances]) -> torch.Tensor:
    """Mean per-pixel binary cross-entropy between predicted masks and the ground-truth masks
    cropped to each proposal box.

    Args:
        pred_mask_logits (Tensor[R, C, M, M]): C = K (class-specific) or 1 (class-agnostic).
        instances: per image, foreground proposals with ``proposal_boxes``, ``gt_classes`` and
            ``gt_masks`` (PolygonMasks or BitMasks); R is their total count.

    Returns:
        Tensor[]: the loss (0 connected to the graph when there is no foreground RoI).
    """
    cls_agnostic = pred_mask_logits.size(1) == 1
    num_masks = pred_mask_logits.size(0)
    side = pred_mask_logits.size(2)
    if pred_mask_logits.size(2) != pred_mask_logits.size(3):
        raise ValueError(f"mask_rcnn_loss: masks must be square, got {pred_mask_logits.shape}")
    gt_classes, gt_masks = [], []
    for per_image in instances:
        if len(per_image) == 0:
            continue
        if not cls_agnostic:
            gt_classes.append(per_image.gt_classes.to(dtype=torch.int64))
        gt_masks.append(
            per_image.gt_masks.crop_and_resize(per_image.proposal_boxes.tensor, side).to(
                device=pred_mask_logits.device
            )
        )
    if not gt_masks:
        return pred_mask_logits.sum() * 0
    targets = cat(gt_masks, dim=0)
    if cls_agnostic:
        pred_mask_logits = pred_mask_logits[:, 0]
    else:
        pred_mask_logits = pred_mask_logits[torch.arange(num_masks), cat(gt_classes, dim=0)]
    if targets.dtype == torch.bool:
        targets_bool = targets
    else:
        # Some mask formats crop to soft values; 0.5 is detectron2's binarization point.
        targets_bool = targets > 0.5
    targets = targets.to(dtype=torch.float32)

    storage = get_event_storage()
    pred_fg = pred_mask_logits > 0.0
    mask_incorrect = pred_fg != targets_bool
    num_positive = targets_bool.sum().item()
    storage.put_scalar(
        "mask_rcnn/accuracy", 1 - mask_incorrect.sum().item() / max(targets.numel(), 1)
    )
    storage.put_scalar(
        "mask_rcnn/false_positive",
        (mask_incorrect & ~targets_bool).sum().item() / max(targets.numel() - num_positive, 1.0),
    )
    storage.put_scalar(
        "mask_rcnn/false_negative",
        (mask_incorrect & targets_bool).sum().item() / max(num_positive, 1.0),
    )
    return F.binary_cross_entropy_with_logits(pred_mask_logits.float(), targets, reduction="mean")


def mask_rcnn_inference(pred_mask_logits: torch.Tensor, pred_instances: list[Instances]) -> None:
    """Store the mask probabilities of each detection's predicted class as ``pred_masks``.

    Args:
        pred_mask_logits (Tensor[R, C, M, M]): C = K or 1; R is the total number of detections.
        pred_instances: per image, detections with ``pred_classes``; each gets ``pred_masks``
            (Tensor[D_i, 1, M, M], sigmoid probabilities in the box's frame; pasting into the
            image happens in ``detector_postprocess``).
    """
    if pred_mask_logits.size(1) == 1:
        probs = pred_mask_logits.sigmoid()
    else:
        num_masks = pred_mask_logits.shape[0]
        classes = cat([i.pred_classes for i in pred_instances])
        indices = torch.arange(num_masks, device=classes.device)
        probs = pred_mask_logits[indices, classes][:, None].sigmoid()
    for prob, instances in zip(
        probs.split([len(i) for i in pred_instances], dim=0), pred_instances
    ):
        instances.pred_masks = prob


class MaskRCNNConvUpsampleHead(nn.Sequential):
    """``len(conv_dims) - 1`` 3x3 convs, a stride-2 transposed conv and a 1x1 predictor.

    Children: ``mask_fcn1`` ... (convs, with ``norm``), ``deconv``, ``deconv_relu``,
    ``predictor``; the last entry of ``conv_dims`` is the transposed conv's width.

    Input: Tensor[R, C, P, P] pooled features; mask logits Tensor[R, K or 1, 2P, 2P].

    Args:
        input_shape: channels of the pooled features.
        num_classes: K (the predictor has K channels, or 1 with ``cls_agnostic_mask``).
        conv_dims: widths of the convs followed by the transposed conv's width.
        conv_norm: norm after each conv ("" for none; "LN" in EVA-02 / ViTDet).
        cls_agnostic_mask: predict one mask for all classes.
        loss_weight: multiplier of the mask loss.
    """

    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        num_classes: int,
        conv_dims: Sequence[int],
        conv_norm: str = "",
        cls_agnostic_mask: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if len(conv_dims) < 1:
            raise ValueError("MaskRCNNConvUpsampleHead: conv_dims must not be empty")
        self.loss_weight = loss_weight
        self.conv_norm_relus: list[nn.Module] = []
        channels = input_shape.channels
        for k, conv_dim in enumerate(conv_dims[:-1]):
            conv = conv3x3_norm_relu(channels, conv_dim, conv_norm)
            self.add_module(f"mask_fcn{k + 1}", conv)
            self.conv_norm_relus.append(conv)
            channels = conv_dim
        self.deconv = ConvTranspose2d(channels, conv_dims[-1], kernel_size=2, stride=2, padding=0)
        self.add_module("deconv_relu", nn.ReLU())
        num_mask_classes = 1 if cls_agnostic_mask else num_classes
        self.predictor = Conv2d(conv_dims[-1], num_mask_classes, kernel_size=1, stride=1)

        for layer in [*self.conv_norm_relus, self.deconv]:
            c2_msra_fill(layer)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        """Mask logits Tensor[R, K or 1, 2P, 2P] from pooled features Tensor[R, C, P, P]."""
        for layer in self:
            x = layer(x)
        return x

    def forward(
        self, x: torch.Tensor, instances: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """Training: ``{"loss_mask": Tensor[]}``; inference: ``instances`` with ``pred_masks``.

        Args:
            x (Tensor[R, C, P, P]): pooled features of the RoIs of ``instances``.
            instances: training: foreground proposals with ground truth; inference:
                detections with ``pred_classes``.
        """
        x = self.layers(x)
        if self.training:
            return {"loss_mask": mask_rcnn_loss(x, instances) * self.loss_weight}
        mask_rcnn_inference(x, instances)
        return instances
