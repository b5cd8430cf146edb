"""The conv block shared by the conv RoI heads (box head and mask head).

Both heads stack 3x3 conv + norm + ReLU blocks and initialize them as detectron2 does
(``det.layers.c2_msra_fill``); keeping the block here gives the two heads one definition.
"""

from __future__ import annotations

from torch import nn

from det.layers import Conv2d, get_norm

__all__ = ["conv3x3_norm_relu"]


def conv3x3_norm_relu(in_channels: int, out_channels: int, norm: str) -> Conv2d:
    """A 3x3, stride-1, same-padding conv followed by ``norm`` and ReLU.

    Tensor[R, in_channels, H, W] -> Tensor[R, out_channels, H, W]. The weights keep PyTorch's
    default init; the heads apply :func:`c2_msra_fill` once every layer exists, so the random
    stream (and the seeded weights) follow detectron2's order.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        norm: norm after the conv (``""`` for none, ``"LN"`` in EVA-02 / ViTDet); the conv has
            a bias only without norm.
    """
    return Conv2d(
        in_channels,
        out_channels,
        kernel_size=3,
        padding=1,
        bias=not norm,
        norm=get_norm(norm, out_channels),
        activation=nn.ReLU(),
    )
