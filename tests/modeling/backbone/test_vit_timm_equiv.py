"""det's EVA-02 ViT against timm's independent EVA-02 implementation (``timm.models.eva``).

The same random weights are mapped into both and features compared to fp32 tolerance.

Layout notes (the bridge between the two):
* timm's ``RotaryEmbeddingCat(in_pixels=False, ref_feat_shape=(16, 16))`` with its default
  ``rotate_half=False`` returns one tensor ``cat([sin, cos])``; each half uses EVA-02's
  interleaved layout (row-index channels first, then column-index channels, each frequency
  repeated for the adjacent pair). det keeps EVA-02's two buffers ``freqs_sin`` / ``freqs_cos``.
* timm's other layout, ``rotate_half=True`` (and the one some EVA-02 ports use), rotates channel
  ``i`` with channel ``i + D/2`` instead of ``2i`` with ``2i + 1``. It is the same attention after
  permuting the rows of each head in ``q_proj`` / ``k_proj`` (and q's bias): det channel ``2i``
  goes to ``i`` and ``2i + 1`` to ``i + D/2``. ``test_rotate_half_layout_is_a_channel_permutation``
  checks that bridge.
* Parameter names: timm ``q_proj.bias`` = det ``q_bias``; ``mlp.fc1_g`` / ``fc1_x`` / ``norm`` /
  ``fc2`` = det ``mlp.w1`` / ``w2`` / ``ffn_ln`` / ``w3``.
"""

from functools import partial

import pytest
import torch
from timm.layers import RotaryEmbeddingCat, resample_abs_pos_embed
from timm.models.eva import EvaAttention, EvaBlock
from torch import nn

from det.modeling.backbone import SwiGLU, ViT
from det.modeling.backbone.rope import VisionRotaryEmbeddingFast
from det.modeling.backbone.rope_attention import RopeAttention

DIM, HEADS, GRID, PATCH = 64, 2, 8, 16
HEAD_DIM = DIM // HEADS
LN = partial(nn.LayerNorm, eps=1e-6)


def _timm_rope(grid: int, rotate_half: bool = False) -> torch.Tensor:
    rope = RotaryEmbeddingCat(
        HEAD_DIM,
        in_pixels=False,
        feat_shape=[grid, grid],
        ref_feat_shape=[16, 16],
        rotate_half=rotate_half,
    )
    return rope.get_embed()


def _randomize(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def _timm_attention_state(det_attn: RopeAttention) -> dict:
    sd = det_attn.state_dict()
    return {
        "q_proj.weight": sd["q_proj.weight"],
        "q_proj.bias": sd["q_bias"],
        "k_proj.weight": sd["k_proj.weight"],
        "v_proj.weight": sd["v_proj.weight"],
        "v_proj.bias": sd["v_bias"],
        "proj.weight": sd["proj.weight"],
        "proj.bias": sd["proj.bias"],
    }


def _timm_block_state(det_block: nn.Module) -> dict:
    sd = det_block.state_dict()
    out = {f"attn.{k}": v for k, v in _timm_attention_state(det_block.attn).items()}
    names = {"w1": "fc1_g", "w2": "fc1_x", "ffn_ln": "norm", "w3": "fc2"}
    for key, value in sd.items():
        if key.startswith(("norm1.", "norm2.")):
            out[key] = value
        elif key.startswith("mlp."):
            _, layer, param = key.split(".")
            out[f"mlp.{names[layer]}.{param}"] = value
    return out


def _timm_block() -> EvaBlock:
    return EvaBlock(
        DIM,
        HEADS,
        qkv_bias=True,
        qkv_fused=False,
        mlp_ratio=4 * 2 / 3,
        swiglu_mlp=True,
        scale_mlp=True,
        num_prefix_tokens=0,
        norm_layer=LN,
    )


@pytest.mark.parametrize("grid", [4, 8, 16, 32])
def test_rope_tables_equal_timm(grid):
    ours = VisionRotaryEmbeddingFast(dim=HEAD_DIM // 2, pt_seq_len=16, ft_seq_len=grid)
    sin, cos = _timm_rope(grid).chunk(2, dim=-1)
    torch.testing.assert_close(ours.freqs_sin, sin, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.freqs_cos, cos, rtol=0, atol=1e-6)


def test_swiglu_equals_timm():
    from timm.layers import SwiGLU as TimmSwiGLU

    ours = SwiGLU(DIM, 170, norm_layer=LN)
    _randomize(ours, 0)
    theirs = TimmSwiGLU(DIM, 170, norm_layer=LN)
    theirs.load_state_dict(
        {
            k.replace("w1", "fc1_g")
            .replace("w2", "fc1_x")
            .replace("ffn_ln", "norm")
            .replace("w3", "fc2"): v
            for k, v in ours.state_dict().items()
        }
    )
    x = torch.randn(3, 5, DIM)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xattn", [True, False])
def test_attention_equals_timm(xattn):
    rope = VisionRotaryEmbeddingFast(dim=HEAD_DIM // 2, pt_seq_len=16, ft_seq_len=GRID)
    ours = RopeAttention(DIM, HEADS, rope=rope, qkv_bias=True, xattn=xattn)
    _randomize(ours, 1)
    theirs = EvaAttention(
        DIM, HEADS, qkv_bias=True, qkv_fused=False, num_prefix_tokens=0, scale_norm=False
    )
    theirs.load_state_dict(_timm_attention_state(ours))
    x = torch.randn(2, GRID, GRID, DIM)
    expected = theirs(x.reshape(2, GRID * GRID, DIM), rope=_timm_rope(GRID))
    torch.testing.assert_close(ours(x).reshape(2, -1, DIM), expected, rtol=1e-5, atol=1e-5)


def test_rotate_half_layout_is_a_channel_permutation():
    rope = VisionRotaryEmbeddingFast(dim=HEAD_DIM // 2, pt_seq_len=16, ft_seq_len=GRID)
    ours = RopeAttention(DIM, HEADS, rope=rope, qkv_bias=True)
    _randomize(ours, 2)
    theirs = EvaAttention(
        DIM,
        HEADS,
        qkv_bias=True,
        qkv_fused=False,
        num_prefix_tokens=0,
        scale_norm=False,
        rotate_half=True,
    )
    state = _timm_attention_state(ours)
    # Within each head: det channel 2i -> i, 2i + 1 -> i + D/2.
    per_head = torch.cat([torch.arange(0, HEAD_DIM, 2), torch.arange(1, HEAD_DIM, 2)])
    perm = torch.cat([h * HEAD_DIM + per_head for h in range(HEADS)])
    for key in ("q_proj.weight", "q_proj.bias", "k_proj.weight"):
        state[key] = state[key][perm]
    theirs.load_state_dict(state)
    x = torch.randn(2, GRID, GRID, DIM)
    expected = theirs(x.reshape(2, GRID * GRID, DIM), rope=_timm_rope(GRID, rotate_half=True))
    torch.testing.assert_close(ours(x).reshape(2, -1, DIM), expected, rtol=1e-5, atol=1e-5)
    # Without the permutation the two layouts really differ.
    theirs.load_state_dict(_timm_attention_state(ours))
    unpermuted = theirs(x.reshape(2, GRID * GRID, DIM), rope=_timm_rope(GRID, rotate_half=True))
    assert not torch.allclose(ours(x).reshape(2, -1, DIM), unpermuted, atol=1e-3)


def test_global_attention_vit_equals_timm_blocks():
    torch.manual_seed(0)
    ours = ViT(
        img_size=GRID * PATCH,
        patch_size=PATCH,
        embed_dim=DIM,
        depth=3,
        num_heads=HEADS,
        norm_layer=LN,
        window_block_indexes=(),
    )
    _randomize(ours, 3)
    ours.eval()
    theirs = nn.ModuleList([_timm_block() for _ in range(3)])
    for block, det_block in zip(theirs, ours.blocks):
        block.load_state_dict(_timm_block_state(det_block))
    theirs.eval()

    images = torch.randn(2, 3, GRID * PATCH, GRID * PATCH)
    # timm's reference path: conv patchify, timm's pos-embed resampling (bicubic, no
    # antialias, cls slot dropped), then timm blocks with timm's RoPE.
    x = nn.functional.conv2d(
        images, ours.patch_embed.proj.weight, ours.patch_embed.proj.bias, stride=PATCH
    )
    x = x.flatten(2).transpose(1, 2)
    pos = resample_abs_pos_embed(
        ours.pos_embed.detach(), [GRID, GRID], num_prefix_tokens=1, antialias=False
    )
    x = x + pos[:, 1:]
    rope = _timm_rope(GRID)
    with torch.no_grad():
        for block in theirs:
            x = block(x, rope=rope)
        feat = ours(images)["last_feat"]
    expected = x.transpose(1, 2).reshape(2, DIM, GRID, GRID)
    torch.testing.assert_close(feat, expected, rtol=1e-4, atol=1e-4)
