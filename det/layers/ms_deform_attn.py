"""Multi-scale deformable attention (Zhu et al., "Deformable DETR", 2021) in pure PyTorch.

Glossary: N images, Lq queries, S = sum_l H_l * W_l value tokens over L levels, M heads of
width D (C = M * D channels), P sampling points per head and level.

Each query gathers, for every head, P bilinear samples on every level around its reference
point and sums them with softmax weights (over the L * P samples of that head):

    out[n, q, m] = sum_{l, p} A[n, q, m, l, p] * bilinear(V_l[n, m], s[n, q, m, l, p])

Bilinear sampling follows ``grid_sample(align_corners=False, padding_mode="zeros")``: location
(0, 0) is the top-left corner of the map, (1, 1) the bottom-right one, pixel centres lie at
``(i + 0.5) / W`` and everything outside the map reads 0.

Why not the reference fallback: Deformable DETR's pure-PyTorch path stacks the samples of all
levels into a [N * M, D, Lq, L * P] tensor, multiplies it by the weights (a second tensor that
large) and keeps the stack alive for the backward pass. Here each level is sampled with one
``grid_sample`` call over all heads and points, reduced with its weights at once, and nothing
that large is saved for backward: the backward pass samples again, level by level, as the
CUDA kernel of the paper does. ``benchmarks/ms_deform_attn.py`` measures time and peak memory
against the reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["MSDeformAttn", "ms_deform_attn"]


def _sample_level(value: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """[B, D, H, W] x [B, Lq, P, 2] in [-1, 1] -> [B, D, Lq, P]."""
    return F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _level_maps(value: torch.Tensor, shapes: list[tuple[int, int]], starts: list[int]):
    return [value[:, :, s : s + h * w].unflatten(-1, (h, w)) for (h, w), s in zip(shapes, starts)]


class _MSDeformAttnFunction(torch.autograd.Function):
    """Weighted multi-level sampling whose backward recomputes the samples.

    Inputs are laid out per (image, head) pair B = N * M: value [B, D, S], grids
    [B, L, Lq, P, 2] in [-1, 1] (x, y), weights [B, L, Lq, P]; output [B, D, Lq].
    """

    @staticmethod
    def forward(ctx, value, grids, weights, shapes, starts):
        ctx.shapes, ctx.starts = shapes, starts
        ctx.save_for_backward(value, grids, weights)
        out = None
        for level, v in enumerate(_level_maps(value, shapes, starts)):
            sampled = _sample_level(v, grids[:, level])
            part = (sampled * weights[:, level, None]).sum(-1)
            out = part if out is None else out.add_(part)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        value, grids, weights = ctx.saved_tensors
        need_value, need_grids, need_weights = ctx.needs_input_grad[:3]
        grad_value = torch.zeros_like(value) if need_value else None
        grad_grids = torch.zeros_like(grids) if need_grids else None
        grad_weights = torch.zeros_like(weights) if need_weights else None
        for level, v in enumerate(_level_maps(value, ctx.shapes, ctx.starts)):
            with torch.enable_grad():
                v = v.detach().requires_grad_(need_value)
                g = grids[:, level].detach().requires_grad_(need_grids)
                sampled = _sample_level(v, g)
            if need_weights:
                grad_weights[:, level] = (sampled.detach() * grad_out[..., None]).sum(1)
            inputs = [t for t, need in ((v, need_value), (g, need_grids)) if need]
            if not inputs:
                continue
            grads = torch.autograd.grad(
                sampled, inputs, grad_out[..., None] * weights[:, level, None]
            )
            grads = list(grads)
            if need_value:
                h, w = ctx.shapes[level]
                start = ctx.starts[level]
                grad_value[:, :, start : start + h * w] = grads.pop(0).flatten(2)
            if need_grids:
                grad_grids[:, level] = grads.pop(0)
        return grad_value, grad_grids, grad_weights, None, None


def ms_deform_attn(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Multi-scale deformable attention core: weighted bilinear samples of multi-level values.

    Args:
        value (Tensor[N, S, M, D]): per-head values of all levels, flattened row-major per
            level and concatenated in level order.
        spatial_shapes (Tensor[L, 2] int64): (H_l, W_l) of each level.
        level_start_index (Tensor[L] int64): offset of each level in S
            (``[0, H_0 * W_0, ...]``).
        sampling_locations (Tensor[N, Lq, M, L, P, 2]): (x, y) normalized to [0, 1] per level
            (0 and 1 are the map borders); locations outside read zeros.
        attention_weights (Tensor[N, Lq, M, L, P]): weight of every sample (usually a softmax
            over L * P per head).

    Returns:
        Tensor[N, Lq, M * D]: heads concatenated along channels.
    """
    n, s, m, d = value.shape
    _, lq, _, num_levels, p, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    starts = [int(x) for x in level_start_index.tolist()]
    if len(shapes) != num_levels or sum(h * w for h, w in shapes) != s:
        raise ValueError(
            f"ms_deform_attn: spatial_shapes {shapes} do not match value with S={s} tokens "
            f"and sampling_locations with L={num_levels} levels"
        )
    value = value.permute(0, 2, 3, 1).reshape(n * m, d, s)
    grids = (2 * sampling_locations.to(value.dtype) - 1).permute(0, 2, 3, 1, 4, 5)
    grids = grids.reshape(n * m, num_levels, lq, p, 2)
    weights = attention_weights.to(value.dtype).permute(0, 2, 3, 1, 4)
    weights = weights.reshape(n * m, num_levels, lq, p)
    out = _MSDeformAttnFunction.apply(value, grids, weights, shapes, starts)
    return out.view(n, m, d, lq).permute(0, 3, 1, 2).reshape(n, lq, m * d)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (Deformable DETR's ``MSDeformAttn``).

    Offsets and weights are linear functions of the query; offsets are in pixels of each level.
    Parameter names and the initialization (sampling directions spread over a circle per head,
    point p at distance p + 1; uniform attention; xavier value/output projections) follow the
    reference, so its checkpoints load as they are.

    Args:
        d_model: channels C.
        n_levels: L, feature levels attended.
        n_heads: M; ``d_model`` must be divisible by it.
        n_points: P, samples per head and level.
        ratio: value width relative to ``d_model`` (ViT-Adapter's ``deform_ratio``): the
            values are projected to ``int(d_model * ratio)`` channels, split into M heads,
            and ``output_proj`` maps them back to ``d_model``. 1.0 is Deformable DETR's module.
    """

    def __init__(
        self,
        d_model: int = 256,
        n_levels: int = 4,
        n_heads: int = 8,
        n_points: int = 4,
        ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(
                f"MSDeformAttn: d_model {d_model} must be divisible by n_heads {n_heads}"
            )
        value_dim = int(d_model * ratio)
        if value_dim <= 0 or value_dim % n_heads != 0:
            raise ValueError(
                f"MSDeformAttn: the value width int(d_model * ratio) = int({d_model} * {ratio}) "
                f"= {value_dim} must be a positive multiple of n_heads {n_heads}"
            )
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.ratio = ratio
        self.value_dim = value_dim
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, value_dim)
        self.output_proj = nn.Linear(value_dim, d_model)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        directions = torch.stack([thetas.cos(), thetas.sin()], -1)
        # Scaled so the larger coordinate is 1: the first point sits on the 8-neighbourhood ring.
        directions = directions / directions.abs().max(-1, keepdim=True)[0]
        distance = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        grid = directions.view(self.n_heads, 1, 1, 2) * distance
        grid = grid.expand(self.n_heads, self.n_levels, self.n_points, 2)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        input_spatial_shapes: torch.Tensor,
        input_level_start_index: torch.Tensor,
        input_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from every query to P points per head on each level.

        Args:
            query (Tensor[N, Lq, C]): query features (with their position embedding).
            reference_points (Tensor[N, Lq, L, 2]): (x, y) in [0, 1] per level.
            input_flatten (Tensor[N, S, C]): features of all levels, flattened and concatenated.
            input_spatial_shapes (Tensor[L, 2] int64): (H_l, W_l).
            input_level_start_index (Tensor[L] int64): start of each level in S.
            input_padding_mask (Tensor[N, S] bool | None): True at padded positions, whose
                values are zeroed before sampling.

        Returns:
            Tensor[N, Lq, C].
        """
        n, lq, _ = query.shape
        _, s, _ = input_flatten.shape
        if reference_points.shape[-1] != 2 or reference_points.shape[2] != self.n_levels:
            raise ValueError(
                "MSDeformAttn: reference_points must be [N, Lq, n_levels, 2] with n_levels="
                f"{self.n_levels}; got {tuple(reference_points.shape)}"
            )
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(n, s, self.n_heads, self.value_dim // self.n_heads)
        shape = (n, lq, self.n_heads, self.n_levels, self.n_points)
        offsets = self.sampling_offsets(query).view(*shape, 2)
        weights = self.attention_weights(query).view(n, lq, self.n_heads, -1).softmax(-1)
        weights = weights.view(shape)
        # Offsets are in pixels of each level: divide by (W_l, H_l).
        normalizer = input_spatial_shapes.flip(-1).to(offsets.dtype)
        locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[:, None, :]
        out = ms_deform_attn(
            value, input_spatial_shapes, input_level_start_index, locations, weights
        )
        return self.output_proj(out)
