"""Mask2Former (Cheng et al., "Masked-attention Mask Transformer for Universal Image
Segmentation", 2022): pixel decoder, masked-attention decoder, matcher and losses."""

from .criterion import SetCriterion
from .lr_decay import get_mask2former_lr_decay_rate
from .mask_former_head import MaskFormerHead
from .matcher import HungarianMatcher
from .pixel_decoder import MSDeformAttnPixelDecoder
from .point_sampling import (
    calculate_uncertainty,
    get_uncertain_point_coords_with_randomness,
    point_sample,
)
from .position_encoding import PositionEmbeddingSine
from .semseg_inference import MultiScaleFlipInference, SlidingWindowInference, WholeImageInference
from .transformer_decoder import MultiScaleMaskedTransformerDecoder

__all__ = [
    "HungarianMatcher",
    "MSDeformAttnPixelDecoder",
    "MaskFormerHead",
    "MultiScaleFlipInference",
    "MultiScaleMaskedTransformerDecoder",
    "PositionEmbeddingSine",
    "SetCriterion",
    "SlidingWindowInference",
    "WholeImageInference",
    "calculate_uncertainty",
    "get_mask2former_lr_decay_rate",
    "get_uncertain_point_coords_with_randomness",
    "point_sample",
]
