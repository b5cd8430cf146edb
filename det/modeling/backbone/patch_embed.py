"""Image to patch tokens: one strided convolution, channels-last output."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PatchEmbed"]


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding (a Conv2d with kernel = stride = patch size).

    The conv is the child ``proj`` so keys read ``patch_embed.proj.{weight,bias}``.

    Args:
        kernel_size: patch size (kh, kw).
        stride: stride (sh, sw), normally the patch size.
        padding: conv padding.
        in_chans: input channels (3 for RGB).
        embed_dim: token width C.
    """

    def __init__(
        self,
        kernel_size: tuple[int, int] = (16, 16),
        stride: tuple[int, int] = (16, 16),
        padding: tuple[int, int] = (0, 0),
        in_chans: int = 3,
        embed_dim: int = 768,
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed patches.

        Args:
            x (Tensor[B, in_chans, H, W]): images.

        Returns:
            Tensor[B, H / sh, W / sw, embed_dim] (channels last).
        """
        return self.proj(x).permute(0, 2, 3, 1)
