"""Pre-norm transformer block over a 2-D token grid, with optional window attention."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from det.layers import DropPath

from .window import window_partition, window_unpartition

__all__ = ["ViTBlock"]


class ViTBlock(nn.Module):
    """``x + drop_path(attn(norm1 x))``, then ``x + drop_path(mlp(norm2 x))``, then an
    optional residual conv block.

    Attention and MLP come ready-built, so the EVA-02 block (RoPE attention + SwiGLU) and the
    ViTDet/MAE block (rel-pos attention + GELU MLP) share this class. State-dict keys are
    ``norm1.*``, ``attn.*``, ``norm2.*``, ``mlp.*``, ``residual.*``. No layer scale.

    Args:
        dim: token width C.
        attn: maps Tensor[B', h, w, C] -> Tensor[B', h, w, C] (h = w = window size for window
            blocks, the whole grid otherwise).
        mlp: maps Tensor[..., C] -> Tensor[..., C].
        norm_layer: builds ``norm1`` and ``norm2`` from a width.
        drop_path: stochastic-depth rate of both branches.
        window_size: > 0 runs attention in non-overlapping windows (zero-padded); 0 is global.
        residual: optional module applied last on Tensor[B, C, H, W] (it adds its own skip).
    """

    def __init__(
        self,
        dim: int,
        attn: nn.Module,
        mlp: nn.Module,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        drop_path: float = 0.0,
        window_size: int = 0,
        residual: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = attn
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = mlp
        self.window_size = window_size
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, H, W, C] -> Tensor[B, H, W, C]."""
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            hw = (x.shape[1], x.shape[2])
            x, pad_hw = window_partition(x, self.window_size)
            x = self.attn(x)
            x = window_unpartition(x, self.window_size, pad_hw, hw)
        else:
            x = self.attn(x)
        x = shortcut + self.drop_path(x)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        if self.residual is not None:
            x = self.residual(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x
