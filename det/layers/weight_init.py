"""Caffe2-style weight fills that detectron2-family models use for conv and linear layers.

Seeded models only reproduce detectron2's initial weights if every layer draws the same fill,
so the fills live here once for the backbone, the RoI heads and Mask2Former.
"""

from __future__ import annotations

from torch import nn

__all__ = ["c2_msra_fill", "c2_xavier_fill"]


def c2_msra_fill(module: nn.Module) -> None:
    """Caffe2's MSRAFill (detectron2's ``c2_msra_fill``): He normal over fan_out, zero bias.

    Args:
        module: a conv or linear layer with ``weight`` and optional ``bias``.
    """
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2's XavierFill (detectron2's ``c2_xavier_fill``): uniform with a=1, zero bias.

    Args:
        module: a conv or linear layer with ``weight`` and optional ``bias``.
    """
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
