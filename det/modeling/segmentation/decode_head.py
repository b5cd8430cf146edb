"""What every encoder-decoder segmentation head shares (mmseg's ``BaseDecodeHead``): feature
selection by name, dropout + 1x1 classifier (``conv_seg``) and the weighted pixel loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .losses import sem_seg_cross_entropy

__all__ = ["DecodeHead"]


class DecodeHead(nn.Module):
    """Base of :class:`UPerHead` and :class:`FCNHead`; subclasses define :meth:`features`.

    Args:
        in_features: names of the backbone outputs the head reads, in order (e.g.
            ``["res2", "res3", "res4", "res5"]``).
        channels: width of the last feature map, the classifier's input.
        num_classes: K.
        dropout_ratio: ``Dropout2d`` before the classifier (0.1 in every seed).
        loss_weight: weight of the cross-entropy (1.0 decode head, 0.4 FCN auxiliary).
        ignore_value: label value excluded from the loss.
        avg_non_ignore: see :func:`sem_seg_cross_entropy`.
    """

    def __init__(
        self,
        *,
        in_features: Sequence[str],
        channels: int,
        num_classes: int,
        dropout_ratio: float = 0.1,
        loss_weight: float = 1.0,
        ignore_value: int = 255,
        avg_non_ignore: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(in_features, str) or len(in_features) == 0:
            raise ValueError(
                f"{type(self).__name__}: in_features={in_features!r} must be a non-empty list "
                "of backbone output names, e.g. ['res2', 'res3', 'res4', 'res5']"
            )
        self.in_features = tuple(in_features)
        self.num_classes = num_classes
        self.loss_weight = loss_weight
        self.ignore_value = ignore_value
        self.avg_non_ignore = avg_non_ignore
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        # mmseg's BaseDecodeHead.init_weights: normal(0, 0.01) classifier, zero bias.
        nn.init.normal_(self.conv_seg.weight, std=0.01)
        nn.init.zeros_(self.conv_seg.bias)

    def select(self, features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The maps named by ``in_features``; a missing name raises naming what exists."""
        missing = [name for name in self.in_features if name not in features]
        if missing:
            raise KeyError(
                f"{type(self).__name__}: in_features {missing} are not backbone outputs; the "
                f"backbone gives {sorted(features)}"
            )
        return [features[name] for name in self.in_features]

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The selected maps -> Tensor[B, channels, h, w] (the classifier's input)."""
        raise NotImplementedError

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Backbone outputs -> logits Tensor[B, K, h, w] at the finest selected stride."""
        return self.conv_seg(self.dropout(self.features(self.select(features))))

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss_sem_seg": loss_weight * CE}`` of logits (Tensor[B, K, h, w]) resized to
        the labels (Long Tensor[B, H, W])."""
        loss = sem_seg_cross_entropy(
            logits,
            targets,
            ignore_value=self.ignore_value,
            avg_non_ignore=self.avg_non_ignore,
        )
        return {"loss_sem_seg": loss * self.loss_weight}
