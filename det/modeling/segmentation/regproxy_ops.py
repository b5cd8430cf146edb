"""The region-proxy decoding of RegProxy (Zhang et al., "Semantic Segmentation by Early Region
Proxy", CVPR 2022) as functions: every pixel of a token's patch is a convex combination of the
class logits of that token and its 8 neighbours ("region tokens"), with weights predicted per
sub-pixel.

Glossary: B images, K classes, (H, W) token grid, (r_h, r_w) ``region_res`` (sub-pixels per token
side, 4 x 4 in every published model), n = 9 neighbours in row-major order of the offsets
(dy, dx) in {-1, 0, 1}^2 (n = 4 is the token itself).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["neighbour_affinity", "region_proxy_logits"]


def neighbour_affinity(logits: torch.Tensor, region_res: tuple[int, int]) -> torch.Tensor:
    """Softmax over the 3 x 3 neighbours that exist, per sub-pixel.

    Neighbours outside the token grid (first / last row and column) get probability 0,
    like RegionProxy's ``-inf`` border masking before its softmax.

    Args:
        logits (Tensor[B, 9 * r_h * r_w, H, W]): the affinity head's output; channel
            ``n * r_h * r_w + i * r_w + j`` scores neighbour n for sub-pixel (i, j).
        region_res: (r_h, r_w).

    Returns:
        Tensor[B, 9, r_h, r_w, H, W]: non-negative, summing to 1 over dim 1.
    """
    b, _, h, w = logits.shape
    logits = logits.reshape(b, 9, region_res[0], region_res[1], h, w)
    offsets = torch.arange(3, device=logits.device) - 1
    rows = torch.arange(h, device=logits.device)[None, :] + offsets[:, None]  # [3 dy, H]
    cols = torch.arange(w, device=logits.device)[None, :] + offsets[:, None]  # [3 dx, W]
    row_ok = (rows >= 0) & (rows < h)
    col_ok = (cols >= 0) & (cols < w)
    valid = (row_ok[:, None, :, None] & col_ok[None, :, None, :]).reshape(9, 1, 1, h, w)
    return logits.masked_fill(~valid, float("-inf")).softmax(dim=1)


def region_proxy_logits(affinity: torch.Tensor, token_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel class logits from token logits and neighbour affinities.

    ``out[b, k, y * r_h + i, x * r_w + j] = sum_n affinity[b, n, i, j, y, x] *
    token_logits[b, k, y + dy_n, x + dx_n]`` (neighbours outside the grid have weight 0).

    Args:
        affinity (Tensor[B, 9, r_h, r_w, H, W]): from :func:`neighbour_affinity`.
        token_logits (Tensor[B, K, H, W]): class logits of every token.

    Returns:
        Tensor[B, K, H * r_h, W * r_w].
    """
    b, k, h, w = token_logits.shape
    r_h, r_w = affinity.shape[2:4]
    # Zero padding is harmless: the padded neighbours have affinity exactly 0.
    neighbours = F.unfold(token_logits, kernel_size=3, padding=1).reshape(b, k, 9, h, w)
    out = torch.einsum("bnijyx,bknyx->bkyixj", affinity.to(neighbours.dtype), neighbours)
    return out.reshape(b, k, h * r_h, w * r_w)
