"""RegionProxy decode head (RegProxy, Zhang et al., CVPR 2022; ``ProxyHead`` of
YiF-Zhang/RegionProxy): a linear classifier on the last ViT tokens, and an "implicit mid"
affinity branch on an earlier block's tokens that spreads each token's logits over its patch.

Module names follow the released RegionProxy checkpoints' ``decode_head.*`` keys (``mlp.0.0``,
``affinity_head.0.{depthwise,pointwise}_conv.{conv,bn}``, ``affinity_head.1.conv``) so those
map one to one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .conv_module import ConvModule
from .losses import sem_seg_cross_entropy
from .regproxy_ops import neighbour_affinity, region_proxy_logits

__all__ = ["RegionProxyHead"]


class _DepthwiseSeparable(nn.Module):
    """3x3 depthwise then 1x1 pointwise conv, each with norm + ReLU (mmcv's module)."""

    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, 3, groups=cin, norm=norm, act=True)
        self.pointwise_conv = ConvModule(cin, cout, 1, norm=norm, act=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, cin, H, W] -> Tensor[B, cout, H, W]."""
        return self.pointwise_conv(self.depthwise_conv(x))


class RegionProxyHead(nn.Module):
    """Region-proxy segmentation head.

    Output logits are at stride ``token_stride / region_res`` (4 for /16 models, 8 for the /32
    hybrids); :meth:`losses` and inference resize them bilinearly to the label / image size.

    Args:
        mid_channels: channels of the affinity input (the "implicit mid" block output).
        token_channels: channels of the classified tokens (the last block output).
        channels: width of the affinity branch (the backbone width in every card).
        num_classes: K.
        in_features: names of the (mid, token) backbone outputs, e.g. ``("b4", "b11")``
            (``"b-1"`` for the hybrids' embedded tokens).
        region_res: sub-pixels per token side (r_h, r_w); 4 x 4 in all published models.
        norm: norm of the affinity branch ("SyncBN" in the cards; "BN" on one process).
        loss_weight: weight of the cross-entropy.
        ignore_value: label value excluded from the loss.
    """

    def __init__(
        self,
        *,
        mid_channels: int,
        token_channels: int,
        channels: int,
        num_classes: int,
        in_features: Sequence[str],
        region_res: Sequence[int] = (4, 4),
        norm: str = "BN",
        loss_weight: float = 1.0,
        ignore_value: int = 255,
    ) -> None:
        super().__init__()
        if len(in_features) != 2:
            raise ValueError(
                f"RegionProxyHead: in_features={list(in_features)} must name two features "
                "(mid, tokens), e.g. ('b4', 'b11')"
            )
        self.in_features = tuple(in_features)
        self.region_res = (int(region_res[0]), int(region_res[1]))
        self.num_classes = num_classes
        self.loss_weight = loss_weight
        self.ignore_value = ignore_value
        self.mlp = nn.Sequential(nn.Sequential(nn.Linear(token_channels, num_classes)))
        nn.init.trunc_normal_(self.mlp[0][0].weight, std=0.02)
        nn.init.zeros_(self.mlp[0][0].bias)
        num_weights = 9 * self.region_res[0] * self.region_res[1]
        self.affinity_head = nn.Sequential(
            _DepthwiseSeparable(mid_channels, channels, norm),
            ConvModule(channels, num_weights, 1, act=False),
        )

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Segmentation logits.

        Args:
            features: backbone outputs; ``features[in_features[0]]`` is Tensor[B, C_mid, H, W],
                ``features[in_features[1]]`` Tensor[B, C_tok, H, W] (same token grid).

        Returns:
            Tensor[B, K, H * r_h, W * r_w].
        """
        mid, tokens = (features[name] for name in self.in_features)
        if mid.shape[-2:] != tokens.shape[-2:]:
            raise ValueError(
                f"RegionProxyHead: features {self.in_features} have grids "
                f"{tuple(mid.shape[-2:])} and {tuple(tokens.shape[-2:])}; they must match"
            )
        affinity = neighbour_affinity(self.affinity_head(mid), self.region_res)
        token_logits = self.mlp(tokens.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return region_proxy_logits(affinity, token_logits)

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy at the label resolution, as mmseg 0.17's ``BaseDecodeHead.losses``.

        Args:
            logits (Tensor[B, K, h, w]): output of :meth:`forward`.
            targets (Long Tensor[B, H, W]): labels, ``ignore_value`` where unlabeled.

        Returns:
            ``{"loss_sem_seg": scalar}``. The mean runs over all pixels, ignored ones counting
            as 0, like mmseg 0.17's ``CrossEntropyLoss`` (no ``avg_non_ignore`` there yet).
        """
        loss = sem_seg_cross_entropy(logits, targets, ignore_value=self.ignore_value)
        return {"loss_sem_seg": loss * self.loss_weight}
