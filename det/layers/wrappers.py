"""Small tensor helpers and ``nn`` wrappers shared by every model part."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Linear",
    "cat",
    "interpolate",
    "move_device_like",
    "nonzero_tuple",
    "shapes_to_tensor",
]

# Plain aliases kept so code written against detectron2's ``layers`` namespace reads the same.
BatchNorm2d = nn.BatchNorm2d
ConvTranspose2d = nn.ConvTranspose2d
Linear = nn.Linear
interpolate = F.interpolate


def cat(tensors: Sequence[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """``torch.cat`` that skips the copy when there is a single tensor.

    Args:
        tensors: non-empty sequence of tensors with equal shapes except along ``dim``.
        dim: dimension to concatenate along.
    """
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"cat expects a list or tuple of tensors, got {type(tensors).__name__}")
    if len(tensors) == 1:
        return tensors[0]
    return torch.cat(tensors, dim)


def nonzero_tuple(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``torch.nonzero(x, as_tuple=True)`` that also accepts 0-d tensors.

    Args:
        x (Tensor[...]): any tensor; a 0-d tensor is treated as shape [1].

    Returns:
        One Tensor[K] (int64) of indices per dimension of ``x``.
    """
    if x.dim() == 0:
        return x.unsqueeze(0).nonzero().unbind(1)
    return x.nonzero().unbind(1)


def move_device_like(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Move ``src`` to the device of ``dst`` (no-op when already there)."""
    return src.to(dst.device)


def shapes_to_tensor(x: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
    """Turn a list of ints (e.g. image sizes) into an int64 tensor.

    Args:
        x: integers, or 0-d tensors (kept as tensors so traced graphs stay dynamic).
        device: where to put the result.

    Returns:
        Tensor[len(x)] (int64).
    """
    if all(isinstance(t, torch.Tensor) for t in x) and len(x) > 0:
        return torch.stack([torch.as_tensor(t, device=device) for t in x]).to(torch.int64)
    return torch.as_tensor(x, dtype=torch.int64, device=device)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` followed by an optional normalization and activation.

    The norm module is registered as the child ``norm``, so state-dict keys read
    ``<name>.weight``, ``<name>.norm.weight``, ... exactly as in detectron2.

    Args:
        *args: positional arguments of ``nn.Conv2d``.
        norm: a normalization module applied after the convolution, or None.
        activation: a callable applied last (e.g. ``F.relu``), or None.
        **kwargs: keyword arguments of ``nn.Conv2d``.
    """

    def __init__(
        self,
        *args,
        norm: nn.Module | None = None,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, then norm, then activation.

        Args:
            x (Tensor[N, C_in, H, W]).

        Returns:
            Tensor[N, C_out, H', W'].
        """
        x = self._conv_forward(x, self.weight, self.bias)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x
