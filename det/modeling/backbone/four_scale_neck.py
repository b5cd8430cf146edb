"""The ViT-to-four-scales neck of BEiT's segmentation backbone (also EVA-02's and CAE's UperNet
configs): four block outputs of a stride-16 ViT become strides 4, 8, 16 and 32 by two
transposed convs, one transposed conv, identity and a 2x2 max pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from det.layers import get_norm

from .backbone import Backbone

__all__ = ["FourScaleNeck"]

_NAMES = ("res2", "res3", "res4", "res5")


class FourScaleNeck(Backbone):
    """Wraps a single-stride ViT and resamples four of its outputs.

    ``fpn1`` = ConvTranspose(2x2, stride 2) -> norm -> GELU -> ConvTranspose (stride 4),
    ``fpn2`` = ConvTranspose (stride 8), ``fpn3`` = identity (stride 16), ``fpn4`` = 2x2 max pool
    (stride 32), with BEiT's module names (``fpn1.0``, ``fpn1.1``, ``fpn1.3``, ``fpn2.0``) so the
    released weights' ``backbone.fpn*`` keys map by prefix.

    Args:
        net: a patch-16 ViT whose ``output_shape()`` includes ``in_features`` (e.g. a
            ``TimmViT`` with ``out_indices=[3, 5, 7, 11]``).
        in_features: four names of ``net`` outputs, shallowest first; they become
            ``res2..res5``.
        norm: norm inside ``fpn1`` ("SyncBN" as published, "BN" on one process).

    Outputs ``res2..res5``, each with the ViT's width.
    """

    def __init__(
        self,
        net: Backbone,
        *,
        in_features: Sequence[str],
        norm: str | Callable[[int], nn.Module] = "SyncBN",
    ) -> None:
        super().__init__()
        shapes = net.output_shape()
        in_features = list(in_features)
        missing = [f for f in in_features if f not in shapes]
        if len(in_features) != 4 or missing:
            raise ValueError(
                f"FourScaleNeck: in_features={in_features} must name 4 outputs of the ViT "
                f"(it gives {sorted(shapes)})"
            )
        strides = {shapes[f].stride for f in in_features}
        if strides != {16}:
            raise ValueError(
                f"FourScaleNeck: the ViT outputs {in_features} have strides {sorted(strides)}; "
                "expected 16 (a patch-16 ViT)"
            )
        dim = shapes[in_features[0]].channels
        self.net = net
        self.in_features = in_features
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(dim, dim, 2, 2),
            get_norm(norm, dim),
            nn.GELU(),
            nn.ConvTranspose2d(dim, dim, 2, 2),
        )
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2))
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(2, 2)
        self._out_features = list(_NAMES)
        self._out_feature_channels = dict.fromkeys(_NAMES, dim)
        self._out_feature_strides = dict(zip(_NAMES, (4, 8, 16, 32)))

    @property
    def size_divisibility(self) -> int:
        """32: the max-pooled level needs an even token grid."""
        return 32

    @property
    def padding_constraints(self) -> dict[str, int]:
        """The wrapped ViT's constraints (e.g. a fixed square input)."""
        return self.net.padding_constraints

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tensor[B, 3, H, W] -> ``{res2..res5: Tensor[B, D, H / s, W / s]}``, s = 4..32."""
        feats = self.net(x)
        ops = (self.fpn1, self.fpn2, self.fpn3, self.fpn4)
        return {
            name: op(feats[f]) for name, op, f in zip(_NAMES, ops, self.in_features, strict=True)
        }
