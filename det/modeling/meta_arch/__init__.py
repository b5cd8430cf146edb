"""Meta-architectures: whole models that take the per-image input dicts."""

from .encoder_decoder import EncoderDecoder
from .maskformer import MaskFormer
from .rcnn import GeneralizedRCNN

__all__ = ["EncoderDecoder", "GeneralizedRCNN", "MaskFormer"]
