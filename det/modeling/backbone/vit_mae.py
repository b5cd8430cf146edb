"""Original ViTDet backbone (MAE-pretrained ViT): decomposed relative position bias, GELU MLP,
fused qkv; the module names of upstream detectron2's ``ViT`` so its checkpoints load."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from .mlp import Mlp
from .plain_vit import PlainViT
from .rel_pos_attention import RelPosAttention

__all__ = ["ViTMAE"]


class ViTMAE(PlainViT):
    """ViTDet's plain ViT (Li et al., 2022) as in upstream detectron2.

    Output: ``{out_feature: Tensor[B, embed_dim, H / patch_size, W / patch_size]}``.

    Args:
        img_size: input side; global blocks size their rel-pos tables for this grid.
        patch_size: patch side and output stride.
        in_chans: input channels.
        embed_dim: token width.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width is ``int(embed_dim * mlp_ratio)``.
        qkv_bias: bias in the fused qkv projection.
        drop_path_rate: stochastic depth, linearly increasing from 0 to this over the blocks.
        norm_layer: builds the block norms from a width.
        act_layer: activation of the MLP and the residual conv blocks.
        use_abs_pos: add the absolute position embedding.
        use_rel_pos: decomposed relative position bias in every block.
        rel_pos_zero_init: start the rel-pos tables at zero.
        window_size: window side of window-attention blocks.
        window_block_indexes: blocks using window attention; the rest use global attention.
        residual_block_indexes: blocks followed by a :class:`ResBottleneckBlock`.
        use_act_checkpoint: activation checkpointing of every block.
        pretrain_img_size: image side of pretraining (sets the position-embedding grid).
        pretrain_use_cls_token: the position embedding has a cls-token slot.
        out_feature: output feature name.
    """

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        window_block_indexes: Sequence[int] = (),
        residual_block_indexes: Sequence[int] = (),
        use_act_checkpoint: bool = False,
        pretrain_img_size: int = 224,
        pretrain_use_cls_token: bool = True,
        out_feature: str = "last_feat",
    ) -> None:
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_chans,
            embed_dim=embed_dim,
            use_abs_pos=use_abs_pos,
            pretrain_img_size=pretrain_img_size,
            pretrain_use_cls_token=pretrain_use_cls_token,
            use_act_checkpoint=use_act_checkpoint,
            out_feature=out_feature,
        )
        grid = img_size // patch_size

        def make_attn(windowed: bool) -> nn.Module:
            attn_grid = window_size if windowed else grid
            return RelPosAttention(
                embed_dim,
                num_heads=num_heads,
                qkv_bias=qkv_bias,
                use_rel_pos=use_rel_pos,
                rel_pos_zero_init=rel_pos_zero_init,
                input_size=(attn_grid, attn_grid),
            )

        self._build_blocks(
            depth=depth,
            drop_path_rate=drop_path_rate,
            window_size=window_size,
            window_block_indexes=window_block_indexes,
            residual_block_indexes=residual_block_indexes,
            norm_layer=norm_layer,
            act_layer=act_layer,
            make_attn=make_attn,
            make_mlp=lambda: Mlp(embed_dim, int(embed_dim * mlp_ratio), act_layer=act_layer),
        )
