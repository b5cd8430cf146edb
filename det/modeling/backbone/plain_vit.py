"""The trunk shared by the EVA-02 ViT and the ViTDet (MAE) ViT: patchify, add abs pos, blocks."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .backbone import Backbone
from .patch_embed import PatchEmbed
from .pos_embed import get_abs_pos

__all__ = ["PlainViT"]


class PlainViT(Backbone):
    """Single-scale plain ViT backbone (Li et al., "Exploring Plain Vision Transformer
    Backbones for Object Detection", 2022): stride ``patch_size``, one output feature.

    Subclasses register their own modules and ``self.blocks`` (an ``nn.ModuleList`` of
    modules mapping Tensor[B, H, W, C] to the same shape) after calling this constructor, then
    call :meth:`_init_weights`.

    Args:
        img_size: input side the model is built for (square).
        patch_size: patch side, also the output stride.
        in_chans: input channels.
        embed_dim: token width C.
        use_abs_pos: learn an absolute position embedding on the pretraining grid.
        pretrain_img_size: image side of pretraining; the embedding grid is
            ``pretrain_img_size // patch_size`` per side.
        pretrain_use_cls_token: the embedding keeps a (unused) cls-token slot first.
        use_act_checkpoint: recompute each block in the backward pass
            (``torch.utils.checkpoint``, non-reentrant); parameter names do not change.
        out_feature: name of the output feature.
    """

    blocks: nn.ModuleList

    def __init__(
        self,
        *,
        img_size: int,
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        use_abs_pos: bool,
        pretrain_img_size: int,
        pretrain_use_cls_token: bool,
        use_act_checkpoint: bool,
        out_feature: str,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.pretrain_use_cls_token = pretrain_use_cls_token
        self.use_act_checkpoint = use_act_checkpoint
        self.patch_embed = PatchEmbed(
            kernel_size=(patch_size, patch_size),
            stride=(patch_size, patch_size),
            in_chans=in_chans,
            embed_dim=embed_dim,
        )
        if use_abs_pos:
            num_patches = (pretrain_img_size // patch_size) ** 2
            num_positions = num_patches + 1 if pretrain_use_cls_token else num_patches
            self.pos_embed = nn.Parameter(torch.zeros(1, num_positions, embed_dim))
        else:
            self.pos_embed = None
        self._out_features = [out_feature]
        self._out_feature_channels = {out_feature: embed_dim}
        self._out_feature_strides = {out_feature: patch_size}

    def _init_weights(self) -> None:
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(_init_linear_and_layernorm)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the single feature map.

        Args:
            x (Tensor[B, in_chans, H, W]): normalized images, H and W multiples of patch_size.

        Returns:
            ``{out_feature: Tensor[B, embed_dim, H / patch_size, W / patch_size]}``.
        """
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + get_abs_pos(self.pos_embed, self.pretrain_use_cls_token, x.shape[1:3])
        for block in self.blocks:
            if self.use_act_checkpoint and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return {self._out_features[0]: x.permute(0, 3, 1, 2)}


def _init_linear_and_layernorm(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.weight is not None:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
