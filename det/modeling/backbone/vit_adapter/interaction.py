"""ViT-Adapter's interaction modules: injector (prior -> ViT) and extractor (ViT -> prior).

Glossary: B images, D channels (the ViT width), N = h * w ViT tokens, Nc pyramid tokens
(c2, c3, c4 at strides 8, 16, 32 concatenated; see :mod:`.geometry`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.utils.checkpoint as cp
from torch import nn

from det.layers import DropPath, MSDeformAttn

from .geometry import DeformInputs

__all__ = ["ConvFFN", "DWConv", "Extractor", "Injector", "InteractionBlock"]

# ViT-Adapter (and EVA) build every adapter LayerNorm with the ViT's norm layer, which is
# LayerNorm(eps=1e-6) in all the wrapped models.
_LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def _checkpointed(fn: Callable, enabled: bool, query: torch.Tensor, feat: torch.Tensor):
    # As ViT-Adapter: only recompute when a backward pass will need the activations.
    if enabled and torch.is_grad_enabled() and query.requires_grad:
        return cp.checkpoint(fn, query, feat, use_reentrant=False)
    return fn(query, feat)


class DWConv(nn.Module):
    """Depthwise 3x3 conv applied to each pyramid level's token map, weights shared.

    Args:
        dim: channels.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Args:
            x (Tensor[B, Nc, C]): tokens of the levels in ``shapes`` order, row-major each.
            shapes: (H_l, W_l) of the levels; sum of H_l * W_l is Nc.

        Returns:
            Tensor[B, Nc, C].
        """
        parts = x.split([h * w for h, w in shapes], dim=1)
        out = [
            self.dwconv(p.transpose(1, 2).unflatten(2, hw)).flatten(2).transpose(1, 2)
            for p, hw in zip(parts, shapes)
        ]
        return torch.cat(out, dim=1)


class ConvFFN(nn.Module):
    """Linear -> DWConv -> GELU -> Dropout -> Linear -> Dropout over pyramid tokens.

    Args:
        dim: input and output channels D.
        hidden_dim: hidden channels (``int(D * cffn_ratio)``).
        drop: dropout probability.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = DWConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Tensor[B, Nc, D] -> Tensor[B, Nc, D]; ``shapes`` as in :class:`DWConv`."""
        x = self.drop(self.act(self.dwconv(self.fc1(x), shapes)))
        return self.drop(self.fc2(x))


class Injector(nn.Module):
    """``x + gamma * MSDeformAttn(LN(x), LN(c))``: ViT tokens attend to the 3 pyramid levels.

    Args:
        dim: D.
        num_heads: deformable-attention heads (``deform_num_heads``).
        n_points: sampling points per head and level.
        deform_ratio: value width ratio of the attention.
        init_values: initial value of every entry of the learnable per-channel ``gamma``.
        with_cp: recompute the block in the backward pass instead of storing activations.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        n_points: int,
        deform_ratio: float,
        init_values: float,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.query_norm = _LayerNorm(dim)
        self.feat_norm = _LayerNorm(dim)
        self.attn = MSDeformAttn(
            dim, n_levels=3, n_heads=num_heads, n_points=n_points, ratio=deform_ratio
        )
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor, c: torch.Tensor, geometry: DeformInputs) -> torch.Tensor:
        """Args:
            x (Tensor[B, N, D]): ViT patch tokens (queries).
            c (Tensor[B, Nc, D]): pyramid tokens (values).
            geometry: the injector's reference points and levels.

        Returns:
            Tensor[B, N, D].
        """

        def inner(query: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
            attn = self.attn(
                self.query_norm(query),
                geometry.reference_points,
                self.feat_norm(feat),
                geometry.spatial_shapes,
                geometry.level_start_index,
            )
            return query + self.gamma * attn

        return _checkpointed(inner, self.with_cp, x, c)


class Extractor(nn.Module):
    """``c + MSDeformAttn(LN(c), LN(x))``, then ``c + DropPath(ConvFFN(LN(c)))``.

    Args:
        dim: D.
        num_heads: deformable-attention heads.
        n_points: sampling points per head.
        deform_ratio: value width ratio of the attention.
        with_cffn: add the ConvFFN step.
        cffn_ratio: ConvFFN hidden width ``int(D * cffn_ratio)``.
        drop: dropout inside the ConvFFN.
        drop_path: stochastic-depth probability of the ConvFFN branch.
        with_cp: recompute the block in the backward pass instead of storing activations.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        n_points: int,
        deform_ratio: float,
        with_cffn: bool = True,
        cffn_ratio: float = 0.25,
        drop: float = 0.0,
        drop_path: float = 0.0,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.with_cffn = with_cffn
        self.query_norm = _LayerNorm(dim)
        self.feat_norm = _LayerNorm(dim)
        self.attn = MSDeformAttn(
            dim, n_levels=1, n_heads=num_heads, n_points=n_points, ratio=deform_ratio
        )
        if with_cffn:
            self.ffn = ConvFFN(dim, int(dim * cffn_ratio), drop=drop)
            self.ffn_norm = _LayerNorm(dim)
            self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(
        self,
        c: torch.Tensor,
        x: torch.Tensor,
        geometry: DeformInputs,
        pyramid_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """Args:
            c (Tensor[B, Nc, D]): pyramid tokens (queries).
            x (Tensor[B, N, D]): ViT patch tokens (values).
            geometry: the extractor's reference points and level.
            pyramid_shapes: the (H_l, W_l) of c2, c3, c4, for the ConvFFN.

        Returns:
            Tensor[B, Nc, D].
        """

        def inner(query: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
            query = query + self.attn(
                self.query_norm(query),
                geometry.reference_points,
                self.feat_norm(feat),
                geometry.spatial_shapes,
                geometry.level_start_index,
            )
            if self.with_cffn:
                query = query + self.drop_path(self.ffn(self.ffn_norm(query), pyramid_shapes))
            return query

        return _checkpointed(inner, self.with_cp, c, x)


class InteractionBlock(nn.Module):
    """One interaction: inject, run a span of ViT blocks, extract (plus extra extractors).

    Args:
        dim: D.
        num_heads: deformable-attention heads.
        n_points: sampling points per head and level.
        deform_ratio: value width ratio of the attentions.
        init_values: the injector's initial ``gamma``.
        with_cffn: extractors with ConvFFN.
        cffn_ratio: ConvFFN hidden width ratio.
        drop: ConvFFN dropout.
        drop_path: ConvFFN stochastic depth.
        num_extra_extractors: extractors run after the first one (2 on the last interaction
            of the published models, else 0); named ``extra_extractors.{k}``.
        with_cp: activation checkpointing of the injector and every extractor.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        n_points: int,
        deform_ratio: float,
        init_values: float,
        with_cffn: bool,
        cffn_ratio: float,
        drop: float = 0.0,
        drop_path: float = 0.0,
        num_extra_extractors: int = 0,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.injector = Injector(dim, num_heads, n_points, deform_ratio, init_values, with_cp)
        extractor = partial(
            Extractor,
            dim,
            num_heads,
            n_points,
            deform_ratio,
            with_cffn=with_cffn,
            cffn_ratio=cffn_ratio,
            drop=drop,
            drop_path=drop_path,
            with_cp=with_cp,
        )
        self.extractor = extractor()
        self.extra_extractors = (
            nn.ModuleList(extractor() for _ in range(num_extra_extractors))
            if num_extra_extractors
            else None
        )

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        cls: torch.Tensor | None,
        run_blocks: Callable[[torch.Tensor], torch.Tensor],
        injector_geometry: DeformInputs,
        extractor_geometry: DeformInputs,
        pyramid_shapes: list[tuple[int, int]],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Args:
            x (Tensor[B, N, D]): ViT patch tokens.
            c (Tensor[B, Nc, D]): pyramid tokens.
            cls (Tensor[B, 1, D] | None): the ViT's cls token, if it has one; it joins the ViT
                blocks (first) but neither the injector nor the extractor.
            run_blocks: runs this interaction's ViT blocks, Tensor[B, T, D] -> same.
            injector_geometry, extractor_geometry: from :func:`.adapter_deform_inputs`.
            pyramid_shapes: (H_l, W_l) of c2, c3, c4.

        Returns:
            (x, c, cls) after the interaction, same shapes.
        """
        x = self.injector(x, c, injector_geometry)
        if cls is None:
            x = run_blocks(x)
        else:
            x = run_blocks(torch.cat((cls, x), dim=1))
            cls, x = x[:, :1], x[:, 1:]
        c = self.extractor(c, x, extractor_geometry, pyramid_shapes)
        for extractor in self.extra_extractors or ():
            c = extractor(c, x, extractor_geometry, pyramid_shapes)
        return x, c, cls
