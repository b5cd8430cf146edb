"""ViT-Adapter (Chen et al., "Vision Transformer Adapter for Dense Predictions", ICLR 2023).

A plain ViT (BEiT, EVA-01, CAE, DeiT/AugReg; any backbone of the segmentation-ViT contract:
``tokens``, ``run_blocks``, ``blocks``, ``embed_dim``, ``patch_size``) gets a convolutional
spatial prior (strides 8/16/32) that is injected into the ViT tokens before each span of
blocks and updated from them afterwards with deformable attention; the result is a 4-level
pyramid at strides 4/8/16/32 with the ViT's width D.

Parameter names: the wrapped ViT lives under ``vit.``; the adapter's modules keep the names of
the published checkpoints (``level_embed``, ``spm.*``, ``interactions.{i}.injector.*``,
``interactions.{i}.extractor.*``, ``interactions.{i}.extra_extractors.{k}.*``, ``up``,
``norm1..norm4``). A released ViT-Adapter / EVA-01 checkpoint therefore maps as
``backbone.<adapter module>.* -> backbone.<same>.*`` and every other ``backbone.X`` to
``backbone.vit.X``.

The two published flavours differ only in how they are built:

* ViT-Adapter: the ViT's ``tokens`` interpolates its position embedding to the input grid
  (DeiT/AugReg) or has none (BEiT with relative position bias); the injector's ``gamma``
  starts at the ViT's layer-scale value (``init_values=1e-6`` for BEiT-L, 0 for DeiT).
  DeiT/AugReg adapters run without a cls token (build the ViT without one); BEiT keeps it.
* EVA-01: ``init_values=0`` (EVA's ``inj_init_values``), a ViT whose position embedding is
  added without interpolation (896 x 896 inputs only) and whose cls token gets none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import MSDeformAttn, get_norm
from det.utils.errors import UserError

from ..backbone import Backbone
from .geometry import adapter_deform_inputs
from .interaction import InteractionBlock
from .spatial_prior import SpatialPriorModule

__all__ = ["ViTAdapter", "ViTAdapterConfigError"]

# Strides of the spatial-prior levels the adapter aligns with the stride-16 ViT grid.
_SIZE_DIVISIBILITY = 32
_NUM_OUTPUTS = 4


class ViTAdapterConfigError(UserError, ValueError):
    """A ViTAdapter argument or input that cannot work; the message names it."""


def _check_interaction_indexes(indexes: Sequence[Sequence[int]], depth: int) -> list[tuple]:
    spans = [tuple(int(i) for i in span) for span in indexes]
    per = depth // _NUM_OUTPUTS
    example = [[k * per, (k + 1) * per - 1] for k in range(_NUM_OUTPUTS)] if per else None
    problem = None
    if not spans:
        problem = "is empty"
    expected_start = 0
    for span in spans:
        if problem:
            break
        if len(span) != 2 or span[0] != expected_start or span[1] < span[0] or span[1] >= depth:
            problem = f"has {list(span)} where [{expected_start}, end] with end < {depth} was due"
        expected_start = span[1] + 1
    if not problem and expected_start != depth:
        problem = f"stops at block {expected_start - 1}; the last span must end at {depth - 1}"
    if problem:
        raise ViTAdapterConfigError(
            f"ViTAdapter: interaction_indexes={[list(s) for s in spans]} {problem}. Expected "
            f"consecutive inclusive [start, end] block spans covering blocks 0..{depth - 1} of "
            f"the wrapped ViT in order, e.g. {example}."
        )
    return spans


def _init_adapter_weights(module: nn.Module) -> None:
    # ViT-Adapter's _init_weights: truncated-normal linears, He-normal convs (fan out).
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        fan_out //= module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _run_span(
    vit: nn.Module, hw: tuple[int, int], start: int, end: int, x: torch.Tensor
) -> torch.Tensor:
    return vit.run_blocks(x, hw, start, end)


class ViTAdapter(Backbone):
    """Spatial prior + injector/extractor interactions around a plain ViT.

    Args:
        vit: the ViT backbone (patch size 16) to wrap, ready-built; its blocks run in spans.
        interaction_indexes: inclusive [start, end] block spans, one per interaction,
            consecutive and covering all blocks (e.g. ``[[0, 5], [6, 11], [12, 17], [18, 23]]``
            for 24 blocks); exactly 4 spans when ``add_vit_feature``.
        conv_inplane: base width of the spatial prior module.
        n_points: deformable-attention points per head and level.
        deform_num_heads: deformable-attention heads; must divide D and the value width.
        deform_ratio: value width of the deformable attentions relative to D; the value
            width ``int(D * deform_ratio)`` must be divisible by ``deform_num_heads``.
        init_values: initial value of the injectors' ``gamma`` (ViT-Adapter: the ViT's
            layer-scale init; EVA-01: ``inj_init_values`` = 0).
        with_cffn: extractors with ConvFFN.
        cffn_ratio: ConvFFN hidden width ratio.
        drop_path_rate: stochastic depth of every ConvFFN branch (the published models pass
            the ViT's ``drop_path_rate``, the same for all interactions).
        add_vit_feature: add the ViT map after interaction i (resized to the level) to output
            level i.
        use_extra_extractor: run 2 more extractors in the last interaction.
        with_cp: activation checkpointing of injectors and extractors (set the ViT's own
            ``use_act_checkpoint`` for its blocks).
        norm: normalization of the spatial prior module and of the four outputs (``norm1..4``),
            a :func:`det.layers.get_norm` name or callable; "SyncBN" as published.

    Outputs ``res2..res5`` (strides 4, 8, 16, 32), each with D channels.
    """

    def __init__(
        self,
        vit: Backbone,
        *,
        interaction_indexes: Sequence[Sequence[int]],
        conv_inplane: int = 64,
        n_points: int = 4,
        deform_num_heads: int = 6,
        deform_ratio: float = 1.0,
        init_values: float = 0.0,
        with_cffn: bool = True,
        cffn_ratio: float = 0.25,
        drop_path_rate: float = 0.0,
        add_vit_feature: bool = True,
        use_extra_extractor: bool = True,
        with_cp: bool = False,
        norm: str | Callable[[int], nn.Module] = "SyncBN",
    ) -> None:
        super().__init__()
        patch_size = getattr(vit, "patch_size", None)
        if patch_size != 16:
            raise ViTAdapterConfigError(
                f"ViTAdapter: vit.patch_size={patch_size}; expected 16 (the ViT grid is the "
                "adapter's stride-16 level)"
            )
        dim = int(vit.embed_dim)
        depth = len(vit.blocks)
        self.interaction_indexes = _check_interaction_indexes(interaction_indexes, depth)
        if add_vit_feature and len(self.interaction_indexes) != _NUM_OUTPUTS:
            raise ViTAdapterConfigError(
                f"ViTAdapter: add_vit_feature=True needs exactly {_NUM_OUTPUTS} interaction spans "
                f"(one ViT map per output level); interaction_indexes has "
                f"{len(self.interaction_indexes)}"
            )
        value_dim = int(dim * deform_ratio)
        if dim % deform_num_heads or value_dim <= 0 or value_dim % deform_num_heads:
            divisors = [r for r in (0.25, 0.5, 1.0) if int(dim * r) % deform_num_heads == 0]
            raise ViTAdapterConfigError(
                f"ViTAdapter: deform_num_heads={deform_num_heads} must divide both the ViT width "
                f"{dim} and the value width int({dim} * deform_ratio={deform_ratio}) = "
                f"{value_dim}; expected a deform_ratio in {divisors} or a deform_num_heads "
                f"dividing {math.gcd(dim, value_dim) if value_dim > 0 else dim}"
            )
        self.vit = vit
        self.add_vit_feature = add_vit_feature
        self.level_embed = nn.Parameter(torch.zeros(3, dim))
        self.spm = SpatialPriorModule(conv_inplane, dim, norm=norm)
        last = len(self.interaction_indexes) - 1
        self.interactions = nn.ModuleList(
            InteractionBlock(
                dim,
                deform_num_heads,
                n_points,
                deform_ratio,
                init_values,
                with_cffn=with_cffn,
                cffn_ratio=cffn_ratio,
                drop_path=drop_path_rate,
                num_extra_extractors=2 if (use_extra_extractor and i == last) else 0,
                with_cp=with_cp,
            )
            for i in range(len(self.interaction_indexes))
        )
        self.up = nn.ConvTranspose2d(dim, dim, 2, 2)
        self.norm1 = get_norm(norm, dim)
        self.norm2 = get_norm(norm, dim)
        self.norm3 = get_norm(norm, dim)
        self.norm4 = get_norm(norm, dim)

        for module in (self.up, self.spm, self.interactions):
            module.apply(_init_adapter_weights)
        for module in self.interactions.modules():
            if isinstance(module, MSDeformAttn):
                module._reset_parameters()
        nn.init.normal_(self.level_embed)

        self._out_features = ["res2", "res3", "res4", "res5"]
        self._out_feature_channels = {name: dim for name in self._out_features}
        self._out_feature_strides = dict(zip(self._out_features, (4, 8, 16, 32)))

    @property
    def size_divisibility(self) -> int:
        """Input H and W must be multiples of 32 (and of what the ViT needs)."""
        return self.padding_constraints["size_divisibility"]

    @property
    def padding_constraints(self) -> dict[str, int]:
        """The ViT's constraints, with ``size_divisibility`` a multiple of 32."""
        constraints = dict(self.vit.padding_constraints)
        vit_div = constraints.get("size_divisibility", self.vit.size_divisibility) or 1
        constraints["size_divisibility"] = math.lcm(_SIZE_DIVISIBILITY, vit_div)
        return constraints

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the pyramid.

        Args:
            x (Tensor[B, 3, H, W]): normalized images, H and W multiples of 32.

        Returns:
            ``{"res2": Tensor[B, D, H/4, W/4], "res3": [.., H/8, W/8], "res4": [.., H/16, W/16],
            "res5": [.., H/32, W/32]}``.
        """
        b, _, height, width = x.shape
        if height % _SIZE_DIVISIBILITY or width % _SIZE_DIVISIBILITY:
            raise ViTAdapterConfigError(
                f"ViTAdapter: input size {height}x{width} is not a multiple of "
                f"{_SIZE_DIVISIBILITY}; pad images to a multiple of {_SIZE_DIVISIBILITY} "
                f"(size_divisibility={self.size_divisibility}) or crop to one"
            )
        dtype = x.dtype if x.dtype.is_floating_point else torch.float32
        injector_geometry, extractor_geometry = adapter_deform_inputs(
            height, width, x.device, dtype
        )
        pyramid_shapes = [(height // s, width // s) for s in (8, 16, 32)]

        c1, c2, c3, c4 = self.spm(x)
        sizes = [c2.shape[1], c3.shape[1], c4.shape[1]]
        c = torch.cat(
            [c2 + self.level_embed[0], c3 + self.level_embed[1], c4 + self.level_embed[2]], 1
        )

        tokens, cls, hw = self.vit.tokens(x)
        vit_maps = []
        for block, (start, end) in zip(self.interactions, self.interaction_indexes):
            # Positional, as the ViT contract states ``run_blocks(x, hw, start, end)``.
            run_blocks = partial(_run_span, self.vit, hw, start, end + 1)
            tokens, c, cls = block(
                tokens, c, cls, run_blocks, injector_geometry, extractor_geometry, pyramid_shapes
            )
            if self.add_vit_feature:
                vit_maps.append(tokens.transpose(1, 2).reshape(b, -1, *hw))

        dim = c.shape[-1]
        c2, c3, c4 = (
            part.transpose(1, 2).reshape(b, dim, *shape)
            for part, shape in zip(c.split(sizes, dim=1), pyramid_shapes)
        )
        c1 = self.up(c2) + c1
        if self.add_vit_feature:
            x1, x2, x3, x4 = vit_maps
            resize = partial(F.interpolate, mode="bilinear", align_corners=False)
            c1 = c1 + resize(x1, scale_factor=4)
            c2 = c2 + resize(x2, scale_factor=2)
            c3 = c3 + x3
            c4 = c4 + resize(x4, scale_factor=0.5)
        norms = (self.norm1, self.norm2, self.norm3, self.norm4)
        return {
            name: norm(feat)
            for name, norm, feat in zip(self._out_features, norms, (c1, c2, c3, c4))
        }
