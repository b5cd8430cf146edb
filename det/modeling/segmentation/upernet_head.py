"""UperNet decode head (Xiao et al., ECCV 2018) with mmseg's ``UPerHead`` semantics and names:
a pyramid pooling module on the coarsest map, a top-down FPN over the others, and a fusion conv
over all levels upsampled to the finest one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .conv_module import ConvModule
from .decode_head import DecodeHead

__all__ = ["UPerHead"]


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class UPerHead(DecodeHead):
    """UperNet head; see :class:`DecodeHead` for the shared arguments.

    Module names are mmseg's (``psp_modules.{i}.1``, ``bottleneck``, ``lateral_convs.{i}``,
    ``fpn_convs.{i}``, ``fpn_bottleneck``, ``conv_seg``), each conv an mmcv ``ConvModule``, so
    released ``decode_head.*`` weights load unchanged.

    Args:
        in_channels: channels of each selected map, finest first (ViT-Adapter: 4 x D).
        channels: width of every conv (512 for ViT-Adapter / CAE, 768 / 1024 / 1536 for the
            EVA-02 cards).
        pool_scales: output sizes of the pyramid pooling module's adaptive average pools.
        norm: norm of every conv ("SyncBN" as published; "BN" on one process).
        **kwargs: :class:`DecodeHead` arguments (``in_features``, ``num_classes``, ...).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        channels: int,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        norm: str | Callable[[int], nn.Module] = "SyncBN",
        **kwargs,
    ) -> None:
        super().__init__(channels=channels, **kwargs)
        in_channels = [int(c) for c in in_channels]
        if len(in_channels) != len(self.in_features):
            raise ValueError(
                f"UPerHead: in_channels={in_channels} and in_features={list(self.in_features)} "
                "must have the same length"
            )
        self.psp_modules = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(scale), ConvModule(in_channels[-1], channels, 1, norm=norm)
            )
            for scale in pool_scales
        )
        self.bottleneck = ConvModule(
            in_channels[-1] + len(pool_scales) * channels, channels, 3, norm=norm
        )
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, channels, 1, norm=norm) for c in in_channels[:-1]
        )
        self.fpn_convs = nn.ModuleList(
            ConvModule(channels, channels, 3, norm=norm) for _ in in_channels[:-1]
        )
        self.fpn_bottleneck = ConvModule(len(in_channels) * channels, channels, 3, norm=norm)

    def psp_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pyramid pooling: Tensor[B, C_last, h, w] -> Tensor[B, channels, h, w]."""
        pooled = [_resize(module(x), x.shape[-2:]) for module in self.psp_modules]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Maps finest first (Tensor[B, C_i, h_i, w_i]) -> Tensor[B, channels, h_0, w_0]."""
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        laterals.append(self.psp_forward(inputs[-1]))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[-2:])
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        outs.append(laterals[-1])
        size = outs[0].shape[-2:]
        outs = [outs[0]] + [_resize(x, size) for x in outs[1:]]
        return self.fpn_bottleneck(torch.cat(outs, dim=1))
