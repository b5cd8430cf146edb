"""Named augmentation pipelines, parametrized by size, for configs to call with ``L(...)``.

A config sets one number (``image_size`` / ``crop_size``) instead of repeating a list of
augmentations per resolution::

    dataloader.train.mapper.augmentations = L(build_lsj_augmentation)(image_size=1024)
"""

from __future__ import annotations

from . import transforms as T

__all__ = [
    "build_lsj_augmentation",
    "build_lsj_test_augmentation",
    "build_mmseg_semseg_augmentation",
    "build_mmseg_semseg_test_augmentation",
]


def build_lsj_augmentation(
    image_size: int, min_scale: float = 0.1, max_scale: float = 2.0
) -> list[T.Augmentation]:
    """Large-scale jitter of ViTDet / EVA-02 (training).

    ``RandomFlip(horizontal, p=0.5)`` -> ``ResizeScale(min_scale, max_scale, S, S)`` ->
    ``FixedSizeCrop((S, S), pad=False)``; the model pads to a square afterwards.

    Args:
        image_size: S, the square training resolution (1024 or 1536 for EVA-02).
        min_scale, max_scale: range of the scale jitter.
    """
    return [
        T.RandomFlip(horizontal=True),
        T.ResizeScale(
            min_scale=min_scale,
            max_scale=max_scale,
            target_height=image_size,
            target_width=image_size,
        ),
        T.FixedSizeCrop(crop_size=(image_size, image_size), pad=False),
    ]


def build_lsj_test_augmentation(image_size: int) -> list[T.Augmentation]:
    """LSJ inference resize: the long side becomes ``image_size`` (``ResizeShortestEdge(S, S)``).

    Args:
        image_size: S, as in training.
    """
    return [T.ResizeShortestEdge(short_edge_length=image_size, max_size=image_size)]


def build_mmseg_semseg_augmentation(
    crop_size: int,
    image_format: str = "RGB",
    ratio_range: tuple[float, float] = (0.5, 2.0),
    cat_max_ratio: float = 0.75,
    ignore_label: int = 255,
    scale: tuple[int, int] | None = None,
) -> list[T.Augmentation]:
    """The mmseg training pipeline of EVA / ViT-Adapter Mask2Former (semantic segmentation).

    ``ResizeRatioRange(scale, ratio_range)`` -> ``RandomCrop`` (crop x crop,
    ``cat_max_ratio``) -> ``RandomFlip(p=0.5)`` -> ``PhotometricDistortion``.

    Args:
        crop_size: square crop side (896 for EVA-01, 512 / 640 for Mask2Former's ADE recipes).
        image_format: channel order the photometric distortion receives.
        ratio_range: scale jitter range.
        cat_max_ratio: max share of one category in a crop (1.0 disables the constraint).
        ignore_label: label excluded from the category count.
        scale: mmseg ``img_scale`` (long, short) before the jitter; default (4 * crop, crop)
            (PASCAL-Context uses (520, 520)).
    """
    if scale is None:
        scale = (4 * crop_size, crop_size)
    return [
        T.ResizeRatioRange(scale=tuple(scale), ratio_range=ratio_range),
        T.RandomCrop_CategoryAreaConstraint(
            crop_type="absolute",
            crop_size=(crop_size, crop_size),
            single_category_max_area=cat_max_ratio,
            ignored_category=ignore_label,
        ),
        T.RandomFlip(horizontal=True),
        T.PhotometricDistortion(image_format=image_format),
    ]


def build_mmseg_semseg_test_augmentation(
    crop_size: int, size_divisor: int = 32, scale: tuple[int, int] | None = None
):
    """mmseg single-scale test resize: keep-ratio to ``scale`` (default (4 * crop, crop)), then
    each side up to a multiple of ``size_divisor``.

    Args:
        crop_size: the training crop side; the short side becomes this (long side <= 4x).
        size_divisor: round sides up to a multiple of this.
        scale: mmseg test ``img_scale`` (long side limit, short side), e.g. (4096, 520) for
            PASCAL-Context; overrides the crop-derived default.
    """
    long_side, short_side = scale if scale is not None else (4 * crop_size, crop_size)
    return [
        T.ResizeShortestEdge(short_edge_length=short_side, max_size=long_side),
        T.ResizeToMultiple(size_divisor=size_divisor),
    ]
