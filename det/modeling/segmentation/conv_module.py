"""mmcv's ``ConvModule`` (conv -> norm -> ReLU) with its parameter names, so released mmseg
decode-head weights (``*.conv.weight``, ``*.bn.*``) map one to one."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from det.layers import get_norm

__all__ = ["ConvModule"]


class ConvModule(nn.Module):
    """``act(bn(conv x))``; the conv has no bias when a norm follows (mmcv's ``bias="auto"``).

    Args:
        in_channels, out_channels: conv channels.
        kernel_size: square kernel; padding is ``kernel_size // 2`` (same size output).
        groups: conv groups (``in_channels`` for a depthwise conv).
        norm: a :func:`det.layers.get_norm` name ("BN", "SyncBN") or callable; "" for none.
        act: follow with ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        groups: int = 1,
        norm: str | Callable[[int], nn.Module] = "",
        act: bool = True,
    ) -> None:
        super().__init__()
        bn = get_norm(norm, out_channels)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=groups,
            bias=bn is None,
        )
        self.bn = bn if bn is not None else nn.Identity()
        # Not in place: UperNet adds the top-down path onto lateral outputs afterwards.
        self.act = nn.ReLU() if act else nn.Identity()
        # mmcv ConvModule's init: Kaiming normal (fan_out, ReLU gain), zero bias.
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, in_channels, H, W] -> Tensor[B, out_channels, H, W]."""
        return self.act(self.bn(self.conv(x)))
