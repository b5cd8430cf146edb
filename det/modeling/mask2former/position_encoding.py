"""Sine position encoding of a 2-D feature map (DETR / Mask2Former)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Fixed sin/cos encoding of the row and column index of every pixel ("Attention is all you
    need" generalized to images, as in DETR and Mask2Former).

    With ``normalize=True`` the 1-based row index y in 1..H becomes ``y / (H + 1e-6) * scale``
    (likewise for columns); Mask2Former uses no -0.5 centring offset. Channel ``2i`` of the
    y half is ``sin(y / T^(2i / F))`` and channel ``2i + 1`` is ``cos(y / T^(2i / F))``, with
    F = ``num_pos_feats`` and T = ``temperature``; the output is ``cat(y half, x half)``.

    Args:
        num_pos_feats: F, channels per axis (half the output channels); must be even.
        temperature: T.
        normalize: scale the indices to [0, scale] per map.
        scale: the range of normalized indices (2 * pi); only with ``normalize``.
    """

    def __init__(
        self,
        num_pos_feats: int = 64,
        temperature: float = 10000.0,
        normalize: bool = False,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if num_pos_feats % 2 != 0:
            raise ValueError(
                f"PositionEmbeddingSine: num_pos_feats must be even, got {num_pos_feats}"
            )
        if scale is not None and not normalize:
            raise ValueError("PositionEmbeddingSine: scale is only used with normalize=True")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode the positions of ``x``'s pixels.

        Args:
            x (Tensor[B, C, H, W]): only its shape, device and dtype are used.
            mask (Tensor[B, H, W] bool | None): True at padded pixels, which are not counted.

        Returns:
            Tensor[B, 2 * num_pos_feats, H, W] in ``x.dtype``.
        """
        b, _, h, w = x.shape
        if mask is None:
            not_mask = torch.ones((b, h, w), device=x.device, dtype=torch.float32)
        else:
            not_mask = (~mask).to(torch.float32)
        y_embed = not_mask.cumsum(1)
        x_embed = not_mask.cumsum(2)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (
            2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats
        )
        pos_x = x_embed[..., None] / dim_t
        pos_y = y_embed[..., None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2).to(x.dtype)
