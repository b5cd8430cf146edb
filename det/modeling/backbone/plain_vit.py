"""The trunk shared by the EVA-02 ViT and the ViTDet (MAE) ViT: patchify, add abs pos, blocks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .backbone import Backbone
from .patch_embed import PatchEmbed
from .pos_embed import get_abs_pos
from .residual_block import ResBottleneckBlock
from .vit_block import ViTBlock

__all__ = ["PlainViT"]


class PlainViT(Backbone):
    """Single-scale plain ViT backbone (Li et al., "Exploring Plain Vision Transformer
    Backbones for Object Detection", 2022): stride ``patch_size``, one output feature.

    Subclasses register their own modules after calling this constructor, then build
    ``self.blocks`` (an ``nn.ModuleList`` of :class:`ViTBlock`, each mapping Tensor[B, H, W, C]
    to the same shape) and initialize the weights with :meth:`_build_blocks`.

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
        out_indices: instead of the single last map, output the maps after these blocks
            (0-based) as ``b{i}`` (the BEiT-style UperNet input of EVA-02's segmentation).
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
        out_indices: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.out_indices = tuple(out_indices) if out_indices is not None else None
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

    def _build_blocks(
        self,
        *,
        depth: int,
        drop_path_rate: float,
        window_size: int,
        window_block_indexes: Sequence[int],
        residual_block_indexes: Sequence[int],
        norm_layer: Callable[[int], nn.Module],
        act_layer: Callable[[], nn.Module],
        make_attn: Callable[[bool], nn.Module],
        make_mlp: Callable[[], nn.Module],
    ) -> None:
        """Builds ``self.blocks`` (pre-LN :class:`ViTBlock` s) and initializes all weights.

        Args:
            depth: number of blocks.
            drop_path_rate: stochastic depth, linearly increasing from 0 to this over the blocks.
            window_size: window side of window-attention blocks.
            window_block_indexes: blocks using window attention; the rest use global attention.
            residual_block_indexes: blocks followed by a :class:`ResBottleneckBlock`.
            norm_layer: builds the block norms from a width.
            act_layer: activation of the residual conv blocks.
            make_attn: builds a block's attention; its argument says whether it is windowed.
            make_mlp: builds a block's MLP.
        """
        self.depth = depth
        self.window_size = window_size
        self.window_block_indexes = tuple(window_block_indexes)
        # float32 linspace like the fork, so stochastic-depth rates match to the last bit.
        drop_path_rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        blocks = []
        for i in range(depth):
            windowed = i in self.window_block_indexes
            residual = None
            if i in residual_block_indexes:
                dim = self.embed_dim
                residual = ResBottleneckBlock(dim, dim, dim // 2, norm="LN", act_layer=act_layer)
            block = ViTBlock(
                self.embed_dim,
                attn=make_attn(windowed),
                mlp=make_mlp(),
                norm_layer=norm_layer,
                drop_path=drop_path_rates[i],
                window_size=window_size if windowed else 0,
                residual=residual,
            )
            blocks.append(block)
        self.blocks = nn.ModuleList(blocks)
        self._set_out_indices()
        self._init_weights()

    def _set_out_indices(self) -> None:
        if self.out_indices is None:
            return
        depth = len(self.blocks)
        bad = [i for i in self.out_indices if not 0 <= i < depth]
        if bad or not self.out_indices:
            raise ValueError(
                f"{type(self).__name__}: out_indices={list(self.out_indices)} must be non-empty "
                f"block indexes in [0, {depth - 1}] (depth={depth}); got {bad or 'none'}"
            )
        self._out_features = [f"b{i}" for i in self.out_indices]
        self._out_feature_channels = dict.fromkeys(self._out_features, self.embed_dim)
        self._out_feature_strides = dict.fromkeys(self._out_features, self.patch_size)

    def _init_weights(self) -> None:
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(_init_linear_and_layernorm)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the single feature map.

        Args:
            x (Tensor[B, in_chans, H, W]): normalized images, H and W multiples of patch_size.

        Returns:
            ``{out_feature: Tensor[B, embed_dim, H / patch_size, W / patch_size]}``, or with
            ``out_indices`` one such map ``b{i}`` per listed block.
        """
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + get_abs_pos(self.pos_embed, self.pretrain_use_cls_token, x.shape[1:3])
        outputs = {}
        for i, block in enumerate(self.blocks):
            if self.use_act_checkpoint and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if self.out_indices is not None and i in self.out_indices:
                outputs[f"b{i}"] = x.permute(0, 3, 1, 2)
        if self.out_indices is not None:
            return outputs
        return {self._out_features[0]: x.permute(0, 3, 1, 2)}


def _init_linear_and_layernorm(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.weight is not None:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
