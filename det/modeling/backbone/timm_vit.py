"""Plain ViT with timm's module layout: the DeiT / AugReg backbones of ViT-Adapter and RegionProxy.

Glossary: B images, C = ``embed_dim``, (h, w) the token grid ``(H // patch_size, W // patch_size)``,
P prefix tokens (cls, and DeiT's distillation token when built with one), T = P + h * w.

State-dict names are timm's ``VisionTransformer`` names (``cls_token``, ``dist_token``,
``pos_embed``, ``patch_embed.proj.*``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
mlp.fc2}.*``, ``norm.*``), so published timm / DeiT / AugReg weights map one to one
(:mod:`det.checkpoint.timm_vit_pretrained`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from det.layers import DropPath

from .backbone import Backbone
from .mlp import Mlp
from .patch_embed import PatchEmbed
from .pos_embed import resize_pos_embed_grid

__all__ = ["TimmAttention", "TimmViT", "TimmViTBlock"]


class TimmAttention(nn.Module):
    """Global multi-head self-attention with a fused ``qkv`` projection (timm's ``Attention``).

    Args:
        dim: token width C.
        num_heads: attention heads; must divide ``dim``.
        qkv_bias: bias in the ``qkv`` projection.
        attn_drop: dropout on the attention weights (training only).
    """

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(
                f"TimmAttention: embed_dim {dim} is not divisible by num_heads {num_heads}"
            )
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, T, C] -> Tensor[B, T, C]."""
        b, t, c = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        drop = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        return self.proj(out.transpose(1, 2).reshape(b, t, c))


class TimmViTBlock(nn.Module):
    """Pre-norm block ``x + dp(attn(norm1 x))``, ``x + dp(mlp(norm2 x))`` on a token sequence.

    Args:
        dim: token width C.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width is ``int(dim * mlp_ratio)``.
        qkv_bias: bias in the fused qkv projection.
        attn_drop: attention-weight dropout.
        drop_path: stochastic-depth rate of both branches.
        norm_eps: LayerNorm epsilon (timm's ViT uses 1e-6).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = TimmAttention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, T, C] -> Tensor[B, T, C]."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TimmViT(Backbone):
    """Plain ViT (Dosovitskiy et al. 2021; DeiT, Touvron et al. 2021; AugReg, Steiner et al.
    2022) as a single-stride backbone offering the ViT contract (``tokens`` / ``run_blocks`` /
    ``blocks``) that :class:`ViTAdapter` consumes.

    Position embedding: ``pos_embed`` is ``Tensor[1, 1 (+1 with dist token) + g * g, C]`` on the
    ``pretrain_img_size // patch_size = g`` grid, always with timm's cls slot first. Its grid part
    is resized bicubically (``align_corners=False``) to the token grid on every forward when
    ``interpolate_pos_embed`` (ViT-Adapter's ``pos_embed[:, 1:]`` rule and mmseg's
    ``VisionTransformer`` rule); otherwise the grids must match.

    Output: ``{f"b{i}": Tensor[B, C, h, w] for i in out_indices}``, the tokens after block i with
    the prefix tokens dropped; ``i = -1`` is the embedded input of block 0 (RegionProxy's hybrid
    "mid" feature). With ``final_norm`` the output of the last block passes the final ``norm``
    first, as mmseg's ``VisionTransformer(final_norm=True)`` used by RegionProxy does; ViT-Adapter
    applies no final norm.

    Args:
        patch_size: patch side, the output stride; for a hybrid this is the stride of the
            ready-built ``patch_embed`` (32 for R26 / R50).
        in_chans: input channels.
        embed_dim: token width C.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width ratio.
        qkv_bias: bias in the fused qkv projections.
        drop_rate: dropout after adding the position embedding.
        attn_drop_rate: attention-weight dropout.
        drop_path_rate: stochastic depth, linear from 0 over the blocks (timm's rule).
        norm_eps: LayerNorm epsilon.
        pretrain_img_size: image side the position grid is stored for.
        use_cls_token: prepend the cls token (with its position embedding) to the blocks' input;
            False builds no ``cls_token`` (ViT-Adapter sets it to None) and drops the cls slot.
        use_dist_token: also prepend DeiT's distillation token (RegionProxy's ``deit=True``).
        interpolate_pos_embed: resize the position grid to the token grid (else require equality).
        final_norm: apply ``norm`` to the last block's output (see above).
        out_indices: block indexes (0-based, -1 = block input) of the outputs; default last.
        use_act_checkpoint: recompute every block in backward (non-reentrant checkpointing).
        patch_embed: a ready-built embedding mapping Tensor[B, in_chans, H, W] to channels-last
            Tensor[B, H / patch_size, W / patch_size, C] (a hybrid CNN stem); default is timm's
            strided conv ``patch_embed.proj``.
    """

    def __init__(
        self,
        *,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
        pretrain_img_size: int = 224,
        use_cls_token: bool = True,
        use_dist_token: bool = False,
        interpolate_pos_embed: bool = True,
        final_norm: bool = False,
        out_indices: Sequence[int] | None = None,
        use_act_checkpoint: bool = False,
        patch_embed: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if use_dist_token and not use_cls_token:
            raise ValueError("TimmViT: use_dist_token=True needs use_cls_token=True (DeiT order)")
        if pretrain_img_size % patch_size != 0:
            raise ValueError(
                f"TimmViT: pretrain_img_size={pretrain_img_size} is not a multiple of "
                f"patch_size={patch_size}"
            )
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.depth = depth
        self.use_cls_token = use_cls_token
        self.use_dist_token = use_dist_token
        self.interpolate_pos_embed = interpolate_pos_embed
        self.use_act_checkpoint = use_act_checkpoint
        self.pretrain_grid = pretrain_img_size // patch_size
        # timm's layout keeps the cls slot (and the dist slot) even when the token is unused.
        self.num_pos_prefix = 2 if use_dist_token else 1

        if patch_embed is None:
            patch_embed = PatchEmbed(
                kernel_size=(patch_size, patch_size),
                stride=(patch_size, patch_size),
                in_chans=in_chans,
                embed_dim=embed_dim,
            )
        self.patch_embed = patch_embed
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if use_cls_token else None
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if use_dist_token else None
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.num_pos_prefix + self.pretrain_grid**2, embed_dim)
        )
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            TimmViTBlock(
                embed_dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                attn_drop=attn_drop_rate,
                drop_path=rates[i],
                norm_eps=norm_eps,
            )
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else None

        self.out_indices = tuple(out_indices) if out_indices is not None else (depth - 1,)
        bad = [i for i in self.out_indices if not -1 <= i < depth]
        if bad or not self.out_indices:
            raise ValueError(
                f"TimmViT: out_indices={list(self.out_indices)} must be non-empty block indexes "
                f"in [-1, {depth - 1}] (depth={depth}); got {bad or 'none'}"
            )
        self._out_features = [f"b{i}" for i in self.out_indices]
        self._out_feature_channels = dict.fromkeys(self._out_features, embed_dim)
        self._out_feature_strides = dict.fromkeys(self._out_features, patch_size)
        self._init_weights()

    def _init_weights(self) -> None:
        # timm's "jax"-free default: trunc-normal pos embed, tiny-normal cls / dist tokens.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for token in (self.cls_token, self.dist_token):
            if token is not None:
                nn.init.normal_(token, std=1e-6)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def size_divisibility(self) -> int:
        """Input sides must be multiples of the patch size."""
        return self.patch_size

    def _grid_pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        g = self.pretrain_grid
        grid = self.pos_embed[:, self.num_pos_prefix :].reshape(1, g, g, -1)
        if tuple(hw) != (g, g) and not self.interpolate_pos_embed:
            raise ValueError(
                f"TimmViT: token grid {tuple(hw)} differs from the position grid ({g}, {g}) "
                "(pretrain_img_size // patch_size) and interpolate_pos_embed=False; use an input "
                f"of {g * self.patch_size} x {g * self.patch_size} or interpolate_pos_embed=True"
            )
        return resize_pos_embed_grid(grid, hw).reshape(1, hw[0] * hw[1], -1)

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
        """Patch embedding plus position embedding, after position dropout.

        Args:
            x (Tensor[B, in_chans, H, W]): normalized images, H and W multiples of patch_size.

        Returns:
            ``(patches, prefix, (h, w))``: patches Tensor[B, h * w, C]; prefix Tensor[B, P, C]
            (cls, then dist when built with it, each with its position embedding) or None
            without a cls token; the token grid.
        """
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"TimmViT: input size {height} x {width} is not divisible by "
                f"patch_size={self.patch_size}; pad the images (size_divisibility)"
            )
        patches = self.patch_embed(x)
        hw = (patches.shape[1], patches.shape[2])
        patches = patches.flatten(1, 2) + self._grid_pos_embed(hw)
        prefix = None
        if self.cls_token is not None:
            tokens = [self.cls_token]
            if self.dist_token is not None:
                tokens.append(self.dist_token)
            prefix = torch.cat(tokens, dim=1) + self.pos_embed[:, : self.num_pos_prefix]
            prefix = self.pos_drop(prefix.expand(patches.shape[0], -1, -1))
        return self.pos_drop(patches), prefix, hw

    @property
    def num_prefix_tokens(self) -> int:
        """P: tokens before the patch tokens in the blocks' input (0, 1 or 2)."""
        return 0 if self.cls_token is None else self.num_pos_prefix

    def run_blocks(
        self, x: torch.Tensor, hw: tuple[int, int], start: int, end: int
    ) -> torch.Tensor:
        """Run ``blocks[start:end]`` on a token sequence.

        Args:
            x (Tensor[B, T, C]): prefix tokens first (when the model has them), then h * w
                patch tokens in row-major order.
            hw: token grid (h, w); global attention does not need it (kept for the contract).
            start: first block index.
            end: one past the last block index (Python slice).

        Returns:
            Tensor[B, T, C].
        """
        del hw  # global attention and absolute positions: nothing depends on the grid here
        for block in self.blocks[start:end]:
            if self.use_act_checkpoint and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x

    def _to_map(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        patches = x[:, self.num_prefix_tokens :]
        return patches.transpose(1, 2).reshape(x.shape[0], -1, hw[0], hw[1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the requested block outputs.

        Args:
            x (Tensor[B, in_chans, H, W]): normalized images, H and W multiples of patch_size.

        Returns:
            ``{f"b{i}": Tensor[B, C, H / patch_size, W / patch_size] for i in out_indices}``.
        """
        patches, prefix, hw = self.tokens(x)
        x = patches if prefix is None else torch.cat([prefix, patches], dim=1)
        outputs: dict[int, torch.Tensor] = {}
        if -1 in self.out_indices:
            outputs[-1] = self._to_map(x, hw)
        last = max(self.out_indices)
        for i in range(last + 1):
            x = self.run_blocks(x, hw, i, i + 1)
            if i == self.depth - 1 and self.norm is not None:
                x = self.norm(x)
            if i in self.out_indices:
                outputs[i] = self._to_map(x, hw)
        return {f"b{i}": outputs[i] for i in self.out_indices}
