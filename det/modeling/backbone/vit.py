"""EVA-02 ViT backbone for detection (Fang et al., "EVA-02: A Visual Representation for Neon
Genesis", 2023): plain ViT with 2-D RoPE, SwiGLU + sub-LN MLP and window/global attention."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from torch import nn

from .lr_decay import get_vit_lr_decay_rate
from .plain_vit import PlainViT
from .rope import VisionRotaryEmbeddingFast
from .rope_attention import RopeAttention
from .swiglu import SwiGLU

# get_vit_lr_decay_rate is re-exported at detectron2's path (modeling/backbone/vit.py) so
# configs written against detectron2 keep their import line.
__all__ = ["ViT", "get_vit_lr_decay_rate"]


class ViT(PlainViT):
    """EVA-02 ViT with the constructor arguments of the EVA-02 detectron2 fork.

    Each block is pre-LN, without layer scale: RoPE attention (window or global) and a SwiGLU
    MLP with sub-LN. Window blocks use a RoPE table for a ``window_size`` grid (``rope_win``);
    global blocks one for the full ``img_size // patch_size`` grid (``rope_glb``); both rescale
    positions onto the ``pt_hw_seq_len`` pretraining grid. Global blocks therefore need the
    input padded to exactly ``img_size`` (SimpleFeaturePyramid's ``square_pad``).

    Output: ``{out_feature: Tensor[B, embed_dim, H / patch_size, W / patch_size]}``.

    Args:
        img_size: input side the global RoPE table is built for.
        patch_size: patch side and output stride.
        in_chans: input channels.
        embed_dim: token width (768 for B, 1024 for L).
        depth: number of blocks (12 for B, 24 for L).
        num_heads: attention heads (12 for B, 16 for L); head dim must be divisible by 4.
        mlp_ratio: SwiGLU hidden width is ``int(embed_dim * mlp_ratio)``.
        qkv_bias: learn q and v biases (k never has one).
        drop_path_rate: stochastic depth, linearly increasing from 0 to this over the blocks.
        norm_layer: builds the block norms and the SwiGLU sub-LN from a width.
        act_layer: activation of the residual conv blocks.
        use_abs_pos: add the absolute position embedding.
        use_rel_pos: must stay False; the EVA-02 ViT has no relative position bias (the fork
            accepted and ignored it; see :class:`ViTMAE` for the rel-pos ViT).
        pt_hw_seq_len: side of the pretraining token grid for RoPE (224 / 14 = 16).
        intp_freq: rescale RoPE positions of the fine-tuning grids onto the pretraining grid;
            False builds both tables for ``pt_hw_seq_len``.
        window_size: window side of window-attention blocks.
        window_block_indexes: blocks using window attention; the rest use global attention.
        residual_block_indexes: blocks followed by a :class:`ResBottleneckBlock`.
        use_act_checkpoint: activation checkpointing of every block.
        pretrain_img_size: image side of pretraining (sets the position-embedding grid).
        pretrain_use_cls_token: the position embedding has a cls-token slot.
        out_feature: output feature name.
        out_indices: output the maps after these blocks as ``b{i}`` instead (EVA-02 UperNet).
        xattn: attention through ``F.scaled_dot_product_attention`` (fused flash /
            memory-efficient kernels, the role xformers played in the fork); False computes the
            explicit softmax attention matrix. See :class:`RopeAttention`.
    """

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4 * 2 / 3,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = partial(nn.LayerNorm, eps=1e-6),
        act_layer: Callable[[], nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        pt_hw_seq_len: int = 16,
        intp_freq: bool = True,
        window_size: int = 0,
        window_block_indexes: Sequence[int] = (),
        residual_block_indexes: Sequence[int] = (),
        use_act_checkpoint: bool = False,
        pretrain_img_size: int = 224,
        pretrain_use_cls_token: bool = True,
        out_feature: str = "last_feat",
        xattn: bool = True,
        out_indices: Sequence[int] | None = None,
    ) -> None:
        if use_rel_pos:
            raise ValueError(
                "ViT (EVA-02) has no relative position bias: set use_rel_pos=False (the EVA-02 "
                "fork ignored it) or use ViTMAE for the rel-pos ViTDet backbone"
            )
        head_dim = embed_dim // num_heads
        if embed_dim % num_heads != 0 or head_dim % 4 != 0:
            raise ValueError(
                f"ViT: embed_dim {embed_dim} / num_heads {num_heads} must give an integer head "
                "dim divisible by 4 (2-D RoPE rotates channel pairs along two axes)"
            )
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
            out_indices=out_indices,
        )
        grid = img_size // patch_size
        self.rope_win = VisionRotaryEmbeddingFast(
            dim=head_dim // 2,
            pt_seq_len=pt_hw_seq_len,
            ft_seq_len=window_size if intp_freq else None,
        )
        self.rope_glb = VisionRotaryEmbeddingFast(
            dim=head_dim // 2,
            pt_seq_len=pt_hw_seq_len,
            ft_seq_len=grid if intp_freq else None,
        )

        def make_attn(windowed: bool) -> nn.Module:
            rope = self.rope_win if windowed else self.rope_glb
            return RopeAttention(embed_dim, num_heads, rope=rope, qkv_bias=qkv_bias, xattn=xattn)

        hidden = int(embed_dim * mlp_ratio)
        self._build_blocks(
            depth=depth,
            drop_path_rate=drop_path_rate,
            window_size=window_size,
            window_block_indexes=window_block_indexes,
            residual_block_indexes=residual_block_indexes,
            norm_layer=norm_layer,
            act_layer=act_layer,
            make_attn=make_attn,
            make_mlp=lambda: SwiGLU(embed_dim, hidden, norm_layer=norm_layer),
        )

    @property
    def padding_constraints(self) -> dict[str, int]:
        """``square_size`` = img_size: the global RoPE table is built for that grid, so a smaller
        batch (or sliding window) is padded up to it. Feature pyramids around the ViT set
        their own constraints."""
        return {"square_size": self.img_size}
