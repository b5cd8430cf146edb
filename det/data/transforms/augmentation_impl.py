"""Concrete augmentations: flips, resizes, crops and photometric distortion.

Every augmentation draws its random numbers from NumPy's global generator in a documented
order, so seeded runs are reproducible and match the reference formulas:

* LSJ (EVA-02 / ViTDet detection): ``RandomFlip`` -> ``ResizeScale(0.1, 2.0, S, S)`` ->
  ``FixedSizeCrop((S, S), pad=False)``.
* mmseg semantic segmentation (EVA / ViT-Adapter): ``ResizeRatioRange`` ->
  ``RandomCrop_CategoryAreaConstraint`` -> ``RandomFlip`` -> ``PhotometricDistortion``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from PIL import Image

from .augmentation import AugInput, Augmentation
from .photometric import PhotometricDistortionTransform
from .transform import (
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    PadTransform,
    ResizeTransform,
    Transform,
    TransformList,
    VFlipTransform,
)

__all__ = [
    "RandomApply",
    "RandomFlip",
    "Resize",
    "ResizeShortestEdge",
    "ResizeScale",
    "ResizeRatioRange",
    "ResizeToMultiple",
    "FixedSizeCrop",
    "RandomCrop",
    "RandomCrop_CategoryAreaConstraint",
    "PhotometricDistortion",
]


class _ProbabilityError(ValueError, AssertionError):
    """A probability outside [0, 1]; also an AssertionError, which detectron2 raises here."""


class RandomApply(Augmentation):
    """Applies an augmentation (or a fixed transform) with probability ``prob``.

    Draws one ``_rand_range()`` (uniform in [0, 1)) per call and applies the wrapped
    augmentation when it is below ``prob``; otherwise the result is a ``NoOpTransform``.

    Args:
        tfm_or_aug: the augmentation or transform.
        prob: probability of applying it, in [0, 1].
    """

    def __init__(self, tfm_or_aug: Augmentation | Transform, prob: float = 0.5):
        if not 0.0 <= prob <= 1.0:
            raise _ProbabilityError(f"RandomApply: prob must be in [0, 1], got {prob}")
        if not isinstance(tfm_or_aug, (Augmentation, Transform)):
            raise TypeError(f"RandomApply expects an Augmentation or Transform, got {tfm_or_aug!r}")
        self.tfm_or_aug = tfm_or_aug
        self.prob = prob

    def get_transform(self, *args) -> Transform:
        """Draws the transform from the wrapped augmentation's inputs (``*args``)."""
        if self._rand_range() >= self.prob:
            return NoOpTransform()
        if isinstance(self.tfm_or_aug, Augmentation):
            return self.tfm_or_aug.get_transform(*args)
        return self.tfm_or_aug

    def __call__(self, aug_input: AugInput) -> Transform:
        if self._rand_range() >= self.prob:
            return NoOpTransform()
        if isinstance(self.tfm_or_aug, Augmentation):
            return self.tfm_or_aug(aug_input)
        aug_input.transform(self.tfm_or_aug)
        return self.tfm_or_aug


class RandomFlip(Augmentation):
    """Flips the image horizontally or vertically with probability ``prob``.

    Draws one ``np.random.uniform()``; flips when it is below ``prob``.

    Args:
        prob: probability of flipping.
        horizontal: flip left-right.
        vertical: flip top-bottom (exactly one of the two must be True).
    """

    def __init__(self, prob: float = 0.5, *, horizontal: bool = True, vertical: bool = False):
        if horizontal == vertical:
            raise ValueError("RandomFlip: set exactly one of horizontal / vertical to True")
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        if self._rand_range() >= self.prob:
            return NoOpTransform()
        return HFlipTransform(w) if self.horizontal else VFlipTransform(h)


class Resize(Augmentation):
    """Resizes to a fixed size.

    Args:
        shape: (h, w) in pixels, or one int for a square.
        interp: PIL filter for images.
    """

    def __init__(self, shape: int | tuple[int, int], interp: int = Image.BILINEAR):
        if isinstance(shape, int):
            shape = (shape, shape)
        self.shape = tuple(int(s) for s in shape)
        self.interp = interp

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        return ResizeTransform(h, w, self.shape[0], self.shape[1], self.interp)


class ResizeShortestEdge(Augmentation):
    """Scales the short side to a sampled length, capping the long side at ``max_size``.

    With ``sample_style="range"`` the length is ``np.random.randint(lo, hi + 1)``; with
    ``"choice"`` it is ``np.random.choice(short_edge_length)``. The output size is
    ``int(x + 0.5)`` of the scaled size (detectron2's rounding).

    Args:
        short_edge_length: one length, a (min, max) range or a list of choices.
        max_size: cap on the long side.
        sample_style: "range" or "choice".
        interp: PIL filter for images.
    """

    def __init__(
        self,
        short_edge_length: int | tuple[int, ...] | list[int],
        max_size: int = sys.maxsize,
        sample_style: str = "range",
        interp: int = Image.BILINEAR,
    ):
        if sample_style not in ("range", "choice"):
            raise ValueError(
                f"ResizeShortestEdge: sample_style must be range or choice, got {sample_style!r}"
            )
        if isinstance(short_edge_length, int):
            short_edge_length = (short_edge_length, short_edge_length)
        short_edge_length = tuple(int(x) for x in short_edge_length)
        if sample_style == "range" and len(short_edge_length) != 2:
            raise ValueError(
                "ResizeShortestEdge: sample_style='range' needs (min, max), got "
                f"{short_edge_length}"
            )
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        if self.sample_style == "range":
            size = np.random.randint(self.short_edge_length[0], self.short_edge_length[1] + 1)
        else:
            size = np.random.choice(self.short_edge_length)
        if size == 0:
            return NoOpTransform()
        new_h, new_w = self.get_output_shape(h, w, int(size), self.max_size)
        return ResizeTransform(h, w, new_h, new_w, self.interp)

    @staticmethod
    def get_output_shape(h: int, w: int, short_edge_length: int, max_size: int) -> tuple[int, int]:
        """Output (h, w) for an input of size (h, w); see the class docstring."""
        scale = short_edge_length / min(h, w)
        if h < w:
            new_h, new_w = short_edge_length, scale * w
        else:
            new_h, new_w = scale * h, short_edge_length
        if max(new_h, new_w) > max_size:
            rescale = max_size / max(new_h, new_w)
            new_h, new_w = new_h * rescale, new_w * rescale
        return int(new_h + 0.5), int(new_w + 0.5)


class ResizeScale(Augmentation):
    """Large-scale-jitter resize (ViTDet / EVA-02 LSJ).

    Draws ``s ~ U(min_scale, max_scale)``; ``scale = min(s * target_height / h,
    s * target_width / w)``; output ``np.round((h, w) * scale)``; bilinear.

    Args:
        min_scale, max_scale: range of the jitter factor s.
        target_height, target_width: the reference size S (the crop size).
        interp: PIL filter for images.
    """

    def __init__(
        self,
        min_scale: float,
        max_scale: float,
        target_height: int,
        target_width: int,
        interp: int = Image.BILINEAR,
    ):
        if not 0 < min_scale <= max_scale:
            raise ValueError(
                f"ResizeScale: need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
            )
        self._init(locals())

    def _get_resize(self, image: np.ndarray, scale: float) -> Transform:
        h, w = image.shape[:2]
        out_scale = min(scale * self.target_height / h, scale * self.target_width / w)
        new_h, new_w = np.round(np.multiply((h, w), out_scale)).astype(int)
        return ResizeTransform(h, w, max(int(new_h), 1), max(int(new_w), 1), self.interp)

    def get_transform(self, image: np.ndarray) -> Transform:
        return self._get_resize(image, np.random.uniform(self.min_scale, self.max_scale))


class ResizeRatioRange(Augmentation):
    """mmseg's ``Resize(img_scale, ratio_range, keep_ratio=True)``.

    Draws ``r = U(ratio_range)`` (``np.random.random_sample``); the target is
    ``(int(long_edge * r), int(short_edge * r))``; the image is rescaled by
    ``min(target_long / max(h, w), target_short / min(h, w))`` to ``int(x * s + 0.5)``.

    Args:
        scale: (long_edge, short_edge), e.g. (3584, 896) for 896 crops; order does not matter.
        ratio_range: (min_ratio, max_ratio).
        interp: PIL filter for images (segmentation uses nearest).
    """

    def __init__(
        self,
        scale: tuple[int, int],
        ratio_range: tuple[float, float] = (0.5, 2.0),
        interp: int = Image.BILINEAR,
    ):
        if not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f"ResizeRatioRange: bad ratio_range {ratio_range}")
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        lo, hi = self.ratio_range
        ratio = np.random.random_sample() * (hi - lo) + lo
        long_edge, short_edge = int(max(self.scale) * ratio), int(min(self.scale) * ratio)
        s = min(long_edge / max(h, w), short_edge / min(h, w))
        new_w, new_h = int(w * s + 0.5), int(h * s + 0.5)
        return ResizeTransform(h, w, max(new_h, 1), max(new_w, 1), self.interp)


class ResizeToMultiple(Augmentation):
    """Resizes each side up to the next multiple of ``size_divisor`` (mmseg's test-time
    ``ResizeToMultiple``).

    Args:
        size_divisor: the multiple, e.g. 32.
        interp: PIL filter for images.
    """

    def __init__(self, size_divisor: int = 32, interp: int = Image.BILINEAR):
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        d = self.size_divisor
        new_h, new_w = math.ceil(h / d) * d, math.ceil(w / d) * d
        if (new_h, new_w) == (h, w):
            return NoOpTransform()
        return ResizeTransform(h, w, new_h, new_w, self.interp)


class FixedSizeCrop(Augmentation):
    """Crops a fixed-size window at a random position, then optionally pads up to that size.

    One ``u ~ U(0, 1)`` is shared by both axes: ``offset = np.round(max(0, size - crop) * u)``
    (the LSJ crop of ViTDet / EVA-02).

    Args:
        crop_size: (h, w) of the window.
        pad: pad images smaller than ``crop_size`` at the bottom/right.
        pad_value: image fill value for padding.
        seg_pad_value: semantic-map fill value for padding (the ignore label).
    """

    def __init__(
        self,
        crop_size: tuple[int, int],
        pad: bool = True,
        pad_value: float = 128.0,
        seg_pad_value: int = 255,
    ):
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.pad = pad
        self.pad_value = pad_value
        self.seg_pad_value = seg_pad_value

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        ch, cw = self.crop_size
        u = np.random.uniform(0.0, 1.0)
        y0, x0 = np.round(np.multiply((max(h - ch, 0), max(w - cw, 0)), u)).astype(int)
        out_h, out_w = min(ch, h), min(cw, w)
        tfms: list[Transform] = [CropTransform(int(x0), int(y0), out_w, out_h, w, h)]
        if self.pad and (out_h < ch or out_w < cw):
            pad_w, pad_h = cw - out_w, ch - out_h
            tfms.append(
                PadTransform(0, 0, pad_w, pad_h, out_w, out_h, self.pad_value, self.seg_pad_value)
            )
        return TransformList(tfms)


class RandomCrop(Augmentation):
    """Crops a random window whose size depends on ``crop_type``.

    * "relative": (h * crop_size[0], w * crop_size[1]), rounded;
    * "relative_range": a fraction drawn uniformly in [crop_size, 1] per side;
    * "absolute": ``min(crop_size, image size)`` per side;
    * "absolute_range": a side drawn uniformly in [crop_size[0], crop_size[1]].

    The top-left corner is ``y0 = randint(h - crop_h + 1)`` then ``x0 = randint(w - crop_w + 1)``.

    Args:
        crop_type: one of the types above.
        crop_size: (h, w) or a range, per ``crop_type``.
    """

    _TYPES = ("relative_range", "relative", "absolute", "absolute_range")

    def __init__(self, crop_type: str, crop_size: tuple[float, float]):
        if crop_type not in self._TYPES:
            raise ValueError(
                f"RandomCrop: crop_type must be one of {self._TYPES}, got {crop_type!r}"
            )
        self.crop_type = crop_type
        self.crop_size = tuple(crop_size)

    def get_crop_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Crop (h, w) for an image of size ``image_size`` = (h, w)."""
        h, w = image_size
        if self.crop_type == "relative":
            ch, cw = self.crop_size
            return int(h * ch + 0.5), int(w * cw + 0.5)
        if self.crop_type == "relative_range":
            frac = np.asarray(self.crop_size, dtype=np.float32)
            ch, cw = frac + np.random.rand(2) * (1 - frac)
            return int(h * ch + 0.5), int(w * cw + 0.5)
        if self.crop_type == "absolute":
            return min(int(self.crop_size[0]), h), min(int(self.crop_size[1]), w)
        lo, hi = int(self.crop_size[0]), int(self.crop_size[1])
        if lo > hi:
            raise ValueError(f"RandomCrop: absolute_range needs min <= max, got {self.crop_size}")
        ch = np.random.randint(min(h, lo), min(h, hi) + 1)
        cw = np.random.randint(min(w, lo), min(w, hi) + 1)
        return int(ch), int(cw)

    def _random_window(self, h: int, w: int) -> CropTransform:
        ch, cw = self.get_crop_size((h, w))
        if ch > h or cw > w:
            raise ValueError(f"RandomCrop: crop {(ch, cw)} larger than image {(h, w)}")
        y0 = np.random.randint(h - ch + 1)
        x0 = np.random.randint(w - cw + 1)
        return CropTransform(x0, y0, cw, ch, w, h)

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        return self._random_window(h, w)


class RandomCrop_CategoryAreaConstraint(Augmentation):  # noqa: N801 (detectron2's name)
    """Random crop that avoids windows dominated by one category (mmseg's ``cat_max_ratio``).

    Follows mmseg's ``RandomCrop``: draw a window; up to 10 times, accept it if it holds more
    than one non-ignored category and the largest covers less than
    ``single_category_max_area`` of the non-ignored pixels, otherwise draw again (the 11th
    window is kept unchecked). detectron2 draws at most 10; EVA's recipes are mmseg's.
    With ``single_category_max_area >= 1`` a single window is drawn.

    Args:
        crop_type, crop_size: as in :class:`RandomCrop`.
        single_category_max_area: the largest allowed share of one category, e.g. 0.75.
        ignored_category: label left out of the count (255), or None.
    """

    input_args = ("image", "sem_seg")
    _MAX_TRIES = 10

    def __init__(
        self,
        crop_type: str,
        crop_size: tuple[float, float],
        single_category_max_area: float = 1.0,
        ignored_category: int | None = None,
    ):
        self.crop_aug = RandomCrop(crop_type, crop_size)
        self.crop_type = crop_type
        self.crop_size = tuple(crop_size)
        self.single_category_max_area = single_category_max_area
        self.ignored_category = ignored_category

    def _accept(self, window: np.ndarray) -> bool:
        labels, counts = np.unique(window, return_counts=True)
        if self.ignored_category is not None:
            counts = counts[labels != self.ignored_category]
        return len(counts) > 1 and counts.max() < self.single_category_max_area * counts.sum()

    def get_transform(self, image: np.ndarray, sem_seg: np.ndarray) -> Transform:
        h, w = sem_seg.shape[:2]
        crop = self.crop_aug._random_window(h, w)
        if self.single_category_max_area >= 1.0:
            return crop
        for _ in range(self._MAX_TRIES):
            if self._accept(crop.apply_segmentation(sem_seg)):
                break
            crop = self.crop_aug._random_window(h, w)
        return crop


class PhotometricDistortion(Augmentation):
    """mmseg's ``PhotoMetricDistortion`` (image only; geometry untouched).

    Random draws, in mmseg's order (each step has probability 0.5 via ``np.random.randint(2)``):
    brightness ``beta ~ U(-brightness_delta, brightness_delta)``; contrast mode
    ``randint(2)`` (1: contrast first); contrast ``alpha ~ U(contrast_range)`` when first;
    saturation ``alpha ~ U(saturation_range)``; hue ``randint(-hue_delta, hue_delta)`` (upper
    bound exclusive, as NumPy's randint in mmseg);
    contrast when last. Values are clipped to [0, 255] and truncated to uint8 after each step.

    Args:
        brightness_delta: max brightness shift.
        contrast_range: (lower, upper) contrast factor.
        saturation_range: (lower, upper) saturation factor.
        hue_delta: max hue shift in OpenCV units (degrees / 2).
        image_format: "RGB" or "BGR", the channel order of the images it receives.
    """

    def __init__(
        self,
        brightness_delta: float = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
        image_format: str = "RGB",
    ):
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        r = np.random
        brightness = None
        if r.randint(2):
            brightness = r.uniform(-self.brightness_delta, self.brightness_delta)
        contrast_first = bool(r.randint(2) == 1)
        contrast = None
        if contrast_first and r.randint(2):
            contrast = r.uniform(self.contrast_range[0], self.contrast_range[1])
        saturation = None
        if r.randint(2):
            saturation = r.uniform(self.saturation_range[0], self.saturation_range[1])
        hue = None
        if r.randint(2):
            hue = int(r.randint(-self.hue_delta, self.hue_delta))
        if not contrast_first and r.randint(2):
            contrast = r.uniform(self.contrast_range[0], self.contrast_range[1])
        return PhotometricDistortionTransform(
            brightness, contrast, contrast_first, saturation, hue, self.image_format
        )
