"""ViT-Adapter's spatial prior module: a small conv stem giving stride 4..32 maps of width D."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from det.layers import get_norm

__all__ = ["SpatialPriorModule"]


def _conv_norm_relu(
    in_channels: int, out_channels: int, stride: int, norm: str | Callable[[int], nn.Module]
) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        get_norm(norm, out_channels),
        nn.ReLU(inplace=True),
    ]


class SpatialPriorModule(nn.Module):
    """ResNet-like stem plus three stride-2 stages, each projected to the ViT width.

    ``stem``: 3x3 s2 (3 -> P), 3x3 (P -> P), 3x3 (P -> P), each conv-norm-ReLU, then a 3x3 s2
    max pool (stride 4); ``conv2`` (P -> 2P, stride 8), ``conv3`` (2P -> 4P, stride 16),
    ``conv4`` (4P -> 4P, stride 32), each a 3x3 s2 conv-norm-ReLU; ``fc1..fc4`` are 1x1 convs
    with bias mapping each to D. Module names and indexes (``stem.0``, ``stem.1``, ...,
    ``conv2.0``, ``fc1``) are those of the published checkpoints.

    Args:
        inplanes: P (``conv_inplane`` in the ViT-Adapter configs, 64).
        embed_dim: D, the ViT width.
        norm: normalization after every conv, a :func:`det.layers.get_norm` name or
            callable; the published models use synchronized BatchNorm ("SyncBN").
    """

    def __init__(
        self, inplanes: int = 64, embed_dim: int = 384, norm: str | Callable = "SyncBN"
    ) -> None:
        super().__init__()
        if not norm:
            raise ValueError("SpatialPriorModule: norm must name a normalization; got none")
        self.stem = nn.Sequential(
            *_conv_norm_relu(3, inplanes, 2, norm),
            *_conv_norm_relu(inplanes, inplanes, 1, norm),
            *_conv_norm_relu(inplanes, inplanes, 1, norm),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.conv2 = nn.Sequential(*_conv_norm_relu(inplanes, 2 * inplanes, 2, norm))
        self.conv3 = nn.Sequential(*_conv_norm_relu(2 * inplanes, 4 * inplanes, 2, norm))
        self.conv4 = nn.Sequential(*_conv_norm_relu(4 * inplanes, 4 * inplanes, 2, norm))
        self.fc1 = nn.Conv2d(inplanes, embed_dim, 1)
        self.fc2 = nn.Conv2d(2 * inplanes, embed_dim, 1)
        self.fc3 = nn.Conv2d(4 * inplanes, embed_dim, 1)
        self.fc4 = nn.Conv2d(4 * inplanes, embed_dim, 1)

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Compute the four prior maps.

        Args:
            x (Tensor[B, 3, H, W]): normalized images, H and W multiples of 32.

        Returns:
            c1 (Tensor[B, D, H/4, W/4]) as a map; c2, c3, c4 flattened to tokens
            (Tensor[B, H*W/64, D], Tensor[B, H*W/256, D], Tensor[B, H*W/1024, D]).
        """
        c1 = self.stem(x)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        tokens = [
            fc(c).flatten(2).transpose(1, 2)
            for fc, c in ((self.fc2, c2), (self.fc3, c3), (self.fc4, c4))
        ]
        return (self.fc1(c1), *tokens)
