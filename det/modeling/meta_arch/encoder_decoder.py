"""Encoder-decoder semantic segmentation (mmseg's ``EncoderDecoder``): backbone -> decode head
(+ auxiliary head in training) -> per-pixel class logits; UperNet and RegionProxy models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from det.modeling.backbone import Backbone
from det.modeling.mask2former.semseg_inference import SegmentFn, WholeImageInference
from det.structures import ImageList

__all__ = ["EncoderDecoder"]


class EncoderDecoder(nn.Module):
    """Backbone + decode head with an optional auxiliary head, trained with pixel losses.

    Training: images are normalized and zero-padded into a batch (mmseg pads after
    normalization with 0), label maps are padded with ``ignore_value``; the decode head's loss
    is ``loss_sem_seg`` and the auxiliary head's ``loss_aux``.

    Inference: ``inference`` (whole image, sliding window or multi-scale + flip, the strategies
    of :mod:`det.modeling.mask2former.semseg_inference`) calls :meth:`segment`; logits are
    upsampled bilinearly to the input and resized to the requested ``height`` x ``width``, as
    mmseg does before its argmax.

    Input (one dict per image): ``image`` (uint8 Tensor[3, H, W] in the model's channel order),
    optional ``height`` / ``width``, and for training ``sem_seg`` (Long Tensor[H, W], from
    ``DatasetMapper`` or ``MaskFormerSemanticDatasetMapper``). Output: training, a dict of
    scalar losses; inference, per image ``{"sem_seg": Tensor[K, height, width]}`` (logits;
    class probabilities for multi-scale + flip).

    Args:
        backbone: maps normalized images to named features (a ViT-Adapter, or a ViT wrapped in
            ``FourScaleNeck``).
        decode_head: ``forward(features) -> Tensor[B, K, h, w]`` and ``losses(logits,
            targets) -> {"loss_sem_seg": ...}`` (``UPerHead``, ``RegionProxyHead``).
        auxiliary_head: same interface, used in training only (``FCNHead``); None for none.
        pixel_mean, pixel_std: per-channel normalization in the images' channel order.
        size_divisibility: pad the batch to a multiple of this; < 0 uses the backbone's.
        ignore_value: label value of padding and unlabeled pixels.
        inference: test-time strategy, default :class:`WholeImageInference`.
        train_pad_size: training batches smaller than this (int or (H, W)) are zero-padded up
            to it after normalization, as mmseg's ``Pad(size=crop_size)`` does for crops of
            images smaller than the crop; None pads only to ``size_divisibility``. Matters for
            backbones that interpolate their position table to the input (DeiT / AugReg
            ViTs); fixed-grid backbones pad to their grid anyway.
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        decode_head: nn.Module,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        auxiliary_head: nn.Module | None = None,
        size_divisibility: int = -1,
        ignore_value: int = 255,
        inference: Callable[[SegmentFn, torch.Tensor, tuple[int, int]], torch.Tensor] | None = None,
        train_pad_size: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if len(pixel_mean) != len(pixel_std):
            raise ValueError(
                f"EncoderDecoder: pixel_mean {list(pixel_mean)} and pixel_std {list(pixel_std)} "
                "must have the same length"
            )
        self.backbone = backbone
        self.decode_head = decode_head
        self.auxiliary_head = auxiliary_head
        self.size_divisibility = (
            backbone.size_divisibility if size_divisibility < 0 else size_divisibility
        )
        self.ignore_value = ignore_value
        # Non-persistent: mmseg checkpoints do not contain them.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.inference = WholeImageInference() if inference is None else inference
        self.train_pad_size = _pair(train_pad_size, "train_pad_size")

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

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of equally sized images at their own size.

        Args:
            images (Tensor[B, 3, H, W]): raw pixel values (0-255) in the model's channel order.

        Returns:
            Tensor[B, K, H, W]: the decode head's logits upsampled (bilinear) to the padded
            input and cropped to H x W.
        """
        batch = self._batch(list(images))
        logits = self.decode_head(self.backbone(batch.tensor)).float()
        logits = F.interpolate(
            logits, size=batch.tensor.shape[-2:], mode="bilinear", align_corners=False
        )
        return logits[:, :, : images.shape[-2], : images.shape[-1]]

    def _targets(self, batched_inputs: list[dict[str, Any]], size: Sequence[int]) -> torch.Tensor:
        targets = torch.full(
            (len(batched_inputs), *size), self.ignore_value, dtype=torch.long, device=self.device
        )
        for target, x in zip(targets, batched_inputs):
            label = x["sem_seg"].to(self.device)
            target[: label.shape[-2], : label.shape[-1]] = label
        return targets

    def forward(self, batched_inputs: list[dict[str, Any]]):
        """Losses (training) or semantic segmentation logits (inference); see the class doc."""
        if self.training:
            missing = [i for i, x in enumerate(batched_inputs) if "sem_seg" not in x]
            if missing:
                raise ValueError(
                    f"EncoderDecoder: training inputs {missing} have no 'sem_seg' label map; "
                    "use a training mapper that reads sem_seg_file_name (DatasetMapper or "
                    "MaskFormerSemanticDatasetMapper with is_train=True)"
                )
            batch = self._batch([x["image"] for x in batched_inputs])
            if self.train_pad_size is not None:
                batch = _pad_to(batch, self.train_pad_size, self.size_divisibility)
            targets = self._targets(batched_inputs, batch.tensor.shape[-2:])
            features = self.backbone(batch.tensor)
            losses = dict(self.decode_head.losses(self.decode_head(features), targets))
            if self.auxiliary_head is not None:
                aux = self.auxiliary_head.losses(self.auxiliary_head(features), targets)
                losses.update({"loss_aux": aux["loss_sem_seg"]})
            return losses
        results = []
        for x in batched_inputs:
            image = x["image"].to(self.device).float()
            height = int(x.get("height", image.shape[-2]))
            width = int(x.get("width", image.shape[-1]))
            results.append({"sem_seg": self.inference(self.segment, image, (height, width))})
        return results


def _pair(size: int | Sequence[int] | None, key: str) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(
            f"EncoderDecoder: {key} must be a positive int or (H, W) pair of them; got {size!r}"
        )
    return pair


def _pad_to(batch: ImageList, size: tuple[int, int], divisibility: int) -> ImageList:
    """Zero-pad ``batch.tensor`` (Tensor[B, C, H, W]) at the bottom / right to at least
    ``size`` rounded up to a multiple of ``divisibility``; the image sizes are unchanged."""
    d = max(divisibility, 1)
    h, w = batch.tensor.shape[-2:]
    target_h, target_w = (-(-v // d) * d for v in size)
    pad_h, pad_w = max(target_h - h, 0), max(target_w - w, 0)
    if pad_h == 0 and pad_w == 0:
        return batch
    return ImageList(F.pad(batch.tensor, (0, pad_w, 0, pad_h)), batch.image_sizes)
