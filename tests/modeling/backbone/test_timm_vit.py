"""TimmViT (DeiT / AugReg plain ViT, timm hybrids) against timm's own VisionTransformer."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from timm.layers import HybridEmbed
from timm.models.vision_transformer import VisionTransformer
from timm.models.vision_transformer_hybrid import _resnetv2

from det.layers import ShapeSpec
from det.modeling.backbone import HybridPatchEmbed, TimmViT, timm_resnetv2_stem

TOL = dict(rtol=1e-5, atol=1e-5)


def _timm_block_outputs(ref: VisionTransformer, x: torch.Tensor) -> list[torch.Tensor]:
    """Token sequences after every block of timm's model (prefix tokens included)."""
    tokens = ref._pos_embed(ref.patch_embed(x))
    outs = []
    for block in ref.blocks:
        tokens = block(tokens)
        outs.append(tokens)
    return outs


def _as_map(tokens: torch.Tensor, prefix: int, hw: tuple[int, int]) -> torch.Tensor:
    patches = tokens[:, prefix:]
    return patches.transpose(1, 2).reshape(tokens.shape[0], -1, *hw)


def _timm_weights(ref: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in ref.state_dict().items() if not k.startswith("head")}


@pytest.mark.parametrize("dist", [False, True])
def test_block_outputs_equal_timm(dist: bool) -> None:
    torch.manual_seed(0)
    if dist:
        from timm.models.deit import VisionTransformerDistilled as Ref
    else:
        Ref = VisionTransformer
    ref = Ref(img_size=64, patch_size=16, embed_dim=48, depth=3, num_heads=3, num_classes=5)
    ref = ref.eval()
    # Non-trivial tokens / norms: timm initializes the cls token near zero.
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model = TimmViT(
        patch_size=16,
        embed_dim=48,
        depth=3,
        num_heads=3,
        pretrain_img_size=64,
        use_dist_token=dist,
        final_norm=True,
        out_indices=(0, 1, 2),
    ).eval()
    model.load_state_dict(_timm_weights(ref), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = _timm_block_outputs(ref, x)
        expected[-1] = ref.norm(expected[-1])  # final_norm: the last output is normed
        got = model(x)
    prefix = 2 if dist else 1
    for i in range(3):
        torch.testing.assert_close(got[f"b{i}"], _as_map(expected[i], prefix, (4, 4)), **TOL)
    # tokens + run_blocks (the adapter's path) give the same sequence as timm's blocks.
    with torch.no_grad():
        patches, cls, hw = model.tokens(x)
        seq = model.run_blocks(torch.cat([cls, patches], 1), hw, 0, 2)
    assert cls.shape == (2, prefix, 48) and hw == (4, 4)
    torch.testing.assert_close(seq, expected[1], **TOL)


def test_no_cls_token_matches_vit_adapter_rule() -> None:
    """ViT-Adapter: no cls token, ``pos_embed[:, 1:]`` resized bicubically to the grid."""
    torch.manual_seed(1)
    model = TimmViT(
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        pretrain_img_size=32,
        use_cls_token=False,
        out_indices=(1,),
    ).eval()
    assert model.cls_token is None and model.pos_embed.shape == (1, 1 + 16, 32)
    x = torch.randn(1, 3, 48, 40)  # 6 x 5 tokens, the stored grid is 4 x 4
    # Independent reference: ViT-Adapter's _get_pos_embed written out with F.interpolate.
    grid = model.pos_embed[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    pos = F.interpolate(grid, size=(6, 5), mode="bicubic", align_corners=False)
    with torch.no_grad():
        tokens = model.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = tokens + pos.flatten(2).transpose(1, 2)
        for block in model.blocks:
            tokens = block(tokens)
        got = model(x)["b1"]
    torch.testing.assert_close(got, _as_map(tokens, 0, (6, 5)), **TOL)
    assert model.tokens(x)[1] is None


def test_hybrid_equals_timm_hybrid() -> None:
    torch.manual_seed(2)
    layers, channels = (1, 1, 1, 1), (128, 128, 128, 128)
    det_stem = timm_resnetv2_stem(layers, channels=channels, stem_chs=32)
    embed = HybridPatchEmbed(det_stem, feature_channels=128, embed_dim=48)
    model = TimmViT(
        patch_size=32,
        embed_dim=48,
        depth=2,
        num_heads=3,
        pretrain_img_size=64,
        patch_embed=embed,
        out_indices=(-1, 1),
        final_norm=True,
    ).eval()
    ref = VisionTransformer(
        img_size=64,
        patch_size=1,
        embed_dim=48,
        depth=2,
        num_heads=3,
        num_classes=3,
        embed_layer=partial(HybridEmbed, backbone=timm_resnetv2_stem(layers, channels, 32)),
    ).eval()
    assert set(model.state_dict()) == set(_timm_weights(ref))
    ref.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = model(x)
        embedded = ref._pos_embed(ref.patch_embed(x))
        expected = ref.norm(ref.blocks(embedded))
    assert got["b-1"].shape == (2, 48, 2, 2)
    torch.testing.assert_close(got["b-1"], _as_map(embedded, 1, (2, 2)), **TOL)
    torch.testing.assert_close(got["b1"], _as_map(expected, 1, (2, 2)), **TOL)


def test_resnetv2_stem_is_timms_hybrid_stem() -> None:
    """Same modules as timm's own helper for the published R26 / R50 stems."""
    for layers in ((2, 2, 2, 2), (3, 4, 6, 3)):
        with torch.device("meta"):
            assert repr(timm_resnetv2_stem(layers)) == repr(_resnetv2(layers))


def test_output_shape_checkpointing_and_errors() -> None:
    model = TimmViT(patch_size=16, embed_dim=32, depth=3, num_heads=2, out_indices=(0, 2))
    assert model.output_shape() == {
        "b0": ShapeSpec(channels=32, stride=16),
        "b2": ShapeSpec(channels=32, stride=16),
    }
    assert model.depth == len(model.blocks) == 3 and model.size_divisibility == 16
    with pytest.raises(ValueError, match="not divisible by patch_size=16"):
        model(torch.zeros(1, 3, 40, 32))
    with pytest.raises(ValueError, match=r"out_indices=\[0, 3\]"):
        TimmViT(embed_dim=32, depth=3, num_heads=2, out_indices=(0, 3))
    strict = TimmViT(embed_dim=32, depth=1, num_heads=2, interpolate_pos_embed=False)
    with pytest.raises(ValueError, match="interpolate_pos_embed=False.*224 x 224"):
        strict(torch.zeros(1, 3, 32, 32))

    # Activation checkpointing: same values and gradients, same parameter names.
    torch.manual_seed(3)
    plain = TimmViT(patch_size=8, embed_dim=32, depth=2, num_heads=2, pretrain_img_size=32)
    ckpt = TimmViT(
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        pretrain_img_size=32,
        use_act_checkpoint=True,
    )
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    plain(x)["b1"].square().sum().backward()
    ckpt(x)["b1"].square().sum().backward()
    for (name, p), (_, q) in zip(plain.named_parameters(), ckpt.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=name)
