"""Simple feature pyramid (ViTDet): multi-scale maps from a single-scale plain-ViT output."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import Conv2d, c2_xavier_fill, get_norm

from .backbone import Backbone

__all__ = ["LastLevelMaxPool", "SimpleFeaturePyramid"]


class LastLevelMaxPool(nn.Module):
    """Adds one coarser level (e.g. ``p6``) by subsampling the last level with stride 2.

    Attributes:
        num_levels: number of levels added (1).
        in_feature: name of the feature it reads ("p5").
    """

    def __init__(self) -> None:
        super().__init__()
        self.num_levels = 1
        self.in_feature = "p5"

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Tensor[B, C, H, W] -> [Tensor[B, C, ceil(H / 2), ceil(W / 2)]]."""
        return [F.max_pool2d(x, kernel_size=1, stride=2, padding=0)]


class SimpleFeaturePyramid(Backbone):
    """Build ``p{log2(stride)}`` maps from one ViT feature map (Li et al., 2022, Fig. 2c).

    For each scale factor: 4 -> two stride-2 transposed convs (with norm + GELU between),
    2 -> one transposed conv, 1 -> identity, 0.5 -> 2x2 max-pool; then a 1x1 conv to
    ``out_channels`` and a 3x3 conv, each followed by the norm and no activation. Stages are
    registered as ``simfp_{log2(stride)}`` (``simfp_2`` ... ``simfp_5``), before ``net``, so
    state-dict keys and their order match ViTDet / EVA-02 checkpoints.

    Args:
        net: a single-output backbone (``ViT`` / ``ViTMAE``).
        in_feature: name of ``net``'s output to use ("last_feat").
        out_channels: channels of every pyramid level (256).
        scale_factors: upsampling factor of each level relative to ``net``'s stride.
        top_block: optional module adding coarser levels (``LastLevelMaxPool`` for ``p6``);
            it reads ``top_block.in_feature`` from the pyramid (or from ``net``'s outputs).
        norm: norm name for :func:`det.layers.get_norm`; "" means no norm and conv biases.
        square_pad: pad inputs to this square side (0: no square padding). Global attention
            with RoPE needs exactly ``img_size``.
    """

    def __init__(
        self,
        net: Backbone,
        in_feature: str,
        out_channels: int,
        scale_factors: Sequence[float],
        top_block: nn.Module | None = None,
        norm: str = "LN",
        square_pad: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(net, Backbone):
            raise TypeError(f"SimpleFeaturePyramid: net must be a Backbone, got {type(net)}")
        input_shapes = net.output_shape()
        if in_feature not in input_shapes:
            raise KeyError(
                f"SimpleFeaturePyramid: in_feature {in_feature!r} is not an output of net "
                f"(outputs: {sorted(input_shapes)})"
            )
        self.scale_factors = tuple(scale_factors)
        in_stride = input_shapes[in_feature].stride
        dim = input_shapes[in_feature].channels
        strides = [int(in_stride / scale) for scale in self.scale_factors]
        use_bias = norm == ""

        self.stages: list[nn.Sequential] = []
        for scale, stride in zip(self.scale_factors, strides):
            layers, out_dim = _rescale_layers(scale, dim, norm)
            layers.extend(
                [
                    Conv2d(
                        out_dim,
                        out_channels,
                        kernel_size=1,
                        bias=use_bias,
                        norm=get_norm(norm, out_channels),
                    ),
                    Conv2d(
                        out_channels,
                        out_channels,
                        kernel_size=3,
                        padding=1,
                        bias=use_bias,
                        norm=get_norm(norm, out_channels),
                    ),
                ]
            )
            stage = nn.Sequential(*layers)
            for layer in layers[-2:]:
                c2_xavier_fill(layer)
            self.add_module(f"simfp_{int(math.log2(stride))}", stage)
            self.stages.append(stage)

        self.net = net
        self.in_feature = in_feature
        self.top_block = top_block
        self._out_feature_strides = {f"p{int(math.log2(s))}": s for s in strides}
        if top_block is not None:
            last_stage = int(math.log2(strides[-1]))
            for level in range(top_block.num_levels):
                self._out_feature_strides[f"p{last_stage + level + 1}"] = 2 ** (
                    last_stage + level + 1
                )
        self._out_features = list(self._out_feature_strides)
        self._out_feature_channels = {name: out_channels for name in self._out_features}
        self._size_divisibility = strides[-1]
        self._square_pad = square_pad

    @property
    def size_divisibility(self) -> int:
        """The coarsest pyramid stride (before the top block)."""
        return self._size_divisibility

    @property
    def padding_constraints(self) -> dict[str, int]:
        """``square_size`` from ``square_pad`` (+ ``size_divisibility``).

        detectron2 spells the second key ``size_divisiblity``, so it never takes effect there;
        the correct spelling here gives the same padding because ``square_pad`` is a multiple of
        the coarsest stride in every config, and :attr:`size_divisibility` is applied anyway.
        """
        return {"size_divisibility": self._size_divisibility, "square_size": self._square_pad}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the pyramid.

        Args:
            x (Tensor[B, C, H, W]): padded, normalized images.

        Returns:
            ``{"p2": Tensor[B, out_channels, H / 4, W / 4], ..., "p6": ...}`` (names follow the
            scale factors; ``p6`` only with a top block).
        """
        bottom_up = self.net(x)
        features = bottom_up[self.in_feature]
        results = [stage(features) for stage in self.stages]
        if self.top_block is not None:
            if self.top_block.in_feature in bottom_up:
                top_input = bottom_up[self.top_block.in_feature]
            else:
                top_input = results[self._out_features.index(self.top_block.in_feature)]
            results.extend(self.top_block(top_input))
        return dict(zip(self._out_features, results))


def _rescale_layers(scale: float, dim: int, norm: str) -> tuple[list[nn.Module], int]:
    if scale == 4.0:
        layers = [
            nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2),
            get_norm(norm, dim // 2),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 2, dim // 4, kernel_size=2, stride=2),
        ]
        return [layer for layer in layers if layer is not None], dim // 4
    if scale == 2.0:
        return [nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2)], dim // 2
    if scale == 1.0:
        return [], dim
    if scale == 0.5:
        return [nn.MaxPool2d(kernel_size=2, stride=2)], dim
    raise NotImplementedError(
        f"SimpleFeaturePyramid: scale_factor={scale} is not supported; use 4.0, 2.0, 1.0 or 0.5"
    )
