"""Two-layer MLP used by the original ViT / ViTDet blocks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """``fc2(act(fc1 x))``; names match timm's ``Mlp`` so MAE checkpoints load.

    Args:
        in_features: token width C.
        hidden_features: hidden width (``C * mlp_ratio``).
        act_layer: activation class (GELU in ViT).
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        act_layer: Callable[[], nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP token-wise: Tensor[..., C] -> Tensor[..., C]."""
        return self.fc2(self.act(self.fc1(x)))
