"""Mask2Former's transformer decoder with masked attention (Cheng et al., 2022, Sec. 3.2).

Glossary: B images, Q queries, K classes (+1 "no object"), C = ``hidden_dim``, L = 3 feature
levels read round-robin (coarse to fine), HW_l tokens of level l, H x W the mask-feature size
(stride 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import c2_xavier_fill

from .position_encoding import PositionEmbeddingSine

__all__ = [
    "CrossAttentionLayer",
    "FFNLayer",
    "MLP",
    "MultiScaleMaskedTransformerDecoder",
    "SelfAttentionLayer",
    "masked_attention_mask",
]


class _MultiheadAttention(nn.Module):
    """Multi-head attention over batch-first tensors via ``F.scaled_dot_product_attention``.

    Parameters are those of ``nn.MultiheadAttention`` (``in_proj_weight`` [3C, C],
    ``in_proj_bias``, ``out_proj``), so Mask2Former checkpoints load unchanged.
    """

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"attention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}"
            )
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """query [B, Lq, C], key / value [B, Lk, C]; attn_mask (bool [B, 1, Lq, Lk], True =
        may attend) -> [B, Lq, C]."""
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        heads = (self.num_heads, -1)
        q = F.linear(query, w_q, b_q).unflatten(-1, heads).transpose(1, 2)
        k = F.linear(key, w_k, b_k).unflatten(-1, heads).transpose(1, 2)
        v = F.linear(value, w_v, b_v).unflatten(-1, heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class SelfAttentionLayer(nn.Module):
    """Post-norm self-attention among the queries: ``LN(x + MHA(q=k=x+pos, v=x))``."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn = _MultiheadAttention(d_model, nhead)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        """tgt, query_pos (Tensor[B, Q, C]) -> Tensor[B, Q, C]."""
        q = tgt + query_pos
        return self.norm(tgt + self.dropout(self.self_attn(q, q, tgt)))


class CrossAttentionLayer(nn.Module):
    """Post-norm (masked) cross-attention from queries to image tokens:
    ``LN(x + MHA(q=x+query_pos, k=memory+pos, v=memory, mask))``."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.multihead_attn = _MultiheadAttention(d_model, nhead)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        attn_mask: torch.Tensor | None,
        pos: torch.Tensor,
        query_pos: torch.Tensor,
    ) -> torch.Tensor:
        """tgt, query_pos [B, Q, C]; memory, pos [B, HW, C]; attn_mask (bool [B, 1, Q, HW],
        True = may attend) -> [B, Q, C]."""
        out = self.multihead_attn(tgt + query_pos, memory + pos, memory, attn_mask)
        return self.norm(tgt + self.dropout(out))


class FFNLayer(nn.Module):
    """Post-norm feed-forward block: ``LN(x + W2 ReLU(W1 x))``."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """tgt (Tensor[B, Q, C]) -> Tensor[B, Q, C]."""
        return self.norm(tgt + self.dropout(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (``layers.0`` ... ``layers.N-1``)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[..., input_dim]) -> Tensor[..., output_dim]."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def masked_attention_mask(mask_logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Where each query may attend on a level: inside its own predicted mask.

    The mask logits are resized (bilinear, ``align_corners=False``) to the level and thresholded
    at sigmoid 0.5. A query whose mask is empty on that level attends everywhere instead
    (Mask2Former's fallback; it also keeps the attention softmax finite).

    Args:
        mask_logits (Tensor[B, Q, H, W]): predicted mask logits.
        size: (H_l, W_l) of the level.

    Returns:
        bool Tensor[B, 1, Q, H_l * W_l]: True = may attend (the 1 broadcasts over heads);
        detached.
    """
    resized = F.interpolate(mask_logits, size=size, mode="bilinear", align_corners=False)
    allowed = (resized.sigmoid().flatten(2) >= 0.5).detach()
    allowed = allowed | ~allowed.any(-1, keepdim=True)
    return allowed[:, None]


class MultiScaleMaskedTransformerDecoder(nn.Module):
    """Learnable queries refined by masked cross-attention to one level at a time.

    Before the first layer and after every layer a shared head (final LayerNorm, class linear,
    3-layer mask MLP dotted with the mask features) predicts classes and masks; each mask,
    resized to the next layer's level, restricts that layer's cross-attention. Layer i reads
    level ``i % L`` (coarse to fine). All ``dec_layers + 1`` predictions are returned for deep
    supervision. Parameter names follow Mask2Former's.

    Args:
        in_channels: channels of the multi-scale features (a 1x1 projection is added per level
            when it differs from ``hidden_dim``).
        num_classes: K.
        hidden_dim: C.
        num_queries: Q.
        nheads: attention heads.
        dim_feedforward: FFN hidden width.
        dec_layers: number of decoder layers (9 in Mask2Former, i.e. its ``DEC_LAYERS=10``).
        mask_dim: channels of the mask features.
        num_feature_levels: L.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        hidden_dim: int = 256,
        num_queries: int = 100,
        nheads: int = 8,
        dim_feedforward: int = 2048,
        dec_layers: int = 9,
        mask_dim: int = 256,
        num_feature_levels: int = 3,
    ) -> None:
        super().__init__()
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.num_queries = num_queries
        self.num_feature_levels = num_feature_levels
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads) for _ in range(dec_layers)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads) for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward) for _ in range(dec_layers)
        )
        for layers in (
            self.transformer_self_attention_layers,
            self.transformer_cross_attention_layers,
            self.transformer_ffn_layers,
        ):
            for p in layers.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(num_feature_levels, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(num_feature_levels):
            if in_channels != hidden_dim:
                proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
                c2_xavier_fill(proj)
                self.input_proj.append(proj)
            else:
                self.input_proj.append(nn.Sequential())
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    def forward(
        self, x: Sequence[torch.Tensor], mask_features: torch.Tensor
    ) -> dict[str, torch.Tensor | list[dict[str, torch.Tensor]]]:
        """Predict classes and masks.

        Args:
            x: L feature maps Tensor[B, in_channels, H_l, W_l], coarse to fine.
            mask_features (Tensor[B, mask_dim, H, W]).

        Returns:
            ``pred_logits`` (Tensor[B, Q, K + 1]) and ``pred_masks`` (Tensor[B, Q, H, W]) of the
            last layer, and ``aux_outputs``: the ``dec_layers`` earlier predictions (the first
            from the learnable queries alone), each a dict with the same two keys.
        """
        if len(x) != self.num_feature_levels:
            raise ValueError(
                f"MultiScaleMaskedTransformerDecoder: expected {self.num_feature_levels} "
                f"feature levels, got {len(x)}"
            )
        srcs, pos, sizes = [], [], []
        for i, feat in enumerate(x):
            sizes.append(tuple(feat.shape[-2:]))
            pos.append(self.pe_layer(feat).flatten(2).transpose(1, 2))
            src = self.input_proj[i](feat).flatten(2).transpose(1, 2)
            srcs.append(src + self.level_embed.weight[i])
        b = mask_features.shape[0]
        query_pos = self.query_embed.weight[None].expand(b, -1, -1)
        output = self.query_feat.weight[None].expand(b, -1, -1)

        logits, masks, attn_mask = self._predict(output, mask_features, sizes[0])
        predictions = [(logits, masks)]
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            output = self.transformer_cross_attention_layers[i](
                output, srcs[level], attn_mask, pos[level], query_pos
            )
            output = self.transformer_self_attention_layers[i](output, query_pos)
            output = self.transformer_ffn_layers[i](output)
            next_size = sizes[(i + 1) % self.num_feature_levels]
            logits, masks, attn_mask = self._predict(output, mask_features, next_size)
            predictions.append((logits, masks))
        return {
            "pred_logits": predictions[-1][0],
            "pred_masks": predictions[-1][1],
            "aux_outputs": [{"pred_logits": c, "pred_masks": m} for c, m in predictions[:-1]],
        }

    def _predict(self, output, mask_features, attn_size):
        decoded = self.decoder_norm(output)
        logits = self.class_embed(decoded)
        mask_embed = self.mask_embed(decoded)
        masks = torch.einsum("bqc,bchw->bqhw", mask_embed, mask_features)
        return logits, masks, masked_attention_mask(masks, attn_size)
