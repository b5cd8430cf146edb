"""The ViTDet (MAE) ViT against timm's SAM ViT blocks, which implement the same block
(fused qkv, decomposed rel-pos, GELU MLP, padded windows) with the same parameter names."""

from functools import partial

import pytest
import torch
from timm.models.vision_transformer_sam import Block as SamBlock
from torch import nn

from det.modeling.backbone import ViTMAE
from det.modeling.backbone.rel_pos_attention import get_rel_pos

LN = partial(nn.LayerNorm, eps=1e-6)


def _randomize(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def test_get_rel_pos_by_hand():
    table = torch.arange(3.0)[:, None]  # offsets -1, 0, +1 stored at rows 0, 1, 2
    out = get_rel_pos(2, 2, table)
    # entry (q, k) holds the row for offset q - k, i.e. row q - k + 1.
    assert out[..., 0].tolist() == [[1.0, 0.0], [2.0, 1.0]]


def test_get_rel_pos_resizes_linearly():
    table = torch.tensor([[0.0], [2.0], [4.0]])  # learned for size 2, used at size 3
    out = get_rel_pos(3, 3, table)
    # the 3-row table is resampled to 5 rows (align_corners=False), offsets 0 sit in the middle
    assert out.shape == (3, 3, 1)
    assert out[1, 1, 0].item() == pytest.approx(2.0)
    assert out[2, 0, 0].item() == pytest.approx(4.0)


@pytest.mark.parametrize("window_size, grid", [(0, 6), (4, 6), (3, 6)])
def test_block_equals_timm_sam_block(window_size, grid):
    vit = ViTMAE(
        img_size=grid * 16,
        embed_dim=32,
        depth=1,
        num_heads=2,
        norm_layer=LN,
        use_rel_pos=True,
        window_size=window_size,
        window_block_indexes=(0,) if window_size else (),
    )
    _randomize(vit, 0)
    ours = vit.blocks[0]
    theirs = SamBlock(
        32, 2, norm_layer=LN, use_rel_pos=True, window_size=window_size, input_size=(grid, grid)
    )
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, grid, grid, 32)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_keys_match_upstream_vitdet_layout():
    vit = ViTMAE(
        img_size=128,
        embed_dim=32,
        depth=2,
        num_heads=2,
        use_rel_pos=True,
        window_size=4,
        window_block_indexes=(0,),
        residual_block_indexes=(1,),
    )
    shapes = {k: tuple(v.shape) for k, v in vit.state_dict().items()}
    assert shapes["blocks.0.attn.qkv.weight"] == (96, 32)
    assert shapes["blocks.0.attn.rel_pos_h"] == (7, 16)  # window 4
    assert shapes["blocks.1.attn.rel_pos_w"] == (15, 16)  # global over the 8x8 grid
    assert shapes["blocks.1.mlp.fc1.weight"] == (128, 32)
    assert "blocks.1.residual.conv2.norm.weight" in shapes
    assert not any("rope" in k for k in shapes)


def test_forward_shape():
    vit = ViTMAE(
        img_size=64,
        embed_dim=32,
        depth=2,
        num_heads=2,
        use_rel_pos=True,
        window_size=2,
        window_block_indexes=(0,),
    )
    out = vit(torch.randn(1, 3, 64, 64))["last_feat"]
    assert out.shape == (1, 32, 4, 4)
