"""ViTDet (MAE) attention: fused qkv and decomposed relative position bias (MViTv2 style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RelPosAttention", "decomposed_rel_pos_bias", "get_rel_pos"]


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position embeddings for every (query, key) pair along one axis.

    When the table was learned for another length it is resized linearly (upstream
    detectron2's rule; EVA-02's log-spaced variant only served a ViT it no longer uses).

    Args:
        q_size: number of query positions along the axis.
        k_size: number of key positions along the axis.
        rel_pos (Tensor[L, D]): learned table.

    Returns:
        Tensor[q_size, k_size, D].
    """
    max_rel_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_rel_dist:
        resized = F.interpolate(
            rel_pos.t().unsqueeze(0), size=max_rel_dist, mode="linear", align_corners=False
        )
        rel_pos = resized.squeeze(0).t()
    # Scale coordinates so that queries and keys of different lengths share one range.
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[relative.long()]


def decomposed_rel_pos_bias(
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    q_size: tuple[int, int],
    k_size: tuple[int, int],
) -> torch.Tensor:
    """Additive attention bias ``q . R_h[dh] + q . R_w[dw]`` (MViTv2, ViTDet).

    Args:
        q (Tensor[B, heads, q_h * q_w, D]): unscaled queries.
        rel_pos_h (Tensor[Lh, D]): row table.
        rel_pos_w (Tensor[Lw, D]): column table.
        q_size: query grid (q_h, q_w).
        k_size: key grid (k_h, k_w).

    Returns:
        Tensor[B, heads, q_h * q_w, k_h * k_w], to be added to the scaled logits.
    """
    q_h, q_w = q_size
    k_h, k_w = k_size
    r_h = get_rel_pos(q_h, k_h, rel_pos_h)
    r_w = get_rel_pos(q_w, k_w, rel_pos_w)
    r_q = q.unflatten(2, (q_h, q_w))
    bias_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, r_h.to(q.dtype))
    bias_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, r_w.to(q.dtype))
    bias = bias_h[..., :, None] + bias_w[..., None, :]
    return bias.flatten(-2).flatten(2, 3)


class RelPosAttention(nn.Module):
    """Multi-head self-attention over a 2-D token grid with optional decomposed rel-pos bias.

    Args:
        dim: token width C.
        num_heads: number of heads.
        qkv_bias: bias in the fused ``qkv`` projection.
        use_rel_pos: learn ``rel_pos_h`` / ``rel_pos_w`` tables.
        rel_pos_zero_init: start the tables at zero (else truncated normal, std 0.02).
        input_size: token grid (H, W) the tables are sized for (the window, or the whole
            image grid for global blocks).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(
                f"RelPosAttention: dim {dim} is not divisible by num_heads {num_heads}"
            )
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            if input_size is None:
                raise ValueError("RelPosAttention: use_rel_pos=True needs input_size")
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))
            if not rel_pos_zero_init:
                nn.init.trunc_normal_(self.rel_pos_h, std=0.02)
                nn.init.trunc_normal_(self.rel_pos_w, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all tokens of each grid.

        Args:
            x (Tensor[B, H, W, C]).

        Returns:
            Tensor[B, H, W, C].
        """
        b, h, w, c = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, (h, w), (h, w))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        return self.proj(out)
