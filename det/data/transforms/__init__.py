"""Augmentations and transforms that keep images and annotations aligned (detectron2 API)."""

from .augmentation import AugInput, Augmentation, AugmentationList, apply_augmentations
from .augmentation_impl import (
    FixedSizeCrop,
    PhotometricDistortion,
    RandomApply,
    RandomCrop,
    RandomCrop_CategoryAreaConstraint,
    RandomFlip,
    Resize,
    ResizeRatioRange,
    ResizeScale,
    ResizeShortestEdge,
    ResizeToMultiple,
)
from .photometric import PhotometricDistortionTransform
from .pil_transforms import ExtentTransform, PILColorTransform
from .transform import (
    ColorTransform,
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
    "AugInput",
    "Augmentation",
    "AugmentationList",
    "apply_augmentations",
    "FixedSizeCrop",
    "PhotometricDistortion",
    "RandomApply",
    "RandomCrop",
    "RandomCrop_CategoryAreaConstraint",
    "RandomFlip",
    "Resize",
    "ResizeRatioRange",
    "ResizeScale",
    "ResizeShortestEdge",
    "ResizeToMultiple",
    "PhotometricDistortionTransform",
    "ExtentTransform",
    "PILColorTransform",
    "ColorTransform",
    "CropTransform",
    "HFlipTransform",
    "NoOpTransform",
    "PadTransform",
    "ResizeTransform",
    "Transform",
    "TransformList",
    "VFlipTransform",
]
