"""Normalization layers and the ``get_norm`` factory used by configs (``norm="LN"`` etc.)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ["FrozenBatchNorm2d", "LayerNorm", "NaiveSyncBatchNorm", "get_norm"]


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are fixed buffers.

    Computes ``(x - running_mean) / sqrt(running_var + eps) * weight + bias`` per channel.
    Nothing is trained, so the buffers never receive gradients nor weight decay.

    Args:
        num_features: number of channels C.
        eps: added to the variance for numerical stability.
    """

    _version = 3

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` (Tensor[N, C, H, W]) channel-wise; returns the same shape."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.view(shape).to(x.dtype) + shift.view(shape).to(x.dtype)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
    ):
        # Checkpoints saved from a trainable BatchNorm carry this counter; it means nothing here.
        state_dict.pop(prefix + "num_batches_tracked", None)
        version = local_metadata.get("version", None)
        if version is None or version < 2:
            # Very old detectron checkpoints stored only the affine part.
            if prefix + "running_mean" not in state_dict:
                state_dict[prefix + "running_mean"] = torch.zeros_like(self.running_mean)
            if prefix + "running_var" not in state_dict:
                state_dict[prefix + "running_var"] = torch.ones_like(self.running_var)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"

    @classmethod
    def convert_frozen_batchnorm(cls, module: nn.Module) -> nn.Module:
        """Replace every BatchNorm/SyncBatchNorm in ``module`` by a FrozenBatchNorm2d.

        Args:
            module: any module; converted in place where possible.

        Returns:
            The converted module (a new object when ``module`` itself is a BatchNorm).
        """
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            frozen = cls(module.num_features, eps=module.eps)
            if module.affine:
                frozen.weight.data.copy_(module.weight.detach())
                frozen.bias.data.copy_(module.bias.detach())
            if module.track_running_stats:
                frozen.running_mean.data.copy_(module.running_mean)
                frozen.running_var.data.copy_(module.running_var)
            return frozen
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


class LayerNorm(nn.Module):
    """LayerNorm over the channel dimension of a channel-first tensor (ConvNeXt / ViTDet).

    For each spatial position, normalizes the C values to zero mean and unit (biased) variance,
    then applies a per-channel affine transform. Parameters are named ``weight`` and ``bias``
    so checkpoints of detectron2's ``layers.LayerNorm`` load unchanged.

    Args:
        normalized_shape: number of channels C.
        eps: added to the variance for numerical stability (1e-6 as in detectron2).
    """

    def __init__(self, normalized_shape: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))
        self.eps = eps
        self.normalized_shape = (normalized_shape,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` (Tensor[N, C, *]) over C; returns the same shape."""
        # Moving C last lets the fused layer_norm kernel do the work in one pass.
        x = x.movedim(1, -1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape[0]}, eps={self.eps}"


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward also sums: every rank's output uses every input."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class NaiveSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are averaged over all processes.

    Unlike ``nn.SyncBatchNorm`` it works with any backend (gloo on CPU included), since it
    only needs one ``all_reduce``. Every process weighs equally, which is exact when all
    processes have the same per-process batch size. Outside distributed training it is a
    plain BatchNorm2d.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalize ``input`` (Tensor[N, C, H, W]); returns the same shape."""
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        world_size = dist.get_world_size()
        if world_size == 1:
            return super().forward(input)
        channels = input.shape[1]
        stats_dtype = torch.float32 if input.dtype == torch.float16 else input.dtype
        x = input.to(stats_dtype)
        if input.numel() > 0:
            mean = x.mean(dim=[0, 2, 3])
            meansqr = (x * x).mean(dim=[0, 2, 3])
        else:
            # Keep the collective in step with other ranks; contribute nothing.
            mean = x.new_zeros(channels)
            meansqr = x.new_zeros(channels)
        # One differentiable all_reduce carries both vectors, so gradients see global stats.
        vec = torch.cat([mean, meansqr])
        vec = _AllReduceSum.apply(vec)
        mean, meansqr = torch.split(vec / world_size, channels)
        var = meansqr - mean * mean
        invstd = torch.rsqrt(var + self.eps)
        scale = self.weight * invstd
        shift = self.bias - mean * scale
        out = input * scale.view(1, -1, 1, 1).to(input.dtype) + shift.view(1, -1, 1, 1).to(
            input.dtype
        )
        self.running_mean += self.momentum * (mean.detach() - self.running_mean)
        self.running_var += self.momentum * (var.detach() - self.running_var)
        return out


_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "BN": nn.BatchNorm2d,
    "SyncBN": NaiveSyncBatchNorm,
    "nnSyncBN": nn.SyncBatchNorm,
    "FrozenBN": FrozenBatchNorm2d,
    "GN": lambda channels: nn.GroupNorm(32, channels),
    "LN": LayerNorm,
}


def get_norm(norm: str | Callable[[int], nn.Module] | None, out_channels: int) -> nn.Module | None:
    """Build a normalization layer from its config name.

    Args:
        norm: one of "BN", "SyncBN" (``NaiveSyncBatchNorm``), "nnSyncBN" (``nn.SyncBatchNorm``),
            "FrozenBN", "GN" (32 groups), "LN" (channel-first ``LayerNorm``); "" or None for no
            norm; or a callable taking the channel count and returning a module.
        out_channels: number of channels C to normalize.

    Returns:
        The module, or None when ``norm`` is "" or None.
    """
    if norm is None:
        return None
    if isinstance(norm, str):
        if norm == "":
            return None
        if norm not in _NORMS:
            raise KeyError(f"get_norm: unknown norm {norm!r}; expected one of {sorted(_NORMS)}")
        return _NORMS[norm](out_channels)
    if callable(norm):
        return norm(out_channels)
    raise TypeError(f"get_norm: norm must be a str, a callable or None, got {type(norm).__name__}")
