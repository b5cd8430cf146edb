"""Absolute position embeddings stored on a pretraining grid and resized to the token grid."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["get_abs_pos", "resize_pos_embed_grid"]


def resize_pos_embed_grid(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubically resample a grid of position embeddings (``align_corners=False``).

    Args:
        grid (Tensor[1, h, w, C]): embeddings on an h x w grid.
        size: target (H, W).

    Returns:
        Tensor[1, H, W, C] (``grid`` itself when the size already matches).
    """
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    resized = F.interpolate(
        grid.permute(0, 3, 1, 2), size=size, mode="bicubic", align_corners=False
    )
    return resized.permute(0, 2, 3, 1)


def get_abs_pos(abs_pos: torch.Tensor, has_cls_token: bool, hw: tuple[int, int]) -> torch.Tensor:
    """Absolute position embeddings for an ``H x W`` token grid.

    The stored embedding lives on the square pretraining grid (14 x 14 for 224 px / patch 16),
    optionally after a cls-token slot that detection does not use. It is dropped, and the grid
    is resized bicubically when it differs from the token grid (ViTDet and EVA-02 do this on
    every forward instead of converting the checkpoint).

    Args:
        abs_pos (Tensor[1, L, C]): ``L = (1 if has_cls_token else 0) + g * g``.
        has_cls_token: whether ``abs_pos[:, 0]`` is a cls-token slot.
        hw: token grid (H, W).

    Returns:
        Tensor[1, H, W, C].
    """
    if has_cls_token:
        abs_pos = abs_pos[:, 1:]
    num_positions = abs_pos.shape[1]
    side = int(math.isqrt(num_positions))
    if side * side != num_positions:
        raise ValueError(
            f"get_abs_pos: position embedding has {num_positions} grid entries "
            f"(has_cls_token={has_cls_token}), which is not a square grid"
        )
    grid = abs_pos.reshape(1, side, side, -1)
    return resize_pos_embed_grid(grid, hw)
