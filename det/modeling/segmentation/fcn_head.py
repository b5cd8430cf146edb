"""FCN head (Long et al., CVPR 2015) as mmseg's ``FCNHead``: the auxiliary head of every UperNet
card (one 3x3 conv on the stride-16 map, loss weight 0.4)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .conv_module import ConvModule
from .decode_head import DecodeHead

__all__ = ["FCNHead"]


class FCNHead(DecodeHead):
    """``num_convs`` 3x3 ConvModules on one map, optionally concatenated with the input.

    Module names are mmseg's (``convs.{i}``, ``conv_cat``, ``conv_seg``); see
    :class:`DecodeHead` for the shared arguments (``in_features`` names exactly one map).

    Args:
        in_channels: channels of the selected map.
        channels: width of the convs (256 in the seeds' auxiliary heads).
        num_convs: number of convs (1 in the seeds); 0 needs ``in_channels == channels``.
        concat_input: concatenate the input with the conv output and fuse (``conv_cat``).
        norm: norm of the convs.
        **kwargs: :class:`DecodeHead` arguments (``loss_weight=0.4`` as an auxiliary head).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        channels: int,
        num_convs: int = 1,
        concat_input: bool = False,
        norm: str | Callable[[int], nn.Module] = "SyncBN",
        **kwargs,
    ) -> None:
        super().__init__(channels=channels, **kwargs)
        if len(self.in_features) != 1:
            raise ValueError(
                f"FCNHead: in_features={list(self.in_features)} must name one map (mmseg's "
                "in_index, e.g. ['res4'])"
            )
        if num_convs == 0 and in_channels != channels:
            raise ValueError(
                f"FCNHead: num_convs=0 needs in_channels ({in_channels}) == channels ({channels})"
            )
        if num_convs == 0:
            self.convs = nn.Identity()
        else:
            widths = [in_channels] + [channels] * num_convs
            self.convs = nn.Sequential(
                *(ConvModule(a, channels, 3, norm=norm) for a in widths[:-1])
            )
        self.conv_cat = (
            ConvModule(in_channels + channels, channels, 3, norm=norm) if concat_input else None
        )

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """One map Tensor[B, in_channels, h, w] -> Tensor[B, channels, h, w]."""
        (x,) = inputs
        out = self.convs(x)
        if self.conv_cat is not None:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return out
