"""CNN patch embedding of timm's hybrid ViTs (R26+ViT-S/32, R50+ViT-L/32): a ResNetV2 stem
(timm's own module) and a 1x1 projection, named as timm names them so ``patch_embed.backbone.*``
and ``patch_embed.proj.*`` of the published weights load unchanged into :class:`TimmViT`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

__all__ = ["HybridPatchEmbed", "timm_resnetv2_stem"]


def timm_resnetv2_stem(
    layers: Sequence[int],
    channels: Sequence[int] = (256, 512, 1024, 2048),
    stem_chs: int = 64,
    in_chans: int = 3,
) -> nn.Module:
    """timm's ResNetV2 feature extractor exactly as its hybrid ViTs build it.

    Same as ``timm.models.vision_transformer_hybrid._resnetv2``: no pre-activation, "same"
    padding stem, weight-standardized convs (eps 1e-8), GroupNorm(32), no pooling, no head;
    output stride 32 with four stages (R26: ``layers=(2, 2, 2, 2)``, R50: ``(3, 4, 6, 3)``).

    Args:
        layers: bottleneck blocks per stage.
        channels: output channels per stage (narrower values only for tests).
        stem_chs: stem conv channels.
        in_chans: input channels.

    Returns:
        A module mapping Tensor[B, in_chans, H, W] to Tensor[B, channels[-1], H / 32, W / 32]
        (four stages).
    """
    # Imported here so that importing det's backbones does not import timm's model zoo.
    from timm.layers import StdConv2dSame
    from timm.models.resnetv2 import ResNetV2

    return ResNetV2(
        layers=list(layers),
        channels=tuple(channels),
        stem_chs=stem_chs,
        num_classes=0,
        global_pool="",
        in_chans=in_chans,
        preact=False,
        stem_type="same",
        conv_layer=partial(StdConv2dSame, eps=1e-8),
    )


class HybridPatchEmbed(nn.Module):
    """``proj(backbone(x))`` as channels-last tokens (timm's ``HybridEmbed`` with patch 1).

    Args:
        backbone: CNN mapping Tensor[B, in_chans, H, W] to Tensor[B, feature_channels, h, w]
            (or a list/tuple of maps, the last one is used, as timm does).
        feature_channels: channels of the backbone's output (2048 for ResNetV2).
        embed_dim: token width C.
    """

    def __init__(self, backbone: nn.Module, feature_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Conv2d(feature_channels, embed_dim, kernel_size=1, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, in_chans, H, W] -> Tensor[B, h, w, C] (h, w = H, W / the CNN stride)."""
        features = self.backbone(x)
        if isinstance(features, (list, tuple)):
            features = features[-1]
        return self.proj(features).permute(0, 2, 3, 1)
