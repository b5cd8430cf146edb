"""Box head: the stack of convs and fully-connected layers applied to pooled RoI features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from det.layers import ShapeSpec, c2_msra_fill, c2_xavier_fill

from .head_layers import conv3x3_norm_relu

__all__ = ["FastRCNNConvFCHead"]


class FastRCNNConvFCHead(nn.Sequential):
    """``len(conv_dims)`` 3x3 convs (+ norm, ReLU), then ``len(fc_dims)`` fc layers (+ ReLU).

    Children are named ``conv1``, ``conv2``, ..., ``flatten``, ``fc1``, ``fc_relu1``, ... as in
    detectron2, so state-dict keys read ``conv1.weight``, ``conv1.norm.weight``, ``fc1.weight``.

    Input: Tensor[R, C, H, W] pooled RoI features (R RoIs). Output: Tensor[R, fc_dims[-1]], or
    Tensor[R, conv_dims[-1], H, W] when ``fc_dims`` is empty.

    Args:
        input_shape: channels, height and width of the pooled features (e.g. 256 x 7 x 7).
        conv_dims: output channels of each conv.
        fc_dims: output width of each fc layer.
        conv_norm: norm after each conv ("" for none, "LN" in EVA-02 / ViTDet); convs have a
            bias only without norm.
    """

    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        conv_dims: Sequence[int],
        fc_dims: Sequence[int],
        conv_norm: str = "",
    ) -> None:
        super().__init__()
        if len(conv_dims) + len(fc_dims) == 0:
            raise ValueError("FastRCNNConvFCHead: conv_dims and fc_dims are both empty")
        output: int | tuple[int, int, int] = (
            input_shape.channels,
            input_shape.height or 1,
            input_shape.width or 1,
        )
        self.conv_norm_relus: list[nn.Module] = []
        for k, conv_dim in enumerate(conv_dims):
            conv = conv3x3_norm_relu(output[0], conv_dim, conv_norm)
            self.add_module(f"conv{k + 1}", conv)
            self.conv_norm_relus.append(conv)
            output = (conv_dim, output[1], output[2])
        self.fcs: list[nn.Module] = []
        for k, fc_dim in enumerate(fc_dims):
            if k == 0:
                self.add_module("flatten", nn.Flatten())
            fc = nn.Linear(int(np.prod(output)), fc_dim)
            self.add_module(f"fc{k + 1}", fc)
            self.add_module(f"fc_relu{k + 1}", nn.ReLU())
            self.fcs.append(fc)
            output = fc_dim
        self._output_size = output
        for layer in self.conv_norm_relus:
            c2_msra_fill(layer)
        for layer in self.fcs:
            c2_xavier_fill(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[R, C, H, W] -> Tensor[R, fc_dims[-1]] (see the class docstring)."""
        for layer in self:
            x = layer(x)
        return x

    @property
    def output_shape(self) -> ShapeSpec:
        """Shape of the output: channels only after fc layers, else channels x H x W."""
        o = self._output_size
        if isinstance(o, int):
            return ShapeSpec(channels=o)
        return ShapeSpec(channels=o[0], height=o[1], width=o[2])
