"""The abstract base class every backbone implements."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn

from det.layers import ShapeSpec

__all__ = ["Backbone"]


class Backbone(nn.Module, metaclass=ABCMeta):
    """A network that maps an image batch to named feature maps.

    Subclasses fill ``_out_features`` (names, in order), ``_out_feature_channels`` and
    ``_out_feature_strides`` in their constructor; :meth:`output_shape` is derived from them,
    so heads can be built from it without running the network.
    """

    _out_features: list[str]
    _out_feature_channels: dict[str, int]
    _out_feature_strides: dict[str, int]

    @abstractmethod
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the feature maps.

        Args:
            x (Tensor[N, C, H, W]): normalized images; H and W satisfy
                :attr:`size_divisibility` and :attr:`padding_constraints`.

        Returns:
            Feature name -> Tensor[N, C_f, H / stride_f, W / stride_f].
        """

    @property
    def size_divisibility(self) -> int:
        """Input H and W must be multiples of this (0 means no constraint)."""
        return 0

    @property
    def padding_constraints(self) -> dict[str, int]:
        """Extra padding rules for ``ImageList.from_tensors``.

        Keys: ``"size_divisibility"`` (overrides :attr:`size_divisibility`) and
        ``"square_size"`` (pad every image to this square side). Empty means none.
        """
        return {}

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Channels and stride of every output feature, keyed by name."""
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }
