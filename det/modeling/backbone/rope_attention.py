"""EVA-02 attention: separate q/k/v projections, q and v biases only, RoPE on q and k."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import VisionRotaryEmbeddingFast

__all__ = ["RopeAttention"]


class RopeAttention(nn.Module):
    """Multi-head self-attention over a 2-D token grid with rotary position embedding.

    Parameters are named as in EVA-02 (``q_proj``, ``k_proj``, ``v_proj`` without bias, then
    ``q_bias`` and ``v_bias``; k has no bias) so MIM and detection checkpoints load by name.

    Args:
        dim: token width C.
        num_heads: number of heads; ``C // num_heads`` must be divisible by 4 for 2-D RoPE.
        rope: the RoPE module for the grid this attention sees (shared between blocks; it is
            registered under every block, as in the fork's state dicts).
        qkv_bias: learn ``q_bias`` and ``v_bias`` (zeros at init).
        xattn: True runs ``F.scaled_dot_product_attention``, which picks a fused flash or
            memory-efficient kernel where the device has one (the fork's ``xattn=True`` meant
            xformers' memory-efficient attention; SDPA replaces it). False runs the explicit
            ``softmax(q k^T / sqrt(d)) v`` of the fork's non-xformers path, which materializes
            the N x N attention matrix.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        rope: VisionRotaryEmbeddingFast,
        qkv_bias: bool = True,
        xattn: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"RopeAttention: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.xattn = xattn
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = None
            self.v_bias = None
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.rope = rope
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all tokens of each grid.

        Args:
            x (Tensor[B, H, W, C]): tokens; ``H * W`` must match the RoPE table.

        Returns:
            Tensor[B, H, W, C].
        """
        b, h, w, c = x.shape
        x = x.reshape(b, h * w, c)
        q = F.linear(x, self.q_proj.weight, self.q_bias)
        k = F.linear(x, self.k_proj.weight, None)
        v = F.linear(x, self.v_proj.weight, self.v_bias)
        heads = (self.num_heads, self.head_dim)
        q, k, v = (t.unflatten(-1, heads).transpose(1, 2) for t in (q, k, v))
        # RoPE runs in the tables' float32 and is cast back, as EVA-02 does under AMP.
        q = self.rope(q).type_as(v)
        k = self.rope(k).type_as(v)
        if self.xattn:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            out = attn.softmax(dim=-1).type_as(v) @ v
        out = out.transpose(1, 2).reshape(b, h * w, c)
        return self.proj(out).view(b, h, w, c)
