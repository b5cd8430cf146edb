"""Mask2Former's pixel decoder: a deformable-attention encoder over the coarse levels plus an
FPN-style top-down path to the mask-feature resolution.

Glossary: B images, C = ``conv_dim`` channels, L transformer levels (3: strides 8, 16, 32),
S = sum_l H_l * W_l tokens of those levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import Conv2d, MSDeformAttn, ShapeSpec, c2_xavier_fill, get_norm

from .position_encoding import PositionEmbeddingSine

__all__ = [
    "MSDeformAttnPixelDecoder",
    "MSDeformAttnTransformerEncoderLayer",
    "MSDeformAttnTransformerEncoderOnly",
]


class MSDeformAttnTransformerEncoderLayer(nn.Module):
    """Post-norm encoder layer: deformable self-attention, then a ReLU FFN.

    Args:
        d_model: channels C.
        d_ffn: FFN hidden width (Mask2Former hard-codes 1024; EVA uses 4096).
        dropout: dropout after attention and inside / after the FFN.
        n_levels, n_heads, n_points: of the deformable attention.
    """

    def __init__(
        self,
        d_model: int = 256,
        d_ffn: int = 1024,
        dropout: float = 0.0,
        n_levels: int = 3,
        n_heads: int = 8,
        n_points: int = 4,
    ) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor,
    ) -> torch.Tensor:
        """src, pos (Tensor[B, S, C]); reference_points (Tensor[B or 1, S, L, 2]) -> [B, S, C]."""
        ref = reference_points.expand(src.shape[0], -1, -1, -1)
        attn = self.self_attn(src + pos, ref, src, spatial_shapes, level_start_index)
        src = self.norm1(src + self.dropout1(attn))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class _Encoder(nn.Module):
    # A container, so parameter names read ``transformer.encoder.layers.N`` as in Mask2Former.
    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)


class MSDeformAttnTransformerEncoderOnly(nn.Module):
    """Deformable-attention encoder over several flattened feature levels.

    Every token queries all levels around its own pixel centre (the same normalized point on
    each level). No padding mask: the pixel decoder sees whole padded batches, as in
    Mask2Former.

    Args:
        d_model: channels C.
        nhead: attention heads.
        num_encoder_layers: number of layers (6).
        dim_feedforward: FFN hidden width.
        dropout: dropout rate.
        num_feature_levels: L.
        enc_n_points: sampling points per head and level.
    """

    def __init__(
        self,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
        num_feature_levels: int = 3,
        enc_n_points: int = 4,
    ) -> None:
        super().__init__()
        self.encoder = _Encoder(
            [
                MSDeformAttnTransformerEncoderLayer(
                    d_model, dim_feedforward, dropout, num_feature_levels, nhead, enc_n_points
                )
                for _ in range(num_encoder_layers)
            ]
        )
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MSDeformAttn):
                m._reset_parameters()
        nn.init.normal_(self.level_embed)

    @staticmethod
    def reference_points(shapes: Sequence[tuple[int, int]], device: torch.device) -> torch.Tensor:
        """Pixel centres ``((j + 0.5) / W_l, (i + 0.5) / H_l)`` of every level's tokens.

        Returns:
            Tensor[1, S, L, 2]: each token's point, repeated for the L levels it queries.
        """
        points = []
        for h, w in shapes:
            ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
            xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
            points.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), -1))
        points = torch.cat(points, 0)
        return points[None, :, None, :].expand(1, -1, len(shapes), 2)

    def forward(
        self, srcs: Sequence[torch.Tensor], pos_embeds: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the levels jointly.

        Args:
            srcs: L maps Tensor[B, C, H_l, W_l].
            pos_embeds: their position encodings, same shapes.

        Returns:
            memory (Tensor[B, S, C]), spatial_shapes (Tensor[L, 2] int64: H_l, W_l),
            level_start_index (Tensor[L] int64).
        """
        shapes = [tuple(src.shape[-2:]) for src in srcs]
        src_flat = torch.cat([src.flatten(2).transpose(1, 2) for src in srcs], 1)
        pos_flat = torch.cat(
            [
                pos.flatten(2).transpose(1, 2) + self.level_embed[lvl]
                for lvl, pos in enumerate(pos_embeds)
            ],
            1,
        )
        device = src_flat.device
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=device)
        sizes = spatial_shapes.prod(1)
        level_start_index = torch.cat((sizes.new_zeros(1), sizes.cumsum(0)[:-1]))
        ref = self.reference_points(shapes, device)
        out = src_flat
        for layer in self.encoder.layers:
            out = layer(out, pos_flat, ref, spatial_shapes, level_start_index)
        return out, spatial_shapes, level_start_index


class MSDeformAttnPixelDecoder(nn.Module):
    """Mask2Former's pixel decoder (Cheng et al., 2022, Sec. 3.2 / 4.1).

    The ``transformer_in_features`` (the coarsest maps, e.g. strides 8, 16, 32) are projected
    to ``conv_dim`` (1x1 conv + GroupNorm(32)), encoded jointly by a deformable-attention
    encoder with sine position encodings and level embeddings, then the finer input maps down
    to ``common_stride`` are added FPN-style (lateral 1x1 conv + upsampled coarser output, then
    a 3x3 conv). A 1x1 conv on the finest output gives the mask features. Computation runs in
    float32 even under autocast, as in Mask2Former.

    Parameter names follow Mask2Former (``input_proj``, ``transformer.encoder.layers``,
    ``adapter_1``, ``layer_1``, ``mask_features``).

    Args:
        input_shape: the backbone's outputs used (name -> ShapeSpec), e.g. ``p2``..``p5`` of a
            simple feature pyramid.
        transformer_in_features: names of the levels the encoder sees.
        conv_dim: channels C inside the decoder.
        mask_dim: channels of the mask features.
        norm: norm of the FPN convs ("GN": GroupNorm(32)); input projections always use GN.
        transformer_dropout: dropout of the encoder layers.
        transformer_nheads: heads of the deformable attention.
        transformer_dim_feedforward: encoder FFN width.
        transformer_enc_layers: number of encoder layers.
        transformer_n_points: sampling points per head and level.
        common_stride: stride of the mask features (4).
    """

    def __init__(
        self,
        *,
        input_shape: Mapping[str, ShapeSpec],
        transformer_in_features: Sequence[str],
        conv_dim: int = 256,
        mask_dim: int = 256,
        norm: str = "GN",
        transformer_dropout: float = 0.0,
        transformer_nheads: int = 8,
        transformer_dim_feedforward: int = 1024,
        transformer_enc_layers: int = 6,
        transformer_n_points: int = 4,
        common_stride: int = 4,
    ) -> None:
        super().__init__()
        missing = [f for f in transformer_in_features if f not in input_shape]
        if missing:
            raise KeyError(
                f"MSDeformAttnPixelDecoder: transformer_in_features {missing} are not in "
                f"input_shape (has {sorted(input_shape)})"
            )
        by_stride = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [name for name, _ in by_stride]
        strides = {name: spec.stride for name, spec in by_stride}
        transformer_in = sorted(transformer_in_features, key=lambda f: strides[f])
        # Coarse to fine, the order of the encoder levels and of the decoder's scales.
        self.transformer_in_features = transformer_in[::-1]
        self.num_feature_levels = len(self.transformer_in_features)
        self.common_stride = common_stride

        self.input_proj = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(input_shape[f].channels, conv_dim, kernel_size=1),
                nn.GroupNorm(32, conv_dim),
            )
            for f in self.transformer_in_features
        )
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
        self.transformer = MSDeformAttnTransformerEncoderOnly(
            d_model=conv_dim,
            nhead=transformer_nheads,
            num_encoder_layers=transformer_enc_layers,
            dim_feedforward=transformer_dim_feedforward,
            dropout=transformer_dropout,
            num_feature_levels=self.num_feature_levels,
            enc_n_points=transformer_n_points,
        )
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)
        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=1)
        c2_xavier_fill(self.mask_features)

        min_stride = min(strides[f] for f in self.transformer_in_features)
        self.num_fpn_levels = int(math.log2(min_stride) - math.log2(common_stride))
        fpn_features = [f for f in self.in_features if strides[f] < min_stride]
        if len(fpn_features) < self.num_fpn_levels:
            raise ValueError(
                f"MSDeformAttnPixelDecoder: common_stride {common_stride} needs "
                f"{self.num_fpn_levels} input maps finer than stride {min_stride}; got "
                f"{fpn_features}"
            )
        # Fine to coarse; built coarse-first so the names adapter_1 / layer_1 are the coarsest.
        self.fpn_in_features = fpn_features[-self.num_fpn_levels :] if self.num_fpn_levels else []
        use_bias = norm == ""
        self.lateral_convs: list[Conv2d] = []
        self.output_convs: list[Conv2d] = []
        for idx, name in enumerate(self.fpn_in_features[::-1]):
            lateral = Conv2d(
                input_shape[name].channels,
                conv_dim,
                kernel_size=1,
                bias=use_bias,
                norm=get_norm(norm, conv_dim),
            )
            output = Conv2d(
                conv_dim,
                conv_dim,
                kernel_size=3,
                padding=1,
                bias=use_bias,
                norm=get_norm(norm, conv_dim),
                activation=F.relu,
            )
            c2_xavier_fill(lateral)
            c2_xavier_fill(output)
            self.add_module(f"adapter_{idx + 1}", lateral)
            self.add_module(f"layer_{idx + 1}", output)
            self.lateral_convs.append(lateral)
            self.output_convs.append(output)

    def forward_features(
        self, features: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Decode backbone features.

        Args:
            features: name -> Tensor[B, C_in, H / stride, W / stride], at least the
                ``input_shape`` names.

        Returns:
            mask_features (Tensor[B, mask_dim, H / common_stride, W / common_stride]);
            the encoder output at the coarsest level (Tensor[B, C, H_0, W_0]);
            multi_scale_features: the L encoder outputs, coarse to fine, each
            Tensor[B, C, H_l, W_l] (Mask2Former's decoder reads them round-robin).
        """
        device_type = next(iter(features.values())).device.type
        with torch.autocast(device_type=device_type, enabled=False):
            srcs, pos = [], []
            for proj, name in zip(self.input_proj, self.transformer_in_features):
                x = features[name].float()
                srcs.append(proj(x))
                pos.append(self.pe_layer(x))
            memory, spatial_shapes, level_start_index = self.transformer(srcs, pos)
            b = memory.shape[0]
            out = [
                level.transpose(1, 2).reshape(b, -1, int(h), int(w))
                for level, (h, w) in zip(
                    memory.split(spatial_shapes.prod(1).tolist(), dim=1), spatial_shapes.tolist()
                )
            ]
            for lateral, output, name in zip(
                self.lateral_convs, self.output_convs, self.fpn_in_features[::-1]
            ):
                y = lateral(features[name].float())
                y = y + F.interpolate(
                    out[-1], size=y.shape[-2:], mode="bilinear", align_corners=False
                )
                out.append(output(y))
            multi_scale_features = out[: self.num_feature_levels]
            return self.mask_features(out[-1]), out[0], multi_scale_features
