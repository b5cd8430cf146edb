"""MaskFormer / Mask2Former meta-architecture for semantic segmentation.

Glossary: B images, Q queries, K classes (the classifier has K + 1 outputs, the last one
"no object"), T_i segments of image i (one per class present).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from det.modeling.backbone import Backbone
from det.modeling.mask2former.semseg_inference import SegmentFn, WholeImageInference
from det.structures import ImageList, Instances

__all__ = ["MaskFormer"]


class MaskFormer(nn.Module):
    """Mask classification for semantic segmentation (Cheng et al., 2021 and 2022).

    Training: images are normalized, padded into a batch as the backbone asks (EVA: to a fixed
    896 square, zeros after normalization, i.e. the mean color), and the per-class masks of each
    image (``instances.gt_classes`` / ``gt_masks``, from ``MaskFormerSemanticDatasetMapper``)
    are zero-padded to the batch size; the criterion returns the weighted losses.

    Inference: ``inference`` (a strategy from ``det.modeling.mask2former``: whole image,
    sliding window or multi-scale + flip) calls :meth:`segment` on the image or on its windows
    / rescaled copies and resizes the scores to the requested ``height`` x ``width``. Scores
    follow EVA's mmseg port: ``sum_q softmax(class)[q, :K] * sigmoid(mask)[q]`` at stride 4,
    then bilinearly upsampled (Mask2Former in detectron2 upsamples the mask logits first; the
    two differ slightly).

    Input (one dict per image): ``image`` (uint8 Tensor[3, H, W] in the model's channel order),
    optional ``height`` / ``width`` (output size, default the input size), and for training
    ``instances`` with ``gt_classes`` (Tensor[T] int64) and ``gt_masks`` (bool Tensor[T, H, W]).
    Output: training, a dict of scalar losses; inference, per image ``{"sem_seg":
    Tensor[K, height, width]}`` (scores; class probabilities for multi-scale + flip).

    Args:
        backbone: maps normalized images to named features (e.g. a simple feature pyramid).
        sem_seg_head: ``MaskFormerHead`` (pixel decoder + transformer decoder).
        criterion: ``SetCriterion``; returns weighted losses.
        size_divisibility: pad the batch to a multiple of this; < 0 uses the backbone's.
        pixel_mean, pixel_std: per-channel normalization in the images' channel order.
        inference: test-time strategy, default :class:`WholeImageInference`.
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module,
        size_divisibility: int,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        inference: Callable[[SegmentFn, torch.Tensor, tuple[int, int]], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.sem_seg_head = sem_seg_head
        self.criterion = criterion
        if len(pixel_mean) != len(pixel_std):
            raise ValueError(
                f"MaskFormer: pixel_mean {list(pixel_mean)} and pixel_std {list(pixel_std)} "
                "must have the same length"
            )
        self.size_divisibility = (
            backbone.size_divisibility if size_divisibility < 0 else size_divisibility
        )
        # Non-persistent: Mask2Former checkpoints do not contain them.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.inference = WholeImageInference() if inference is None else inference

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters and buffers."""
        return self.pixel_mean.device

    def _batch(self, images: Sequence[torch.Tensor]) -> ImageList:
        normalized = [
            (x.to(self.device).float() - self.pixel_mean) / self.pixel_std for x in images
        ]
        return ImageList.from_tensors(
            normalized,
            self.size_divisibility,
            padding_constraints=self.backbone.padding_constraints,
        )

    @staticmethod
    def semantic_inference(mask_cls: torch.Tensor, mask_pred: torch.Tensor) -> torch.Tensor:
        """Per-class scores from mask classification.

        Args:
            mask_cls (Tensor[..., Q, K + 1]): class logits (the last class is "no object").
            mask_pred (Tensor[..., Q, H, W]): mask logits.

        Returns:
            Tensor[..., K, H, W]: ``sum_q softmax(mask_cls)[q, c] * sigmoid(mask_pred)[q]``
            over the K real classes.
        """
        probs = F.softmax(mask_cls, dim=-1)[..., :-1]
        return torch.einsum("...qc,...qhw->...chw", probs, mask_pred.sigmoid())

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Semantic scores of a batch of equally sized images at their own size.

        Args:
            images (Tensor[B, 3, H, W]): raw pixel values (0-255) in the model's channel order.

        Returns:
            Tensor[B, K, H, W]: scores computed at stride 4, bilinearly upsampled to the padded
            input and cropped to H x W.
        """
        batch = self._batch(list(images))
        outputs = self.sem_seg_head(self.backbone(batch.tensor))
        scores = self.semantic_inference(
            outputs["pred_logits"].float(), outputs["pred_masks"].float()
        )
        scores = F.interpolate(
            scores, size=batch.tensor.shape[-2:], mode="bilinear", align_corners=False
        )
        return scores[:, :, : images.shape[-2], : images.shape[-1]]

    def _prepare_targets(
        self, instances: Sequence[Instances], padded_size: tuple[int, int]
    ) -> list[dict[str, torch.Tensor]]:
        targets = []
        for inst in instances:
            masks = inst.gt_masks
            masks = getattr(masks, "tensor", masks)  # BitMasks or a plain tensor
            padded = masks.new_zeros((masks.shape[0], *padded_size), dtype=torch.bool)
            padded[:, : masks.shape[-2], : masks.shape[-1]] = masks
            targets.append(
                {"labels": inst.gt_classes.to(self.device), "masks": padded.to(self.device)}
            )
        return targets

    def forward(self, batched_inputs: list[dict[str, Any]]):
        """Losses (training) or semantic segmentation scores (inference); see the class doc."""
        if self.training:
            missing = [i for i, x in enumerate(batched_inputs) if "instances" not in x]
            if missing:
                raise ValueError(
                    f"MaskFormer: training inputs {missing} have no 'instances' (per-class "
                    "masks); use MaskFormerSemanticDatasetMapper for the training loader"
                )
            batch = self._batch([x["image"] for x in batched_inputs])
            outputs = self.sem_seg_head(self.backbone(batch.tensor))
            targets = self._prepare_targets(
                [x["instances"] for x in batched_inputs], tuple(batch.tensor.shape[-2:])
            )
            return self.criterion(outputs, targets)
        results = []
        for x in batched_inputs:
            image = x["image"].to(self.device).float()
            height = int(x.get("height", image.shape[-2]))
            width = int(x.get("width", image.shape[-1]))
            results.append({"sem_seg": self.inference(self.segment, image, (height, width))})
        return results
