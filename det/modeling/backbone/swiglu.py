"""SwiGLU feed-forward with a LayerNorm on the hidden units (EVA-02's sub-LN MLP)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["SwiGLU"]


class SwiGLU(nn.Module):
    """``w3(LN(SiLU(w1 x) * w2 x))``.

    Submodule names ``w1``, ``w2``, ``ffn_ln``, ``w3`` follow EVA-02's checkpoints.

    Args:
        in_features: token width C.
        hidden_features: hidden width (``int(C * 4 * 2 / 3)`` in EVA-02: 2048 for B, 2730 for L).
        norm_layer: builds the sub-LN from a width; None for no sub-LN.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        norm_layer: Callable[[int], nn.Module] | None = nn.LayerNorm,
    ) -> None:
        super().__init__()
        self.w1 = nn.Linear(in_features, hidden_features)
        self.w2 = nn.Linear(in_features, hidden_features)
        self.act = nn.SiLU()
        self.ffn_ln = norm_layer(hidden_features) if norm_layer is not None else nn.Identity()
        self.w3 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP token-wise.

        Args:
            x (Tensor[..., C]).

        Returns:
            Tensor[..., C].
        """
        hidden = self.act(self.w1(x)) * self.w2(x)
        return self.w3(self.ffn_ln(hidden))
