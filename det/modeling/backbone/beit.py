"""BEiT-style ViT: the backbone of BEiT, CAE and EVA-01 segmentation (and of their ViT-Adapters).

Glossary: B images, C = ``embed_dim``, (h, w) the token grid ``(H // patch_size, W // patch_size)``,
T = 1 + h * w (the cls token first), nH = ``num_heads``.

What sets it apart from a timm ViT (:mod:`.timm_vit`):

* q / v biases as separate vectors (``attn.q_bias``, ``attn.v_bias``; the key bias is zero) on a
  bias-free fused ``attn.qkv``;
* a relative position bias per block (``attn.relative_position_bias_table``, BEiT's table with
  three extra entries for cls->token, token->cls and cls->cls) or one shared by all blocks
  (``rel_pos_bias.relative_position_bias_table``), built for the ``img_size`` grid;
* layer scale ``gamma_1`` / ``gamma_2`` (``init_values``);
* an optional absolute position embedding, stored for the ``img_size`` grid.

State-dict names are those of the BEiT / CAE / EVA-01 releases, so their checkpoints map one to one
(:mod:`det.checkpoint.beit_pretrained`). The index buffers are rebuilt, never loaded.
"""

from __future__ import annotations

import math
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

__all__ = [
    "BEiT",
    "BEiTAttention",
    "BEiTBlock",
    "BEiTRelativePositionBias",
    "beit_relative_position_index",
    "num_relative_positions",
]

# cls->token, token->cls and cls->cls each get one table row after the (2h-1)(2w-1) offsets.
_NUM_EXTRA_POSITIONS = 3


def num_relative_positions(grid: tuple[int, int]) -> int:
    """Rows of BEiT's relative position table for a token grid: (2h - 1)(2w - 1) + 3."""
    return (2 * grid[0] - 1) * (2 * grid[1] - 1) + _NUM_EXTRA_POSITIONS


def beit_relative_position_index(grid: tuple[int, int]) -> torch.Tensor:
    """BEiT's lookup from token pairs to table rows.

    Args:
        grid: token grid (h, w).

    Returns:
        LongTensor[T, T], T = 1 + h * w (cls first): entry (i, j) is the table row of the bias
        that query i adds to its logit of key j. Patch pairs index their (dy, dx) offset in
        row-major order over [-(h-1), h-1] x [-(w-1), w-1]; the last three rows are cls->token
        (row 0 of the index), token->cls (column 0) and cls->cls.
    """
    h, w = grid
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")).flatten(
        1
    )  # [2, h*w]
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # [hw, hw, 2]
    offsets = (rel[..., 0] + h - 1) * (2 * w - 1) + (rel[..., 1] + w - 1)
    num = num_relative_positions(grid)
    index = torch.empty(h * w + 1, h * w + 1, dtype=torch.long)
    index[1:, 1:] = offsets
    index[0, 1:] = num - 3
    index[1:, 0] = num - 2
    index[0, 0] = num - 1
    return index


def _lookup_bias(
    table: torch.Tensor, index: torch.Tensor, built: tuple[int, int], grid: tuple[int, int]
) -> torch.Tensor:
    if tuple(grid) != built:
        raise ValueError(
            f"BEiT: token grid {tuple(grid)} differs from the relative position grid {built} "
            "the model was built for (img_size // patch_size); set the backbone's img_size to "
            "the input size (slide inference with crop_size = img_size keeps it fixed)"
        )
    t = index.shape[0]
    return table[index.reshape(-1)].reshape(t, t, -1).permute(2, 0, 1).unsqueeze(0)


class BEiTRelativePositionBias(nn.Module):
    """A learned relative position bias for one token grid (per block, or shared by all blocks).

    Args:
        grid: token grid (h, w) the table is built for.
        num_heads: nH.
    """

    def __init__(self, grid: tuple[int, int], num_heads: int) -> None:
        super().__init__()
        self.grid = tuple(grid)
        # Zero start, as BEiT's fine-tuning code leaves it (the pre-trained tables load over it).
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(num_relative_positions(self.grid), num_heads)
        )
        self.register_buffer(
            "relative_position_index", beit_relative_position_index(self.grid), persistent=False
        )

    def forward(self, grid: tuple[int, int]) -> torch.Tensor:
        """The bias for a token grid (it must be the table's): Tensor[1, nH, T, T]."""
        return _lookup_bias(
            self.relative_position_bias_table, self.relative_position_index, self.grid, grid
        )


class BEiTAttention(nn.Module):
    """Global multi-head self-attention with BEiT's q / v biases and relative position bias.

    Args:
        dim: token width C.
        num_heads: attention heads nH; must divide ``dim``.
        qkv_bias: learn ``q_bias`` and ``v_bias`` (the key bias stays zero, as published).
        attn_drop: dropout on the attention weights (training only).
        grid: token grid of a per-block relative position bias; None for none (no bias, or a
            shared one passed to ``forward``).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        grid: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"BEiT: embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.grid = tuple(grid) if grid is not None else None
        if grid is not None:
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros(num_relative_positions(self.grid), num_heads)
            )
            self.register_buffer(
                "relative_position_index", beit_relative_position_index(self.grid), persistent=False
            )
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        grid: tuple[int, int],
        shared_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend over the sequence.

        Args:
            x (Tensor[B, T, C]): cls token first, then the h * w patch tokens, row-major.
            grid: token grid (h, w).
            shared_bias (Tensor[1, nH, T, T] | None): a shared relative position bias.

        Returns:
            Tensor[B, T, C].
        """
        b, t, c = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, t, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        mask = shared_bias
        if self.grid is not None:
            own = _lookup_bias(
                self.relative_position_bias_table, self.relative_position_index, self.grid, grid
            )
            mask = own if mask is None else mask + own
        if mask is not None:
            mask = mask.to(q.dtype)
        drop = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.proj(out.transpose(1, 2).reshape(b, t, c))


class BEiTBlock(nn.Module):
    """Pre-norm block with optional layer scale:
    ``x + dp(gamma_1 * attn(norm1 x))``, ``x + dp(gamma_2 * mlp(norm2 x))``.

    Args:
        dim: token width C.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width is ``int(dim * mlp_ratio)`` (EVA-01: 6144 / 1408).
        qkv_bias: learn q / v biases.
        attn_drop: attention-weight dropout.
        drop_path: stochastic-depth rate of both branches.
        init_values: layer-scale start value; None or 0 builds no ``gamma_1`` / ``gamma_2``.
        grid: token grid of a per-block relative position bias, or None.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        init_values: float | None = None,
        grid: tuple[int, int] | None = None,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = BEiTAttention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, grid=grid)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if init_values:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(init_values)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(init_values)))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(
        self, x: torch.Tensor, grid: tuple[int, int], shared_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Tensor[B, T, C] -> Tensor[B, T, C]; ``grid`` and ``shared_bias`` as in the attention."""
        attn = self.attn(self.norm1(x), grid, shared_bias)
        if self.gamma_1 is not None:
            attn = self.gamma_1 * attn
        x = x + self.drop_path(attn)
        mlp = self.mlp(self.norm2(x))
        if self.gamma_2 is not None:
            mlp = self.gamma_2 * mlp
        return x + self.drop_path(mlp)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"BEiT: img_size={value!r}; expected an int or (height, width)")
    return pair


class BEiT(Backbone):
    """BEiT-style ViT (Bao et al. 2022; CAE, Chen et al. 2023; EVA-01, Fang et al. 2023) as a
    single-stride backbone offering the ViT contract (``tokens`` / ``run_blocks`` / ``blocks``)
    that :class:`ViTAdapter` consumes.

    Position information: a relative position bias per block (``use_rel_pos_bias``) or shared
    (``use_shared_rel_pos_bias``), both for the ``img_size // patch_size`` grid, which every input
    must then have (BEiT segmentation trains and slides at its crop size); and/or an absolute
    ``pos_embed`` (Tensor[1, 1 + h0 * w0, C], cls slot first) for that grid, resized bicubically to
    other grids when ``interpolate_pos_embed`` (ViT-Adapter's BEiT) and required to match
    otherwise (EVA-01 at 896). ``cls_pos_embed=False`` leaves the cls token without its slot, as
    the ViT-Adapter / EVA-01 adapters add only ``pos_embed[:, 1:]``.

    Output: ``{f"b{i}": Tensor[B, C, h, w] for i in out_indices}``, the patch tokens after block i
    (``final_norm`` applies ``norm`` to the last block's output first).

    Args:
        img_size: input side (or (H, W)) the position tables are built for.
        patch_size: patch side, the output stride.
        in_chans: input channels.
        embed_dim: token width C.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width ratio.
        qkv_bias: learn q / v biases.
        drop_rate: dropout after the position embedding.
        attn_drop_rate: attention-weight dropout.
        drop_path_rate: stochastic depth, linear from 0 over the blocks.
        norm_eps: LayerNorm epsilon.
        init_values: layer scale start (BEiT-L 1e-6, CAE 0.1, EVA-01 1.0); None for none.
        use_abs_pos_emb: build the absolute ``pos_embed``.
        use_rel_pos_bias: a relative position bias table in every block.
        use_shared_rel_pos_bias: one table for all blocks (``rel_pos_bias``).
        interpolate_pos_embed: resize ``pos_embed`` to the token grid (else require equality).
        cls_pos_embed: add ``pos_embed[:, :1]`` to the cls token.
        final_norm: apply ``norm`` to the last block's output.
        out_indices: block indexes (0-based) of the outputs; default last.
        use_act_checkpoint: recompute every block in backward (``with_cp``).
    """

    def __init__(
        self,
        *,
        img_size: int | Sequence[int] = 512,
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
        init_values: float | None = None,
        use_abs_pos_emb: bool = False,
        use_rel_pos_bias: bool = True,
        use_shared_rel_pos_bias: bool = False,
        interpolate_pos_embed: bool = True,
        cls_pos_embed: bool = True,
        final_norm: bool = False,
        out_indices: Sequence[int] | None = None,
        use_act_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        size = _pair(img_size)
        if size[0] % patch_size or size[1] % patch_size:
            raise ValueError(
                f"BEiT: img_size={size} is not divisible by patch_size={patch_size}; use a crop "
                "size that is a multiple of the patch size"
            )
        if use_rel_pos_bias and use_shared_rel_pos_bias:
            raise ValueError(
                "BEiT: use_rel_pos_bias and use_shared_rel_pos_bias are exclusive; choose one"
            )
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.depth = depth
        self.grid = (size[0] // patch_size, size[1] // patch_size)
        self.interpolate_pos_embed = interpolate_pos_embed
        self.cls_pos_embed = cls_pos_embed
        self.use_act_checkpoint = use_act_checkpoint

        self.patch_embed = PatchEmbed(
            kernel_size=(patch_size, patch_size),
            stride=(patch_size, patch_size),
            in_chans=in_chans,
            embed_dim=embed_dim,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        num_pos = 1 + self.grid[0] * self.grid[1]
        self.pos_embed = (
            nn.Parameter(torch.zeros(1, num_pos, embed_dim)) if use_abs_pos_emb else None
        )
        self.pos_drop = nn.Dropout(drop_rate)
        self.rel_pos_bias = (
            BEiTRelativePositionBias(self.grid, num_heads) if use_shared_rel_pos_bias else None
        )
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            BEiTBlock(
                embed_dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                attn_drop=attn_drop_rate,
                drop_path=rates[i],
                init_values=init_values,
                grid=self.grid if use_rel_pos_bias else None,
                norm_eps=norm_eps,
            )
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else None

        self.out_indices = tuple(out_indices) if out_indices is not None else (depth - 1,)
        bad = [i for i in self.out_indices if not 0 <= i < depth]
        if bad or not self.out_indices:
            raise ValueError(
                f"BEiT: out_indices={list(self.out_indices)} must be non-empty block indexes in "
                f"[0, {depth - 1}] (depth={depth}); got {bad or 'none'}"
            )
        self._out_features = [f"b{i}" for i in self.out_indices]
        self._out_feature_channels = dict.fromkeys(self._out_features, embed_dim)
        self._out_feature_strides = dict.fromkeys(self._out_features, patch_size)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # BEiT's depth rescaling of the residual-branch outputs.
        with torch.no_grad():
            for layer_id, block in enumerate(self.blocks, start=1):
                block.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
                block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer_id))

    @property
    def size_divisibility(self) -> int:
        """Input sides must be multiples of the patch size."""
        return self.patch_size

    @property
    def padding_constraints(self) -> dict[str, int]:
        """``square_size`` = img_size when the position tables fix the grid (relative bias, or
        an absolute embedding that is not interpolated): batches smaller than the crop are
        padded up to it, as mmseg's ``Pad(size=crop_size)`` does."""
        fixed = self.rel_pos_bias is not None or self.blocks[0].attn.grid is not None
        fixed = fixed or (self.pos_embed is not None and not self.interpolate_pos_embed)
        if fixed and self.grid[0] == self.grid[1]:
            return {"square_size": self.grid[0] * self.patch_size}
        return {}

    @property
    def num_prefix_tokens(self) -> int:
        """P = 1: the cls token precedes the patch tokens in the blocks' input."""
        return 1

    def _grid_pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        grid = self.pos_embed[:, 1:].reshape(1, self.grid[0], self.grid[1], -1)
        if tuple(hw) != self.grid:
            if not self.interpolate_pos_embed:
                raise ValueError(
                    f"BEiT: token grid {tuple(hw)} differs from the position grid {self.grid} "
                    "(img_size // patch_size) and interpolate_pos_embed=False; use inputs of "
                    f"{self.grid[0] * self.patch_size} x {self.grid[1] * self.patch_size}"
                )
            grid = resize_pos_embed_grid(grid, hw)
        return grid.reshape(1, hw[0] * hw[1], -1)

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Patch embedding plus position embedding, after position dropout.

        Args:
            x (Tensor[B, in_chans, H, W]): normalized images, H and W multiples of patch_size.

        Returns:
            ``(patches, cls, (h, w))``: patches Tensor[B, h * w, C]; cls Tensor[B, 1, C]; the
            token grid.
        """
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"BEiT: input size {height} x {width} is not divisible by "
                f"patch_size={self.patch_size}; pad the images (size_divisibility)"
            )
        patches = self.patch_embed(x)
        hw = (patches.shape[1], patches.shape[2])
        patches = patches.flatten(1, 2)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        if self.pos_embed is not None:
            patches = patches + self._grid_pos_embed(hw)
            if self.cls_pos_embed:
                cls = cls + self.pos_embed[:, :1]
        return self.pos_drop(patches), self.pos_drop(cls), hw

    def run_blocks(
        self, x: torch.Tensor, hw: tuple[int, int], start: int, end: int
    ) -> torch.Tensor:
        """Run ``blocks[start:end]`` on a token sequence.

        Args:
            x (Tensor[B, T, C]): the cls token first, then h * w patch tokens, row-major.
            hw: token grid (h, w); the relative position bias needs it.
            start: first block index.
            end: one past the last block index (Python slice).

        Returns:
            Tensor[B, T, C].
        """
        shared = self.rel_pos_bias(hw) if self.rel_pos_bias is not None else None
        for block in self.blocks[start:end]:
            if self.use_act_checkpoint and torch.is_grad_enabled():
                x = checkpoint(block, x, hw, shared, use_reentrant=False)
            else:
                x = block(x, hw, shared)
        return x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the requested block outputs.

        Args:
            x (Tensor[B, in_chans, H, W]): normalized images, H and W multiples of patch_size.

        Returns:
            ``{f"b{i}": Tensor[B, C, H / patch_size, W / patch_size] for i in out_indices}``.
        """
        patches, cls, hw = self.tokens(x)
        x = torch.cat([cls, patches], dim=1)
        outputs: dict[str, torch.Tensor] = {}
        for i in range(max(self.out_indices) + 1):
            x = self.run_blocks(x, hw, i, i + 1)
            if i == self.depth - 1 and self.norm is not None:
                x = self.norm(x)
            if i in self.out_indices:
                outputs[f"b{i}"] = x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, *hw)
        return outputs
