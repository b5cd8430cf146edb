"""Test-time strategies for semantic segmentation: whole image, sliding window, multi-scale +
flip (mmseg's ``whole`` / ``slide`` modes and ``aug_test``, as EVA evaluates).

A strategy is given ``segment``, the model's function from a batch of raw images
(float Tensor[B, 3, h, w], 0-255, the input format of the model) to per-class scores at the
same size (Tensor[B, K, h, w]); it returns the scores of one image at the requested output size.
The model handles normalization and padding inside ``segment``, so windows smaller than the
network's input size are padded there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from det.modeling.postprocessing import sem_seg_postprocess

__all__ = [
    "MultiScaleFlipInference",
    "SegmentFn",
    "SlidingWindowInference",
    "WholeImageInference",
]

SegmentFn = Callable[[torch.Tensor], torch.Tensor]
"""Raw images (float Tensor[B, 3, h, w]) -> per-class scores (Tensor[B, K, h, w])."""


class WholeImageInference:
    """One forward pass on the whole image; returns the model's raw scores."""

    def scores(self, segment: SegmentFn, image: torch.Tensor) -> torch.Tensor:
        """Scores of ``image`` (Tensor[3, H, W]) at its own size: Tensor[K, H, W]."""
        return segment(image[None])[0]

    def __call__(
        self, segment: SegmentFn, image: torch.Tensor, output_size: tuple[int, int]
    ) -> torch.Tensor:
        """Scores of ``image`` (Tensor[3, H, W]) resized (bilinear) to ``output_size``:
        Tensor[K, *output_size]."""
        return sem_seg_postprocess(self.scores(segment, image), image.shape[-2:], *output_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SlidingWindowInference(WholeImageInference):
    """Overlapping windows, scores averaged where they overlap (mmseg's ``slide`` mode).

    Per axis there are ``max(size - crop + stride - 1, 0) // stride + 1`` windows starting at
    multiples of ``stride``; the last one is moved back to end at the image border, so the
    windows cover the image exactly even when its size is not a multiple of the stride. An
    image smaller than the crop is one window of its own size.

    Args:
        crop_size: (height, width) of a window (EVA: 896 x 896).
        stride: (vertical, horizontal) step between windows (EVA: 512 x 512).
    """

    def __init__(self, crop_size: Sequence[int], stride: Sequence[int]) -> None:
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.stride = (int(stride[0]), int(stride[1]))
        if min(self.stride) <= 0 or any(s > c for s, c in zip(self.stride, self.crop_size)):
            raise ValueError(
                f"SlidingWindowInference: stride {self.stride} must be positive and at most "
                f"crop_size {self.crop_size}, or windows would leave gaps"
            )

    @staticmethod
    def _starts(size: int, crop: int, stride: int) -> list[int]:
        num = max(size - crop + stride - 1, 0) // stride + 1
        return [max(min(i * stride + crop, size) - crop, 0) for i in range(num)]

    def scores(self, segment: SegmentFn, image: torch.Tensor) -> torch.Tensor:
        """Window-averaged scores of ``image`` (Tensor[3, H, W]): Tensor[K, H, W]."""
        h, w = image.shape[-2:]
        (crop_h, crop_w), (stride_h, stride_w) = self.crop_size, self.stride
        total = count = None
        for y0 in self._starts(h, crop_h, stride_h):
            for x0 in self._starts(w, crop_w, stride_w):
                y1, x1 = min(y0 + crop_h, h), min(x0 + crop_w, w)
                window = segment(image[None, :, y0:y1, x0:x1])[0]
                if total is None:
                    total = window.new_zeros((window.shape[0], h, w))
                    count = window.new_zeros((1, h, w))
                total[:, y0:y1, x0:x1] += window
                count[:, y0:y1, x0:x1] += 1
        return total / count

    def __repr__(self) -> str:
        return f"{type(self).__name__}(crop_size={self.crop_size}, stride={self.stride})"


class MultiScaleFlipInference:
    """Average of class probabilities over rescaled and flipped copies (mmseg's ``aug_test``).

    For every ratio r the original image is resized keeping its aspect ratio so that it fits
    ``(int(scale_long * r), int(scale_short * r))`` (mmcv's rule: factor
    ``min(long_cap / long_side, short_cap / short_side)``, sides ``int(x * f + 0.5)``), then to
    sides rounded up to a multiple of ``size_divisor``; both resizes are bilinear and rounded to
    8-bit values as mmcv does on uint8 images. With ``flip`` a horizontally flipped copy is
    added. With ``pad_short_side`` the copy is padded at the bottom/right with black (raw 0)
    until both sides reach it. ``base`` computes its scores, which are cropped back to the
    unpadded copy, resized to the output size, turned into probabilities (softmax over
    classes) and flipped back; the result is the mean over all copies.

    Args:
        base: per-copy strategy (EVA: ``SlidingWindowInference((896, 896), (512, 512))``).
        scale: (long side cap, short side) at ratio 1 (EVA: (3584, 896)).
        ratios: the scale ratios (EVA: 512/896, 640/896, ..., 1280/896).
        flip: add horizontally flipped copies.
        size_divisor: round the resized sides up to a multiple of this (32); 0 to skip.
        pad_short_side: pad each copy to at least this size (EVA: 896); 0 for none.
    """

    def __init__(
        self,
        *,
        base: WholeImageInference,
        scale: Sequence[int],
        ratios: Sequence[float],
        flip: bool = True,
        size_divisor: int = 32,
        pad_short_side: int = 0,
    ) -> None:
        if len(ratios) == 0:
            raise ValueError("MultiScaleFlipInference: ratios is empty")
        self.base = base
        self.scale = (max(scale), min(scale))
        self.ratios = tuple(float(r) for r in ratios)
        self.flip = flip
        self.size_divisor = size_divisor
        self.pad_short_side = pad_short_side

    def _keep_ratio_size(self, height: int, width: int, ratio: float) -> tuple[int, int]:
        long_cap, short_cap = int(self.scale[0] * ratio), int(self.scale[1] * ratio)
        factor = min(long_cap / max(height, width), short_cap / min(height, width))
        return int(height * factor + 0.5), int(width * factor + 0.5)

    def resized_size(self, height: int, width: int, ratio: float) -> tuple[int, int]:
        """(h, w) of the copy of a ``height`` x ``width`` image at ``ratio``, before padding."""
        h, w = self._keep_ratio_size(height, width, ratio)
        if self.size_divisor > 0:
            d = self.size_divisor
            h, w = -(-h // d) * d, -(-w // d) * d
        return h, w

    @staticmethod
    def _resize_8bit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(image.shape[-2:]) == tuple(size):
            return image
        out = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
        return out.round_().clamp_(0, 255)

    def _copy(self, image: torch.Tensor, ratio: float) -> torch.Tensor:
        height, width = image.shape[-2:]
        image = self._resize_8bit(image, self._keep_ratio_size(height, width, ratio))
        return self._resize_8bit(image, self.resized_size(height, width, ratio))

    def __call__(
        self, segment: SegmentFn, image: torch.Tensor, output_size: tuple[int, int]
    ) -> torch.Tensor:
        """Mean class probabilities of ``image`` (Tensor[3, H, W], 0-255) over all copies,
        at ``output_size``: Tensor[K, *output_size]."""
        image = image.float()
        total = None
        num = 0
        for ratio in self.ratios:
            resized = self._copy(image, ratio)
            for flipped in (False, True) if self.flip else (False,):
                copy = resized.flip(-1) if flipped else resized
                h, w = copy.shape[-2:]
                if self.pad_short_side > 0:
                    pad_h = max(self.pad_short_side - h, 0)
                    pad_w = max(self.pad_short_side - w, 0)
                    copy = F.pad(copy, (0, pad_w, 0, pad_h), value=0.0)
                scores = self.base.scores(segment, copy)
                probs = sem_seg_postprocess(scores, (h, w), *output_size).softmax(0)
                if flipped:
                    probs = probs.flip(-1)
                total = probs if total is None else total + probs
                num += 1
        return total / num

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base={self.base!r}, scale={self.scale}, "
            f"ratios={self.ratios}, flip={self.flip}, size_divisor={self.size_divisor}, "
            f"pad_short_side={self.pad_short_side})"
        )
