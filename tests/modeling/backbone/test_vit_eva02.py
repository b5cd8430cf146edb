"""EVA-02 ViT pieces: windows, abs-pos interpolation, param counts, checkpointing, errors."""

from functools import partial

import pytest
import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer_sam import window_partition as timm_window_partition
from torch import nn

from det.modeling.backbone import ViT, get_abs_pos, window_partition, window_unpartition

LN = partial(nn.LayerNorm, eps=1e-6)


def _tiny_vit(**kwargs) -> ViT:
    args = dict(img_size=96, patch_size=16, embed_dim=64, depth=2, num_heads=2, norm_layer=LN)
    args.update(kwargs)
    return ViT(**args)


def test_window_partition_pads_with_zeros_and_round_trips():
    x = torch.randn(2, 10, 7, 3)
    windows, pad_hw = window_partition(x, 4)
    assert pad_hw == (12, 8)
    assert windows.shape == (2 * 3 * 2, 4, 4, 3)
    # window (image 1, row 2, col 1) covers rows 8..11, cols 4..7; rows 10, 11 are padding.
    w = windows[1 * 6 + 2 * 2 + 1]
    torch.testing.assert_close(w[:2, :3], x[1, 8:10, 4:7])
    assert torch.all(w[2:] == 0) and torch.all(w[:, 3] == 0)
    torch.testing.assert_close(windows, timm_window_partition(x, 4)[0])
    torch.testing.assert_close(window_unpartition(windows, 4, pad_hw, (10, 7)), x)


def test_window_partition_without_padding():
    x = torch.randn(1, 8, 8, 2)
    windows, pad_hw = window_partition(x, 4)
    assert pad_hw == (8, 8)
    torch.testing.assert_close(windows[3], x[0, 4:, 4:])
    torch.testing.assert_close(window_unpartition(windows, 4, pad_hw, (8, 8)), x)


def test_abs_pos_matches_timm_resampling():
    pos = torch.randn(1, 197, 8)
    ours = get_abs_pos(pos, has_cls_token=True, hw=(64, 64))
    theirs = resample_abs_pos_embed(pos, [64, 64], num_prefix_tokens=1, antialias=False)
    assert ours.shape == (1, 64, 64, 8)
    torch.testing.assert_close(ours.reshape(1, -1, 8), theirs[:, 1:])


def test_abs_pos_same_grid_is_identity_and_keeps_constants():
    pos = torch.randn(1, 196, 8)
    torch.testing.assert_close(get_abs_pos(pos, False, (14, 14)), pos.reshape(1, 14, 14, 8))
    # bicubic weights sum to one: a constant embedding stays constant on any grid.
    const = torch.full((1, 197, 4), 0.25)
    torch.testing.assert_close(get_abs_pos(const, True, (96, 96)), torch.full((1, 96, 96, 4), 0.25))


def test_abs_pos_rejects_non_square():
    with pytest.raises(ValueError, match="not a square grid"):
        get_abs_pos(torch.zeros(1, 20, 4), has_cls_token=True, hw=(4, 4))


@pytest.mark.parametrize(
    "dim, depth, heads, expected",
    [(768, 12, 12, 85_848_576), (1024, 24, 16, 303_388_608)],
)
def test_param_count_matches_spec(dim, depth, heads, expected):
    with torch.device("meta"):
        vit = ViT(
            img_size=1024,
            embed_dim=dim,
            depth=depth,
            num_heads=heads,
            norm_layer=LN,
            window_size=16,
            window_block_indexes=[0, 1],
        )
    assert sum(p.numel() for p in vit.parameters()) == expected
    hidden = int(dim * 4 * 2 / 3)
    assert vit.blocks[0].mlp.w1.weight.shape == (hidden, dim)  # 2048 for B, 2730 for L


def test_window_blocks_equal_global_when_window_is_whole_grid():
    # With window == grid the windowed block sees the same tokens and the same RoPE table.
    glob = _tiny_vit(img_size=64, window_size=4, window_block_indexes=())
    win = _tiny_vit(img_size=64, window_size=4, window_block_indexes=(0, 1))
    win.load_state_dict(glob.state_dict())
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(win(x)["last_feat"], glob(x)["last_feat"])


def test_padded_window_block_matches_manual_windows():
    # 6x6 tokens, window 4 -> padded to 8x8; each window runs attention on its 16 tokens.
    vit = _tiny_vit(window_size=4, window_block_indexes=(0,), depth=1)
    block = vit.blocks[0]
    x = torch.randn(1, 6, 6, 64)
    y = block.norm1(x)
    padded = nn.functional.pad(y, (0, 0, 0, 2, 0, 2))
    attn = torch.zeros(1, 8, 8, 64)
    for i in range(2):
        for j in range(2):
            win = padded[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
            attn[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4] = block.attn(win)
    expected = x + attn[:, :6, :6]
    expected = expected + block.mlp(block.norm2(expected))
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_forward_shapes_and_output_shape():
    vit = _tiny_vit(window_size=3, window_block_indexes=(0,))
    out = vit(torch.randn(2, 3, 96, 96))
    assert out["last_feat"].shape == (2, 64, 6, 6)
    spec = vit.output_shape()["last_feat"]
    assert (spec.channels, spec.stride) == (64, 16)


def test_global_block_needs_img_size_input():
    vit = _tiny_vit(window_size=3, window_block_indexes=(0,))
    with pytest.raises(ValueError, match="square_pad"):
        vit(torch.randn(1, 3, 64, 96))


def test_xattn_false_matches_sdpa():
    a = _tiny_vit(window_size=3, window_block_indexes=(0,))
    b = _tiny_vit(window_size=3, window_block_indexes=(0,), xattn=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 96, 96)
    torch.testing.assert_close(a(x)["last_feat"], b(x)["last_feat"], rtol=1e-5, atol=1e-5)


def test_activation_checkpointing_keeps_names_outputs_and_grads():
    plain = _tiny_vit(window_size=3, window_block_indexes=(0,), drop_path_rate=0.0)
    ckpt = _tiny_vit(window_size=3, window_block_indexes=(0,), use_act_checkpoint=True)
    assert list(plain.state_dict()) == list(ckpt.state_dict())
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 96, 96)
    out_a, out_b = plain(x)["last_feat"], ckpt(x)["last_feat"]
    torch.testing.assert_close(out_a, out_b)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_drop_path_rates_follow_float32_linspace():
    vit = _tiny_vit(depth=4, drop_path_rate=0.3)
    rates = [0.0] + [b.drop_path.drop_prob for b in vit.blocks[1:]]
    assert rates == torch.linspace(0, 0.3, 4).tolist()
    assert isinstance(vit.blocks[0].drop_path, nn.Identity)


def test_residual_blocks_start_as_identity():
    base = _tiny_vit(depth=2)
    res = _tiny_vit(depth=2, residual_block_indexes=(1,))
    assert "blocks.1.residual.conv3.norm.weight" in res.state_dict()
    res.load_state_dict(base.state_dict(), strict=False)
    x = torch.randn(1, 3, 96, 96)
    torch.testing.assert_close(res(x)["last_feat"], base(x)["last_feat"])


def test_use_rel_pos_is_rejected_with_a_pointer():
    with pytest.raises(ValueError, match="ViTMAE"):
        _tiny_vit(use_rel_pos=True)


def test_init_matches_fork():
    vit = _tiny_vit()
    attn = vit.blocks[0].attn
    assert torch.all(attn.q_bias == 0) and torch.all(attn.proj.bias == 0)
    assert torch.all(vit.blocks[0].mlp.ffn_ln.weight == 1)
    assert 0.01 < attn.q_proj.weight.std().item() < 0.03
    assert 0.01 < vit.pos_embed.std().item() < 0.03
    assert vit.pos_embed.shape == (1, 197, 64)
