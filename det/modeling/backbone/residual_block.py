"""Bottleneck conv block that ViTDet can interleave with transformer blocks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from det.layers import Conv2d, c2_msra_fill, get_norm

__all__ = ["ResBottleneckBlock"]


class ResBottleneckBlock(nn.Module):
    """``x + conv3(act(conv2(act(conv1(x)))))``: 1x1 -> 3x3 -> 1x1, each conv with a norm.

    The last norm starts at zero so a freshly inserted block is the identity (ViTDet).

    Args:
        in_channels: input channels C.
        out_channels: output channels (equal to C for the residual sum).
        bottleneck_channels: width of the 3x3 conv.
        norm: norm name for :func:`det.layers.get_norm` ("LN" is channel-first LayerNorm).
        act_layer: activation class.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bottleneck_channels: int,
        norm: str = "LN",
        act_layer: Callable[[], nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.conv1 = Conv2d(
            in_channels,
            bottleneck_channels,
            1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        self.act1 = act_layer()
        self.conv2 = Conv2d(
            bottleneck_channels,
            bottleneck_channels,
            3,
            padding=1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        self.act2 = act_layer()
        self.conv3 = Conv2d(
            bottleneck_channels, out_channels, 1, bias=False, norm=get_norm(norm, out_channels)
        )
        for conv in (self.conv1, self.conv2, self.conv3):
            c2_msra_fill(conv)
        for conv in (self.conv1, self.conv2):
            if conv.norm is not None:
                nn.init.ones_(conv.norm.weight)
                nn.init.zeros_(conv.norm.bias)
        if self.conv3.norm is not None:
            nn.init.zeros_(self.conv3.norm.weight)
            nn.init.zeros_(self.conv3.norm.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, C, H, W] -> Tensor[B, C, H, W]."""
        out = self.act1(self.conv1(x))
        out = self.act2(self.conv2(out))
        return x + self.conv3(out)
