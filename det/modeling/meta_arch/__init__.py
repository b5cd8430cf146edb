"""Meta-architectures: whole models that take the per-image input dicts."""

from .maskformer import MaskFormer
from .rcnn import GeneralizedRCNN

__all__ = ["GeneralizedRCNN", "MaskFormer"]
