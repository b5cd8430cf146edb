"""The segmentation head of MaskFormer-style models: pixel decoder + transformer decoder."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .pixel_decoder import MSDeformAttnPixelDecoder
from .transformer_decoder import MultiScaleMaskedTransformerDecoder

__all__ = ["MaskFormerHead"]


class MaskFormerHead(nn.Module):
    """Runs the pixel decoder on backbone features, then the transformer decoder (the
    "predictor") on its multi-scale features and mask features.

    Submodules are named ``pixel_decoder`` and ``predictor`` as in Mask2Former, so a model's
    keys read ``sem_seg_head.pixel_decoder.*`` / ``sem_seg_head.predictor.*``.

    Args:
        pixel_decoder: e.g. :class:`MSDeformAttnPixelDecoder`.
        predictor: e.g. :class:`MultiScaleMaskedTransformerDecoder`.
    """

    def __init__(
        self,
        *,
        pixel_decoder: MSDeformAttnPixelDecoder,
        predictor: MultiScaleMaskedTransformerDecoder,
    ) -> None:
        super().__init__()
        if predictor.num_feature_levels != pixel_decoder.num_feature_levels:
            raise ValueError(
                f"MaskFormerHead: the predictor reads {predictor.num_feature_levels} levels but "
                f"the pixel decoder gives {pixel_decoder.num_feature_levels}"
            )
        self.pixel_decoder = pixel_decoder
        self.predictor = predictor

    def forward(self, features: Mapping[str, torch.Tensor]) -> dict:
        """Backbone features (name -> Tensor[B, C, H / s, W / s]) -> the predictor's outputs
        (``pred_logits`` [B, Q, K + 1], ``pred_masks`` [B, Q, H / 4, W / 4], ``aux_outputs``)."""
        mask_features, _, multi_scale_features = self.pixel_decoder.forward_features(features)
        return self.predictor(multi_scale_features, mask_features)
